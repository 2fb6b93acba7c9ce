//! Why a request failed, and its RFC 9457 `application/problem+json` answer.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    NotFound,
    BodyTooLarge(u64),
    /// The guest trapped (panic, unreachable, bad memory access, ...).
    Trap(String),
    /// The guest returned a `wasi:http` error code instead of a response.
    GuestError(String),
    /// The guest finished without setting a response.
    NoResponse,
    /// The guest ran past the request deadline.
    Timeout,
    /// The guest tried to grow its memory past the per-instance cap.
    MemoryExhausted,
    /// No instance slot became free in time.
    Overloaded,
    /// The component's own concurrency cap (`max_concurrency`) stayed full.
    ComponentBusy,
    /// The request's chained calls already hold as many instances as one
    /// request may.
    ChainLimit,
    /// A rate-limit policy is exhausted for this caller.
    RateLimited {
        detail: String,
        retry_after_secs: u64,
    },
    /// A CORS preflight from an origin, or for a method or header, that
    /// `[http.cors]` does not allow.
    CorsRefused(String),
    /// The destination's circuit breaker is open: it failed too often lately.
    CircuitOpen(String),
    ShuttingDown,
    Internal(String),
}

impl Failure {
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Trap(_) | Failure::GuestError(_) | Failure::NoResponse => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Failure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Failure::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Failure::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Failure::CorsRefused(_) => StatusCode::FORBIDDEN,
            Failure::MemoryExhausted
            | Failure::CircuitOpen(_)
            | Failure::Overloaded
            | Failure::ComponentBusy
            | Failure::ChainLimit
            | Failure::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short machine-readable name, used in the problem type, logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::NotFound => "not-found",
            Failure::BodyTooLarge(_) => "body-too-large",
            Failure::Trap(_) => "guest-trap",
            Failure::GuestError(_) => "guest-error",
            Failure::NoResponse => "guest-no-response",
            Failure::Timeout => "deadline-exceeded",
            Failure::MemoryExhausted => "memory-limit",
            Failure::Overloaded => "overloaded",
            Failure::ComponentBusy => "component-busy",
            Failure::ChainLimit => "chain-limit",
            Failure::RateLimited { .. } => "rate-limited",
            Failure::CorsRefused(_) => "cors-refused",
            Failure::CircuitOpen(_) => "circuit-open",
            Failure::ShuttingDown => "shutting-down",
            Failure::Internal(_) => "internal",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Failure::NotFound => "No route matches this path",
            Failure::BodyTooLarge(_) => "Request body too large",
            Failure::Trap(_) => "The component failed while handling the request",
            Failure::GuestError(_) => "The component reported an error",
            Failure::NoResponse => "The component returned no response",
            Failure::Timeout => "The component did not answer within the request deadline",
            Failure::MemoryExhausted => "The component exceeded its memory limit",
            Failure::Overloaded => "Too many requests in flight; retry shortly",
            Failure::ComponentBusy => {
                "This service has as many requests in flight as it may; retry shortly"
            }
            Failure::ChainLimit => "Too many service calls in flight for one request",
            Failure::RateLimited { .. } => "Too many requests",
            Failure::CorsRefused(_) => "This cross-origin request is not allowed",
            Failure::CircuitOpen(_) => {
                "A service this request needs is failing; its circuit breaker is open"
            }
            Failure::ShuttingDown => "The server is shutting down",
            Failure::Internal(_) => "Internal host error",
        }
    }

    /// Detail shown to the client; guest internals stay in the log.
    pub fn detail(&self) -> Option<String> {
        match self {
            Failure::BodyTooLarge(limit) => Some(format!("the limit is {limit} bytes")),
            Failure::RateLimited { detail, .. } | Failure::CorsRefused(detail) => {
                Some(detail.clone())
            }
            Failure::CircuitOpen(destination) => Some(format!("`{destination}` is unavailable")),
            _ => None,
        }
    }

    /// What the log line carries beyond the title.
    pub fn log_detail(&self) -> String {
        match self {
            Failure::Trap(m) | Failure::GuestError(m) | Failure::Internal(m) => m.clone(),
            Failure::RateLimited { detail, .. } | Failure::CorsRefused(detail) => detail.clone(),
            other => other.title().to_string(),
        }
    }

    pub fn to_response(&self, instance: &str, request_id: &str) -> Response<HyperOutgoingBody> {
        let mut builder = Response::builder()
            .status(self.status())
            .header(http::header::CONTENT_TYPE, "application/problem+json");
        if matches!(
            self,
            Failure::Overloaded
                | Failure::ComponentBusy
                | Failure::ShuttingDown
                | Failure::MemoryExhausted
        ) {
            builder = builder.header(http::header::RETRY_AFTER, "1");
        }
        match self {
            Failure::RateLimited {
                retry_after_secs, ..
            } => builder = builder.header(http::header::RETRY_AFTER, *retry_after_secs),
            Failure::CircuitOpen(_) => builder = builder.header(http::header::RETRY_AFTER, "5"),
            _ => {}
        }
        builder
            .body(problem_body(
                self.kind(),
                self.title(),
                self.status(),
                self.detail().as_deref(),
                instance,
                request_id,
            ))
            .expect("static response parts are valid")
    }
}

pub fn problem_body(
    kind: &str,
    title: &str,
    status: StatusCode,
    detail: Option<&str>,
    instance: &str,
    request_id: &str,
) -> HyperOutgoingBody {
    let mut doc = serde_json::json!({
        "type": format!("urn:folio:problem:{kind}"),
        "title": title,
        "status": status.as_u16(),
        "instance": instance,
        "requestId": request_id,
    });
    if let Some(detail) = detail {
        doc["detail"] = detail.into();
    }
    full_body(Bytes::from(doc.to_string()))
}

pub fn full_body(bytes: Bytes) -> HyperOutgoingBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}
