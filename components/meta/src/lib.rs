//! `GET /api/v1/meta`: what this Folio deployment is — version, build and
//! the services it runs — so clients and operators can check what they talk to.

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
fn handle(request: Request) -> Response {
    if *request.method() != Method::Get && *request.method() != Method::Head {
        return problem(
            405,
            "Method not allowed",
            "only GET and HEAD are served here",
        );
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
        .body(body.to_string())
        .build()
}
