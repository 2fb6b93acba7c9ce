//! The admin web app, the landing page and the API reference, as static
//! files embedded in the component. It imports only `wasi:http`, so real
//! Spin serves it as it is.

mod assets;
mod serve;

use serve::{CSP, Reply};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(request: Request) -> Response {
    let method = match request.method() {
        Method::Get => "GET",
        Method::Head => "HEAD",
        _ => "OTHER",
    };
    let header = |name: &str| request.header(name).and_then(|v| v.as_str());
    match serve::reply(
        method,
        request.path(),
        header("accept-encoding"),
        header("if-none-match"),
    ) {
        Reply::Asset {
            asset,
            encoding,
            body,
            not_modified,
        } => {
            let mut response = Response::builder();
            response
                .status(if not_modified { 304 } else { 200 })
                .header("etag", asset.etag)
                .header("cache-control", asset.cache_control())
                .header("vary", "accept-encoding");
            if !not_modified {
                response.header("content-type", asset.content_type());
                if let Some(coding) = encoding.header() {
                    response.header("content-encoding", coding);
                }
            }
            if asset.is_html() {
                response
                    .header("content-security-policy", CSP)
                    .header("x-frame-options", "DENY");
            }
            if body {
                let bytes = asset.bytes(encoding);
                response
                    .header("content-length", bytes.len().to_string())
                    .body(bytes.to_vec());
            }
            response.build()
        }
        Reply::Redirect(to) => Response::builder()
            .status(308)
            .header("location", to)
            .build(),
        Reply::NotFound => problem(404, "Not Found", "no such page or file"),
        Reply::MethodNotAllowed => {
            let mut response = problem(405, "Method Not Allowed", "only GET and HEAD");
            response.set_header("allow", "GET, HEAD");
            response
        }
    }
}

fn problem(status: u16, title: &str, detail: &str) -> Response {
    let body = format!(
        "{{\"type\":\"about:blank\",\"title\":\"{title}\",\"status\":{status},\"detail\":\"{detail}\"}}"
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/problem+json")
        .body(body)
        .build()
}
