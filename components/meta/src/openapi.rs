//! `GET /api/v1/openapi.json`: one OpenAPI 3.1 document for every service,
//! merged from the documents the services generate from their code. Which
//! services, and where each serves its document, is the `openapi_sources`
//! variable: `component:/path,component:/path`, fetched through service
//! chaining (`http://component.spin.internal/path`).
//!
//! Merging: paths are a union and a path two services describe is an error;
//! schemas with one name and equal definitions are kept once, and a
//! different schema under a name an earlier source took is renamed
//! `<source>.<Name>` (with every `$ref` of its source rewritten), so nothing
//! is silently overwritten; other component entries (security schemes, ...)
//! must agree; tags are a union; operation ids must be unique.

use serde_json::{Map, Value, json};

/// One service's document: where it comes from and what it is.
pub struct Source {
    pub name: String,
    pub path: String,
}

/// `users:/api/v1/openapi/users.json,content:/api/v1/openapi/content.json`.
pub fn parse_sources(list: &str) -> Result<Vec<Source>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| match entry.split_once(':') {
            Some((name, path))
                if !name.trim().is_empty()
                    && path.starts_with('/')
                    && name
                        .trim()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                Ok(Source {
                    name: name.trim().to_string(),
                    path: path.to_string(),
                })
            }
            _ => Err(format!(
                "openapi_sources: `{entry}` is not `component:/path`"
            )),
        })
        .collect()
}

/// Why the documents could not be merged: a conflict between two sources.
#[derive(Debug, PartialEq)]
pub struct Conflict(pub String);

const REF_PREFIX: &str = "#/components/schemas/";

/// Merges `(source name, document)` pairs, in order, under Folio's `info`.
pub fn merge(version: &str, documents: &[(String, Value)]) -> Result<Value, Conflict> {
    let mut paths = Map::new();
    let mut path_owner: Map<String, Value> = Map::new();
    let mut components: Map<String, Value> = Map::new();
    let mut owners: Map<String, Value> = Map::new();
    let mut tags: Vec<Value> = Vec::new();
    let mut operation_ids: Map<String, Value> = Map::new();
    for (source, document) in documents {
        let mut document = document.clone();
        rename_clashing_schemas(source, &mut document, &components);
        for (path, item) in object(&document["paths"]) {
            if let Some(owner) = path_owner.get(&path) {
                return Err(Conflict(format!(
                    "the path {path} is described by both {} and {source}",
                    owner.as_str().unwrap_or_default()
                )));
            }
            for operation in object(&item).values() {
                if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
                    if let Some(owner) = operation_ids.get(id) {
                        return Err(Conflict(format!(
                            "the operationId {id} is used by both {} and {source}",
                            owner.as_str().unwrap_or_default()
                        )));
                    }
                    operation_ids.insert(id.to_string(), json!(source));
                }
            }
            path_owner.insert(path.clone(), json!(source));
            paths.insert(path, item);
        }
        for (section, entries) in object(&document["components"]) {
            let merged = components
                .entry(section.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("sections are objects");
            for (name, definition) in object(&entries) {
                let key = format!("{section}/{name}");
                match merged.get(&name) {
                    None => {
                        merged.insert(name, definition);
                        owners.insert(key, json!(source));
                    }
                    Some(existing) if *existing == definition => {}
                    Some(_) => {
                        return Err(Conflict(format!(
                            "components.{section}.{name} differs between {} and {source}",
                            owners[&key].as_str().unwrap_or_default()
                        )));
                    }
                }
            }
        }
        for tag in document["tags"].as_array().into_iter().flatten() {
            if !tags.iter().any(|t| t["name"] == tag["name"]) {
                tags.push(tag.clone());
            }
        }
    }
    let mut merged = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Folio",
            "description": format!(
                "Every route of this Folio deployment, merged from the OpenAPI documents its services generate from their code ({}). Errors are RFC 9457 problem details.",
                documents.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
            "version": version,
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "paths": paths,
        "components": components,
    });
    if !tags.is_empty() {
        merged["tags"] = Value::Array(tags);
    }
    Ok(merged)
}

fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Renames, in `document`, each schema whose name is taken (by an earlier
/// source) with a different definition to `<source>.<Name>`, and rewrites
/// the `$ref`s to it. Equal definitions keep their name (and merge).
fn rename_clashing_schemas(source: &str, document: &mut Value, taken: &Map<String, Value>) {
    if document["components"]["schemas"].as_object().is_none() {
        return;
    }
    let taken = taken.get("schemas").and_then(Value::as_object);
    // Equal definitions are compared after renaming the others, since a
    // schema may refer to a renamed one; iterate until nothing changes.
    let mut renames: Vec<(String, String)> = Vec::new();
    loop {
        let mut candidate = document.clone();
        apply_renames(&mut candidate, &renames);
        let schemas = candidate["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let more: Vec<(String, String)> = schemas
            .iter()
            .filter(|(name, definition)| {
                taken
                    .and_then(|t| t.get(name.as_str()))
                    .is_some_and(|existing| existing != *definition)
            })
            .filter(|(name, _)| !renames.iter().any(|(from, _)| from == *name))
            .map(|(name, _)| (name.clone(), format!("{source}.{name}")))
            .collect();
        if more.is_empty() {
            break;
        }
        renames.extend(more);
    }
    apply_renames(document, &renames);
}

fn apply_renames(document: &mut Value, renames: &[(String, String)]) {
    if renames.is_empty() {
        return;
    }
    if let Some(schemas) = document["components"]["schemas"].as_object_mut() {
        for (from, to) in renames {
            if let Some(definition) = schemas.remove(from) {
                schemas.insert(to.clone(), definition);
            }
        }
    }
    rewrite_refs(document, renames);
}

fn rewrite_refs(value: &mut Value, renames: &[(String, String)]) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref"
                    && let Some(name) = v.as_str().and_then(|r| r.strip_prefix(REF_PREFIX))
                    && let Some((_, to)) = renames.iter().find(|(from, _)| from == name)
                {
                    *v = Value::String(format!("{REF_PREFIX}{to}"));
                } else {
                    rewrite_refs(v, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, renames)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(paths: Value, schemas: Value) -> Value {
        json!({
            "openapi": "3.1.0",
            "info": {"title": "x", "version": "1"},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "tags": [{"name": "auth"}],
        })
    }

    fn op(id: &str, schema: &str) -> Value {
        json!({"get": {"operationId": id, "responses": {"200": {"description": "ok",
            "content": {"application/json": {"schema": {"$ref": format!("{REF_PREFIX}{schema}")}}}}}}})
    }

    #[test]
    fn unions_paths_and_keeps_equal_schemas_once() {
        let problem = json!({"type": "object", "properties": {"title": {"type": "string"}}});
        let a = doc(
            json!({"/a": op("a", "Problem")}),
            json!({"Problem": problem}),
        );
        let b = doc(
            json!({"/b": op("b", "Problem")}),
            json!({"Problem": problem}),
        );
        let merged = merge("0.1.0", &[("users".into(), a), ("content".into(), b)]).unwrap();
        assert_eq!(merged["openapi"], "3.1.0");
        assert_eq!(merged["info"]["title"], "Folio");
        assert!(merged["paths"]["/a"].is_object() && merged["paths"]["/b"].is_object());
        assert_eq!(
            merged["components"]["schemas"].as_object().unwrap().len(),
            1
        );
        assert_eq!(
            merged["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert_eq!(merged["tags"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_different_schema_with_a_taken_name_is_renamed_with_its_refs() {
        let a = doc(
            json!({"/a": op("a", "Page")}),
            json!({"Page": {"type": "object", "properties": {"total": {"type": "integer"}}}}),
        );
        let b = doc(
            json!({"/b": op("b", "List")}),
            json!({
                "Page": {"type": "object", "properties": {"cursor": {"type": "string"}}},
                "List": {"type": "object", "properties": {"page": {"$ref": format!("{REF_PREFIX}Page")}}},
            }),
        );
        let merged = merge("0.1.0", &[("users".into(), a), ("content".into(), b)]).unwrap();
        let schemas = &merged["components"]["schemas"];
        assert!(
            schemas["Page"]["properties"]["total"].is_object(),
            "first keeps its name"
        );
        assert!(schemas["content.Page"]["properties"]["cursor"].is_object());
        assert_eq!(
            schemas["List"]["properties"]["page"]["$ref"],
            format!("{REF_PREFIX}content.Page")
        );
        assert_eq!(
            merged["paths"]["/a"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
                ["$ref"],
            format!("{REF_PREFIX}Page")
        );
    }

    #[test]
    fn a_schema_equal_except_for_a_renamed_ref_is_renamed_too() {
        let a = doc(
            json!({"/a": op("a", "List")}),
            json!({
                "Page": {"type": "object", "properties": {"total": {"type": "integer"}}},
                "List": {"type": "object", "properties": {"page": {"$ref": format!("{REF_PREFIX}Page")}}},
            }),
        );
        let b = doc(
            json!({"/b": op("b", "List")}),
            json!({
                "Page": {"type": "object", "properties": {"cursor": {"type": "string"}}},
                "List": {"type": "object", "properties": {"page": {"$ref": format!("{REF_PREFIX}Page")}}},
            }),
        );
        let merged = merge("0.1.0", &[("users".into(), a), ("content".into(), b)]).unwrap();
        let schemas = &merged["components"]["schemas"];
        assert_eq!(
            schemas["content.List"]["properties"]["page"]["$ref"],
            format!("{REF_PREFIX}content.Page")
        );
        assert_eq!(
            schemas["List"]["properties"]["page"]["$ref"],
            format!("{REF_PREFIX}Page")
        );
    }

    #[test]
    fn a_path_two_services_describe_is_a_conflict() {
        let a = doc(json!({"/a": op("a", "X")}), json!({}));
        let b = doc(json!({"/a": op("b", "X")}), json!({}));
        let err = merge("0.1.0", &[("users".into(), a), ("content".into(), b)]).unwrap_err();
        assert!(err.0.contains("/a") && err.0.contains("users") && err.0.contains("content"));
    }

    #[test]
    fn duplicate_operation_ids_and_different_security_schemes_are_conflicts() {
        let a = doc(json!({"/a": op("get", "X")}), json!({}));
        let b = doc(json!({"/b": op("get", "X")}), json!({}));
        let err = merge(
            "0.1.0",
            &[("users".into(), a.clone()), ("content".into(), b)],
        )
        .unwrap_err();
        assert!(err.0.contains("operationId get"), "{err:?}");
        let mut c = doc(json!({"/c": op("c", "X")}), json!({}));
        c["components"]["securitySchemes"]["bearer"]["scheme"] = json!("basic");
        let err = merge("0.1.0", &[("users".into(), a), ("content".into(), c)]).unwrap_err();
        assert!(err.0.contains("securitySchemes.bearer"), "{err:?}");
    }

    #[test]
    fn sources_are_component_and_path() {
        let sources = parse_sources("users:/api/v1/openapi/users.json, t-content:/c.json").unwrap();
        assert_eq!(sources[1].name, "t-content");
        assert_eq!(sources[1].path, "/c.json");
        assert!(parse_sources("users").is_err());
        assert!(parse_sources("users:relative").is_err());
        assert!(parse_sources("a.b:/x").is_err());
    }
}
