//! Imports `fermyon:spin/llm`, which Folio never provides: `folio up` must
//! refuse to start with a line naming this component and the import.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_request: Request) -> Response {
    let result = spin_sdk::llm::infer(spin_sdk::llm::InferencingModel::Llama2Chat, "hi");
    let status = if result.is_ok() { 200 } else { 500 };
    Response::new(status, "")
}
