//! Triggers that run in the background: `[[trigger.event]]` and
//! `[[trigger.cron]]` (HTTP is driven by the server's accept loop and
//! `http_trigger`). Each is built from the manifest at load, which checks
//! the component exports what the trigger calls, and runs until stopped,
//! calling its component through the executor.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::watch;

use crate::manifest::App;
use crate::runtime::{AppRuntime, LoadedComponent};

pub(crate) trait Trigger: Send + Sync + 'static {
    /// Runs until `stop` turns true, finishing the call in hand.
    fn run(
        self: Arc<Self>,
        runtime: Arc<AppRuntime>,
        stop: watch::Receiver<bool>,
    ) -> BoxFuture<'static, ()>;
}

/// Every background trigger of the manifest. Adding a trigger type: a module
/// with its `GuestCall` and `Trigger`, and a line here.
pub(crate) fn from_manifest(
    app: &App,
    components: &HashMap<String, Arc<LoadedComponent>>,
) -> anyhow::Result<Vec<Arc<dyn Trigger>>> {
    let mut triggers = crate::event_trigger::from_manifest(app, components)?;
    triggers.extend(crate::cron_trigger::from_manifest(app, components)?);
    Ok(triggers)
}
