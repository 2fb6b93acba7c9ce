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
                let r = api
                    .post(
                        "/api/v1/billing/subscriptions",
                        Some(token),
                        json!({"planId": plan}),
                    )
                    .await;
                assert_eq!(r.status, 201, "{:?}", r.body);
                r.body["invoice"]["number"].as_str().unwrap().to_string()
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
