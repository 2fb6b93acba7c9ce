//! Which asset a request gets, in which encoding, with which caching: plain
//! code over the embedded table (tested black-box in `tests/admin.rs`).

use crate::assets::{self, Asset};

/// HTML may only load what this app serves itself; the media player plays
/// HLS through `blob:` URLs and previews read uploads as `blob:` images.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; connect-src 'self'; \
    worker-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub enum Reply {
    Asset {
        asset: &'static Asset,
        encoding: Encoding,
        /// Only the headers: a HEAD request or a matching `If-None-Match`.
        body: bool,
        not_modified: bool,
    },
    Redirect(&'static str),
    NotFound,
    MethodNotAllowed,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    pub fn header(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Brotli => Some("br"),
        }
    }
}

pub fn reply(
    method: &str,
    path: &str,
    accept_encoding: Option<&str>,
    if_none_match: Option<&str>,
) -> Reply {
    let body = match method {
        "GET" => true,
        "HEAD" => false,
        _ => return Reply::MethodNotAllowed,
    };
    let Some(asset) = (match path {
        "/admin" => return Reply::Redirect("/admin/"),
        "/docs" => return Reply::Redirect("/docs/"),
        _ => asset_for(path),
    }) else {
        return Reply::NotFound;
    };
    let encoding = negotiate(asset, accept_encoding.unwrap_or(""));
    let not_modified = if_none_match.is_some_and(|tags| {
        tags.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == asset.etag)
    });
    Reply::Asset {
        asset,
        encoding,
        body: body && !not_modified,
        not_modified,
    }
}

fn asset_for(path: &str) -> Option<&'static Asset> {
    let relative = path.strip_prefix('/')?;
    if relative
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        return None;
    }
    if relative.is_empty() {
        return assets::find("index.html");
    }
    if relative.ends_with('/') {
        return assets::find(&format!("{relative}index.html")).or_else(|| spa_page(relative));
    }
    assets::find(relative).or_else(|| spa_page(relative))
}

/// Any path under `/admin/` that is not a file is a screen of the app,
/// which its router draws; a missing script or image stays a 404.
fn spa_page(relative: &str) -> Option<&'static Asset> {
    let screen = relative.strip_prefix("admin/")?;
    let last = screen.rsplit('/').next().unwrap_or("");
    if screen.starts_with("assets/") || last.contains('.') {
        return None;
    }
    assets::find("admin/index.html")
}

/// The smallest encoding the client accepts (`q=0` refuses one).
fn negotiate(asset: &Asset, accept_encoding: &str) -> Encoding {
    let accepts = |name: &str| {
        accept_encoding.split(',').any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case(name) || coding == "*") && !refused
        })
    };
    if asset.brotli.is_some() && accepts("br") {
        Encoding::Brotli
    } else if asset.gzip.is_some() && accepts("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

impl Asset {
    pub fn bytes(&self, encoding: Encoding) -> &'static [u8] {
        match encoding {
            Encoding::Brotli => self.brotli.unwrap_or(self.identity),
            Encoding::Gzip => self.gzip.unwrap_or(self.identity),
            Encoding::Identity => self.identity,
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self.path.rsplit('.').next().unwrap_or("") {
            "html" => "text/html; charset=utf-8",
            "js" | "mjs" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "json" | "map" => "application/json",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "ico" => "image/x-icon",
            "woff2" => "font/woff2",
            "txt" => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        }
    }

    /// Fingerprinted files never change under their name; pages are checked
    /// each time so a new release shows at once.
    pub fn cache_control(&self) -> &'static str {
        if self.path.contains("/assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }
    }

    pub fn is_html(&self) -> bool {
        self.path.ends_with(".html")
    }
}
