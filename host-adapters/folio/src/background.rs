//! The host's background work: an outbox relay per component database and
//! every background trigger, started together and stopped together.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::capability::{ComponentSql, EventsCapability};
use crate::runtime::AppRuntime;

/// How long shutdown waits for triggers to finish the call in hand.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Default for Background {
    fn default() -> Self {
        Background {
            stop: watch::Sender::new(false),
            tasks: Mutex::default(),
        }
    }
}

impl AppRuntime {
    /// Starts a relay per component database and every background trigger.
    /// Started again after a stop when a rollback makes this release live.
    pub fn start_background(self: &Arc<Self>) {
        self.start_relays();
        let mut tasks = self.background.tasks.lock().unwrap();
        for trigger in &self.triggers {
            tasks.push(tokio::spawn(
                trigger
                    .clone()
                    .run(self.clone(), self.background.stop.subscribe()),
            ));
        }
    }

    /// Starts a relay per component database, and nothing else (`folio
    /// adapters`, where Spin serves the components).
    pub fn start_relays(self: &Arc<Self>) {
        let mut tasks = self.background.tasks.lock().unwrap();
        self.background.stop.send_replace(false);
        if let Some(events) = self.capabilities.get::<EventsCapability>() {
            for (id, component) in &self.components {
                let Some(sql) = component.states.get::<ComponentSql>() else {
                    continue;
                };
                for (name, database) in sql.databases.iter() {
                    let label = format!("{id}/{name}");
                    let stats = self.metrics.relay_stats(&label);
                    tasks.push(tokio::spawn(folio_events::relay::run(
                        label,
                        database.clone(),
                        sql.publishes.clone(),
                        events.log().clone(),
                        stats,
                        self.background.stop.subscribe(),
                    )));
                }
            }
        }
    }

    /// Lets relays finish their batch, event triggers their events and cron
    /// triggers their run, then stops them.
    pub async fn stop_background(&self) {
        self.background.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.background.tasks.lock().unwrap());
        for task in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_TIMEOUT, task).await.is_err() {
                abort.abort();
            }
        }
    }

    pub(crate) fn event_log(&self) -> &folio_events::EventLog {
        self.capabilities
            .get::<EventsCapability>()
            .expect("the events capability is always configured")
            .log()
    }
}
