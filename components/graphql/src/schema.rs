//! The GraphQL schema: one table of types and fields that the validator,
//! the cost estimate and the executor read, and the SDL written from it
//! (`GET /api/v1/graphql/schema.graphql`), so the document cannot drift
//! from what is served. Type and field names mirror the services' REST
//! models; nothing is exposed that their public APIs do not expose.

/// A field's type: `base`, `[base]`, with `!` where `non_null` / `item_non_null`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ty {
    pub base: &'static str,
    pub list: bool,
    pub non_null: bool,
    pub item_non_null: bool,
}

/// What an argument accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ArgTy {
    Int { min: i64, max: i64 },
    String,
    Id,
    Enum(&'static str),
}

#[derive(Debug, PartialEq)]
pub struct ArgDef {
    pub name: &'static str,
    pub ty: ArgTy,
    pub required: bool,
    /// The default, written as in SDL (`20`, `createdAtDesc`).
    pub default: Option<&'static str>,
    pub description: &'static str,
}

/// Where a field's value comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source {
    /// A member of the parent's JSON as its service answered it
    /// (`_links.content`: a nested member).
    Key(&'static str),
    /// A root field: one chained call of its own.
    Root(Root),
    /// Another service's objects, named by ids in the parent (or the
    /// category list): loaded for every parent of a level at once.
    Link(Link),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Root {
    Me,
    Content,
    Contents,
    Categories,
    Tags,
    Media,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Link {
    /// `Content.author`: the users service's public profile of `authorId`.
    Author,
    /// `Content.categories`: the categories named in `categories`.
    ContentCategories,
    /// `Content.media`: the media named in `mediaIds` the caller may see.
    ContentMedia,
    /// `Category.parent`: the category `parentId` names.
    CategoryParent,
    /// `Category.children`: the categories whose `parentId` is this one.
    CategoryChildren,
}

#[derive(Debug, PartialEq)]
pub struct FieldDef {
    pub name: &'static str,
    pub ty: Ty,
    pub args: &'static [ArgDef],
    pub source: Source,
    /// For list fields: how many items the cost estimate assumes (a
    /// paging argument's value replaces it, see `limits::complexity`).
    pub cost_items: u32,
    pub description: &'static str,
}

pub struct TypeDef {
    pub name: &'static str,
    pub description: &'static str,
    pub fields: &'static [FieldDef],
}

pub struct EnumDef {
    pub name: &'static str,
    pub description: &'static str,
    /// GraphQL value and the REST value it stands for.
    pub values: &'static [(&'static str, &'static str)],
}

pub const SCALARS: [(&str, &str); 2] = [
    ("DateTime", "RFC 3339 UTC, e.g. `2026-01-02T03:04:05Z`."),
    ("JSON", "Any JSON value, as the service stores it."),
];

const fn t(base: &'static str) -> Ty {
    Ty {
        base,
        list: false,
        non_null: false,
        item_non_null: false,
    }
}

const fn nn(base: &'static str) -> Ty {
    Ty {
        non_null: true,
        ..t(base)
    }
}

/// `[base!]` (`non_null`: `[base!]!`).
const fn list(base: &'static str, non_null: bool) -> Ty {
    Ty {
        base,
        list: true,
        non_null,
        item_non_null: true,
    }
}

const fn key(name: &'static str, ty: Ty, key: &'static str, description: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        args: &[],
        source: Source::Key(key),
        cost_items: 1,
        description,
    }
}

const fn same(name: &'static str, ty: Ty, description: &'static str) -> FieldDef {
    key(name, ty, name, description)
}

const fn link(
    name: &'static str,
    ty: Ty,
    link: Link,
    cost_items: u32,
    description: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        ty,
        args: &[],
        source: Source::Link(link),
        cost_items,
        description,
    }
}

pub const MAX_PAGE: i64 = 100;
pub const DEFAULT_PAGE: i64 = 20;
pub const MAX_TAGS: i64 = 1000;
pub const DEFAULT_TAGS: i64 = 100;

const ID_ARG: ArgDef = ArgDef {
    name: "id",
    ty: ArgTy::Id,
    required: true,
    default: None,
    description: "",
};

const fn opt(name: &'static str, ty: ArgTy, description: &'static str) -> ArgDef {
    ArgDef {
        name,
        ty,
        required: false,
        default: None,
        description,
    }
}

pub const CONTENTS_ARGS: &[ArgDef] = &[
    ArgDef {
        name: "first",
        ty: ArgTy::Int {
            min: 1,
            max: MAX_PAGE,
        },
        required: false,
        default: Some("20"),
        description: "Page size, 1-100.",
    },
    opt(
        "after",
        ArgTy::String,
        "`pageInfo.endCursor` of the page before (same `sort`).",
    ),
    opt(
        "status",
        ArgTy::Enum("ContentStatus"),
        "Anonymous callers and consumers see published items only; creators also their own.",
    ),
    opt("type", ArgTy::Enum("ContentType"), ""),
    opt("category", ArgTy::Id, "A category id."),
    opt("tag", ArgTy::String, ""),
    opt("authorId", ArgTy::Id, ""),
    opt("q", ArgTy::String, "Title prefix, case-insensitive."),
    opt(
        "publishedFrom",
        ArgTy::String,
        "RFC 3339 UTC (`Z`), inclusive.",
    ),
    opt(
        "publishedTo",
        ArgTy::String,
        "RFC 3339 UTC (`Z`), exclusive.",
    ),
    ArgDef {
        name: "sort",
        ty: ArgTy::Enum("ContentSort"),
        required: false,
        default: Some("createdAtDesc"),
        description: "",
    },
];

const TAGS_ARGS: &[ArgDef] = &[ArgDef {
    name: "first",
    ty: ArgTy::Int {
        min: 1,
        max: MAX_TAGS,
    },
    required: false,
    default: Some("100"),
    description: "How many, 1-1000.",
}];

pub const TYPES: &[TypeDef] = &[
    TypeDef {
        name: "Query",
        description: "Reads only. Every field is answered by a service's public HTTP API, with the caller's `Authorization` forwarded, so each service applies its own rules.",
        fields: &[
            FieldDef {
                name: "me",
                ty: t("User"),
                args: &[],
                source: Source::Root(Root::Me),
                cost_items: 1,
                description: "The caller's own account (`GET /api/v1/users/me`): an `UNAUTHENTICATED` error without a bearer token.",
            },
            FieldDef {
                name: "content",
                ty: t("Content"),
                args: &[ID_ARG],
                source: Source::Root(Root::Content),
                cost_items: 1,
                description: "One item (`GET /api/v1/content/{id}`): null when there is none the caller may see.",
            },
            FieldDef {
                name: "contents",
                ty: t("ContentConnection"),
                args: CONTENTS_ARGS,
                source: Source::Root(Root::Contents),
                cost_items: DEFAULT_PAGE as u32,
                description: "A page of items (`GET /api/v1/content`), newest first unless `sort` says otherwise.",
            },
            FieldDef {
                name: "categories",
                ty: list("Category", false),
                args: &[],
                source: Source::Root(Root::Categories),
                cost_items: 50,
                description: "Every category (`GET /api/v1/categories`).",
            },
            FieldDef {
                name: "tags",
                ty: list("Tag", false),
                args: TAGS_ARGS,
                source: Source::Root(Root::Tags),
                cost_items: DEFAULT_TAGS as u32,
                description: "Tags of published items, most used first (`GET /api/v1/tags`).",
            },
            FieldDef {
                name: "media",
                ty: t("Media"),
                args: &[ID_ARG],
                source: Source::Root(Root::Media),
                cost_items: 1,
                description: "One media item (`GET /api/v1/media/{id}`): ready items are public, others their owner's and admins'; null when not visible.",
            },
        ],
    },
    TypeDef {
        name: "ContentConnection",
        description: "A page of content items.",
        fields: &[
            key("items", list("Content", true), "items", ""),
            key("pageInfo", nn("PageInfo"), "pageInfo", ""),
            key(
                "totalCount",
                t("Int"),
                "totalCount",
                "Items matching the filters; only on a first page (without `after`).",
            ),
        ],
    },
    TypeDef {
        name: "PageInfo",
        description: "",
        fields: &[
            same("hasNextPage", nn("Boolean"), ""),
            same(
                "endCursor",
                t("String"),
                "Pass as `after` for the next page; null on the last one.",
            ),
        ],
    },
    TypeDef {
        name: "Content",
        description: "A content item, as `GET /api/v1/content/{id}` shows it.",
        fields: &[
            same("id", nn("ID"), ""),
            same("title", nn("String"), ""),
            same("description", nn("String"), ""),
            same("body", nn("String"), "Sanitized HTML."),
            same("status", nn("ContentStatus"), ""),
            same("type", nn("ContentType"), ""),
            same("tags", list("String", true), "Lowercased."),
            key("categoryIds", list("ID", true), "categories", ""),
            link(
                "categories",
                list("Category", false),
                Link::ContentCategories,
                5,
                "The categories of `categoryIds` (one category list per query).",
            ),
            same("mediaIds", list("ID", true), ""),
            link(
                "media",
                list("Media", false),
                Link::ContentMedia,
                10,
                "The media of `mediaIds` the caller may see, in that order (one media call per level of the query).",
            ),
            same("authorId", nn("ID"), ""),
            link(
                "author",
                t("Author"),
                Link::Author,
                1,
                "The author's public profile (one users call per level of the query).",
            ),
            same("metadata", nn("JSON"), ""),
            same("publishedAt", t("DateTime"), ""),
            same(
                "scheduledAt",
                t("DateTime"),
                "When a publish request made while this is ahead takes effect.",
            ),
            same("createdAt", nn("DateTime"), ""),
            same("updatedAt", nn("DateTime"), ""),
            same("version", nn("Int"), "Starts at 1; every write adds one."),
        ],
    },
    TypeDef {
        name: "Author",
        description: "A public profile (`GET /api/v1/users/profiles`): only accounts that can write content (creators, admins) have one.",
        fields: &[
            same("id", nn("ID"), ""),
            same("firstName", nn("String"), ""),
            same("lastName", nn("String"), ""),
        ],
    },
    TypeDef {
        name: "Category",
        description: "",
        fields: &[
            same("id", nn("ID"), ""),
            same("name", nn("String"), ""),
            same("description", nn("String"), ""),
            same("slug", nn("String"), ""),
            same("parentId", t("ID"), ""),
            link("parent", t("Category"), Link::CategoryParent, 1, ""),
            link(
                "children",
                list("Category", false),
                Link::CategoryChildren,
                5,
                "",
            ),
            same("createdAt", nn("DateTime"), ""),
            same("updatedAt", nn("DateTime"), ""),
        ],
    },
    TypeDef {
        name: "Tag",
        description: "",
        fields: &[
            same("tag", nn("String"), ""),
            same("count", nn("Int"), "Published, live items with the tag."),
        ],
    },
    TypeDef {
        name: "Media",
        description: "A media item, as `GET /api/v1/media/{id}` shows it.",
        fields: &[
            same("id", nn("ID"), ""),
            same("ownerId", nn("ID"), ""),
            same("kind", nn("String"), "`image`, `video` or `audio`."),
            same("mime", nn("String"), "Decided from the bytes."),
            same("filename", nn("String"), ""),
            same("size", nn("Float"), "Bytes."),
            same(
                "checksum",
                nn("String"),
                "`sha256:` and the hex digest of the bytes as uploaded.",
            ),
            same(
                "width",
                t("Int"),
                "Upright, for images; the video's frame size.",
            ),
            same("height", t("Int"), ""),
            same("durationMs", t("Int"), ""),
            same(
                "orientation",
                t("Int"),
                "EXIF orientation (1-8) as uploaded.",
            ),
            same(
                "status",
                nn("String"),
                "`uploaded`, `processing`, `ready` or `failed`.",
            ),
            same("processing", nn("MediaProcessing"), ""),
            FieldDef {
                name: "renditions",
                ty: list("Rendition", true),
                args: &[],
                source: Source::Key("renditions"),
                cost_items: 5,
                description: "",
            },
            same("details", nn("JSON"), "What probing found."),
            key(
                "contentUrl",
                nn("String"),
                "_links.content",
                "Where the original is delivered.",
            ),
            same("createdAt", nn("DateTime"), ""),
            same("updatedAt", nn("DateTime"), ""),
        ],
    },
    TypeDef {
        name: "MediaProcessing",
        description: "",
        fields: &[
            same("progress", nn("Float"), "0 to 1 while a transcode runs."),
            same("attempts", nn("Int"), ""),
            same("error", t("String"), "Why the last attempt failed."),
            same("cancelRequested", nn("Boolean"), ""),
        ],
    },
    TypeDef {
        name: "Rendition",
        description: "",
        fields: &[
            same("name", nn("String"), ""),
            same("url", nn("String"), ""),
            same("mime", nn("String"), ""),
            same("size", nn("Float"), "Bytes."),
            same("width", t("Int"), ""),
            same("height", t("Int"), ""),
            same("durationMs", t("Int"), ""),
        ],
    },
    TypeDef {
        name: "User",
        description: "The caller's account, as `GET /api/v1/users/me` shows it.",
        fields: &[
            same("id", nn("ID"), ""),
            same("email", nn("String"), ""),
            same("firstName", nn("String"), ""),
            same("lastName", nn("String"), ""),
            same("role", nn("String"), "`admin`, `creator` or `consumer`."),
            same(
                "status",
                nn("String"),
                "`active`, `inactive` or `suspended`.",
            ),
            same("preferences", nn("Preferences"), ""),
            same("mfaEnabled", nn("Boolean"), ""),
            same("lastLoginAt", t("DateTime"), ""),
            same("createdAt", nn("DateTime"), ""),
            same("updatedAt", nn("DateTime"), ""),
        ],
    },
    TypeDef {
        name: "Preferences",
        description: "",
        fields: &[
            same("language", nn("String"), ""),
            same("timezone", nn("String"), ""),
            same("emailNotifications", nn("Boolean"), ""),
            same("pushNotifications", nn("Boolean"), ""),
        ],
    },
];

pub const ENUMS: &[EnumDef] = &[
    EnumDef {
        name: "ContentStatus",
        description: "Where an item is in the workflow: draft → review → published → archived.",
        values: &[
            ("draft", "draft"),
            ("review", "review"),
            ("published", "published"),
            ("archived", "archived"),
        ],
    },
    EnumDef {
        name: "ContentType",
        description: "",
        values: &[
            ("article", "article"),
            ("video", "video"),
            ("gallery", "gallery"),
            ("podcast", "podcast"),
        ],
    },
    EnumDef {
        name: "ContentSort",
        description: "A list's order; `…Desc` for descending.",
        values: &[
            ("createdAt", "createdAt"),
            ("createdAtDesc", "-createdAt"),
            ("updatedAt", "updatedAt"),
            ("updatedAtDesc", "-updatedAt"),
            ("publishedAt", "publishedAt"),
            ("publishedAtDesc", "-publishedAt"),
            ("title", "title"),
            ("titleDesc", "-title"),
        ],
    },
];

pub const BUILT_IN_SCALARS: [&str; 5] = ["ID", "String", "Int", "Float", "Boolean"];

pub fn object(name: &str) -> Option<&'static TypeDef> {
    TYPES.iter().find(|t| t.name == name)
}

pub fn field(type_name: &str, field: &str) -> Option<&'static FieldDef> {
    object(type_name)?.fields.iter().find(|f| f.name == field)
}

pub fn enum_def(name: &str) -> Option<&'static EnumDef> {
    ENUMS.iter().find(|e| e.name == name)
}

/// Whether values of `name` are leaves (scalars and enums): they take no selection.
pub fn is_leaf(name: &str) -> bool {
    BUILT_IN_SCALARS.contains(&name)
        || SCALARS.iter().any(|(s, _)| *s == name)
        || enum_def(name).is_some()
}

impl ArgTy {
    fn sdl(&self) -> &'static str {
        match self {
            ArgTy::Int { .. } => "Int",
            ArgTy::String => "String",
            ArgTy::Id => "ID",
            ArgTy::Enum(name) => name,
        }
    }
}

impl Ty {
    pub fn sdl(&self) -> String {
        let base = if self.list {
            format!(
                "[{}{}]",
                self.base,
                if self.item_non_null { "!" } else { "" }
            )
        } else {
            self.base.to_string()
        };
        format!("{base}{}", if self.non_null { "!" } else { "" })
    }
}

fn description(out: &mut String, indent: &str, text: &str) {
    if !text.is_empty() {
        out.push_str(&format!("{indent}\"\"\"{text}\"\"\"\n"));
    }
}

/// The schema in SDL, as served at `/api/v1/graphql/schema.graphql`.
pub fn sdl() -> String {
    let mut out = String::from(
        "# Folio GraphQL: POST /api/v1/graphql (or GET with `query`, `variables`,\n\
         # `extensions`). Reads only; introspection is off, this document is the schema.\n\
         # Limits: depth 8, cost 2000 (each field 1, list fields times their page\n\
         # size), 16 KiB of query text, 300 selected fields, 30 aliases, 10 root\n\
         # fields. Persisted queries: Apollo's `extensions.persistedQuery`.\n\n\
         schema {\n  query: Query\n}\n\n",
    );
    for (name, text) in SCALARS {
        description(&mut out, "", text);
        out.push_str(&format!("scalar {name}\n\n"));
    }
    for e in ENUMS {
        description(&mut out, "", e.description);
        out.push_str(&format!("enum {} {{\n", e.name));
        for (value, _) in e.values {
            out.push_str(&format!("  {value}\n"));
        }
        out.push_str("}\n\n");
    }
    for ty in TYPES {
        description(&mut out, "", ty.description);
        out.push_str(&format!("type {} {{\n", ty.name));
        for f in ty.fields {
            description(&mut out, "  ", f.description);
            let args = if f.args.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = f
                    .args
                    .iter()
                    .map(|a| {
                        let mut s = format!(
                            "{}: {}{}",
                            a.name,
                            a.ty.sdl(),
                            if a.required { "!" } else { "" }
                        );
                        if let Some(d) = a.default {
                            s.push_str(&format!(" = {d}"));
                        }
                        if !a.description.is_empty() {
                            s = format!("\"\"\"{}\"\"\"\n    {s}", a.description);
                        }
                        s
                    })
                    .collect();
                if f.args.iter().any(|a| !a.description.is_empty()) {
                    format!("(\n    {}\n  )", list.join("\n    "))
                } else {
                    format!("({})", list.join(", "))
                }
            };
            out.push_str(&format!("  {}{args}: {}\n", f.name, f.ty.sdl()));
        }
        out.push_str("}\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdl_parses_and_names_every_type() {
        let sdl = sdl();
        let doc = graphql_parser::parse_schema::<String>(&sdl).expect("the SDL parses");
        assert!(doc.definitions.len() >= TYPES.len() + ENUMS.len() + SCALARS.len());
        assert!(
            sdl.contains("  contents(\n    \"\"\"Page size, 1-100.\"\"\"\n    first: Int = 20\n")
        );
        assert!(sdl.contains("  author: Author\n"));
        assert!(sdl.contains("  media: [Media!]\n"));
    }

    #[test]
    fn every_field_type_is_defined() {
        for ty in TYPES {
            for f in ty.fields {
                assert!(
                    is_leaf(f.ty.base) || object(f.ty.base).is_some(),
                    "{}.{}: {} is not defined",
                    ty.name,
                    f.name,
                    f.ty.base
                );
                for a in f.args {
                    if let ArgTy::Enum(e) = a.ty {
                        assert!(enum_def(e).is_some(), "{e}");
                    }
                }
            }
        }
    }
}
