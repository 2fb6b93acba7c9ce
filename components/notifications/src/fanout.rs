//! Telling many users one thing, a page at a time. Each page is one
//! transaction that writes its notifications and deliveries and publishes
//! the step for the next page (on `folio.notifications.fanout`, keyed by
//! the source, so one fan-out's steps run in order). A host killed in the
//! middle loses nothing: the step whose transaction did not commit is
//! delivered again, and the notifications' unique (user, source) makes the
//! page it redoes tell nobody twice.

use std::collections::HashMap;

use folio_guest::columns::text;
use folio_guest::http::Problem;
use folio_guest::util::now_ms;
use folio_guest::{Connection, OutgoingEvent, Value};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::notify::{self, Notice, TemplateCache};
use crate::preferences::{self, Preferences};
use crate::push;
use crate::recipients;
use crate::store::db_error;

pub const TOPIC: &str = "folio.notifications.fanout";
const STEP: &str = "folio.notifications.FanoutStep";

/// Who a fan-out tells.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Audience {
    /// Followers of an author or of any of some categories, but not `except`.
    Followers {
        author: Option<String>,
        categories: Vec<String>,
        except: Option<String>,
    },
    /// Every active account with this role.
    Role { role: String },
    /// These users.
    Users { ids: Vec<String> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fanout {
    pub audience: Audience,
    pub source: String,
    pub template: String,
    pub category: String,
    pub data: Json,
    pub link: Option<String>,
    pub in_app: bool,
    pub push: bool,
    /// The last user id the previous page told ("" at the start).
    #[serde(default)]
    pub after: String,
}

impl Fanout {
    fn notice(&self) -> Notice {
        Notice {
            source: self.source.clone(),
            template: self.template.clone(),
            category: self.category.clone(),
            data: self.data.clone(),
            link: self.link.clone(),
            in_app: self.in_app,
            push: self.push,
            is_digest: false,
        }
    }
}

#[derive(Debug, Default)]
pub struct StepReport {
    pub told: usize,
    pub in_app: usize,
    pub more: bool,
}

/// One page: tells the next `PAGE_SIZE` users after `fanout.after` and, if
/// there may be more, publishes the step for the page after.
pub fn step(db: &Connection, fanout: &Fanout) -> Result<StepReport, Problem> {
    let page_size = crate::config::fanout_page_size();
    let ids = page(db, &fanout.audience, &fanout.after, page_size)?;
    let mut report = StepReport::default();
    if ids.is_empty() {
        // The previous page was full and the last.
        println!(
            "fan-out {}: 0 told after {:?}, done",
            fanout.source, fanout.after
        );
        return Ok(report);
    }
    let recipients = recipients::get_many(db, &ids)?;
    let prefs = load_preferences(db, &ids)?;
    let mut subscriptions: HashMap<String, Vec<push::Subscription>> = HashMap::new();
    if fanout.push {
        for s in push::of_users(db, &ids)? {
            subscriptions.entry(s.user_id.clone()).or_default().push(s);
        }
    }
    let notice = fanout.notice();
    let mut cache = TemplateCache::default();
    let now = now_ms();
    let mut changed = Vec::new();
    let tx = db.begin().map_err(db_error)?;
    for recipient in recipients.iter().filter(|r| r.active) {
        let default = Preferences::default();
        let p = prefs.get(&recipient.user_id).unwrap_or(&default);
        let subs = subscriptions
            .get(&recipient.user_id)
            .map_or(&[][..], Vec::as_slice);
        if let Some(told) = notify::tell(&tx, db, &mut cache, &notice, recipient, p, subs, now)? {
            report.told += 1;
            if told.in_app {
                report.in_app += 1;
                changed.push(recipient.user_id.clone());
            }
        }
    }
    report.more = ids.len() == page_size;
    if report.more {
        let next = Fanout {
            after: ids.last().cloned().unwrap_or_default(),
            ..fanout.clone()
        };
        tx.publish(&OutgoingEvent {
            topic: TOPIC.into(),
            type_: STEP.into(),
            key: fanout.source.clone(),
            subject: Some(fanout.source.clone()),
            datacontenttype: "application/json".into(),
            data: serde_json::to_vec(&next).expect("a fan-out serializes"),
        })
        .map_err(db_error)?;
    }
    tx.commit().map_err(db_error)?;
    notify::inbox_changed(changed.iter().map(String::as_str));
    println!(
        "fan-out {}: {} told after {:?}{}",
        fanout.source,
        report.told,
        fanout.after,
        if report.more {
            ", more to come"
        } else {
            ", done"
        }
    );
    Ok(report)
}

fn page(
    db: &Connection,
    audience: &Audience,
    after: &str,
    page_size: usize,
) -> Result<Vec<String>, Problem> {
    let limit = Value::Integer(page_size as i64);
    let (sql, params): (String, Vec<Value>) = match audience {
        Audience::Followers {
            author,
            categories,
            except,
        } => {
            let mut params = vec![
                Value::Text(after.into()),
                limit,
                Value::Text(except.clone().unwrap_or_default()),
            ];
            let mut clauses = Vec::new();
            if let Some(author) = author {
                params.push(Value::Text(author.clone()));
                clauses.push(format!(
                    "(kind = 'author' AND target_id = ${})",
                    params.len()
                ));
            }
            for category in categories.iter().take(50) {
                params.push(Value::Text(category.clone()));
                clauses.push(format!(
                    "(kind = 'category' AND target_id = ${})",
                    params.len()
                ));
            }
            if clauses.is_empty() {
                return Ok(Vec::new());
            }
            (
                format!(
                    "SELECT DISTINCT user_id FROM follows WHERE ({}) AND user_id > $1 AND user_id <> $3 \
                     ORDER BY user_id LIMIT $2",
                    clauses.join(" OR ")
                ),
                params,
            )
        }
        Audience::Role { role } => (
            "SELECT user_id FROM recipients WHERE role = $3 AND active AND user_id > $1 \
             ORDER BY user_id LIMIT $2"
                .into(),
            vec![Value::Text(after.into()), limit, Value::Text(role.clone())],
        ),
        Audience::Users { ids } => {
            let mut ids: Vec<&String> = ids.iter().filter(|id| id.as_str() > after).collect();
            ids.sort();
            ids.dedup();
            return Ok(ids.into_iter().take(page_size).cloned().collect());
        }
    };
    let rows = db.query(&sql, &params).map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| text(&r[0])).collect())
}

fn load_preferences(
    db: &Connection,
    ids: &[String],
) -> Result<HashMap<String, Preferences>, Problem> {
    // Most users never change a preference: read the few who did.
    let (placeholders, params) = folio_guest::columns::text_in_list(ids);
    let rows = db
        .query(
            &format!(
                "SELECT user_id FROM channel_preferences WHERE user_id IN ({0}) \
                 UNION SELECT user_id FROM delivery_settings WHERE user_id IN ({0})",
                placeholders
            ),
            &params,
        )
        .map_err(db_error)?;
    let mut out = HashMap::new();
    for r in &rows.rows {
        let id = text(&r[0]);
        let p = preferences::load(db, &id)?;
        out.insert(id, p);
    }
    Ok(out)
}

/// Publishes the first step of `fanout` (for callers outside a worker,
/// such as an admin's broadcast).
pub fn start(fanout: &Fanout) -> Result<(), Problem> {
    folio_guest::events::publish(&OutgoingEvent {
        topic: TOPIC.into(),
        type_: STEP.into(),
        key: fanout.source.clone(),
        subject: Some(fanout.source.clone()),
        datacontenttype: "application/json".into(),
        data: serde_json::to_vec(fanout).expect("a fan-out serializes"),
    })
    .map_err(|e| Problem::unavailable(format!("the event log: {e:?}")))?;
    Ok(())
}
