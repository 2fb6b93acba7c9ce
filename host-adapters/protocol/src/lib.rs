//! The wire format between the Spin platform shim (`components/spin-shim`,
//! inside a component Spin runs) and the adapter service (`folio adapters`).
//!
//! Each call on a `folio:platform` or `wasi:keyvalue` import that the shim
//! cannot answer itself is one `POST /v1/call` of a JSON [`Call`], answered
//! with a [`Reply`]. Connections and buckets are names, kept by the shim:
//! a call on one carries the name and leaves nothing behind. Transactions
//! and CAS handles hold locks and values, so they live in the service, in a
//! table of the caller's session (one component instance), and the wire
//! carries their numbers. The request carries the component's name and a
//! bearer token for it ([`component_token`]), and the session id the shim
//! drew at random.
//!
//! The types mirror the WIT ones field for field; each side converts from
//! and to its generated bindings.

use serde::{Deserialize, Serialize};

/// Where calls go, below the service's base URL.
pub const CALL_PATH: &str = "/v1/call";
/// Request headers: the calling component, and its instance's session.
pub const COMPONENT_HEADER: &str = "folio-component";
pub const SESSION_HEADER: &str = "folio-session";

/// A resource handle in the caller's session.
pub type Handle = u32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "kebab-case")]
pub enum Call {
    /// Whether the component may open `database`; nothing is kept.
    SqlOpen {
        database: String,
    },
    SqlQuery {
        database: String,
        statement: String,
        params: Vec<Value>,
    },
    SqlExecute {
        database: String,
        statement: String,
        params: Vec<Value>,
    },
    /// Starts a transaction, held in the session until closed.
    SqlBegin {
        database: String,
    },
    TxQuery {
        transaction: Handle,
        statement: String,
        params: Vec<Value>,
    },
    TxExecute {
        transaction: Handle,
        statement: String,
        params: Vec<Value>,
    },
    TxPublish {
        transaction: Handle,
        event: OutgoingEvent,
    },
    TxCommit {
        transaction: Handle,
    },
    TxRollback {
        transaction: Handle,
    },
    /// The guest dropped the handle: an open transaction rolls back.
    TxClose {
        transaction: Handle,
    },
    Publish {
        event: OutgoingEvent,
    },
    /// Whether the component may open `store`; nothing is kept.
    KvOpen {
        store: String,
    },
    KvGet {
        store: String,
        key: String,
    },
    KvSet {
        store: String,
        key: String,
        #[serde(with = "base64_bytes")]
        value: Vec<u8>,
    },
    KvSetWithTtl {
        store: String,
        key: String,
        #[serde(with = "base64_bytes")]
        value: Vec<u8>,
        ttl_ms: u64,
    },
    KvDelete {
        store: String,
        key: String,
    },
    KvExists {
        store: String,
        key: String,
    },
    KvListKeys {
        store: String,
        cursor: Option<String>,
    },
    KvIncrement {
        store: String,
        key: String,
        delta: i64,
    },
    /// Reads `key` for a compare-and-swap, held in the session until swapped or closed.
    KvCasNew {
        store: String,
        key: String,
    },
    KvCasCurrent {
        cas: Handle,
    },
    KvSwap {
        cas: Handle,
        #[serde(with = "base64_bytes")]
        value: Vec<u8>,
    },
    KvCasClose {
        cas: Handle,
    },
    KvGetMany {
        store: String,
        keys: Vec<String>,
    },
    KvSetMany {
        store: String,
        entries: Vec<Entry>,
    },
    KvDeleteMany {
        store: String,
        keys: Vec<String>,
    },
    /// Whether the component may open `index`; nothing is kept. The search
    /// calls carry the WIT records (`document`, `query`, `any-of`) in the
    /// serde form both sides' generated bindings derive.
    SearchOpen {
        index: String,
    },
    SearchUpsert {
        index: String,
        documents: Json,
    },
    SearchDelete {
        index: String,
        ids: Vec<String>,
        version: i64,
    },
    SearchQuery {
        index: String,
        query: Json,
    },
    SearchSuggest {
        index: String,
        text: String,
        filters: Vec<Vec<(String, String)>>,
        limit: u32,
    },
    SearchMoreLikeThis {
        index: String,
        id: String,
        shared: Vec<String>,
        filters: Vec<Vec<(String, String)>>,
        limit: u32,
    },
    SearchStats {
        index: String,
    },
    SearchBeginRebuild {
        index: String,
    },
    SearchRebuildUpsert {
        index: String,
        rebuild: String,
        documents: Json,
    },
    SearchFinishRebuild {
        index: String,
        rebuild: String,
    },
    SearchAbandonRebuild {
        index: String,
        rebuild: String,
    },
    /// `mail.send` of a WIT `message`, in its serde form.
    MailSend {
        message: Json,
    },
    /// Whether the component may open `bucket`; nothing is kept. Object
    /// bytes do not go through calls: see [`BLOBS_PATH`].
    BlobsOpen {
        bucket: String,
    },
    BlobsHead {
        bucket: String,
        key: String,
    },
    BlobsDelete {
        bucket: String,
        key: String,
    },
    BlobsList {
        bucket: String,
        prefix: String,
        start_after: Option<String>,
        limit: u32,
    },
    BlobsPresignGet {
        bucket: String,
        key: String,
        expires_secs: u32,
    },
    BlobsPresignPut {
        bucket: String,
        key: String,
        content_type: String,
        expires_secs: u32,
    },
    TranscodeProbe {
        bucket: String,
        key: String,
    },
    /// Starts a job (a WIT `transcode-request`), held in the session until
    /// closed: closing one that has not succeeded kills ffmpeg.
    TranscodeStart {
        request: Json,
    },
    TranscodeWait {
        job: Handle,
        timeout_ms: u32,
    },
    TranscodeCancel {
        job: Handle,
    },
    TranscodeClose {
        job: Handle,
    },
    /// Under Spin, the host's rate-limit verdict on one request to the
    /// component (its `tool.folio` policies, the runtime config's, the same
    /// counters): the client's address as Spin saw it, and the bearer token
    /// for policies keyed on the user.
    RateCheck {
        method: String,
        path: String,
        address: String,
        bearer: Option<String>,
    },
}

/// The answer to [`Call::RateCheck`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateVerdict {
    /// Set when a policy is exhausted.
    pub refusal: Option<RateRefusal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateRefusal {
    pub detail: String,
    pub retry_after_secs: u64,
}

/// Object bytes stream over their own requests, beside the calls:
/// `GET` streams an object's bytes (404 when there is none; its metadata,
/// JSON, in [`OBJECT_META_HEADER`]), `PUT` streams the request body into a
/// new object and answers the JSON `Reply` of `finish`. Both name the
/// object in [`BUCKET_HEADER`] and [`KEY_HEADER`] (percent-encoded, as
/// [`encode_header_value`]); a `GET` may carry [`RANGE_HEADER`]
/// (`offset-` or `offset-length`), a `PUT` its [`CONTENT_TYPE_HEADER`]. An
/// answer of the interface's error is a 422 with the error as JSON.
pub const BLOBS_PATH: &str = "/v1/blobs";
pub const BUCKET_HEADER: &str = "folio-bucket";
pub const KEY_HEADER: &str = "folio-key";
pub const RANGE_HEADER: &str = "folio-range";
pub const CONTENT_TYPE_HEADER: &str = "folio-content-type";
pub const OBJECT_META_HEADER: &str = "folio-object-meta";

/// A WIT record in the serde form of the generated bindings (field names
/// as in WIT, snake_case): the shim and the service generate those types
/// from the same WIT, so neither keeps a copy of them.
pub type Json = serde_json::Value;

/// The answer to a call: the WIT `result`, `ok` or `err`. A call the
/// service cannot make at all (an unknown handle, a malformed body) is an
/// HTTP 400 instead, which the shim turns into a trap, as the host would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reply<T, E> {
    Ok(T),
    Err(E),
}

impl<T, E> From<Result<T, E>> for Reply<T, E> {
    fn from(result: Result<T, E>) -> Self {
        match result {
            Ok(v) => Reply::Ok(v),
            Err(e) => Reply::Err(e),
        }
    }
}

impl<T, E> From<Reply<T, E>> for Result<T, E> {
    fn from(reply: Reply<T, E>) -> Self {
        match reply {
            Reply::Ok(v) => Ok(v),
            Reply::Err(e) => Err(e),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type", content = "value")]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(#[serde(with = "base64_bytes")] Vec<u8>),
    Boolean(bool),
    Json(String),
    Timestamp(String),
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RowSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "error", content = "message")]
pub enum SqlError {
    NoSuchDatabase(String),
    InvalidStatement(String),
    ConstraintViolation(String),
    TooLarge(String),
    TransactionClosed,
    Unavailable(String),
    NotAllowed(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutgoingEvent {
    pub topic: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub key: String,
    pub subject: Option<String>,
    pub datacontenttype: String,
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "error", content = "message")]
pub enum EventsError {
    InvalidEvent(String),
    TooLarge(String),
    Unavailable(String),
    NotAllowed(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "error", content = "message")]
pub enum KvError {
    NoSuchStore,
    AccessDenied,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CasError {
    StoreError(KvError),
    /// Someone else wrote first: a new CAS handle, holding what they wrote.
    CasFailed(Handle),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyResponse {
    pub keys: Vec<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    #[serde(with = "base64_bytes")]
    pub value: Vec<u8>,
}

/// An optional value, base64 on the wire (`get`, `get-many`, `current`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaybeBytes(#[serde(with = "base64_option")] pub Option<Vec<u8>>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaybeEntry {
    pub key: String,
    #[serde(with = "base64_option")]
    pub value: Option<Vec<u8>>,
}

/// Where the adapter service delivers a component's events and cron ticks,
/// on the Spin app: `{DELIVER_PREFIX}{component}/events` and `.../cron`,
/// each served by a delivery component composed around the component.
pub const DELIVER_PREFIX: &str = "/_folio/deliver/";

/// Headers of a delivery beside the CloudEvents ones: which try this is
/// (from 1), and the topic the event was read from.
pub const ATTEMPT_HEADER: &str = "folio-attempt";
pub const TOPIC_HEADER: &str = "folio-topic";
/// A cron tick's fire time, in Unix seconds.
pub const SCHEDULED_AT_HEADER: &str = "folio-scheduled-at";

/// The bearer token the service presents when it delivers to `component`:
/// not the token `component` calls the service with, so a component cannot
/// forge its own events or another's.
pub fn delivery_token(secret: &[u8], component: &str) -> String {
    component_token(secret, &format!("deliver {component}"))
}

/// The key a chained call from `caller` to `callee` carries under Spin
/// (`folio-calling-proof`), which `folio export spin` gives those two
/// components and no other.
pub fn chain_key(secret: &[u8], caller: &str, callee: &str) -> String {
    component_token(secret, &format!("chained call {caller} -> {callee}"))
}

/// Whether a delivery's `authorization` header is `Bearer <token>`, `token`
/// being the receiving component's `folio_delivery_token`; with no token
/// configured, nothing is.
pub fn delivery_authorized(authorization: Option<&str>, token: Option<&str>) -> bool {
    match token {
        Some(token) if !token.is_empty() => tokens_match(
            authorization.unwrap_or_default(),
            &format!("Bearer {token}"),
        ),
        _ => false,
    }
}

/// Whether a presented token is `expected`, in time that depends neither
/// on where they differ nor on their lengths (both are hashed first).
pub fn tokens_match(presented: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (
        Sha256::digest(presented.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// A CloudEvents attribute as an HTTP header value (binary content mode):
/// space to `~` pass, except `"` and `%`; every other byte of its UTF-8 is
/// percent-encoded.
pub fn encode_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b' '..=b'~' if byte != b'"' && byte != b'%' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The attribute an [`encode_header_value`] header carries; `None` when it
/// is not well-formed percent-encoded UTF-8.
pub fn decode_header_value(header: &str) -> Option<String> {
    let bytes = header.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The bearer token of `component`: the hex HMAC-SHA256 of its name under
/// the service's secret, so the service needs no list of tokens and one
/// component's token opens nothing of another's.
pub fn component_token(secret: &[u8], component: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(component.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <&str>::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

mod base64_option {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => s.serialize_some(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<&str>::deserialize(d)? {
            Some(text) => STANDARD
                .decode(text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_rfc_4231_hmac_sha256() {
        assert_eq!(
            component_token(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn tokens_differ_per_component_and_secret() {
        let users = component_token(b"secret one", "users");
        assert_eq!(users.len(), 64);
        assert_ne!(users, component_token(b"secret one", "content"));
        assert_ne!(users, component_token(b"secret two", "users"));
    }

    #[test]
    fn delivery_tokens_are_not_call_tokens() {
        let secret = b"a secret of thirty-two bytes, ok";
        assert_ne!(
            delivery_token(secret, "search"),
            component_token(secret, "search")
        );
        assert!(tokens_match(
            &delivery_token(secret, "search"),
            &delivery_token(secret, "search")
        ));
        assert!(!tokens_match(
            &delivery_token(secret, "search"),
            &delivery_token(secret, "content")
        ));
        assert!(!tokens_match("abc", "abcd"));
        assert!(delivery_authorized(Some("Bearer t0k"), Some("t0k")));
        assert!(!delivery_authorized(Some("Bearer "), Some("")));
        assert!(!delivery_authorized(None, None));
        assert!(!delivery_authorized(Some("t0k"), Some("t0k")));
    }

    #[test]
    fn header_values_percent_encode_what_http_cannot_carry() {
        for value in [
            "plain /content/1",
            "50% \"quoted\"",
            "Grüße\r\nX-Injected: 1",
            "",
        ] {
            let header = encode_header_value(value);
            assert!(
                header
                    .bytes()
                    .all(|b| (b' '..=b'~').contains(&b) && b != b'"'),
                "{header}"
            );
            assert_eq!(decode_header_value(&header).as_deref(), Some(value));
        }
        assert_eq!(encode_header_value("a%b"), "a%25b");
        assert_eq!(decode_header_value("%4"), None);
        assert_eq!(decode_header_value("%zz"), None);
        assert_eq!(decode_header_value("%FF"), None, "not UTF-8");
    }

    #[test]
    fn calls_and_values_round_trip() {
        let call = Call::SqlQuery {
            database: "default".into(),
            statement: "SELECT $1, $2".into(),
            params: vec![Value::Blob(vec![0, 255]), Value::Null, Value::Real(1.5)],
        };
        let text = serde_json::to_string(&call).unwrap();
        assert!(text.contains(r#""call":"sql-query""#), "{text}");
        assert!(text.contains(r#"{"type":"blob","value":"AP8="}"#), "{text}");
        assert_eq!(serde_json::from_str::<Call>(&text).unwrap(), call);
        let reply: Reply<u64, SqlError> = Reply::Err(SqlError::TransactionClosed);
        let text = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            serde_json::from_str::<Reply<u64, SqlError>>(&text).unwrap(),
            reply
        );
    }
}
