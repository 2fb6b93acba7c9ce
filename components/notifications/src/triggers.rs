//! Who is told what, decided from the platform's events: accounts from
//! `folio.users` (and the messages about them), editors and followers from
//! `folio.content`, customers from `folio.billing` (invoices, failed
//! payments).

use folio_auth::sealed;
use folio_guest::http::Problem;
use folio_guest::util::{b64url_decode, now_ms, parse_rfc3339_ms};
use folio_guest::worker::{Event, HandleError};
use serde_json::{Value as Json, json};

use crate::config;
use crate::fanout::{self, Audience, Fanout};
use crate::newsletters;
use crate::notify::{self, Notice, TemplateCache};
use crate::preferences;
use crate::push;
use crate::recipients::{self, Recipient};
use crate::store::{self, db_error};

pub const USERS_TOPIC: &str = "folio.users";
pub const CONTENT_TOPIC: &str = "folio.content";
pub const PUBLISHING_TOPIC: &str = "folio.publishing";
pub const BILLING_TOPIC: &str = "folio.billing";

/// A failure as the event trigger's answer: a backend that is down is
/// retried, a malformed event is dead-lettered.
pub fn retry(p: Problem) -> HandleError {
    if p.status >= 500 {
        HandleError::Retry(p.detail)
    } else {
        HandleError::Reject(p.detail)
    }
}

/// Account mail about an event older than this is not sent, and content
/// notices older than `MAX_CONTENT_AGE_MS` are not either: a service
/// deployed onto a log with history, or a consumer rewound, keeps its
/// directory from every event but does not welcome every existing account
/// or announce last month's articles.
const MAX_ACCOUNT_AGE_MS: i64 = 60 * 60 * 1000;
const MAX_CONTENT_AGE_MS: i64 = 24 * 60 * 60 * 1000;

fn is_recent(event: &Event, max_age_ms: i64) -> bool {
    parse_rfc3339_ms(&event.time).is_none_or(|at| now_ms() - at <= max_age_ms)
}

fn data(event: &Event) -> Result<Json, HandleError> {
    serde_json::from_slice(&event.data)
        .map_err(|e| HandleError::Reject(format!("{}: the data is not JSON: {e}", event.type_)))
}

pub fn users(event: &Event) -> Result<(), HandleError> {
    let kind = event.type_.rsplit('.').next().unwrap_or_default();
    let data = data(event)?;
    match kind {
        "UserCreated" | "UserUpdated" => {
            let Some(recipient) = Recipient::from_user_view(&data["user"]) else {
                return Err(HandleError::Reject(format!("{kind} without a user")));
            };
            let db = store::db().map_err(retry)?;
            let tx = db.begin().map_err(db_error).map_err(retry)?;
            recipients::save(&tx, &recipient, now_ms()).map_err(retry)?;
            tx.commit().map_err(db_error).map_err(retry)?;
            if kind == "UserCreated" && is_recent(event, MAX_ACCOUNT_AGE_MS) {
                tell_one(
                    &recipient,
                    account_notice("welcome", "welcome".into(), json!({}), true),
                )?;
            }
            Ok(())
        }
        "UserDeleted" => {
            let Some(user_id) = data["userId"].as_str() else {
                return Err(HandleError::Reject("UserDeleted without a userId".into()));
            };
            let db = store::db().map_err(retry)?;
            let tx = db.begin().map_err(db_error).map_err(retry)?;
            recipients::forget(&tx, user_id).map_err(retry)?;
            tx.commit().map_err(db_error).map_err(retry)
        }
        "PasswordResetRequested" => {
            let Some(sealed_token) = data["resetTokenSealed"].as_str() else {
                // The users service has no key to seal to: nothing can be sent.
                eprintln!(
                    "PasswordResetRequested without a sealed token: reset_delivery_public_key is unset in the users service"
                );
                return Ok(());
            };
            let expired = data["expiresAt"]
                .as_str()
                .and_then(parse_rfc3339_ms)
                .is_some_and(|at| at <= now_ms());
            if expired {
                return Ok(());
            }
            let recipient = recipient_of(&data)?;
            // The token stays sealed at rest; it is opened only to send the mail.
            let notice = account_notice(
                "password-reset",
                format!("password-reset:{}", event.id),
                json!({"resetTokenSealed": sealed_token, "expiresAt": data["expiresAt"]}),
                false,
            );
            tell_one(&recipient, notice)
        }
        "RegistrationAttempted" if is_recent(event, MAX_ACCOUNT_AGE_MS) => {
            let recipient = recipient_of(&data)?;
            let notice = account_notice(
                "registration-attempted",
                format!("registration-attempted:{}", event.id),
                json!({}),
                false,
            );
            tell_one(&recipient, notice)
        }
        _ => Ok(()),
    }
}

fn account_notice(template: &str, source: String, data: Json, in_app: bool) -> Notice {
    Notice {
        source,
        template: template.into(),
        category: "account".into(),
        data,
        link: None,
        in_app,
        push: false,
        is_digest: false,
    }
}

/// The recipient an account event names: the directory's copy, else what
/// the event itself carries (the directory may not have caught up).
fn recipient_of(data: &Json) -> Result<Recipient, HandleError> {
    let Some(user_id) = data["userId"].as_str() else {
        return Err(HandleError::Reject(
            "an account event without a userId".into(),
        ));
    };
    let db = store::db().map_err(retry)?;
    if let Some(r) = recipients::get(&db, user_id).map_err(retry)? {
        return Ok(r);
    }
    let Some(email) = data["email"].as_str() else {
        return Err(HandleError::Reject(
            "an account event without an email".into(),
        ));
    };
    Ok(Recipient {
        user_id: user_id.into(),
        email: email.into(),
        first_name: data["firstName"].as_str().unwrap_or_default().into(),
        role: "consumer".into(),
        locale: "en".into(),
        time_zone: "UTC".into(),
        active: true,
        email_enabled: true,
        push_enabled: true,
    })
}

fn tell_one(recipient: &Recipient, notice: Notice) -> Result<(), HandleError> {
    let db = store::db().map_err(retry)?;
    let prefs = preferences::load(&db, &recipient.user_id).map_err(retry)?;
    let subscriptions = if notice.push {
        push::of_users(&db, std::slice::from_ref(&recipient.user_id)).map_err(retry)?
    } else {
        Vec::new()
    };
    let tx = db.begin().map_err(db_error).map_err(retry)?;
    let told = notify::tell(
        &tx,
        &db,
        &mut TemplateCache::default(),
        &notice,
        recipient,
        &prefs,
        &subscriptions,
        now_ms(),
    )
    .map_err(retry)?;
    tx.commit().map_err(db_error).map_err(retry)?;
    if told.is_some_and(|t| t.in_app) {
        notify::inbox_changed([recipient.user_id.as_str()]);
    }
    Ok(())
}

/// Opens a reset token sealed to this service.
pub fn open_reset_token(sealed_b64: &str) -> Result<String, Problem> {
    let key = config::reset_delivery_private_key()?;
    let sealed_bytes = b64url_decode(sealed_b64.trim_end_matches('='))
        .ok_or_else(|| Problem::bad_request("the sealed reset token is not base64url"))?;
    let token = sealed::open(&key, &sealed_bytes, sealed::RESET_TOKEN_INFO).map_err(|_| {
        Problem::bad_request("the reset token does not open with reset_delivery_private_key")
    })?;
    String::from_utf8(token).map_err(|_| Problem::bad_request("the reset token is not text"))
}

pub fn content(event: &Event) -> Result<(), HandleError> {
    let kind = event.type_.rsplit('.').next().unwrap_or_default();
    let data = data(event)?;
    let id = data["id"].as_str().unwrap_or_default().to_string();
    if id.is_empty() || !is_recent(event, MAX_CONTENT_AGE_MS) {
        return Ok(());
    }
    let content = json!({
        "id": id,
        "title": data["title"].as_str().unwrap_or("Untitled"),
        "type": data["type"],
    });
    let fanout = match kind {
        "ContentStatusChanged" if data["to"] == "review" => Fanout {
            audience: Audience::Role {
                role: "admin".into(),
            },
            source: format!("content-review:{id}:{}", data["version"]),
            template: "content-review".into(),
            category: "editorial".into(),
            data: json!({ "content": content }),
            link: Some(config::link(&format!("/admin/content/{id}"))),
            in_app: true,
            push: true,
            after: String::new(),
        },
        "ContentPublished" => {
            let categories = data["categories"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let author = data["authorId"].as_str().map(str::to_string);
            Fanout {
                audience: Audience::Followers {
                    author: author.clone(),
                    categories,
                    except: author,
                },
                // Once per item: republishing an edit tells nobody again.
                source: format!("content-published:{id}"),
                template: "content-published".into(),
                category: "following".into(),
                data: json!({ "content": content }),
                link: Some(config::link(&format!("/content/{id}"))),
                in_app: true,
                push: true,
                after: String::new(),
            }
        }
        _ => return Ok(()),
    };
    run_first_step(&fanout)
}

/// The billing service's events: the account holder is sent each invoice,
/// and told when a payment failed (and whether it will be tried again);
/// subscription events keep who holds which tiers.
/// Billing mail is mandatory email, like account mail.
pub fn billing(event: &Event) -> Result<(), HandleError> {
    // Who holds which tiers: newsletters send paid items whole to them.
    folio_guest::entitlements::consume(store::db(), event)?;
    let kind = event.type_.rsplit('.').next().unwrap_or_default();
    if !matches!(kind, "InvoiceGenerated" | "PaymentFailed")
        || !is_recent(event, MAX_ACCOUNT_AGE_MS)
    {
        return Ok(());
    }
    let data = data(event)?;
    let (Some(account), Some(invoice_id)) = (data["account"].as_str(), data["invoiceId"].as_str())
    else {
        return Err(HandleError::Reject(format!(
            "{kind} without an account and an invoice"
        )));
    };
    let db = store::db().map_err(retry)?;
    // The directory hears of every account from `folio.users` first; one it
    // has not heard of yet is tried again later.
    let Some(recipient) = recipients::get(&db, account).map_err(retry)? else {
        return Err(HandleError::Retry(format!(
            "{kind}: account {account} is not in the directory yet"
        )));
    };
    let invoice = json!({
        "number": data["number"],
        "amount": data["amountText"],
        "dueDate": data["dueDate"],
    });
    let (template, data) = match kind {
        "InvoiceGenerated" => ("invoice-issued", json!({ "invoice": invoice })),
        _ => (
            "payment-failed",
            json!({
                "invoice": invoice,
                "reason": data["reason"],
                "nextAttempt": data["nextAttemptDate"],
            }),
        ),
    };
    let notice = Notice {
        source: format!("{template}:{}", event.id),
        template: template.into(),
        category: "billing".into(),
        data,
        link: Some(config::link(&format!("/billing/invoices/{invoice_id}"))),
        in_app: true,
        push: false,
        is_digest: false,
    };
    tell_one(&recipient, notice)
}

/// The publishing service's events: editors asked to approve, authors told
/// the decision, a channel's owner told it was disabled, and newsletter
/// issues to the author's followers.
pub fn publishing(event: &Event) -> Result<(), HandleError> {
    let kind = event.type_.rsplit('.').next().unwrap_or_default();
    let data = data(event)?;
    if !is_recent(event, MAX_CONTENT_AGE_MS) {
        return Ok(());
    }
    let text = |v: &Json| v.as_str().unwrap_or_default().to_string();
    let content_id = text(&data["contentId"]);
    let content =
        json!({ "id": content_id, "title": data["title"].as_str().unwrap_or("Untitled") });
    let editorial = |audience, source: String, template: &str, data: Json, link: String| Fanout {
        audience,
        source,
        template: template.into(),
        category: "editorial".into(),
        data,
        link: Some(config::link(&link)),
        in_app: true,
        push: true,
        after: String::new(),
    };
    let fanout = match kind {
        "ApprovalRequested" => editorial(
            Audience::Role {
                role: "admin".into(),
            },
            format!("approval-requested:{content_id}:{}", data["version"]),
            "approval-requested",
            json!({ "content": content, "channels": data["channels"] }),
            "/admin/approvals".into(),
        ),
        "ContentApproved" | "ContentRejected" => {
            let (template, verdict) = match kind {
                "ContentApproved" => ("content-approved", "approved"),
                _ => ("content-rejected", "rejected"),
            };
            editorial(
                Audience::Users {
                    ids: vec![text(&data["authorId"])],
                },
                format!("{verdict}:{content_id}:{}", event.id),
                template,
                json!({ "content": content, "channels": data["channels"], "comment": data["comment"] }),
                format!("/admin/content/{content_id}"),
            )
        }
        "ChannelDisabled" => editorial(
            Audience::Users {
                ids: vec![text(&data["ownerId"])],
            },
            format!("channel-disabled:{}", event.id),
            "channel-disabled",
            json!({ "channel": { "name": data["name"], "kind": data["kind"], "reason": data["reason"] } }),
            format!("/admin/channels/{}", text(&data["channelId"])),
        ),
        "NewsletterIssued" => {
            let item = &data["item"];
            let author = item["authorId"].as_str().map(str::to_string);
            let source = format!("newsletter:{}", text(&data["distributionId"]));
            let db = store::db().map_err(retry)?;
            if !newsletters::keep(&db, &source, &text(&item["id"])).map_err(retry)? {
                return Ok(());
            }
            Fanout {
                audience: Audience::Followers {
                    author: author.clone(),
                    categories: Vec::new(),
                    except: author,
                },
                template: "newsletter".into(),
                category: "following".into(),
                data: json!({
                    "content": { "id": item["id"], "title": item["title"], "description": item["description"] },
                    "subject": data["subject"],
                    "issue": source,
                }),
                source,
                link: item["url"].as_str().map(str::to_string),
                in_app: false,
                push: false,
                after: String::new(),
            }
        }
        _ => return Ok(()),
    };
    run_first_step(&fanout)
}

/// The first page of a fan-out runs in the event's own handler; the rest
/// follow as step events.
fn run_first_step(fanout: &Fanout) -> Result<(), HandleError> {
    let db = store::db().map_err(retry)?;
    fanout::step(&db, fanout).map(|_| ()).map_err(retry)
}

pub fn fanout_step(event: &Event) -> Result<(), HandleError> {
    let fanout: Fanout = serde_json::from_slice(&event.data)
        .map_err(|e| HandleError::Reject(format!("a malformed fan-out step: {e}")))?;
    run_first_step(&fanout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_guest::util::rfc3339;

    fn event_at(time: String) -> Event {
        Event {
            id: "e1".into(),
            source: "folio.users".into(),
            type_: "folio.users.UserCreated".into(),
            subject: None,
            time,
            datacontenttype: "application/json".into(),
            data: b"{}".to_vec(),
            topic: USERS_TOPIC.into(),
            attempt: 1,
            extensions: Vec::new(),
        }
    }

    #[test]
    fn old_events_keep_the_directory_but_tell_no_one() {
        let hour = 60 * 60 * 1000;
        assert!(is_recent(
            &event_at(rfc3339(now_ms() - 5 * 60 * 1000)),
            MAX_ACCOUNT_AGE_MS
        ));
        assert!(!is_recent(
            &event_at(rfc3339(now_ms() - 2 * hour)),
            MAX_ACCOUNT_AGE_MS
        ));
        assert!(is_recent(
            &event_at(rfc3339(now_ms() - 2 * hour)),
            MAX_CONTENT_AGE_MS
        ));
        assert!(!is_recent(
            &event_at(rfc3339(now_ms() - 25 * hour)),
            MAX_CONTENT_AGE_MS
        ));
        // An event without a readable time is taken as new.
        assert!(is_recent(
            &event_at("yesterday-ish".into()),
            MAX_ACCOUNT_AGE_MS
        ));
    }
}
