//! Automatic persisted queries, as Apollo's clients send them:
//! `extensions.persistedQuery = {version: 1, sha256Hash}`. A hash alone
//! runs the query registered under it, or answers `PERSISTED_QUERY_NOT_FOUND`
//! (HTTP 200, so the client retries with the text); a hash with the query
//! text must be the text's SHA-256, and registers it (once it validates)
//! in the component's key-value store for [`TTL_MS`].

use serde_json::Value as Json;

use crate::errors::{self, GraphqlError};

/// How long a registered query is kept after its last registration.
pub const TTL_MS: u64 = 30 * 24 * 3600 * 1000;

/// The hash `extensions` names, lowercased, if it names one.
pub fn requested_hash(extensions: &Json) -> Result<Option<String>, GraphqlError> {
    let Some(pq) = extensions.get("persistedQuery") else {
        return Ok(None);
    };
    if pq.is_null() {
        return Ok(None);
    }
    let bad = |m: &str| GraphqlError::new(errors::BAD_REQUEST, m.to_string());
    if !pq.is_object() {
        return Err(bad("extensions.persistedQuery must be an object"));
    }
    if pq.get("version").and_then(Json::as_i64) != Some(1) {
        return Err(GraphqlError::new(
            errors::PERSISTED_QUERY_NOT_SUPPORTED,
            "extensions.persistedQuery.version: only version 1 is supported",
        ));
    }
    match pq.get("sha256Hash").and_then(Json::as_str) {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(h.to_ascii_lowercase()))
        }
        _ => Err(bad(
            "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits",
        )),
    }
}

pub fn not_found() -> GraphqlError {
    GraphqlError::new(errors::PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound")
}

/// The query text must hash to `hash`.
pub fn verify(hash: &str, query: &str) -> Result<(), GraphqlError> {
    if folio_guest::util::sha256_hex(query) == hash {
        Ok(())
    } else {
        Err(GraphqlError::new(
            errors::PERSISTED_QUERY_HASH_MISMATCH,
            "provided sha does not match query",
        ))
    }
}

pub fn key(hash: &str) -> String {
    format!("apq:{hash}")
}

/// The registered queries: the component's `default` key-value store.
pub struct Store(folio_guest::kv::Bucket);

fn unavailable(e: folio_guest::kv::Error) -> GraphqlError {
    GraphqlError::new(
        errors::SERVICE_UNAVAILABLE,
        format!("the persisted-query store is unavailable: {e:?}"),
    )
}

impl Store {
    pub fn open() -> Result<Store, GraphqlError> {
        folio_guest::kv::open("default")
            .map(Store)
            .map_err(unavailable)
    }

    pub fn get(&self, hash: &str) -> Result<Option<String>, GraphqlError> {
        Ok(self
            .0
            .get(&key(hash))
            .map_err(unavailable)?
            .and_then(|bytes| String::from_utf8(bytes).ok()))
    }

    pub fn put(&self, hash: &str, query: &str) -> Result<(), GraphqlError> {
        folio_guest::kv::set_with_ttl(&self.0, &key(hash), query.as_bytes(), TTL_MS)
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const QUERY: &str = "{ tags { tag } }";

    #[test]
    fn the_hash_must_be_the_sha256_of_the_text() {
        let hash = folio_guest::util::sha256_hex(QUERY);
        assert_eq!(hash.len(), 64);
        assert!(verify(&hash, QUERY).is_ok());
        let err = verify(&hash, "{ tags { count } }").unwrap_err();
        assert_eq!(err.code, errors::PERSISTED_QUERY_HASH_MISMATCH);
        assert_eq!(err.http_status(), 400);
    }

    #[test]
    fn extensions_are_read_strictly() {
        let hash = "A".repeat(64);
        let ext = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
        assert_eq!(requested_hash(&ext).unwrap(), Some("a".repeat(64)));
        assert_eq!(requested_hash(&json!({})).unwrap(), None);
        assert_eq!(requested_hash(&json!(null)).unwrap(), None);
        for (ext, code) in [
            (
                json!({"persistedQuery": {"version": 2, "sha256Hash": hash}}),
                errors::PERSISTED_QUERY_NOT_SUPPORTED,
            ),
            (
                json!({"persistedQuery": {"version": 1, "sha256Hash": "abc"}}),
                errors::BAD_REQUEST,
            ),
            (
                json!({"persistedQuery": {"version": 1}}),
                errors::BAD_REQUEST,
            ),
            (json!({"persistedQuery": "x"}), errors::BAD_REQUEST),
        ] {
            assert_eq!(requested_hash(&ext).unwrap_err().code, code, "{ext}");
        }
        assert_eq!(not_found().http_status(), 200);
        assert_eq!(key("ab"), "apq:ab");
    }
}
