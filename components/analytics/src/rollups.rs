//! The aggregation worker: a batch from the event log becomes rollup
//! increments (minute, hour and day; per dimension), exact unique-visitor
//! and visit counts, raw rows for funnels and the warehouse, cohorts and
//! experiment conversions, all in one transaction with the mark that the
//! log message was taken, so a redelivery changes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use folio_guest::columns::{integer, optional_text, text, text_in_list};
use folio_guest::http::Problem;
use folio_guest::{Transaction, Value};
use serde_json::{Value as Json, json};

use crate::store::{self, CHUNK, db_error, floor, opt_int, opt_text, placeholders};
use crate::track::Tracked;

pub const GRAINS: [&str; 3] = ["minute", "hour", "day"];
/// Minute rollups are for live views of the whole site; breakdowns start at hours.
const MINUTE_DIMENSIONS: [&str; 2] = ["", "event"];
/// Where a visit came from: its first pageview's sources.
const SOURCE_DIMENSIONS: [&str; 5] = [
    "referrer",
    "device",
    "utm_source",
    "utm_medium",
    "utm_campaign",
];
pub const DIRECT: &str = "(direct)";

#[derive(Default, Clone, Copy, Debug, PartialEq)]
pub struct Counts {
    pub events: i64,
    pub pageviews: i64,
    pub visitors: i64,
    pub visits: i64,
    pub bounces: i64,
    pub reads: i64,
    pub read_seconds: i64,
    pub depth_sum: i64,
    pub depth_25: i64,
    pub depth_50: i64,
    pub depth_75: i64,
    pub depth_100: i64,
}

impl Counts {
    fn add_event(&mut self, e: &Tracked) {
        self.events += 1;
        match e.name.as_str() {
            "pageview" => self.pageviews += 1,
            "read" => {
                let depth = e.depth.unwrap_or(0);
                self.reads += 1;
                self.read_seconds += e.seconds.unwrap_or(0);
                self.depth_sum += depth;
                self.depth_25 += i64::from(depth >= 25);
                self.depth_50 += i64::from(depth >= 50);
                self.depth_75 += i64::from(depth >= 75);
                self.depth_100 += i64::from(depth >= 100);
            }
            _ => {}
        }
    }

    fn values(&self) -> [i64; 12] {
        [
            self.events,
            self.pageviews,
            self.visitors,
            self.visits,
            self.bounces,
            self.reads,
            self.read_seconds,
            self.depth_sum,
            self.depth_25,
            self.depth_50,
            self.depth_75,
            self.depth_100,
        ]
    }
}

pub const COUNT_COLUMNS: [&str; 12] = [
    "events",
    "pageviews",
    "visitors",
    "visits",
    "bounces",
    "reads",
    "read_seconds",
    "depth_sum",
    "depth_25",
    "depth_50",
    "depth_75",
    "depth_100",
];

type Key = (&'static str, i64, &'static str, String);

/// What the content service told about an item.
pub struct Meta {
    pub kind: String,
    pub category: Option<String>,
}

/// Takes log message `id` once. False when it was taken before.
pub fn take(id: &str, events: &[Tracked], discarded_utm: u64) -> Result<bool, Problem> {
    let db = store::db()?;
    let tx = db.begin().map_err(db_error)?;
    let fresh = tx
        .execute(
            "INSERT INTO taken (id, taken_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            &[
                Value::Text(id.into()),
                Value::Integer(folio_guest::util::now_ms()),
            ],
        )
        .map_err(db_error)?;
    if fresh == 0 {
        return Ok(false);
    }
    aggregate(&tx, events, discarded_utm)?;
    tx.commit().map_err(db_error)?;
    Ok(true)
}

fn aggregate(tx: &Transaction, events: &[Tracked], discarded_utm: u64) -> Result<(), Problem> {
    let meta = content_meta(tx, events)?;
    let mut rollups: BTreeMap<Key, Counts> = BTreeMap::new();
    for e in events {
        let secs = e.at.div_euclid(1000);
        let dims = dimensions(e, e.content_id.as_ref().and_then(|id| meta.get(id)));
        for grain in GRAINS {
            let bucket = floor(secs, grain);
            for (dimension, value) in &dims {
                if grain == "minute" && !MINUTE_DIMENSIONS.contains(dimension) {
                    continue;
                }
                rollups
                    .entry((grain, bucket, dimension, value.clone()))
                    .or_default()
                    .add_event(e);
            }
        }
    }
    if discarded_utm > 0 {
        let day = floor(events.first().map_or(0, |e| e.at.div_euclid(1000)), "day");
        rollups
            .entry(("day", day, "discarded", "utm".into()))
            .or_default()
            .events += discarded_utm as i64;
    }
    count_visitors(tx, events, &mut rollups)?;
    count_visits(tx, events, &mut rollups)?;
    write_rollups(tx, &rollups)?;
    write_events(tx, events, &meta)?;
    write_cohorts(tx, events)?;
    crate::experiments::record_conversions(tx, events)?;
    Ok(())
}

fn dimensions(e: &Tracked, meta: Option<&Meta>) -> Vec<(&'static str, String)> {
    let mut dims = vec![("", String::new()), ("event", e.name.clone())];
    if let Some(path) = &e.path {
        dims.push(("page", path.clone()));
    }
    if e.name == "pageview" {
        dims.push((
            "referrer",
            e.referrer.clone().unwrap_or_else(|| DIRECT.into()),
        ));
    }
    for (dimension, value) in [
        ("device", &e.device),
        ("utm_source", &e.utm_source),
        ("utm_medium", &e.utm_medium),
        ("utm_campaign", &e.utm_campaign),
        ("content", &e.content_id),
    ] {
        if let Some(v) = value {
            dims.push((dimension, v.clone()));
        }
    }
    if let Some(meta) = meta {
        dims.push(("type", meta.kind.clone()));
        if let Some(category) = &meta.category {
            dims.push(("category", category.clone()));
        }
    }
    dims
}

fn content_meta(tx: &Transaction, events: &[Tracked]) -> Result<HashMap<String, Meta>, Problem> {
    let ids: BTreeSet<String> = events.iter().filter_map(|e| e.content_id.clone()).collect();
    let mut meta = HashMap::new();
    if ids.is_empty() {
        return Ok(meta);
    }
    let ids: Vec<String> = ids.into_iter().collect();
    let (list, params) = text_in_list(&ids);
    let rows = tx
        .query(
            &format!("SELECT id, type, category FROM content_meta WHERE id IN ({list})"),
            &params,
        )
        .map_err(db_error)?;
    for r in rows.rows {
        meta.insert(
            text(&r[0]),
            Meta {
                kind: text(&r[1]),
                category: optional_text(&r[2]),
            },
        );
    }
    Ok(meta)
}

/// A visitor counts once per minute, hour and day bucket: the insert that
/// finds the pair new is the one that counts it.
fn count_visitors(
    tx: &Transaction,
    events: &[Tracked],
    rollups: &mut BTreeMap<Key, Counts>,
) -> Result<(), Problem> {
    let mut seen: BTreeSet<(&'static str, i64, String)> = BTreeSet::new();
    for e in events {
        if let Some(visitor) = &e.visitor {
            for grain in GRAINS {
                seen.insert((grain, floor(e.at.div_euclid(1000), grain), visitor.clone()));
            }
        }
    }
    let seen: Vec<_> = seen.into_iter().collect();
    for chunk in seen.chunks(CHUNK) {
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(g, b, v)| {
                [
                    Value::Text((*g).into()),
                    Value::Integer(*b),
                    Value::Text(v.clone()),
                ]
            })
            .collect();
        let inserted = tx
            .query(
                &format!(
                    "INSERT INTO visitor_buckets (grain, bucket, visitor) VALUES {} \
                     ON CONFLICT (grain, bucket, visitor) DO NOTHING RETURNING grain, bucket",
                    placeholders(chunk.len(), 3)
                ),
                &params,
            )
            .map_err(db_error)?;
        for r in inserted.rows {
            let grain = match text(&r[0]).as_str() {
                "minute" => "minute",
                "hour" => "hour",
                _ => "day",
            };
            rollups
                .entry((grain, integer(&r[1]), "", String::new()))
                .or_default()
                .visitors += 1;
        }
    }
    Ok(())
}

/// Visits (a visitor's day) and bounces (visits of one pageview), kept
/// exact as pageviews arrive: the upsert returns each visit's new total,
/// and this batch's share says what it was before.
fn count_visits(
    tx: &Transaction,
    events: &[Tracked],
    rollups: &mut BTreeMap<Key, Counts>,
) -> Result<(), Problem> {
    let mut visits: BTreeMap<(i64, String), (i64, i64, String)> = BTreeMap::new();
    for e in events.iter().filter(|e| e.name == "pageview") {
        let Some(visitor) = &e.visitor else { continue };
        let day = floor(e.at.div_euclid(1000), "day");
        let entry = json!({
            "referrer": e.referrer.clone().unwrap_or_else(|| DIRECT.into()),
            "device": e.device,
            "utm_source": e.utm_source,
            "utm_medium": e.utm_medium,
            "utm_campaign": e.utm_campaign,
        })
        .to_string();
        let slot = visits
            .entry((day, visitor.clone()))
            .or_insert((0, e.at, entry.clone()));
        slot.0 += 1;
        if e.at < slot.1 {
            slot.1 = e.at;
            slot.2 = entry;
        }
    }
    let visits: Vec<_> = visits.into_iter().collect();
    for chunk in visits.chunks(CHUNK) {
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|((day, visitor), (k, _, entry))| {
                [
                    Value::Integer(*day),
                    Value::Text(visitor.clone()),
                    Value::Integer(*k),
                    Value::Text(entry.clone()),
                ]
            })
            .collect();
        let added: HashMap<(i64, &str), i64> = chunk
            .iter()
            .map(|((d, v), (k, _, _))| ((*d, v.as_str()), *k))
            .collect();
        let rows = tx
            .query(
                &format!(
                    "INSERT INTO visits (day, visitor, pageviews, entry) VALUES {} \
                     ON CONFLICT (day, visitor) DO UPDATE SET pageviews = visits.pageviews + excluded.pageviews \
                     RETURNING day, visitor, pageviews, entry",
                    placeholders(chunk.len(), 4)
                ),
                &params,
            )
            .map_err(db_error)?;
        for r in rows.rows {
            let (day, visitor, now) = (integer(&r[0]), text(&r[1]), integer(&r[2]));
            let before = now - added.get(&(day, visitor.as_str())).copied().unwrap_or(0);
            let (visits, bounces) = match (before, now) {
                (0, 1) => (1, 1),
                (0, _) => (1, 0),
                (1, n) if n > 1 => (0, -1),
                _ => (0, 0),
            };
            if visits == 0 && bounces == 0 {
                continue;
            }
            let entry: Json = serde_json::from_str(&text(&r[3])).unwrap_or(Json::Null);
            let mut targets = vec![("", String::new())];
            for dimension in SOURCE_DIMENSIONS {
                if let Some(value) = entry[dimension].as_str() {
                    targets.push((dimension, value.to_string()));
                }
            }
            for (dimension, value) in targets {
                let counts = rollups.entry(("day", day, dimension, value)).or_default();
                counts.visits += visits;
                counts.bounces += bounces;
            }
        }
    }
    Ok(())
}

fn write_rollups(tx: &Transaction, rollups: &BTreeMap<Key, Counts>) -> Result<(), Problem> {
    let rows: Vec<_> = rollups
        .iter()
        .filter(|(_, c)| **c != Counts::default())
        .collect();
    let updates: Vec<String> = COUNT_COLUMNS
        .iter()
        .map(|c| format!("{c} = rollups.{c} + excluded.{c}"))
        .collect();
    for chunk in rows.chunks(CHUNK) {
        let mut params = Vec::with_capacity(chunk.len() * 16);
        for ((grain, bucket, dimension, value), counts) in chunk {
            params.push(Value::Text((*grain).into()));
            params.push(Value::Integer(*bucket));
            params.push(Value::Text((*dimension).into()));
            params.push(Value::Text(value.clone()));
            params.extend(counts.values().map(Value::Integer));
        }
        tx.execute(
            &format!(
                "INSERT INTO rollups (grain, bucket, dimension, value, {}) VALUES {} \
                 ON CONFLICT (grain, dimension, value, bucket) DO UPDATE SET {}",
                COUNT_COLUMNS.join(", "),
                placeholders(chunk.len(), 16),
                updates.join(", ")
            ),
            &params,
        )
        .map_err(db_error)?;
    }
    Ok(())
}

fn write_events(
    tx: &Transaction,
    events: &[Tracked],
    meta: &HashMap<String, Meta>,
) -> Result<(), Problem> {
    for chunk in events.chunks(CHUNK) {
        let mut params = Vec::with_capacity(chunk.len() * 19);
        for e in chunk {
            let m = e.content_id.as_ref().and_then(|id| meta.get(id));
            params.extend([
                Value::Integer(e.at),
                Value::Text(e.name.clone()),
                opt_text(&e.host),
                opt_text(&e.path),
                opt_text(&e.referrer),
                opt_text(&e.content_id),
                opt_text(&m.map(|m| m.kind.clone())),
                opt_text(&m.and_then(|m| m.category.clone())),
                opt_text(&e.device),
                opt_text(&e.utm_source),
                opt_text(&e.utm_medium),
                opt_text(&e.utm_campaign),
                opt_text(&e.visitor),
                opt_text(&e.user_id),
                opt_text(&e.subject),
                opt_int(e.seconds),
                opt_int(e.depth),
                opt_text(
                    &e.props
                        .as_ref()
                        .map(|p| Json::Object(p.clone()).to_string()),
                ),
            ]);
        }
        tx.execute(
            &format!(
                "INSERT INTO events (occurred_at, name, host, path, referrer, content_id, content_type, category, \
                 device, utm_source, utm_medium, utm_campaign, visitor, user_id, subject, seconds, depth, props) \
                 VALUES {}",
                placeholders(chunk.len(), 18)
            ),
            &params,
        )
        .map_err(db_error)?;
    }
    Ok(())
}

/// Signed-in readers' weeks, for retention: the first week seen is the cohort.
fn write_cohorts(tx: &Transaction, events: &[Tracked]) -> Result<(), Problem> {
    let mut weeks: BTreeSet<(String, i64)> = BTreeSet::new();
    let mut first: BTreeMap<String, i64> = BTreeMap::new();
    for e in events {
        if let Some(user) = &e.user_id {
            let week = floor(e.at.div_euclid(1000), "week");
            weeks.insert((user.clone(), week));
            let slot = first.entry(user.clone()).or_insert(week);
            *slot = (*slot).min(week);
        }
    }
    let weeks: Vec<_> = weeks.into_iter().collect();
    for chunk in weeks.chunks(CHUNK) {
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(u, w)| [Value::Text(u.clone()), Value::Integer(*w)])
            .collect();
        tx.execute(
            &format!(
                "INSERT INTO user_weeks (user_id, week) VALUES {} ON CONFLICT (user_id, week) DO NOTHING",
                placeholders(chunk.len(), 2)
            ),
            &params,
        )
        .map_err(db_error)?;
    }
    let first: Vec<_> = first.into_iter().collect();
    for chunk in first.chunks(CHUNK) {
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(u, w)| [Value::Text(u.clone()), Value::Integer(*w)])
            .collect();
        tx.execute(
            &format!(
                "INSERT INTO user_cohorts (user_id, first_week) VALUES {} ON CONFLICT (user_id) \
                 DO UPDATE SET first_week = excluded.first_week WHERE excluded.first_week < user_cohorts.first_week",
                placeholders(chunk.len(), 2)
            ),
            &params,
        )
        .map_err(db_error)?;
    }
    Ok(())
}
