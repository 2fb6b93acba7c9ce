//! The platform shim that runs Folio's components under Spin. `folio export
//! spin` composes it into each component that imports what Spin lacks:
//! access tokens and passwords are answered here, from the component's own
//! variables (`auth_public_keys`, `auth_issuer`, `auth_audience`); SQL,
//! events, key-value, search, mail, objects and transcoding go to the
//! adapter service (`folio adapters`) over outbound HTTP (`remote.rs`),
//! which runs the host's own adapters on them.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../../wit",
        world: "folio:platform/spin-shim",
        runtime_path: "spin_sdk::wit_bindgen::rt",
        generate_all,
        // Search and mail records go over the wire in this serde form,
        // which the service's bindings of the same WIT share.
        additional_derives: [serde::Serialize, serde::Deserialize],
        additional_derives_ignore: ["cas-error"],
    });
}

mod blobs;
mod events;
mod kv;
mod mail;
mod passwords;
mod remote;
mod search;
mod sql;
mod tokens;
mod transcode;

struct Shim;

bindings::export!(Shim with_types_in bindings);
