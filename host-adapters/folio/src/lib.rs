//! The Folio host: serves Wasm capability components per request from a
//! Spin manifest. `main.rs` is the `folio` command line over this library.

pub mod access_tokens;
pub mod adapter_service;
pub mod auth_keys;
pub mod background;
pub mod blob_urls;
pub mod body;
pub mod builder;
pub mod capabilities;
pub mod capability;
pub mod compile_cache;
pub mod config;
pub mod cron_trigger;
pub mod event_trigger;
pub mod executor;
pub mod gateway;
pub mod guest_output;
pub mod http_trigger;
pub mod logging;
pub mod manifest;
pub mod metrics;
pub mod outbound;
pub mod problem;
pub mod release_api;
pub mod releases;
pub mod remote_delivery;
pub mod resilience;
pub mod routing;
pub mod runtime;
pub mod schema;
pub mod server;
pub mod spin_export;
pub mod telemetry;
pub mod trace;
pub mod trigger;
pub mod variables;
