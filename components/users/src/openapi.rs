//! The OpenAPI document of this service's routes.

use spin_sdk::http::Response;

pub fn document() -> Response {
    Response::builder()
        .status(501)
        .header("content-type", "application/json")
        .body("{}")
        .build()
}
