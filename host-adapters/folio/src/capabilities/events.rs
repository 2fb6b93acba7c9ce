//! `folio:platform/events` (`folio-events`): publishing outside a
//! transaction to the topics of the component's `publishes` grant, on the
//! log `[event_log]` binds (embedded by default, or Kafka). The same log
//! feeds the outbox relays and the event triggers.

use std::any::Any;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use wasmtime::component::Linker;

use folio_events::{EventLog, EventLogConfig, EventsView};
use folio_sql::TopicGrants;

use crate::capability::{
    Capability, ComponentOpening, ComponentState, ComponentStates, HostContext,
};
use crate::runtime::HostState;

pub struct EventsCapability {
    log: EventLog,
}

/// What one component's `publish` calls need.
pub struct ComponentEvents {
    log: EventLog,
    /// CloudEvents `source` of its events.
    source: String,
    publishes: TopicGrants,
}

impl EventsCapability {
    pub async fn configure(ctx: &mut HostContext<'_>) -> anyhow::Result<Arc<dyn Capability>> {
        let config: EventLogConfig = ctx.take("event_log")?;
        let log = EventLog::open(&config, ctx.data_dir).await?;
        Ok(Arc::new(EventsCapability { log }))
    }

    pub fn log(&self) -> &EventLog {
        &self.log
    }
}

fn view(state: &mut HostState) -> EventsView<'_> {
    let (_, component, traceparent) = state.capability_parts();
    events_view(component, traceparent)
}

/// The events bindings' view of one instance.
pub(crate) fn events_view<'a>(
    component: &'a ComponentStates,
    traceparent: &'a str,
) -> EventsView<'a> {
    let events = component
        .get::<ComponentEvents>()
        .expect("every component opens the events capability");
    EventsView {
        log: &events.log,
        publishes: &events.publishes,
        source: &events.source,
        traceparent,
    }
}

impl Capability for EventsCapability {
    fn name(&self) -> &'static str {
        "event-log"
    }

    fn add_to_linker(&self, linker: &mut Linker<HostState>) -> anyhow::Result<()> {
        folio_events::add_to_linker(linker, view)
    }

    fn open<'a>(
        &'a self,
        component: ComponentOpening<'a>,
    ) -> BoxFuture<'a, anyhow::Result<ComponentState>> {
        Box::pin(async move {
            Ok(Arc::new(ComponentEvents {
                log: self.log.clone(),
                source: format!("/folio/{}", component.decl.id),
                publishes: component.decl.publishes.clone(),
            }) as ComponentState)
        })
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match tokio::time::timeout(super::READY_TIMEOUT, self.log.check()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("the event log does not answer".into()),
            }
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
