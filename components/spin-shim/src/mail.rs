//! `folio:platform/mail`, in the service: its transport (SMTP, or `.eml`
//! files) and its retries of deferred mail.

use folio_adapter_protocol::Call;

use crate::bindings::exports::folio::platform::mail::{Error, Guest, Message, Sent};
use crate::remote;

impl Guest for crate::Shim {
    fn send(message: Message) -> Result<Sent, Error> {
        let message = serde_json::to_value(&message).expect("WIT records serialize");
        remote::call::<Sent, Error>(&Call::MailSend { message }).map_err(Error::Unavailable)?
    }
}
