//! `folio:platform/transcode` (`folio-transcode`): ffmpeg jobs on the
//! component's own buckets, for components granted `transcode = true`
//! (`[component.NAME.tool.folio]`); `[transcode]` sets programs and limits.

use std::any::Any;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use wasmtime::component::{Linker, ResourceTable};

use folio_blobs::ComponentBuckets;
use folio_transcode::{JobReport, TranscodeConfig, TranscodeView, Transcoder};

use crate::capability::{
    Capability, ComponentOpening, ComponentState, ComponentStates, HostContext,
};
use crate::runtime::HostState;

pub struct TranscodeCapability {
    transcoder: Transcoder,
}

/// One component's transcoding: the host's transcoder on its own buckets.
struct ComponentTranscoding {
    granted: bool,
    buckets: ComponentBuckets,
    transcoder: Transcoder,
    component: String,
}

impl TranscodeCapability {
    pub fn configure(ctx: &mut HostContext<'_>) -> anyhow::Result<Arc<dyn Capability>> {
        let config: TranscodeConfig = ctx.take("transcode")?;
        let metrics = ctx.metrics.clone();
        let transcoder = Transcoder::with_observer(
            config.settings(ctx.data_dir)?,
            Some(Arc::new(move |job: &JobReport| {
                metrics.observe_transcode_job(&job.component, job.outcome, job.elapsed)
            })),
        );
        // Without ffmpeg the host still serves; transcode calls answer `unavailable`.
        if ctx.app.components.values().any(|c| c.transcode)
            && let Err(e) = transcoder.check_programs()
        {
            tracing::warn!(error = %e, "transcoding is unavailable");
        }
        Ok(Arc::new(TranscodeCapability { transcoder }))
    }
}

fn view(state: &mut HostState) -> TranscodeView<'_> {
    let (table, component, traceparent) = state.capability_parts();
    transcode_view(table, component, traceparent)
}

/// The transcode bindings' view of one instance.
pub(crate) fn transcode_view<'a>(
    table: &'a mut ResourceTable,
    component: &'a ComponentStates,
    traceparent: &'a str,
) -> TranscodeView<'a> {
    let transcoding = component
        .get::<ComponentTranscoding>()
        .expect("every component opens the transcode capability");
    TranscodeView {
        granted: transcoding.granted,
        table,
        buckets: &transcoding.buckets,
        transcoder: &transcoding.transcoder,
        component: &transcoding.component,
        traceparent,
    }
}

impl Capability for TranscodeCapability {
    fn name(&self) -> &'static str {
        "transcode"
    }

    fn add_to_linker(&self, linker: &mut Linker<HostState>) -> anyhow::Result<()> {
        folio_transcode::add_to_linker(linker, view)
    }

    fn open<'a>(
        &'a self,
        component: ComponentOpening<'a>,
    ) -> BoxFuture<'a, anyhow::Result<ComponentState>> {
        Box::pin(async move {
            Ok(Arc::new(ComponentTranscoding {
                granted: component.decl.transcode,
                buckets: component
                    .opened
                    .get::<ComponentBuckets>()
                    .cloned()
                    .unwrap_or_default(),
                transcoder: self.transcoder.clone(),
                component: component.decl.id.clone(),
            }) as ComponentState)
        })
    }

    /// ffmpeg missing is reported at start-up; it never makes the host unready.
    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
