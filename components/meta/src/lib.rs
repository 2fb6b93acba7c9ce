//! `GET /api/v1/meta`: what this Folio deployment is — version, build and
//! the services it runs — so clients and operators can check what they talk to.
//! `GET /api/v1/openapi.json`: the OpenAPI document of every service (see `openapi`).

mod openapi;

use serde::Serialize;
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    name: String,
    version: &'static str,
    build: Build,
    services: Vec<String>,
}

#[derive(Serialize)]
struct Build {
    profile: &'static str,
    target: &'static str,
}

#[http_component]
async fn handle(request: Request) -> Response {
    if *request.method() != Method::Get && *request.method() != Method::Head {
        return problem(
            405,
            "Method not allowed",
            "only GET and HEAD are served here",
        );
    }
    let path = request.path();
    if path == "/openapi.json" || path.ends_with("/openapi.json") {
        return openapi_document().await;
    }
    let name = spin_sdk::variables::get("platform_name").unwrap_or_else(|_| "Folio".into());
    let services = spin_sdk::variables::get("services")
        .map(|list| parse_services(&list))
        .unwrap_or_default();
    let meta = Meta {
        name,
        version: env!("CARGO_PKG_VERSION"),
        build: Build {
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            target: "wasm32-wasip2",
        },
        services,
    };
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "public, max-age=60")
        .body(serde_json::to_vec(&meta).expect("meta serializes"))
        .build()
        .into_response()
}

/// Fetches every source's document through service chaining and merges them:
/// 502 naming a source that fails, 500 naming a conflict between two.
async fn openapi_document() -> Response {
    let list = spin_sdk::variables::get("openapi_sources").unwrap_or_default();
    let sources = match openapi::parse_sources(&list) {
        Ok(sources) if !sources.is_empty() => sources,
        Ok(_) => return problem(500, "Internal error", "openapi_sources names no service"),
        Err(e) => return problem(500, "Internal error", &e),
    };
    let mut documents = Vec::new();
    for source in &sources {
        let url = format!("http://{}.spin.internal{}", source.name, source.path);
        let fetched = match spin_sdk::http::send::<_, Response>(Request::get(&url)).await {
            Ok(r) if *r.status() == 200 => serde_json::from_slice::<serde_json::Value>(r.body())
                .map_err(|e| format!("its document at {} is not JSON: {e}", source.path)),
            Ok(r) => Err(format!("{} answered {}", source.path, r.status())),
            Err(e) => Err(format!("{} could not be fetched: {e}", source.path)),
        };
        match fetched {
            Ok(document) if document["paths"].is_object() => {
                documents.push((source.name.clone(), document))
            }
            Ok(_) => {
                return problem(
                    502,
                    "Bad gateway",
                    &format!(
                        "service {}: its document at {} has no paths",
                        source.name, source.path
                    ),
                );
            }
            Err(e) => {
                return problem(502, "Bad gateway", &format!("service {}: {e}", source.name));
            }
        }
    }
    match openapi::merge(env!("CARGO_PKG_VERSION"), &documents) {
        Ok(merged) => Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("cache-control", "public, max-age=60")
            .body(serde_json::to_vec(&merged).expect("the document serializes"))
            .build(),
        Err(conflict) => problem(
            500,
            "Internal error",
            &format!("the services' OpenAPI documents conflict: {}", conflict.0),
        ),
    }
}

fn parse_services(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn problem(status: u16, title: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    });
    Response::builder()
        .status(status)
        .header("content-type", "application/problem+json")
        .header("cache-control", "no-store")
        .body(body.to_string())
        .build()
}
