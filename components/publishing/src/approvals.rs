//! Approval policies: a channel may want N approvals from given roles
//! before it distributes an item. An approval counts for the item's content
//! as it was approved (its fingerprint), so an edit resets it; authors never
//! approve their own items; one reject from an eligible reviewer cancels
//! what waited.

use folio_guest::columns::{integer, text};
use folio_guest::http::Problem;
use folio_guest::util::{now_ms, rfc3339};
use folio_guest::{Connection, Transaction, Value};
use serde_json::{Value as Json, json};

use crate::channels::{self, ApprovalPolicy};
use crate::distributions;
use crate::items::Item;
use crate::store::db_error;

pub struct Decision {
    pub user_id: String,
    pub role: String,
    pub decision: String,
    pub comment: String,
    pub version: i64,
    pub decided_at: i64,
}

fn decisions(
    tx: &Transaction,
    content_id: &str,
    fingerprint: &str,
) -> Result<Vec<Decision>, Problem> {
    let rows = tx
        .query(
            "SELECT user_id, role, decision, comment, version, decided_at FROM approvals \
             WHERE content_id = $1 AND fingerprint = $2 ORDER BY decided_at",
            &[
                Value::Text(content_id.to_string()),
                Value::Text(fingerprint.to_string()),
            ],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| Decision {
            user_id: text(&r[0]),
            role: text(&r[1]),
            decision: text(&r[2]),
            comment: text(&r[3]),
            version: integer(&r[4]),
            decided_at: integer(&r[5]),
        })
        .collect())
}

/// Approvals that count for `policy` on `item`: eligible roles, not the author.
fn approvals_for(decisions: &[Decision], item: &Item, policy: &ApprovalPolicy) -> i64 {
    decisions
        .iter()
        .filter(|d| {
            d.decision == "approve" && d.user_id != item.author_id && policy.roles.contains(&d.role)
        })
        .count() as i64
}

pub fn satisfied(tx: &Transaction, item: &Item, policy: &ApprovalPolicy) -> Result<bool, Problem> {
    let decisions = decisions(tx, &item.id, &item.fingerprint)?;
    Ok(approvals_for(&decisions, item, policy) >= policy.required)
}

/// An edit: what waited for approval of the old content is cancelled (the
/// new content's distributions will wait for approvals of their own).
pub fn reset(tx: &Transaction, content_id: &str, new_fingerprint: &str) -> Result<(), Problem> {
    tx.execute(
        "UPDATE distributions SET status = 'cancelled', reason = 'edited: approvals reset', \
         updated_at = $3 WHERE content_id = $1 AND fingerprint <> $2 \
         AND status = 'awaiting-approval'",
        &[
            Value::Text(content_id.to_string()),
            Value::Text(new_fingerprint.to_string()),
            Value::Integer(now_ms()),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

pub struct Vote<'a> {
    pub user_id: &'a str,
    pub role: &'a str,
    pub approve: bool,
    pub comment: &'a str,
}

/// Records a decision on the item's current content and applies it: a
/// channel whose policy is now met releases its distributions
/// (`ContentApproved`); a reject cancels them (`ContentRejected`).
pub fn decide(db: &Connection, item: &Item, vote: &Vote) -> Result<Json, Problem> {
    if vote.user_id == item.author_id {
        return Err(Problem::forbidden(
            "authors may not approve or reject their own content",
        ));
    }
    let tx = db.begin().map_err(db_error)?;
    let policies = policies(&tx)?;
    if !policies
        .iter()
        .any(|(_, p)| p.roles.iter().any(|r| r == vote.role))
    {
        return Err(Problem::forbidden(
            "no channel's approval policy takes decisions from your role",
        ));
    }
    let now = now_ms();
    let decision = if vote.approve { "approve" } else { "reject" };
    tx.execute(
        "INSERT INTO approvals (content_id, fingerprint, user_id, role, decision, comment, version, \
         decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (content_id, fingerprint, user_id) DO UPDATE SET role = $4, decision = $5, \
         comment = $6, version = $7, decided_at = $8",
        &[
            Value::Text(item.id.clone()),
            Value::Text(item.fingerprint.clone()),
            Value::Text(vote.user_id.to_string()),
            Value::Text(vote.role.to_string()),
            Value::Text(decision.into()),
            Value::Text(vote.comment.to_string()),
            Value::Integer(item.version),
            Value::Integer(now),
        ],
    )
    .map_err(db_error)?;
    let decisions = decisions(&tx, &item.id, &item.fingerprint)?;
    let waiting = waiting_channels(&tx, &item.id, &item.fingerprint)?;
    let mut released = Vec::new();
    let mut rejected = Vec::new();
    let mut channel_states = Vec::new();
    for (channel_id, name, ids) in &waiting {
        let Some((_, policy)) = policies.iter().find(|(c, _)| c == channel_id) else {
            continue;
        };
        let count = approvals_for(&decisions, item, policy);
        let eligible = policy.roles.iter().any(|r| r == vote.role);
        let state = if !vote.approve && eligible {
            cancel(&tx, ids, &format!("rejected by {}", vote.user_id), now)?;
            rejected.push(name.clone());
            "rejected"
        } else if count >= policy.required {
            release(&tx, ids, &item.id, now)?;
            released.push(name.clone());
            "approved"
        } else {
            "awaiting-approval"
        };
        channel_states.push(json!({
            "channelId": channel_id,
            "name": name,
            "required": policy.required,
            "approvals": count,
            "status": state,
        }));
    }
    let summary = json!({
        "contentId": item.id,
        "version": item.version,
        "title": item.title,
        "authorId": item.author_id,
        "by": vote.user_id,
        "comment": vote.comment,
    });
    if !released.is_empty() {
        let mut data = summary.clone();
        data["channels"] = json!(released);
        distributions::publish_event(&tx, "ContentApproved", &item.id, data)?;
    }
    if !vote.approve {
        let mut data = summary;
        data["channels"] = json!(rejected);
        distributions::publish_event(&tx, "ContentRejected", &item.id, data)?;
    }
    tx.commit().map_err(db_error)?;
    Ok(json!({
        "contentId": item.id,
        "version": item.version,
        "decision": decision,
        "approvals": decisions.iter().map(decision_json).collect::<Vec<_>>(),
        "channels": channel_states,
    }))
}

fn decision_json(d: &Decision) -> Json {
    json!({
        "userId": d.user_id,
        "role": d.role,
        "decision": d.decision,
        "comment": d.comment,
        "version": d.version,
        "decidedAt": rfc3339(d.decided_at),
    })
}

fn policies(tx: &Transaction) -> Result<Vec<(String, ApprovalPolicy)>, Problem> {
    Ok(channels::active_in(tx)?
        .into_iter()
        .filter_map(|c| c.approval.map(|p| (c.id, p)))
        .collect())
}

/// (channel id, channel name, distribution ids) awaiting approval of this content.
fn waiting_channels(
    tx: &Transaction,
    content_id: &str,
    fingerprint: &str,
) -> Result<Vec<(String, String, Vec<String>)>, Problem> {
    let rows = tx
        .query(
            "SELECT d.channel_id, c.name, d.id FROM distributions d \
             JOIN channels c ON c.id = d.channel_id \
             WHERE d.content_id = $1 AND d.fingerprint = $2 AND d.status = 'awaiting-approval' \
             ORDER BY d.channel_id, d.created_at",
            &[
                Value::Text(content_id.to_string()),
                Value::Text(fingerprint.to_string()),
            ],
        )
        .map_err(db_error)?;
    let mut out: Vec<(String, String, Vec<String>)> = Vec::new();
    for r in &rows.rows {
        let (channel, name, id) = (text(&r[0]), text(&r[1]), text(&r[2]));
        match out.last_mut() {
            Some((c, _, ids)) if *c == channel => ids.push(id),
            _ => out.push((channel, name, vec![id])),
        }
    }
    Ok(out)
}

fn cancel(tx: &Transaction, ids: &[String], reason: &str, now: i64) -> Result<(), Problem> {
    let (list, mut params) = folio_guest::columns::text_in_list(ids);
    params.push(Value::Text(reason.to_string()));
    params.push(Value::Integer(now));
    let n = params.len();
    tx.execute(
        &format!(
            "UPDATE distributions SET status = 'cancelled', reason = ${}, updated_at = ${n} \
             WHERE id IN ({list}) AND status = 'awaiting-approval'",
            n - 1
        ),
        &params,
    )
    .map_err(db_error)?;
    Ok(())
}

/// Approved: pending now, or when the channel's embargo ends (the cron
/// announces those).
fn release(tx: &Transaction, ids: &[String], content_id: &str, now: i64) -> Result<(), Problem> {
    let (list, mut params) = folio_guest::columns::text_in_list(ids);
    params.push(Value::Integer(now));
    let n = params.len();
    tx.execute(
        &format!(
            "UPDATE distributions SET status = 'pending', updated_at = ${n}, \
             next_attempt_at = CASE WHEN next_attempt_at > ${n} THEN next_attempt_at ELSE ${n} END \
             WHERE id IN ({list}) AND status = 'awaiting-approval'"
        ),
        &params,
    )
    .map_err(db_error)?;
    let due = tx
        .query(
            &format!(
                "SELECT id FROM distributions WHERE id IN ({list}) AND status = 'pending' \
                 AND next_attempt_at <= ${n}"
            ),
            &params,
        )
        .map_err(db_error)?;
    let due: Vec<String> = due.rows.iter().map(|r| text(&r[0])).collect();
    distributions::announce(tx, &due, content_id)
}

/// The editors' queue: items with distributions awaiting approval, oldest
/// first, each with the decisions so far.
pub fn queue(db: &Connection, limit: i64) -> Result<Vec<Json>, Problem> {
    let rows = db
        .query(
            "SELECT d.content_id, d.fingerprint, MIN(d.created_at) AS since FROM distributions d \
             WHERE d.status = 'awaiting-approval' GROUP BY d.content_id, d.fingerprint \
             ORDER BY since, d.content_id LIMIT $1",
            &[Value::Integer(limit)],
        )
        .map_err(db_error)?;
    let tx = db.begin().map_err(db_error)?;
    let policies = policies(&tx)?;
    let mut out = Vec::new();
    for r in &rows.rows {
        let (content_id, fingerprint) = (text(&r[0]), text(&r[1]));
        let Some(item) = crate::items::get_in(&tx, &content_id)? else {
            continue;
        };
        let decisions = decisions(&tx, &content_id, &fingerprint)?;
        let channels: Vec<Json> = waiting_channels(&tx, &content_id, &fingerprint)?
            .into_iter()
            .filter_map(|(id, name, _)| {
                let (_, policy) = policies.iter().find(|(c, _)| *c == id)?;
                Some(json!({
                    "channelId": id,
                    "name": name,
                    "required": policy.required,
                    "roles": policy.roles,
                    "approvals": approvals_for(&decisions, &item, policy),
                }))
            })
            .collect();
        out.push(json!({
            "contentId": content_id,
            "title": item.title,
            "type": item.kind,
            "authorId": item.author_id,
            "version": item.version,
            "current": item.fingerprint == fingerprint,
            "waitingSince": rfc3339(integer(&r[2])),
            "channels": channels,
            "decisions": decisions.iter().map(decision_json).collect::<Vec<_>>(),
        }));
    }
    tx.commit().map_err(db_error)?;
    Ok(out)
}

/// Decisions made, newest first (`status=approved|rejected` in the queue API).
pub fn history(db: &Connection, decision: &str, limit: i64) -> Result<Vec<Json>, Problem> {
    let rows = db
        .query(
            "SELECT a.content_id, a.user_id, a.role, a.decision, a.comment, a.version, a.decided_at, \
             i.title FROM approvals a LEFT JOIN items i ON i.id = a.content_id \
             WHERE a.decision = $1 ORDER BY a.decided_at DESC LIMIT $2",
            &[Value::Text(decision.to_string()), Value::Integer(limit)],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| {
            json!({
                "contentId": text(&r[0]),
                "userId": text(&r[1]),
                "role": text(&r[2]),
                "decision": text(&r[3]),
                "comment": text(&r[4]),
                "version": integer(&r[5]),
                "decidedAt": rfc3339(integer(&r[6])),
                "title": folio_guest::columns::optional_text(&r[7]),
            })
        })
        .collect())
}
