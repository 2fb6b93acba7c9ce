//! The guest side of `folio:platform`: bindings for the database,
//! key-value, object-storage and search imports and the schema export, shared by every component.
//!
//! A component that owns a database implements [`bindings::exports::folio::platform::schema::Guest`]
//! and registers it with `folio_guest::bindings::export!(MySchema);`.

pub mod auth;
pub mod cdn;
pub mod columns;
pub mod entitlements;
pub mod flags;
pub mod http;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod passwords;
pub mod search;
mod single_flight;
pub mod streams;
pub mod util;

pub mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../../wit",
        world: "folio:platform/guest",
        pub_export_macro: true,
        default_bindings_module: "folio_guest::bindings",
        runtime_path: "spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

/// The export of a queue-triggered worker (`[[trigger.event]]`): implement
/// [`worker::Guest`] and register it with `folio_guest::worker::export!(MyWorker);`.
pub mod worker {
    spin_sdk::wit_bindgen::generate!({
        path: "../../wit",
        world: "folio:platform/event-handler-export",
        pub_export_macro: true,
        default_bindings_module: "folio_guest::worker",
        runtime_path: "spin_sdk::wit_bindgen::rt",
        generate_all,
    });

    pub use exports::folio::platform::event_handler::{Event, Guest, HandleError};
}

/// The export Spin's cron trigger calls (`[[trigger.cron]]`): implement
/// [`cron::Guest`] and register it with `folio_guest::cron::export!(MyTask);`.
pub mod cron {
    spin_sdk::wit_bindgen::generate!({
        path: "../../wit",
        world: "fermyon:spin-cron/spin-cron@2.0.0",
        pub_export_macro: true,
        default_bindings_module: "folio_guest::cron",
        runtime_path: "spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

pub use bindings::exports::folio::platform::schema::{Dialect, Migration};
pub use bindings::folio::platform::event_types::OutgoingEvent;
pub use bindings::folio::platform::sql::{
    Connection, Error as SqlError, RowSet, Transaction, Value,
};

impl SqlError {
    /// A stable, machine-readable name for the error's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            SqlError::NoSuchDatabase(_) => "no-such-database",
            SqlError::InvalidStatement(_) => "invalid-statement",
            SqlError::ConstraintViolation(_) => "constraint-violation",
            SqlError::TooLarge(_) => "too-large",
            SqlError::TransactionClosed => "transaction-closed",
            SqlError::Unavailable(_) => "unavailable",
            SqlError::NotAllowed(_) => "not-allowed",
        }
    }

    /// The answer when service `service`'s own database fails: 503 when a
    /// retry may pass, else 500. The database's own words go to the log only.
    pub fn into_problem(self, service: &str) -> http::Problem {
        match self {
            SqlError::Unavailable(m) => {
                http::Problem::unavailable(format!("the {service} database: {m}"))
            }
            other => {
                eprintln!("{service} database: {other:?}");
                http::Problem::new(
                    500,
                    "Internal error",
                    format!(
                        "the {service} database refused a statement ({})",
                        other.kind()
                    ),
                )
            }
        }
    }
}

/// Publishing outside a transaction (`folio:platform/events`).
pub mod events {
    pub use crate::bindings::folio::platform::events::{Error, publish};
}

/// Key-value stores (`wasi:keyvalue`), with expiry from `folio:platform/kv-expiry`.
pub mod kv {
    pub use crate::bindings::folio::platform::kv_expiry::set_with_ttl;
    pub use crate::bindings::wasi::keyvalue::atomics::{Cas, CasError, increment, swap};
    pub use crate::bindings::wasi::keyvalue::store::{Bucket, Error, open};
    pub use crate::single_flight::fill_once;
}

/// Object storage (`folio:platform/blobs`): buckets granted by `blob_buckets`.
pub mod blobs {
    pub use crate::bindings::folio::platform::blobs::{
        Bucket, ByteRange, Download, Error, Listing, ObjectMeta, ObjectSummary, Upload,
    };

    impl Error {
        /// A stable, machine-readable name for the error's kind.
        pub fn kind(&self) -> &'static str {
            match self {
                Error::NoSuchBucket(_) => "no-such-bucket",
                Error::InvalidKey(_) => "invalid-key",
                Error::TooLarge(_) => "too-large",
                Error::InvalidArgument(_) => "invalid-argument",
                Error::Closed => "closed",
                Error::Unavailable(_) => "unavailable",
            }
        }
    }
}

/// Audio and video through the host's ffmpeg (`folio:platform/transcode`).
pub mod transcode {
    pub use crate::bindings::folio::platform::transcode::{
        Container, Error, Job, JobState, MediaInfo, Output, PosterSpec, Rendition, RenditionKind,
        StreamInfo, TranscodeRequest, probe,
    };

    /// The error as a sentence for people (the generated `Display` is `Debug`'s).
    pub fn describe(e: &Error) -> String {
        match e {
            Error::NoSuchBucket(m) => format!("no such bucket: {m}"),
            Error::NotFound(m) => format!("not found: {m}"),
            Error::InvalidMedia(m) => format!("not readable as media: {m}"),
            Error::InvalidArgument(m) => format!("invalid argument: {m}"),
            Error::Failed(m) => format!("transcoding failed: {m}"),
            Error::TimedOut(m) => format!("transcoding timed out: {m}"),
            Error::Cancelled => "transcoding was cancelled".into(),
            Error::Unavailable(m) => format!("transcoding unavailable: {m}"),
            Error::NotAllowed(m) => format!("transcoding not allowed: {m}"),
        }
    }
}
