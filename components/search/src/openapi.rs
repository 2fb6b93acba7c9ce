//! The OpenAPI 3.1 document of this service, generated from the handlers'
//! `#[utoipa::path]` annotations and the types their answers serialize;
//! served at `GET /api/v1/openapi/search.json`.

use folio_guest::openapi::BearerAuth;
use spin_sdk::http::Response;
use utoipa::OpenApi;

use crate::api::bodies::{FacetName, SearchSort};
use crate::api::{analytics, reindex, search};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Folio search service",
        description = "Full-text search over content with facets, title suggestions and related items. Anyone searches published content; a creator's bearer token adds their own content in any status, an admin's everything. Admins rebuild the index and read search analytics. Errors are RFC 9457 problem details."
    ),
    paths(
        search::search,
        search::suggest,
        search::related,
        analytics::click,
        analytics::report,
        reindex::start,
        reindex::status,
    ),
    components(schemas(SearchSort, FacetName)),
    modifiers(&BearerAuth)
)]
pub struct SearchApi;

pub fn document() -> Response {
    folio_guest::openapi::served(SearchApi::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described_in_openapi_3_1() {
        let doc: serde_json::Value =
            serde_json::from_str(&SearchApi::openapi().to_json().unwrap()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        for (path, method) in [
            ("/api/v1/search", "get"),
            ("/api/v1/search/suggest", "get"),
            ("/api/v1/search/related/{id}", "get"),
            ("/api/v1/search/clicks", "post"),
            ("/api/v1/search/analytics", "get"),
            ("/api/v1/search/reindex", "post"),
            ("/api/v1/search/reindex/{id}", "get"),
        ] {
            let operation = &paths[path][method];
            assert!(operation.is_object(), "{method} {path} is not described");
            let problems = operation["responses"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(status, _)| status.starts_with('4'));
            for (status, response) in problems {
                assert!(
                    response["content"]["application/problem+json"].is_object(),
                    "{method} {path} {status} is not a problem"
                );
            }
        }
    }
}
