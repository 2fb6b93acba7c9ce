//! The host's capabilities: each a thin [`Capability`](crate::capability::Capability)
//! over one adapter crate. Adding one: an adapter crate, a module here, and a
//! line in `capability::configure_all`.

mod blobs;
mod events;
mod kv;
mod sql;
mod transcode;

pub use blobs::BlobsCapability;
pub use events::{ComponentEvents, EventsCapability};
pub use kv::KvCapability;
pub use sql::{ComponentSql, SqlCapability};
pub use transcode::TranscodeCapability;

/// How long a readiness probe waits for one backend.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
