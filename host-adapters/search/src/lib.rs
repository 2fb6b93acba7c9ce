//! Folio's search adapter: `folio:platform/search`. Each component's
//! indexes (spin.toml's `search_indexes`) are tantivy indexes under
//! `<data_dir>/search/<component>/<index>/`, held open by the host with one
//! writer each: what a per-request instance cannot keep (mmaps, indexing
//! threads, a long-lived writer).

pub mod index;
pub mod query;
pub mod runtime_config;
pub mod schema;

use std::collections::BTreeMap;
use std::path::Path;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

pub use index::{
    Document, Hit, Results, SearchError, SearchIndex, SearchQuery, Sort, WriterSettings,
};
pub use runtime_config::SearchConfig;

/// Public for `folio adapters`, which makes the shim's calls on them; their
/// serde form is the wire format of those calls.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/full-text-search",
        imports: { default: async | trappable },
        additional_derives: [serde::Serialize, serde::Deserialize],
        with: {
            "folio:platform/search.index": crate::SearchIndex,
        },
        require_store_data_send: true,
    });
}

use bindings::folio::platform::search as wit;

/// The indexes one component may open, by the names spin.toml grants.
#[derive(Clone, Default)]
pub struct ComponentIndexes {
    indexes: BTreeMap<String, SearchIndex>,
}

impl ComponentIndexes {
    /// Adds `index` under `name`: one the host already holds open.
    pub fn insert(&mut self, name: String, index: SearchIndex) {
        self.indexes.insert(name, index);
    }

    pub fn open(
        component: &str,
        granted: &[String],
        root: &Path,
        settings: WriterSettings,
    ) -> anyhow::Result<ComponentIndexes> {
        let mut indexes = BTreeMap::new();
        for name in granted {
            let dir = root.join(component).join(name);
            let index = SearchIndex::open(&dir, settings).map_err(|e| {
                anyhow::anyhow!("search index {component}/{name} ({}): {e:#}", dir.display())
            })?;
            indexes.insert(name.clone(), index);
        }
        Ok(ComponentIndexes { indexes })
    }

    pub fn get(&self, name: &str) -> Option<&SearchIndex> {
        self.indexes.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &SearchIndex)> {
        self.indexes.iter()
    }
}

pub struct SearchView<'a> {
    pub table: &'a mut ResourceTable,
    pub indexes: &'a ComponentIndexes,
    /// The calling instance's W3C trace context, for the calls' spans.
    pub traceparent: &'a str,
}

struct SearchData;

impl HasData for SearchData {
    type Data<'a> = SearchView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> SearchView<'_>,
) -> anyhow::Result<()> {
    wit::add_to_linker::<T, SearchData>(linker, view)?;
    Ok(())
}

type Result<T, E = wit::Error> = wasmtime::Result<std::result::Result<T, E>>;

impl From<SearchError> for wit::Error {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::InvalidArgument(m) => wit::Error::InvalidArgument(m),
            SearchError::Unavailable(m) => wit::Error::Unavailable(m),
        }
    }
}

fn document(d: wit::Document) -> Document {
    Document {
        id: d.id,
        version: d.version,
        title: d.title,
        body: d.body,
        keywords: d.keywords,
        time: d.time,
    }
}

fn hit(h: Hit) -> wit::Hit {
    wit::Hit {
        id: h.id,
        score: h.score,
        title: h.title,
        snippet: h.snippet,
        time: h.time,
        keywords: h.keywords,
    }
}

impl SearchView<'_> {
    fn index(&self, index: &Resource<SearchIndex>) -> wasmtime::Result<SearchIndex> {
        Ok(self.table.get(index)?.clone())
    }
}

/// Runs `call` on `index`, reported to the host's tracing.
async fn traced<T>(
    traceparent: &str,
    index: &SearchIndex,
    operation: &'static str,
    call: impl Future<Output = std::result::Result<T, SearchError>>,
) -> std::result::Result<T, wit::Error> {
    let site = folio_observe::Site {
        traceparent,
        capability: "search",
        system: "tantivy",
        operation,
        target: Some(index.name()),
        statement: None,
    };
    folio_observe::observed(site, call)
        .await
        .map_err(Into::into)
}

impl wit::Host for SearchView<'_> {}

impl wit::HostIndex for SearchView<'_> {
    async fn open(&mut self, name: String) -> Result<Resource<SearchIndex>> {
        let Some(index) = self.indexes.get(&name) else {
            return Ok(Err(wit::Error::NoSuchIndex(name)));
        };
        let index = index.clone();
        Ok(Ok(self.table.push(index)?))
    }

    async fn upsert(
        &mut self,
        index: Resource<SearchIndex>,
        documents: Vec<wit::Document>,
    ) -> Result<()> {
        let index = self.index(&index)?;
        let docs = documents.into_iter().map(document).collect();
        Ok(traced(self.traceparent, &index, "upsert", index.upsert(docs)).await)
    }

    async fn delete(
        &mut self,
        index: Resource<SearchIndex>,
        ids: Vec<String>,
        version: i64,
    ) -> Result<()> {
        let index = self.index(&index)?;
        Ok(traced(
            self.traceparent,
            &index,
            "delete",
            index.delete(ids, version),
        )
        .await)
    }

    async fn search(
        &mut self,
        index: Resource<SearchIndex>,
        q: wit::Query,
    ) -> Result<wit::Results> {
        let index = self.index(&index)?;
        let query = SearchQuery {
            text: q.text,
            filters: q.filters,
            time_from: q.time_from,
            time_to: q.time_to,
            sort: match q.sort {
                wit::SortOrder::Relevance => Sort::Relevance,
                wit::SortOrder::NewestFirst => Sort::NewestFirst,
                wit::SortOrder::OldestFirst => Sort::OldestFirst,
            },
            offset: q.offset,
            limit: q.limit,
            facets: q.facets,
            facet_limit: q.facet_limit,
            snippet_chars: q.snippet_chars,
        };
        Ok(
            traced(self.traceparent, &index, "search", index.search(query))
                .await
                .map(|r| wit::Results {
                    total: r.total,
                    hits: r.hits.into_iter().map(hit).collect(),
                    facets: r
                        .facets
                        .into_iter()
                        .map(|(field, values)| wit::FacetCount { field, values })
                        .collect(),
                }),
        )
    }

    async fn suggest(
        &mut self,
        index: Resource<SearchIndex>,
        text: String,
        filters: Vec<wit::AnyOf>,
        limit: u32,
    ) -> Result<Vec<wit::Suggestion>> {
        let index = self.index(&index)?;
        let suggest = index.suggest(text, filters, limit);
        Ok(traced(self.traceparent, &index, "suggest", suggest)
            .await
            .map(|found| {
                found
                    .into_iter()
                    .map(|(id, title)| wit::Suggestion { id, title })
                    .collect()
            }))
    }

    async fn more_like_this(
        &mut self,
        index: Resource<SearchIndex>,
        id: String,
        shared: Vec<String>,
        filters: Vec<wit::AnyOf>,
        limit: u32,
    ) -> Result<Vec<wit::Hit>> {
        let index = self.index(&index)?;
        let related = index.more_like_this(id, shared, filters, limit);
        Ok(traced(self.traceparent, &index, "more-like-this", related)
            .await
            .map(|hits| hits.into_iter().map(hit).collect()))
    }

    async fn stats(&mut self, index: Resource<SearchIndex>) -> Result<wit::IndexStats> {
        let index = self.index(&index)?;
        Ok(Ok(wit::IndexStats {
            documents: index.documents(),
            rebuilding: index.rebuild_id(),
        }))
    }

    async fn begin_rebuild(&mut self, index: Resource<SearchIndex>) -> Result<String> {
        let index = self.index(&index)?;
        Ok(traced(
            self.traceparent,
            &index,
            "begin-rebuild",
            index.begin_rebuild(),
        )
        .await)
    }

    async fn rebuild_upsert(
        &mut self,
        index: Resource<SearchIndex>,
        rebuild: String,
        documents: Vec<wit::Document>,
    ) -> Result<()> {
        let index = self.index(&index)?;
        let docs = documents.into_iter().map(document).collect();
        let upsert = index.rebuild_upsert(&rebuild, docs);
        Ok(traced(self.traceparent, &index, "rebuild-upsert", upsert).await)
    }

    async fn finish_rebuild(
        &mut self,
        index: Resource<SearchIndex>,
        rebuild: String,
    ) -> Result<u64> {
        let index = self.index(&index)?;
        let finish = index.finish_rebuild(&rebuild);
        Ok(traced(self.traceparent, &index, "finish-rebuild", finish).await)
    }

    async fn abandon_rebuild(
        &mut self,
        index: Resource<SearchIndex>,
        rebuild: String,
    ) -> Result<()> {
        let index = self.index(&index)?;
        let abandon = index.abandon_rebuild(&rebuild);
        Ok(traced(self.traceparent, &index, "abandon-rebuild", abandon).await)
    }

    async fn drop(&mut self, index: Resource<SearchIndex>) -> wasmtime::Result<()> {
        self.table.delete(index)?;
        Ok(())
    }
}
