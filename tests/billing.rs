//! The billing service, black-box: the plan catalog refuses bad money;
//! a trial grants its tiers at once; a plan without one bills first
//! (an open invoice) and grants on payment; cancel at period end and
//! resume; renewals and ends run by the cron; every change is a ledger
//! entry and an event on `folio.billing`; the ledger check finds an edited
//! row; one account cannot read another's billing; invoice numbers stay
//! gapless under concurrent issuance on Postgres.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use folio_tests::billing::start;
use folio_tests::services::{Api, Reply, backends, events_about, unique};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// What `pdftotext` (poppler-utils) reads in `pdf`.
fn pdf_text(pdf: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("pdftotext")
        .args(["-layout", "-", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("pdftotext (Debian poppler-utils; infra/setup.sh installs it)");
    child.stdin.take().unwrap().write_all(pdf).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "pdftotext failed");
    String::from_utf8(out.stdout).unwrap()
}

fn field(r: &Reply) -> Value {
    r.body["errors"][0]["field"].clone()
}

async fn sqlite(data: &std::path::Path, component: &str) -> sqlx::SqlitePool {
    let db = data.join(format!("sqlite/{component}.default.db"));
    sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap()
}

/// Polls `path` as `token` until `wanted` says yes.
async fn eventually(
    api: &Api<'_>,
    path: &str,
    token: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = api.get(path, Some(token)).await;
        if r.status == 200 && wanted(&r.body) {
            return r.body;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: {} {:?}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn kinds(ledger: &Value) -> Vec<String> {
    ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn plans_subscriptions_invoices_and_the_ledger() {
    let run = unique();
    let id = format!("bl{run}");
    let data = tempfile::tempdir().unwrap();
    let host = start(&id, data.path(), 2000, None).await;
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (ann, ann_id) = api.user_with_role(&admin, "ann", "consumer", &run).await;
    let (ben, ben_id) = api.user_with_role(&admin, "ben", "creator", &run).await;

    // The catalog: admins only, money whole minor units in known currencies.
    let pro = json!({"name": "Pro", "trialDays": 14, "tiers": ["pro"],
        "prices": [{"interval": "month", "currency": "EUR", "amount": 999},
                   {"interval": "year", "currency": "EUR", "amount": 9990},
                   {"interval": "month", "currency": "usd", "amount": 1099}]});
    let r = api
        .post("/api/v1/billing/plans", Some(&ben), pro.clone())
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    for (mutate, expected) in [
        (
            json!({"prices": [{"interval": "month", "currency": "EUR", "amount": 19.99}]}),
            "prices[0].amount",
        ),
        (
            json!({"prices": [{"interval": "month", "currency": "EUR", "amount": 20.0}]}),
            "prices[0].amount",
        ),
        (
            json!({"prices": [{"interval": "month", "currency": "EUR", "amount": -5}]}),
            "prices[0].amount",
        ),
        (
            json!({"prices": [{"interval": "month", "currency": "EUR", "amount": "999"}]}),
            "prices[0].amount",
        ),
        (
            json!({"prices": [{"interval": "month", "currency": "XYZ", "amount": 999}]}),
            "prices[0].currency",
        ),
        (
            json!({"prices": [{"interval": "week", "currency": "EUR", "amount": 999}]}),
            "prices[0].interval",
        ),
        (
            json!({"prices": [{"interval": "month", "currency": "EUR", "amount": 1},
                           {"interval": "month", "currency": "eur", "amount": 2}]}),
            "prices[1]",
        ),
        (json!({"prices": []}), "prices"),
        (json!({"trialDays": 1.5}), "trialDays"),
        (json!({"tiers": ["Gold Tier"]}), "tiers"),
        (json!({"name": ""}), "name"),
        (json!({"discount": 10}), "discount"),
    ] {
        let mut plan = pro.clone();
        for (k, v) in mutate.as_object().unwrap() {
            plan[k] = v.clone();
        }
        let r = api.post("/api/v1/billing/plans", Some(&admin), plan).await;
        assert_eq!(
            (r.status, field(&r)),
            (422, json!(expected)),
            "{mutate}: {:?}",
            r.body
        );
    }
    let r = api.post("/api/v1/billing/plans", Some(&admin), pro).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let pro_id = r.body["id"].as_str().unwrap().to_string();
    let r = api
        .post(
            "/api/v1/billing/plans",
            Some(&admin),
            json!({"name": "Basic", "tiers": ["basic"],
                   "prices": [{"interval": "month", "currency": "EUR", "amount": 499}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let basic_id = r.body["id"].as_str().unwrap().to_string();
    let catalog = api.get("/api/v1/billing/plans", None).await;
    assert_eq!(catalog.body["items"].as_array().unwrap().len(), 2);
    let usd = &api
        .get(&format!("/api/v1/billing/plans/{pro_id}"), None)
        .await
        .body["prices"];
    assert!(
        usd.as_array()
            .unwrap()
            .iter()
            .any(|p| p["currency"] == "USD"),
        "{usd}"
    );

    // Orders are checked against the catalog.
    for (order, expected) in [
        (
            json!({"planId": "0192f0c4-0000-7000-8000-000000000000"}),
            "planId",
        ),
        (json!({"planId": basic_id, "currency": "USD"}), "currency"),
        (json!({"planId": pro_id}), "currency"),
        (json!({"planId": basic_id, "interval": "week"}), "interval"),
        (
            json!({"planId": basic_id, "provider": "paypal"}),
            "provider",
        ),
    ] {
        let r = api
            .post("/api/v1/billing/subscriptions", Some(&ann), order.clone())
            .await;
        assert_eq!(
            (r.status, field(&r)),
            (422, json!(expected)),
            "{order}: {:?}",
            r.body
        );
    }
    let r = api
        .post(
            "/api/v1/billing/subscriptions",
            None,
            json!({"planId": basic_id}),
        )
        .await;
    assert_eq!(r.status, 401);

    // A trial grants the plan's tiers at once, without an invoice.
    let r = api
        .post(
            "/api/v1/billing/subscriptions",
            Some(&ann),
            json!({"planId": pro_id, "currency": "EUR"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["subscription"]["status"], "trialing");
    assert_eq!(r.body["subscription"]["amount"], 999);
    assert_eq!(r.body["invoice"], Value::Null);
    let e = api.get("/api/v1/billing/entitlements/me", Some(&ann)).await;
    assert_eq!(e.body["tiers"], json!(["pro"]), "{:?}", e.body);
    let r = api
        .post(
            "/api/v1/billing/subscriptions",
            Some(&ann),
            json!({"planId": basic_id}),
        )
        .await;
    assert_eq!(r.status, 409, "one live subscription: {:?}", r.body);

    // Without a trial: an open invoice (20% tax), tiers once it is paid.
    let r = api
        .post(
            "/api/v1/billing/subscriptions",
            Some(&ben),
            json!({"planId": basic_id}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["subscription"]["status"], "incomplete");
    let invoice = r.body["invoice"].clone();
    assert_eq!(
        (
            invoice["subtotal"].clone(),
            invoice["tax"].clone(),
            invoice["total"].clone()
        ),
        (json!(499), json!(100), json!(599)),
        "{invoice}"
    );
    let number = invoice["number"].as_str().unwrap();
    assert!(
        number.len() == 11 && number.ends_with("-000001"),
        "{number}"
    );
    let invoice_id = invoice["id"].as_str().unwrap().to_string();
    let e = api.get("/api/v1/billing/entitlements/me", Some(&ben)).await;
    assert_eq!(e.body["tiers"], json!([]));

    // Another account's billing does not exist to the caller.
    let path = format!("/api/v1/billing/invoices/{invoice_id}");
    assert_eq!(api.get(&path, Some(&ann)).await.status, 404);
    assert_eq!(api.get(&path, None).await.status, 401);
    assert_eq!(api.get(&path, Some(&ben)).await.status, 200);
    for path in [
        format!("/api/v1/billing/invoices?account={ben_id}"),
        format!("/api/v1/billing/ledger?account={ben_id}"),
    ] {
        assert_eq!(api.get(&path, Some(&ann)).await.status, 403, "{path}");
    }
    let ann_invoices = api.get("/api/v1/billing/invoices", Some(&ann)).await;
    assert_eq!(ann_invoices.body["items"], json!([]));

    // The invoice as a PDF, read back with pdftotext; another's is not there.
    let pdf_path = format!("{path}.pdf");
    assert_eq!(api.get(&pdf_path, Some(&ann)).await.status, 404);
    let pdf = folio_tests::client()
        .get(host.url(&pdf_path))
        .bearer_auth(&ben)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let text = pdf_text(&pdf.bytes().await.unwrap());
    for expected in [
        format!("Invoice {number}"),
        "Basic".to_string(),
        "Subtotal".to_string(),
        "4.99 EUR".to_string(),
        "Tax (20.00%)".to_string(),
        "1.00 EUR".to_string(),
        "5.99 EUR".to_string(),
    ] {
        assert!(text.contains(&expected), "{expected:?} in {text}");
    }

    // Only an admin records a bank transfer, once.
    let mark = format!("/api/v1/billing/invoices/{invoice_id}/mark-paid");
    assert_eq!(api.post(&mark, Some(&ben), json!({})).await.status, 403);
    let r = api.post(&mark, Some(&admin), json!({})).await;
    assert_eq!(
        (r.status, r.body["status"].clone()),
        (200, json!("paid")),
        "{:?}",
        r.body
    );
    assert_eq!(api.post(&mark, Some(&admin), json!({})).await.status, 409);
    let e = api.get("/api/v1/billing/entitlements/me", Some(&ben)).await;
    assert_eq!(e.body["tiers"], json!(["basic"]));
    assert_eq!(e.body["subscription"]["status"], "active");

    // Cancel at period end, and resume.
    let cancel = api
        .post(
            "/api/v1/billing/subscriptions/me/cancel",
            Some(&ann),
            json!({}),
        )
        .await;
    assert_eq!(cancel.body["cancelAtPeriodEnd"], true, "{:?}", cancel.body);
    assert_eq!(
        api.post(
            "/api/v1/billing/subscriptions/me/cancel",
            Some(&ann),
            json!({})
        )
        .await
        .status,
        409
    );
    let resume = api
        .post(
            "/api/v1/billing/subscriptions/me/resume",
            Some(&ann),
            json!({}),
        )
        .await;
    assert_eq!(resume.body["cancelAtPeriodEnd"], false, "{:?}", resume.body);
    assert_eq!(
        api.post(
            "/api/v1/billing/subscriptions/me/resume",
            Some(&ann),
            json!({})
        )
        .await
        .status,
        409
    );
    let r = api
        .post(
            "/api/v1/billing/subscriptions/me/cancel",
            Some(&ben),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200);

    // The periods end (moved into the past here): Ann's trial becomes a
    // paid period with its invoice; Ben's cancel takes effect.
    let pool = sqlite(data.path(), &format!("{id}-billing")).await;
    let a_second_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 1000;
    sqlx::query("UPDATE subscriptions SET period_end = ? WHERE status IN ('trialing', 'active')")
        .bind(a_second_ago)
        .execute(&pool)
        .await
        .unwrap();
    let ann_now = eventually(&api, "/api/v1/billing/subscriptions/me", &ann, |s| {
        s["status"] == "active"
    })
    .await;
    assert!(ann_now["trialEndMs"].as_i64().unwrap() > 0, "{ann_now}");
    let invoices = api.get("/api/v1/billing/invoices", Some(&ann)).await;
    let items = invoices.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["total"], 1199);
    let r = eventually(&api, "/api/v1/billing/entitlements/me", &ben, |e| {
        e["tiers"] == json!([])
    })
    .await;
    assert_eq!(r["subscription"], Value::Null);

    // Every change is in the ledger and on the topic.
    let ledger = api.get("/api/v1/billing/ledger", Some(&ann)).await;
    assert_eq!(
        kinds(&ledger.body),
        [
            "SubscriptionCreated",
            "SubscriptionUpdated",
            "SubscriptionUpdated",
            "SubscriptionUpdated",
            "InvoiceGenerated"
        ]
    );
    let ledger = api.get("/api/v1/billing/ledger", Some(&ben)).await;
    assert_eq!(
        kinds(&ledger.body),
        [
            "SubscriptionCreated",
            "InvoiceGenerated",
            "PaymentProcessed",
            "SubscriptionUpdated",
            "SubscriptionUpdated",
            "SubscriptionCancelled"
        ]
    );
    events_about(
        &host,
        &ben_id,
        &[
            "folio.billing.SubscriptionCreated",
            "folio.billing.InvoiceGenerated",
            "folio.billing.PaymentProcessed",
            "folio.billing.SubscriptionUpdated",
            "folio.billing.SubscriptionCancelled",
        ],
    )
    .await;

    // The chain holds; an edited row breaks it where it was edited.
    assert_eq!(
        api.get("/api/v1/billing/ledger/verify", Some(&ben))
            .await
            .status,
        403
    );
    let v = api.get("/api/v1/billing/ledger/verify", Some(&admin)).await;
    assert_eq!(
        (
            v.body["valid"].clone(),
            v.body["accounts"].clone(),
            v.body["entries"].clone()
        ),
        (json!(true), json!(2), json!(11)),
        "{:?}",
        v.body
    );
    sqlx::query("UPDATE ledger SET data = replace(data, '\"amount\":599', '\"amount\":5') WHERE account = ? AND kind = 'PaymentProcessed'")
        .bind(&ben_id)
        .execute(&pool)
        .await
        .unwrap();
    let v = api.get("/api/v1/billing/ledger/verify", Some(&admin)).await;
    assert_eq!(v.body["valid"], false, "{:?}", v.body);
    assert_eq!(
        (
            v.body["broken"]["account"].clone(),
            v.body["broken"]["sequence"].clone()
        ),
        (json!(ben_id), json!(3)),
        "{:?}",
        v.body
    );
    pool.close().await;
    let _ = ann_id;
}

/// `SubscriptionUpdated` entries in `account`'s ledger.
async fn updates_of(api: &Api<'_>, admin: &str, account: &str) -> usize {
    let ledger = api
        .get(
            &format!("/api/v1/billing/ledger?account={account}"),
            Some(admin),
        )
        .await;
    kinds(&ledger.body)
        .iter()
        .filter(|k| k.as_str() == "SubscriptionUpdated")
        .count()
}

/// The admin's view across accounts: every subscription, filtered and
/// paged by cursor; the totals by status with the monthly revenue; and an
/// admin cancelling and resuming a customer's subscription. Customers and
/// anonymous callers get none of it, and a customer cannot reach another's
/// subscription by its id.
#[tokio::test(flavor = "multi_thread")]
async fn admins_list_page_and_act_on_every_accounts_subscription() {
    let run = unique();
    let id = format!("bls{run}");
    let data = tempfile::tempdir().unwrap();
    let host = start(&id, data.path(), 0, None).await;
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let plan = |name: &str, trial: i64, amount: i64| {
        json!({"name": name, "trialDays": trial, "tiers": [name.to_lowercase()],
               "prices": [{"interval": "month", "currency": "EUR", "amount": amount},
                          {"interval": "year", "currency": "EUR", "amount": amount * 10}]})
    };
    let trial = api
        .post("/api/v1/billing/plans", Some(&admin), plan("Pro", 14, 1200))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paid = api
        .post("/api/v1/billing/plans", Some(&admin), plan("Basic", 0, 500))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Five accounts: three on the trial (one yearly), two on the paid plan
    // (one paid by bank transfer, one not yet).
    let mut accounts = Vec::new();
    for (i, (plan_id, interval)) in [
        (&trial, "month"),
        (&trial, "year"),
        (&trial, "month"),
        (&paid, "month"),
        (&paid, "month"),
    ]
    .into_iter()
    .enumerate()
    {
        let (token, user) = api
            .user_with_role(&admin, &format!("sub{i}"), "consumer", &run)
            .await;
        let r = api
            .post(
                "/api/v1/billing/subscriptions",
                Some(&token),
                json!({"planId": plan_id, "interval": interval}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        accounts.push((token, user, r.body));
    }
    let invoice = accounts[3].2["invoice"]["id"].as_str().unwrap();
    let r = api
        .post(
            &format!("/api/v1/billing/invoices/{invoice}/mark-paid"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let subscription_of = |i: usize| {
        accounts[i].2["subscription"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // All of them, newest first, one page at a time: each once, none skipped.
    let ids = |r: &Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let everything = api.get("/api/v1/billing/subscriptions", Some(&admin)).await;
    assert_eq!(everything.status, 200, "{:?}", everything.body);
    let expected: Vec<String> = (0..5).rev().map(subscription_of).collect();
    assert_eq!(ids(&everything), expected, "newest first");
    assert_eq!(everything.body["nextCursor"], Value::Null);
    let mut paged = Vec::new();
    let mut path = "/api/v1/billing/subscriptions?limit=2".to_string();
    loop {
        let r = api.get(&path, Some(&admin)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        paged.extend(ids(&r));
        match r.body["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/billing/subscriptions?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, expected, "pages of two");

    // Filters, alone and together.
    for (query, wanted) in [
        (format!("planId={paid}"), vec![4, 3]),
        ("status=trialing".to_string(), vec![2, 1, 0]),
        ("status=active".to_string(), vec![3]),
        ("status=incomplete".to_string(), vec![4]),
        (format!("status=incomplete&planId={trial}"), vec![]),
        (format!("account={}", accounts[1].1), vec![1]),
        ("status=canceled".to_string(), vec![]),
    ] {
        let r = api
            .get(
                &format!("/api/v1/billing/subscriptions?{query}"),
                Some(&admin),
            )
            .await;
        assert_eq!(r.status, 200, "{query}: {:?}", r.body);
        let wanted: Vec<String> = wanted.into_iter().map(subscription_of).collect();
        assert_eq!(ids(&r), wanted, "{query}");
    }

    // Bad parameters name themselves; nobody but an admin sees the list.
    for (query, name) in [
        ("status=paused", "status"),
        ("planId=basic", "planId"),
        ("account=1%20OR%201=1", "account"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=1_2", "cursor"),
        ("sort=amount", "sort"),
    ] {
        let r = api
            .get(
                &format!("/api/v1/billing/subscriptions?{query}"),
                Some(&admin),
            )
            .await;
        assert_eq!(
            (r.status, field(&r)),
            (422, json!(name)),
            "{query}: {:?}",
            r.body
        );
    }
    let customer = &accounts[0].0;
    for path in [
        "/api/v1/billing/subscriptions",
        "/api/v1/billing/subscriptions/summary",
    ] {
        assert_eq!(api.get(path, Some(customer)).await.status, 403, "{path}");
        assert_eq!(api.get(path, None).await.status, 401, "{path}");
    }

    // The totals: the paying one counts in the monthly revenue, trials do not.
    let summary = api
        .get("/api/v1/billing/subscriptions/summary", Some(&admin))
        .await;
    assert_eq!(summary.status, 200, "{:?}", summary.body);
    assert_eq!(
        summary.body,
        json!({"byStatus": {"active": 1, "canceled": 0, "incomplete": 1, "past_due": 0, "trialing": 3},
               "monthlyRecurring": {"EUR": 500}})
    );

    // The account ids resolve to emails through the users API, in one call.
    let wanted: Vec<&str> = accounts.iter().map(|a| a.1.as_str()).collect();
    let r = api
        .get(
            &format!("/api/v1/users?ids={}&limit=100", wanted.join(",")),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mut emails: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    emails.sort();
    let mut expected_emails: Vec<String> = (0..5)
        .map(|i| format!("sub{i}.{run}@example.com"))
        .collect();
    expected_emails.sort();
    assert_eq!(emails, expected_emails);
    let r = api.get("/api/v1/users?ids=abc", Some(&admin)).await;
    assert_eq!((r.status, field(&r)), (422, json!("ids")), "{:?}", r.body);

    // An admin ends a customer's subscription at its period's end, and
    // undoes it; the customer sees each, and the ledger records each.
    let active = subscription_of(3);
    let cancel = format!("/api/v1/billing/subscriptions/{active}/cancel");
    let resume = format!("/api/v1/billing/subscriptions/{active}/resume");
    let owner = &accounts[3].0;
    let updates_before = updates_of(&api, &admin, &accounts[3].1).await;
    // A customer cannot act on another's subscription by its id, nor on their own.
    for token in [customer, owner] {
        assert_eq!(api.post(&cancel, Some(token), json!({})).await.status, 403);
    }
    assert_eq!(api.post(&cancel, None, json!({})).await.status, 401);
    let r = api.post(&cancel, Some(&admin), json!({})).await;
    assert_eq!(
        (r.status, &r.body["cancelAtPeriodEnd"]),
        (200, &json!(true)),
        "{:?}",
        r.body
    );
    assert_eq!(api.post(&cancel, Some(&admin), json!({})).await.status, 409);
    let mine = api
        .get("/api/v1/billing/subscriptions/me", Some(owner))
        .await;
    assert_eq!(mine.body["cancelAtPeriodEnd"], true, "{:?}", mine.body);
    let r = api.post(&resume, Some(&admin), json!({})).await;
    assert_eq!(
        (r.status, &r.body["cancelAtPeriodEnd"]),
        (200, &json!(false)),
        "{:?}",
        r.body
    );
    assert_eq!(api.post(&resume, Some(&admin), json!({})).await.status, 409);
    assert_eq!(
        updates_of(&api, &admin, &accounts[3].1).await,
        updates_before + 2,
        "a ledger entry for each"
    );

    // The unpaid one ends at once; then it has ended, and says so.
    let unpaid = subscription_of(4);
    let r = api
        .post(
            &format!("/api/v1/billing/subscriptions/{unpaid}/cancel"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("canceled")),
        "{:?}",
        r.body
    );
    for verb in ["cancel", "resume"] {
        let r = api
            .post(
                &format!("/api/v1/billing/subscriptions/{unpaid}/{verb}"),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 409, "{verb}: {:?}", r.body);
    }
    let r = api
        .get(
            "/api/v1/billing/subscriptions?status=canceled",
            Some(&admin),
        )
        .await;
    assert_eq!(ids(&r), vec![unpaid.clone()]);
    for missing in ["0192f0c4-0000-7000-8000-000000000000", "not-an-id"] {
        let r = api
            .post(
                &format!("/api/v1/billing/subscriptions/{missing}/cancel"),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 404, "{missing}: {:?}", r.body);
    }
}

/// Fifty accounts subscribe at once, each issuing an invoice: the numbers
/// are 1 to 50 of the year, none missing, none twice (Postgres, where the
/// writes really are concurrent).
#[tokio::test(flavor = "multi_thread")]
async fn invoice_numbers_stay_gapless_under_concurrent_issuance() {
    let b = backends();
    let run = unique();
    let id = format!("blpg{run}");
    let data = tempfile::tempdir().unwrap();
    let host = start(&id, data.path(), 0, Some(&b)).await;
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let r = api
        .post(
            "/api/v1/billing/plans",
            Some(&admin),
            json!({"name": "Basic", "tiers": ["basic"],
                   "prices": [{"interval": "month", "currency": "EUR", "amount": 499}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let plan = r.body["id"].as_str().unwrap().to_string();
    let mut readers = Vec::new();
    for n in 0..50 {
        readers.push(
            api.user_with_role(&admin, &format!("r{n}"), "consumer", &run)
                .await
                .0,
        );
    }
    let numbers: Vec<String> = futures_util::stream::iter(readers.iter())
        .map(|token| {
            let api = &api;
            let plan = plan.clone();
            async move {
                let subscription = folio_tests::billing::subscribe(api, token, &plan).await;
                subscription["invoice"]["number"]
                    .as_str()
                    .unwrap()
                    .to_string()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let sequence: BTreeSet<u64> = numbers
        .iter()
        .map(|n| n.split('-').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(sequence, (1..=50).collect::<BTreeSet<u64>>(), "{numbers:?}");
    let v = api.get("/api/v1/billing/ledger/verify", Some(&admin)).await;
    assert_eq!(
        (v.body["valid"].clone(), v.body["entries"].clone()),
        (json!(true), json!(100)),
        "{:?}",
        v.body
    );
}

/// Moves what `sql` (one `?`, a time in ms) sets a second into the past
/// for `account`, so the cron takes it at its next tick.
async fn due_now(pool: &sqlx::SqlitePool, sql: &'static str, account: &str) {
    let a_second_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 1000;
    let changed = sqlx::query(sql)
        .bind(a_second_ago)
        .bind(account)
        .execute(pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 1, "{sql}");
}

const PERIOD_ENDS: &str = "UPDATE subscriptions SET period_end = ? WHERE account = ? \
                           AND status IN ('trialing', 'active', 'past_due')";
const RETRY_DUE: &str = "UPDATE invoices SET next_attempt_at = ? WHERE account = ? \
                         AND status = 'open' AND next_attempt_at IS NOT NULL";
const DAY_MS: i64 = 86_400_000;

async fn newest_invoice(api: &Api<'_>, token: &str) -> Value {
    api.get("/api/v1/billing/invoices", Some(token)).await.body["items"][0].clone()
}

async fn ledger_of(api: &Api<'_>, token: &str) -> Value {
    api.get("/api/v1/billing/ledger", Some(token)).await.body
}

/// The PaymentIntent ids of `account`'s failed payments, in order.
fn failed_references(ledger: &Value) -> Vec<String> {
    ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "PaymentFailed")
        .map(|e| e["data"]["reference"].as_str().unwrap().to_string())
        .collect()
}

/// Stripe end to end, against the test double of `tests/support/stripe.rs`:
/// a trial leaves a card at Checkout; the renewal is charged off session;
/// an upgrade is prorated and charged at once; a declined renewal makes the
/// subscription past due (tiers kept), is retried on the dunning schedule
/// and recovers when the card works; cancel at period end. Every webhook is
/// applied once, whatever its order or how often it comes; forged, stale,
/// unsigned and tampered deliveries are refused. A second customer whose
/// card keeps failing is canceled after the last retry.
#[tokio::test(flavor = "multi_thread")]
async fn stripe_trial_upgrade_dunning_recovery_and_webhooks() {
    use folio_tests::billing::start_with;
    use folio_tests::stripe::{self, StripeDouble, deliver, deliver_raw, signature};

    let double = StripeDouble::start().await;
    let run = unique();
    let id = format!("bls{run}");
    let data = tempfile::tempdir().unwrap();
    let host = start_with(&id, data.path(), 0, Some(&double.api_base()), None).await;
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (cleo, cleo_id) = api.user_with_role(&admin, "cleo", "consumer", &run).await;
    let (dan, dan_id) = api.user_with_role(&admin, "dan", "consumer", &run).await;
    let plan = |body: Value| {
        let api = &api;
        let admin = &admin;
        async move {
            let r = api.post("/api/v1/billing/plans", Some(admin), body).await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let basic = plan(json!({"name": "Basic", "trialDays": 7, "tiers": ["basic"],
        "prices": [{"interval": "month", "currency": "EUR", "amount": 600}]}))
    .await;
    let pro = plan(json!({"name": "Pro", "tiers": ["basic", "pro"],
        "prices": [{"interval": "month", "currency": "EUR", "amount": 1800}]}))
    .await;
    let pool = sqlite(data.path(), &format!("{id}-billing")).await;

    // The trial starts at once; Checkout (setup mode) keeps a card for its end.
    let r = api
        .post(
            "/api/v1/billing/subscriptions",
            Some(&cleo),
            json!({"planId": basic, "provider": "stripe"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["subscription"]["status"], "trialing");
    let session = r.body["checkout"]["id"].as_str().unwrap().to_string();
    assert!(
        r.body["checkout"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://checkout.stripe.test/"),
        "{:?}",
        r.body
    );
    let setup = double.complete_checkout(&session, "pm_card_cleo");
    let event = double.event("setup_intent.succeeded", setup);
    let (status, receipt) = deliver(&host, &event).await;
    assert_eq!((status, receipt["applied"].clone()), (200, json!(true)));
    let (status, receipt) = deliver(&host, &event).await;
    assert_eq!(
        (
            status,
            receipt["duplicate"].clone(),
            receipt["applied"].clone()
        ),
        (200, json!(true), json!(false))
    );

    // The trial ends: the first period is charged to that card, off session.
    due_now(&pool, PERIOD_ENDS, &cleo_id).await;
    eventually(&api, "/api/v1/billing/subscriptions/me", &cleo, |s| {
        s["status"] == "active"
    })
    .await;
    let first = newest_invoice(&api, &cleo).await;
    assert_eq!(
        (
            first["status"].clone(),
            first["total"].clone(),
            first["provider"].clone()
        ),
        (json!("paid"), json!(600), json!("stripe")),
        "{first}"
    );
    let charges: Vec<_> = double
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/payment_intents")
        .collect();
    assert_eq!(charges.len(), 1, "{charges:?}");
    let charge = &charges[0];
    let first_id = first["id"].as_str().unwrap();
    assert_eq!(
        charge.idempotency_key.as_deref(),
        Some(format!("folio-invoice-{first_id}-attempt-1").as_str())
    );
    for (field, value) in [
        ("amount", "600"),
        ("currency", "eur"),
        ("payment_method", "pm_card_cleo"),
        ("off_session", "true"),
        ("confirm", "true"),
        ("metadata[invoice_id]", first_id),
    ] {
        assert_eq!(charge.form[field], value, "{field}: {:?}", charge.form);
    }
    // Stripe's own webhook about that charge is the same payment: no change.
    let entries = kinds(&ledger_of(&api, &cleo).await).len();
    let paid_intent = first_id_intent(&ledger_of(&api, &cleo).await, first_id);
    let event = double.event("payment_intent.succeeded", double.intent(&paid_intent));
    let (status, receipt) = deliver(&host, &event).await;
    assert_eq!((status, receipt["applied"].clone()), (200, json!(false)));
    assert_eq!(kinds(&ledger_of(&api, &cleo).await).len(), entries);

    // Upgrade mid period: unused Basic time credited, Pro charged for the
    // rest of the period, at once. The same plan, another currency: 422.
    for (body, expected) in [
        (json!({"planId": basic}), "planId"),
        (json!({"planId": pro, "currency": "USD"}), "currency"),
        (json!({"planId": pro, "provider": "manual"}), "provider"),
    ] {
        let r = api
            .post("/api/v1/billing/subscriptions/me/change", Some(&cleo), body)
            .await;
        assert_eq!(
            (r.status, field(&r)),
            (422, json!(expected)),
            "{:?}",
            r.body
        );
    }
    assert_eq!(kinds(&ledger_of(&api, &cleo).await).len(), entries);
    let r = api
        .post(
            "/api/v1/billing/subscriptions/me/change",
            Some(&cleo),
            json!({"planId": pro}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["subscription"]["amount"], 1800);
    let upgrade = &r.body["invoice"];
    let credit = -upgrade["lines"][0]["amount"].as_i64().unwrap();
    let charge = upgrade["lines"][1]["amount"].as_i64().unwrap();
    // Seconds into a month-long period: nearly all of it is left.
    assert!((595..=600).contains(&credit), "{upgrade}");
    assert!((1785..=1800).contains(&charge), "{upgrade}");
    assert_eq!(upgrade["total"].as_i64().unwrap(), charge - credit);
    assert_eq!(upgrade["status"], "paid", "{upgrade}");
    let r = api
        .get("/api/v1/billing/entitlements/me", Some(&cleo))
        .await;
    assert_eq!(r.body["tiers"], json!(["basic", "pro"]));

    // A renewal declined: past due, the tiers kept (the grace period), the
    // retry scheduled a day after the due date.
    double.decline_charges(true);
    due_now(&pool, PERIOD_ENDS, &cleo_id).await;
    eventually(&api, "/api/v1/billing/subscriptions/me", &cleo, |s| {
        s["status"] == "past_due"
    })
    .await;
    let renewal = newest_invoice(&api, &cleo).await;
    let due = renewal["dueAtMs"].as_i64().unwrap();
    assert_eq!(
        (
            renewal["status"].clone(),
            renewal["attempts"].clone(),
            renewal["nextAttemptAtMs"].clone()
        ),
        (json!("open"), json!(1), json!(due + DAY_MS)),
        "{renewal}"
    );
    let r = api
        .get("/api/v1/billing/entitlements/me", Some(&cleo))
        .await;
    assert_eq!(r.body["tiers"], json!(["basic", "pro"]));
    // Stripe's webhook about the same declined PaymentIntent counts once.
    let failed = failed_references(&ledger_of(&api, &cleo).await);
    assert_eq!(failed.len(), 1);
    let event = double.event("payment_intent.payment_failed", double.intent(&failed[0]));
    let (status, receipt) = deliver(&host, &event).await;
    assert_eq!((status, receipt["applied"].clone()), (200, json!(false)));
    assert_eq!(
        newest_invoice(&api, &cleo).await["attempts"],
        1,
        "counted twice"
    );

    // The day-1 retry fails too: next on day 3, with the next idempotency key.
    due_now(&pool, RETRY_DUE, &cleo_id).await;
    let renewal = eventually(&api, "/api/v1/billing/invoices", &cleo, |list| {
        list["items"][0]["attempts"] == 2
    })
    .await["items"][0]
        .clone();
    assert_eq!(renewal["nextAttemptAtMs"], due + 3 * DAY_MS, "{renewal}");
    let renewal_id = renewal["id"].as_str().unwrap();
    let keys: Vec<String> = double
        .requests()
        .into_iter()
        .filter(|r| r.form.get("metadata[invoice_id]").map(String::as_str) == Some(renewal_id))
        .filter_map(|r| r.idempotency_key)
        .collect();
    assert_eq!(
        keys,
        [1, 2].map(|n| format!("folio-invoice-{renewal_id}-attempt-{n}"))
    );

    // The card works again: the day-3 retry pays, the subscription recovers.
    double.decline_charges(false);
    due_now(&pool, RETRY_DUE, &cleo_id).await;
    eventually(&api, "/api/v1/billing/subscriptions/me", &cleo, |s| {
        s["status"] == "active"
    })
    .await;
    assert_eq!(newest_invoice(&api, &cleo).await["status"], "paid");
    // The second decline's webhook, arriving after the recovery, changes nothing.
    let failed = failed_references(&ledger_of(&api, &cleo).await);
    let entries = kinds(&ledger_of(&api, &cleo).await).len();
    let event = double.event("payment_intent.payment_failed", double.intent(&failed[1]));
    let (status, receipt) = deliver(&host, &event).await;
    assert_eq!((status, receipt["applied"].clone()), (200, json!(false)));
    assert_eq!(kinds(&ledger_of(&api, &cleo).await).len(), entries);
    let r = api
        .get("/api/v1/billing/subscriptions/me", Some(&cleo))
        .await;
    assert_eq!(r.body["status"], "active");

    // Forged, stale, unsigned and tampered deliveries are refused and change nothing.
    let card = double.complete_checkout(&session, "pm_card_attacker");
    let payload = serde_json::to_vec(&double.event("setup_intent.succeeded", card)).unwrap();
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut tampered = payload.clone();
    tampered.extend_from_slice(b" ");
    for (body, signed) in [
        (&payload, Some(signature(&payload, "whsec_attacker", now_s))),
        (
            &payload,
            Some(signature(&payload, stripe::WEBHOOK_SECRET, now_s - 600)),
        ),
        (&payload, None),
        (
            &tampered,
            Some(signature(&payload, stripe::WEBHOOK_SECRET, now_s)),
        ),
        (&payload, Some(format!("t={now_s},v1=zz"))),
    ] {
        let (status, problem) = deliver_raw(&host, body, signed.clone()).await;
        assert_eq!(status, 400, "{signed:?}: {problem}");
    }
    // Nothing near Stripe's size is hashed at all: a flood of large bodies
    // is refused by length.
    let large = vec![b' '; 300 * 1024];
    let (status, _) = deliver_raw(
        &host,
        &large,
        Some(signature(&large, stripe::WEBHOOK_SECRET, now_s)),
    )
    .await;
    assert_eq!(status, 413);
    let (card_on_file,): (String,) =
        sqlx::query_as("SELECT payment_method FROM stripe_customers WHERE account = ?")
            .bind(&cleo_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(card_on_file, "pm_card_cleo");

    // Cancel at period end: the tiers go when the period does.
    let r = api
        .post(
            "/api/v1/billing/subscriptions/me/cancel",
            Some(&cleo),
            json!({}),
        )
        .await;
    assert_eq!(r.body["cancelAtPeriodEnd"], true, "{:?}", r.body);
    due_now(&pool, PERIOD_ENDS, &cleo_id).await;
    eventually(&api, "/api/v1/billing/entitlements/me", &cleo, |e| {
        e["tiers"] == json!([])
    })
    .await;
    assert_eq!(
        kinds(&ledger_of(&api, &cleo).await),
        [
            "SubscriptionCreated",
            "SubscriptionUpdated",
            "InvoiceGenerated",
            "PaymentProcessed",
            "SubscriptionUpdated",
            "InvoiceGenerated",
            "PaymentProcessed",
            "SubscriptionUpdated",
            "InvoiceGenerated",
            "PaymentFailed",
            "SubscriptionUpdated",
            "PaymentFailed",
            "PaymentProcessed",
            "SubscriptionUpdated",
            "SubscriptionUpdated",
            "SubscriptionCancelled",
        ]
    );
    events_about(
        &host,
        &cleo_id,
        &[
            "folio.billing.PaymentFailed",
            "folio.billing.PaymentProcessed",
            "folio.billing.SubscriptionCancelled",
        ],
    )
    .await;

    // Dan pays his first invoice at Checkout. His earlier declined try's
    // webhook arrives after the success, the success twice: one payment.
    let r = api
        .post(
            "/api/v1/billing/subscriptions",
            Some(&dan),
            json!({"planId": pro, "provider": "stripe"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["subscription"]["status"], "incomplete");
    let session = r.body["checkout"]["id"].as_str().unwrap().to_string();
    let paid = double.complete_checkout(&session, "pm_card_dan");
    assert_eq!(paid["amount"], 1800);
    let mut declined = double.complete_checkout(&session, "pm_card_dan_old");
    declined["status"] = json!("requires_payment_method");
    declined["last_payment_error"] =
        json!({"code": "card_declined", "message": "Your card was declined."});
    let success = double.event("payment_intent.succeeded", paid);
    let failure = double.event("payment_intent.payment_failed", declined);
    for event in [&success, &success, &failure] {
        assert_eq!(deliver(&host, event).await.0, 200);
    }
    eventually(&api, "/api/v1/billing/subscriptions/me", &dan, |s| {
        s["status"] == "active"
    })
    .await;
    let dan_ledger = kinds(&ledger_of(&api, &dan).await);
    assert_eq!(
        dan_ledger
            .iter()
            .filter(|k| *k == "PaymentProcessed")
            .count(),
        1,
        "{dan_ledger:?}"
    );
    assert!(
        !dan_ledger.contains(&"PaymentFailed".to_string()),
        "{dan_ledger:?}"
    );

    // His card then fails every retry: canceled after the last (day 7), the
    // invoice void.
    double.decline_charges(true);
    due_now(&pool, PERIOD_ENDS, &dan_id).await;
    eventually(&api, "/api/v1/billing/subscriptions/me", &dan, |s| {
        s["status"] == "past_due"
    })
    .await;
    for attempts in 2..=4 {
        due_now(&pool, RETRY_DUE, &dan_id).await;
        eventually(&api, "/api/v1/billing/invoices", &dan, |list| {
            list["items"][0]["attempts"] == attempts
        })
        .await;
    }
    due_now(&pool, RETRY_DUE, &dan_id).await;
    eventually(&api, "/api/v1/billing/entitlements/me", &dan, |e| {
        e["tiers"] == json!([])
    })
    .await;
    let last = newest_invoice(&api, &dan).await;
    assert_eq!(
        (last["status"].clone(), last["attempts"].clone()),
        (json!("void"), json!(5)),
        "{last}"
    );
    let dan_entries = ledger_of(&api, &dan).await;
    let cancelled = dan_entries["items"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["type"] == "SubscriptionCancelled")
        .unwrap();
    assert_eq!(cancelled["data"]["reason"], "payment_failed");

    // Every POST carried an idempotency key, none was reused with other
    // parameters, and the chain holds.
    for request in double.requests() {
        assert!(request.idempotency_key.is_some(), "{request:?}");
        assert!([200, 402].contains(&request.status), "{request:?}");
    }
    let v = api.get("/api/v1/billing/ledger/verify", Some(&admin)).await;
    assert_eq!(v.body["valid"], true, "{:?}", v.body);
    pool.close().await;
}

/// The reference of the payment that settled invoice `invoice_id`.
fn first_id_intent(ledger: &Value, invoice_id: &str) -> String {
    ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "PaymentProcessed" && e["data"]["invoiceId"] == invoice_id)
        .and_then(|e| e["data"]["reference"].as_str())
        .unwrap()
        .to_string()
}

/// A gated article (`requiredTier`): anyone signed out and a reader without
/// the tier get its preview (title, description, first paragraph, marked
/// `preview`, never in a shared cache); a subscriber whose plan grants the
/// tier reads it whole once billing's event reaches the content service,
/// and the preview again when the subscription ends. Lists show the
/// preview; its author and admins always read it whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_gated_article_is_a_preview_to_a_free_reader_and_whole_to_a_subscriber() {
    use folio_tests::billing::start_with_content;

    let run = unique();
    let id = format!("blg{run}");
    let data = tempfile::tempdir().unwrap();
    let host = start_with_content(&id, data.path()).await;
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (author, _) = api.user_with_role(&admin, "ada", "creator", &run).await;
    let (free, _) = api.user_with_role(&admin, "fay", "consumer", &run).await;
    let (member, member_id) = api.user_with_role(&admin, "mo", "consumer", &run).await;
    let plan = folio_tests::billing::trial_plan(&api, &admin, "members").await;

    // A picture for the article, public while no content uses it.
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        16,
        16,
        image::Rgb([200, 40, 40]),
    ))
    .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
    .unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(png)
            .file_name("chart.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let r = folio_tests::client()
        .post(host.url("/api/v1/media"))
        .bearer_auth(&author)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let media: Value = r.json().await.unwrap();
    let media_path = format!("/api/v1/media/{}", media["id"].as_str().unwrap());
    eventually(&api, &media_path, &author, |m| m["status"] == "ready").await;
    assert_eq!(api.get(&media_path, None).await.status, 200);
    let media_status = |token: Option<&str>| {
        let api = &api;
        let media_path = media_path.clone();
        let token = token.map(str::to_string);
        async move {
            let item = api.get(&media_path, token.as_deref()).await.status;
            let file = api
                .get(&format!("{media_path}/content"), token.as_deref())
                .await
                .status;
            (item, file)
        }
    };
    let media_becomes = |token: Option<&str>, wanted: (u16, u16)| {
        let media_status = &media_status;
        let token = token.map(str::to_string);
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let got = media_status(token.as_deref()).await;
                if got == wanted {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "{token:?}: {got:?}, not {wanted:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    let article = |tier: Value| {
        json!({"title": "Inside story", "type": "article", "description": "What happened",
               "body": "<p>The opening.</p><p>The part members pay for.</p>",
               "requiredTier": tier, "mediaIds": [media["id"]]})
    };
    for tier in [json!("Gold Tier"), json!(""), json!(7)] {
        let r = api
            .post("/api/v1/content", Some(&author), article(tier.clone()))
            .await;
        assert_eq!(
            (r.status, field(&r)),
            (422, json!("requiredTier")),
            "{tier}"
        );
    }
    let r = api
        .post("/api/v1/content", Some(&author), article(json!("members")))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let item = r.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/content/{item}");
    // Used by a draft only: its owner's (and admins') alone.
    media_becomes(None, (404, 404)).await;
    assert_eq!(media_status(Some(&author)).await, (200, 200));
    for to in ["review", "published"] {
        let r = api
            .post(
                &format!("{path}/transitions"),
                Some(&admin),
                json!({"to": to}),
            )
            .await;
        assert_eq!(r.status, 200, "{to}: {:?}", r.body);
    }

    let whole = "<p>The opening.</p><p>The part members pay for.</p>";
    let preview = "<p>The opening.</p>";
    let read = |token: Option<&str>| {
        let api = &api;
        let path = path.clone();
        let token = token.map(str::to_string);
        async move { api.get(&path, token.as_deref()).await }
    };
    for token in [None, Some(free.as_str()), Some(member.as_str())] {
        let r = read(token).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            (r.body["body"].clone(), r.body["preview"].clone()),
            (json!(preview), json!(true)),
            "{token:?}"
        );
        assert_eq!(r.body["title"], "Inside story");
        assert_eq!(r.body["description"], "What happened");
        assert_eq!(r.headers["cache-control"], "private, no-cache");
        assert!(r.headers.get("surrogate-key").is_none());
        assert!(r.headers["etag"].to_str().unwrap().ends_with("-preview\""));
    }
    for token in [&author, &admin] {
        let r = read(Some(token)).await;
        assert_eq!(r.body["body"], whole);
        assert_eq!(r.body["preview"], Value::Null);
    }
    // Used only by gated content: refused to whoever lacks the tier.
    for token in [None, Some(free.as_str()), Some(member.as_str())] {
        assert_eq!(media_status(token).await, (404, 404), "{token:?}");
    }
    assert_eq!(media_status(Some(&admin)).await, (200, 200));

    // Mo subscribes: from billing's event on, he reads all of it.
    folio_tests::billing::subscribe(&api, &member, &plan).await;
    let r = eventually(&api, &path, &member, |c| c["body"] == whole).await;
    assert_eq!(r["preview"], Value::Null);
    media_becomes(Some(&member), (200, 200)).await;
    let m = api.get(&media_path, Some(&member)).await;
    assert_eq!(m.headers["cache-control"], "private, no-store");
    assert_eq!(media_status(Some(&free)).await, (404, 404));
    assert_eq!(r["requiredTier"], "members");
    assert_eq!(read(Some(&free)).await.body["body"], preview);
    let list = api.get("/api/v1/content", Some(&member)).await;
    let listed = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == item.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        (listed["body"].clone(), listed["preview"].clone()),
        (json!(preview), json!(true))
    );

    // His subscription ends: the preview again.
    let r = api
        .post(
            "/api/v1/billing/subscriptions/me/cancel",
            Some(&member),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(read(Some(&member)).await.body["body"], whole);
    let pool = sqlite(data.path(), &format!("{id}-billing")).await;
    due_now(&pool, PERIOD_ENDS, &member_id).await;
    eventually(&api, &path, &member, |c| c["body"] == preview).await;
    media_becomes(Some(&member), (404, 404)).await;
    pool.close().await;

    // Opened to all (null clears the tier): whole for everyone again.
    let etag = read(Some(&author)).await.headers["etag"].clone();
    let r = folio_tests::client()
        .patch(host.url(&path))
        .bearer_auth(&author)
        .header("if-match", etag)
        .json(&json!({"requiredTier": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = read(None).await;
    assert_eq!(
        (r.body["body"].clone(), r.body["requiredTier"].clone()),
        (json!(whole), Value::Null)
    );
    media_becomes(None, (200, 200)).await;
}

/// Metered plans: usage reported in batches is kept once per transaction
/// id (a retried batch counts nothing twice, a bad event keeps none of its
/// batch), aggregated per meter (sum, count, max, unique values) over the
/// period and billed on the renewal invoice; only admins and the services
/// named in `usage_reporters` report it.
#[tokio::test(flavor = "multi_thread")]
async fn usage_is_counted_once_and_billed_at_the_period_end() {
    let run = unique();
    let id = format!("blu{run}");
    let data = tempfile::tempdir().unwrap();
    let host = start(&id, data.path(), 0, None).await;
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (una, una_id) = api.user_with_role(&admin, "una", "consumer", &run).await;
    let (_, vic_id) = api.user_with_role(&admin, "vic", "consumer", &run).await;
    let plan = json!({"name": "API", "tiers": ["api"],
    "prices": [{"interval": "month", "currency": "EUR", "amount": 1000}],
    "meters": [
        {"key": "api-calls", "aggregation": "sum", "unitAmounts": {"EUR": 2}},
        {"key": "seats", "aggregation": "unique", "unitAmounts": {"EUR": 300}},
        {"key": "peak-gb", "aggregation": "max", "unitAmounts": {"EUR": 50}},
        {"key": "exports", "aggregation": "count", "unitAmounts": {"eur": 10}}
    ]});
    for (meters, expected) in [
        (
            json!([{"key": "x", "aggregation": "avg", "unitAmounts": {"EUR": 1}}]),
            "meters[0].aggregation",
        ),
        (
            json!([{"key": "x", "aggregation": "sum", "unitAmounts": {"EUR": 1.5}}]),
            "meters[0].unitAmounts.EUR",
        ),
        (
            json!([{"key": "x", "aggregation": "sum", "unitAmounts": {"XYZ": 1}}]),
            "meters[0].unitAmounts.XYZ",
        ),
        (
            json!([{"key": "Bad Key", "aggregation": "sum", "unitAmounts": {"EUR": 1}}]),
            "meters[0].key",
        ),
    ] {
        let mut bad = plan.clone();
        bad["meters"] = meters;
        let r = api.post("/api/v1/billing/plans", Some(&admin), bad).await;
        assert_eq!(
            (r.status, field(&r)),
            (422, json!(expected)),
            "{:?}",
            r.body
        );
    }
    let r = api.post("/api/v1/billing/plans", Some(&admin), plan).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = api
        .post(
            "/api/v1/billing/subscriptions",
            Some(&una),
            json!({"planId": r.body["id"]}),
        )
        .await;
    let first = r.body["invoice"]["id"].as_str().unwrap().to_string();
    let r = api
        .post(
            &format!("/api/v1/billing/invoices/{first}/mark-paid"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let event = |tx: &str, meter: &str, extra: Value| {
        let mut e =
            json!({"transactionId": format!("{run}-{tx}"), "account": una_id, "meter": meter});
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        e
    };
    let batch = json!({"events": [
        event("a1", "api-calls", json!({"quantity": 100})),
        event("a2", "api-calls", json!({"quantity": 100})),
        event("a3", "api-calls", json!({"quantity": 100})),
        event("s1", "seats", json!({"value": "u1"})),
        event("s2", "seats", json!({"value": "u2"})),
        event("s3", "seats", json!({"value": "u1"})),
        event("p1", "peak-gb", json!({"quantity": 5})),
        event("p2", "peak-gb", json!({"quantity": 9})),
        event("p3", "peak-gb", json!({"quantity": 7})),
        event("e1", "exports", json!({})),
        event("e2", "exports", json!({})),
        {"transactionId": format!("{run}-v1"), "account": vic_id, "meter": "api-calls", "quantity": 1000},
    ]});
    let r = api
        .post("/api/v1/billing/usage", Some(&una), batch.clone())
        .await;
    assert_eq!(r.status, 403, "a customer reports no usage: {:?}", r.body);
    let r = api
        .post("/api/v1/billing/usage", Some(&admin), batch.clone())
        .await;
    assert_eq!(
        (
            r.status,
            r.body["accepted"].clone(),
            r.body["duplicates"].clone()
        ),
        (200, json!(12), json!(0)),
        "{:?}",
        r.body
    );
    let r = api.post("/api/v1/billing/usage", Some(&admin), batch).await;
    assert_eq!(
        (r.body["accepted"].clone(), r.body["duplicates"].clone()),
        (json!(0), json!(12))
    );
    for (bad, expected) in [
        (
            event("b2", "api-calls", json!({"quantity": -1})),
            "events[1].quantity",
        ),
        (
            event("b2", "api-calls", json!({"quantity": 1.5})),
            "events[1].quantity",
        ),
        (event("b2", "Api Calls", json!({})), "events[1].meter"),
        (
            event(
                "b2",
                "api-calls",
                json!({"timestamp": "2099-01-01T00:00:00Z"}),
            ),
            "events[1].timestamp",
        ),
        (
            event("b2", "api-calls", json!({"account": "nobody"})),
            "events[1].account",
        ),
    ] {
        let r = api
            .post(
                "/api/v1/billing/usage",
                Some(&admin),
                json!({"events": [event("b1", "api-calls", json!({"quantity": 1})), bad]}),
            )
            .await;
        assert_eq!(
            (r.status, field(&r)),
            (422, json!(expected)),
            "{:?}",
            r.body
        );
    }

    let r = api.get("/api/v1/billing/usage/me", Some(&una)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let so_far: Vec<(String, i64, i64)> = r.body["meters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["key"].as_str().unwrap().to_string(),
                m["quantity"].as_i64().unwrap(),
                m["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        so_far,
        [
            ("api-calls".to_string(), 300, 600),
            ("seats".to_string(), 2, 600),
            ("peak-gb".to_string(), 9, 450),
            ("exports".to_string(), 2, 20),
        ]
    );

    // The period ends: the plan and the period's usage on one invoice.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let pool = sqlite(data.path(), &format!("{id}-billing")).await;
    due_now(&pool, PERIOD_ENDS, &una_id).await;
    let list = eventually(&api, "/api/v1/billing/invoices", &una, |list| {
        list["items"].as_array().unwrap().len() == 2
    })
    .await;
    let renewal = &list["items"][0];
    let lines: Vec<(i64, i64)> = renewal["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["quantity"].as_i64().unwrap(),
                l["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [(1, 1000), (300, 600), (2, 600), (9, 450), (2, 20)],
        "{renewal}"
    );
    assert_eq!(renewal["total"], 2670);
    pool.close().await;
}
