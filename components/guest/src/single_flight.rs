//! One fill for a cache entry however many requests miss it at once. Each
//! request is its own instance, so the requests agree through the store: the
//! first to claim a short lease on the entry computes it; the others poll the
//! entry for a little while and, if it does not come (the filler died or is
//! slow), compute it themselves. A lease holds a deadline and also expires
//! in the store, so a filler that dies mid-fill holds nobody up for long.

use std::time::Duration;

use crate::bindings::folio::platform::kv_expiry::set_with_ttl;
use crate::bindings::wasi::keyvalue::atomics::{Cas, swap};
use crate::bindings::wasi::keyvalue::store::Bucket;
use crate::util::now_ms;

/// How long a filler may hold the lease before others take over.
const LEASE_MS: i64 = 2_000;
/// How long a request waits for another's fill before filling itself.
const WAIT: Duration = Duration::from_millis(300);
const POLL: Duration = Duration::from_millis(5);

/// The value cached under `key`, or the one `fill` computes, stored for
/// `ttl_ms`. When several requests miss together, one of them fills and
/// the rest read its answer. A store that cannot be reached only costs the
/// coalescing: `fill` runs.
pub fn fill_once<E>(
    bucket: &Bucket,
    key: &str,
    ttl_ms: u64,
    fill: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, E> {
    if let Ok(Some(cached)) = bucket.get(key) {
        return Ok(cached);
    }
    let lease = format!("{key}:filling");
    if claim(bucket, &lease) {
        // Another filler may have finished between the miss and the claim.
        if let Ok(Some(cached)) = bucket.get(key) {
            let _ = bucket.delete(&lease);
            return Ok(cached);
        }
    } else {
        let waited_until = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < waited_until {
            std::thread::sleep(POLL);
            if let Ok(Some(cached)) = bucket.get(key) {
                return Ok(cached);
            }
            // The filler gave up or died: no point waiting for it.
            if !leased(bucket, &lease) {
                break;
            }
        }
    }
    let value = fill();
    if let Ok(value) = &value {
        let _ = set_with_ttl(bucket, key, value, ttl_ms);
    }
    let _ = bucket.delete(&lease);
    value
}

/// Takes the lease if nobody holds an unexpired one.
fn claim(bucket: &Bucket, lease: &str) -> bool {
    let Ok(cas) = Cas::new(bucket, lease) else {
        return false;
    };
    let now = now_ms();
    if cas
        .current()
        .ok()
        .flatten()
        .is_some_and(|v| deadline(&v) > now)
    {
        return false;
    }
    let until = (now + LEASE_MS).to_string();
    if swap(cas, until.as_bytes()).is_err() {
        return false;
    }
    // The store forgets the lease by itself too, should this request die.
    let _ = set_with_ttl(bucket, lease, until.as_bytes(), LEASE_MS as u64);
    true
}

fn leased(bucket: &Bucket, lease: &str) -> bool {
    matches!(bucket.get(lease), Ok(Some(v)) if deadline(&v) > now_ms())
}

fn deadline(value: &[u8]) -> i64 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
