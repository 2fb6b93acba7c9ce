//! Calls between services and to the outside world fail fast instead of
//! piling up: each destination (a chained component, or an outbound
//! host:port) has a circuit breaker, each call a timeout, and idempotent
//! calls that fail transiently are retried with jittered backoff while the
//! destination's retry budget lasts. Configured by the runtime config's
//! `[outbound]` table; the defaults are the seed's (50 % errors open the
//! breaker, 3 s per call, 30 s before a trial call). A request that goes
//! over the network reaches only public addresses (loopback, private,
//! link-local, CGNAT, documentation and other special ranges are refused:
//! SSRF protection) unless the address is in an `allow_private` network
//! (none by default; e.g. loopback for a local webhook receiver).
//!
//! ```toml
//! [outbound]
//! call_timeout_ms = 3000
//! failure_rate_percent = 50   # of the calls in the window, once minimum_calls were made
//! minimum_calls = 10
//! window_secs = 10
//! open_secs = 30              # then one trial call decides (half-open)
//! max_retries = 2             # idempotent methods only (GET, HEAD, OPTIONS)
//! retry_budget_percent = 20   # retries may add at most this share of calls
//! allow_private = []          # non-public CIDRs guests may reach, e.g. ["127.0.0.0/8", "::1/128"]
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::Deserialize;

use crate::metrics::Metrics;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    pub call_timeout_ms: Option<u64>,
    pub failure_rate_percent: Option<u32>,
    pub minimum_calls: Option<u32>,
    pub window_secs: Option<u64>,
    pub open_secs: Option<u64>,
    pub open_ms: Option<u64>,
    pub max_retries: Option<u32>,
    pub retry_budget_percent: Option<u32>,
    /// Networks (CIDR) an outbound request may reach though they are not public.
    #[serde(default)]
    pub allow_private: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboundPolicy {
    pub call_timeout: Duration,
    pub failure_rate_percent: u32,
    pub minimum_calls: u32,
    pub window: Duration,
    pub open_for: Duration,
    pub max_retries: u32,
    pub retry_budget_percent: u32,
    /// Non-public networks outbound requests may still reach.
    pub allow_private: Vec<IpNet>,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        OutboundPolicy {
            call_timeout: Duration::from_secs(3),
            failure_rate_percent: 50,
            minimum_calls: 10,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(30),
            max_retries: 2,
            retry_budget_percent: 20,
            allow_private: Vec::new(),
        }
    }
}

impl OutboundConfig {
    pub fn policy(&self) -> anyhow::Result<OutboundPolicy> {
        let d = OutboundPolicy::default();
        let rate = self.failure_rate_percent.unwrap_or(d.failure_rate_percent);
        if !(1..=100).contains(&rate) {
            anyhow::bail!("[outbound] failure_rate_percent must be 1 to 100");
        }
        if self.call_timeout_ms == Some(0) || self.minimum_calls == Some(0) {
            anyhow::bail!("[outbound] call_timeout_ms and minimum_calls must be at least 1");
        }
        if self.open_secs.is_some() && self.open_ms.is_some() {
            anyhow::bail!("[outbound] give open_secs or open_ms, not both");
        }
        let allow_private = self
            .allow_private
            .iter()
            .map(|entry| crate::gateway::client_address::parse_network(entry))
            .collect::<anyhow::Result<_>>()
            .map_err(|e| anyhow::anyhow!("[outbound] allow_private: {e}"))?;
        Ok(OutboundPolicy {
            call_timeout: self
                .call_timeout_ms
                .map_or(d.call_timeout, Duration::from_millis),
            failure_rate_percent: rate,
            minimum_calls: self.minimum_calls.unwrap_or(d.minimum_calls),
            window: self.window_secs.map_or(d.window, Duration::from_secs),
            open_for: match (self.open_secs, self.open_ms) {
                (Some(s), _) => Duration::from_secs(s),
                (_, Some(ms)) => Duration::from_millis(ms),
                _ => d.open_for,
            },
            max_retries: self.max_retries.unwrap_or(d.max_retries),
            retry_budget_percent: self
                .retry_budget_percent
                .unwrap_or(d.retry_budget_percent)
                .min(100),
            allow_private,
        })
    }
}

enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// One trial call is out; everyone else is refused until it ends.
    HalfOpen,
}

struct Breaker {
    state: State,
    /// Outcomes in the window: (when, failed).
    outcomes: VecDeque<(Instant, bool)>,
    /// Retries this destination may still take (grows with each first try).
    retry_tokens: f64,
}

/// What a call may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Call,
    /// The first call after the open period: its outcome closes or reopens.
    Trial,
    Refused,
}

pub struct Breakers {
    policy: OutboundPolicy,
    breakers: Mutex<HashMap<String, Breaker>>,
    metrics: Metrics,
}

const MAX_RETRY_TOKENS: f64 = 10.0;

impl Breakers {
    pub fn new(policy: OutboundPolicy, metrics: Metrics) -> Breakers {
        Breakers {
            policy,
            breakers: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    pub fn admit(&self, destination: &str) -> Admission {
        let mut breakers = self.breakers.lock().unwrap();
        let breaker = breakers
            .entry(destination.to_string())
            .or_insert_with(|| Breaker {
                state: State::Closed,
                outcomes: VecDeque::new(),
                retry_tokens: MAX_RETRY_TOKENS / 2.0,
            });
        match breaker.state {
            State::Closed => {
                let share = f64::from(self.policy.retry_budget_percent) / 100.0;
                breaker.retry_tokens = (breaker.retry_tokens + share).min(MAX_RETRY_TOKENS);
                Admission::Call
            }
            State::Open { until } if Instant::now() >= until => {
                breaker.state = State::HalfOpen;
                self.metrics.observe_circuit(destination, "half-open");
                Admission::Trial
            }
            State::Open { .. } | State::HalfOpen => Admission::Refused,
        }
    }

    /// Whether a failed idempotent call may be tried again (spends budget).
    pub fn may_retry(&self, destination: &str, attempt: u32) -> bool {
        if attempt > self.policy.max_retries {
            return false;
        }
        let mut breakers = self.breakers.lock().unwrap();
        match breakers.get_mut(destination) {
            Some(b) if matches!(b.state, State::Closed) && b.retry_tokens >= 1.0 => {
                b.retry_tokens -= 1.0;
                true
            }
            _ => false,
        }
    }

    pub fn record(&self, destination: &str, admission: Admission, failed: bool) {
        let now = Instant::now();
        let mut breakers = self.breakers.lock().unwrap();
        let Some(breaker) = breakers.get_mut(destination) else {
            return;
        };
        if admission == Admission::Trial {
            if failed {
                breaker.state = State::Open {
                    until: now + self.policy.open_for,
                };
                self.metrics.observe_circuit(destination, "open");
            } else {
                breaker.state = State::Closed;
                breaker.outcomes.clear();
                self.metrics.observe_circuit(destination, "closed");
                tracing::info!(destination, "circuit closed: the trial call succeeded");
            }
            return;
        }
        if !matches!(breaker.state, State::Closed) {
            return;
        }
        breaker.outcomes.push_back((now, failed));
        while breaker
            .outcomes
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > self.policy.window)
        {
            breaker.outcomes.pop_front();
        }
        let calls = breaker.outcomes.len() as u32;
        let failures = breaker.outcomes.iter().filter(|(_, f)| *f).count() as u32;
        if calls >= self.policy.minimum_calls
            && failures * 100 >= self.policy.failure_rate_percent * calls
        {
            breaker.state = State::Open {
                until: now + self.policy.open_for,
            };
            breaker.outcomes.clear();
            self.metrics.observe_circuit(destination, "open");
            tracing::warn!(
                destination,
                failures,
                calls,
                openMs = self.policy.open_for.as_millis() as u64,
                "circuit opened: calls fail fast until a trial call succeeds"
            );
        }
    }
}

/// A failure that says the destination is unwell (not that the request was wrong).
pub fn counts_as_failure(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

/// 2^attempt × 25 ms, with full jitter.
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = 25u64 << attempt.min(6);
    Duration::from_millis(rand::random_range(0..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers(open_for: Duration) -> Breakers {
        Breakers::new(
            OutboundPolicy {
                minimum_calls: 4,
                open_for,
                ..OutboundPolicy::default()
            },
            Metrics::default(),
        )
    }

    #[test]
    fn opens_at_the_failure_rate_then_a_trial_decides() {
        let b = breakers(Duration::from_millis(50));
        for failed in [false, true, false] {
            assert_eq!(b.admit("users"), Admission::Call);
            b.record("users", Admission::Call, failed);
        }
        assert_eq!(b.admit("users"), Admission::Call);
        b.record("users", Admission::Call, true); // 2 of 4 failed: 50 %
        assert_eq!(b.admit("users"), Admission::Refused);
        assert_eq!(
            b.admit("media"),
            Admission::Call,
            "other destinations are unaffected"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.admit("users"), Admission::Trial);
        assert_eq!(b.admit("users"), Admission::Refused, "one trial at a time");
        b.record("users", Admission::Trial, true);
        assert_eq!(
            b.admit("users"),
            Admission::Refused,
            "a failed trial reopens"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.admit("users"), Admission::Trial);
        b.record("users", Admission::Trial, false);
        assert_eq!(b.admit("users"), Admission::Call);
        let metrics = b.metrics.render();
        assert!(
            metrics.contains("folio_circuit_opened_total{destination=\"users\"} 2"),
            "{metrics}"
        );
        assert!(metrics.contains("folio_circuit_state{destination=\"users\",state=\"closed\"} 1"));
    }

    #[test]
    fn retries_are_bounded_by_the_budget_and_the_attempts() {
        let b = breakers(Duration::from_secs(1));
        assert_eq!(b.admit("x"), Admission::Call);
        assert!(!b.may_retry("x", 3), "past max_retries");
        let mut granted = 0;
        while b.may_retry("x", 1) {
            granted += 1;
            assert!(granted < 100);
        }
        assert_eq!(granted, 5, "the initial budget is half the cap");
        for _ in 0..5 {
            b.admit("x");
        }
        assert!(b.may_retry("x", 1), "first tries earn retry budget back");
        assert!(!b.may_retry("x", 1));
    }

    #[test]
    fn config_is_checked() {
        assert!(
            OutboundConfig {
                failure_rate_percent: Some(0),
                ..Default::default()
            }
            .policy()
            .is_err()
        );
        assert!(
            OutboundConfig {
                open_secs: Some(1),
                open_ms: Some(5),
                ..Default::default()
            }
            .policy()
            .is_err()
        );
        let p = OutboundConfig {
            open_ms: Some(500),
            ..Default::default()
        }
        .policy()
        .unwrap();
        assert_eq!(p.open_for, Duration::from_millis(500));
        let p = OutboundConfig {
            allow_private: vec!["127.0.0.0/8".into(), "::1".into(), "10.1.2.3/8".into()],
            ..Default::default()
        }
        .policy()
        .unwrap();
        let nets: Vec<String> = p.allow_private.iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["127.0.0.0/8", "::1/128", "10.0.0.0/8"]);
        for bad in ["127.0.0.0/33", "localhost", "10.0.0.0/8x", ""] {
            let e = OutboundConfig {
                allow_private: vec![bad.into()],
                ..Default::default()
            }
            .policy()
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("allow_private") && e.contains(&format!("`{bad}`")),
                "{e}"
            );
        }
        assert_eq!(
            OutboundConfig::default().policy().unwrap(),
            OutboundPolicy::default()
        );
    }
}
