//! Runs a prepared operation level by level: the root fields' calls
//! first, then, for the linked fields (author, media, categories) of every
//! object the level before produced, one call per kind (`plan`), the calls
//! of a level side by side. Values are written into a tree of response
//! slots; a null where the schema says non-null takes the nearest nullable
//! parent with it, as GraphQL specifies.

use std::collections::HashMap;
use std::future::Future;

use serde_json::{Map, Value as Json, json};

use crate::document::{Operation, Selected};
use crate::errors::{self, GraphqlError, PathSeg};
use crate::plan::{self, CATEGORIES_PATH, Call, LevelNeeds, MAX_LINKED_IDS, Service};
use crate::schema::{self, FieldDef, Link, Root, Source, Ty};

/// Chained calls one level runs at once: the host bounds a request's
/// chained instances (8), and the other services may chain too.
pub const MAX_PARALLEL_CALLS: usize = 4;

/// A service's answer that is not a 2xx JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceError {
    pub service: Service,
    /// None when the call itself failed.
    pub status: Option<u16>,
    pub detail: String,
}

/// The services, as the executor sees them (a fake one in the tests).
pub trait Services {
    /// Whether the request carries credentials to forward.
    fn has_credentials(&self) -> bool;
    fn get(&self, call: &Call) -> impl Future<Output = Result<Json, ServiceError>>;
}

pub struct Outcome {
    pub data: Json,
    pub errors: Vec<GraphqlError>,
}

impl Outcome {
    pub fn to_json(&self) -> Json {
        let mut body = json!({ "data": self.data });
        if !self.errors.is_empty() {
            body["errors"] = self.errors.iter().map(GraphqlError::to_json).collect();
        }
        body
    }
}

enum Slot {
    Pending,
    Null,
    Leaf(Json),
    Object(Vec<(String, usize)>),
    List(Vec<usize>),
}

struct Node {
    slot: Slot,
    parent: Option<usize>,
    non_null: bool,
}

/// A field whose value another call brings: a root field, or a linked one.
struct Task<'q> {
    field: &'q Selected,
    def: &'static FieldDef,
    node: usize,
    path: Vec<PathSeg>,
    /// For a linked field, the ids its parent names (`plan::link_input`).
    input: Json,
}

struct Engine<'q> {
    nodes: Vec<Node>,
    errors: Vec<GraphqlError>,
    next: Vec<Task<'q>>,
}

/// What one level's batch calls brought.
#[derive(Default)]
struct Loaded {
    authors: HashMap<String, Json>,
    authors_error: Option<ServiceError>,
    media: HashMap<String, Json>,
    media_error: Option<ServiceError>,
}

pub async fn execute<S: Services>(services: &S, op: &Operation) -> Outcome {
    let mut engine = Engine {
        nodes: vec![Node {
            slot: Slot::Object(Vec::new()),
            parent: None,
            non_null: false,
        }],
        errors: Vec::new(),
        next: Vec::new(),
    };
    // The category list, loaded at most once per request.
    let mut categories: Option<Result<Vec<Json>, ServiceError>> = None;

    // Level 0: the root fields.
    let mut roots = Vec::new();
    let mut entries = Vec::new();
    for field in &op.fields {
        let node = engine.child(0, false);
        entries.push((field.key.clone(), node));
        match field.def {
            None => engine.nodes[node].slot = Slot::Leaf(json!("Query")),
            Some(def) => roots.push(Task {
                field,
                def,
                node,
                path: vec![PathSeg::Key(field.key.clone())],
                input: Json::Null,
            }),
        }
    }
    engine.nodes[0].slot = Slot::Object(entries);
    let mut calls: Vec<Call> = Vec::new();
    let mut root_call: Vec<Option<usize>> = Vec::new();
    let mut need_categories = false;
    for task in &roots {
        let Source::Root(root) = task.def.source else {
            unreachable!("Query's fields are roots")
        };
        if root == Root::Me && !services.has_credentials() {
            root_call.push(None);
            continue;
        }
        match plan::root_call(root, task.field) {
            Some(call) => {
                root_call.push(Some(calls.len()));
                calls.push(call);
            }
            None => {
                need_categories = true;
                root_call.push(None);
            }
        }
    }
    if need_categories {
        calls.push(Call {
            service: Service::Content,
            path: CATEGORIES_PATH.into(),
        });
    }
    let mut results = run_all(services, &calls).await;
    if need_categories {
        categories = Some(
            results
                .pop()
                .expect("the category call ran")
                .and_then(|body| items(Service::Content, body)),
        );
    }
    for (task, index) in roots.iter().zip(root_call) {
        let result = index.map(|i| results[i].clone());
        engine.resolve_root(task, result, categories.as_ref());
    }

    // Then the linked fields, a level at a time.
    while !engine.next.is_empty() {
        let tasks = std::mem::take(&mut engine.next);
        let mut needs = LevelNeeds::default();
        for task in &tasks {
            if let Source::Link(link) = task.def.source {
                needs.add(link, &task.input);
            }
        }
        let mut loaded = Loaded::default();
        let too_many = |service: Service, count: usize| ServiceError {
            service,
            status: Some(413),
            detail: format!(
                "this level of the query links {count} {} ids; at most {MAX_LINKED_IDS} are loaded: ask for fewer items",
                service.name()
            ),
        };
        if needs.author_ids.len() > MAX_LINKED_IDS {
            loaded.authors_error = Some(too_many(Service::Users, needs.author_ids.len()));
            needs.author_ids.clear();
        }
        if needs.media_ids.len() > MAX_LINKED_IDS {
            loaded.media_error = Some(too_many(Service::Media, needs.media_ids.len()));
            needs.media_ids.clear();
        }
        let calls = needs.calls(categories.is_some());
        let results = run_all(services, &calls).await;
        for (call, result) in calls.iter().zip(results) {
            match (
                call.service,
                result.and_then(|body| items(call.service, body)),
            ) {
                (Service::Users, Ok(list)) => loaded.authors.extend(by_id(list)),
                (Service::Users, Err(e)) => loaded.authors_error = Some(e),
                (Service::Media, Ok(list)) => loaded.media.extend(by_id(list)),
                (Service::Media, Err(e)) => loaded.media_error = Some(e),
                (Service::Content, result) => categories = Some(result),
            }
        }
        for task in &tasks {
            engine.resolve_link(task, &loaded, categories.as_ref());
        }
    }
    Outcome {
        data: engine.value(0),
        errors: engine.errors,
    }
}

/// Runs the calls, [`MAX_PARALLEL_CALLS`] at a time; answers in their order.
async fn run_all<S: Services>(services: &S, calls: &[Call]) -> Vec<Result<Json, ServiceError>> {
    let mut out = Vec::with_capacity(calls.len());
    for chunk in calls.chunks(MAX_PARALLEL_CALLS) {
        out.extend(futures::future::join_all(chunk.iter().map(|c| services.get(c))).await);
    }
    out
}

/// The `items` of a list answer from `service`.
fn items(service: Service, body: Json) -> Result<Vec<Json>, ServiceError> {
    match body {
        Json::Object(mut map) => match map.remove("items") {
            Some(Json::Array(items)) => Ok(items),
            _ => Err(ServiceError {
                service,
                status: None,
                detail: "a list answer without `items`".into(),
            }),
        },
        _ => Err(ServiceError {
            service,
            status: None,
            detail: "a list answer that is not an object".into(),
        }),
    }
}

fn by_id(list: Vec<Json>) -> impl Iterator<Item = (String, Json)> {
    list.into_iter()
        .filter_map(|v| Some((v.get("id")?.as_str()?.to_string(), v)))
}

/// A service's failure as the error of the field at `path`.
pub fn service_error(e: &ServiceError, path: &[PathSeg]) -> GraphqlError {
    let code = match e.status {
        Some(401) => errors::UNAUTHENTICATED,
        Some(403) => errors::FORBIDDEN,
        Some(400 | 422) => errors::BAD_USER_INPUT,
        Some(413) => errors::COMPLEXITY_LIMIT,
        Some(429) => errors::RATE_LIMITED,
        None | Some(502..=504) => errors::SERVICE_UNAVAILABLE,
        Some(_) => errors::UPSTREAM_ERROR,
    };
    let mut error = GraphqlError::new(code, format!("{} service: {}", e.service.name(), e.detail))
        .with_path(path.to_vec())
        .with_extension("service", json!(e.service.name()));
    if let Some(status) = e.status {
        error = error.with_extension("status", json!(status));
    }
    error
}

impl<'q> Engine<'q> {
    fn child(&mut self, parent: usize, non_null: bool) -> usize {
        self.nodes.push(Node {
            slot: Slot::Pending,
            parent: Some(parent),
            non_null,
        });
        self.nodes.len() - 1
    }

    /// Null at `node`, and at its parents while the slot was non-null.
    fn set_null(&mut self, mut node: usize) {
        loop {
            self.nodes[node].slot = Slot::Null;
            match (self.nodes[node].non_null, self.nodes[node].parent) {
                (true, Some(parent)) => node = parent,
                _ => return,
            }
        }
    }

    fn fail(&mut self, node: usize, error: GraphqlError) {
        self.errors.push(error);
        self.set_null(node);
    }

    fn resolve_root(
        &mut self,
        task: &Task<'q>,
        result: Option<Result<Json, ServiceError>>,
        categories: Option<&Result<Vec<Json>, ServiceError>>,
    ) {
        let Source::Root(root) = task.def.source else {
            return;
        };
        let result = match (root, result) {
            (Root::Me, None) => {
                return self.fail(
                    task.node,
                    GraphqlError::new(
                        errors::UNAUTHENTICATED,
                        "`me` needs a bearer access token (Authorization: Bearer …)",
                    )
                    .with_path(task.path.clone())
                    .with_extension("status", json!(401)),
                );
            }
            (Root::Categories, _) => match categories {
                Some(Ok(list)) => Ok(Json::Array(list.clone())),
                Some(Err(e)) => Err(e.clone()),
                None => return self.set_null(task.node),
            },
            (_, Some(result)) => result,
            (_, None) => return self.set_null(task.node),
        };
        let value = match result {
            Ok(body) => match root {
                Root::Contents => connection(body),
                Root::Tags => body.get("items").cloned().unwrap_or(Json::Null),
                _ => body,
            },
            // Not there, or not visible to the caller: null, as REST's 404.
            Err(ServiceError {
                status: Some(404), ..
            }) if matches!(root, Root::Content | Root::Media) => Json::Null,
            Err(e) => return self.fail(task.node, service_error(&e, &task.path)),
        };
        let mut path = task.path.clone();
        self.complete(task.def.ty, &value, task.field, task.node, &mut path);
    }

    fn resolve_link(
        &mut self,
        task: &Task<'q>,
        loaded: &Loaded,
        categories: Option<&Result<Vec<Json>, ServiceError>>,
    ) {
        let Source::Link(link) = task.def.source else {
            return;
        };
        let (found, failure) = match link {
            Link::Author => (
                task.input
                    .as_str()
                    .and_then(|id| loaded.authors.get(id))
                    .cloned()
                    .unwrap_or(Json::Null),
                loaded.authors_error.as_ref(),
            ),
            Link::ContentMedia => (
                pick(task.input.as_array(), |id| loaded.media.get(id).cloned()),
                loaded.media_error.as_ref(),
            ),
            _ => {
                let list: &[Json] = match categories {
                    Some(Ok(list)) => list,
                    Some(Err(e)) => {
                        return self.fail(task.node, service_error(e, &task.path));
                    }
                    None => &[],
                };
                let find = |id: &str| list.iter().find(|c| c["id"] == *id).cloned();
                let value = match link {
                    Link::ContentCategories => pick(task.input.as_array(), find),
                    Link::CategoryParent => task.input.as_str().and_then(find).unwrap_or_default(),
                    _ => Json::Array(
                        list.iter()
                            .filter(|c| task.input.is_string() && c["parentId"] == task.input)
                            .cloned()
                            .collect(),
                    ),
                };
                (value, None)
            }
        };
        // A batch that failed fails the fields that named ids for it.
        let named_ids = match &task.input {
            Json::Array(ids) => !ids.is_empty(),
            other => !other.is_null(),
        };
        if let Some(e) = failure
            && named_ids
        {
            return self.fail(task.node, service_error(e, &task.path));
        }
        let mut path = task.path.clone();
        self.complete(task.def.ty, &found, task.field, task.node, &mut path);
    }

    /// Writes `value`, of type `ty`, into `node`; linked fields below
    /// become tasks of the next level.
    fn complete(
        &mut self,
        ty: Ty,
        value: &Json,
        field: &'q Selected,
        node: usize,
        path: &mut Vec<PathSeg>,
    ) {
        if value.is_null() {
            if ty.non_null {
                let error = GraphqlError::new(
                    errors::INTERNAL,
                    format!("the service answered no value for non-null {}", ty.sdl()),
                )
                .with_path(path.clone());
                return self.fail(node, error);
            }
            return self.set_null(node);
        }
        if ty.list {
            let Some(items) = value.as_array() else {
                return self.fail(node, wrong_shape(&ty, path));
            };
            let item_ty = Ty {
                list: false,
                non_null: ty.item_non_null,
                ..ty
            };
            let children: Vec<usize> = items
                .iter()
                .map(|_| self.child(node, ty.item_non_null))
                .collect();
            self.nodes[node].slot = Slot::List(children.clone());
            for (i, (item, child)) in items.iter().zip(children).enumerate() {
                path.push(PathSeg::Index(i));
                self.complete(item_ty, item, field, child, path);
                path.pop();
            }
            return;
        }
        if schema::is_leaf(ty.base) {
            return match leaf(ty.base, value) {
                Some(v) => self.nodes[node].slot = Slot::Leaf(v),
                None => self.fail(node, wrong_shape(&ty, path)),
            };
        }
        if !value.is_object() {
            return self.fail(node, wrong_shape(&ty, path));
        }
        let mut entries = Vec::with_capacity(field.children.len());
        let mut work = Vec::new();
        for child_field in &field.children {
            let child = match child_field.def {
                None => {
                    let child = self.child(node, true);
                    self.nodes[child].slot = Slot::Leaf(json!(ty.base));
                    child
                }
                Some(def) => {
                    let child = self.child(node, def.ty.non_null);
                    work.push((child_field, def, child));
                    child
                }
            };
            entries.push((child_field.key.clone(), child));
        }
        self.nodes[node].slot = Slot::Object(entries);
        for (child_field, def, child) in work {
            path.push(PathSeg::Key(child_field.key.clone()));
            match def.source {
                Source::Key(key) => {
                    let v = lookup(value, key);
                    self.complete(def.ty, v, child_field, child, path);
                }
                Source::Link(link) => self.next.push(Task {
                    field: child_field,
                    def,
                    node: child,
                    path: path.clone(),
                    input: plan::link_input(link, value),
                }),
                Source::Root(_) => self.set_null(child),
            }
            path.pop();
        }
    }

    /// The response value under `node`.
    fn value(&self, node: usize) -> Json {
        match &self.nodes[node].slot {
            Slot::Pending | Slot::Null => Json::Null,
            Slot::Leaf(v) => v.clone(),
            Slot::List(items) => items.iter().map(|i| self.value(*i)).collect(),
            Slot::Object(entries) => {
                let mut map = Map::new();
                for (key, child) in entries {
                    map.insert(key.clone(), self.value(*child));
                }
                Json::Object(map)
            }
        }
    }
}

/// The objects `ids` name, in that order, leaving out those not found.
fn pick(ids: Option<&Vec<Json>>, find: impl Fn(&str) -> Option<Json>) -> Json {
    match ids {
        None => Json::Null,
        Some(ids) => Json::Array(
            ids.iter()
                .filter_map(|id| id.as_str().and_then(&find))
                .collect(),
        ),
    }
}

/// A member of an answer; `a.b` for a nested one.
fn lookup<'v>(value: &'v Json, key: &str) -> &'v Json {
    key.split('.')
        .try_fold(value, |v, k| v.get(k))
        .unwrap_or(&Json::Null)
}

fn wrong_shape(ty: &Ty, path: &[PathSeg]) -> GraphqlError {
    GraphqlError::new(
        errors::INTERNAL,
        format!("the service answered a value that is not a {}", ty.sdl()),
    )
    .with_path(path.to_vec())
}

/// A scalar or enum value as the response carries it, if `value` is one.
fn leaf(base: &str, value: &Json) -> Option<Json> {
    match base {
        "Int" => value
            .as_i64()
            .filter(|n| i32::try_from(*n).is_ok())
            .map(Json::from),
        "Float" => value.as_f64().map(Json::from),
        "Boolean" => value.as_bool().map(Json::from),
        "ID" => match value {
            Json::String(_) => Some(value.clone()),
            Json::Number(n) => Some(json!(n.to_string())),
            _ => None,
        },
        "JSON" => Some(value.clone()),
        _ => value.as_str().map(Json::from), // String, DateTime, enums
    }
}

/// `GET /api/v1/content`'s page as a `ContentConnection`.
fn connection(body: Json) -> Json {
    let next = body["pagination"]["nextCursor"].clone();
    json!({
        "items": body.get("items").cloned().unwrap_or(Json::Null),
        "pageInfo": { "hasNextPage": !next.is_null(), "endCursor": next },
        "totalCount": body["pagination"].get("total").cloned().unwrap_or(Json::Null),
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use serde_json::Map;

    use super::*;
    use crate::document::prepare;

    /// The services as maps from path to answer, recording every call.
    struct Fake {
        token: bool,
        answers: Vec<(&'static str, Result<Json, u16>)>,
        calls: RefCell<Vec<String>>,
    }

    impl Services for Fake {
        fn has_credentials(&self) -> bool {
            self.token
        }

        async fn get(&self, call: &Call) -> Result<Json, ServiceError> {
            self.calls.borrow_mut().push(call.path.clone());
            let answer = self
                .answers
                .iter()
                .find(|(prefix, _)| call.path.starts_with(prefix))
                .map(|(_, a)| a.clone())
                .unwrap_or(Err(404));
            answer.map_err(|status| ServiceError {
                service: call.service,
                status: Some(status),
                detail: format!("answered {status}"),
            })
        }
    }

    fn run(fake: &Fake, query: &str) -> Json {
        let op = prepare(query, None, &Map::new()).unwrap();
        futures::executor::block_on(execute(fake, &op)).to_json()
    }

    fn content_page() -> Json {
        json!({
            "items": [
                {"id": "c1", "title": "One", "authorId": "u1", "mediaIds": ["m1", "gone"], "categories": ["k2"]},
                {"id": "c2", "title": "Two", "authorId": "u2", "mediaIds": ["m1"], "categories": ["k1", "k2"]},
                {"id": "c3", "title": "Three", "authorId": "u1", "mediaIds": [], "categories": []},
            ],
            "pagination": {"limit": 3, "nextCursor": "n1", "page": 1, "total": 7},
        })
    }

    fn fake(token: bool) -> Fake {
        Fake {
            token,
            answers: vec![
                ("/api/v1/content?", Ok(content_page())),
                (
                    "/api/v1/users/profiles",
                    Ok(json!({"items": [
                        {"id": "u1", "firstName": "Ada", "lastName": "L"},
                        {"id": "u2", "firstName": "Bo", "lastName": "M"},
                    ]})),
                ),
                (
                    "/api/v1/media/batch",
                    Ok(json!({"items": [
                        {"id": "m1", "kind": "image", "_links": {"content": "/api/v1/media/m1/content"}},
                    ]})),
                ),
                (
                    "/api/v1/categories",
                    Ok(json!({"items": [
                        {"id": "k1", "name": "News", "parentId": null},
                        {"id": "k2", "name": "Tech", "parentId": "k1"},
                    ]})),
                ),
                (
                    "/api/v1/users/me",
                    Ok(json!({"id": "u1", "email": "ada@example.com"})),
                ),
            ],
            calls: RefCell::new(Vec::new()),
        }
    }

    #[test]
    fn a_nested_query_makes_one_call_per_kind_per_level() {
        let fake = fake(false);
        let body = run(
            &fake,
            "{ contents(first: 3) { totalCount pageInfo { hasNextPage endCursor } items { title author { firstName } media { kind contentUrl } categories { name parent { name } } } } }",
        );
        assert_eq!(body.get("errors"), None, "{body}");
        let items = &body["data"]["contents"]["items"];
        assert_eq!(items[0]["author"]["firstName"], "Ada");
        assert_eq!(items[1]["author"]["firstName"], "Bo");
        assert_eq!(
            items[0]["media"],
            json!([{"kind": "image", "contentUrl": "/api/v1/media/m1/content"}])
        );
        assert_eq!(items[2]["media"], json!([]));
        assert_eq!(
            items[1]["categories"],
            json!([{"name": "News", "parent": null}, {"name": "Tech", "parent": {"name": "News"}}])
        );
        assert_eq!(body["data"]["contents"]["totalCount"], 7);
        assert_eq!(
            body["data"]["contents"]["pageInfo"],
            json!({"hasNextPage": true, "endCursor": "n1"})
        );
        let calls = fake.calls.borrow();
        assert_eq!(calls.len(), 4, "{calls:?}");
        assert_eq!(
            calls
                .iter()
                .filter(|c| c.starts_with("/api/v1/users/"))
                .count(),
            1
        );
        assert_eq!(
            calls
                .iter()
                .filter(|c| c.starts_with("/api/v1/media/"))
                .count(),
            1
        );
        // Parents of categories come from the one list: no second call.
        assert_eq!(calls.iter().filter(|c| *c == CATEGORIES_PATH).count(), 1);
        assert!(calls.contains(&"/api/v1/users/profiles?ids=u1,u2".to_string()));
        assert!(calls.contains(&"/api/v1/media/batch?ids=gone,m1".to_string()));
    }

    #[test]
    fn me_without_a_token_is_an_unauthenticated_error_and_no_call() {
        let fake = fake(false);
        let body = run(&fake, "{ me { email } __typename }");
        assert_eq!(body["data"], json!({"me": null, "__typename": "Query"}));
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        assert_eq!(body["errors"][0]["path"], json!(["me"]));
        assert!(fake.calls.borrow().is_empty());
        let with_token = fake_with(true, vec![("/api/v1/users/me", Err(401))]);
        let body = run(&with_token, "{ me { email } }");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        assert_eq!(body["errors"][0]["extensions"]["status"], 401);
    }

    fn fake_with(token: bool, answers: Vec<(&'static str, Result<Json, u16>)>) -> Fake {
        Fake {
            token,
            answers,
            calls: RefCell::new(Vec::new()),
        }
    }

    #[test]
    fn a_failed_batch_fails_its_fields_with_their_paths() {
        let fake = fake_with(
            false,
            vec![
                ("/api/v1/content?", Ok(content_page())),
                ("/api/v1/users/profiles", Err(503)),
            ],
        );
        let body = run(
            &fake,
            "{ contents { items { title author { firstName } } } }",
        );
        let items = &body["data"]["contents"]["items"];
        assert_eq!(items[0], json!({"title": "One", "author": null}));
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0]["path"], json!(["contents", "items", 0, "author"]));
        assert_eq!(errors[0]["extensions"]["code"], "SERVICE_UNAVAILABLE");
        assert_eq!(errors[0]["extensions"]["service"], "users");
    }

    #[test]
    fn a_level_linking_too_many_ids_fails_those_fields_without_calling() {
        let items: Vec<Json> = (0..100)
            .map(|i| {
                let media: Vec<String> = (0..6).map(|j| format!("m{i}-{j}")).collect();
                json!({"id": format!("c{i}"), "authorId": "u1", "mediaIds": media})
            })
            .collect();
        let page = json!({"items": items, "pagination": {"limit": 100, "nextCursor": null}});
        let fake = fake_with(false, vec![("/api/v1/content?", Ok(page))]);
        let body = run(&fake, "{ contents(first: 100) { items { media { id } } } }");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "COMPLEXITY_LIMIT_EXCEEDED"
        );
        assert_eq!(body["errors"].as_array().unwrap().len(), 100);
        assert_eq!(fake.calls.borrow().len(), 1, "only the content list");
    }

    #[test]
    fn a_missing_non_null_value_nulls_the_nearest_nullable_parent() {
        let fake = fake_with(
            false,
            vec![("/api/v1/content/", Ok(json!({"id": "c1", "title": null})))],
        );
        let body = run(
            &fake,
            "{ content(id: \"c1\") { id title } gone: media(id: \"x\") { id } }",
        );
        assert_eq!(body["data"], json!({"content": null, "gone": null}));
        assert_eq!(body["errors"][0]["path"], json!(["content", "title"]));
        assert_eq!(
            body["errors"].as_array().unwrap().len(),
            1,
            "a 404 is null, not an error"
        );
    }
}
