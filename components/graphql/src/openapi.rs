//! The OpenAPI 3.1 document of the GraphQL endpoint, served at
//! `GET /api/v1/openapi/graphql.json` and merged by the meta component into
//! `/api/v1/openapi.json`. The GraphQL schema itself is the SDL at
//! `/api/v1/graphql/schema.graphql`.

#![allow(dead_code)]

use folio_guest::openapi::BearerAuth;
use serde_json::Value as Json;
use spin_sdk::http::Response;
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Folio GraphQL",
        description = "One query over content, categories, tags, media and the caller's account, answered from the services' public APIs (the caller's bearer token is forwarded to each, so each applies its own rules), batched per level of the query. Reads only. Limits: depth 8, cost 2000, 16 KiB of query text, 64 KiB of body, 300 fields, 30 aliases, 10 root fields. Automatic persisted queries (Apollo's `extensions.persistedQuery`). Errors are GraphQL errors with `extensions.code`."
    ),
    paths(graphql_get, graphql_post, schema_sdl),
    components(schemas(GraphqlRequest, GraphqlResponse, GraphqlErrors, GraphqlError, Location, ErrorExtensions, Extensions, PersistedQuery)),
    modifiers(&BearerAuth)
)]
pub struct GraphqlApi;

/// A GraphQL request.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct GraphqlRequest {
    /// The document; may be left out when `extensions.persistedQuery` names one registered before.
    #[schema(nullable = false)]
    pub query: Option<String>,
    /// Which operation of the document to run (needed when it has several).
    pub operation_name: Option<String>,
    /// Values of the operation's variables.
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Json>,
    pub extensions: Option<Extensions>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Extensions {
    pub persisted_query: Option<PersistedQuery>,
}

/// Apollo's automatic persisted queries: a hash alone runs the query
/// registered under it; a hash with `query` registers it.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PersistedQuery {
    /// 1
    pub version: i64,
    /// The SHA-256 of the query text, hex.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256_hash: String,
}

/// The result: `data` as the query's shape, `errors` for fields that failed.
#[derive(ToSchema)]
pub struct GraphqlResponse {
    #[schema(value_type = Option<Object>)]
    pub data: Option<Json>,
    #[schema(nullable = false)]
    pub errors: Option<Vec<GraphqlError>>,
}

/// A request that did not execute.
#[derive(ToSchema)]
pub struct GraphqlErrors {
    pub errors: Vec<GraphqlError>,
}

#[derive(ToSchema)]
pub struct GraphqlError {
    pub message: String,
    #[schema(nullable = false)]
    pub locations: Option<Vec<Location>>,
    /// Response keys and list indexes of the field that failed.
    #[schema(nullable = false)]
    pub path: Option<Vec<Json>>,
    pub extensions: ErrorExtensions,
}

#[derive(ToSchema)]
pub struct Location {
    pub line: u32,
    pub column: u32,
}

/// `code`: GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT,
/// BAD_REQUEST, DEPTH_LIMIT_EXCEEDED, COMPLEXITY_LIMIT_EXCEEDED,
/// FIELD_LIMIT_EXCEEDED, ALIAS_LIMIT_EXCEEDED, QUERY_TOO_LARGE,
/// UNSUPPORTED_MEDIA_TYPE, INTROSPECTION_DISABLED, OPERATION_NOT_SUPPORTED,
/// PERSISTED_QUERY_NOT_FOUND, PERSISTED_QUERY_NOT_SUPPORTED,
/// PERSISTED_QUERY_HASH_MISMATCH, SERVICE_UNAVAILABLE; on fields:
/// UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED, UPSTREAM_ERROR,
/// INTERNAL_SERVER_ERROR (with `service` and its `status`).
#[derive(ToSchema)]
pub struct ErrorExtensions {
    pub code: String,
}

/// Runs a query given as parameters (`variables` and `extensions` JSON-encoded); cacheable with persisted queries.
#[utoipa::path(
    get,
    path = "/api/v1/graphql",
    operation_id = "graphqlGet",
    tag = "graphql",
    security((), ("bearer" = [])),
    params(
        ("query" = Option<String>, Query, nullable = false, description = "The document"),
        ("operationName" = Option<String>, Query, nullable = false),
        ("variables" = Option<String>, Query, nullable = false, description = "A JSON object"),
        ("extensions" = Option<String>, Query, nullable = false, description = "A JSON object, e.g. `{\"persistedQuery\":{\"version\":1,\"sha256Hash\":\"…\"}}`"),
    ),
    responses(
        (status = 200, description = "Executed (`errors` for fields that failed), or PERSISTED_QUERY_NOT_FOUND", body = GraphqlResponse),
        (status = 400, description = "Malformed, invalid, over a limit, or a persisted-query hash that does not match", body = GraphqlErrors),
        (status = 413, description = "The query or parameters are too large", body = GraphqlErrors),
        (status = 503, description = "The persisted-query store is unavailable", body = GraphqlErrors)
    )
)]
fn graphql_get() {}

/// Runs a query.
#[utoipa::path(
    post,
    path = "/api/v1/graphql",
    operation_id = "graphqlPost",
    tag = "graphql",
    security((), ("bearer" = [])),
    request_body = GraphqlRequest,
    responses(
        (status = 200, description = "Executed (`errors` for fields that failed), or PERSISTED_QUERY_NOT_FOUND", body = GraphqlResponse),
        (status = 400, description = "Malformed, invalid, over a limit, or a persisted-query hash that does not match", body = GraphqlErrors),
        (status = 413, description = "The body or query is too large", body = GraphqlErrors),
        (status = 415, description = "The body is not JSON", body = GraphqlErrors),
        (status = 503, description = "The persisted-query store is unavailable", body = GraphqlErrors)
    )
)]
fn graphql_post() {}

/// The GraphQL schema (SDL); introspection is off.
#[utoipa::path(
    get,
    path = "/api/v1/graphql/schema.graphql",
    operation_id = "graphqlSchema",
    tag = "graphql",
    responses(
        (status = 200, description = "The schema in GraphQL SDL", body = String, content_type = "text/plain")
    )
)]
fn schema_sdl() {}

pub fn document() -> Response {
    folio_guest::openapi::served(GraphqlApi::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described_in_openapi_3_1() {
        let doc: serde_json::Value =
            serde_json::from_str(&GraphqlApi::openapi().to_json().unwrap()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        if let Ok(path) = std::env::var("FOLIO_OPENAPI_DUMP") {
            std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        }
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths["/api/v1/graphql"]["get"].is_object());
        assert!(paths["/api/v1/graphql"]["post"].is_object());
        assert!(paths["/api/v1/graphql/schema.graphql"]["get"].is_object());
        let post = &paths["/api/v1/graphql"]["post"]["responses"];
        for status in ["200", "400", "413", "415", "503"] {
            assert!(post[status].is_object(), "{status}");
        }
    }
}
