//! The read cache in the key-value store (Redis in production).
//!
//! Items: `item:{id}` holds the newest version anyone has offered, as
//! `{"version": n, "content": {...}}` or, for a version not worth caching
//! (not published), `{"version": n}` with no content: a marker that keeps
//! older versions out. Every install is a compare-and-swap that only ever
//! raises the version, so a reader that fetched an old row from the
//! database before a write committed cannot put it back after the writer
//! has installed the new one, and two writers cannot reorder.
//!
//! Lists: anonymous and consumer lists (published items only) are cached
//! under the current list generation, a counter every committed content
//! write bumps; a list cached under an older generation is never read
//! again and expires. Requests that miss the same list together compute it
//! once (`kv::fill_once`).
//!
//! Writers update both after their commit and before they answer, so a
//! read that starts after a successful write never sees what it replaced.
//! The cache is an optimisation: when the store is unreachable, reads go
//! to the database.

use folio_guest::kv::{self, Bucket, Cas, CasError};
use serde::{Deserialize, Serialize};

use crate::model::Content;
use crate::store;
use folio_guest::http::Problem;

const LIST_GENERATION: &str = "lists:generation";
const LIST_TTL_MS: u64 = 5 * 60 * 1000;
const CAS_ATTEMPTS: usize = 8;

#[derive(Serialize, Deserialize)]
struct Entry {
    version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content: Option<Content>,
}

impl Entry {
    /// `content`'s version, with the content itself only if it is public.
    fn of(content: &Content) -> Entry {
        Entry {
            version: content.version,
            content: content.is_public().then(|| content.clone()),
        }
    }

    /// What a purged item leaves: a version no write can pass.
    fn purged() -> Entry {
        Entry {
            version: i64::MAX,
            content: None,
        }
    }
}

fn bucket() -> Option<Bucket> {
    kv::open("default").ok()
}

fn item_key(id: &str) -> String {
    format!("item:{id}")
}

/// The cached item, if a published version is cached.
pub fn item(id: &str) -> Option<Content> {
    let bytes = bucket()?.get(&item_key(id)).ok()??;
    serde_json::from_slice::<Entry>(&bytes).ok()?.content
}

/// Offers a version read from the database or just committed. It is kept
/// only if it is newer than what the cache holds; its content is kept only
/// when it is published and not deleted. Returns false if the store could
/// not be updated.
pub fn offer(content: &Content) -> bool {
    install(&content.id, &Entry::of(content)).is_some()
}

/// An item purged from the database: nothing of it may be served again.
pub fn purged(id: &str) -> bool {
    install(id, &Entry::purged()).is_some()
}

fn cached_version(bytes: Option<&[u8]>) -> Option<i64> {
    bytes
        .and_then(|b| serde_json::from_slice::<Entry>(b).ok())
        .map(|e| e.version)
}

/// Installs `entry` unless the cache already holds its version or a newer
/// one: `Some(true)` if it did, `Some(false)` if it had no need, `None` if
/// the store failed.
fn install(id: &str, entry: &Entry) -> Option<bool> {
    let bucket = bucket()?;
    let bytes = serde_json::to_vec(entry).expect("cache entries serialize");
    let mut cas = Cas::new(&bucket, &item_key(id)).ok()?;
    for _ in 0..CAS_ATTEMPTS {
        let current = cas.current().ok()?;
        if cached_version(current.as_deref()).is_some_and(|v| v >= entry.version) {
            return Some(false);
        }
        match kv::swap(cas, &bytes) {
            Ok(()) => return Some(true),
            Err(CasError::CasFailed(retry)) => cas = retry,
            Err(CasError::StoreError(_)) => return None,
        }
    }
    None
}

/// The current list generation (0 before any write).
fn list_generation(bucket: &Bucket) -> Option<i64> {
    match bucket.get(LIST_GENERATION).ok()? {
        None => Some(0),
        Some(bytes) => std::str::from_utf8(&bytes).ok()?.trim().parse().ok(),
    }
}

/// The public list answer for `query`: cached under the current
/// generation, or made by `fill` (once, however many requests miss it
/// together) and cached. Without a reachable store, `fill` answers.
pub fn list_or_fill(
    query: &str,
    fill: impl FnOnce() -> Result<Vec<u8>, Problem>,
) -> Result<Vec<u8>, Problem> {
    let Some(bucket) = bucket() else {
        return fill();
    };
    let Some(generation) = list_generation(&bucket) else {
        return fill();
    };
    let key = format!("list:{generation}:{}", folio_guest::util::sha256_hex(query));
    kv::fill_once(&bucket, &key, LIST_TTL_MS, fill)
}

/// Every cached list is out of date after a content write.
pub fn lists_changed() -> bool {
    bucket().is_some_and(|b| kv::increment(&b, LIST_GENERATION, 1).is_ok())
}

/// After a committed write that turned `old` into `next`: the item's cached
/// version moves on, and so do cached lists if either version is public.
pub fn written(old: &Content, next: &Content) {
    // Lists first: a repair that finds the item current assumes they moved.
    let public = |c: &Content| c.status == "published";
    let lists_updated = !(public(old) || public(next)) || lists_changed();
    let item_updated = offer(next);
    if !(item_updated && lists_updated) {
        eprintln!(
            "content {}: the read cache could not be updated after version {}",
            next.id, next.version
        );
    }
}

/// After the event `kind` about item `id` (at `version`, when the event
/// says), written `age_ms` ago: if the cache is behind, the writer did not
/// finish its update, so this does it; an error asks for a retry. Writers
/// move the lists on before they install the item, so an item found
/// current needs nothing. A list older than the event has expired once
/// the event is older than the lists' lifetime, so a replay of old events
/// leaves the lists alone.
pub fn repair(kind: &str, id: &str, version: Option<i64>, age_ms: u64) -> Result<(), Problem> {
    if kind == "folio.content.ContentCreated" {
        // New items are drafts, which neither the item nor the list cache holds.
        return Ok(());
    }
    if kind == "folio.content.ContentImported" {
        // New too; an import moves the list generation on after each batch
        // (if it died just before, lists are stale until they expire).
        return Ok(());
    }
    let failed = || Problem::unavailable("the read cache could not be updated");
    let bucket = bucket().ok_or_else(failed)?;
    let cached = bucket.get(&item_key(id)).map_err(|_| failed())?;
    if let (Some(cached), Some(version)) = (cached_version(cached.as_deref()), version)
        && cached >= version
    {
        return Ok(());
    }
    let lists_may_be_stale = age_ms < LIST_TTL_MS;
    if cached.is_none() {
        // Nothing of this item is cached, so nothing of it can be stale.
        return if !lists_may_be_stale || lists_changed() {
            Ok(())
        } else {
            Err(failed())
        };
    }
    let entry = match store::get(&store::open()?, id)? {
        Some(content) => Entry::of(&content),
        None => Entry::purged(),
    };
    let installed = install(id, &entry);
    match installed {
        None => Err(failed()),
        Some(false) => Ok(()),
        Some(true) if !lists_may_be_stale || lists_changed() => Ok(()),
        Some(true) => Err(failed()),
    }
}
