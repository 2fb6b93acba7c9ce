//! The users service, black-box through the host: on SQLite with the embedded
//! log and key-value store, and on Postgres + Redis + Kafka.

use folio_auth::jwt::{Claims, SigningKey};
use folio_auth::totp;
use folio_tests::services::{
    Api, PASSWORD, backends, events_about, now, open_reset_token, reset_delivery_env,
    reset_requested_data, start, tokens, unique,
};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, client, users_manifest};
use serde_json::{Value, json};

fn code_at(secret_b32: &str, unix: u64) -> String {
    let secret = totp::base32_decode(secret_b32).unwrap();
    totp::format_code(totp::totp_at(&secret, unix, 30, 6), 6)
}

async fn refresh_with(api: &Api<'_>, token: &str) -> folio_tests::services::Reply {
    api.post(
        "/api/v1/auth/refresh",
        None,
        json!({ "refreshToken": token }),
    )
    .await
}

/// The host's signing key, for forging tokens the service must refuse.
fn signing_key(dir: &tempfile::TempDir) -> SigningKey {
    let seed = std::fs::read_to_string(dir.path().join("data/auth/signing-key")).unwrap();
    SigningKey::from_seed_b64(seed.trim()).unwrap()
}

async fn account_flow(host: &Host, dir: &tempfile::TempDir) {
    let api = Api { host };
    let run = unique();
    let alice_email = format!("alice.{run}@example.com");

    // Registration and its validation.
    let alice = api.register(&alice_email, "Alice").await;
    assert_eq!(alice["role"], "consumer");
    assert_eq!(alice["status"], "active");
    assert!(alice.get("passwordHash").is_none() && !alice.to_string().contains("argon2"));
    let alice_id = alice["id"].as_str().unwrap().to_string();
    let again = api
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": alice_email.to_uppercase(), "password": PASSWORD, "firstName": "A", "lastName": "B"}),
        )
        .await;
    // A taken email answers like a new one (no account enumeration).
    assert_eq!(again.status, 202, "{:?}", again.body);
    assert!(again.body["message"].is_string(), "{:?}", again.body);
    for (password, why) in [
        ("short pass", "short"),
        ("passwordpassword", "common"),
        ("Password12345!", "common"),
    ] {
        let r = api
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": format!("weak.{run}@example.com"), "password": password, "firstName": "W", "lastName": "K"}),
            )
            .await;
        assert_eq!(r.status, 422, "{why}: {:?}", r.body);
        assert_eq!(r.body["errors"][0]["field"], "password", "{:?}", r.body);
        assert_eq!(r.headers["content-type"], "application/problem+json");
    }
    let missing = api
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "x@example.com", "password": PASSWORD, "lastName": "B"}),
        )
        .await;
    assert_eq!(
        (missing.status, missing.body["errors"][0]["field"].clone()),
        (422, json!("firstName"))
    );

    // Sign-in, profile, preferences.
    let (access, refresh) = api.login(&alice_email, PASSWORD).await;
    let me = api.get("/api/v1/users/me", Some(&access)).await;
    assert_eq!(
        (me.status, me.body["email"].clone()),
        (200, json!(alice_email))
    );
    let prefs = api
        .call(
            "PUT",
            "/api/v1/users/me/preferences",
            Some(&access),
            Some(json!({"language": "pt-BR", "timezone": "Europe/Lisbon", "emailNotifications": false, "pushNotifications": true})),
        )
        .await;
    assert_eq!(prefs.status, 200, "{:?}", prefs.body);
    let bad_prefs = api
        .call(
            "PUT",
            "/api/v1/users/me/preferences",
            Some(&access),
            Some(json!({"language": "pt-BR", "timezone": "not a zone", "emailNotifications": false, "pushNotifications": true})),
        )
        .await;
    assert_eq!(
        (
            bad_prefs.status,
            bad_prefs.body["errors"][0]["field"].clone()
        ),
        (422, json!("timezone"))
    );
    let renamed = api
        .call(
            "PATCH",
            "/api/v1/users/me",
            Some(&access),
            Some(json!({"firstName": "Alicia"})),
        )
        .await;
    assert_eq!(
        (renamed.status, renamed.body["firstName"].clone()),
        (200, json!("Alicia"))
    );
    assert_eq!(renamed.body["preferences"]["timezone"], "Europe/Lisbon");

    // Refresh rotation and reuse detection.
    let r = refresh_with(&api, &refresh).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (_, refresh2) = tokens(&r);
    assert_ne!(refresh2, refresh);
    let reuse = refresh_with(&api, &refresh).await;
    assert_eq!(reuse.status, 401, "{:?}", reuse.body);
    let family = refresh_with(&api, &refresh2).await;
    assert_eq!(
        family.status, 401,
        "a reused token revokes its whole family: {:?}",
        family.body
    );
    let forged = refresh_with(&api, &format!("{}x", &refresh2[..refresh2.len() - 1])).await;
    assert_eq!(forged.status, 401);

    // Logout ends the session.
    let (_, refresh) = api.login(&alice_email, PASSWORD).await;
    let out = api
        .post(
            "/api/v1/auth/logout",
            None,
            json!({"refreshToken": refresh}),
        )
        .await;
    assert_eq!(out.status, 204, "{:?}", out.body);
    let after = refresh_with(&api, &refresh).await;
    assert_eq!(after.status, 401);

    // TOTP enrolment.
    let (access, _) = api.login(&alice_email, PASSWORD).await;
    let enrol = api
        .post("/api/v1/users/me/mfa/totp", Some(&access), json!({}))
        .await;
    assert_eq!(enrol.status, 200, "{:?}", enrol.body);
    let secret = enrol.body["secret"].as_str().unwrap().to_string();
    assert!(
        enrol.body["otpauthUri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let wrong = api
        .post(
            "/api/v1/users/me/mfa/totp/verify",
            Some(&access),
            json!({"code": "000000"}),
        )
        .await;
    assert_eq!(wrong.status, 422);
    let verify = api
        .post(
            "/api/v1/users/me/mfa/totp/verify",
            Some(&access),
            json!({"code": code_at(&secret, now())}),
        )
        .await;
    assert_eq!(verify.status, 200, "{:?}", verify.body);
    let recovery: Vec<String> = verify.body["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);

    // Login now needs the second factor; a code works once.
    let challenge = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": alice_email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (challenge.status, challenge.body["mfaRequired"].clone()),
        (200, json!(true))
    );
    assert!(challenge.body.get("accessToken").is_none());
    let mfa_token = challenge.body["mfaToken"].as_str().unwrap().to_string();
    let bad = api
        .post(
            "/api/v1/auth/mfa",
            None,
            json!({"mfaToken": mfa_token, "code": "123456"}),
        )
        .await;
    assert_eq!(bad.status, 401);
    // The enrolment used the current step: the next one is still in the window.
    let next_code = code_at(&secret, now() + 30);
    let ok = api
        .post(
            "/api/v1/auth/mfa",
            None,
            json!({"mfaToken": mfa_token, "code": next_code}),
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let (access, _) = tokens(&ok);
    let challenge = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": alice_email, "password": PASSWORD}),
        )
        .await;
    let mfa_token = challenge.body["mfaToken"].as_str().unwrap().to_string();
    let replay = api
        .post(
            "/api/v1/auth/mfa",
            None,
            json!({"mfaToken": mfa_token, "code": next_code}),
        )
        .await;
    assert_eq!(
        replay.status, 401,
        "a TOTP code cannot be used twice: {:?}",
        replay.body
    );
    let by_recovery = api
        .post(
            "/api/v1/auth/mfa",
            None,
            json!({"mfaToken": mfa_token, "recoveryCode": recovery[0]}),
        )
        .await;
    assert_eq!(by_recovery.status, 200, "{:?}", by_recovery.body);
    let challenge = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": alice_email, "password": PASSWORD}),
        )
        .await;
    let mfa_token = challenge.body["mfaToken"].as_str().unwrap().to_string();
    let recovery_again = api
        .post(
            "/api/v1/auth/mfa",
            None,
            json!({"mfaToken": mfa_token, "recoveryCode": recovery[0]}),
        )
        .await;
    assert_eq!(recovery_again.status, 401, "recovery codes are single use");
    let off = api
        .call(
            "DELETE",
            "/api/v1/users/me/mfa",
            Some(&access),
            Some(json!({"recoveryCode": recovery[1]})),
        )
        .await;
    assert_eq!(off.status, 204, "{:?}", off.body);

    // A password change ends the other sessions, not this one.
    let (access_a, refresh_a) = api.login(&alice_email, PASSWORD).await;
    let (_, refresh_b) = api.login(&alice_email, PASSWORD).await;
    let new_password = "an even longer quiet river 43";
    let wrong_current = api
        .post(
            "/api/v1/users/me/password",
            Some(&access_a),
            json!({"currentPassword": "nope nope nope", "newPassword": new_password}),
        )
        .await;
    assert_eq!(
        (
            wrong_current.status,
            wrong_current.body["errors"][0]["field"].clone()
        ),
        (422, json!("currentPassword"))
    );
    let changed = api
        .post(
            "/api/v1/users/me/password",
            Some(&access_a),
            json!({"currentPassword": PASSWORD, "newPassword": new_password}),
        )
        .await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    assert_eq!(refresh_with(&api, &refresh_b).await.status, 401);
    assert_eq!(refresh_with(&api, &refresh_a).await.status, 200);
    api.login(&alice_email, new_password).await;

    // Password reset, with the token taken from the event the notification
    // service gets (sealed to its key).
    let unknown = api
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({"email": format!("nobody.{run}@example.com")}),
        )
        .await;
    let known = api
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({"email": alice_email}),
        )
        .await;
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    assert_eq!(known.status, 202);
    let data = reset_requested_data(host, &alice_id).await;
    assert!(data.get("resetToken").is_none(), "{data}");
    let reset_token = &open_reset_token(data["resetTokenSealed"].as_str().unwrap());
    let weak = api
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": reset_token, "newPassword": "alice"}),
        )
        .await;
    assert_eq!(
        (weak.status, weak.body["errors"][0]["field"].clone()),
        (422, json!("newPassword"))
    );
    let reset_password = "the third quiet river 44";
    let confirm = api
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": reset_token, "newPassword": reset_password}),
        )
        .await;
    assert_eq!(confirm.status, 204, "{:?}", confirm.body);
    let twice = api
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": reset_token, "newPassword": "yet another quiet river 45"}),
        )
        .await;
    assert_eq!(
        (twice.status, twice.body["errors"][0]["field"].clone()),
        (422, json!("token"))
    );
    assert_eq!(refresh_with(&api, &refresh_a).await.status, 401);
    let (access, _) = api.login(&alice_email, reset_password).await;

    // No user enumeration: an unknown email and a wrong password answer alike.
    let unknown = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": format!("nobody.{run}@example.com"), "password": PASSWORD}),
        )
        .await;
    let wrong = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": alice_email, "password": "not the password at all"}),
        )
        .await;
    assert_eq!((unknown.status, &unknown.body), (wrong.status, &wrong.body));
    assert_eq!(unknown.status, 401);

    // Roles: consumers and creators are refused admin routes, anonymous callers too.
    let bob = api.register(&format!("bob.{run}@example.com"), "Bob").await;
    let bob_id = bob["id"].as_str().unwrap().to_string();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let promoted = api
        .call(
            "PATCH",
            &format!("/api/v1/users/{bob_id}"),
            Some(&admin),
            Some(json!({"role": "creator"})),
        )
        .await;
    assert_eq!(
        (promoted.status, promoted.body["role"].clone()),
        (200, json!("creator"))
    );
    let (creator, bob_refresh) = api.login(&format!("bob.{run}@example.com"), PASSWORD).await;
    let admin_routes = [
        ("GET", "/api/v1/users".to_string(), None),
        ("GET", format!("/api/v1/users/{alice_id}"), None),
        (
            "PATCH",
            format!("/api/v1/users/{alice_id}"),
            Some(json!({"status": "suspended"})),
        ),
        ("DELETE", format!("/api/v1/users/{alice_id}"), None),
        ("GET", "/api/v1/service-clients".to_string(), None),
        (
            "POST",
            "/api/v1/service-clients".to_string(),
            Some(json!({"name": "x"})),
        ),
    ];
    for (method, path, body) in &admin_routes {
        for (who, token, status) in [
            ("consumer", Some(access.as_str()), 403),
            ("creator", Some(creator.as_str()), 403),
            ("anonymous", None, 401),
        ] {
            let r = api.call(method, path, token, body.clone()).await;
            assert_eq!(r.status, status, "{method} {path} as {who}: {:?}", r.body);
        }
    }
    let list = api
        .get(
            "/api/v1/users?role=creator&sort=email&limit=10",
            Some(&admin),
        )
        .await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    assert!(
        list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == json!(bob_id))
    );
    assert!(
        list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["role"] == "creator")
    );
    let by_prefix = api
        .get(&format!("/api/v1/users?email=alice.{run}"), Some(&admin))
        .await;
    assert_eq!(
        by_prefix.body["pagination"]["total"], 1,
        "{:?}",
        by_prefix.body
    );
    let bad_sort = api
        .get("/api/v1/users?sort=password_hash", Some(&admin))
        .await;
    assert_eq!(
        (bad_sort.status, bad_sort.body["errors"][0]["field"].clone()),
        (422, json!("sort"))
    );

    // Suspension: refresh tokens stop at once, sign-in is refused.
    let suspended = api
        .call(
            "PATCH",
            &format!("/api/v1/users/{bob_id}"),
            Some(&admin),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(suspended.status, 200, "{:?}", suspended.body);
    assert_eq!(refresh_with(&api, &bob_refresh).await.status, 401);
    assert_eq!(
        api.get("/api/v1/users/me", Some(&creator)).await.status,
        403
    );
    let bob_login = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": format!("bob.{run}@example.com"), "password": PASSWORD}),
        )
        .await;
    assert_eq!(bob_login.status, 403);

    // Service clients and the client-credentials grant.
    let registered = api
        .post(
            "/api/v1/service-clients",
            Some(&admin),
            json!({"name": "search indexer", "scopes": ["content:read"]}),
        )
        .await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    let client_id = registered.body["clientId"].as_str().unwrap();
    let client_secret = registered.body["clientSecret"].as_str().unwrap();
    let granted = client()
        .post(host.url("/api/v1/auth/token"))
        .basic_auth(client_id, Some(client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200);
    let granted: Value = granted.json().await.unwrap();
    assert_eq!(
        (granted["token_type"].clone(), granted["scope"].clone()),
        (json!("Bearer"), json!("content:read"))
    );
    let jwks: Value = folio_tests::get_json(host, "/.well-known/jwks.json").await;
    let verifier =
        folio_auth::jwt::Verifier::from_jwks(&jwks.to_string(), "http://folio.test", "folio")
            .unwrap();
    let service = verifier
        .verify(granted["access_token"].as_str().unwrap(), now() as i64)
        .unwrap();
    assert_eq!(
        (service.role.as_str(), service.sub.as_str()),
        ("service", client_id)
    );
    let refused = client()
        .post(host.url("/api/v1/auth/token"))
        .basic_auth(client_id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let discovery = folio_tests::get_json(host, "/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], "http://folio.test");
    assert_eq!(
        discovery["jwks_uri"],
        "http://folio.test/.well-known/jwks.json"
    );

    // Every class of bad token is refused.
    bad_tokens_refused(&api, dir, &access, &alice_id).await;

    // Deletion removes the personal data and tells the other services.
    let deleted = api
        .call(
            "DELETE",
            &format!("/api/v1/users/{bob_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    assert_eq!(
        api.get(&format!("/api/v1/users/{bob_id}"), Some(&admin))
            .await
            .status,
        404
    );
    let events = events_about(
        host,
        &bob_id,
        &[
            "folio.users.UserCreated",
            "folio.users.UserUpdated",
            "folio.users.UserAuthenticated",
            "folio.users.UserDeleted",
        ],
    )
    .await;
    let deleted_event = events
        .iter()
        .find(|e| e[2] == "folio.users.UserDeleted")
        .unwrap();
    assert!(
        !deleted_event[3].as_str().unwrap().contains("bob."),
        "UserDeleted carries no personal data"
    );
    events_about(
        host,
        &alice_id,
        &[
            "folio.users.UserCreated",
            "folio.users.UserUpdated",
            "folio.users.UserAuthenticated",
        ],
    )
    .await;
}

async fn bad_tokens_refused(api: &Api<'_>, dir: &tempfile::TempDir, valid: &str, user_id: &str) {
    use base64::Engine;
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let key = signing_key(dir);
    let t = now() as i64;
    let claims = |f: &dyn Fn(&mut Claims)| {
        let mut c = Claims {
            iss: "http://folio.test".into(),
            sub: user_id.into(),
            aud: "folio".into(),
            exp: t + 600,
            iat: t,
            nbf: t,
            jti: "j".into(),
            role: "admin".into(),
            sid: None,
            scope: None,
            client_id: None,
        };
        f(&mut c);
        c
    };
    assert_eq!(api.get("/api/v1/users/me", Some(valid)).await.status, 200);
    let forged_ok = key.sign(&claims(&|_| {}));
    assert_eq!(
        api.get("/api/v1/users/me", Some(&forged_ok)).await.status,
        200,
        "control: a well-made token passes"
    );
    let payload = b64(serde_json::to_string(&claims(&|_| {})).unwrap().as_bytes());
    let hs256 = {
        use hmac::{Hmac, Mac};
        let header =
            b64(format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#, key.kid()).as_bytes());
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(key.public_key().x().as_bytes()).unwrap();
        mac.update(format!("{header}.{payload}").as_bytes());
        format!("{header}.{payload}.{}", b64(&mac.finalize().into_bytes()))
    };
    let mut tampered = forged_ok.split('.').map(str::to_string).collect::<Vec<_>>();
    tampered[1] = b64(
        serde_json::to_string(&claims(&|c| c.sub = "someone-else".into()))
            .unwrap()
            .as_bytes(),
    );
    let other_key = SigningKey::from_seed(&[7u8; 32]);
    let cases = [
        (
            "alg none",
            format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#)),
        ),
        ("HS256 keyed with the public key", hs256),
        (
            "expired",
            key.sign(&claims(&|c| {
                c.exp = t - 120;
                c.iat = t - 1000;
                c.nbf = t - 1000;
            })),
        ),
        (
            "not yet valid",
            key.sign(&claims(&|c| {
                c.nbf = t + 600;
                c.exp = t + 1200;
            })),
        ),
        (
            "wrong issuer",
            key.sign(&claims(&|c| c.iss = "https://evil.example".into())),
        ),
        (
            "wrong audience",
            key.sign(&claims(&|c| c.aud = "another-app".into())),
        ),
        ("tampered payload", tampered.join(".")),
        ("another key", other_key.sign(&claims(&|_| {}))),
        ("garbage", "not.a.token".to_string()),
    ];
    for (what, token) in cases {
        let r = api.get("/api/v1/users/me", Some(&token)).await;
        assert_eq!(r.status, 401, "{what}: {:?}", r.body);
        assert!(r.headers.contains_key("www-authenticate"), "{what}");
    }
}

/// Five failures in the window lock the account for this address (even with
/// the right password afterwards) and, separately, the client address.
async fn throttling(host: &Host) {
    let api = Api { host };
    let run = unique();
    let carol = format!("carol.{run}@example.com");
    api.register(&carol, "Carol").await;
    let dave = format!("dave.{run}@example.com");
    api.register(&dave, "Dave").await;
    for _ in 0..5 {
        let r = api
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": carol, "password": "wrong wrong wrong"}),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let locked = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": carol, "password": PASSWORD}),
        )
        .await;
    assert_eq!(locked.status, 429, "{:?}", locked.body);
    let retry_after: i64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Failures count in 15-minute windows, the current and the previous one.
    assert!((1..=1800).contains(&retry_after), "{retry_after}");
    // The address has had five failures too: other accounts are refused from it.
    let from_address = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": dave, "password": PASSWORD}),
        )
        .await;
    assert_eq!(from_address.status, 429, "{:?}", from_address.body);
}

#[tokio::test]
async fn embedded() {
    let (key_var, key) = reset_delivery_env();
    let (host, dir) = start(
        "users-flow",
        None,
        &[
            ("FOLIO_VAR_LOGIN_MAX_FAILURES_PER_ADDRESS", "100"),
            (key_var, &key),
        ],
    )
    .await;
    account_flow(&host, &dir).await;
    let (host, _dir) = start("users-throttle", None, &[]).await;
    throttling(&host).await;
}

#[tokio::test]
async fn postgres_redis_kafka() {
    let b = backends();
    let (key_var, key) = reset_delivery_env();
    let (host, dir) = start(
        "users-flow",
        Some(&b),
        &[
            ("FOLIO_VAR_LOGIN_MAX_FAILURES_PER_ADDRESS", "100"),
            (key_var, &key),
        ],
    )
    .await;
    account_flow(&host, &dir).await;
    let (host, _dir) = start("users-throttle", Some(&b), &[]).await;
    throttling(&host).await;
}

#[tokio::test]
async fn the_signing_key_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let options = || folio_tests::HostOptions {
        data_dir: Some(dir.path().join("data")),
        ..Default::default()
    };
    let manifest = users_manifest("users-restart", "users-restart");
    let host = Host::start_with(&manifest, options());
    let api = Api { host: &host };
    let email = format!("erin.{}@example.com", unique());
    api.register(&email, "Erin").await;
    let (access, refresh) = api.login(&email, PASSWORD).await;
    drop(host);
    let host = Host::start_with(&manifest, options());
    let api = Api { host: &host };
    assert_eq!(api.get("/api/v1/users/me", Some(&access)).await.status, 200);
    assert_eq!(refresh_with(&api, &refresh).await.status, 200);
}

/// In production the keys come from the environment (`folio auth-keys` makes
/// a pair): the host then generates nothing and serves exactly those keys.
#[tokio::test]
async fn keys_from_the_environment() {
    let output = std::process::Command::new(folio_tests::folio_bin())
        .arg("auth-keys")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let env: Vec<(String, String)> = text
        .lines()
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap();
            (name.to_string(), value.trim_matches('\'').to_string())
        })
        .collect();
    let configured_jwks: Value = serde_json::from_str(&env[1].1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start_with(
        &users_manifest("users-configured", "users-configured"),
        folio_tests::HostOptions {
            env,
            data_dir: Some(dir.path().join("data")),
            ..Default::default()
        },
    );
    let served = folio_tests::get_json(&host, "/.well-known/jwks.json").await;
    assert_eq!(served, configured_jwks);
    assert!(!dir.path().join("data/auth/signing-key").exists());
    let api = Api { host: &host };
    let email = format!("frank.{}@example.com", unique());
    api.register(&email, "Frank").await;
    let (access, _) = api.login(&email, PASSWORD).await;
    let verifier =
        folio_auth::jwt::Verifier::from_jwks(&served.to_string(), "http://folio.test", "folio")
            .unwrap();
    assert!(verifier.verify(&access, now() as i64).is_ok());
}
