//! Rebuilding the index from the content feed while the live index keeps
//! answering. A job is a row in `reindex_jobs`; each step reads one page of
//! the feed into the rebuild and, in one transaction, records its progress
//! and publishes the next step (on `folio.search.reindex`, keyed by job),
//! so a crash between steps loses nothing and a redelivered step, whose
//! cursor no longer matches the job's, is skipped. The last page finishes
//! the rebuild, which then replaces the live index at once.

use folio_guest::columns::{integer, optional_integer, optional_text, text};
use folio_guest::http::Problem;
use folio_guest::search;
use folio_guest::util::{new_id, now_ms, parse_rfc3339_ms, rfc3339};
use folio_guest::worker::{Event, HandleError};
use folio_guest::{Connection, OutgoingEvent, SqlError, Transaction, Value};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access;
use crate::feed::{self, FeedError};
use crate::indexer;
use crate::store::{self, db_error};

pub const TOPIC: &str = "folio.search.reindex";
const STEP_EVENT: &str = "folio.search.ReindexStep";
/// Feed items read per step.
const PAGE_SIZE: u32 = 500;
/// A running job without progress for this long is taken as dead (its step
/// was dead-lettered, say), so it no longer blocks a new one.
const STALLED_AFTER_MS: i64 = 10 * 60 * 1000;

const COLUMNS: &str =
    "id, rebuild_id, state, done, total, cursor, started_at, updated_at, finished_at, error";

pub struct Job {
    pub id: String,
    pub rebuild_id: Option<String>,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// Feed items read so far.
    pub done: i64,
    /// Feed items in all, once the first page told.
    pub total: Option<i64>,
    /// Where the next step reads the feed from ("" = its start).
    pub cursor: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
}

/// A job as `GET /api/v1/search/reindex/{id}` answers it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub id: String,
    #[schema(value_type = JobState)]
    pub state: String,
    /// Content items read so far.
    pub done: i64,
    /// Content items in all; null until the first step.
    #[schema(required = true)]
    pub total: Option<i64>,
    /// Items per second since the start.
    pub rate_per_second: f64,
    /// Seconds left at that rate: 0 when done, null when unknown or failed.
    #[schema(required = true)]
    pub eta_seconds: Option<i64>,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(required = true, format = DateTime)]
    pub finished_at: Option<String>,
    /// Why it failed.
    #[schema(required = true)]
    pub error: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum JobState {
    Running,
    Done,
    Failed,
}

impl Job {
    fn from_row(r: &[Value]) -> Job {
        Job {
            id: text(&r[0]),
            rebuild_id: optional_text(&r[1]),
            state: text(&r[2]),
            done: integer(&r[3]),
            total: optional_integer(&r[4]),
            cursor: text(&r[5]),
            started_at: text(&r[6]),
            finished_at: optional_text(&r[8]),
            error: optional_text(&r[9]),
        }
    }

    pub fn status(&self, now_ms: i64) -> JobStatus {
        let started = parse_rfc3339_ms(&self.started_at).unwrap_or(now_ms);
        let until = self
            .finished_at
            .as_deref()
            .and_then(parse_rfc3339_ms)
            .unwrap_or(now_ms);
        let seconds = (until - started).max(0) as f64 / 1000.0;
        let rate = if seconds > 0.0 {
            self.done as f64 / seconds
        } else {
            0.0
        };
        let eta_seconds = match (self.state.as_str(), self.total) {
            ("done", _) => Some(0),
            ("running", Some(total)) if rate > 0.0 => {
                Some(((total - self.done).max(0) as f64 / rate).ceil() as i64)
            }
            _ => None,
        };
        let time = |t: &str| parse_rfc3339_ms(t).map_or_else(|| t.to_string(), rfc3339);
        JobStatus {
            id: self.id.clone(),
            state: self.state.clone(),
            done: self.done,
            total: self.total,
            rate_per_second: (rate * 100.0).round() / 100.0,
            eta_seconds,
            started_at: time(&self.started_at),
            finished_at: self.finished_at.as_deref().map(time),
            error: self.error.clone(),
        }
    }
}

/// What a step event carries.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Step {
    job_id: String,
    cursor: String,
}

pub fn get(id: &str) -> Result<Option<Job>, Problem> {
    load(&store::db()?, id)
}

fn load(db: &Connection, id: &str) -> Result<Option<Job>, Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM reindex_jobs WHERE id = $1"),
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| Job::from_row(r)))
}

/// Starts a job, whose first step (which begins the rebuild) is published
/// with it; 409 while another job runs.
pub fn start() -> Result<Job, Problem> {
    let db = store::db()?;
    let now = rfc3339(now_ms());
    let tx = db.begin().map_err(db_error)?;
    tx.execute(
        "UPDATE reindex_jobs SET state = 'failed', error = $1, finished_at = $2, updated_at = $2 \
         WHERE state = 'running' AND updated_at < $3",
        &[
            Value::Text("stalled: no progress for ten minutes".into()),
            Value::Timestamp(now.clone()),
            Value::Timestamp(rfc3339(now_ms() - STALLED_AFTER_MS)),
        ],
    )
    .map_err(db_error)?;
    let running = tx
        .query("SELECT id FROM reindex_jobs WHERE state = 'running'", &[])
        .map_err(db_error)?;
    if let Some(row) = running.rows.first() {
        return Err(already_running(Some(&text(&row[0]))));
    }
    let job = Job {
        id: new_id(),
        rebuild_id: None,
        state: "running".into(),
        done: 0,
        total: None,
        cursor: String::new(),
        started_at: now.clone(),
        finished_at: None,
        error: None,
    };
    // The row claims the one running slot (a unique index): beginning a
    // rebuild abandons any other, so only the job holding the slot may.
    let claimed = tx.execute(
        "INSERT INTO reindex_jobs (id, state, done, cursor, started_at, updated_at) \
         VALUES ($1, 'running', 0, '', $2, $2)",
        &[Value::Text(job.id.clone()), Value::Timestamp(now)],
    );
    match claimed {
        Err(SqlError::ConstraintViolation(_)) => return Err(already_running(None)),
        other => other.map_err(db_error)?,
    };
    publish_step(&tx, &job.id, "")?;
    tx.commit().map_err(db_error)?;
    Ok(job)
}

fn already_running(id: Option<&str>) -> Problem {
    let job = id.map_or_else(
        || "another reindex job".to_string(),
        |id| format!("reindex job {id}"),
    );
    Problem::conflict(format!("{job} is running; wait for it to finish"))
}

fn publish_step(tx: &Transaction, job_id: &str, cursor: &str) -> Result<(), Problem> {
    let step = Step {
        job_id: job_id.to_string(),
        cursor: cursor.to_string(),
    };
    tx.publish(&OutgoingEvent {
        topic: TOPIC.into(),
        type_: STEP_EVENT.into(),
        key: job_id.to_string(),
        subject: Some(job_id.to_string()),
        datacontenttype: "application/json".into(),
        data: serde_json::to_vec(&step).expect("steps serialize"),
    })
    .map_err(db_error)?;
    Ok(())
}

/// One step of a job (a `folio.search.reindex` event).
pub fn step(event: &Event) -> Result<(), HandleError> {
    let step: Step = serde_json::from_slice(&event.data)
        .map_err(|e| HandleError::Reject(format!("a reindex step that is not one: {e}")))?;
    let retry = |p: Problem| HandleError::Retry(p.detail);
    let db = store::db().map_err(retry)?;
    let Some(job) = load(&db, &step.job_id).map_err(retry)? else {
        return Ok(());
    };
    // Stale: a redelivery of a step already taken, or a job that ended.
    if job.state != "running" || job.cursor != step.cursor {
        return Ok(());
    }
    let index = store::index().map_err(retry)?;
    // The rebuild begins in the first step, on the host whose worker runs
    // the job's steps (all keyed by the job, so they stay on that host).
    let rebuild = match job.rebuild_id.clone() {
        Some(rebuild) => rebuild,
        None => match index.begin_rebuild() {
            Ok(rebuild) => {
                record_rebuild(&db, &job, &rebuild).map_err(retry)?;
                rebuild
            }
            Err(e) => return rebuild_failed(&db, &job, e),
        },
    };
    let page = match feed::after(&step.cursor, PAGE_SIZE) {
        Ok(page) => page,
        Err(FeedError::Unavailable(m)) => return Err(HandleError::Retry(m)),
        Err(FeedError::Refused(m)) => return fail(&db, &job, &m).map_err(retry),
    };
    if page.next.as_deref() == Some(step.cursor.as_str()) {
        return fail(&db, &job, "the content feed did not move past the cursor").map_err(retry);
    }
    let live: Vec<_> = page.items.iter().filter(|item| !item.deleted).collect();
    for item in &live {
        if let Some(tier) = &item.required_tier {
            access::record_gate(&db, &item.id, tier).map_err(retry)?;
        }
    }
    let documents: Vec<_> = live.into_iter().flat_map(indexer::documents).collect();
    if !documents.is_empty()
        && let Err(e) = index.rebuild_upsert(&rebuild, &documents)
    {
        return rebuild_failed(&db, &job, e);
    }
    let done = job.done + page.items.len() as i64;
    let total = page.total.map(|t| t as i64).or(job.total);
    match &page.next {
        Some(next) => advance(&db, &job, done, total, next).map_err(retry),
        None => {
            if let Err(e) = index.finish_rebuild(&rebuild) {
                return rebuild_failed(&db, &job, e);
            }
            finish(&db, &job, done, total).map_err(retry)
        }
    }
}

fn record_rebuild(db: &Connection, job: &Job, rebuild: &str) -> Result<(), Problem> {
    db.execute(
        "UPDATE reindex_jobs SET rebuild_id = $2 WHERE id = $1",
        &[
            Value::Text(job.id.clone()),
            Value::Text(rebuild.to_string()),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Records a page read and publishes the next step, in one transaction;
/// nothing if another delivery of this step got there first.
fn advance(
    db: &Connection,
    job: &Job,
    done: i64,
    total: Option<i64>,
    next: &str,
) -> Result<(), Problem> {
    let tx = db.begin().map_err(db_error)?;
    let moved = tx
        .execute(
            "UPDATE reindex_jobs SET done = $3, total = $4, cursor = $5, updated_at = $6 \
             WHERE id = $1 AND cursor = $2 AND state = 'running'",
            &[
                Value::Text(job.id.clone()),
                Value::Text(job.cursor.clone()),
                Value::Integer(done),
                total.map_or(Value::Null, Value::Integer),
                Value::Text(next.to_string()),
                Value::Timestamp(rfc3339(now_ms())),
            ],
        )
        .map_err(db_error)?;
    if moved == 0 {
        return Ok(());
    }
    publish_step(&tx, &job.id, next)?;
    tx.commit().map_err(db_error)
}

/// Marks the job done once its rebuild is live. Should this write fail,
/// the retried step finds the rebuild gone and marks the job failed though
/// the index was replaced: a false alarm that a new job clears.
fn finish(db: &Connection, job: &Job, done: i64, total: Option<i64>) -> Result<(), Problem> {
    let now = rfc3339(now_ms());
    db.execute(
        "UPDATE reindex_jobs SET state = 'done', done = $3, total = $4, updated_at = $5, \
         finished_at = $5 WHERE id = $1 AND cursor = $2 AND state = 'running'",
        &[
            Value::Text(job.id.clone()),
            Value::Text(job.cursor.clone()),
            Value::Integer(done),
            Value::Integer(total.unwrap_or(done)),
            Value::Timestamp(now),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// `invalid-argument` from a `rebuild-*` call means the host no longer
/// knows the rebuild (it restarted): the job cannot go on.
fn rebuild_failed(db: &Connection, job: &Job, e: search::Error) -> Result<(), HandleError> {
    match e {
        search::Error::InvalidArgument(m) => fail(db, job, &format!("the rebuild was lost: {m}"))
            .map_err(|p| HandleError::Retry(p.detail)),
        other => Err(indexer::worker_error(other)),
    }
}

fn fail(db: &Connection, job: &Job, why: &str) -> Result<(), Problem> {
    let now = rfc3339(now_ms());
    db.execute(
        "UPDATE reindex_jobs SET state = 'failed', error = $2, updated_at = $3, finished_at = $3 \
         WHERE id = $1 AND state = 'running'",
        &[
            Value::Text(job.id.clone()),
            Value::Text(why.to_string()),
            Value::Timestamp(now),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: &str, done: i64, total: Option<i64>, finished: Option<&str>) -> Job {
        Job {
            id: "j".into(),
            rebuild_id: Some("r".into()),
            state: state.into(),
            done,
            total,
            cursor: String::new(),
            started_at: "2026-01-01T00:00:00.000000Z".into(),
            finished_at: finished.map(str::to_string),
            error: None,
        }
    }

    #[test]
    fn progress_has_a_rate_and_an_eta() {
        let start = parse_rfc3339_ms("2026-01-01T00:00:00Z").unwrap();
        let status = job("running", 500, Some(1500), None).status(start + 10_000);
        assert_eq!(status.rate_per_second, 50.0);
        assert_eq!(status.eta_seconds, Some(20));
        assert_eq!(status.started_at, "2026-01-01T00:00:00.000Z");
        let unknown = job("running", 0, None, None).status(start + 10_000);
        assert_eq!(unknown.eta_seconds, None);
        let done =
            job("done", 1500, Some(1500), Some("2026-01-01T00:00:30Z")).status(start + 999_000);
        assert_eq!(done.rate_per_second, 50.0);
        assert_eq!(done.eta_seconds, Some(0));
    }
}
