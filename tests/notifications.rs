//! The notification service, black-box: a real SMTP server (aiosmtpd, with
//! STARTTLS and AUTH) reads back every email, a real Web Push receiver
//! decrypts every push with the browser's keys, and the inbox is read over
//! HTTP and its live stream over Server-Sent Events.

use std::time::{Duration, Instant};

use folio_tests::notifications::{
    NotificationsOptions, PushReceiver, SmtpServer, start_notifications, synthetic_users,
};
use folio_tests::services::{Api, PASSWORD, backends, unique};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, client};
use futures_util::StreamExt;
use serde_json::{Value, json};

const MAIL_WAIT: Duration = Duration::from_secs(30);

async fn admin(api: &Api<'_>) -> String {
    api.login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await
        .0
}

/// Waits until the account's welcome email arrived, which also means the
/// notification service knows the account.
async fn known(smtp: &SmtpServer, email: &str) {
    smtp.wait_for(MAIL_WAIT, |m| {
        m.iter()
            .any(|m| m.to.iter().any(|t| t.contains(email)) && m.subject.starts_with("Welcome"))
    })
    .await;
}

fn mail_to<'a>(
    mails: &'a [folio_tests::notifications::Mail],
    email: &str,
    subject: &str,
) -> Vec<&'a folio_tests::notifications::Mail> {
    mails
        .iter()
        .filter(|m| m.to.iter().any(|t| t.contains(email)) && m.subject.contains(subject))
        .collect()
}

async fn inbox(api: &Api<'_>, token: &str) -> Vec<Value> {
    let r = api.get("/api/v1/notifications", Some(token)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

async fn wait_inbox(api: &Api<'_>, token: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + MAIL_WAIT;
    loop {
        let items = inbox(api, token).await;
        if items.len() >= count {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "the inbox has {items:?}, not {count} entries"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_and_publish(
    api: &Api<'_>,
    author: &str,
    admin: &str,
    title: &str,
    categories: &[&str],
) -> String {
    let r = api
        .post(
            "/api/v1/content",
            Some(author),
            json!({"title": title, "type": "article", "body": "<p>Words.</p>", "categories": categories}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    for (to, who) in [("review", author), ("published", admin)] {
        let r = api
            .post(
                &format!("/api/v1/content/{id}/transitions"),
                Some(who),
                json!({"to": to}),
            )
            .await;
        assert_eq!(r.status, 200, "{to}: {:?}", r.body);
    }
    id
}

async fn set_preferences(api: &Api<'_>, token: &str, body: Value) -> Value {
    let r = api
        .call(
            "PUT",
            "/api/v1/users/me/notification-preferences",
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

async fn follow(api: &Api<'_>, token: &str, kind: &str, id: &str) {
    let r = api
        .post(
            "/api/v1/users/me/follows",
            Some(token),
            json!({"kind": kind, "id": id}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

async fn set_time_zone(api: &Api<'_>, token: &str, zone: &str) {
    let r = api
        .call(
            "PUT",
            "/api/v1/users/me/preferences",
            Some(token),
            Some(json!({"language": "en", "timezone": zone, "emailNotifications": true, "pushNotifications": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // The notification service hears of it through the users service's events.
    let deadline = Instant::now() + MAIL_WAIT;
    loop {
        let prefs = api
            .get("/api/v1/users/me/notification-preferences", Some(token))
            .await;
        if prefs.body["timeZone"] == zone {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the time zone did not reach the service: {:?}",
            prefs.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fixed-offset zone where it is now between 09:00 and 20:00 (so a
/// daily digest is due), and one where it is now between 01:00 and 03:00.
fn zone_at_local_hour(target: i64) -> String {
    let utc_hour = (folio_tests::services::now() / 3600 % 24) as i64;
    let offset = (target - utc_hour + 36) % 24 - 12;
    match offset {
        0 => "UTC".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// Opens the caller's live stream; returns each event's (id, data) as it comes.
async fn open_stream(
    host: &Host,
    ticket: &str,
    last_event_id: Option<&str>,
) -> tokio::sync::mpsc::UnboundedReceiver<(String, Value)> {
    let mut request =
        client().get(host.url(&format!("/api/v1/notifications/stream?ticket={ticket}")));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = None;
                for line in event.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(v).ok();
                    }
                }
                if let (Some(id), Some(data)) = (id, data)
                    && tx.send((id, data)).is_err()
                {
                    return;
                }
            }
        }
    });
    rx
}

async fn ticket(api: &Api<'_>, token: &str) -> String {
    let r = api
        .post(
            "/api/v1/notifications/stream-tickets",
            Some(token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["ticket"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_reset_is_finished_from_the_email() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let id = format!("nreset{}", unique());
    let host = start_notifications(
        &id,
        &id,
        dir.path(),
        &NotificationsOptions {
            runtime_config: format!(
                "[rate_limits]\nexempt = [\"127.0.0.1\"]\n{}",
                smtp.runtime_config()
            ),
            ..Default::default()
        },
    );
    let api = Api { host: &host };
    let email = format!("ada.{}@example.com", unique());
    let user = api.register(&email, "Ada").await;
    known(&smtp, &email).await;

    let r = api
        .post("/api/v1/auth/password-reset", None, json!({"email": email}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let mails = smtp
        .wait_for(MAIL_WAIT, |m| {
            !mail_to(m, &email, "Reset your Folio Test password").is_empty()
        })
        .await;
    let reset = mail_to(&mails, &email, "Reset your Folio Test password")[0].clone();
    // Security mail: multipart, its own Message-ID, no unsubscribe link.
    assert!(
        reset.message_id.ends_with("@folio.test>"),
        "{}",
        reset.message_id
    );
    assert!(reset.raw.contains("multipart/alternative"));
    assert!(reset.header("List-Unsubscribe").is_none());
    assert!(
        reset.html.contains("Choose a new password"),
        "{}",
        reset.html
    );
    let start = reset
        .text
        .find("http://folio.test/reset-password?token=")
        .expect("the link is in the text");
    let token: String = reset.text[start..]
        .trim_start_matches("http://folio.test/reset-password?token=")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert!(token.len() >= 32, "{token}");

    // The token is nowhere but in the mail: not in the inbox, not in the log.
    let (access, _) = api.login(&email, PASSWORD).await;
    let items = inbox(&api, &access).await;
    assert!(
        items.iter().all(|i| i["kind"] != "password-reset"),
        "{items:?}"
    );
    let admin = admin(&api).await;
    let log = api
        .get(
            &format!(
                "/api/v1/notification-deliveries?userId={}",
                user["id"].as_str().unwrap()
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(log.status, 200, "{:?}", log.body);
    assert!(!log.body.to_string().contains(&token));
    assert!(
        log.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "sent"),
        "{:?}",
        log.body
    );

    let new_password = "a brand new lighthouse keeper 9";
    let r = api
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": token, "newPassword": new_password}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    api.login(&email, new_password).await;
    let old = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(old.status, 401, "{:?}", old.body);
}

async fn followers_flow(host: &Host, smtp: &SmtpServer) {
    let api = Api { host };
    let run = unique();
    let admin = admin(&api).await;
    let (cora, cora_id) = api.user_with_role(&admin, "cora", "creator", &run).await;
    let readers: Vec<(String, String)> = futures_util::future::join_all(
        ["rita", "mute", "owl", "digest", "cat", "dora"]
            .map(|name| api.user_with_role(&admin, name, "consumer", &run)),
    )
    .await;
    for name in ["cora", "rita", "mute", "owl", "digest", "cat", "dora"] {
        known(smtp, &format!("{name}.{run}@example.com")).await;
    }
    let [
        (rita, _),
        (mute, _),
        (quiet, quiet_id),
        (digest, _),
        (cat, _),
        (dora, _),
    ] = <[_; 6]>::try_from(readers).unwrap();
    let category = api
        .post(
            "/api/v1/categories",
            Some(&admin),
            json!({"name": format!("Tides {run}")}),
        )
        .await;
    assert_eq!(category.status, 201, "{:?}", category.body);
    let category = category.body["id"].as_str().unwrap().to_string();
    follow(&api, &cat, "category", &category).await;

    // Everyone follows Cora; each chose differently.
    for token in [&rita, &mute, &quiet, &digest, &dora] {
        follow(&api, token, "author", &cora_id).await;
    }
    set_preferences(
        &api,
        &mute,
        json!({"channels": {"following": {"email": false, "inApp": false, "push": false}}}),
    )
    .await;
    let quiet_zone = zone_at_local_hour(2);
    set_time_zone(&api, &quiet, &quiet_zone).await;
    set_preferences(
        &api,
        &quiet,
        json!({"quietHours": {"start": "00:00", "end": "05:00"}}),
    )
    .await;
    set_time_zone(&api, &digest, &zone_at_local_hour(14)).await;
    // Its digest waits behind quiet hours until both items are in.
    let prefs = set_preferences(
        &api,
        &digest,
        json!({"digest": "daily", "quietHours": {"start": "13:00", "end": "16:00"}}),
    )
    .await;
    assert_eq!(prefs["digest"], "daily");

    // Rita watches her inbox live.
    let mut live = open_stream(host, &ticket(&api, &rita).await, None).await;

    let title = format!("Tidal charts {run}");
    let started = Instant::now();
    let content_id = create_and_publish(&api, &cora, &admin, &title, &[&category]).await;
    let published_after = started.elapsed();
    let (event_id, entry) = tokio::time::timeout(Duration::from_secs(5), live.recv())
        .await
        .expect("the stream delivers the notification")
        .unwrap();
    let to_stream = started.elapsed() - published_after;
    eprintln!("publish answered → on the stream: {to_stream:?}");
    assert!(to_stream < Duration::from_secs(1), "took {to_stream:?}");
    assert_eq!(entry["kind"], "content-published");
    assert_eq!(entry["title"], format!("New: {title}"));
    assert_eq!(
        entry["link"],
        format!("http://folio.test/content/{content_id}")
    );

    // The editor was asked to review it.
    let admin_items = wait_inbox(&api, &admin, 1).await;
    assert!(
        admin_items
            .iter()
            .any(|i| i["kind"] == "content-review"
                && i["title"] == format!("Review requested: {title}")),
        "{admin_items:?}"
    );

    // Rita's inbox: one entry, unread; reading it is hers alone.
    let items = wait_inbox(&api, &rita, 2).await;
    let published: Vec<_> = items
        .iter()
        .filter(|i| i["kind"] == "content-published")
        .collect();
    assert_eq!(published.len(), 1, "{items:?}");
    let notification = published[0]["id"].as_str().unwrap();
    let count = api
        .get("/api/v1/notifications/unread-count", Some(&rita))
        .await;
    assert_eq!(
        count.body["unread"], 2,
        "welcome and the publication: {:?}",
        count.body
    );
    let theirs = api
        .post(
            &format!("/api/v1/notifications/{notification}/read"),
            Some(&mute),
            json!({}),
        )
        .await;
    assert_eq!(
        theirs.status, 404,
        "another user's notification: {:?}",
        theirs.body
    );
    let r = api
        .post(
            &format!("/api/v1/notifications/{notification}/read"),
            Some(&rita),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204);
    let unread = api
        .get("/api/v1/notifications?unread=true", Some(&rita))
        .await;
    assert_eq!(
        unread.body["items"].as_array().unwrap().len(),
        1,
        "{:?}",
        unread.body
    );
    let r = api
        .post("/api/v1/notifications/read-all", Some(&rita), json!({}))
        .await;
    assert_eq!(r.body["updated"], 1);

    // Resuming the stream after the last id sees nothing old again.
    let mut resumed = open_stream(host, &ticket(&api, &rita).await, Some(&event_id)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(700), resumed.recv())
            .await
            .is_err()
    );

    // Rita's email: bulk mail with RFC 8058 one-click unsubscribe.
    let rita_email = format!("rita.{run}@example.com");
    let mails = smtp
        .wait_for(MAIL_WAIT, |m| !mail_to(m, &rita_email, &title).is_empty())
        .await;
    let mail = mail_to(&mails, &rita_email, &title)[0].clone();
    assert_eq!(
        mail.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let unsubscribe = mail
        .header("List-Unsubscribe")
        .unwrap()
        .trim_matches(['<', '>'])
        .to_string();
    let path = unsubscribe.strip_prefix("http://folio.test").unwrap();
    let page = client().get(host.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200, "a GET only shows the button");
    let prefs = api
        .get("/api/v1/users/me/notification-preferences", Some(&rita))
        .await;
    assert_eq!(
        prefs.body["channels"]["following"]["email"], true,
        "a link scanner's GET changes nothing"
    );
    let clicked = client()
        .post(host.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(clicked.status(), 200);
    let prefs = api
        .get("/api/v1/users/me/notification-preferences", Some(&rita))
        .await;
    assert_eq!(
        prefs.body["channels"]["following"]["email"], false,
        "{:?}",
        prefs.body
    );
    assert_eq!(prefs.body["channels"]["account"]["email"], true);

    // The muted reader hears nothing; the one in quiet hours only in-app,
    // the email waiting until 05:00 in her time zone.
    assert!(mail_to(&mails, &format!("mute.{run}@example.com"), &title).is_empty());
    assert!(
        inbox(&api, &mute)
            .await
            .iter()
            .all(|i| i["kind"] != "content-published")
    );
    assert!(
        wait_inbox(&api, &quiet, 2)
            .await
            .iter()
            .any(|i| i["kind"] == "content-published")
    );
    assert!(mail_to(&mails, &format!("owl.{run}@example.com"), &title).is_empty());
    let log = api
        .get(
            &format!("/api/v1/notification-deliveries?userId={quiet_id}&status=deferred"),
            Some(&admin),
        )
        .await;
    let deferred = log.body["items"].as_array().unwrap();
    assert_eq!(deferred.len(), 1, "{:?}", log.body);
    let not_before = deferred[0]["notBefore"].as_str().unwrap();
    assert!(not_before > folio_guest_now().as_str(), "{not_before}");

    // The category's follower heard of it too.
    assert!(
        wait_inbox(&api, &cat, 2)
            .await
            .iter()
            .any(|i| i["kind"] == "content-published"),
    );

    // Nobody is told twice: publishing the item again tells no one.
    for to in ["archived", "draft", "review", "published"] {
        let r = api
            .post(
                &format!("/api/v1/content/{content_id}/transitions"),
                Some(&admin),
                json!({"to": to}),
            )
            .await;
        assert_eq!(r.status, 200, "{to}: {:?}", r.body);
    }

    // A reader whose digest is not due yet (it is 02:00 where she is)
    // turns digests off: what waited goes out one by one.
    set_time_zone(&api, &dora, &zone_at_local_hour(2)).await;
    set_preferences(&api, &dora, json!({"digest": "daily"})).await;
    // A second item; then the digest reader's quiet hours end, and one
    // digest lists both, with no single mails.
    let second = format!("Neap tides {run}");
    create_and_publish(&api, &cora, &admin, &second, &[]).await;
    let items = wait_inbox(&api, &rita, 3).await;
    let published: Vec<_> = items
        .iter()
        .filter(|i| i["kind"] == "content-published")
        .collect();
    assert_eq!(published.len(), 2, "each item once: {items:?}");
    set_preferences(&api, &digest, json!({"quietHours": null})).await;
    set_preferences(&api, &dora, json!({"digest": "off"})).await;
    let dora_email = format!("dora.{run}@example.com");
    smtp.wait_for(MAIL_WAIT, |m| {
        !mail_to(m, &dora_email, &format!("New: {second}")).is_empty()
    })
    .await;
    let digest_email = format!("digest.{run}@example.com");
    let mails = smtp
        .wait_for(MAIL_WAIT, |m| {
            !mail_to(m, &digest_email, "Your daily digest").is_empty()
        })
        .await;
    let digests = mail_to(&mails, &digest_email, "Your daily digest");
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].subject, "Your daily digest: 2 new");
    for t in [&title, &second] {
        assert!(
            digests[0].text.contains(&format!("New: {t}")),
            "{}",
            digests[0].text
        );
        assert!(mail_to(&mails, &digest_email, &format!("New: {t}")).is_empty());
    }
}

fn folio_guest_now() -> String {
    folio_guest::util::rfc3339(folio_guest::util::now_ms())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_are_told_as_they_chose_on_sqlite() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let id = format!("nflow{}", unique());
    let host = start_notifications(
        &id,
        &id,
        dir.path(),
        &NotificationsOptions {
            runtime_config: format!(
                "[rate_limits]\nexempt = [\"127.0.0.1\"]\n{}",
                smtp.runtime_config()
            ),
            ..Default::default()
        },
    );
    followers_flow(&host, &smtp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_are_told_as_they_chose_on_postgres_redis_and_kafka() {
    let b = backends();
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let id = format!("npg{}", unique());
    b.reset(&[
        id.clone(),
        format!("{id}-events"),
        format!("{id}-content"),
        format!("{id}-notifications"),
    ])
    .await;
    let host = start_notifications(
        &id,
        &id,
        dir.path(),
        &NotificationsOptions {
            runtime_config: format!(
                "[rate_limits]\nexempt = [\"127.0.0.1\"]\n{}",
                smtp.runtime_config()
            ),
            backends: Some(&b),
            ..Default::default()
        },
    );
    followers_flow(&host, &smtp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn web_push_reaches_the_browser_encrypted_and_gone_subscriptions_are_dropped() {
    let receiver = PushReceiver::start(2);
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let id = format!("npush{}", unique());
    let host = start_notifications(
        &id,
        &id,
        dir.path(),
        &NotificationsOptions {
            push_origins: vec![receiver.origin.clone()],
            runtime_config: format!(
                "[rate_limits]\nexempt = [\"127.0.0.1\"]\n{}",
                smtp.runtime_config()
            ),
            ..Default::default()
        },
    );
    let api = Api { host: &host };
    let run = unique();
    let admin = admin(&api).await;
    let (pia, pia_id) = api.user_with_role(&admin, "pia", "consumer", &run).await;
    let (other, _) = api.user_with_role(&admin, "otto", "consumer", &run).await;
    known(&smtp, &format!("pia.{run}@example.com")).await;

    let key = api
        .get("/api/v1/notifications/vapid-public-key", None)
        .await;
    assert_eq!(key.status, 200);
    let public_key = key.body["publicKey"].as_str().unwrap();
    assert_eq!(public_key.len(), 87, "a 65-byte point in base64url");

    // Two browsers and an expired one.
    let mut ids = Vec::new();
    for s in receiver.subscriptions.iter().chain([&receiver.gone]) {
        let r = api
            .post("/api/v1/push-subscriptions", Some(&pia), s.clone())
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let again = api
        .post(
            "/api/v1/push-subscriptions",
            Some(&pia),
            receiver.subscriptions[0].clone(),
        )
        .await;
    assert_eq!(
        again.status, 200,
        "the same browser again: {:?}",
        again.body
    );
    let theirs = api
        .call(
            "DELETE",
            &format!("/api/v1/push-subscriptions/{}", ids[0]),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(theirs.status, 404, "another user's subscription");

    // Push reaches browsers only for those who turned it on: for the
    // account (the users service's pushNotifications) and for product news.
    set_time_zone(&api, &pia, "Europe/Paris").await;
    set_preferences(&api, &pia, json!({"channels": {"product": {"push": true}}})).await;
    let r = api
        .post(
            "/api/v1/notifications",
            Some(&admin),
            json!({"userId": pia_id, "title": "Maintenance tonight", "body": "Read-only from 02:00 UTC.", "link": "/status"}),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let received = receiver.wait_for(2, MAIL_WAIT).await;
    let mut to: Vec<i64> = received
        .iter()
        .map(|m| m["subscription"].as_i64().unwrap())
        .collect();
    to.sort();
    assert_eq!(to, vec![0, 1], "each browser once: {received:?}");
    for message in &received {
        let payload: Value = serde_json::from_str(message["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload["title"], "Maintenance tonight");
        assert_eq!(payload["body"], "Read-only from 02:00 UTC.");
        assert_eq!(payload["category"], "product");
        assert_eq!(message["vapid_k"], public_key);
        assert_eq!(message["urgency"], "normal");
    }
    // The expired subscription answered 410 and is gone.
    let deadline = Instant::now() + MAIL_WAIT;
    loop {
        let list = api.get("/api/v1/push-subscriptions", Some(&pia)).await;
        let listed: Vec<&str> = list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        if listed.len() == 2 {
            assert!(!listed.contains(&ids[2].as_str()));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gone subscription is still listed: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = api
        .get(
            &format!("/api/v1/notification-deliveries?userId={pia_id}&channel=push"),
            Some(&admin),
        )
        .await;
    let statuses: Vec<&str> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "sent").count(),
        2,
        "{:?}",
        log.body
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "failed").count(),
        1,
        "{:?}",
        log.body
    );

    // A subscription must name a push service: no POSTs to anywhere else.
    for (endpoint, why) in [
        (
            "http://169.254.169.254/latest/meta-data",
            "not a push service",
        ),
        ("https://push.example.test/abc", "not a push service"),
        ("file:///etc/passwd", "not http"),
    ] {
        let mut s = receiver.subscriptions[1].clone();
        s["endpoint"] = json!(endpoint);
        let r = api.post("/api/v1/push-subscriptions", Some(&pia), s).await;
        assert_eq!(r.status, 422, "{why}: {:?}", r.body);
        assert_eq!(r.body["errors"][0]["field"], "endpoint");
    }
    for (keys, field) in [
        (
            json!({"p256dh": "AAAA", "auth": receiver.subscriptions[0]["keys"]["auth"]}),
            "keys.p256dh",
        ),
        (
            json!({"p256dh": receiver.subscriptions[0]["keys"]["p256dh"], "auth": "c2hvcnQ"}),
            "keys.auth",
        ),
    ] {
        let mut s = receiver.subscriptions[1].clone();
        s["keys"] = keys;
        let r = api.post("/api/v1/push-subscriptions", Some(&pia), s).await;
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert_eq!(r.body["errors"][0]["field"], field);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn templates_are_checked_before_they_are_saved_and_used_per_locale() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let id = format!("ntpl{}", unique());
    let host = start_notifications(
        &id,
        &id,
        dir.path(),
        &NotificationsOptions {
            runtime_config: format!(
                "[rate_limits]\nexempt = [\"127.0.0.1\"]\n{}",
                smtp.runtime_config()
            ),
            ..Default::default()
        },
    );
    let api = Api { host: &host };
    let run = unique();
    let admin = admin(&api).await;
    let path = "/api/v1/notification-templates/welcome";

    let list = api
        .get("/api/v1/notification-templates", Some(&admin))
        .await;
    let keys: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    for key in [
        "password-reset",
        "email-verification",
        "welcome",
        "content-published",
        "content-review",
        "comment",
        "mention",
        "payment-failed",
        "invoice-issued",
    ] {
        assert!(keys.contains(&key), "{key} is built in: {keys:?}");
    }
    let (reader, _) = api.user_with_role(&admin, "reader", "consumer", &run).await;
    assert_eq!(api.get(path, Some(&reader)).await.status, 403);
    assert_eq!(
        api.get("/api/v1/notification-templates/nope", Some(&admin))
            .await
            .status,
        404
    );

    let good = json!({"locale": "fr", "subject": "Bienvenue sur {{ platformName }}", "text": "Bonjour {{ recipient.firstName }} !", "html": "<p>Bonjour {{ recipient.firstName }} !</p>"});
    for (change, field, status) in [
        (json!({"text": "Bonjour\n{% if %}"}), "text", 422),
        (
            json!({"html": "<p>\n\n{{ recipient.nickname.first }}</p>"}),
            "html",
            422,
        ),
        (json!({"text": "x".repeat(40_000)}), "text", 422),
        (json!({"subject": "two\nlines"}), "subject", 422),
        (json!({"locale": "tlh"}), "locale", 422),
        (
            json!({"text": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"}),
            "text",
            422,
        ),
    ] {
        let mut body = good.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = api.call("PUT", path, Some(&admin), Some(body)).await;
        assert_eq!(r.status, status, "{change}: {:?}", r.body);
        assert_eq!(r.body["errors"][0]["field"], field, "{:?}", r.body);
    }
    let syntax = api.call("PUT", path, Some(&admin), Some(json!({"locale": "fr", "subject": "s", "text": "one\ntwo\n{% endfor %}", "html": "h"}))).await;
    assert_eq!(
        syntax.body["line"], 3,
        "the line is named: {:?}",
        syntax.body
    );
    let stored = api.get(path, Some(&admin)).await;
    assert_eq!(
        stored.body["locales"],
        json!([]),
        "nothing half-saved: {:?}",
        stored.body
    );

    let preview = api
        .post(&format!("{path}/preview"), Some(&admin), json!({"text": "Hi {{ recipient.firstName }} <3", "html": "<b>{{ recipient.firstName }}</b>", "data": {"recipient": {"firstName": "<Zoë>"}}}))
        .await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    assert_eq!(preview.body["text"], "Hi <Zoë> <3");
    assert_eq!(preview.body["html"], "<b>&lt;Zoë&gt;</b>");

    let r = api.call("PUT", path, Some(&admin), Some(good)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // A French reader registering now is welcomed in French.
    let email = format!("francoise.{run}@example.com");
    let r = api
        .post("/api/v1/auth/register", None, json!({"email": email, "password": PASSWORD, "firstName": "Françoise", "lastName": "T"}))
        .await;
    assert_eq!(r.status, 202);
    known(&smtp, &email).await;
    let (token, _) = api.login(&email, PASSWORD).await;
    set_time_zone(&api, &token, "Europe/Paris").await;
    let r = api
        .call("PUT", "/api/v1/users/me/preferences", Some(&token), Some(json!({"language": "fr", "timezone": "Europe/Paris", "emailNotifications": true, "pushNotifications": true})))
        .await;
    assert_eq!(r.status, 200);
    // Her next account mail (a reset request) is still English (no French
    // version of that template); an admin broadcast reaches her in-app.
    let r = api
        .post(
            "/api/v1/notifications",
            Some(&admin),
            json!({"role": "consumer", "title": "Hello all", "body": "A note."}),
        )
        .await;
    assert_eq!(r.status, 202);
    let items = wait_inbox(&api, &token, 2).await;
    assert!(items.iter().any(|i| i["title"] == "Hello all"), "{items:?}");
    assert!(items.iter().any(|i| i["kind"] == "welcome"), "{items:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_could_be_abused_is_refused() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let id = format!("nabuse{}", unique());
    let host = start_notifications(
        &id,
        &id,
        dir.path(),
        // No loopback exemption: the rate limits apply to this test.
        &NotificationsOptions {
            runtime_config: smtp.runtime_config(),
            ..Default::default()
        },
    );
    let api = Api { host: &host };
    let admin = admin(&api).await;
    let run = unique();
    let (eve, eve_id) = api.user_with_role(&admin, "eve", "consumer", &run).await;

    // No token, no inbox; a guessed ticket opens no stream.
    assert_eq!(api.get("/api/v1/notifications", None).await.status, 401);
    let guessed =
        client()
            .get(host.url(
                "/api/v1/notifications/stream?ticket=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ))
            .send()
            .await
            .unwrap();
    assert_eq!(guessed.status(), 401);
    // Consumers broadcast nothing and read no templates or logs.
    let r = api
        .post(
            "/api/v1/notifications",
            Some(&eve),
            json!({"role": "consumer", "title": "Free money", "body": "click"}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        api.get("/api/v1/notification-deliveries", Some(&eve))
            .await
            .status,
        403
    );
    assert_eq!(
        api.get("/api/v1/notification-templates", Some(&eve))
            .await
            .status,
        403
    );
    // Mandatory mail cannot be turned off; nonsense is named.
    for (body, field) in [
        (
            json!({"channels": {"account": {"email": false}}}),
            "channels.account.email",
        ),
        (
            json!({"channels": {"billing": {"email": false}}}),
            "channels.billing.email",
        ),
        (
            json!({"channels": {"gossip": {"email": false}}}),
            "channels.gossip",
        ),
        (
            json!({"channels": {"product": {"fax": false}}}),
            "channels.product.fax",
        ),
        (
            json!({"quietHours": {"start": "25:00", "end": "07:00"}}),
            "quietHours",
        ),
        (json!({"digest": "hourly"}), "digest"),
    ] {
        let r = api
            .call(
                "PUT",
                "/api/v1/users/me/notification-preferences",
                Some(&eve),
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.status, 422, "{body}: {:?}", r.body);
        assert_eq!(r.body["errors"][0]["field"], field, "{:?}", r.body);
    }
    let prefs = api
        .get("/api/v1/users/me/notification-preferences", Some(&eve))
        .await;
    assert_eq!(
        prefs.body["channels"]["product"]["email"], true,
        "nothing half-saved"
    );
    let r = api
        .post(
            "/api/v1/users/me/follows",
            Some(&eve),
            json!({"kind": "author", "id": eve_id}),
        )
        .await;
    assert_eq!(r.status, 422, "following oneself: {:?}", r.body);

    // A forged unsubscribe token is refused; guessing is throttled.
    let forged = format!(
        "/api/v1/notifications/unsubscribe?token={eve_id}.following.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    );
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let r = client()
            .post(host.url(&forged))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| *s == 403 || *s == 429),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&429),
        "the guessing is throttled: {statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_followers_are_each_told_once_even_when_the_host_dies_mid_fan_out() {
    let dir = tempfile::tempdir().unwrap();
    let id = format!("nfan{}", unique());
    // Embedded: SQLite, the embedded log, .eml files; 40 pages of 25.
    let options = NotificationsOptions {
        fanout_page_size: 25,
        ..Default::default()
    };
    let host = start_notifications(&id, &id, dir.path(), &options);
    let api = Api { host: &host };
    let fans = synthetic_users(&host, &id, dir.path(), 1000).await;
    let author = folio_guest::util::new_id();
    let follows = futures_util::stream::iter(fans.iter().map(|(_, token)| {
        let api = Api { host: &host };
        let author = author.clone();
        async move {
            let r = api
                .post(
                    "/api/v1/users/me/follows",
                    Some(token),
                    json!({"kind": "author", "id": author}),
                )
                .await;
            assert_eq!(r.status, 201, "{:?}", r.body);
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>();
    follows.await;
    // The directory caught up when the last fan's welcome is in their inbox.
    wait_inbox(&api, &fans[999].1, 1).await;

    let content_id = folio_guest::util::new_id();
    let published = json!({"id": content_id, "title": "One thousand readers", "type": "article", "authorId": author,
                           "categories": [], "tags": [], "mediaIds": [], "publishedAt": null, "version": 2});
    let r = folio_tests::post_json(
        &host,
        "/ev/emit",
        json!({"topic": "folio.content", "type": "folio.content.ContentPublished", "key": content_id, "data": published.to_string()}),
    )
    .await;
    assert_eq!(r.0, 200, "{:?}", r.1);
    // Killed as soon as the first page is in: the rest is still to do.
    let source = format!("fan-out content-published:{content_id}:");
    let pages = |host: &Host| {
        host.logs()
            .iter()
            .filter(|l| l.contains(&source))
            .map(|l| l.contains(", done"))
            .collect::<Vec<bool>>()
    };
    let deadline = Instant::now() + MAIL_WAIT;
    while pages(&host).is_empty() {
        assert!(Instant::now() < deadline, "no fan-out page was logged");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    folio_tests::send_signal(host.pid(), "KILL");
    let before = pages(&host);
    eprintln!("pages done before the kill: {}", before.len());
    assert!(
        !before.contains(&true),
        "the fan-out finished before the kill: nothing to resume"
    );
    drop(host);

    let host = start_notifications(&id, &id, dir.path(), &options);
    let api = Api { host: &host };
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut told = 0;
    for (_, token) in &fans {
        loop {
            let items = inbox(&api, token).await;
            let n = items
                .iter()
                .filter(|i| i["kind"] == "content-published")
                .count();
            assert!(n <= 1, "told twice: {items:?}");
            if n == 1 {
                told += 1;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{told} of 1000 told before the deadline"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(told, 1000);
    // And one email each, however often a page was redone.
    let mail = dir.path().join("data/mail");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let published_mails = std::fs::read_dir(&mail)
            .map(|d| {
                // A send killed mid-write leaves only a temporary file behind.
                d.filter_map(|e| Some(e.ok()?.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .filter_map(|p| std::fs::read(p).ok())
                    .filter(|bytes| String::from_utf8_lossy(bytes).contains("One thousand readers"))
                    .count()
            })
            .unwrap_or(0);
        if published_mails == 1000 {
            break;
        }
        assert!(
            published_mails < 1000,
            "{published_mails} mails for 1000 followers"
        );
        assert!(
            Instant::now() < deadline,
            "{published_mails} of 1000 mails written"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Newsletters carry the item: whole to every follower when it is open; a
/// gated item whole to followers who hold its tier and as its preview to
/// the rest.
#[tokio::test]
async fn publishing_asks_editors_tells_authors_and_mails_newsletters_to_followers() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let id = format!("npub{}", unique());
    let host = start_notifications(
        &id,
        &id,
        dir.path(),
        &NotificationsOptions {
            runtime_config: format!(
                "[rate_limits]\nexempt = [\"127.0.0.1\"]\n{}",
                smtp.runtime_config()
            ),
            with_publishing: true,
            with_billing: true,
            ..Default::default()
        },
    );
    let api = Api { host: &host };
    let run = unique();
    let admin = admin(&api).await;
    let (nina, nina_id) = api.user_with_role(&admin, "nina", "creator", &run).await;
    let (fred, _) = api.user_with_role(&admin, "fred", "consumer", &run).await;
    let (mo, _) = api.user_with_role(&admin, "mo", "consumer", &run).await;
    for name in ["nina", "fred", "mo"] {
        known(&smtp, &format!("{name}.{run}@example.com")).await;
    }
    follow(&api, &fred, "author", &nina_id).await;
    follow(&api, &mo, "author", &nina_id).await;
    // Mo holds the members tier (a trial grants it at once).
    let plan = folio_tests::billing::trial_plan(&api, &admin, "members").await;
    folio_tests::billing::subscribe(&api, &mo, &plan).await;
    for channel in [
        json!({"name": "Letters", "slug": "letters", "kind": "newsletter",
               "config": {"subject": "The Folio letter"}}),
        // Gated: its approval is what the editors are asked for.
        json!({"name": "Partner", "slug": "partner", "kind": "webhook",
               "config": {"url": "http://127.0.0.1:9/hook"},
               "approval": {"required": 1, "roles": ["admin"]}}),
    ] {
        let r = api.post("/api/v1/channels", Some(&admin), channel).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let title = format!("Letters from the coast {run}");
    let content_id = create_and_publish(&api, &nina, &admin, &title, &[]).await;

    let fred_email = format!("fred.{run}@example.com");
    let nina_email = format!("nina.{run}@example.com");
    let mails = smtp
        .wait_for(MAIL_WAIT, |m| {
            !mail_to(m, &fred_email, "The Folio letter").is_empty()
                && !mail_to(
                    m,
                    BOOTSTRAP_ADMIN_EMAIL,
                    &format!("Approval needed: {title}"),
                )
                .is_empty()
        })
        .await;
    let letter = mail_to(&mails, &fred_email, "The Folio letter")[0];
    assert!(letter.text.contains(&title), "{}", letter.text);
    assert!(
        letter
            .text
            .contains(&format!("http://folio.test/content/{content_id}"))
    );
    assert!(
        letter.text.contains("Words."),
        "the item's body: {}",
        letter.text
    );
    assert!(letter.html.contains("<p>Words.</p>"), "{}", letter.html);
    assert_eq!(mail_to(&mails, &fred_email, "The Folio letter").len(), 1);

    let r = api
        .post(
            &format!("/api/v1/content/{content_id}/approvals"),
            Some(&admin),
            json!({"decision": "approve", "comment": "Lovely."}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mails = smtp
        .wait_for(MAIL_WAIT, |m| {
            !mail_to(m, &nina_email, &format!("Approved: {title}")).is_empty()
        })
        .await;
    let approved = mail_to(&mails, &nina_email, "Approved")[0];
    assert!(
        approved.text.contains("Partner") && approved.text.contains("Lovely."),
        "{}",
        approved.text
    );
    // A gated item: whole to Mo, who holds its tier; its preview to Fred.
    let gated_title = format!("Members dispatch {run}");
    let r = api
        .post(
            "/api/v1/content",
            Some(&nina),
            json!({"title": gated_title, "type": "article", "requiredTier": "members",
                   "body": "<p>The open first paragraph.</p><p>The paid second paragraph.</p>"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let gated_id = r.body["id"].as_str().unwrap().to_string();
    for (to, who) in [("review", &nina), ("published", &admin)] {
        let r = api
            .post(
                &format!("/api/v1/content/{gated_id}/transitions"),
                Some(who),
                json!({"to": to}),
            )
            .await;
        assert_eq!(r.status, 200, "{to}: {:?}", r.body);
    }
    let mo_email = format!("mo.{run}@example.com");
    let letter_of = |mails: &[folio_tests::notifications::Mail], email: &str| {
        mails
            .iter()
            .find(|m| {
                m.to.iter().any(|t| t.contains(email))
                    && m.subject.contains("The Folio letter")
                    && m.text.contains(&gated_title)
            })
            .cloned()
    };
    let mails = smtp
        .wait_for(MAIL_WAIT, |m| {
            letter_of(m, &fred_email).is_some() && letter_of(m, &mo_email).is_some()
        })
        .await;
    let free_letter = letter_of(&mails, &fred_email).unwrap();
    let member_letter = letter_of(&mails, &mo_email).unwrap();
    for part in [&free_letter.text, &free_letter.html] {
        assert!(part.contains("The open first paragraph."), "{part}");
        assert!(
            !part.contains("paid second"),
            "the free reader's letter: {part}"
        );
        assert!(part.contains("The rest is for subscribers."), "{part}");
    }
    for part in [&member_letter.text, &member_letter.html] {
        assert!(
            part.contains("The paid second paragraph."),
            "the subscriber's letter: {part}"
        );
        assert!(!part.contains("The rest is for subscribers."), "{part}");
    }
}

/// Billing mail: each invoice goes to its account holder, and a failed
/// payment says when it is tried again (here the manual provider: a renewal
/// not paid by its due date), whatever their preferences.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invoices_and_failed_payments_are_mailed_to_the_customer() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let id = format!("nbill{}", unique());
    let host = start_notifications(
        &id,
        &id,
        dir.path(),
        &NotificationsOptions {
            runtime_config: format!(
                "[rate_limits]\nexempt = [\"127.0.0.1\"]\n{}",
                smtp.runtime_config()
            ),
            with_billing: true,
            ..Default::default()
        },
    );
    let api = Api { host: &host };
    let admin = admin(&api).await;
    let email = format!("bea.{}@example.com", unique());
    let me = api.register(&email, "Bea").await;
    let user_id = me["id"].as_str().unwrap().to_string();
    let (bea, _) = api.login(&email, PASSWORD).await;
    known(&smtp, &email).await;

    let r = api
        .post(
            "/api/v1/billing/plans",
            Some(&admin),
            json!({"name": "Pro", "tiers": ["pro"],
                   "prices": [{"interval": "month", "currency": "EUR", "amount": 1800}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = api
        .post(
            "/api/v1/billing/subscriptions",
            Some(&bea),
            json!({"planId": r.body["id"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let first = r.body["invoice"]["number"].as_str().unwrap().to_string();
    let subject = format!("Invoice {first}: 18.00 EUR");
    let mails = smtp
        .wait_for(MAIL_WAIT, |m| !mail_to(m, &email, &subject).is_empty())
        .await;
    let mail = mail_to(&mails, &email, &subject)[0].clone();
    assert!(mail.text.contains("Hi Bea"), "{}", mail.text);
    assert!(mail.text.contains("/billing/invoices/"), "{}", mail.text);
    let r = api
        .post(
            &format!(
                "/api/v1/billing/invoices/{}/mark-paid",
                r.body["invoice"]["id"].as_str().unwrap()
            ),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // The period ends: a renewal invoice, due in 14 days; past its due date
    // unpaid, a failed payment, tried again a day later.
    let db = dir
        .path()
        .join(format!("data/sqlite/{id}-billing.default.db"));
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let a_second_ago = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
            - 1000
    };
    sqlx::query("UPDATE subscriptions SET period_end = ? WHERE account = ?")
        .bind(a_second_ago())
        .bind(&user_id)
        .execute(&pool)
        .await
        .unwrap();
    smtp.wait_for(MAIL_WAIT, |m| mail_to(m, &email, "Invoice ").len() == 2)
        .await;
    sqlx::query("UPDATE invoices SET next_attempt_at = ? WHERE account = ? AND status = 'open'")
        .bind(a_second_ago())
        .bind(&user_id)
        .execute(&pool)
        .await
        .unwrap();
    let mails = smtp
        .wait_for(MAIL_WAIT, |m| {
            !mail_to(m, &email, "Payment failed").is_empty()
        })
        .await;
    let failed = mail_to(&mails, &email, "Payment failed")[0].clone();
    assert!(
        failed.text.contains("could not collect 18.00 EUR")
            && failed.text.contains("not paid by the due date")
            && failed.text.contains("We will try again on 20"),
        "{}",
        failed.text
    );
    pool.close().await;
}
