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

    /// For the notification service, which mails the link: the event is the
    /// only place the token exists in clear.
    pub fn password_reset_requested(user: &User, token: &str, expires_at: &str) -> UserEvent {
        UserEvent {
            kind: "PasswordResetRequested",
            user_id: user.id.clone(),
            data: json!({
                "userId": user.id,
                "email": user.email,
                "firstName": user.first_name,
                "resetToken": token,
                "expiresAt": expires_at,
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
