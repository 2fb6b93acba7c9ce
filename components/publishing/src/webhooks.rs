//! Standard Webhooks (https://www.standardwebhooks.com): secrets are
//! `whsec_` + base64 of 24 to 64 random bytes; a message is signed as
//! `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, one
//! signature per live secret, space-separated, so receivers keep verifying
//! through a rotation.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use folio_guest::columns::text;
use folio_guest::http::Problem;
use folio_guest::util::{now_ms, random};
use folio_guest::{Connection, Transaction, Value};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::db_error;

const PREFIX: &str = "whsec_";

pub fn new_secret() -> String {
    format!("{PREFIX}{}", STANDARD.encode(random::<32>()))
}

/// The HMAC key of a secret, or `None` if it is not one.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let key = STANDARD.decode(secret.strip_prefix(PREFIX)?).ok()?;
    (24..=64).contains(&key.len()).then_some(key)
}

pub fn signature_header(secrets: &[String], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|s| secret_key(s))
        .map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
            mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The channel's live secrets, newest first.
pub fn live_secrets(db: &Connection, channel_id: &str) -> Result<Vec<String>, Problem> {
    let mut of = live_secrets_of(db, &[channel_id.to_string()])?;
    Ok(of.remove(channel_id).unwrap_or_default())
}

/// The live secrets of each of these channels, newest first, in one query.
pub fn live_secrets_of(
    db: &Connection,
    channel_ids: &[String],
) -> Result<std::collections::HashMap<String, Vec<String>>, Problem> {
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    if channel_ids.is_empty() {
        return Ok(out);
    }
    let (list, mut params) = folio_guest::columns::text_in_list(channel_ids);
    params.push(Value::Integer(now_ms()));
    let rows = db
        .query(
            &format!(
                "SELECT channel_id, secret FROM channel_secrets WHERE channel_id IN ({list}) \
                 AND (expires_at IS NULL OR expires_at > ${}) ORDER BY created_at DESC",
                params.len()
            ),
            &params,
        )
        .map_err(db_error)?;
    for r in &rows.rows {
        out.entry(text(&r[0])).or_default().push(text(&r[1]));
    }
    Ok(out)
}

pub fn add_secret(tx: &Transaction, channel_id: &str, secret: &str) -> Result<(), Problem> {
    tx.execute(
        "INSERT INTO channel_secrets (channel_id, secret, created_at) VALUES ($1, $2, $3)",
        &[
            Value::Text(channel_id.to_string()),
            Value::Text(secret.to_string()),
            Value::Integer(now_ms()),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// A new secret signs from now on; the current ones keep signing for
/// `overlap_ms`, then expire.
pub fn rotate(tx: &Transaction, channel_id: &str, overlap_ms: i64) -> Result<String, Problem> {
    let now = now_ms();
    tx.execute(
        "UPDATE channel_secrets SET expires_at = $2 WHERE channel_id = $1 \
         AND (expires_at IS NULL OR expires_at > $2)",
        &[
            Value::Text(channel_id.to_string()),
            Value::Integer(now + overlap_ms),
        ],
    )
    .map_err(db_error)?;
    let secret = new_secret();
    add_secret(tx, channel_id, &secret)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_specification_example() {
        // The example from the Standard Webhooks reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string();
        let header = signature_header(
            &[secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_are_checked() {
        assert!(secret_key(&new_secret()).is_some());
        assert!(secret_key("whsec_c2hvcnQ=").is_none());
        assert!(secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
    }
}
