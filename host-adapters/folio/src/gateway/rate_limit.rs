//! Rate limits, checked by the host before a request reaches its component.
//!
//! Each policy is a GCRA (a token bucket in one number per key: the
//! "theoretical arrival time"): `limit` requests per `window_secs`, all of
//! them usable in a burst, refilled evenly. Policies are declared per
//! component in spin.toml (`[[component.NAME.tool.folio.rate_limits]]`) and
//! may be added to or replaced by the runtime config
//! (`[[rate_limits.rules]]` with `component = "NAME"`). Counters live in
//! this process, or in Redis (`[rate_limits] store = "redis"`) so every
//! host of a cluster shares them; when Redis does not answer, the host
//! falls back to its own counters rather than letting everything through.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::Deserialize;

use crate::routing::RoutePattern;

/// One policy as written in spin.toml or the runtime config.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRule {
    /// Shown to clients in `RateLimit-Policy`; unique within a component.
    pub name: String,
    /// Route patterns in Spin's syntax (`/api/v1/auth/login`, `/api/v1/...`).
    pub routes: Vec<String>,
    /// Methods it counts (all when empty).
    #[serde(default)]
    pub methods: Vec<String>,
    /// What one counter is kept for.
    pub key: LimitKey,
    pub limit: u32,
    pub window_secs: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LimitKey {
    /// The client's address (IPv6 by /64), after trusted proxies.
    Address,
    /// The authenticated subject (a verified bearer token's `sub`); the
    /// address for anonymous callers.
    Subject,
    /// The API client (a verified token's `client_id`); the address otherwise.
    Client,
    /// Every caller of the route together.
    Route,
}

impl LimitKey {
    fn describe(self) -> &'static str {
        match self {
            LimitKey::Address => "client address",
            LimitKey::Subject => "user",
            LimitKey::Client => "API client",
            LimitKey::Route => "route, for all callers together",
        }
    }
}

/// `[rate_limits]` in the runtime config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// `memory` (default) or `redis`.
    pub store: Option<String>,
    /// The Redis URL when `store = "redis"`.
    pub url: Option<String>,
    /// Client addresses or networks no policy applies to (monitoring, batch jobs).
    #[serde(default)]
    pub exempt: Vec<String>,
    /// Policies added to (or, by name, replacing) the manifest's.
    #[serde(default)]
    pub rules: Vec<ComponentRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentRule {
    pub component: String,
    #[serde(flatten)]
    pub rule: RateLimitRule,
}

impl RateLimitRule {
    pub fn check(&self) -> anyhow::Result<()> {
        self.compile().map(|_| ())
    }

    /// The rule's routes and methods, parsed; `Err` says what is wrong with it.
    fn compile(&self) -> anyhow::Result<(Vec<RoutePattern>, Vec<http::Method>)> {
        let bad = |why: &str| anyhow::anyhow!("rate limit `{}`: {why}", self.name);
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("name must be letters, digits, `-` or `_`"));
        }
        if self.limit == 0 || self.window_secs == 0 {
            return Err(bad("limit and window_secs must be at least 1"));
        }
        if self.routes.is_empty() {
            return Err(bad("routes must name at least one route"));
        }
        let routes = self
            .routes
            .iter()
            .map(|route| {
                RoutePattern::parse(route).map_err(|e| bad(&format!("route `{route}`: {e}")))
            })
            .collect::<anyhow::Result<_>>()?;
        let methods = self
            .methods
            .iter()
            .map(|method| {
                http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                    .map_err(|_| bad(&format!("`{method}` is not an HTTP method")))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok((routes, methods))
    }
}

/// A rule ready to match and count.
pub struct Policy {
    pub rule: RateLimitRule,
    routes: Vec<RoutePattern>,
    methods: Vec<http::Method>,
    /// The time one request uses up: window / limit.
    emission: Duration,
    window: Duration,
}

impl Policy {
    fn new(rule: RateLimitRule) -> anyhow::Result<Policy> {
        let (routes, methods) = rule.compile()?;
        let window = Duration::from_secs(rule.window_secs);
        Ok(Policy {
            routes,
            methods,
            emission: window / rule.limit,
            window,
            rule,
        })
    }

    fn applies_to(&self, method: &http::Method, path: &str) -> bool {
        (self.methods.is_empty() || self.methods.contains(method))
            && self.routes.iter().any(|r| r.matches(path).is_some())
    }
}

/// Who is asking, as far as the keys go.
pub struct Caller<'a> {
    pub address_key: &'a str,
    /// A verified token's subject and client id, asked for only when a
    /// matching policy keys on them.
    pub identity: &'a (dyn Fn() -> Option<(String, Option<String>)> + Sync),
}

/// One policy's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset: Duration,
    /// Until the next request would be allowed (zero when allowed).
    pub retry_after: Duration,
}

/// Every matching policy's decision for one request.
pub struct Verdict<'a> {
    pub decisions: Vec<(&'a Policy, Decision)>,
}

impl Verdict<'_> {
    /// The first policy that refused, if any.
    pub fn refusal(&self) -> Option<(&Policy, Decision)> {
        self.decisions
            .iter()
            .find(|(_, d)| !d.allowed)
            .map(|(p, d)| (*p, *d))
    }

    /// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers):
    /// every policy that applied, and the one closest to refusing.
    pub fn headers(&self) -> Option<(String, String)> {
        let tightest = self
            .decisions
            .iter()
            .min_by_key(|(_, d)| (d.allowed, d.remaining))?;
        let policies = self
            .decisions
            .iter()
            .map(|(p, _)| {
                format!(
                    "\"{}\";q={};w={}",
                    p.rule.name, p.rule.limit, p.rule.window_secs
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let (policy, decision) = tightest;
        let current = format!(
            "\"{}\";r={};t={}",
            policy.rule.name,
            decision.remaining,
            ceil_secs(decision.reset)
        );
        Some((policies, current))
    }

    pub fn refusal_detail(&self) -> Option<(String, u64)> {
        let (policy, decision) = self.refusal()?;
        let retry = ceil_secs(decision.retry_after).max(1);
        Some((
            format!(
                "rate limit `{}`: {} requests per {} s per {}; retry in {} s",
                policy.rule.name,
                policy.rule.limit,
                policy.rule.window_secs,
                policy.rule.key.describe(),
                retry
            ),
            retry,
        ))
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}

pub struct RateLimiter {
    policies: HashMap<String, Vec<Policy>>,
    exempt: Arc<Vec<IpNet>>,
    /// The runtime config's policies, applied again to each release's manifest.
    extra_rules: Arc<Vec<ComponentRule>>,
    /// Shared by every release, so a switch does not reset anyone's count.
    store: Arc<CounterStore>,
}

impl RateLimiter {
    /// The manifest's policies per component, then the runtime config's
    /// (replacing a manifest policy of the same name).
    pub async fn new(
        manifest: &HashMap<String, Vec<RateLimitRule>>,
        config: RateLimitsConfig,
    ) -> anyhow::Result<RateLimiter> {
        let exempt = config
            .exempt
            .iter()
            .map(|e| super::client_address::parse_network(e))
            .collect::<anyhow::Result<_>>()
            .map_err(|e| anyhow::anyhow!("[rate_limits] exempt: {e}"))?;
        let store = match (config.store.as_deref(), config.url) {
            (None | Some("memory"), None) => CounterStore::Memory(MemoryCounters::default()),
            (Some("redis"), Some(url)) => CounterStore::Redis(RedisCounters::connect(&url).await?),
            (Some("redis"), None) => anyhow::bail!("[rate_limits] store = \"redis\" needs url"),
            (None | Some("memory"), Some(_)) => {
                anyhow::bail!("[rate_limits] url is only for store = \"redis\"")
            }
            (Some(other), _) => {
                anyhow::bail!("[rate_limits] store must be \"memory\" or \"redis\", not `{other}`")
            }
        };
        RateLimiter {
            policies: HashMap::new(),
            exempt: Arc::new(exempt),
            extra_rules: Arc::new(config.rules),
            store: Arc::new(store),
        }
        .for_release(manifest)
    }

    /// The policies of another release's manifest, on the same counters.
    pub fn for_release(
        &self,
        manifest: &HashMap<String, Vec<RateLimitRule>>,
    ) -> anyhow::Result<RateLimiter> {
        let mut rules: HashMap<String, Vec<RateLimitRule>> = manifest.clone();
        for extra in self.extra_rules.iter() {
            if !manifest.contains_key(&extra.component) {
                anyhow::bail!(
                    "[[rate_limits.rules]] `{}`: no component `{}` in the manifest",
                    extra.rule.name,
                    extra.component
                );
            }
            let list = rules.entry(extra.component.clone()).or_default();
            list.retain(|r| r.name != extra.rule.name);
            list.push(extra.rule.clone());
        }
        let mut policies = HashMap::new();
        for (component, rules) in rules {
            let list = rules
                .into_iter()
                .map(Policy::new)
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(|e| anyhow::anyhow!("component `{component}`: {e}"))?;
            if !list.is_empty() {
                policies.insert(component, list);
            }
        }
        Ok(RateLimiter {
            policies,
            exempt: self.exempt.clone(),
            extra_rules: self.extra_rules.clone(),
            store: self.store.clone(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Counts the request against every policy of `component` that matches
    /// it. `None` when no policy applies (or the client is exempt).
    pub async fn check(
        &self,
        component: &str,
        method: &http::Method,
        path: &str,
        client_ip: IpAddr,
        caller: &Caller<'_>,
    ) -> Option<Verdict<'_>> {
        let policies = self.policies.get(component)?;
        let matching: Vec<&Policy> = policies
            .iter()
            .filter(|p| p.applies_to(method, path))
            .collect();
        if matching.is_empty() || self.exempt.iter().any(|n| n.contains(&client_ip)) {
            return None;
        }
        let mut identity = None;
        let mut decisions = Vec::with_capacity(matching.len());
        for policy in matching {
            let key = match policy.rule.key {
                LimitKey::Address => format!("a:{}", caller.address_key),
                LimitKey::Route => "route".to_string(),
                LimitKey::Subject | LimitKey::Client => {
                    let who = identity.get_or_insert_with(|| (caller.identity)());
                    match (policy.rule.key, who) {
                        (LimitKey::Subject, Some((subject, _))) => format!("s:{subject}"),
                        (LimitKey::Client, Some((_, Some(client)))) => format!("c:{client}"),
                        _ => format!("a:{}", caller.address_key),
                    }
                }
            };
            let counter = format!("{component}:{}:{key}", policy.rule.name);
            let decision = self
                .store
                .take(&counter, policy.emission, policy.window)
                .await;
            decisions.push((policy, decision));
        }
        Some(Verdict { decisions })
    }
}

enum CounterStore {
    Memory(MemoryCounters),
    Redis(RedisCounters),
}

impl CounterStore {
    async fn take(&self, key: &str, emission: Duration, window: Duration) -> Decision {
        match self {
            CounterStore::Memory(m) => m.take(key, emission, window),
            CounterStore::Redis(r) => r.take(key, emission, window).await,
        }
    }
}

/// The GCRA step, on milliseconds: `tat` is when the bucket would be full
/// again. Returns the decision and the new `tat` to store when allowed.
fn gcra(now: u64, tat: Option<u64>, emission: u64, window: u64) -> (Decision, Option<u64>) {
    let tat = tat.unwrap_or(now).max(now);
    let next = tat + emission;
    let allow_at = next.saturating_sub(window);
    if now < allow_at {
        let decision = Decision {
            allowed: false,
            remaining: 0,
            reset: Duration::from_millis(tat - now),
            retry_after: Duration::from_millis(allow_at - now),
        };
        return (decision, None);
    }
    let used = next - now;
    let decision = Decision {
        allowed: true,
        remaining: ((window - used) / emission.max(1)) as u32,
        reset: Duration::from_millis(used),
        retry_after: Duration::ZERO,
    };
    (decision, Some(next))
}

const SHARDS: usize = 16;
/// Past this many keys in a shard, keys whose bucket is full again are dropped.
const SHARD_SWEEP_AT: usize = 16_384;

struct MemoryCounters {
    started: Instant,
    hasher: std::hash::RandomState,
    shards: Vec<Mutex<HashMap<String, u64>>>,
}

impl Default for MemoryCounters {
    fn default() -> Self {
        MemoryCounters {
            started: Instant::now(),
            hasher: std::hash::RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl MemoryCounters {
    fn take(&self, key: &str, emission: Duration, window: Duration) -> Decision {
        use std::hash::BuildHasher;
        let shard = self.hasher.hash_one(key) as usize % SHARDS;
        let now = self.started.elapsed().as_millis() as u64;
        let mut counters = self.shards[shard].lock().unwrap();
        let (decision, next) = gcra(
            now,
            counters.get(key).copied(),
            emission.as_millis() as u64,
            window.as_millis() as u64,
        );
        if let Some(next) = next {
            if counters.len() >= SHARD_SWEEP_AT {
                counters.retain(|_, tat| *tat > now);
            }
            counters.insert(key.to_string(), next);
        }
        decision
    }
}

/// GCRA in one atomic step on Redis, timed by Redis's own clock so hosts
/// with skewed clocks agree. Returns {allowed, remaining, reset_ms, retry_ms}.
const GCRA_SCRIPT: &str = r#"
local emission = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next = tat + emission
local allow_at = next - window
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], next, 'PX', next - now)
return {1, math.floor((window - (next - now)) / emission), next - now, 0}
"#;

/// How long a counter round trip may take before this host uses its own.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

struct RedisCounters {
    connection: redis::aio::ConnectionManager,
    script: redis::Script,
    fallback: MemoryCounters,
    last_warning: Mutex<Option<Instant>>,
}

impl RedisCounters {
    async fn connect(url: &str) -> anyhow::Result<RedisCounters> {
        let client =
            redis::Client::open(url).map_err(|e| anyhow::anyhow!("[rate_limits] url: {e}"))?;
        let connection = tokio::time::timeout(
            Duration::from_secs(5),
            redis::aio::ConnectionManager::new(client),
        )
        .await
        .map_err(|_| anyhow::anyhow!("[rate_limits]: Redis did not answer within 5 s"))?
        .map_err(|e| anyhow::anyhow!("[rate_limits]: cannot reach Redis: {e}"))?;
        Ok(RedisCounters {
            connection,
            script: redis::Script::new(GCRA_SCRIPT),
            fallback: MemoryCounters::default(),
            last_warning: Mutex::new(None),
        })
    }

    async fn take(&self, key: &str, emission: Duration, window: Duration) -> Decision {
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(format!("folio:rate:{key}"));
        invocation
            .arg(emission.as_millis() as u64)
            .arg(window.as_millis() as u64);
        let answer = tokio::time::timeout(
            REDIS_TIMEOUT,
            invocation.invoke_async::<(u8, u64, u64, u64)>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok((allowed, remaining, reset, retry))) => Decision {
                allowed: allowed == 1,
                remaining: remaining as u32,
                reset: Duration::from_millis(reset),
                retry_after: Duration::from_millis(retry),
            },
            failed => {
                self.warn(match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {REDIS_TIMEOUT:?}"),
                });
                self.fallback.take(key, emission, window)
            }
        }
    }

    fn warn(&self, error: String) {
        let mut last = self.last_warning.lock().unwrap();
        if last.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(%error, "rate-limit counters in Redis are unavailable; counting on this host alone");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, key: LimitKey, limit: u32, window_secs: u64) -> RateLimitRule {
        RateLimitRule {
            name: name.into(),
            routes: vec!["/api/v1/auth/login".into()],
            methods: vec!["POST".into()],
            key,
            limit,
            window_secs,
        }
    }

    #[test]
    fn gcra_allows_a_burst_of_limit_then_refills_evenly() {
        let (emission, window) = (1000, 5000); // 5 per 5 s
        let mut tat = None;
        for i in 0..5 {
            let (d, next) = gcra(0, tat, emission, window);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 4 - i);
            tat = next;
        }
        let (refused, none) = gcra(0, tat, emission, window);
        assert!(!refused.allowed && none.is_none());
        assert_eq!(refused.retry_after, Duration::from_millis(1000));
        let (later, _) = gcra(999, tat, emission, window);
        assert!(!later.allowed);
        let (refilled, _) = gcra(1000, tat, emission, window);
        assert!(refilled.allowed);
        assert_eq!(refilled.remaining, 0);
    }

    #[tokio::test]
    async fn policies_count_per_key_and_only_their_routes() {
        let manifest = HashMap::from([(
            "users".to_string(),
            vec![rule("sign-in", LimitKey::Address, 2, 60)],
        )]);
        let limiter = RateLimiter::new(&manifest, RateLimitsConfig::default())
            .await
            .unwrap();
        let none = || None;
        let a = Caller {
            address_key: "192.0.2.1",
            identity: &none,
        };
        let b = Caller {
            address_key: "192.0.2.2",
            identity: &none,
        };
        let ip = "192.0.2.1".parse().unwrap();
        let post = http::Method::POST;
        let login = "/api/v1/auth/login";
        for _ in 0..2 {
            let v = limiter.check("users", &post, login, ip, &a).await.unwrap();
            assert!(v.refusal().is_none());
        }
        let v = limiter.check("users", &post, login, ip, &a).await.unwrap();
        let (detail, retry) = v.refusal_detail().unwrap();
        assert!(
            detail.contains("sign-in") && retry >= 29,
            "{detail} {retry}"
        );
        assert_eq!(
            v.headers().unwrap(),
            (
                "\"sign-in\";q=2;w=60".to_string(),
                "\"sign-in\";r=0;t=60".to_string()
            )
        );
        // Another address, another counter; another route or method, no policy.
        let v = limiter.check("users", &post, login, ip, &b).await.unwrap();
        assert!(v.refusal().is_none());
        assert!(
            limiter
                .check("users", &http::Method::GET, login, ip, &a)
                .await
                .is_none()
        );
        assert!(
            limiter
                .check("users", &post, "/api/v1/auth/register", ip, &a)
                .await
                .is_none()
        );
        assert!(
            limiter
                .check("content", &post, login, ip, &a)
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn subjects_fall_back_to_the_address_and_exemptions_apply() {
        let manifest = HashMap::from([(
            "users".to_string(),
            vec![rule("per-user", LimitKey::Subject, 1, 60)],
        )]);
        let config = RateLimitsConfig {
            exempt: vec!["10.0.0.0/8".into()],
            ..Default::default()
        };
        let limiter = RateLimiter::new(&manifest, config).await.unwrap();
        let alice = || Some(("alice".to_string(), None));
        let bob = || Some(("bob".to_string(), None));
        let post = http::Method::POST;
        let login = "/api/v1/auth/login";
        async fn allowed(
            limiter: &RateLimiter,
            identity: &(dyn Fn() -> Option<(String, Option<String>)> + Sync),
        ) -> bool {
            let caller = Caller {
                address_key: "192.0.2.1",
                identity,
            };
            let ip = "192.0.2.1".parse().unwrap();
            limiter
                .check(
                    "users",
                    &http::Method::POST,
                    "/api/v1/auth/login",
                    ip,
                    &caller,
                )
                .await
                .unwrap()
                .refusal()
                .is_none()
        }
        assert!(allowed(&limiter, &alice).await);
        assert!(!allowed(&limiter, &alice).await);
        assert!(allowed(&limiter, &bob).await, "bob has his own counter");
        let exempt = Caller {
            address_key: "10.1.1.1",
            identity: &alice,
        };
        assert!(
            limiter
                .check("users", &post, login, "10.1.1.1".parse().unwrap(), &exempt)
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn runtime_rules_replace_by_name_and_bad_rules_are_refused() {
        let manifest = HashMap::from([(
            "users".to_string(),
            vec![rule("sign-in", LimitKey::Address, 2, 60)],
        )]);
        let config = RateLimitsConfig {
            rules: vec![ComponentRule {
                component: "users".into(),
                rule: rule("sign-in", LimitKey::Address, 100, 60),
            }],
            ..Default::default()
        };
        let limiter = RateLimiter::new(&manifest, config).await.unwrap();
        assert_eq!(limiter.policies["users"].len(), 1);
        assert_eq!(limiter.policies["users"][0].rule.limit, 100);

        let unknown = RateLimitsConfig {
            rules: vec![ComponentRule {
                component: "nope".into(),
                rule: rule("x", LimitKey::Route, 1, 1),
            }],
            ..Default::default()
        };
        assert!(RateLimiter::new(&manifest, unknown).await.is_err());
        let zero = HashMap::from([("users".to_string(), vec![rule("z", LimitKey::Route, 0, 1)])]);
        assert!(
            RateLimiter::new(&zero, RateLimitsConfig::default())
                .await
                .is_err()
        );
        let redis_without_url = RateLimitsConfig {
            store: Some("redis".into()),
            ..Default::default()
        };
        assert!(
            RateLimiter::new(&manifest, redis_without_url)
                .await
                .is_err()
        );
    }
}
