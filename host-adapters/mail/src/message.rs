//! A guest's message, checked and turned into RFC 5322 with lettre.

use lettre::Message;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use crate::MailError;

/// What a component asks to send (the WIT record, without the bindings).
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub id: String,
    pub sender: Option<String>,
    pub to: Vec<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub list_unsubscribe: Option<String>,
}

pub const MAX_RECIPIENTS: usize = 50;
pub const MAX_SUBJECT_CHARS: usize = 998;
pub const MAX_BODY_BYTES: usize = 2 << 20;

impl OutgoingMail {
    /// The message, and its `Message-ID`. Everything a guest sent is checked
    /// here, so no header can be smuggled in through a field.
    pub fn build(&self, default_sender: &str) -> Result<(Message, String), MailError> {
        let invalid = |m: String| MailError::InvalidMessage(m);
        if self.id.is_empty()
            || self.id.len() > 128
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(invalid(
                "id must be 1 to 128 letters, digits, '-', '_' or '.'".into(),
            ));
        }
        let sender = mailbox("sender", self.sender.as_deref().unwrap_or(default_sender))?;
        if self.to.is_empty() || self.to.len() > MAX_RECIPIENTS {
            return Err(invalid(format!(
                "to must name 1 to {MAX_RECIPIENTS} recipients"
            )));
        }
        if self.subject.chars().count() > MAX_SUBJECT_CHARS
            || self.subject.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "subject must be at most {MAX_SUBJECT_CHARS} characters with no control characters"
            )));
        }
        if self.text.len() + self.html.as_ref().map_or(0, String::len) > MAX_BODY_BYTES {
            return Err(invalid(format!(
                "the bodies are larger than {MAX_BODY_BYTES} bytes"
            )));
        }
        let domain = sender.email.domain().to_string();
        let message_id = format!("<{}@{}>", self.id, domain);
        let mut builder = Message::builder()
            .message_id(Some(message_id.clone()))
            .from(sender)
            .subject(self.subject.clone());
        for to in &self.to {
            builder = builder.to(mailbox("to", to)?);
        }
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(mailbox("reply-to", reply_to)?);
        }
        if let Some(url) = &self.list_unsubscribe {
            if !url.starts_with("https://") && !url.starts_with("http://")
                || url
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '>')
            {
                return Err(invalid("list-unsubscribe must be an http(s) URL".into()));
            }
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        let message = match &self.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                self.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(self.text.clone()),
            ),
        }
        .map_err(|e| invalid(e.to_string()))?;
        Ok((message, message_id))
    }
}

fn mailbox(field: &str, text: &str) -> Result<Mailbox, MailError> {
    text.parse::<Mailbox>()
        .map_err(|e| MailError::InvalidMessage(format!("{field}: {text:?} is not a mailbox: {e}")))
}

/// `List-Unsubscribe: <https://…>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> OutgoingMail {
        OutgoingMail {
            id: "n-1".into(),
            sender: None,
            to: vec!["Ada <ada@example.com>".into()],
            reply_to: None,
            subject: "Hello Ada".into(),
            text: "plain words".into(),
            html: Some("<p>rich words</p>".into()),
            list_unsubscribe: Some("https://folio.example/u/abc".into()),
        }
    }

    #[test]
    fn builds_multipart_with_one_click_unsubscribe_and_a_stable_message_id() {
        let (message, id) = mail().build("Folio <no-reply@folio.example>").unwrap();
        assert_eq!(id, "<n-1@folio.example>");
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(text.contains("Message-ID: <n-1@folio.example>"), "{text}");
        assert!(text.contains("List-Unsubscribe: <https://folio.example/u/abc>"));
        assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(text.contains("multipart/alternative"));
        assert!(text.contains("plain words") && text.contains("<p>rich words</p>"));
    }

    #[test]
    fn refuses_what_could_inject_headers_or_is_malformed() {
        type Change = Box<dyn Fn(&mut OutgoingMail)>;
        let cases: Vec<(&str, Change)> = vec![
            ("id", Box::new(|m| m.id = "a/../b".into())),
            (
                "mailbox",
                Box::new(|m| m.to = vec!["ada@example.com\r\nBcc: x@y.z".into()]),
            ),
            ("recipients", Box::new(|m| m.to.clear())),
            (
                "subject",
                Box::new(|m| m.subject = "hi\r\nBcc: x@y.z".into()),
            ),
            (
                "list-unsubscribe",
                Box::new(|m| m.list_unsubscribe = Some("javascript:x".into())),
            ),
            ("sender", Box::new(|m| m.sender = Some("nobody".into()))),
        ];
        for (what, change) in cases {
            let mut m = mail();
            change(&mut m);
            let e = m.build("Folio <no-reply@folio.example>").unwrap_err();
            assert!(matches!(e, MailError::InvalidMessage(_)), "{what}: {e:?}");
        }
    }
}
