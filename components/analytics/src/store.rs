//! The database handle, and multi-row statements built in chunks.

use folio_guest::http::Problem;
use folio_guest::{Connection, SqlError, Value};

pub fn db() -> Result<Connection, Problem> {
    Connection::open("default").map_err(db_error)
}

pub fn db_error(e: SqlError) -> Problem {
    e.into_problem("analytics")
}

/// Rows per multi-row statement: well under SQLite's and Postgres's
/// parameter limits for the widest table here.
pub const CHUNK: usize = 100;

/// `($1,$2,$3),($4,$5,$6)…` for `rows` rows of `width` values.
pub fn placeholders(rows: usize, width: usize) -> String {
    let mut text = String::with_capacity(rows * width * 5);
    for r in 0..rows {
        if r > 0 {
            text.push(',');
        }
        text.push('(');
        for c in 0..width {
            if c > 0 {
                text.push(',');
            }
            text.push_str(&format!("${}", r * width + c + 1));
        }
        text.push(')');
    }
    text
}

pub fn opt_text(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::Text(s.clone()))
}

pub fn opt_int(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::Integer)
}

/// Start of the UTC minute, hour, day or (Monday) week holding `secs`.
pub fn floor(secs: i64, grain: &str) -> i64 {
    match grain {
        "minute" => secs - secs.rem_euclid(60),
        "hour" => secs - secs.rem_euclid(3_600),
        "week" => {
            // 1970-01-01 was a Thursday; Mondays are 4 days later, mod 7.
            let days = secs.div_euclid(86_400);
            (days - (days - 4).rem_euclid(7)) * 86_400
        }
        _ => secs - secs.rem_euclid(86_400),
    }
}

/// `YYYY-MM-DD` of a unix time.
pub fn date(secs: i64) -> String {
    folio_guest::util::rfc3339(secs * 1000)[..10].to_string()
}

/// What reports no longer need: minute rollups after a week, unique-visitor
/// and visit rows once late events can no longer arrive (48 hours), and
/// the marks of taken log messages after a week.
pub fn prune(db: &Connection, now_secs: i64) -> Result<(), Problem> {
    let days = |n: i64| now_secs - n * 86_400;
    let statements = [
        (
            "DELETE FROM rollups WHERE grain = 'minute' AND bucket < $1",
            days(7),
        ),
        (
            "DELETE FROM visitor_buckets WHERE grain = 'minute' AND bucket < $1",
            days(3),
        ),
        (
            "DELETE FROM visitor_buckets WHERE grain <> 'minute' AND bucket < $1",
            days(3),
        ),
        ("DELETE FROM visits WHERE day < $1", days(3)),
        ("DELETE FROM taken WHERE taken_at < $1", days(7) * 1000),
    ];
    for (statement, cutoff) in statements {
        db.execute(statement, &[Value::Integer(cutoff)])
            .map_err(db_error)?;
    }
    Ok(())
}
