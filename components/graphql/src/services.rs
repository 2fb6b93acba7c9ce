//! The services' public HTTP APIs through service chaining
//! (`http://NAME.spin.internal/...`), with the caller's `Authorization`
//! forwarded on every call, so each service applies its own rules.
//! Component names come from the variables `content_service`,
//! `media_service` and `users_service` (default: `content`, `media`, `users`).

use folio_guest::http::chained_service;
use serde_json::Value as Json;
use spin_sdk::http::{Request, Response};

use crate::execute::{ServiceError, Services};
use crate::plan::{Call, Service};

pub struct Chained {
    authorization: Option<String>,
    content: String,
    media: String,
    users: String,
}

impl Chained {
    pub fn new(authorization: Option<String>) -> Chained {
        Chained {
            authorization,
            content: chained_service("content_service", "content"),
            media: chained_service("media_service", "media"),
            users: chained_service("users_service", "users"),
        }
    }

    fn host(&self, service: Service) -> &str {
        match service {
            Service::Content => &self.content,
            Service::Media => &self.media,
            Service::Users => &self.users,
        }
    }
}

impl Services for Chained {
    fn has_credentials(&self) -> bool {
        self.authorization.is_some()
    }

    async fn get(&self, call: &Call) -> Result<Json, ServiceError> {
        let url = format!(
            "http://{}.spin.internal{}",
            self.host(call.service),
            call.path
        );
        let mut request = Request::get(url);
        request.header("accept", "application/json");
        if let Some(authorization) = &self.authorization {
            request.header("authorization", authorization.as_str());
        }
        let failed = |status: Option<u16>, detail: String| ServiceError {
            service: call.service,
            status,
            detail,
        };
        let response: Response = spin_sdk::http::send(request)
            .await
            .map_err(|e| failed(None, format!("the call failed: {e}")))?;
        let status = *response.status();
        let body: Option<Json> = serde_json::from_slice(response.body()).ok();
        if (200..300).contains(&status) {
            return body.ok_or_else(|| failed(Some(status), "the answer is not JSON".into()));
        }
        let detail = body
            .as_ref()
            .and_then(|b| b.get("detail"))
            .and_then(Json::as_str)
            .map_or_else(|| format!("answered {status}"), str::to_string);
        Err(failed(Some(status), detail))
    }
}
