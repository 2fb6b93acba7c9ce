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
}

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
