//! Reports, read from rollups (so they cost the same at any volume), and
//! funnels from the recent raw events. Each report is JSON, or CSV when
//! asked (`Accept: text/csv`).

use std::collections::{BTreeMap, HashMap};

use folio_guest::columns::{integer, optional_text, text, text_in_list};
use folio_guest::http::Problem;
use folio_guest::util::{now_ms, parse_rfc3339_ms, rfc3339};
use folio_guest::{Connection, Value};
use serde_json::{Value as Json, json};

use crate::store::{date, db_error, floor};
use crate::track::valid_name;

pub const MAX_ROWS: i64 = 1000;
/// 2999-12-31T23:59:59Z: report ranges end before year 3000.
const LATEST: i64 = 32_503_679_999;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Interval {
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

impl Interval {
    fn parse(text: &str) -> Option<Interval> {
        Some(match text {
            "minute" => Interval::Minute,
            "hour" => Interval::Hour,
            "day" => Interval::Day,
            "week" => Interval::Week,
            "month" => Interval::Month,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Interval::Minute => "minute",
            Interval::Hour => "hour",
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }

    /// The rollup grain a series of this interval is summed from.
    fn grain(self) -> &'static str {
        match self {
            Interval::Minute => "minute",
            Interval::Hour => "hour",
            _ => "day",
        }
    }

    /// The start of the bucket holding `secs`.
    fn floor(self, secs: i64) -> i64 {
        match self {
            Interval::Month => {
                let d = date(secs);
                parse_rfc3339_ms(&format!("{}-01T00:00:00Z", &d[..7])).unwrap_or(0) / 1000
            }
            other => floor(secs, other.name()),
        }
    }

    fn next(self, start: i64) -> i64 {
        match self {
            Interval::Minute => start + 60,
            Interval::Hour => start + 3_600,
            Interval::Day => start + 86_400,
            Interval::Week => start + 7 * 86_400,
            Interval::Month => self.floor(start + 32 * 86_400).max(start + 28 * 86_400),
        }
    }

    fn longest_span(self) -> i64 {
        match self {
            Interval::Minute => 86_400,
            Interval::Hour => 31 * 86_400,
            _ => 3 * 366 * 86_400,
        }
    }
}

/// `from`/`to` (UTC RFC 3339 or a date), `interval`, and the report's own parameters.
pub struct Query {
    pub from: i64,
    pub to: i64,
    pub interval: Interval,
    pub params: HashMap<String, String>,
}

pub fn query(
    pairs: &[(String, String)],
    own: &[&str],
    default_interval: Interval,
) -> Result<Query, Problem> {
    let mut params = HashMap::new();
    for (name, value) in pairs {
        if !["from", "to", "interval"].contains(&name.as_str()) && !own.contains(&name.as_str()) {
            return Err(Problem::invalid_field(
                name,
                "is not a known query parameter",
            ));
        }
        params.insert(name.clone(), value.clone());
    }
    let interval = match params.get("interval") {
        Some(i) => Interval::parse(i).ok_or_else(|| {
            Problem::invalid_field("interval", "must be minute, hour, day, week or month")
        })?,
        None => default_interval,
    };
    let time = |name: &str| -> Result<Option<i64>, Problem> {
        let Some(raw) = params.get(name) else {
            return Ok(None);
        };
        let full = if raw.len() == 10 {
            format!("{raw}T00:00:00Z")
        } else {
            raw.clone()
        };
        parse_rfc3339_ms(&full)
            .filter(|_| full.ends_with('Z'))
            .map(|ms| ms.div_euclid(1000))
            .filter(|secs| (0..=LATEST).contains(secs))
            .map(Some)
            .ok_or_else(|| {
                Problem::invalid_field(
                    name,
                    "must be a date (2026-12-01) or UTC RFC 3339 time, 1970 to 2999",
                )
            })
    };
    let now = now_ms().div_euclid(1000);
    let to = time("to")?.unwrap_or(now);
    let to = {
        let start = interval.floor(to);
        if start == to {
            to
        } else {
            interval.next(start)
        }
    };
    // By default the last hour of minutes, day of hours, week of days,
    // twelve weeks or twelve months, the current one included.
    let default_span = match interval {
        Interval::Minute => 3_600,
        Interval::Hour => 86_400,
        Interval::Day => 7 * 86_400,
        Interval::Week => 12 * 7 * 86_400,
        Interval::Month => 365 * 86_400,
    };
    let from = interval.floor(time("from")?.unwrap_or(to - default_span));
    if from >= to {
        return Err(Problem::invalid_field("from", "must be before `to`"));
    }
    if to - from > interval.longest_span() {
        return Err(Problem::invalid_field(
            "from",
            format!(
                "the range is too long for interval {}: use a coarser interval",
                interval.name()
            ),
        ));
    }
    Ok(Query {
        from,
        to,
        interval,
        params,
    })
}

/// A report as JSON, and as a table for CSV.
pub struct Report {
    pub json: Json,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Json>>,
}

fn ratio(part: i64, whole: i64) -> Json {
    if whole > 0 {
        json!(part as f64 / whole as f64)
    } else {
        Json::Null
    }
}

struct Totals {
    events: i64,
    pageviews: i64,
    visitors: i64,
    visits: i64,
    bounces: i64,
    reads: i64,
    read_seconds: i64,
}

fn sum_rows(rows: &[&Vec<Value>]) -> Totals {
    let s = |i: usize| rows.iter().map(|r| integer(&r[i])).sum::<i64>();
    Totals {
        events: s(1),
        pageviews: s(2),
        visitors: s(3),
        visits: s(4),
        bounces: s(5),
        reads: s(6),
        read_seconds: s(7),
    }
}

pub fn overview(db: &Connection, q: &Query) -> Result<Report, Problem> {
    let rows = db
        .query(
            "SELECT bucket, events, pageviews, visitors, visits, bounces, reads, read_seconds FROM rollups \
             WHERE grain = $1 AND dimension = '' AND value = '' AND bucket >= $2 AND bucket < $3 ORDER BY bucket",
            &[Value::Text(q.interval.grain().into()), Value::Integer(q.from), Value::Integer(q.to)],
        )
        .map_err(db_error)?;
    let mut by_bucket: BTreeMap<i64, Vec<&Vec<Value>>> = BTreeMap::new();
    for r in &rows.rows {
        by_bucket
            .entry(q.interval.floor(integer(&r[0])))
            .or_default()
            .push(r);
    }
    let has_visits = q.interval.grain() == "day";
    let view = |t: &Totals| {
        json!({
            "visitors": t.visitors,
            "visits": if has_visits { json!(t.visits) } else { Json::Null },
            "pageviews": t.pageviews,
            "events": t.events,
            "reads": t.reads,
            "averageReadSeconds": ratio(t.read_seconds, t.reads),
            "bounceRate": if has_visits { ratio(t.bounces, t.visits) } else { Json::Null },
        })
    };
    let mut series = Vec::new();
    let mut table = Vec::new();
    let mut start = q.from;
    while start < q.to {
        let t = sum_rows(by_bucket.get(&start).map_or(&[][..], Vec::as_slice));
        let mut point = view(&t);
        point["at"] = json!(rfc3339(start * 1000));
        table.push(vec![
            point["at"].clone(),
            point["visitors"].clone(),
            point["visits"].clone(),
            point["pageviews"].clone(),
            point["events"].clone(),
            point["reads"].clone(),
            point["averageReadSeconds"].clone(),
            point["bounceRate"].clone(),
        ]);
        series.push(point);
        start = q.interval.next(start);
    }
    let all: Vec<&Vec<Value>> = rows.rows.iter().collect();
    let totals = view(&sum_rows(&all));
    Ok(Report {
        json: json!({
            "from": rfc3339(q.from * 1000),
            "to": rfc3339(q.to * 1000),
            "interval": q.interval.name(),
            "totals": totals,
            "series": series,
        }),
        columns: vec![
            "at",
            "visitors",
            "visits",
            "pageviews",
            "events",
            "reads",
            "averageReadSeconds",
            "bounceRate",
        ],
        rows: table,
    })
}

pub const BREAKDOWNS: [&str; 10] = [
    "referrer",
    "page",
    "device",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "type",
    "category",
    "event",
    "content",
];

/// Day rollups for whole days, hour rollups otherwise.
fn breakdown_grain(q: &Query) -> &'static str {
    if q.from % 86_400 == 0 && q.to % 86_400 == 0 {
        "day"
    } else {
        "hour"
    }
}

/// The top values of a dimension: pageviews, visits (the visitor-days that
/// came in through it, for source dimensions), events, reads.
pub fn breakdown(
    db: &Connection,
    q: &Query,
    dimension: &str,
    only_content_by: Option<&str>,
) -> Result<Report, Problem> {
    let limit = limit(q)?;
    let grain = breakdown_grain(q);
    let mut params = vec![
        Value::Text(grain.into()),
        Value::Text(dimension.into()),
        Value::Integer(q.from),
        Value::Integer(q.to),
        Value::Integer(limit),
    ];
    let mut own = String::new();
    if let Some(author) = only_content_by {
        own = " AND value IN (SELECT id FROM content_meta WHERE author_id = $6)".into();
        params.push(Value::Text(author.into()));
    }
    let order = match q.params.get("sort").map(String::as_str) {
        None | Some("pageviews") => "pageviews",
        Some("visits") => "visits",
        Some("events") => "events",
        Some("reads") => "reads",
        Some(_) => {
            return Err(Problem::invalid_field(
                "sort",
                "must be pageviews, visits, events or reads",
            ));
        }
    };
    let rows = db
        .query(
            &format!(
                "SELECT value, CAST(SUM(pageviews) AS BIGINT) AS pageviews, CAST(SUM(visits) AS BIGINT) AS visits, \
                 CAST(SUM(bounces) AS BIGINT), CAST(SUM(events) AS BIGINT) AS events, CAST(SUM(reads) AS BIGINT) AS reads, \
                 CAST(SUM(read_seconds) AS BIGINT), CAST(SUM(depth_sum) AS BIGINT) FROM rollups \
                 WHERE grain = $1 AND dimension = $2 AND bucket >= $3 AND bucket < $4{own} \
                 GROUP BY value ORDER BY {order} DESC, value LIMIT $5"
            ),
            &params,
        )
        .map_err(db_error)?;
    let titles = if dimension == "content" {
        titles(db, &rows.rows)?
    } else {
        HashMap::new()
    };
    let mut items = Vec::new();
    let mut table = Vec::new();
    for r in &rows.rows {
        let value = text(&r[0]);
        let (pageviews, visits, bounces, events, reads, seconds, depth) = (
            integer(&r[1]),
            integer(&r[2]),
            integer(&r[3]),
            integer(&r[4]),
            integer(&r[5]),
            integer(&r[6]),
            integer(&r[7]),
        );
        let mut item = json!({
            "value": value,
            "pageviews": pageviews,
            "visits": visits,
            "bounceRate": ratio(bounces, visits),
            "events": events,
            "reads": reads,
            "averageReadSeconds": ratio(seconds, reads),
            "averageReadDepth": ratio(depth, reads),
        });
        if let Some((title, kind)) = titles.get(&value) {
            item["title"] = json!(title);
            item["type"] = json!(kind);
        }
        table.push(vec![
            item["value"].clone(),
            item["pageviews"].clone(),
            item["visits"].clone(),
            item["bounceRate"].clone(),
            item["events"].clone(),
            item["reads"].clone(),
            item["averageReadSeconds"].clone(),
            item["averageReadDepth"].clone(),
        ]);
        items.push(item);
    }
    Ok(Report {
        json: json!({
            "from": rfc3339(q.from * 1000),
            "to": rfc3339(q.to * 1000),
            "dimension": dimension,
            "items": items,
        }),
        columns: vec![
            "value",
            "pageviews",
            "visits",
            "bounceRate",
            "events",
            "reads",
            "averageReadSeconds",
            "averageReadDepth",
        ],
        rows: table,
    })
}

fn limit(q: &Query) -> Result<i64, Problem> {
    match q.params.get("limit") {
        None => Ok(10),
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_ROWS).contains(n))
            .ok_or_else(|| Problem::invalid_field("limit", format!("must be 1 to {MAX_ROWS}"))),
    }
}

fn titles(
    db: &Connection,
    rows: &[Vec<Value>],
) -> Result<HashMap<String, (String, String)>, Problem> {
    let ids: Vec<String> = rows.iter().map(|r| text(&r[0])).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let (list, params) = text_in_list(&ids);
    let found = db
        .query(
            &format!("SELECT id, title, type FROM content_meta WHERE id IN ({list})"),
            &params,
        )
        .map_err(db_error)?;
    Ok(found
        .rows
        .iter()
        .map(|r| (text(&r[0]), (text(&r[1]), text(&r[2]))))
        .collect())
}

pub struct ContentMeta {
    pub title: String,
    pub kind: String,
    pub author_id: Option<String>,
}

pub fn content_meta(db: &Connection, id: &str) -> Result<Option<ContentMeta>, Problem> {
    let rows = db
        .query(
            "SELECT title, type, author_id FROM content_meta WHERE id = $1",
            &[Value::Text(id.into())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| ContentMeta {
        title: text(&r[0]),
        kind: text(&r[1]),
        author_id: optional_text(&r[2]),
    }))
}

/// One item: views and reads over time, read time and how far readers got.
pub fn content(
    db: &Connection,
    q: &Query,
    id: &str,
    meta: Option<&ContentMeta>,
) -> Result<Report, Problem> {
    let grain = if q.interval.grain() == "minute" {
        "hour"
    } else {
        q.interval.grain()
    };
    let rows = db
        .query(
            "SELECT bucket, pageviews, reads, read_seconds, depth_sum, depth_25, depth_50, depth_75, depth_100, events \
             FROM rollups WHERE grain = $1 AND dimension = 'content' AND value = $2 AND bucket >= $3 AND bucket < $4 ORDER BY bucket",
            &[Value::Text(grain.into()), Value::Text(id.into()), Value::Integer(q.from), Value::Integer(q.to)],
        )
        .map_err(db_error)?;
    let mut by_bucket: BTreeMap<i64, [i64; 9]> = BTreeMap::new();
    let mut total = [0i64; 9];
    for r in &rows.rows {
        let slot = by_bucket
            .entry(q.interval.floor(integer(&r[0])))
            .or_default();
        for i in 0..9 {
            slot[i] += integer(&r[i + 1]);
            total[i] += integer(&r[i + 1]);
        }
    }
    let mut series = Vec::new();
    let mut table = Vec::new();
    let mut start = q.interval.floor(q.from);
    while start < q.to {
        let c = by_bucket.get(&start).copied().unwrap_or_default();
        let at = rfc3339(start * 1000);
        table.push(vec![
            json!(at),
            json!(c[0]),
            json!(c[1]),
            ratio(c[2], c[1]),
            ratio(c[3], c[1]),
        ]);
        series.push(json!({"at": at, "pageviews": c[0], "reads": c[1], "averageReadSeconds": ratio(c[2], c[1]), "averageReadDepth": ratio(c[3], c[1])}));
        start = q.interval.next(start);
    }
    Ok(Report {
        json: json!({
            "id": id,
            "title": meta.map(|m| m.title.clone()),
            "type": meta.map(|m| m.kind.clone()),
            "from": rfc3339(q.from * 1000),
            "to": rfc3339(q.to * 1000),
            "interval": q.interval.name(),
            "totals": {
                "pageviews": total[0],
                "reads": total[1],
                "events": total[8],
                "averageReadSeconds": ratio(total[2], total[1]),
                "averageReadDepth": ratio(total[3], total[1]),
                "readDepth": {"25": total[4], "50": total[5], "75": total[6], "100": total[7]},
            },
            "series": series,
        }),
        columns: vec![
            "at",
            "pageviews",
            "reads",
            "averageReadSeconds",
            "averageReadDepth",
        ],
        rows: table,
    })
}

/// A funnel step: an event name, or `pageview:/path` for one page.
struct Step {
    name: String,
    path: Option<String>,
}

pub fn funnel(db: &Connection, q: &Query) -> Result<Report, Problem> {
    let raw = q.params.get("steps").ok_or_else(|| {
        Problem::invalid_field(
            "steps",
            "is required: event names in order, comma-separated",
        )
    })?;
    let steps: Vec<Step> = raw
        .split(',')
        .map(|s| {
            let s = s.trim();
            let (name, path) = match s.split_once(':') {
                Some((n, p)) if p.starts_with('/') => (n, Some(p.to_string())),
                _ => (s, None),
            };
            Step {
                name: name.to_string(),
                path,
            }
        })
        .collect();
    if steps.len() < 2 || steps.len() > 8 || steps.iter().any(|s| !valid_name(&s.name)) {
        return Err(Problem::invalid_field(
            "steps",
            "must be 2 to 8 event names (or pageview:/path), comma-separated",
        ));
    }
    if q.to - q.from > crate::config::raw_retention_secs() {
        return Err(Problem::invalid_field(
            "from",
            "funnels read raw events, kept for the raw-retention window only",
        ));
    }
    let names: Vec<String> = steps.iter().map(|s| s.name.clone()).collect();
    let list: Vec<String> = (0..names.len()).map(|i| format!("${}", i + 3)).collect();
    let list = list.join(", ");
    let mut params = vec![Value::Integer(q.from * 1000), Value::Integer(q.to * 1000)];
    params.extend(names.into_iter().map(Value::Text));
    let rows = db
        .query(
            &format!(
                "SELECT visitor, occurred_at, name, path FROM events WHERE occurred_at >= $1 AND occurred_at < $2 AND visitor IS NOT NULL \
                 AND name IN ({list}) ORDER BY visitor, occurred_at, seq"
            ),
            &params,
        )
        .map_err(db_error)?;
    let mut reached = vec![0i64; steps.len()];
    let mut session: Option<(String, i64)> = None;
    let mut next_step = 0usize;
    let close = |next_step: usize, reached: &mut Vec<i64>| {
        for r in reached.iter_mut().take(next_step) {
            *r += 1;
        }
    };
    for r in &rows.rows {
        let key = (text(&r[0]), floor(integer(&r[1]).div_euclid(1000), "day"));
        if session.as_ref() != Some(&key) {
            if session.is_some() {
                close(next_step, &mut reached);
            }
            session = Some(key);
            next_step = 0;
        }
        if let Some(step) = steps.get(next_step) {
            let path = optional_text(&r[3]);
            if text(&r[2]) == step.name
                && step.path.as_ref().is_none_or(|p| path.as_ref() == Some(p))
            {
                next_step += 1;
            }
        }
    }
    if session.is_some() {
        close(next_step, &mut reached);
    }
    let mut items = Vec::new();
    let mut table = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let label = match &step.path {
            Some(p) => format!("{}:{p}", step.name),
            None => step.name.clone(),
        };
        let previous = if i == 0 { reached[0] } else { reached[i - 1] };
        let item = json!({
            "step": label,
            "sessions": reached[i],
            "fromPrevious": ratio(reached[i], previous),
            "fromFirst": ratio(reached[i], reached[0]),
        });
        table.push(vec![
            item["step"].clone(),
            item["sessions"].clone(),
            item["fromPrevious"].clone(),
            item["fromFirst"].clone(),
        ]);
        items.push(item);
    }
    Ok(Report {
        json: json!({"from": rfc3339(q.from * 1000), "to": rfc3339(q.to * 1000), "steps": items}),
        columns: vec!["step", "sessions", "fromPrevious", "fromFirst"],
        rows: table,
    })
}

/// Weekly cohorts of signed-in readers (by their first week seen or their
/// sign-up) and how many came back each later week.
pub fn retention(db: &Connection, q: &Query) -> Result<Report, Problem> {
    let from = floor(q.from, "week");
    let rows = db
        .query(
            "SELECT c.first_week, w.week, CAST(COUNT(*) AS BIGINT) FROM user_cohorts c \
             JOIN user_weeks w ON w.user_id = c.user_id \
             WHERE c.first_week >= $1 AND c.first_week < $2 AND w.week >= c.first_week \
             GROUP BY c.first_week, w.week ORDER BY c.first_week, w.week",
            &[Value::Integer(from), Value::Integer(q.to)],
        )
        .map_err(db_error)?;
    let mut cohorts: BTreeMap<i64, BTreeMap<i64, i64>> = BTreeMap::new();
    for r in &rows.rows {
        cohorts
            .entry(integer(&r[0]))
            .or_default()
            .insert(integer(&r[1]), integer(&r[2]));
    }
    let last_week = floor(q.to - 1, "week");
    let mut items = Vec::new();
    let mut table = Vec::new();
    let mut week = from;
    while week < q.to {
        let counts = cohorts.get(&week).cloned().unwrap_or_default();
        let size = counts.get(&week).copied().unwrap_or(0);
        let mut weeks = Vec::new();
        let mut w = week;
        while w <= last_week {
            weeks.push(counts.get(&w).copied().unwrap_or(0));
            w += 7 * 86_400;
        }
        let rates: Vec<Json> = weeks.iter().map(|n| ratio(*n, size)).collect();
        table.push(vec![
            json!(date(week)),
            json!(size),
            json!(
                weeks
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ]);
        items.push(json!({"cohort": date(week), "users": size, "weeks": weeks, "rates": rates}));
        week += 7 * 86_400;
    }
    Ok(Report {
        json: json!({"from": date(from), "to": rfc3339(q.to * 1000), "interval": "week", "cohorts": items}),
        columns: vec!["cohort", "users", "weeks"],
        rows: table,
    })
}

/// RFC 4180 CSV. Cells that a spreadsheet would run as a formula get a
/// leading `'` (referrers and paths come from strangers).
pub fn csv(columns: &[&str], rows: &[Vec<Json>]) -> String {
    let cell = |v: &Json| -> String {
        let raw = match v {
            Json::Null => String::new(),
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        let raw =
            if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) && !matches!(v, Json::Number(_)) {
                format!("'{raw}")
            } else {
                raw
            };
        if raw.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", raw.replace('"', "\"\""))
        } else {
            raw
        }
    };
    let mut out = columns.join(",");
    out.push_str("\r\n");
    for row in rows {
        out.push_str(&row.iter().map(cell).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let text = csv(
            &["value", "n"],
            &[
                vec![json!("=HYPERLINK(\"x\")"), json!(-3)],
                vec![json!("a,b"), Json::Null],
            ],
        );
        assert_eq!(
            text,
            "value,n\r\n\"'=HYPERLINK(\"\"x\"\")\",-3\r\n\"a,b\",\r\n"
        );
    }

    #[test]
    fn months_and_weeks_align() {
        let dec_5 = 1_796_428_800; // 2026-12-05T00:00:00Z, a Saturday
        assert_eq!(date(Interval::Month.floor(dec_5)), "2026-12-01");
        assert_eq!(
            date(Interval::Month.next(Interval::Month.floor(dec_5))),
            "2027-01-01"
        );
        assert_eq!(date(Interval::Week.floor(dec_5)), "2026-11-30");
    }
}
