//! Which chained calls answer a level of the query: one per root field,
//! and, for the linked fields of every object the level before produced,
//! one call per kind (authors, media, the category list) with all their
//! ids. Pure: the executor runs the calls, the tests read them.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use crate::document::Selected;
use crate::schema::{self, Link, Root, Source};

/// Ids per batch call; the users and media services accept at most this many.
pub const MAX_BATCH_IDS: usize = 100;
/// Ids of one kind one level may link (five batch calls); past that the
/// linked fields of that kind fail, and the query should ask for fewer items.
pub const MAX_LINKED_IDS: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    Content,
    Media,
    Users,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Content => "content",
            Service::Media => "media",
            Service::Users => "users",
        }
    }
}

/// One chained `GET`: the service and the path with its query.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Call {
    pub service: Service,
    pub path: String,
}

pub const CATEGORIES_PATH: &str = "/api/v1/categories";

/// The ids and lists the linked fields of one level need.
#[derive(Debug, Default, PartialEq)]
pub struct LevelNeeds {
    pub author_ids: BTreeSet<String>,
    pub media_ids: BTreeSet<String>,
    pub categories: bool,
}

/// What a linked field needs from its parent object: the ids it names.
pub fn link_input(link: Link, parent: &Json) -> Json {
    let key = match link {
        Link::Author => "authorId",
        Link::ContentMedia => "mediaIds",
        Link::ContentCategories => "categories",
        Link::CategoryParent => "parentId",
        Link::CategoryChildren => "id",
    };
    parent.get(key).cloned().unwrap_or(Json::Null)
}

impl LevelNeeds {
    /// Adds one linked field of one parent (its `link_input`).
    pub fn add(&mut self, link: Link, input: &Json) {
        match link {
            Link::Author => {
                if let Some(id) = input.as_str() {
                    self.author_ids.insert(id.to_string());
                }
            }
            Link::ContentMedia => {
                for id in input.as_array().into_iter().flatten() {
                    if let Some(id) = id.as_str() {
                        self.media_ids.insert(id.to_string());
                    }
                }
            }
            Link::ContentCategories | Link::CategoryParent | Link::CategoryChildren => {
                self.categories = true
            }
        }
    }

    /// The calls: authors and media in batches of [`MAX_BATCH_IDS`] (one
    /// each unless a level names more), the category list unless the
    /// request has it already.
    pub fn calls(&self, categories_loaded: bool) -> Vec<Call> {
        let mut calls = Vec::new();
        let ids: Vec<&String> = self.author_ids.iter().collect();
        for chunk in ids.chunks(MAX_BATCH_IDS) {
            calls.push(Call {
                service: Service::Users,
                path: format!("/api/v1/users/profiles?ids={}", join_ids(chunk)),
            });
        }
        let ids: Vec<&String> = self.media_ids.iter().collect();
        for chunk in ids.chunks(MAX_BATCH_IDS) {
            calls.push(Call {
                service: Service::Media,
                path: format!("/api/v1/media/batch?ids={}", join_ids(chunk)),
            });
        }
        if self.categories && !categories_loaded {
            calls.push(Call {
                service: Service::Content,
                path: CATEGORIES_PATH.into(),
            });
        }
        calls
    }
}

fn join_ids(ids: &[&String]) -> String {
    ids.iter()
        .map(|id| encode(id))
        .collect::<Vec<_>>()
        .join(",")
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The call a root field makes; None for `categories`, which shares the
/// request's one category list.
pub fn root_call(root: Root, field: &Selected) -> Option<Call> {
    let arg = |name: &str| field.arg_str(name).unwrap_or_default();
    Some(match root {
        Root::Me => Call {
            service: Service::Users,
            path: "/api/v1/users/me".into(),
        },
        Root::Content => Call {
            service: Service::Content,
            path: format!("/api/v1/content/{}", encode(arg("id"))),
        },
        Root::Media => Call {
            service: Service::Media,
            path: format!("/api/v1/media/{}", encode(arg("id"))),
        },
        Root::Tags => Call {
            service: Service::Content,
            path: format!(
                "/api/v1/tags?limit={}",
                field.arg_i64("first").unwrap_or(schema::DEFAULT_TAGS)
            ),
        },
        Root::Contents => Call {
            service: Service::Content,
            path: contents_path(field),
        },
        Root::Categories => return None,
    })
}

/// `GET /api/v1/content` with the arguments as its query parameters, and
/// `fields` naming only what the selection reads.
fn contents_path(field: &Selected) -> String {
    let mut params = vec![format!(
        "limit={}",
        field.arg_i64("first").unwrap_or(schema::DEFAULT_PAGE)
    )];
    for (arg, param) in [
        ("after", "cursor"),
        ("status", "status"),
        ("type", "type"),
        ("category", "category"),
        ("tag", "tag"),
        ("authorId", "authorId"),
        ("q", "q"),
        ("publishedFrom", "publishedFrom"),
        ("publishedTo", "publishedTo"),
    ] {
        if let Some(v) = field.arg_str(arg) {
            params.push(format!("{param}={}", encode(v)));
        }
    }
    if let Some(sort) = field.arg_str("sort") {
        let rest = schema::enum_def("ContentSort")
            .and_then(|e| e.values.iter().find(|(n, _)| *n == sort))
            .map_or(sort, |(_, r)| r);
        params.push(format!("sort={}", encode(rest)));
    }
    let items = field.children.iter().filter(|c| c.name == "items");
    let mut fields = BTreeSet::from(["id"]);
    for child in items.flat_map(|i| &i.children) {
        match child.def.map(|d| d.source) {
            Some(Source::Key(k)) => {
                fields.insert(k);
            }
            Some(Source::Link(link)) => {
                fields.insert(match link {
                    Link::Author => "authorId",
                    Link::ContentMedia => "mediaIds",
                    _ => "categories",
                });
            }
            _ => {}
        }
    }
    params.push(format!(
        "fields={}",
        encode(&fields.into_iter().collect::<Vec<_>>().join(","))
    ));
    format!("/api/v1/content?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;
    use crate::document::prepare;

    fn op(query: &str) -> Vec<Selected> {
        prepare(query, None, &Map::new()).unwrap().fields
    }

    #[test]
    fn one_call_per_kind_for_all_parents_of_a_level() {
        let parents = [
            json!({"id": "c1", "authorId": "u1", "mediaIds": ["m1", "m2"], "categories": ["k1"]}),
            json!({"id": "c2", "authorId": "u2", "mediaIds": ["m2"], "categories": []}),
            json!({"id": "c3", "authorId": "u1", "mediaIds": [], "categories": ["k2"]}),
        ];
        let mut needs = LevelNeeds::default();
        for parent in &parents {
            for link in [Link::Author, Link::ContentMedia, Link::ContentCategories] {
                needs.add(link, &link_input(link, parent));
            }
        }
        assert_eq!(needs.author_ids.iter().collect::<Vec<_>>(), ["u1", "u2"]);
        assert_eq!(needs.media_ids.iter().collect::<Vec<_>>(), ["m1", "m2"]);
        assert!(needs.categories);
        assert_eq!(
            needs.calls(false),
            [
                Call {
                    service: Service::Users,
                    path: "/api/v1/users/profiles?ids=u1,u2".into()
                },
                Call {
                    service: Service::Media,
                    path: "/api/v1/media/batch?ids=m1,m2".into()
                },
                Call {
                    service: Service::Content,
                    path: CATEGORIES_PATH.into()
                },
            ]
        );
        // The category list is loaded once per request.
        assert_eq!(needs.calls(true).len(), 2);
    }

    #[test]
    fn nothing_is_called_for_links_without_ids() {
        let mut needs = LevelNeeds::default();
        needs.add(Link::Author, &json!(null));
        needs.add(Link::ContentMedia, &json!([]));
        assert!(needs.calls(false).is_empty());
    }

    #[test]
    fn batches_split_past_the_services_cap() {
        let mut needs = LevelNeeds::default();
        for i in 0..250 {
            needs.add(Link::Author, &json!(format!("u{i:03}")));
        }
        let calls = needs.calls(true);
        assert_eq!(calls.len(), 3);
        assert!(calls.iter().all(|c| c.service == Service::Users));
    }

    #[test]
    fn root_fields_map_to_their_rest_calls() {
        let fields = op(
            r#"{ contents(first: 5, after: "x y", status: published, sort: titleDesc) { items { title author { id } media { id } } pageInfo { endCursor } }
                 tags(first: 7) { tag } content(id: "a/b") { id } me { id } categories { id } }"#,
        );
        let paths: Vec<Option<String>> = fields
            .iter()
            .map(|f| match f.def.unwrap().source {
                Source::Root(r) => root_call(r, f).map(|c| c.path),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            paths,
            [
                Some("/api/v1/content?limit=5&cursor=x%20y&status=published&sort=-title&fields=authorId%2Cid%2CmediaIds%2Ctitle".to_string()),
                Some("/api/v1/tags?limit=7".to_string()),
                Some("/api/v1/content/a%2Fb".to_string()),
                Some("/api/v1/users/me".to_string()),
                None,
            ]
        );
    }
}
