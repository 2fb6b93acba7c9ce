//! `/_folio/releases`: the operator's handle on [`Releases`], behind
//! `[releases] bearer_token` (the routes do not exist without one).
//!
//! - `GET  /_folio/releases`: live, candidate (with its weight), previous
//! - `POST /_folio/releases` `{"manifest": PATH}`: load a candidate (a path
//!   relative to the live manifest's directory)
//! - `PUT  /_folio/releases/candidate/weight` `{"weight": 0..=100}`
//! - `DELETE /_folio/releases/candidate`
//! - `POST /_folio/releases/promote`, `POST /_folio/releases/rollback`

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::config::EndpointAccess;
use crate::problem::{Failure, full_body, problem_body};
use crate::releases::{ReleaseError, Releases};

pub const ROUTE: &str = "/_folio/releases";
const MAX_BODY_BYTES: usize = 16 << 10;

pub async fn serve(
    releases: &Releases,
    access: &EndpointAccess,
    request: Request<Incoming>,
    client: SocketAddr,
    request_id: &str,
) -> Response<HyperOutgoingBody> {
    let path = request.uri().path().to_string();
    if access.bearer_token.is_none() {
        return Failure::NotFound.to_response(&path, request_id);
    }
    if let Err(status) = access.allows(request.headers(), client) {
        let mut response = problem(
            status,
            "releases-restricted",
            "Releases are restricted by the runtime config ([releases])",
            None,
            &path,
            request_id,
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, "Bearer".parse().unwrap());
        }
        return response;
    }
    let method = request.method().clone();
    let problem_for = |status, kind: &str, title: &str, detail: Option<&str>| {
        problem(status, kind, title, detail, &path, request_id)
    };
    let outcome = match (&method, path.trim_end_matches('/')) {
        (&Method::GET, ROUTE) => return json(StatusCode::OK, releases.describe()),
        (&Method::POST, ROUTE) => {
            let manifest = match read_field(request, "manifest", &path, request_id).await {
                Ok(serde_json::Value::String(m)) if !m.trim().is_empty() => m,
                Ok(_) => {
                    return problem_for(
                        StatusCode::BAD_REQUEST,
                        "invalid-field",
                        "Invalid field `manifest`",
                        Some("`manifest` must be the path of a Spin manifest"),
                    );
                }
                Err(refusal) => return refusal,
            };
            let manifest = releases
                .live()
                .manifest
                .parent()
                .map(|dir| dir.join(&manifest))
                .unwrap_or_else(|| manifest.into());
            releases.stage(&manifest).await.map(|_| StatusCode::CREATED)
        }
        (&Method::PUT, "/_folio/releases/candidate/weight") => {
            let weight = match read_field(request, "weight", &path, request_id).await {
                Ok(value) => value.as_u64().filter(|w| *w <= 100),
                Err(refusal) => return refusal,
            };
            let Some(weight) = weight else {
                return problem_for(
                    StatusCode::BAD_REQUEST,
                    "invalid-field",
                    "Invalid field `weight`",
                    Some("`weight` must be a whole percentage from 0 to 100"),
                );
            };
            releases
                .set_weight(weight as u8)
                .await
                .map(|()| StatusCode::OK)
        }
        (&Method::DELETE, "/_folio/releases/candidate") => {
            releases.drop_candidate().await.map(|()| StatusCode::OK)
        }
        (&Method::POST, "/_folio/releases/promote") => {
            releases.promote().await.map(|_| StatusCode::OK)
        }
        (&Method::POST, "/_folio/releases/rollback") => {
            releases.rollback().await.map(|_| StatusCode::OK)
        }
        (
            _,
            ROUTE
            | "/_folio/releases/candidate/weight"
            | "/_folio/releases/candidate"
            | "/_folio/releases/promote"
            | "/_folio/releases/rollback",
        ) => {
            return problem_for(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                None,
            );
        }
        _ => return Failure::NotFound.to_response(&path, request_id),
    };
    match outcome {
        Ok(status) => json(status, releases.describe()),
        Err(error) => {
            let (status, kind, title) = match error {
                ReleaseError::Busy => (
                    StatusCode::CONFLICT,
                    "release-change-in-progress",
                    "Another release change is in progress",
                ),
                ReleaseError::NoCandidate => (
                    StatusCode::CONFLICT,
                    "no-candidate",
                    "There is no candidate release",
                ),
                ReleaseError::NoPrevious => (
                    StatusCode::CONFLICT,
                    "no-previous-release",
                    "There is no previous release",
                ),
                ReleaseError::Unloadable(_) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "release-unloadable",
                    "The release does not load",
                ),
            };
            tracing::warn!(method = %method, path = %path, error = %error, "release change refused");
            problem_for(status, kind, title, Some(&error.to_string()))
        }
    }
}

/// Field `name` of a small JSON object body (null when absent).
async fn read_field(
    request: Request<Incoming>,
    name: &str,
    path: &str,
    request_id: &str,
) -> Result<serde_json::Value, Response<HyperOutgoingBody>> {
    let limited = http_body_util::Limited::new(request.into_body(), MAX_BODY_BYTES);
    let Ok(collected) = limited.collect().await else {
        return Err(Failure::BodyTooLarge(MAX_BODY_BYTES as u64).to_response(path, request_id));
    };
    match serde_json::from_slice::<serde_json::Value>(&collected.to_bytes()) {
        Ok(serde_json::Value::Object(mut object)) => {
            Ok(object.remove(name).unwrap_or(serde_json::Value::Null))
        }
        _ => Err(problem(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "The body must be a JSON object",
            Some(&format!("send {{\"{name}\": …}}")),
            path,
            request_id,
        )),
    }
}

fn problem(
    status: StatusCode,
    kind: &str,
    title: &str,
    detail: Option<&str>,
    path: &str,
    request_id: &str,
) -> Response<HyperOutgoingBody> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/problem+json")
        .body(problem_body(kind, title, status, detail, path, request_id))
        .expect("static response parts are valid")
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<HyperOutgoingBody> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(full_body(Bytes::from(value.to_string())))
        .expect("static response parts are valid")
}
