//! `[mail]` in the runtime config: how mail leaves the host.
//!
//! ```toml
//! [mail]
//! from = "Folio <no-reply@example.com>"   # the default sender
//! transport = "smtp"                      # default "file": .eml files under <data_dir>/mail
//! path = "/var/lib/folio/mail"            # file transport only
//! host = "smtp.example.com"
//! port = 587                              # default: 587 starttls, 465 implicit, 25 none
//! tls = "starttls"                        # "starttls" (default), "implicit" or "none" (loopback only)
//! username = "folio"
//! password = "…"                          # or FOLIO_MAIL_PASSWORD in the environment
//! ca_file = "/etc/folio/smtp-ca.pem"      # trusted in addition to the system's roots
//! timeout_ms = 10000                      # per SMTP command
//! max_attempts = 3                        # tries of a deferred (4xx) or unreachable send
//! retry_backoff_ms = 500                  # doubles each try, with jitter
//! max_connections = 8                     # pooled SMTP connections
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    pub from: Option<String>,
    pub transport: Option<String>,
    pub path: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub timeout_ms: Option<u64>,
    pub max_attempts: Option<u32>,
    pub retry_backoff_ms: Option<u64>,
    pub max_connections: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    StartTls,
    Implicit,
    None,
}

#[derive(Debug, Clone)]
pub enum TransportSettings {
    File {
        dir: PathBuf,
    },
    Smtp {
        host: String,
        port: u16,
        tls: Tls,
        credentials: Option<(String, String)>,
        ca_pem: Option<Vec<u8>>,
        timeout: Duration,
        max_connections: u32,
    },
}

#[derive(Debug, Clone)]
pub struct MailSettings {
    pub from: String,
    pub transport: TransportSettings,
    pub max_attempts: u32,
    pub retry_backoff: Duration,
}

pub const DEFAULT_FROM: &str = "Folio <no-reply@localhost>";

impl MailConfig {
    pub fn settings(&self, data_dir: &Path) -> anyhow::Result<MailSettings> {
        let from = self.from.clone().unwrap_or_else(|| DEFAULT_FROM.into());
        from.parse::<lettre::message::Mailbox>()
            .map_err(|e| anyhow::anyhow!("[mail] from = {from:?} is not a mailbox: {e}"))?;
        let max_attempts = self.max_attempts.unwrap_or(3);
        if max_attempts == 0 {
            bail!("[mail] max_attempts must be at least 1");
        }
        let transport = match self.transport.as_deref().unwrap_or("file") {
            "file" => {
                for (key, set) in [
                    ("host", self.host.is_some()),
                    ("username", self.username.is_some()),
                ] {
                    if set {
                        bail!("[mail] {key} is for transport = \"smtp\"");
                    }
                }
                TransportSettings::File {
                    dir: self.path.clone().unwrap_or_else(|| data_dir.join("mail")),
                }
            }
            "smtp" => self.smtp()?,
            other => bail!("[mail] transport must be \"file\" or \"smtp\", not {other:?}"),
        };
        Ok(MailSettings {
            from,
            transport,
            max_attempts,
            retry_backoff: Duration::from_millis(self.retry_backoff_ms.unwrap_or(500)),
        })
    }

    fn smtp(&self) -> anyhow::Result<TransportSettings> {
        let Some(host) = self.host.clone() else {
            bail!("[mail] transport = \"smtp\" needs host");
        };
        let tls = match self.tls.as_deref().unwrap_or("starttls") {
            "starttls" => Tls::StartTls,
            "implicit" => Tls::Implicit,
            "none" => Tls::None,
            other => {
                bail!("[mail] tls must be \"starttls\", \"implicit\" or \"none\", not {other:?}")
            }
        };
        let password = self
            .password
            .clone()
            .or_else(|| std::env::var("FOLIO_MAIL_PASSWORD").ok());
        let credentials = match (&self.username, password) {
            (Some(user), Some(password)) => Some((user.clone(), password)),
            (None, None) => None,
            _ => bail!("[mail] username and password go together"),
        };
        if tls == Tls::None && credentials.is_some() {
            bail!(
                "[mail] tls = \"none\" would send the password in clear: use starttls or implicit"
            );
        }
        let ca_pem = self
            .ca_file
            .as_ref()
            .map(|path| {
                std::fs::read(path).with_context(|| format!("[mail] ca_file {}", path.display()))
            })
            .transpose()?;
        Ok(TransportSettings::Smtp {
            port: self.port.unwrap_or(match tls {
                Tls::StartTls => 587,
                Tls::Implicit => 465,
                Tls::None => 25,
            }),
            host,
            tls,
            credentials,
            ca_pem,
            timeout: Duration::from_millis(self.timeout_ms.unwrap_or(10_000)),
            max_connections: self.max_connections.unwrap_or(8).max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<MailSettings> {
        let config: MailConfig = toml_like(text);
        config.settings(Path::new("/data"))
    }

    fn toml_like(text: &str) -> MailConfig {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_default_writes_files_under_the_data_directory() {
        let s = parse("{}").unwrap();
        assert_eq!(s.from, DEFAULT_FROM);
        assert!(
            matches!(s.transport, TransportSettings::File { ref dir } if dir == Path::new("/data/mail"))
        );
    }

    #[test]
    fn smtp_defaults_and_refusals() {
        let s = parse(r#"{"transport":"smtp","host":"mx","username":"u","password":"p"}"#).unwrap();
        let TransportSettings::Smtp {
            port,
            tls,
            credentials,
            ..
        } = s.transport
        else {
            panic!("smtp")
        };
        assert_eq!((port, tls), (587, Tls::StartTls));
        assert_eq!(credentials, Some(("u".into(), "p".into())));
        for (bad, says) in [
            (r#"{"transport":"smtp"}"#, "needs host"),
            (
                r#"{"transport":"smtp","host":"mx","tls":"none","username":"u","password":"p"}"#,
                "in clear",
            ),
            (
                r#"{"transport":"smtp","host":"mx","username":"u"}"#,
                "go together",
            ),
            (r#"{"transport":"pigeon"}"#, "transport must be"),
            (r#"{"from":"not a mailbox"}"#, "not a mailbox"),
            (r#"{"max_attempts":0}"#, "at least 1"),
            (r#"{"host":"mx"}"#, "is for transport"),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
