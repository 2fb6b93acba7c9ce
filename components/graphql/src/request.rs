//! A GraphQL request over HTTP: `POST` with a JSON body, or `GET` with
//! `query`, `operationName`, `variables` and `extensions` parameters (the
//! last two JSON-encoded). Anything malformed is a 4xx with a GraphQL error.

use serde_json::{Map, Value as Json};

use crate::errors::{self, GraphqlError};
use crate::limits::MAX_BODY_BYTES;

#[derive(Debug, Default, PartialEq)]
pub struct GraphqlRequest {
    pub query: Option<String>,
    pub operation_name: Option<String>,
    pub variables: Map<String, Json>,
    pub extensions: Json,
}

fn bad(message: impl Into<String>) -> GraphqlError {
    GraphqlError::new(errors::BAD_REQUEST, message)
}

/// A `POST` body; `content_type` as the request gave it.
pub fn from_body(content_type: Option<&str>, body: &[u8]) -> Result<GraphqlRequest, GraphqlError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(GraphqlError::new(
            errors::QUERY_TOO_LARGE,
            format!(
                "the body is {} bytes; at most {MAX_BODY_BYTES} are accepted",
                body.len()
            ),
        ));
    }
    let media_type = content_type
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if media_type != "application/json" && media_type != "application/graphql+json" {
        return Err(GraphqlError::new(
            errors::UNSUPPORTED_MEDIA_TYPE,
            "send the request as application/json: {\"query\": ..., \"variables\": {...}}",
        ));
    }
    let value: Json =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let Json::Object(mut body) = value else {
        return Err(bad(
            "the body must be one JSON object (batched requests are not accepted)",
        ));
    };
    let query = optional_string(body.remove("query"), "query")?;
    let operation_name = optional_string(body.remove("operationName"), "operationName")?;
    let variables = optional_object(body.remove("variables"), "variables")?;
    let extensions = optional_object(body.remove("extensions"), "extensions")?;
    Ok(GraphqlRequest {
        query,
        operation_name,
        variables,
        extensions: Json::Object(extensions),
    })
}

/// `GET` parameters, percent-decoded.
pub fn from_params(pairs: &[(String, String)]) -> Result<GraphqlRequest, GraphqlError> {
    let mut request = GraphqlRequest {
        extensions: Json::Object(Map::new()),
        ..GraphqlRequest::default()
    };
    let total: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_BODY_BYTES {
        return Err(GraphqlError::new(
            errors::QUERY_TOO_LARGE,
            format!("the parameters are {total} bytes; at most {MAX_BODY_BYTES} are accepted"),
        ));
    }
    for (name, value) in pairs {
        let json = |what: &str| -> Result<Map<String, Json>, GraphqlError> {
            if value.is_empty() {
                return Ok(Map::new());
            }
            let parsed: Json =
                serde_json::from_str(value).map_err(|e| bad(format!("{what} is not JSON: {e}")))?;
            optional_object(Some(parsed), what)
        };
        match name.as_str() {
            "query" => request.query = Some(value.clone()),
            "operationName" => {
                request.operation_name = Some(value.clone()).filter(|v| !v.is_empty())
            }
            "variables" => request.variables = json("variables")?,
            "extensions" => request.extensions = Json::Object(json("extensions")?),
            _ => {} // other parameters are not GraphQL's business
        }
    }
    Ok(request)
}

fn optional_string(v: Option<Json>, name: &str) -> Result<Option<String>, GraphqlError> {
    match v {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("`{name}` must be a string"))),
    }
}

fn optional_object(v: Option<Json>, name: &str) -> Result<Map<String, Json>, GraphqlError> {
    match v {
        None | Some(Json::Null) => Ok(Map::new()),
        Some(Json::Object(m)) => Ok(m),
        Some(_) => Err(bad(format!("`{name}` must be a JSON object"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn post_bodies() {
        let r = from_body(
            Some("application/json; charset=utf-8"),
            br#"{"query": "{ me { id } }", "variables": {"a": 1}, "operationName": null}"#,
        )
        .unwrap();
        assert_eq!(r.query.as_deref(), Some("{ me { id } }"));
        assert_eq!(r.variables["a"], 1);
        for (ct, body, code) in [
            (
                Some("text/plain"),
                &b"{}"[..],
                errors::UNSUPPORTED_MEDIA_TYPE,
            ),
            (None, b"not json", errors::BAD_REQUEST),
            (None, b"[{\"query\": \"{me{id}}\"}]", errors::BAD_REQUEST),
            (None, b"{\"query\": 1}", errors::BAD_REQUEST),
            (None, b"{\"variables\": [1]}", errors::BAD_REQUEST),
            (None, b"{\"extensions\": \"x\"}", errors::BAD_REQUEST),
        ] {
            let err = from_body(ct, body).unwrap_err();
            assert_eq!(err.code, code, "{}", String::from_utf8_lossy(body));
            assert!((400..500).contains(&err.http_status()));
        }
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(from_body(None, &big).unwrap_err().http_status(), 413);
    }

    #[test]
    fn get_parameters() {
        let pairs = vec![
            ("query".to_string(), "{ tags { tag } }".to_string()),
            ("variables".to_string(), "{\"n\": 2}".to_string()),
            (
                "extensions".to_string(),
                json!({"persistedQuery": {"version": 1}}).to_string(),
            ),
        ];
        let r = from_params(&pairs).unwrap();
        assert_eq!(r.variables["n"], 2);
        assert_eq!(r.extensions["persistedQuery"]["version"], 1);
        let bad = from_params(&[("variables".into(), "{".into())]).unwrap_err();
        assert_eq!(bad.http_status(), 400);
    }
}
