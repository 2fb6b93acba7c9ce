//! The host's capabilities: each a thin [`Capability`](crate::capability::Capability)
//! over one adapter crate. Adding one: an adapter crate, a module here, and a
//! line in `capability::configure_all`.

mod blobs;
mod events;
mod kv;
mod mail;
mod passwords;
mod search;
mod sql;
mod transcode;

pub use blobs::BlobsCapability;
pub use events::{ComponentEvents, EventsCapability};
pub use kv::KvCapability;
pub use mail::MailCapability;
pub use passwords::PasswordsCapability;
pub use search::SearchCapability;
pub use sql::{ComponentSql, SqlCapability};
pub use transcode::TranscodeCapability;

/// How long a readiness probe waits for one backend.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Probes every opened backend in turn, each within `READY_TIMEOUT`; the
/// first that fails or stays silent is named as `"{kind} {label}: …"`.
async fn probe_each<B, F>(
    kind: &str,
    opened: Vec<(String, B)>,
    probe: impl Fn(B) -> F,
) -> Result<(), String>
where
    F: std::future::Future<Output = Result<(), String>>,
{
    for (label, backend) in opened {
        match tokio::time::timeout(READY_TIMEOUT, probe(backend)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("{kind} {label}: {e}")),
            Err(_) => return Err(format!("{kind} {label}: no answer")),
        }
    }
    Ok(())
}
