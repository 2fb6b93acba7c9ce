//! Calls to the adapter service: one POST per call, on behalf of this
//! instance's session (the resources it opened live there).

use std::sync::OnceLock;

use folio_adapter_protocol::{CALL_PATH, COMPONENT_HEADER, Call, Reply, SESSION_HEADER};
use serde::de::DeserializeOwned;
use spin_sdk::http::{Method, Request, Response};

struct Endpoint {
    /// The service's base URL, without a trailing `/`.
    base: String,
    url: String,
    component: String,
    authorization: String,
    session: String,
}

/// From the component's variables: `folio_adapters_url`,
/// `folio_adapters_component` and `folio_adapters_token`, which
/// `folio export spin` sets. Read once per instance.
fn endpoint() -> Result<&'static Endpoint, String> {
    static ENDPOINT: OnceLock<Result<Endpoint, String>> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            let var = |name: &str| {
                spin_sdk::variables::get(name)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("the component has no `{name}` variable"))
            };
            let mut session = [0u8; 16];
            getrandom::fill(&mut session).map_err(|e| e.to_string())?;
            let base = var("folio_adapters_url")?.trim_end_matches('/').to_string();
            Ok(Endpoint {
                url: format!("{base}{CALL_PATH}"),
                base,
                component: var("folio_adapters_component")?,
                authorization: format!("Bearer {}", var("folio_adapters_token")?),
                session: session.iter().map(|b| format!("{b:02x}")).collect(),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Makes `call`: `Err` when the service could not be reached or failed, for
/// the caller to report as its interface's "unavailable". A call the
/// service refuses as malformed (an unknown handle) traps, as on the host.
pub fn call<T: DeserializeOwned, E: DeserializeOwned>(call: &Call) -> Result<Result<T, E>, String> {
    let endpoint = endpoint()?;
    let body = serde_json::to_vec(call).expect("calls serialize");
    let request = Request::builder()
        .method(Method::Post)
        .uri(&endpoint.url)
        .header("content-type", "application/json")
        .header("authorization", &endpoint.authorization)
        .header(COMPONENT_HEADER, &endpoint.component)
        .header(SESSION_HEADER, &endpoint.session)
        .body(body)
        .build();
    let response: Response = spin_sdk::http::run(spin_sdk::http::send(request))
        .map_err(|e| format!("the adapter service did not answer: {e}"))?;
    match *response.status() {
        200 => serde_json::from_slice::<Reply<T, E>>(response.body())
            .map(Into::into)
            .map_err(|e| format!("the adapter service answered something else: {e}")),
        400 => panic!(
            "the adapter service refused {call:?}: {}",
            String::from_utf8_lossy(response.body())
        ),
        status => Err(format!(
            "the adapter service answered {status}: {}",
            String::from_utf8_lossy(response.body())
        )),
    }
}

/// Tells the service a handle is gone; nothing to do if that fails (an
/// abandoned session is dropped by the service when it goes idle).
pub fn close(call: Call) {
    let _ = self::call::<(), ()>(&call);
}

/// The headers every request to the service carries: who calls, and for
/// which instance.
pub fn caller_headers() -> Result<Vec<(String, String)>, String> {
    let endpoint = endpoint()?;
    Ok(vec![
        ("authorization".into(), endpoint.authorization.clone()),
        (COMPONENT_HEADER.into(), endpoint.component.clone()),
        (SESSION_HEADER.into(), endpoint.session.clone()),
    ])
}

/// `path` on the service, as a URL.
pub fn url(path: &str) -> Result<String, String> {
    Ok(format!("{}{path}", endpoint()?.base))
}
