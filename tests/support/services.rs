//! What the service tests share: a JSON API client, hosts on embedded or
//! real backends, and the events a fixture worker recorded.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::{Host, client, drop_schemas, graphql_manifest, services_manifest};

pub const PASSWORD: &str = "a long and quiet river 42";

pub struct Api<'a> {
    pub host: &'a Host,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Api<'_> {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = client().request(method.parse().unwrap(), self.host.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
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

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call("POST", path, token, Some(body)).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call("GET", path, token, None).await
    }

    /// Registers a new account and returns it as `GET /users/me` shows it.
    /// Registration answers 202 whether or not the email was taken, so the
    /// account is read back by signing in (from this test's own address).
    pub async fn register(&self, email: &str, first: &str) -> Value {
        let r = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": email, "password": PASSWORD, "firstName": first, "lastName": "Tester"}),
            )
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        let (access, _) = self.login(email, PASSWORD).await;
        let me = self.get("/api/v1/users/me", Some(&access)).await;
        assert_eq!(me.status, 200, "{:?}", me.body);
        assert_eq!(
            me.body["email"],
            json!(email.to_lowercase()),
            "{:?}",
            me.body
        );
        me.body
    }

    /// Registers `name.run@example.com`, gives it `role` (with `admin`'s
    /// token) unless that is `consumer`, signs in; returns (access token, user id).
    pub async fn user_with_role(
        &self,
        admin: &str,
        name: &str,
        role: &str,
        run: &str,
    ) -> (String, String) {
        let email = format!("{name}.{run}@example.com");
        let created = self.register(&email, name).await;
        let id = created["id"].as_str().unwrap().to_string();
        if role != "consumer" {
            let r = self
                .call(
                    "PATCH",
                    &format!("/api/v1/users/{id}"),
                    Some(admin),
                    Some(json!({"role": role})),
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        (self.login(&email, PASSWORD).await.0, id)
    }

    /// Signs in without MFA; returns (access token, refresh token).
    pub async fn login(&self, email: &str, password: &str) -> (String, String) {
        let r = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(r.status, 200, "login {email}: {:?}", r.body);
        tokens(&r)
    }
}

pub fn tokens(r: &Reply) -> (String, String) {
    (
        r.body["accessToken"]
            .as_str()
            .expect("an access token")
            .to_string(),
        r.body["refreshToken"]
            .as_str()
            .expect("a refresh token")
            .to_string(),
    )
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn unique() -> String {
    format!(
        "{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// A host on SQLite, or on Postgres + Redis + Kafka when `backends` is given.
pub async fn start(
    id: &str,
    backends: Option<&Backends>,
    extra_env: &[(&str, &str)],
) -> (Host, tempfile::TempDir) {
    start_services(id, backends, extra_env, false).await
}

/// `start`, with the content service too when `content`.
pub async fn start_services(
    id: &str,
    backends: Option<&Backends>,
    extra_env: &[(&str, &str)],
    content: bool,
) -> (Host, tempfile::TempDir) {
    start_services_with(id, backends, extra_env, content, None).await
}

/// `start`, with `runtime_config` (TOML tables) added to the host's runtime
/// config file, e.g. `[http]` for the proxies it trusts.
pub async fn start_with_runtime_config(
    id: &str,
    backends: Option<&Backends>,
    extra_env: &[(&str, &str)],
    runtime_config: &str,
) -> (Host, tempfile::TempDir) {
    start_services_with(id, backends, extra_env, false, Some(runtime_config)).await
}

async fn start_services_with(
    id: &str,
    backends: Option<&Backends>,
    extra_env: &[(&str, &str)],
    content: bool,
    extra_config: Option<&str>,
) -> (Host, tempfile::TempDir) {
    let backend_config = backends.map(Backends::runtime_config);
    let config = match (backend_config, extra_config) {
        (None, None) => None,
        (backend, extra) => Some(format!(
            "{}\n{}\n",
            backend.unwrap_or_default(),
            extra.unwrap_or_default()
        )),
    };
    if let Some(b) = backends {
        b.reset(&[
            id.to_string(),
            format!("{id}-events"),
            format!("{id}-content"),
        ])
        .await;
    }
    let manifest = services_manifest(id, &format!("{id}-{}", unique()), content);
    let dir = tempfile::tempdir().unwrap();
    let mut args = Vec::new();
    if let Some(config) = config {
        let path = dir.path().join("runtime.toml");
        std::fs::write(&path, config).unwrap();
        args = vec!["--runtime-config".into(), path.display().to_string()];
    }
    let host = Host::start_with(
        &manifest,
        crate::HostOptions {
            args,
            env: extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            data_dir: Some(dir.path().join("data")),
        },
    );
    (host, dir)
}

/// A host on SQLite and embedded stores with the users, content, media and
/// GraphQL components (see [`graphql_manifest`]).
pub fn start_graphql(id: &str) -> (Host, tempfile::TempDir) {
    let manifest = graphql_manifest(id, &format!("{id}-{}", unique()));
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start_with(
        &manifest,
        crate::HostOptions {
            args: Vec::new(),
            env: Vec::new(),
            data_dir: Some(dir.path().join("data")),
        },
    );
    (host, dir)
}

/// The secret key of the service that delivers password-reset links, in
/// tests: the users service seals reset tokens to its public key.
pub const RESET_DELIVERY_SECRET: [u8; 32] = [0x5a; 32];

/// `FOLIO_VAR_RESET_DELIVERY_PUBLIC_KEY` for [`RESET_DELIVERY_SECRET`].
pub fn reset_delivery_env() -> (&'static str, String) {
    use base64::Engine;
    let public = folio_auth::sealed::public_key(&RESET_DELIVERY_SECRET);
    (
        "FOLIO_VAR_RESET_DELIVERY_PUBLIC_KEY",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public),
    )
}

/// The data of the `PasswordResetRequested` event about `user_id`, once the
/// fixture worker has recorded it.
pub async fn reset_requested_data(host: &Host, user_id: &str) -> Value {
    let wanted = "folio.users.PasswordResetRequested";
    let events = events_about(host, user_id, &[wanted]).await;
    let event = events.iter().find(|e| e[2] == wanted).unwrap();
    serde_json::from_str(event[3].as_str().unwrap()).unwrap()
}

/// The reset token in `resetTokenSealed` of a `PasswordResetRequested` event.
pub fn open_reset_token(sealed_b64: &str) -> String {
    use base64::Engine;
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sealed_b64)
        .expect("resetTokenSealed is base64url");
    let token = folio_auth::sealed::open(
        &RESET_DELIVERY_SECRET,
        &sealed,
        folio_auth::sealed::RESET_TOKEN_INFO,
    )
    .expect("the reset token opens with the delivery key");
    String::from_utf8(token).unwrap()
}

pub struct Backends {
    pub postgres: String,
    pub redis: String,
    pub kafka: String,
}

impl Backends {
    /// Runtime-config tables binding the `default` database and key-value
    /// store to Postgres and Redis, and the event log to Kafka.
    pub fn runtime_config(&self) -> String {
        format!(
            "[sqlite_database.default]\ntype = \"postgres\"\nurl = \"{}\"\n\n\
             [key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n\n\
             [event_log]\ntype = \"kafka\"\nbrokers = \"{}\"\n",
            self.postgres, self.redis, self.kafka
        )
    }

    /// Only the `default` database on Postgres; the event log stays the
    /// host's embedded one, which no other test's events reach (Kafka's
    /// topics are shared by every run).
    pub fn postgres_config(&self) -> String {
        format!(
            "[sqlite_database.default]\ntype = \"postgres\"\nurl = \"{}\"\n",
            self.postgres
        )
    }

    /// Drops the Postgres schemas and Redis keys of `components`, so that a
    /// run starts empty.
    pub async fn reset(&self, components: &[String]) {
        let schemas: Vec<String> = components
            .iter()
            .map(|c| format!("folio_{}", c.replace('-', "_")))
            .collect();
        let schemas: Vec<&str> = schemas.iter().map(String::as_str).collect();
        drop_schemas(&self.postgres, &schemas).await;
        for component in components {
            clear_redis(&self.redis, component).await;
        }
    }
}

pub fn backends() -> Backends {
    let var = |name: &str, script: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run `bash infra/{script}.sh` and export it")
        })
    };
    Backends {
        postgres: var("FOLIO_TEST_POSTGRES_URL", "postgres"),
        redis: var("FOLIO_TEST_REDIS_URL", "redis"),
        kafka: var("FOLIO_TEST_KAFKA_BROKERS", "kafka"),
    }
}

pub async fn clear_redis(url: &str, component: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("folio:{component}:*"))
        .query_async(&mut c)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut c)
            .await
            .unwrap();
    }
}

/// Events the fixture worker recorded whose data mentions `subject`, once
/// every type in `wanted` (e.g. `folio.users.UserCreated`) is among them.
pub async fn events_about(host: &Host, subject: &str, wanted: &[&str]) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let received = crate::get_json(host, "/ev/received").await;
        let events: Vec<Value> = received["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row[3].as_str().is_some_and(|d| d.contains(subject)))
            .cloned()
            .collect();
        let types: Vec<&str> = events.iter().filter_map(|e| e[2].as_str()).collect();
        if wanted.iter().all(|w| types.contains(w)) {
            return events;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "events about {subject}: wanted {wanted:?}, got {types:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
