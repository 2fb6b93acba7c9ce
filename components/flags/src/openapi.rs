//! The OpenAPI 3.1 document of the admin API, served at
//! `GET /api/v1/openapi/flags.json`. The evaluation API is OFREP's own
//! (https://openfeature.dev/specification/appendix-c), not repeated here.

use folio_guest::openapi::BearerAuth;
use spin_sdk::http::Response;
use utoipa::OpenApi;

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Folio feature flags",
        description = "Feature flags in flagd's definition format, per environment. Evaluation is the OpenFeature Remote Evaluation Protocol at /ofrep/v1/evaluate/flags. Errors are RFC 9457 problem details."
    ),
    paths(api::export, api::import, api::get, api::put, api::delete),
    modifiers(&BearerAuth)
)]
pub struct FlagsApi;

pub fn document() -> Response {
    folio_guest::openapi::served(FlagsApi::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_described_with_problem_answers() {
        folio_guest::openapi::assert_well_described(&FlagsApi::openapi(), 2);
    }
}
