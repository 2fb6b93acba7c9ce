//! Spin's HTTP route rules: exact paths, `:name` segments, a trailing `/...`
//! wildcard; the most specific route wins.

use anyhow::bail;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    /// The route as written in the manifest (`spin-raw-component-route`).
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The route as written, e.g. `/users/:id/...`.
    pub raw_route: String,
    /// The route without its trailing wildcard, e.g. `/users/:id`.
    pub component_route: String,
    /// The part of the path the wildcard captured, with a leading `/`, or empty.
    pub path_info: String,
    pub params: Vec<(String, String)>,
}

impl RoutePattern {
    pub fn parse(route: &str) -> anyhow::Result<RoutePattern> {
        if !route.starts_with('/') {
            bail!("`{route}` must start with `/`");
        }
        let (body, wildcard) = match route.strip_suffix("/...") {
            Some(body) => (body, true),
            None if route == "/..." => ("", true),
            None => (route, false),
        };
        let mut segments = Vec::new();
        for seg in body.split('/').skip(1) {
            if seg.is_empty() {
                continue;
            }
            if seg == "..." {
                bail!("`{route}`: `...` is allowed only as the last segment");
            }
            match seg.strip_prefix(':') {
                Some("") => bail!("`{route}`: a `:` segment needs a name"),
                Some(name) => segments.push(Segment::Param(name.to_string())),
                None => segments.push(Segment::Literal(seg.to_string())),
            }
        }
        Ok(RoutePattern {
            raw: route.to_string(),
            segments,
            wildcard,
        })
    }

    /// A form in which two routes that match the same paths compare equal.
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        for seg in &self.segments {
            s.push('/');
            match seg {
                Segment::Literal(l) => s.push_str(l),
                Segment::Param(_) => s.push(':'),
            }
        }
        if self.wildcard {
            s.push_str("/...");
        }
        s
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    pub fn matches(&self, path: &str) -> Option<RouteMatch> {
        let mut rest = path;
        let mut params = Vec::new();
        let mut matched_path = String::new();
        for seg in &self.segments {
            let after_slash = rest.strip_prefix('/')?;
            let (piece, tail) = match after_slash.find('/') {
                Some(i) => (&after_slash[..i], &after_slash[i..]),
                None => (after_slash, ""),
            };
            match seg {
                Segment::Literal(l) if l == piece => {}
                Segment::Param(name) if !piece.is_empty() => {
                    params.push((name.clone(), piece.to_string()))
                }
                _ => return None,
            }
            matched_path.push('/');
            matched_path.push_str(piece);
            rest = tail;
        }
        let path_info = if self.wildcard {
            rest.to_string()
        } else if rest.is_empty() || rest == "/" {
            String::new()
        } else {
            return None;
        };
        Some(RouteMatch {
            raw_route: self.raw.clone(),
            component_route: self
                .raw
                .strip_suffix("/...")
                .unwrap_or(&self.raw)
                .to_string(),
            path_info,
            params,
        })
    }

    /// Orders routes from least to most specific: literal segments beat
    /// parameters position by position, longer beats shorter, exact beats wildcard.
    fn specificity(&self) -> (Vec<u8>, bool) {
        let segs = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 2,
                Segment::Param(_) => 1,
            })
            .collect();
        (segs, !self.wildcard)
    }
}

/// Routes to a target (a component id in the host), best match first.
#[derive(Debug, Clone)]
pub struct Router<T> {
    routes: Vec<(RoutePattern, T)>,
}

impl<T: Clone> Router<T> {
    pub fn new(mut routes: Vec<(RoutePattern, T)>) -> Self {
        routes.sort_by_key(|r| std::cmp::Reverse(r.0.specificity()));
        Router { routes }
    }

    pub fn route(&self, path: &str) -> Option<(T, RouteMatch)> {
        self.routes
            .iter()
            .find_map(|(pattern, target)| pattern.matches(path).map(|m| (target.clone(), m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[&str]) -> Router<String> {
        Router::new(
            routes
                .iter()
                .map(|r| (RoutePattern::parse(r).unwrap(), r.to_string()))
                .collect(),
        )
    }

    #[test]
    fn exact_route_matches_only_itself() {
        let r = router(&["/hello"]);
        assert_eq!(r.route("/hello").unwrap().0, "/hello");
        assert_eq!(r.route("/hello/").unwrap().0, "/hello");
        assert!(r.route("/hello/x").is_none());
        assert!(r.route("/hellox").is_none());
    }

    #[test]
    fn wildcard_captures_path_info() {
        let r = router(&["/static/..."]);
        let (_, m) = r.route("/static/css/site.css").unwrap();
        assert_eq!(m.path_info, "/css/site.css");
        assert_eq!(m.component_route, "/static");
        let (_, m) = r.route("/static").unwrap();
        assert_eq!(m.path_info, "");
        assert!(r.route("/staticx").is_none());
    }

    #[test]
    fn root_wildcard_matches_everything() {
        let r = router(&["/..."]);
        let (_, m) = r.route("/a/b").unwrap();
        assert_eq!(m.path_info, "/a/b");
        assert_eq!(m.component_route, "");
    }

    #[test]
    fn params_are_captured() {
        let r = router(&["/users/:id/posts/:post"]);
        let (_, m) = r.route("/users/42/posts/7").unwrap();
        assert_eq!(
            m.params,
            vec![("id".into(), "42".into()), ("post".into(), "7".into())]
        );
        assert!(r.route("/users//posts/7").is_none());
    }

    #[test]
    fn most_specific_route_wins() {
        let r = router(&[
            "/...",
            "/api/...",
            "/api/users/:id",
            "/api/users/me",
            "/api/users/...",
        ]);
        assert_eq!(r.route("/api/users/me").unwrap().0, "/api/users/me");
        assert_eq!(r.route("/api/users/9").unwrap().0, "/api/users/:id");
        assert_eq!(r.route("/api/users/9/x").unwrap().0, "/api/users/...");
        assert_eq!(r.route("/api/other").unwrap().0, "/api/...");
        assert_eq!(r.route("/elsewhere").unwrap().0, "/...");
    }

    #[test]
    fn invalid_routes_are_rejected() {
        assert!(RoutePattern::parse("hello").is_err());
        assert!(RoutePattern::parse("/a/.../b").is_err());
        assert!(RoutePattern::parse("/a/:").is_err());
    }
}
