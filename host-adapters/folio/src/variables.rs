//! Application variables: `[variables]` defaults, `FOLIO_VAR_<NAME>`
//! overrides, rendered into each component's variables and served through
//! `wasi:config/store` and Spin's `fermyon:spin/variables`.

use std::collections::BTreeMap;

use anyhow::bail;
use wasmtime::component::{HasData, Linker};

use crate::manifest::{App, template_references};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/variables",
    });
}

use bindings::fermyon::spin::variables as spin_variables;
use bindings::wasi::config::store as config_store;

/// A component's variables, already rendered from their templates.
pub type ComponentVariables = BTreeMap<String, String>;

/// Environment variable that overrides application variable `name`.
pub fn env_name(name: &str) -> String {
    format!("FOLIO_VAR_{}", name.to_ascii_uppercase())
}

/// Resolves every component's variables, or names the first one that cannot be.
pub fn resolve(
    app: &App,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<BTreeMap<String, ComponentVariables>> {
    let mut app_values = BTreeMap::new();
    for (name, decl) in &app.variables {
        let value = env(&env_name(name)).or_else(|| decl.default.clone());
        match value {
            Some(v) => {
                app_values.insert(name.clone(), v);
            }
            None if decl.required => bail!(
                "variable `{name}` is required: set {} in the environment",
                env_name(name)
            ),
            None => {}
        }
    }
    let mut out = BTreeMap::new();
    for (id, component) in &app.components {
        let mut vars = ComponentVariables::new();
        for (var, template) in &component.variables {
            for referenced in template_references(template)? {
                if !app_values.contains_key(&referenced) {
                    bail!(
                        "component `{id}` variable `{var}` needs `{referenced}`, which has no value: set {} or give it a default",
                        env_name(&referenced)
                    );
                }
            }
            vars.insert(var.clone(), render(template, &app_values));
        }
        out.insert(id.clone(), vars);
    }
    Ok(out)
}

fn render(template: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").expect("templates are validated at load");
        out.push_str(&values[after[..end].trim()]);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

pub trait HasVariables {
    fn variables(&self) -> &ComponentVariables;
}

struct View<'a>(&'a ComponentVariables);

struct VariablesData;

impl HasData for VariablesData {
    type Data<'a> = View<'a>;
}

impl config_store::Host for View<'_> {
    fn get(&mut self, key: String) -> Result<Option<String>, config_store::Error> {
        Ok(self.0.get(&key).cloned())
    }

    fn get_all(&mut self) -> Result<Vec<(String, String)>, config_store::Error> {
        Ok(self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

impl spin_variables::Host for View<'_> {
    fn get(&mut self, name: String) -> Result<String, spin_variables::Error> {
        match self.0.get(&name) {
            Some(v) => Ok(v.clone()),
            None if name.is_empty() => Err(spin_variables::Error::InvalidName(name)),
            None => Err(spin_variables::Error::Undefined(name)),
        }
    }
}

pub fn add_to_linker<T: HasVariables + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    fn view<T: HasVariables>(state: &mut T) -> View<'_> {
        View(state.variables())
    }
    config_store::add_to_linker::<T, VariablesData>(linker, view::<T>)?;
    spin_variables::add_to_linker::<T, VariablesData>(linker, view::<T>)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
greeting = { default = "hello" }
token = { required = true }
[component.c]
source = "c.wasm"
variables = { message = "{{ greeting }}, {{token}}!", plain = "x" }
"#;

    #[test]
    fn renders_defaults_and_environment_overrides() {
        let app = App::parse(Path::new("spin.toml"), MANIFEST).unwrap();
        let vars = resolve(&app, &|k| (k == "FOLIO_VAR_TOKEN").then(|| "t0k".into())).unwrap();
        assert_eq!(vars["c"]["message"], "hello, t0k!");
        assert_eq!(vars["c"]["plain"], "x");
        let vars = resolve(&app, &|k| match k {
            "FOLIO_VAR_TOKEN" => Some("a".into()),
            "FOLIO_VAR_GREETING" => Some("hi".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(vars["c"]["message"], "hi, a!");
    }

    #[test]
    fn a_missing_required_variable_names_its_environment_variable() {
        let app = App::parse(Path::new("spin.toml"), MANIFEST).unwrap();
        let err = resolve(&app, &|_| None).unwrap_err();
        assert!(err.to_string().contains("FOLIO_VAR_TOKEN"), "{err}");
    }
}
