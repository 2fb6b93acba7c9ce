//! Answers every request with a fixed greeting. It imports only `wasi:*`
//! interfaces, so `wasmtime serve` runs it too: the host benchmark compares
//! Folio, `wasmtime serve` and a native server on exactly this component.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_request: Request) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body("Hello, Folio!\n")
        .build()
}
