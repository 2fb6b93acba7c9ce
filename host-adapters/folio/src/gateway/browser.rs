//! What browsers need from an API host: a CORS policy from the runtime
//! config (`[http.cors]`, preflights answered by the host), and security
//! headers on every response unless the component set its own.

use http::{HeaderMap, HeaderValue, Method, header};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins (`https://admin.example.com`), or `"*"` (not with credentials).
    pub allowed_origins: Vec<String>,
    #[serde(default = "default_methods")]
    pub allowed_methods: Vec<String>,
    #[serde(default = "default_request_headers")]
    pub allowed_headers: Vec<String>,
    #[serde(default = "default_exposed_headers")]
    pub exposed_headers: Vec<String>,
    #[serde(default)]
    pub allow_credentials: bool,
    #[serde(default = "default_max_age")]
    pub max_age_secs: u64,
}

fn default_methods() -> Vec<String> {
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        .map(String::from)
        .to_vec()
}

fn default_request_headers() -> Vec<String> {
    [
        "authorization",
        "content-type",
        "idempotency-key",
        "if-match",
        "if-none-match",
        "x-request-id",
        "traceparent",
    ]
    .map(String::from)
    .to_vec()
}

fn default_exposed_headers() -> Vec<String> {
    [
        "location",
        "etag",
        "retry-after",
        "ratelimit",
        "ratelimit-policy",
        "x-request-id",
    ]
    .map(String::from)
    .to_vec()
}

fn default_max_age() -> u64 {
    600
}

pub struct Cors {
    any_origin: bool,
    origins: Vec<String>,
    methods: Vec<Method>,
    allow_methods: HeaderValue,
    headers: Vec<String>,
    allow_headers: HeaderValue,
    expose_headers: HeaderValue,
    credentials: bool,
    max_age: HeaderValue,
}

/// What the host does with a request that carries `Origin`.
#[derive(Debug, PartialEq)]
pub enum Preflight {
    /// Not a preflight: pass it on.
    NotOne,
    /// Answer 204 with these headers.
    Allowed(HeaderMap),
    /// Answer 403: the origin, method or a header is not allowed.
    Refused(String),
}

impl Cors {
    pub fn new(config: &CorsConfig) -> anyhow::Result<Cors> {
        let any_origin = config.allowed_origins.iter().any(|o| o == "*");
        if any_origin && config.allow_credentials {
            anyhow::bail!(
                "[http.cors]: allowed_origins = [\"*\"] cannot go with allow_credentials (browsers refuse it)"
            );
        }
        for origin in config.allowed_origins.iter().filter(|o| *o != "*") {
            let uri: http::Uri = origin.parse().map_err(|_| {
                anyhow::anyhow!("[http.cors] allowed_origins: `{origin}` is not an origin")
            })?;
            if uri.scheme().is_none()
                || uri.host().is_none()
                || uri.path_and_query().is_some_and(|p| p.as_str() != "/")
                || origin.ends_with('/')
            {
                anyhow::bail!(
                    "[http.cors] allowed_origins: `{origin}` is not an origin (scheme://host[:port], no path)"
                );
            }
        }
        let methods = config
            .allowed_methods
            .iter()
            .map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| anyhow::anyhow!("[http.cors] allowed_methods: not an HTTP method"))?;
        let list = |items: &[String]| {
            HeaderValue::from_str(&items.join(", "))
                .map_err(|_| anyhow::anyhow!("[http.cors]: a header name is not valid"))
        };
        Ok(Cors {
            any_origin,
            origins: config.allowed_origins.clone(),
            allow_methods: list(&methods.iter().map(|m| m.to_string()).collect::<Vec<_>>())?,
            methods,
            headers: config
                .allowed_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            allow_headers: list(&config.allowed_headers)?,
            expose_headers: list(&config.exposed_headers)?,
            credentials: config.allow_credentials,
            max_age: HeaderValue::from(config.max_age_secs),
        })
    }

    fn allows_origin(&self, origin: &str) -> bool {
        self.any_origin || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    fn allow_origin_value(&self, origin: &HeaderValue) -> HeaderValue {
        if self.any_origin {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        }
    }

    pub fn preflight(&self, method: &Method, request: &HeaderMap) -> Preflight {
        let (Some(origin), Some(wanted)) = (
            request.get(header::ORIGIN),
            request.get(header::ACCESS_CONTROL_REQUEST_METHOD),
        ) else {
            return Preflight::NotOne;
        };
        if method != Method::OPTIONS {
            return Preflight::NotOne;
        }
        let origin_text = origin.to_str().unwrap_or_default();
        if !self.allows_origin(origin_text) {
            return Preflight::Refused(format!("origin `{origin_text}` is not allowed"));
        }
        let wanted = wanted.to_str().unwrap_or_default();
        if !self.methods.iter().any(|m| m.as_str() == wanted) {
            return Preflight::Refused(format!("method `{wanted}` is not allowed"));
        }
        let requested = request
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        for name in requested
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            if !self.headers.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                return Preflight::Refused(format!("header `{name}` is not allowed"));
            }
        }
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            self.allow_origin_value(origin),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            self.allow_methods.clone(),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            self.allow_headers.clone(),
        );
        h.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        if self.credentials {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        h.insert(
            header::VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        Preflight::Allowed(h)
    }

    /// The CORS headers of an actual response to `request`.
    pub fn decorate(&self, request_origin: Option<&HeaderValue>, response: &mut HeaderMap) {
        response.append(header::VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = request_origin else {
            return;
        };
        if !self.allows_origin(origin.to_str().unwrap_or_default()) {
            return;
        }
        response.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            self.allow_origin_value(origin),
        );
        response.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            self.expose_headers.clone(),
        );
        if self.credentials {
            response.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}

/// For HTML a component serves without its own policy: nothing from
/// elsewhere, no framing, no plugins.
const HTML_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `X-Content-Type-Options`, `Referrer-Policy`, HSTS when configured, and a
/// conservative CSP for HTML; a header the component set is left alone.
pub fn add_security_headers(headers: &mut HeaderMap, hsts: Option<&HeaderValue>) {
    let mut default = |name: header::HeaderName, value: HeaderValue| {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    };
    default(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    default(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if let Some(hsts) = hsts {
        default(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if html {
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(HTML_CSP),
            );
        }
        if !headers.contains_key(header::X_FRAME_OPTIONS) {
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], credentials: bool) -> anyhow::Result<Cors> {
        Cors::new(&CorsConfig {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: default_methods(),
            allowed_headers: default_request_headers(),
            exposed_headers: default_exposed_headers(),
            allow_credentials: credentials,
            max_age_secs: 600,
        })
    }

    fn request(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn preflights_allow_only_what_is_configured() {
        let c = cors(&["https://admin.example.com"], true).unwrap();
        let ok = request(&[
            ("origin", "https://admin.example.com"),
            ("access-control-request-method", "PATCH"),
            (
                "access-control-request-headers",
                "Authorization, Content-Type",
            ),
        ]);
        let Preflight::Allowed(h) = c.preflight(&Method::OPTIONS, &ok) else {
            panic!("refused");
        };
        assert_eq!(
            h["access-control-allow-origin"],
            "https://admin.example.com"
        );
        assert_eq!(h["access-control-allow-credentials"], "true");
        let evil = request(&[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "GET"),
        ]);
        assert!(matches!(
            c.preflight(&Method::OPTIONS, &evil),
            Preflight::Refused(_)
        ));
        let odd_header = request(&[
            ("origin", "https://admin.example.com"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "x-steal"),
        ]);
        assert!(matches!(
            c.preflight(&Method::OPTIONS, &odd_header),
            Preflight::Refused(_)
        ));
        assert_eq!(c.preflight(&Method::GET, &ok), Preflight::NotOne);
    }

    #[test]
    fn responses_name_only_allowed_origins() {
        let c = cors(&["https://admin.example.com"], false).unwrap();
        let mut h = HeaderMap::new();
        c.decorate(Some(&"https://evil.example".parse().unwrap()), &mut h);
        assert!(!h.contains_key("access-control-allow-origin"));
        c.decorate(Some(&"https://admin.example.com".parse().unwrap()), &mut h);
        assert_eq!(
            h["access-control-allow-origin"],
            "https://admin.example.com"
        );
        assert!(cors(&["*"], true).is_err());
        assert!(cors(&["https://a.example/path"], false).is_err());
        assert!(cors(&["admin.example.com"], false).is_err());
    }

    #[test]
    fn security_headers_keep_what_the_component_set() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "text/html; charset=utf-8".parse().unwrap());
        h.insert("referrer-policy", "no-referrer".parse().unwrap());
        add_security_headers(&mut h, Some(&"max-age=63072000".parse().unwrap()));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["strict-transport-security"], "max-age=63072000");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        let mut json = HeaderMap::new();
        json.insert("content-type", "application/json".parse().unwrap());
        add_security_headers(&mut json, None);
        assert!(!json.contains_key("content-security-policy"));
        assert!(!json.contains_key("strict-transport-security"));
    }
}
