//! The users service's events (CloudEvents on topic `folio.users`), written to
//! the outbox in the same transaction as the change they announce.

use folio_guest::http::Problem;
use folio_guest::{OutgoingEvent, Transaction};
use serde_json::{Value as Json, json};

use crate::accounts::{User, db_error};
use folio_guest::util::now_rfc3339;

pub const TOPIC: &str = "folio.users";

pub struct UserEvent {
    kind: &'static str,
    user_id: String,
    data: Json,
}

impl UserEvent {
    pub fn created(user: &User) -> UserEvent {
        UserEvent {
            kind: "UserCreated",
            user_id: user.id.clone(),
            data: json!({ "user": user.view() }),
        }
    }

    pub fn updated(user: &User, changed: &[&str]) -> UserEvent {
        UserEvent {
            kind: "UserUpdated",
            user_id: user.id.clone(),
            data: json!({ "changed": changed, "user": user.view() }),
        }
    }

    /// Carries only the id: the personal data is gone.
    pub fn deleted(user_id: &str) -> UserEvent {
        UserEvent {
            kind: "UserDeleted",
            user_id: user_id.to_string(),
            data: json!({ "userId": user_id }),
        }
    }

    pub fn authenticated(user: &User, method: &str, client_address: &str) -> UserEvent {
        UserEvent {
            kind: "UserAuthenticated",
            user_id: user.id.clone(),
            data: json!({
                "userId": user.id,
                "method": method,
                "clientAddress": client_address,
                "at": now_rfc3339(),
            }),
        }
    }

    /// For the notification service, which mails the link. The token is
    /// never in clear here: `resetTokenSealed` (base64url) is sealed to
    /// `reset_delivery_public_key` (`folio_auth::sealed`, info
    /// `RESET_TOKEN_INFO`), and absent when no key is configured.
    pub fn password_reset_requested(
        user: &User,
        sealed_token: Option<&str>,
        expires_at: &str,
    ) -> UserEvent {
        let mut data = json!({
            "userId": user.id,
            "email": user.email,
            "firstName": user.first_name,
            "expiresAt": expires_at,
        });
        if let Some(sealed) = sealed_token {
            data["resetTokenSealed"] = json!(sealed);
        }
        UserEvent {
            kind: "PasswordResetRequested",
            user_id: user.id.clone(),
            data,
        }
    }

    /// Someone tried to register the email of an existing account, so its
    /// owner can be told. Carries nothing the caller sent but the email.
    pub fn registration_attempted(user: &User) -> UserEvent {
        UserEvent {
            kind: "RegistrationAttempted",
            user_id: user.id.clone(),
            data: json!({
                "userId": user.id,
                "email": user.email,
                "at": now_rfc3339(),
            }),
        }
    }
}

pub fn publish(tx: &Transaction, event: UserEvent) -> Result<(), Problem> {
    tx.publish(&OutgoingEvent {
        topic: TOPIC.into(),
        type_: format!("folio.users.{}", event.kind),
        key: event.user_id.clone(),
        subject: Some(event.user_id),
        datacontenttype: "application/json".into(),
        data: event.data.to_string().into_bytes(),
    })
    .map_err(db_error)?;
    Ok(())
}
