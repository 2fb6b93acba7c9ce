//! Abuse of the users service, black-box through the host: guessing second
//! factors (across sign-ins, and all at once on one challenge), locking an
//! owner out from elsewhere, reset tokens in events and logs, finding out
//! which emails have accounts, and guessing through the signed-in routes
//! that check a password or a code.
//!
//! Client addresses are simulated with `X-Forwarded-For`, which the host
//! believes only from the proxies its runtime config trusts: here the tests'
//! own loopback connections.

use std::time::Duration;

use folio_auth::totp;
use folio_tests::services::{
    Api, PASSWORD, Reply, backends, events_about, now, open_reset_token, reset_delivery_env,
    reset_requested_data, start, start_with_runtime_config, unique,
};
use folio_tests::{Host, client, get_json};
use futures_util::future::join_all;
use serde_json::{Value, json};

/// Lets every test request name its client address in `X-Forwarded-For`.
const TRUSTED_PROXIES: &str = "[http]\ntrusted_proxies = [\"127.0.0.1/32\"]\n";

const WRONG_PASSWORD: &str = "not the password at all";

fn code_at(secret_b32: &str, unix: u64) -> String {
    let secret = totp::base32_decode(secret_b32).unwrap();
    totp::format_code(totp::totp_at(&secret, unix, 30, 6), 6)
}

/// A six-digit code that is valid for `secret` at no step near now.
fn wrong_code(secret: &str) -> String {
    let t = now();
    let valid: Vec<String> = (0..8).map(|i| code_at(secret, t - 90 + i * 30)).collect();
    (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !valid.contains(c))
        .unwrap()
}

/// A request from client address `from` (none: the test's own, 127.0.0.1).
async fn send(
    host: &Host,
    method: &str,
    path: &str,
    from: Option<&str>,
    token: Option<&str>,
    body: Value,
) -> Reply {
    let mut request = client()
        .request(method.parse().unwrap(), host.url(path))
        .json(&body);
    if let Some(from) = from {
        request = request.header("x-forwarded-for", from);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    }
}

async fn login_from(host: &Host, from: &str, email: &str, password: &str) -> Reply {
    send(
        host,
        "POST",
        "/api/v1/auth/login",
        Some(from),
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

/// The `Retry-After` of a 429, checked to be a problem+json answer.
fn retry_after(r: &Reply) -> u64 {
    assert_eq!(r.status, 429, "{:?}", r.body);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    r.headers
        .get("retry-after")
        .expect("a 429 says when to retry")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Registers `name.run@example.com` and turns TOTP on; returns (email,
/// TOTP secret, an access token from before MFA).
async fn user_with_mfa(api: &Api<'_>, name: &str, run: &str) -> (String, String, String) {
    let email = format!("{name}.{run}@example.com");
    api.register(&email, name).await;
    let (access, _) = api.login(&email, PASSWORD).await;
    let enrol = api
        .post("/api/v1/users/me/mfa/totp", Some(&access), json!({}))
        .await;
    assert_eq!(enrol.status, 200, "{:?}", enrol.body);
    let secret = enrol.body["secret"].as_str().unwrap().to_string();
    let verify = api
        .post(
            "/api/v1/users/me/mfa/totp/verify",
            Some(&access),
            json!({"code": code_at(&secret, now())}),
        )
        .await;
    assert_eq!(verify.status, 200, "{:?}", verify.body);
    (email, secret, access)
}

/// Signs in with the password; returns the MFA challenge token.
async fn mfa_token(api: &Api<'_>, email: &str) -> String {
    let r = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["mfaRequired"].clone()),
        (200, json!(true)),
        "{:?}",
        r.body
    );
    r.body["mfaToken"].as_str().unwrap().to_string()
}

/// A code that was checked and found wrong (not refused before checking).
fn checked_and_wrong(r: &Reply) -> bool {
    r.status == 401
        && r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("wrong or was already used"))
}

/// Four wrong codes per sign-in, five sign-ins: a correct password starts a
/// new challenge but never a new allowance of codes.
async fn mfa_guessing_across_sign_ins(host: &Host) {
    let api = Api { host };
    let run = unique();
    let (email, secret, _) = user_with_mfa(&api, "mfa-target", &run).await;
    let wrong = wrong_code(&secret);
    let mut checked = 0;
    let mut first_refusal = None;
    let mut tried = 0;
    for _ in 0..5 {
        let token = mfa_token(&api, &email).await;
        for _ in 0..4 {
            tried += 1;
            let r = api
                .post(
                    "/api/v1/auth/mfa",
                    None,
                    json!({"mfaToken": token, "code": wrong}),
                )
                .await;
            match r.status {
                401 => {
                    assert!(
                        first_refusal.is_none(),
                        "code {tried} was checked after the account's second factor was locked: {:?}",
                        r.body
                    );
                    assert!(checked_and_wrong(&r), "{:?}", r.body);
                    checked += 1;
                }
                429 => {
                    let wait = retry_after(&r);
                    assert!((1..=1800).contains(&wait), "{wait}");
                    first_refusal.get_or_insert(tried);
                }
                other => panic!("wrong code {tried}: {other} {:?}", r.body),
            }
        }
    }
    let first = first_refusal.expect("20 wrong codes across 5 sign-ins and never a 429");
    assert!(first < 10, "the first 429 came at wrong code {first}");
    assert!(checked <= 5, "{checked} wrong codes were checked");
    // The owner, with the right password and the right code, waits too: the
    // lock comes before any code is checked.
    let token = mfa_token(&api, &email).await;
    let owner = api
        .post(
            "/api/v1/auth/mfa",
            None,
            json!({"mfaToken": token, "code": code_at(&secret, now() + 30)}),
        )
        .await;
    retry_after(&owner);
}

/// Twelve guesses at once on one challenge: at most five are checked.
async fn concurrent_guesses_on_one_challenge(host: &Host) {
    let api = Api { host };
    let run = unique();
    let (email, secret, _) = user_with_mfa(&api, "mfa-race", &run).await;
    let wrong = wrong_code(&secret);
    let token = mfa_token(&api, &email).await;
    let replies = join_all((0..12).map(|_| {
        api.post(
            "/api/v1/auth/mfa",
            None,
            json!({"mfaToken": token, "code": wrong}),
        )
    }))
    .await;
    for r in &replies {
        assert!(matches!(r.status, 401 | 429), "{} {:?}", r.status, r.body);
    }
    let checked = replies.iter().filter(|r| checked_and_wrong(r)).count();
    assert!(
        checked <= 5,
        "{checked} of 12 concurrent guesses were checked: {:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    // The challenge is spent: not even the right code completes it.
    let after = api
        .post(
            "/api/v1/auth/mfa",
            None,
            json!({"mfaToken": token, "code": code_at(&secret, now() + 30)}),
        )
        .await;
    assert_ne!(after.status, 200, "{:?}", after.body);
}

/// Failures from one address lock that address (for this account) only;
/// the account's failures from everywhere delay addresses it has never
/// signed in from, never one it has.
async fn nobody_else_can_lock_the_owner_out(host: &Host) {
    let api = Api { host };
    let run = unique();
    let owner = format!("olivia.{run}@example.com");
    api.register(&owner, "Olivia").await;
    let home = "198.51.100.20";
    let r = login_from(host, home, &owner, PASSWORD).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let attacker = "203.0.113.5";
    for i in 1..=5 {
        let r = login_from(host, attacker, &owner, WRONG_PASSWORD).await;
        assert_eq!(r.status, 401, "failure {i}: {:?}", r.body);
    }
    let locked = login_from(host, attacker, &owner, PASSWORD).await;
    let wait = retry_after(&locked);
    assert!((1..=1800).contains(&wait), "{wait}");
    let r = login_from(host, home, &owner, PASSWORD).await;
    assert_eq!(r.status, 200, "the owner at home: {:?}", r.body);

    // More failures from other addresses, each waiting out the account's
    // delay, which doubles with every failure.
    for from in ["203.0.113.6", "203.0.113.7", "203.0.113.8"] {
        let mut tries = 0;
        loop {
            tries += 1;
            assert!(tries <= 10, "{from} never got to try");
            let r = login_from(host, from, &owner, WRONG_PASSWORD).await;
            match r.status {
                401 => break,
                429 => {
                    let wait = retry_after(&r);
                    assert!((1..=60).contains(&wait), "{wait}");
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                other => panic!("{from}: {other} {:?}", r.body),
            }
        }
    }
    // Eight failures: an address the account does not know waits 8 s after
    // the latest, even with the right password...
    let stranger = login_from(host, "192.0.2.99", &owner, PASSWORD).await;
    let wait = retry_after(&stranger);
    assert!((1..=60).contains(&wait), "{wait}");
    // ...while the owner at home is never delayed.
    let r = login_from(host, home, &owner, PASSWORD).await;
    assert_eq!(r.status, 200, "the owner at home: {:?}", r.body);

    // IPv6 clients are counted by their /64: five failures from five
    // addresses of one /64 (on five accounts, so no account is delayed)
    // lock the sixth address of that /64, not the next /64.
    for i in 1..=5 {
        let r = login_from(
            host,
            &format!("2001:db8:bb:1::{i}"),
            &format!("nobody{i}.{run}@example.com"),
            WRONG_PASSWORD,
        )
        .await;
        assert_eq!(r.status, 401, "failure {i}: {:?}", r.body);
    }
    let same_64 = login_from(
        host,
        "2001:db8:bb:1:ffff::99",
        &format!("nobody6.{run}@example.com"),
        WRONG_PASSWORD,
    )
    .await;
    retry_after(&same_64);
    let next_64 = login_from(
        host,
        "2001:db8:bb:2::1",
        &format!("nobody7.{run}@example.com"),
        WRONG_PASSWORD,
    )
    .await;
    assert_eq!(next_64.status, 401, "{:?}", next_64.body);
    // An account knows the /64 it signed in from, not just the address.
    let owner6 = format!("olga.{run}@example.com");
    api.register(&owner6, "Olga").await;
    let r = login_from(host, "2001:db8:aa:1::1", &owner6, PASSWORD).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    for i in 1..=5 {
        let r = login_from(host, "203.0.113.50", &owner6, WRONG_PASSWORD).await;
        assert_eq!(r.status, 401, "failure {i}: {:?}", r.body);
    }
    let r = login_from(host, "2001:db8:aa:1:1234::77", &owner6, PASSWORD).await;
    assert_eq!(
        r.status, 200,
        "another address of the owner's /64: {:?}",
        r.body
    );
}

/// The reset token is sealed to the delivery service's key: it opens with
/// that key and resets the password, and is in clear in no event and no log.
async fn reset_tokens_are_sealed(host: &Host) {
    let api = Api { host };
    let run = unique();
    let email = format!("rita.{run}@example.com");
    let id = api.register(&email, "Rita").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .post("/api/v1/auth/password-reset", None, json!({"email": email}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let data = reset_requested_data(host, &id).await;
    assert!(data.get("resetToken").is_none(), "{data}");
    let token = open_reset_token(data["resetTokenSealed"].as_str().expect("a sealed token"));
    let nowhere = |when: &str| {
        assert!(
            !host.logs().iter().any(|l| l.contains(&token)),
            "{when}: the token is in the host's log"
        );
        assert!(
            !host.stderr().iter().any(|l| l.contains(&token)),
            "{when}: the token is on the host's stderr"
        );
    };
    let received = get_json(host, "/ev/received").await.to_string();
    assert!(
        !received.contains(&token),
        "the token is in clear in an event"
    );
    nowhere("after the request");
    let new_password = "a sealed and quiet river 46";
    let confirm = api
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": token, "newPassword": new_password}),
        )
        .await;
    assert_eq!(confirm.status, 204, "{:?}", confirm.body);
    api.login(&email, new_password).await;
    // Log lines are written after the answers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    nowhere("after the confirmation");
}

/// Without `reset_delivery_public_key` the event carries no token at all.
async fn reset_tokens_without_a_delivery_key(host: &Host) {
    let api = Api { host };
    let run = unique();
    let email = format!("ruth.{run}@example.com");
    let id = api.register(&email, "Ruth").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .post("/api/v1/auth/password-reset", None, json!({"email": email}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let data = reset_requested_data(host, &id).await;
    let mut fields: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["email", "expiresAt", "firstName", "userId"],
        "{data}"
    );
}

/// A taken email answers exactly as a new one; its owner is told.
async fn registration_tells_nothing(host: &Host) {
    let api = Api { host };
    let run = unique();
    let email = format!("nora.{run}@example.com");
    let first_password = "the first quiet river 47";
    let register = |email: String, password: &'static str| {
        api.post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": password, "firstName": "Nora", "lastName": "Tester"}),
        )
    };
    let new = register(email.clone(), first_password).await;
    let taken = register(email.clone(), "the second quiet river 48").await;
    let taken_upper = register(email.to_uppercase(), "the third quiet river 49").await;
    assert_eq!(new.status, 202, "{:?}", new.body);
    for r in [&taken, &taken_upper] {
        assert_eq!((r.status, &r.body), (new.status, &new.body));
        assert_eq!(r.headers.get("location"), new.headers.get("location"));
        assert_eq!(r.headers["content-type"], new.headers["content-type"]);
    }
    // The account is the first one, with its password.
    let (access, _) = api.login(&email, first_password).await;
    let r = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": "the second quiet river 48"}),
        )
        .await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    let me = api.get("/api/v1/users/me", Some(&access)).await;
    let id = me.body["id"].as_str().unwrap().to_string();
    let events = events_about(
        host,
        &id,
        &[
            "folio.users.UserCreated",
            "folio.users.RegistrationAttempted",
        ],
    )
    .await;
    let attempts: Vec<Value> = events
        .iter()
        .filter(|e| e[2] == "folio.users.RegistrationAttempted")
        .map(|e| serde_json::from_str(e[3].as_str().unwrap()).unwrap())
        .collect();
    assert!(!attempts.is_empty());
    for data in &attempts {
        assert_eq!(data["userId"], json!(id), "{data}");
        assert_eq!(data["email"], json!(email), "{data}");
        assert!(data["at"].is_string(), "{data}");
        assert!(!data.to_string().contains("quiet river"), "{data}");
    }
    let created = events
        .iter()
        .filter(|e| e[2] == "folio.users.UserCreated")
        .count();
    assert_eq!(created, 1);
    // Invalid fields are still named.
    let weak = api
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": "short", "firstName": "N", "lastName": "T"}),
        )
        .await;
    assert_eq!(
        (weak.status, weak.body["errors"][0]["field"].clone()),
        (422, json!("password"))
    );
}

/// Turning MFA off and changing the password check a code or the current
/// password: a stolen access token must not make either a guessing oracle.
async fn signed_in_guessing(host: &Host) {
    let api = Api { host };
    let run = unique();
    let (email, secret, access) = user_with_mfa(&api, "gina", &run).await;
    let wrong = wrong_code(&secret);
    for i in 1..=5 {
        let r = api
            .call(
                "DELETE",
                "/api/v1/users/me/mfa",
                Some(&access),
                Some(json!({"code": wrong})),
            )
            .await;
        assert_eq!(
            (r.status, r.body["errors"][0]["field"].clone()),
            (422, json!("code")),
            "wrong code {i}: {:?}",
            r.body
        );
    }
    let locked = api
        .call(
            "DELETE",
            "/api/v1/users/me/mfa",
            Some(&access),
            Some(json!({"code": wrong})),
        )
        .await;
    retry_after(&locked);
    let right = api
        .call(
            "DELETE",
            "/api/v1/users/me/mfa",
            Some(&access),
            Some(json!({"code": code_at(&secret, now() + 30)})),
        )
        .await;
    retry_after(&right);
    // The same counter guards the second step of a sign-in.
    let token = mfa_token(&api, &email).await;
    let r = api
        .post(
            "/api/v1/auth/mfa",
            None,
            json!({"mfaToken": token, "code": code_at(&secret, now() + 30)}),
        )
        .await;
    retry_after(&r);

    let email = format!("paul.{run}@example.com");
    api.register(&email, "Paul").await;
    let (access, _) = api.login(&email, PASSWORD).await;
    let change = |current: &'static str| {
        api.post(
            "/api/v1/users/me/password",
            Some(&access),
            json!({"currentPassword": current, "newPassword": "a changed quiet river 50"}),
        )
    };
    for i in 1..=5 {
        let r = change(WRONG_PASSWORD).await;
        assert_eq!(
            (r.status, r.body["errors"][0]["field"].clone()),
            (422, json!("currentPassword")),
            "wrong password {i}: {:?}",
            r.body
        );
    }
    retry_after(&change(WRONG_PASSWORD).await);
    retry_after(&change(PASSWORD).await);
}

async fn abuse_cases(host: &Host) {
    registration_tells_nothing(host).await;
    reset_tokens_are_sealed(host).await;
    mfa_guessing_across_sign_ins(host).await;
    concurrent_guesses_on_one_challenge(host).await;
    signed_in_guessing(host).await;
    nobody_else_can_lock_the_owner_out(host).await;
}

#[tokio::test]
async fn embedded() {
    let (key_var, key) = reset_delivery_env();
    let (host, _dir) =
        start_with_runtime_config("users-abuse", None, &[(key_var, &key)], TRUSTED_PROXIES).await;
    abuse_cases(&host).await;
    drop(host);
    let (host, _dir) = start("users-abuse-no-key", None, &[]).await;
    reset_tokens_without_a_delivery_key(&host).await;
}

#[tokio::test]
async fn postgres_redis_kafka() {
    let b = backends();
    let (key_var, key) = reset_delivery_env();
    let (host, _dir) =
        start_with_runtime_config("users-abuse", Some(&b), &[(key_var, &key)], TRUSTED_PROXIES)
            .await;
    abuse_cases(&host).await;
}
