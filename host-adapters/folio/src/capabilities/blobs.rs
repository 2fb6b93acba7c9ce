//! `folio:platform/blobs` (`folio-blobs`): `blob_buckets` grants
//! (`[component.NAME.tool.folio]`), bound by `[blob_bucket.NAME]` to local
//! disk (default) or S3; presigned URLs of disk buckets are served by the
//! host at `/_folio/blobs/...` and checked with its signer.

use std::any::Any;
use std::sync::{Arc, LazyLock};

use futures_util::future::BoxFuture;
use wasmtime::component::{Linker, ResourceTable};

use folio_blobs::{BlobConfig, BlobView, Bucket, ComponentBuckets, Signer};

use super::Opened;
use crate::capability::{
    Capability, ComponentOpening, ComponentState, ComponentStates, HostContext,
};
use crate::runtime::HostState;

pub struct BlobsCapability {
    config: BlobConfig,
    /// Signs and checks presigned URLs of buckets on disk; none when no
    /// component declares a bucket.
    signer: Option<Signer>,
    opened: Opened<Bucket>,
}

impl BlobsCapability {
    pub fn configure(ctx: &mut HostContext<'_>) -> anyhow::Result<Arc<dyn Capability>> {
        let config = BlobConfig {
            buckets: ctx.take("blob_bucket")?,
        };
        ctx.check_bindings("blob_bucket", config.buckets.keys(), |c| &c.blob_buckets)?;
        let stores_blobs = ctx
            .app
            .components
            .values()
            .any(|c| !c.blob_buckets.is_empty());
        let signer = match stores_blobs {
            true => Some(Signer::load_or_create(ctx.data_dir)?),
            false => None,
        };
        Ok(Arc::new(BlobsCapability {
            config,
            signer,
            opened: Opened::default(),
        }))
    }

    pub fn signer(&self) -> Option<&Signer> {
        self.signer.as_ref()
    }
}

fn view(state: &mut HostState) -> BlobView<'_> {
    let (table, component, traceparent) = state.capability_parts();
    blobs_view(table, component, traceparent)
}

/// The blob bindings' view of one instance.
pub(crate) fn blobs_view<'a>(
    table: &'a mut ResourceTable,
    component: &'a ComponentStates,
    traceparent: &'a str,
) -> BlobView<'a> {
    static NONE: LazyLock<ComponentBuckets> = LazyLock::new(ComponentBuckets::default);
    BlobView {
        table,
        buckets: component.get::<ComponentBuckets>().unwrap_or(&NONE),
        traceparent,
    }
}

impl Capability for BlobsCapability {
    fn name(&self) -> &'static str {
        "blobs"
    }

    fn add_to_linker(&self, linker: &mut Linker<HostState>) -> anyhow::Result<()> {
        folio_blobs::add_to_linker(linker, view)
    }

    fn open<'a>(
        &'a self,
        component: ComponentOpening<'a>,
    ) -> BoxFuture<'a, anyhow::Result<ComponentState>> {
        Box::pin(async move {
            let decl = component.decl;
            let Some(signer) = self
                .signer
                .as_ref()
                .filter(|_| !decl.blob_buckets.is_empty())
            else {
                return Ok(Arc::new(ComponentBuckets::default()) as ComponentState);
            };
            let (open, missing) = self.opened.split(&decl.id, &decl.blob_buckets);
            let mut buckets = ComponentBuckets::open(
                &decl.id,
                &missing,
                &self.config,
                component.data_dir,
                signer,
            )
            .await?;
            for name in &missing {
                if let Some(bucket) = buckets.get(name) {
                    self.opened.keep(&decl.id, name, bucket.clone());
                }
            }
            for (name, bucket) in open {
                buckets.insert(name, bucket);
            }
            Ok(Arc::new(buckets) as ComponentState)
        })
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        let opened = self.opened.all();
        Box::pin(super::probe_each("bucket", opened, |bucket| async move {
            bucket
                .head("folio-readiness-probe")
                .await
                .map(drop)
                .map_err(|e| format!("{e:?}"))
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
