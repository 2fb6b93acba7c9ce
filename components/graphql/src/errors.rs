//! GraphQL errors (`{"message", "locations", "path", "extensions": {"code"}}`)
//! and, for errors that end a request before execution, the HTTP status.

use serde_json::{Map, Value as Json, json};

/// One step of a response path: a field's response key or a list index.
#[derive(Clone, Debug, PartialEq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub struct GraphqlError {
    pub message: String,
    pub code: &'static str,
    pub locations: Vec<(usize, usize)>,
    pub path: Option<Vec<PathSeg>>,
    /// More `extensions` members (e.g. the service and its status).
    pub extensions: Map<String, Json>,
}

pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
pub const BAD_REQUEST: &str = "BAD_REQUEST";
pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
pub const DEPTH_LIMIT: &str = "DEPTH_LIMIT_EXCEEDED";
pub const COMPLEXITY_LIMIT: &str = "COMPLEXITY_LIMIT_EXCEEDED";
pub const FIELD_LIMIT: &str = "FIELD_LIMIT_EXCEEDED";
pub const ALIAS_LIMIT: &str = "ALIAS_LIMIT_EXCEEDED";
pub const QUERY_TOO_LARGE: &str = "QUERY_TOO_LARGE";
pub const INTROSPECTION_DISABLED: &str = "INTROSPECTION_DISABLED";
pub const OPERATION_NOT_SUPPORTED: &str = "OPERATION_NOT_SUPPORTED";
pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
pub const PERSISTED_QUERY_NOT_SUPPORTED: &str = "PERSISTED_QUERY_NOT_SUPPORTED";
pub const PERSISTED_QUERY_HASH_MISMATCH: &str = "PERSISTED_QUERY_HASH_MISMATCH";
pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
// Field errors, from the services' answers.
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const RATE_LIMITED: &str = "RATE_LIMITED";
pub const UPSTREAM_ERROR: &str = "UPSTREAM_ERROR";
pub const INTERNAL: &str = "INTERNAL_SERVER_ERROR";

impl GraphqlError {
    pub fn new(code: &'static str, message: impl Into<String>) -> GraphqlError {
        GraphqlError {
            message: message.into(),
            code,
            locations: Vec::new(),
            path: None,
            extensions: Map::new(),
        }
    }

    pub fn at(mut self, line: usize, column: usize) -> GraphqlError {
        self.locations.push((line, column));
        self
    }

    pub fn with_path(mut self, path: Vec<PathSeg>) -> GraphqlError {
        self.path = Some(path);
        self
    }

    pub fn with_extension(mut self, name: &str, value: Json) -> GraphqlError {
        self.extensions.insert(name.to_string(), value);
        self
    }

    /// The HTTP status of a response whose only content is this error
    /// (nothing executed). Persisted-query misses are 200, as Apollo's
    /// clients expect: they retry with the query text.
    pub fn http_status(&self) -> u16 {
        match self.code {
            QUERY_TOO_LARGE => 413,
            UNSUPPORTED_MEDIA_TYPE => 415,
            PERSISTED_QUERY_NOT_FOUND => 200,
            SERVICE_UNAVAILABLE => 503,
            _ => 400,
        }
    }

    pub fn to_json(&self) -> Json {
        let mut extensions = self.extensions.clone();
        extensions.insert("code".into(), json!(self.code));
        let mut e = json!({ "message": self.message });
        if !self.locations.is_empty() {
            e["locations"] = self
                .locations
                .iter()
                .map(|(line, column)| json!({ "line": line, "column": column }))
                .collect();
        }
        if let Some(path) = &self.path {
            e["path"] = path
                .iter()
                .map(|s| match s {
                    PathSeg::Key(k) => json!(k),
                    PathSeg::Index(i) => json!(i),
                })
                .collect();
        }
        e["extensions"] = Json::Object(extensions);
        e
    }
}

/// `{"errors": [...]}`: a request that did not execute.
pub fn errors_body(errors: &[GraphqlError]) -> Json {
    json!({ "errors": errors.iter().map(GraphqlError::to_json).collect::<Vec<_>>() })
}
