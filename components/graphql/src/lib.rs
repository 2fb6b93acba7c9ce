//! GraphQL for client applications: `POST /api/v1/graphql` (or `GET` with
//! parameters) reads content, categories, tags, media and the caller's
//! account in one query. It owns no data: every field is answered by a
//! service's public HTTP API through service chaining, with the caller's
//! `Authorization` forwarded, and linked objects (authors, media,
//! categories) are loaded once per level of the query for all parents.
//!
//! `request` reads the HTTP request, `persisted` handles Apollo's
//! persisted queries, `document` parses and validates within `limits`,
//! `execute` runs the `plan`'s calls through `services`; `schema` is the
//! schema and its SDL (`GET /api/v1/graphql/schema.graphql`), `openapi`
//! the endpoint's OpenAPI document (`GET /api/v1/openapi/graphql.json`).

mod document;
mod errors;
mod execute;
mod limits;
mod openapi;
mod persisted;
mod plan;
mod request;
mod schema;
mod services;

use folio_guest::http::{Problem, header, path_segments, query_pairs};
use serde_json::Value as Json;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

use errors::GraphqlError;
use request::GraphqlRequest;

#[http_component]
async fn handle(request: Request) -> Response {
    let segments = path_segments(&request);
    let method = request.method().clone();
    match (segments.as_slice(), &method) {
        (["api", "v1", "graphql"], Method::Get) => {
            let parsed = request::from_params(&query_pairs(&request));
            graphql(&request, parsed).await
        }
        (["api", "v1", "graphql"], Method::Post) => {
            let parsed = request::from_body(header(&request, "content-type"), request.body());
            graphql(&request, parsed).await
        }
        (["api", "v1", "graphql"], _) => Problem::method_not_allowed("GET, POST").into_response(),
        (["api", "v1", "graphql", "schema.graphql"], Method::Get) => Response::builder()
            .status(200)
            .header("content-type", "text/plain; charset=utf-8")
            .header("cache-control", "public, max-age=300")
            .body(schema::sdl())
            .build(),
        (["api", "v1", "graphql", "schema.graphql"], _) => {
            Problem::method_not_allowed("GET").into_response()
        }
        (["api", "v1", "openapi", "graphql.json"], Method::Get) => openapi::document(),
        _ => Problem::not_found("no such route").into_response(),
    }
}

async fn graphql(request: &Request, parsed: Result<GraphqlRequest, GraphqlError>) -> Response {
    match run(request, parsed).await {
        Ok(body) => reply(200, &body),
        Err(error) => reply(error.http_status(), &errors::errors_body(&[error])),
    }
}

/// Reads, checks and runs the request: any error before execution ends it.
async fn run(
    request: &Request,
    parsed: Result<GraphqlRequest, GraphqlError>,
) -> Result<Json, GraphqlError> {
    let parsed = parsed?;
    let hash = persisted::requested_hash(&parsed.extensions)?;
    let (query, register) = match (parsed.query, hash) {
        (Some(query), Some(hash)) => {
            persisted::verify(&hash, &query)?;
            (query, Some(hash))
        }
        (Some(query), None) => (query, None),
        (None, Some(hash)) => match persisted::Store::open()?.get(&hash)? {
            Some(query) => (query, None),
            None => return Err(persisted::not_found()),
        },
        (None, None) => {
            return Err(GraphqlError::new(
                errors::BAD_REQUEST,
                "no query: send `query`, or `extensions.persistedQuery` naming one sent before",
            ));
        }
    };
    let operation = document::prepare(&query, parsed.operation_name.as_deref(), &parsed.variables)?;
    if let Some(hash) = register {
        // Registered only once it validates; a store that fails costs the
        // client a resend, not this answer.
        let _ = persisted::Store::open().and_then(|store| store.put(&hash, &query));
    }
    let services = services::Chained::new(header(request, "authorization").map(str::to_string));
    let outcome = execute::execute(&services, &operation).await;
    Ok(outcome.to_json())
}

fn reply(status: u16, body: &Json) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(serde_json::to_vec(body).expect("responses serialize"))
        .build()
}
