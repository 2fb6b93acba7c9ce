//! Folio's mail adapter: `folio:platform/mail`. A message from a guest is
//! checked and built here (`message.rs`), then sent by the transport the
//! runtime config picks: SMTP through lettre (pooled connections, STARTTLS
//! or implicit TLS, AUTH), or, embedded, an `.eml` file per message under
//! the data directory, like Django's file backend. What a server defers
//! (4xx, a dropped connection) is retried a bounded number of times with
//! jittered backoff before the guest hears `unavailable`.
//!
//! Sending is idempotent by message id as far as a receiver can see: the
//! `Message-ID` is made from it, and the file transport keeps one file per
//! id. Exactly-once belongs to the caller's delivery log.

mod message;
pub mod runtime_config;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as SmtpTls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use wasmtime::component::{HasData, Linker};

pub use message::OutgoingMail;
pub use runtime_config::{MailConfig, MailSettings, Tls, TransportSettings};

/// Public for `folio adapters`, which makes the shim's calls on them; their
/// serde form is the wire format of those calls.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/outgoing-mail",
        imports: { default: async },
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

use bindings::folio::platform::mail as wit;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailError {
    NotAllowed(String),
    InvalidMessage(String),
    Rejected(String),
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message_id: String,
    pub response: String,
}

/// The host's way out for mail, shared by every component granted it.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    from: String,
    transport: Transport,
    max_attempts: u32,
    retry_backoff: Duration,
}

enum Transport {
    File(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Mailer {
    pub fn new(settings: MailSettings) -> anyhow::Result<Mailer> {
        let transport = match settings.transport {
            TransportSettings::File { dir } => {
                remove_partial_files(&dir);
                Transport::File(dir)
            }
            TransportSettings::Smtp {
                host,
                port,
                tls,
                credentials,
                ca_pem,
                timeout,
                max_connections,
            } => {
                let parameters = || -> anyhow::Result<TlsParameters> {
                    let mut builder = TlsParameters::builder(host.clone());
                    if let Some(pem) = &ca_pem {
                        builder = builder.add_root_certificate(Certificate::from_pem(pem)?);
                    }
                    Ok(builder.build_rustls()?)
                };
                let tls = match tls {
                    Tls::StartTls => SmtpTls::Required(parameters()?),
                    Tls::Implicit => SmtpTls::Wrapper(parameters()?),
                    Tls::None => SmtpTls::None,
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                    .port(port)
                    .tls(tls)
                    .timeout(Some(timeout))
                    .pool_config(PoolConfig::new().max_size(max_connections));
                if let Some((user, password)) = credentials {
                    builder = builder.credentials(Credentials::new(user, password));
                }
                Transport::Smtp(builder.build())
            }
        };
        Ok(Mailer {
            inner: Arc::new(Inner {
                from: settings.from,
                transport,
                max_attempts: settings.max_attempts,
                retry_backoff: settings.retry_backoff,
            }),
        })
    }

    /// Where the file transport writes, if it is the one in use.
    /// The backend, as traces name it.
    pub fn system(&self) -> &'static str {
        match &self.inner.transport {
            Transport::File(_) => "eml-files",
            Transport::Smtp(_) => "smtp",
        }
    }

    pub fn file_dir(&self) -> Option<&Path> {
        match &self.inner.transport {
            Transport::File(dir) => Some(dir),
            Transport::Smtp(_) => None,
        }
    }

    pub async fn send(&self, component: &str, mail: &OutgoingMail) -> Result<Sent, MailError> {
        let (message, message_id) = mail.build(&self.inner.from)?;
        let started = Instant::now();
        let result = match &self.inner.transport {
            Transport::File(dir) => write_file(dir, &mail.id, &message.formatted()).await,
            Transport::Smtp(smtp) => self.send_smtp(smtp, &message).await,
        };
        match &result {
            Ok(response) => tracing::info!(
                component, id = %mail.id, message_id = %message_id, response = %response,
                elapsed_ms = started.elapsed().as_millis() as u64, "mail sent"
            ),
            Err(e) => tracing::warn!(component, id = %mail.id, error = ?e, "mail not sent"),
        }
        result.map(|response| Sent {
            message_id,
            response,
        })
    }

    async fn send_smtp(
        &self,
        smtp: &AsyncSmtpTransport<Tokio1Executor>,
        message: &lettre::Message,
    ) -> Result<String, MailError> {
        let mut backoff = self.inner.retry_backoff;
        let mut attempt = 1;
        loop {
            match smtp.send(message.clone()).await {
                Ok(response) => {
                    let words: Vec<&str> = response.message().collect();
                    return Ok(format!("{} {}", response.code(), words.join(" ")));
                }
                Err(e) if e.is_permanent() => return Err(MailError::Rejected(e.to_string())),
                Err(e) if attempt >= self.inner.max_attempts => {
                    return Err(MailError::Unavailable(format!(
                        "after {attempt} tries: {e}"
                    )));
                }
                Err(e) => {
                    tracing::debug!(attempt, error = %e, "mail deferred; retrying");
                    let jitter = rand::random_range(0.5..1.0);
                    tokio::time::sleep(backoff.mul_f64(jitter)).await;
                    backoff *= 2;
                    attempt += 1;
                }
            }
        }
    }
}

/// `<dir>/<id>.eml`, written once: a second send of the same id finds the
/// file and leaves it. Written to a temporary name and renamed, so a reader
/// never sees half a message.
async fn write_file(dir: &Path, id: &str, bytes: &[u8]) -> Result<String, MailError> {
    let path = dir.join(format!("{id}.eml"));
    let unavailable =
        |e: std::io::Error| MailError::Unavailable(format!("{}: {e}", path.display()));
    if tokio::fs::try_exists(&path).await.map_err(unavailable)? {
        return Ok(format!("already written to {}", path.display()));
    }
    tokio::fs::create_dir_all(dir).await.map_err(unavailable)?;
    let temporary = dir.join(format!(".{id}.{}.tmp", rand::random::<u64>()));
    tokio::fs::write(&temporary, bytes)
        .await
        .map_err(unavailable)?;
    tokio::fs::rename(&temporary, &path)
        .await
        .map_err(unavailable)?;
    Ok(format!("written to {}", path.display()))
}

/// Temporary files of writes a crash cut short: their messages were never
/// reported sent, so their senders try again.
fn remove_partial_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// What one instance's mail calls reach.
pub struct MailView<'a> {
    /// Whether spin.toml grants the component mail (`mail = true`).
    pub granted: bool,
    pub mailer: &'a Mailer,
    pub component: &'a str,
    /// The calling instance's W3C trace context, for the calls' spans.
    pub traceparent: &'a str,
}

struct MailData;

impl HasData for MailData {
    type Data<'a> = MailView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> MailView<'_>,
) -> anyhow::Result<()> {
    wit::add_to_linker::<T, MailData>(linker, view)?;
    Ok(())
}

impl From<MailError> for wit::Error {
    fn from(e: MailError) -> Self {
        match e {
            MailError::NotAllowed(m) => wit::Error::NotAllowed(m),
            MailError::InvalidMessage(m) => wit::Error::InvalidMessage(m),
            MailError::Rejected(m) => wit::Error::Rejected(m),
            MailError::Unavailable(m) => wit::Error::Unavailable(m),
        }
    }
}

impl wit::Host for MailView<'_> {
    async fn send(&mut self, message: wit::Message) -> Result<wit::Sent, wit::Error> {
        if !self.granted {
            return Err(wit::Error::NotAllowed(format!(
                "component {} is not granted mail: set mail = true under [component.{}.tool.folio]",
                self.component, self.component
            )));
        }
        let mail = OutgoingMail {
            id: message.id,
            sender: message.sender,
            to: message.to,
            reply_to: message.reply_to,
            subject: message.subject,
            text: message.text,
            html: message.html,
            list_unsubscribe: message.list_unsubscribe,
        };
        let site = folio_observe::Site {
            traceparent: self.traceparent,
            capability: "mail",
            system: self.mailer.system(),
            operation: "send",
            target: None,
            statement: None,
        };
        let sent = folio_observe::observed(site, self.mailer.send(self.component, &mail)).await?;
        Ok(wit::Sent {
            message_id: sent.message_id,
            response: sent.response,
        })
    }
}
