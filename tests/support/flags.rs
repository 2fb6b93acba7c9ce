//! The feature flag service in test manifests: `{id}-flags` (routes and
//! grants as in spin.toml).

use crate::wasm;

pub fn flags_component(id: &str) -> String {
    let component = format!("{id}-flags");
    let mut text = String::new();
    for route in [
        "/api/v1/flags",
        "/api/v1/flags/...",
        "/ofrep/...",
        "/api/v1/openapi/flags.json",
    ] {
        text.push_str(&format!(
            "\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{component}\"\n"
        ));
    }
    text.push_str(&format!(
        r#"
[component.{component}]
source = "{}"
sqlite_databases = ["default"]
[component.{component}.variables]
auth_public_keys = "{{{{ auth_public_keys }}}}"
auth_issuer = "{{{{ auth_issuer }}}}"
auth_audience = "{{{{ auth_audience }}}}"
[component.{component}.tool.folio]
publishes = ["folio.flags"]
"#,
        wasm("folio_flags").display()
    ));
    text
}
