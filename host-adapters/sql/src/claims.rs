//! Runs that must happen once per cluster, not once per host: hosts that
//! share a component's database claim each scheduled run (a cron trigger's
//! fire time) there before starting it. The first insert of the (schedule,
//! fire time) row wins; the others see it taken and skip the run. A host
//! that dies mid-run loses that run, as a missed tick would be: the next
//! fire time is claimed afresh.

use crate::backend::{Database, SqlError, Value};

/// Claims kept this long (seconds) before they are pruned.
const KEEP_SECS: i64 = 24 * 60 * 60;

/// Whether this host won fire time `tick` (Unix seconds) of `schedule`.
pub async fn claim_tick(
    db: &Database,
    schedule: &str,
    tick: i64,
    host: &str,
) -> Result<bool, SqlError> {
    let inserted = db
        .execute(
            "INSERT INTO _folio_cron_ticks (schedule, tick, host, claimed_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (schedule, tick) DO NOTHING",
            vec![
                Value::Text(schedule.to_string()),
                Value::Integer(tick),
                Value::Text(host.to_string()),
                Value::Integer(chrono::Utc::now().timestamp_millis()),
            ],
        )
        .await?;
    if inserted == 1 {
        db.execute(
            "DELETE FROM _folio_cron_ticks WHERE schedule = $1 AND tick < $2",
            vec![
                Value::Text(schedule.to_string()),
                Value::Integer(tick - KEEP_SECS),
            ],
        )
        .await?;
    }
    Ok(inserted == 1)
}
