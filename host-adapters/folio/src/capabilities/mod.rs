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

pub(crate) use blobs::blobs_view;
pub(crate) use events::events_view;
pub(crate) use kv::kv_view;
pub(crate) use mail::mail_view;
pub(crate) use search::search_view;
pub(crate) use sql::sql_view;
pub(crate) use transcode::transcode_view;

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Backends a capability opened, by `component/name`. Each is opened once
/// per process: a new release of the app is handed the ones the release it
/// replaces holds (a search index and its writer lock, a database's pool and
/// outbox signal), and readiness probes each once.
pub(crate) struct Opened<B> {
    by_label: Mutex<BTreeMap<String, B>>,
}

impl<B> Default for Opened<B> {
    fn default() -> Self {
        Opened {
            by_label: Mutex::default(),
        }
    }
}

impl<B: Clone> Opened<B> {
    fn label(component: &str, name: &str) -> String {
        format!("{component}/{name}")
    }

    /// The backend `component` already holds under `name`.
    pub(crate) fn get(&self, component: &str, name: &str) -> Option<B> {
        self.by_label
            .lock()
            .unwrap()
            .get(&Self::label(component, name))
            .cloned()
    }

    /// Of `granted`, those already open (with their backends) and those not.
    pub(crate) fn split(
        &self,
        component: &str,
        granted: &[String],
    ) -> (Vec<(String, B)>, Vec<String>) {
        let (mut open, mut missing) = (Vec::new(), Vec::new());
        for name in granted {
            match self.get(component, name) {
                Some(backend) => open.push((name.clone(), backend)),
                None => missing.push(name.clone()),
            }
        }
        (open, missing)
    }

    pub(crate) fn keep(&self, component: &str, name: &str, backend: B) {
        self.by_label
            .lock()
            .unwrap()
            .insert(Self::label(component, name), backend);
    }

    pub(crate) fn all(&self) -> Vec<(String, B)> {
        let map = self.by_label.lock().unwrap();
        map.iter().map(|(l, b)| (l.clone(), b.clone())).collect()
    }
}

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
