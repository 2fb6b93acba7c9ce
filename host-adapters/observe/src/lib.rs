//! How the host hears of each call a guest makes into an adapter, for its
//! traces: every adapter runs its backend calls through [`observed`], and
//! the host registers one observer ([`observe_calls`]) when it exports
//! spans. Without one, a call costs a check of a `OnceLock`.

use std::fmt::Debug;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where a call is made: who makes it and what it is about.
#[derive(Clone, Copy)]
pub struct Site<'a> {
    /// The calling instance's W3C trace context.
    pub traceparent: &'a str,
    /// The interface: `sql`, `key-value`, `blobs`, `search`, `mail`.
    pub capability: &'static str,
    /// The backend that answers: `sqlite`, `postgresql`, `redis`, `s3`,
    /// `disk`, `tantivy`, `smtp`, `maildir`.
    pub system: &'static str,
    /// The interface's operation: `query`, `get`, `put`, `search`, `send`, ...
    pub operation: &'static str,
    /// The named thing the call is on (a store, bucket or index), never a
    /// key or a value, which may be personal data.
    pub target: Option<&'a str>,
    /// The statement of a database call, with its placeholders.
    pub statement: Option<&'a str>,
}

/// One finished call.
pub struct Call<'a> {
    pub site: Site<'a>,
    pub elapsed: Duration,
    pub error: Option<String>,
}

pub type CallObserver = fn(Call<'_>);

static OBSERVER: OnceLock<CallObserver> = OnceLock::new();

/// Has every observed call reported to `observer` (once per process).
pub fn observe_calls(observer: CallObserver) {
    let _ = OBSERVER.set(observer);
}

/// Runs `call`, then reports it, when someone observes calls.
pub async fn observed<T, E: Debug>(
    site: Site<'_>,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let Some(observer) = OBSERVER.get() else {
        return call.await;
    };
    let started = Instant::now();
    let result = call.await;
    observer(Call {
        site,
        elapsed: started.elapsed(),
        error: result.as_ref().err().map(|e| format!("{e:?}")),
    });
    result
}
