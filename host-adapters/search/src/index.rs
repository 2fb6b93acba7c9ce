//! One index: a live generation that answers searches and takes writes,
//! and at most one generation being rebuilt beside it. Writes are applied to
//! the generation's `IndexWriter` at once and committed together on a short
//! interval (group commit); a write returns when the commit holding it is
//! durable and visible, so a worker that acknowledges its event after the
//! write never loses it to a crash.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tantivy::collector::{Count, FacetCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, BoostQuery, MoreLikeThisQuery, Occur, Query, TermQuery};
use tantivy::schema::{Facet, IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument,
    Term,
};
use tokio::sync::oneshot;

use crate::query::{self, AnyOf, keyword_facet};
use crate::schema::{self, Fields, tokens, words_analyzer};

#[derive(Debug, Clone, PartialEq)]
pub enum SearchError {
    InvalidArgument(String),
    Unavailable(String),
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Unavailable(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, SearchError>;

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: String,
    pub version: i64,
    pub title: String,
    pub body: String,
    pub keywords: Vec<(String, String)>,
    pub time: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Relevance,
    NewestFirst,
    OldestFirst,
}

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    pub filters: Vec<AnyOf>,
    pub time_from: Option<i64>,
    pub time_to: Option<i64>,
    pub sort: Sort,
    pub offset: u32,
    pub limit: u32,
    pub facets: Vec<String>,
    pub facet_limit: u32,
    pub snippet_chars: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub score: f32,
    pub title: String,
    pub snippet: String,
    pub time: Option<i64>,
    pub keywords: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    pub total: u64,
    pub hits: Vec<Hit>,
    pub facets: Vec<(String, Vec<(String, u64)>)>,
}

pub const MAX_BATCH: usize = 1000;
pub const MAX_OFFSET: u32 = 10_000;
pub const MAX_LIMIT: u32 = 100;
const MAX_FIELD_BYTES: usize = 1 << 20;

/// How generations are written: the writer's threads and memory, and how
/// long writes wait to be committed together.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    pub threads: usize,
    pub memory_bytes: usize,
    pub commit_interval: Duration,
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings {
            threads: 2,
            memory_bytes: 64 << 20,
            commit_interval: Duration::from_millis(100),
        }
    }
}

struct Writing {
    writer: IndexWriter,
    /// The newest version written (or deleted, as a tombstone) of each id.
    versions: HashMap<String, i64>,
    /// Writers waiting for the next commit.
    waiters: Vec<oneshot::Sender<Result<()>>>,
    dirty: bool,
}

struct Generation {
    name: String,
    dir: PathBuf,
    reader: IndexReader,
    fields: Fields,
    writing: Mutex<Writing>,
}

impl Generation {
    fn open(dir: &Path, settings: &WriterSettings) -> anyhow::Result<Arc<Generation>> {
        std::fs::create_dir_all(dir)?;
        let (schema, _) = schema::schema();
        let index = Index::open_or_create(MmapDirectory::open(dir)?, schema)?;
        schema::register_analyzers(&index);
        let fields = schema::fields_of(&index.schema())?;
        let writer = index.writer_with_num_threads(settings.threads, settings.memory_bytes)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let versions = read_versions(&reader.searcher())?;
        Ok(Arc::new(Generation {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir: dir.to_path_buf(),
            reader,
            fields,
            writing: Mutex::new(Writing {
                writer,
                versions,
                waiters: Vec::new(),
                dirty: false,
            }),
        }))
    }

    /// Applies writes that are newer than what the generation holds;
    /// whether any was.
    fn apply(&self, docs: &[Document]) -> Result<bool> {
        let mut w = self.writing.lock().unwrap();
        let mut applied = false;
        for doc in docs {
            match w.versions.get(&doc.id) {
                Some(&v) if v >= doc.version => continue,
                Some(_) => {
                    w.writer
                        .delete_term(Term::from_field_text(self.fields.id, &doc.id));
                }
                None => {}
            }
            w.writer.add_document(self.to_tantivy(doc))?;
            w.versions.insert(doc.id.clone(), doc.version);
            applied = true;
        }
        w.dirty |= applied;
        Ok(applied)
    }

    /// Removes what it holds of `ids` older than `version` and remembers
    /// the deletion; whether the index changed.
    fn apply_delete(&self, ids: &[String], version: i64) -> bool {
        let mut w = self.writing.lock().unwrap();
        let mut changed = false;
        for id in ids {
            match w.versions.get(id) {
                Some(&v) if v >= version => continue,
                // Nothing of it is indexed (the map knows every document).
                None => {}
                Some(_) => {
                    w.writer
                        .delete_term(Term::from_field_text(self.fields.id, id));
                    changed = true;
                }
            }
            w.versions.insert(id.clone(), version);
        }
        w.dirty |= changed;
        changed
    }

    fn to_tantivy(&self, doc: &Document) -> TantivyDocument {
        let f = &self.fields;
        let mut out = TantivyDocument::default();
        out.add_text(f.id, &doc.id);
        out.add_i64(f.version, doc.version);
        out.add_text(f.title, &doc.title);
        out.add_text(f.title_words, &doc.title);
        out.add_text(f.body, &doc.body);
        out.add_text(f.body_words, &doc.body);
        for (field, value) in &doc.keywords {
            out.add_facet(f.keywords, keyword_facet(field, value));
        }
        if let Some(time) = doc.time {
            out.add_i64(f.time, time);
        }
        out
    }

    /// Commits what was written and wakes the writers waiting for it.
    fn commit(&self) -> Result<()> {
        let mut w = self.writing.lock().unwrap();
        if !w.dirty && w.waiters.is_empty() {
            return Ok(());
        }
        let outcome = match w.dirty {
            true => w
                .writer
                .commit()
                .map(drop)
                .and_then(|_| self.reader.reload())
                .map_err(|e| SearchError::Unavailable(format!("commit failed: {e}"))),
            false => Ok(()),
        };
        w.dirty = false;
        for waiter in w.waiters.drain(..) {
            let _ = waiter.send(outcome.clone());
        }
        outcome
    }

    fn wait_for_commit(&self) -> oneshot::Receiver<Result<()>> {
        let (tx, rx) = oneshot::channel();
        self.writing.lock().unwrap().waiters.push(tx);
        rx
    }

    fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }
}

/// The newest version of every document in the index, read from its
/// fast fields at open.
fn read_versions(searcher: &Searcher) -> tantivy::Result<HashMap<String, i64>> {
    let mut versions = HashMap::new();
    for segment in searcher.segment_readers() {
        let fast = segment.fast_fields();
        let Some(ids) = fast.str("id")? else {
            continue;
        };
        let version = fast.i64("version")?;
        let mut id = String::new();
        for doc in segment.doc_ids_alive() {
            let Some(ord) = ids.term_ords(doc).next() else {
                continue;
            };
            id.clear();
            ids.ord_to_str(ord, &mut id)?;
            versions.insert(id.clone(), version.first(doc).unwrap_or(0));
        }
    }
    Ok(versions)
}

/// A full-text index on disk under `<dir>`: generations in `g-*` folders,
/// the live one named by the file `LIVE` (replaced atomically on a swap).
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    settings: WriterSettings,
    live: RwLock<Arc<Generation>>,
    rebuild: Mutex<Option<Arc<Generation>>>,
}

fn new_generation_name() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("g-{millis}-{:08x}", rand::random::<u32>())
}

impl SearchIndex {
    /// Opens (or creates) the index in `dir`, drops generations left by an
    /// unfinished rebuild, and starts its committer.
    /// The grant's name: the index's directory.
    pub fn name(&self) -> &str {
        self.inner
            .dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    }

    pub fn open(dir: &Path, settings: WriterSettings) -> anyhow::Result<SearchIndex> {
        std::fs::create_dir_all(dir)?;
        let live_file = dir.join("LIVE");
        let live_name = match std::fs::read_to_string(&live_file) {
            Ok(name) => name.trim().to_string(),
            Err(_) => {
                let name = new_generation_name();
                write_atomically(&live_file, &name)?;
                name
            }
        };
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("g-") && name != live_name {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let live = Generation::open(&dir.join(&live_name), &settings)?;
        let index = SearchIndex {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                settings,
                live: RwLock::new(live),
                rebuild: Mutex::new(None),
            }),
        };
        index.start_committer();
        Ok(index)
    }

    fn start_committer(&self) {
        let weak = Arc::downgrade(&self.inner);
        let interval = self.inner.settings.commit_interval;
        let spawn = move || {
            loop {
                std::thread::sleep(interval);
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let live = inner.live.read().unwrap().clone();
                if let Err(SearchError::Unavailable(e)) = live.commit() {
                    tracing::warn!(index = %inner.dir.display(), "search index commit failed: {e}");
                }
            }
        };
        std::thread::Builder::new()
            .name("folio-search-commit".into())
            .spawn(spawn)
            .expect("the committer thread starts");
    }

    fn live(&self) -> Arc<Generation> {
        self.inner.live.read().unwrap().clone()
    }

    fn rebuilding(&self) -> Option<Arc<Generation>> {
        self.inner.rebuild.lock().unwrap().clone()
    }

    /// Adds or replaces `docs` in the live generation (and a rebuild in
    /// progress), returning once they are committed.
    pub async fn upsert(&self, docs: Vec<Document>) -> Result<()> {
        check_documents(&docs)?;
        let live = self.live();
        let rebuild = self.rebuilding();
        let waiter = blocking(move || {
            let changed = live.apply(&docs)?;
            if let Some(rebuild) = rebuild {
                rebuild.apply(&docs)?;
            }
            Ok(changed.then(|| live.wait_for_commit()))
        })
        .await?;
        committed(waiter).await
    }

    /// Removes `ids`, remembering `version`, and returns once committed.
    pub async fn delete(&self, ids: Vec<String>, version: i64) -> Result<()> {
        if ids.len() > MAX_BATCH {
            return Err(SearchError::InvalidArgument(format!(
                "at most {MAX_BATCH} ids per call"
            )));
        }
        let live = self.live();
        let rebuild = self.rebuilding();
        let waiter = blocking(move || {
            let changed = live.apply_delete(&ids, version);
            if let Some(rebuild) = rebuild {
                rebuild.apply_delete(&ids, version);
            }
            Ok(changed.then(|| live.wait_for_commit()))
        })
        .await?;
        committed(waiter).await
    }

    pub async fn search(&self, q: SearchQuery) -> Result<Results> {
        check_query(&q)?;
        let live = self.live();
        blocking(move || search(&live, &q)).await
    }

    pub async fn suggest(
        &self,
        text: String,
        filters: Vec<AnyOf>,
        limit: u32,
    ) -> Result<Vec<(String, String)>> {
        check_text(&text)?;
        check_filters(&filters)?;
        let live = self.live();
        blocking(move || suggest(&live, &text, &filters, limit.clamp(1, 20))).await
    }

    pub async fn more_like_this(
        &self,
        id: String,
        shared: Vec<String>,
        filters: Vec<AnyOf>,
        limit: u32,
    ) -> Result<Vec<Hit>> {
        check_filters(&filters)?;
        for field in &shared {
            check_field_name(field)?;
        }
        let live = self.live();
        blocking(move || more_like_this(&live, &id, &shared, &filters, limit.clamp(1, MAX_LIMIT)))
            .await
    }

    pub fn documents(&self) -> u64 {
        self.live().searcher().num_docs()
    }

    pub fn rebuild_id(&self) -> Option<String> {
        self.rebuilding().map(|g| g.name.clone())
    }

    /// Starts a new generation beside the live one (abandoning any other).
    pub async fn begin_rebuild(&self) -> Result<String> {
        let inner = self.inner.clone();
        blocking(move || {
            let mut slot = inner.rebuild.lock().unwrap();
            if let Some(old) = slot.take() {
                discard(old);
            }
            let name = new_generation_name();
            let generation = Generation::open(&inner.dir.join(&name), &inner.settings)
                .map_err(|e| SearchError::Unavailable(format!("cannot start a rebuild: {e:#}")))?;
            *slot = Some(generation);
            Ok(name)
        })
        .await
    }

    fn rebuild_named(&self, rebuild: &str) -> Result<Arc<Generation>> {
        self.rebuilding()
            .filter(|g| g.name == rebuild)
            .ok_or_else(|| {
                SearchError::InvalidArgument(format!(
                    "no rebuild {rebuild} is in progress (it finished, was abandoned, or the host restarted)"
                ))
            })
    }

    /// Adds documents to the rebuild only; they are committed when it finishes.
    pub async fn rebuild_upsert(&self, rebuild: &str, docs: Vec<Document>) -> Result<()> {
        check_documents(&docs)?;
        let generation = self.rebuild_named(rebuild)?;
        blocking(move || generation.apply(&docs).map(drop)).await
    }

    /// Commits the rebuild and makes it the live generation; returns its
    /// number of documents.
    pub async fn finish_rebuild(&self, rebuild: &str) -> Result<u64> {
        let generation = self.rebuild_named(rebuild)?;
        let inner = self.inner.clone();
        blocking(move || {
            {
                let mut w = generation.writing.lock().unwrap();
                w.dirty = true;
            }
            generation.commit()?;
            let mut slot = inner.rebuild.lock().unwrap();
            if !slot.as_ref().is_some_and(|g| Arc::ptr_eq(g, &generation)) {
                return Err(SearchError::InvalidArgument(
                    "the rebuild was abandoned".into(),
                ));
            }
            write_atomically(&inner.dir.join("LIVE"), &generation.name)
                .map_err(|e| SearchError::Unavailable(format!("cannot swap generations: {e}")))?;
            let old = std::mem::replace(&mut *inner.live.write().unwrap(), generation.clone());
            *slot = None;
            drop(slot);
            // Writers that joined the old generation's next commit still get it.
            let _ = old.commit();
            discard(old);
            Ok(generation.searcher().num_docs())
        })
        .await
    }

    pub async fn abandon_rebuild(&self, rebuild: &str) -> Result<()> {
        let generation = self.rebuild_named(rebuild)?;
        let inner = self.inner.clone();
        blocking(move || {
            let mut slot = inner.rebuild.lock().unwrap();
            if slot.as_ref().is_some_and(|g| Arc::ptr_eq(g, &generation)) {
                *slot = None;
                discard(generation);
            }
            Ok(())
        })
        .await
    }

    /// Commits pending writes now (tests, shutdown).
    pub fn commit_now(&self) -> Result<()> {
        self.live().commit()
    }
}

/// Waits for the commit that holds a write; nothing to wait for when the
/// write changed nothing (an older version, an unknown id deleted).
async fn committed(waiter: Option<oneshot::Receiver<Result<()>>>) -> Result<()> {
    match waiter {
        None => Ok(()),
        Some(waiter) => waiter
            .await
            .unwrap_or_else(|_| Err(SearchError::Unavailable("the index closed".into()))),
    }
}

/// Deletes a generation's files once nothing uses it (searches in flight
/// keep their segments open; on Unix their mmaps outlive the unlink).
fn discard(generation: Arc<Generation>) {
    let dir = generation.dir.clone();
    drop(generation);
    let _ = std::fs::remove_dir_all(dir);
}

fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(SearchError::Unavailable(format!("search task failed: {e}"))))
}

fn invalid(message: impl Into<String>) -> SearchError {
    SearchError::InvalidArgument(message.into())
}

pub fn check_field_name(field: &str) -> Result<()> {
    let ok = (1..=32).contains(&field.len())
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match ok {
        true => Ok(()),
        false => Err(invalid(format!(
            "keyword field names are 1-32 of a-z, A-Z, 0-9, _: {field:?}"
        ))),
    }
}

fn check_keyword_value(value: &str) -> Result<()> {
    if value.is_empty() || value.len() > 256 || value.contains('\0') {
        return Err(invalid("keyword values are 1-256 bytes without NUL"));
    }
    Ok(())
}

fn check_documents(docs: &[Document]) -> Result<()> {
    if docs.len() > MAX_BATCH {
        return Err(invalid(format!("at most {MAX_BATCH} documents per call")));
    }
    for doc in docs {
        if doc.id.is_empty() || doc.id.len() > 256 {
            return Err(invalid("document ids are 1-256 bytes"));
        }
        if doc.title.len() > MAX_FIELD_BYTES || doc.body.len() > MAX_FIELD_BYTES {
            return Err(invalid(format!(
                "document {}: title and body are at most 1 MiB each",
                doc.id
            )));
        }
        for (field, value) in &doc.keywords {
            check_field_name(field)?;
            check_keyword_value(value)?;
        }
    }
    Ok(())
}

fn check_text(text: &str) -> Result<()> {
    match text.len() > query::MAX_TEXT_BYTES {
        true => Err(invalid(format!(
            "query text is at most {} bytes",
            query::MAX_TEXT_BYTES
        ))),
        false => Ok(()),
    }
}

fn check_filters(filters: &[AnyOf]) -> Result<()> {
    if filters.len() > 32 || filters.iter().any(|c| c.is_empty() || c.len() > 100) {
        return Err(invalid(
            "at most 32 filter clauses, each of 1 to 100 (field, value) pairs",
        ));
    }
    for (field, value) in filters.iter().flatten() {
        check_field_name(field)?;
        check_keyword_value(value)?;
    }
    Ok(())
}

fn check_query(q: &SearchQuery) -> Result<()> {
    check_text(&q.text)?;
    check_filters(&q.filters)?;
    if q.offset > MAX_OFFSET {
        return Err(invalid(format!("offset is at most {MAX_OFFSET}")));
    }
    if q.limit > MAX_LIMIT {
        return Err(invalid(format!("limit is at most {MAX_LIMIT}")));
    }
    if q.facets.len() > 16 {
        return Err(invalid("at most 16 facets"));
    }
    for facet in &q.facets {
        check_field_name(facet)?;
    }
    Ok(())
}

/// Words as typed first (the last also as a prefix of title words); typos
/// and body prefixes only when those do not fill the page (as Typesense's
/// `typo_tokens_threshold`): expanding words to their neighbours costs most
/// of a query's time, and is only needed when the words as typed find too
/// little. Measured on 100,000 documents: 2.3 ms a query with every
/// expansion, 1.5 without.
fn search(generation: &Generation, q: &SearchQuery) -> Result<Results> {
    search_with(generation, q, false)
}

fn search_with(generation: &Generation, q: &SearchQuery, broad: bool) -> Result<Results> {
    let fields = &generation.fields;
    let searcher = generation.searcher();
    let (scored, highlight) = query::text_query(fields, &q.text, broad);
    let all_clauses: Vec<&AnyOf> = q.filters.iter().collect();
    let time = || query::time_query(fields, q.time_from, q.time_to);
    let full = query::filtered(fields, scored.box_clone(), &all_clauses, time());

    // Facets on fields that no clause filters are counted with the page;
    // each other one without the clauses made only of its own values, so it
    // shows the alternatives. A clause that also names another field (a
    // caller's "published, or mine") always applies: counts never include
    // what the caller may not read.
    let names_field = |clause: &AnyOf, facet: &str| clause.iter().all(|(f, _)| f == facet);
    let (free, constrained): (Vec<&String>, Vec<&String>) = q
        .facets
        .iter()
        .partition(|facet| !q.filters.iter().any(|c| names_field(c, facet)));
    // Counting facets reads every match's keywords: only when asked.
    let facet_collector = (!free.is_empty()).then(|| {
        let mut collector = FacetCollector::for_field("keywords");
        for facet in &free {
            collector.add_facet(Facet::from_path([String::as_str(facet)]));
        }
        collector
    });
    let window = TopDocs::with_limit(q.limit.max(1) as usize).and_offset(q.offset as usize);
    let (page, total, counts): (Vec<(f32, DocAddress)>, usize, _) = match q.sort {
        Sort::Relevance => {
            let (page, total, counts) =
                searcher.search(&full, &(window.order_by_score(), Count, facet_collector))?;
            (page, total, counts)
        }
        Sort::NewestFirst | Sort::OldestFirst => {
            let order = match q.sort {
                Sort::OldestFirst => Order::Asc,
                _ => Order::Desc,
            };
            let (page, total, counts) = searcher.search(
                &full,
                &(
                    window.order_by_fast_field::<i64>("time", order),
                    Count,
                    facet_collector,
                ),
            )?;
            let page = page.into_iter().map(|(_, addr)| (0.0, addr)).collect();
            (page, total, counts)
        }
    };
    // Decided on the count alone, before facets and snippets are worked out.
    let wanted = u64::from(q.offset) + u64::from(q.limit.max(1));
    if !broad && (total as u64) < wanted && query::can_broaden(&q.text) {
        return search_with(generation, q, true);
    }
    let page = if q.limit == 0 { Vec::new() } else { page };
    let facet_limit = q.facet_limit.clamp(1, 100) as usize;
    let top = |counts: &tantivy::collector::FacetCounts, facet: &str| -> Vec<(String, u64)> {
        counts
            .top_k(Facet::from_path([facet]), facet_limit)
            .into_iter()
            .filter_map(|(f, n)| Some((f.to_path().get(1)?.to_string(), n)))
            .collect()
    };
    let mut facets: BTreeMap<&str, Vec<(String, u64)>> = BTreeMap::new();
    if let Some(counts) = &counts {
        for facet in &free {
            facets.insert(facet, top(counts, facet));
        }
    }
    for facet in &constrained {
        let others: Vec<&AnyOf> = q
            .filters
            .iter()
            .filter(|c| !names_field(c, facet))
            .collect();
        let without = query::filtered(fields, scored.box_clone(), &others, time());
        let mut collector = FacetCollector::for_field("keywords");
        collector.add_facet(Facet::from_path([String::as_str(facet)]));
        let counts = searcher.search(&without, &collector)?;
        facets.insert(facet, top(&counts, facet));
    }
    let snippets = match q.snippet_chars {
        0 => None,
        chars => {
            let terms = highlight.iter().map(|t| (t.clone(), 1.0)).collect();
            let analyzer = searcher.index().tokenizer_for_field(fields.body)?;
            let mut generator = SnippetGenerator::new(terms, analyzer, fields.body, chars as usize);
            generator.set_max_num_chars(chars as usize);
            Some(Snippets {
                generator,
                stems: highlight,
                chars: chars as usize,
            })
        }
    };
    let hits = page
        .into_iter()
        .map(|(score, addr)| hit(&searcher, fields, addr, score, snippets.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    Ok(Results {
        total: total as u64,
        hits,
        facets: q
            .facets
            .iter()
            .map(|f| (f.clone(), facets.remove(f.as_str()).unwrap_or_default()))
            .collect(),
    })
}

/// Snippets of one search: the generator, and the stems it highlights.
struct Snippets {
    generator: SnippetGenerator,
    stems: Vec<String>,
    chars: usize,
}

impl Snippets {
    /// Tokenizing (and stemming) a whole body to place its snippet costs
    /// more than the rest of a search, so the generator reads only a window
    /// around the first place a stem appears (stems are prefixes of their
    /// words); with none, the body's start.
    fn of(&self, body: &str) -> String {
        let window = window_around_stems(body, &self.stems, self.chars);
        let mut snippet = self.generator.snippet(window);
        snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
        match snippet.is_empty() {
            false => snippet.to_html(),
            true => lead(body, self.chars),
        }
    }
}

/// About `2 * chars` bytes of `body` around the first word starting with
/// one of `stems` (ASCII case ignored), cut at whitespace.
fn window_around_stems<'a>(body: &'a str, stems: &[String], chars: usize) -> &'a str {
    let lower = body.to_ascii_lowercase();
    let at_word_start = |i: usize| {
        lower[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    };
    let first = stems
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|stem| {
            lower
                .match_indices(stem.as_str())
                .map(|(i, _)| i)
                .find(|&i| at_word_start(i))
        })
        .min()
        .unwrap_or(0);
    let floor = |mut i: usize| {
        while !body.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(first.saturating_sub(chars / 2));
    let start = match start {
        0 => 0,
        s => body[s..].find(char::is_whitespace).map_or(s, |w| s + w),
    };
    let end = floor((start + 2 * chars).min(body.len()));
    let end = match end == body.len() {
        true => end,
        false => body[..end]
            .rfind(char::is_whitespace)
            .filter(|&e| e > start)
            .unwrap_or(end),
    };
    &body[start..end]
}

fn hit(
    searcher: &Searcher,
    fields: &Fields,
    addr: DocAddress,
    score: f32,
    snippets: Option<&Snippets>,
) -> Result<Hit> {
    let doc: TantivyDocument = searcher.doc(addr)?;
    let text = |field| {
        doc.get_first(field)
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let snippet = snippets.map_or_else(String::new, |s| s.of(&text(fields.body)));
    let keywords = keywords_of(&doc, fields);
    Ok(Hit {
        id: text(fields.id),
        score,
        title: text(fields.title),
        snippet,
        time: doc.get_first(fields.time).and_then(|v| v.as_i64()),
        keywords,
    })
}

/// A document's keyword fields, from their stored facets (`field\0value`).
fn keywords_of(doc: &TantivyDocument, fields: &Fields) -> Vec<(String, String)> {
    doc.get_all(fields.keywords)
        .filter_map(|v| v.as_facet())
        .filter_map(|encoded| {
            let (field, value) = encoded.split_once('\0')?;
            Some((field.to_string(), value.to_string()))
        })
        .collect()
}

/// The start of `text`, cut at a word boundary and HTML-escaped.
fn lead(text: &str, chars: usize) -> String {
    let mut end = text.len();
    if let Some((i, _)) = text.char_indices().nth(chars) {
        end = text[..i].rfind(char::is_whitespace).unwrap_or(i);
    }
    let mut out = String::with_capacity(end + 8);
    for c in text[..end].trim().chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn suggest(
    generation: &Generation,
    text: &str,
    filters: &[AnyOf],
    limit: u32,
) -> Result<Vec<(String, String)>> {
    let fields = &generation.fields;
    let words = tokens(&mut words_analyzer(), text);
    let Some((last, before)) = words.split_last() else {
        return Ok(Vec::new());
    };
    let mut required: Vec<(Occur, Box<dyn Query>)> = before
        .iter()
        .map(|w| {
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(fields.title_words, w),
                    IndexRecordOption::Basic,
                )) as Box<dyn Query>,
            )
        })
        .collect();
    required.push((
        Occur::Must,
        Box::new(tantivy::query::FuzzyTermQuery::new_prefix(
            Term::from_field_text(fields.title_words, last),
            0,
            true,
        )),
    ));
    let clauses: Vec<&AnyOf> = filters.iter().collect();
    let query = query::filtered(
        fields,
        Box::new(BooleanQuery::new(required)),
        &clauses,
        None,
    );
    let searcher = generation.searcher();
    let page = searcher.search(
        &query,
        &TopDocs::with_limit(limit as usize).order_by_fast_field::<i64>("time", Order::Desc),
    )?;
    page.into_iter()
        .map(|(_, addr)| {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let text = |field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            };
            Ok((text(fields.id), text(fields.title)))
        })
        .collect()
}

fn more_like_this(
    generation: &Generation,
    id: &str,
    shared: &[String],
    filters: &[AnyOf],
    limit: u32,
) -> Result<Vec<Hit>> {
    let fields = &generation.fields;
    let searcher = generation.searcher();
    let id_term = Term::from_field_text(fields.id, id);
    let found = searcher.search(
        &TermQuery::new(id_term.clone(), IndexRecordOption::Basic),
        &TopDocs::with_limit(1).order_by_score(),
    )?;
    let Some((_, addr)) = found.into_iter().next() else {
        return Ok(Vec::new());
    };
    let source: TantivyDocument = searcher.doc(addr)?;
    let title = source
        .get_first(fields.title)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let body = source
        .get_first(fields.body)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let words = MoreLikeThisQuery::builder()
        .with_min_doc_frequency(1)
        .with_max_doc_frequency((searcher.num_docs() / 2).max(2))
        .with_min_term_frequency(1)
        .with_max_query_terms(25)
        .with_min_word_length(3)
        .with_document_fields(vec![
            (fields.title, vec![tantivy::schema::OwnedValue::Str(title)]),
            (fields.body, vec![tantivy::schema::OwnedValue::Str(body)]),
        ]);
    let mut likeness: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Should, Box::new(words))];
    for (field, value) in keywords_of(&source, fields) {
        if shared.contains(&field) {
            likeness.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_facet(fields.keywords, &keyword_facet(&field, &value)),
                        IndexRecordOption::Basic,
                    )),
                    2.0,
                )),
            ));
        }
    }
    let mut all: Vec<(Occur, Box<dyn Query>)> = vec![
        (Occur::Must, Box::new(BooleanQuery::new(likeness))),
        (
            Occur::MustNot,
            Box::new(TermQuery::new(id_term, IndexRecordOption::Basic)),
        ),
    ];
    all.extend(
        filters
            .iter()
            .map(|c| (Occur::Must, query::clause_query(fields, c))),
    );
    let page = searcher.search(
        &BooleanQuery::new(all),
        &TopDocs::with_limit(limit as usize).order_by_score(),
    )?;
    page.into_iter()
        .map(|(score, addr)| hit(&searcher, fields, addr, score, None))
        .collect()
}
