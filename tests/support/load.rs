//! An open-loop HTTP load generator at a fixed rate, for latency targets
//! stated as "p99 under X at Y requests/s" (`wrk` only runs closed loops).
//!
//! Request `i` is *scheduled* at `start + i / rate`, whether or not earlier
//! requests have been answered, and its latency runs from that scheduled
//! instant to the last byte of the response body. A server that stalls
//! therefore shows up in the latencies of every request that should have
//! been sent during the stall (no coordinated omission), rather than
//! slowing the generator down.
//!
//! A timer thread (`std::thread::sleep`, tens of microseconds of slack)
//! releases each request at its instant; the runtime sends it on one of at
//! most `connections` keep-alive connections (a semaphore bounds requests
//! in flight, and reqwest keeps that many idle connections). When every
//! connection is busy the request waits for one, and that wait counts
//! against its latency. How late requests left, measured against their
//! schedule, is reported separately as the dispatch lag, so a generator
//! that could not keep up is visible.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// What to run: `rate` requests/s for `warmup` (not measured) and then for
/// `duration` (measured), over at most `connections` connections.
#[derive(Debug, Clone)]
pub struct Plan {
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    pub connections: usize,
    /// A request unanswered after this long counts as an error.
    pub timeout: Duration,
    /// A request that could not leave within this long of its scheduled
    /// instant (every connection busy) is not sent: the server is that far
    /// behind, and queueing more only makes the run longer. It counts as a
    /// failure, with that wait as its latency (a lower bound).
    pub give_up: Duration,
}

/// Latency percentiles (nearest rank) of one set of samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    /// From samples in any order.
    pub fn of(mut samples: Vec<Duration>) -> Percentiles {
        samples.sort_unstable();
        Percentiles {
            p50: percentile(&samples, 50.0),
            p90: percentile(&samples, 90.0),
            p99: percentile(&samples, 99.0),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// The nearest-rank percentile of `sorted` (ascending): the smallest sample
/// such that at least `p` percent of the samples are at or below it.
/// Zero for no samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let n = sorted.len();
    // p * n / 100 computed so that e.g. 99 * 100 / 100 is exactly 99; the
    // small tolerance keeps 99.9 (not exact in binary) from rounding up a rank.
    let rank = ((p * n as f64 / 100.0) - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// What one run measured (warm-up excluded).
#[derive(Debug, Clone)]
pub struct Report {
    pub target_rate: f64,
    /// Responses (any status) per second over the measured window: from the
    /// first measured request's scheduled instant to the last response.
    pub achieved_rate: f64,
    /// Requests scheduled in the measured window.
    pub scheduled: usize,
    /// 2xx responses.
    pub ok: usize,
    /// Responses with another status (3xx included: none are expected here).
    pub non_2xx: usize,
    /// Connection errors and timeouts.
    pub errors: usize,
    /// Requests not sent because they were `give_up` late (see [`Plan`]).
    pub abandoned: usize,
    /// The first few distinct failures, for the reader.
    pub error_samples: Vec<String>,
    /// Scheduled instant to end of body, for every answered request.
    pub latency: Percentiles,
    /// Scheduled instant to the moment the request left for a connection.
    pub dispatch_lag: Percentiles,
    /// Requests that found every connection busy and had to wait for one.
    pub waited_for_connection: usize,
}

impl Report {
    /// The generator did not send on schedule: more than 1% of the requests
    /// left over a millisecond late (the latencies still count that delay).
    pub fn fell_behind(&self) -> bool {
        self.dispatch_lag.p99 > Duration::from_millis(1)
    }

    pub fn failures(&self) -> usize {
        self.non_2xx + self.errors + self.abandoned
    }
}

struct Sample {
    measured: bool,
    lag: Duration,
    outcome: Outcome,
    end: Instant,
    latency: Duration,
}

enum Outcome {
    Status(u16),
    Error(String),
    Abandoned,
}

/// Runs `plan`; `request(client, i)` builds request number `i` (counting
/// from 0 over warm-up and measurement alike) on the generator's client.
pub async fn run<F>(plan: &Plan, request: F) -> anyhow::Result<Report>
where
    F: Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    anyhow::ensure!(plan.connections > 0, "at least one connection");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.connections)
        .pool_idle_timeout(None)
        .tcp_nodelay(true)
        .timeout(plan.timeout)
        .build()?;
    run_calls(plan, move |i| {
        let builder = request(&client, i);
        async move {
            let response = builder.send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            response
                .bytes()
                .await
                .map_err(|e| format!("reading the body: {e}"))?;
            Ok(status)
        }
    })
    .await
}

/// `run`'s schedule for any call (an engine in this process, say): call
/// `i` answers an HTTP-like status (2xx is a success) or an error; one
/// still running after `plan.timeout` is an error.
pub async fn run_calls<F, Fut>(plan: &Plan, call: F) -> anyhow::Result<Report>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<u16, String>> + Send + 'static,
{
    anyhow::ensure!(plan.rate > 0.0, "the rate must be positive");
    anyhow::ensure!(plan.connections > 0, "at least one connection");
    let interval = Duration::from_secs_f64(1.0 / plan.rate);
    let warmup_count = (plan.warmup.as_secs_f64() * plan.rate).round() as u64;
    let measured_count = (plan.duration.as_secs_f64() * plan.rate).round() as u64;
    let total = warmup_count + measured_count;

    // Starting a little ahead gives the timer thread time to get going.
    let start = Instant::now() + Duration::from_millis(20);
    let scheduled_at = move |i: u64| start + interval.mul_f64(i as f64);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let timer = std::thread::spawn(move || {
        for i in 0..total {
            let at = scheduled_at(i);
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            if tx.send(i).is_err() {
                break;
            }
        }
    });

    let slots = Arc::new(Semaphore::new(plan.connections));
    let samples = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let waited = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(i) = rx.recv().await {
        let measured = i >= warmup_count;
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if measured {
                    waited.fetch_add(1, Ordering::Relaxed);
                }
                slots.clone().acquire_owned().await?
            }
        };
        let scheduled = scheduled_at(i);
        let late = Instant::now().saturating_duration_since(scheduled);
        if late > plan.give_up {
            samples.lock().unwrap().push(Sample {
                measured,
                lag: late,
                outcome: Outcome::Abandoned,
                end: Instant::now(),
                latency: late,
            });
            continue;
        }
        let work = call(i);
        let (samples, timeout) = (samples.clone(), plan.timeout);
        tasks.spawn(async move {
            let lag = Instant::now().saturating_duration_since(scheduled);
            let outcome = match tokio::time::timeout(timeout, work).await {
                Ok(Ok(status)) => Outcome::Status(status),
                Ok(Err(e)) => Outcome::Error(e),
                Err(_) => Outcome::Error(format!("no answer within {timeout:?}")),
            };
            let end = Instant::now();
            drop(permit);
            samples.lock().unwrap().push(Sample {
                measured,
                lag,
                outcome,
                end,
                latency: end.saturating_duration_since(scheduled),
            });
        });
        // Reap finished tasks as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    timer
        .join()
        .map_err(|_| anyhow::anyhow!("the timer thread panicked"))?;

    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let measure_start = scheduled_at(warmup_count);
    let mut latencies = Vec::new();
    let mut lags = Vec::new();
    let (mut ok, mut non_2xx, mut errors, mut abandoned) = (0, 0, 0, 0);
    let mut error_samples: Vec<String> = Vec::new();
    let mut last_end = measure_start;
    for s in samples.into_iter().filter(|s| s.measured) {
        lags.push(s.lag);
        match s.outcome {
            Outcome::Status(status) => {
                latencies.push(s.latency);
                last_end = last_end.max(s.end);
                if (200..300).contains(&status) {
                    ok += 1;
                } else {
                    non_2xx += 1;
                    note(&mut error_samples, format!("HTTP {status}"));
                }
            }
            Outcome::Error(e) => {
                errors += 1;
                note(&mut error_samples, e);
            }
            Outcome::Abandoned => {
                abandoned += 1;
                latencies.push(s.latency);
            }
        }
    }
    let answered = ok + non_2xx;
    let window = last_end.saturating_duration_since(measure_start);
    Ok(Report {
        target_rate: plan.rate,
        achieved_rate: if window.is_zero() {
            0.0
        } else {
            answered as f64 / window.as_secs_f64()
        },
        scheduled: measured_count as usize,
        ok,
        non_2xx,
        errors,
        abandoned,
        error_samples,
        latency: Percentiles::of(latencies),
        dispatch_lag: Percentiles::of(lags),
        waited_for_connection: waited.load(Ordering::Relaxed),
    })
}

fn note(samples: &mut Vec<String>, failure: String) {
    if samples.len() < 5 && !samples.contains(&failure) {
        samples.push(failure);
    }
}

/// Milliseconds, for tables.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_list(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank_on_one_to_a_hundred() {
        let sorted = ms_list(1..=100);
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 90.0), Duration::from_millis(90));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&sorted, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&sorted, 0.5), Duration::from_millis(1));
        assert_eq!(percentile(&sorted, 50.5), Duration::from_millis(51));
    }

    #[test]
    fn ranks_round_up_and_fractions_do_not_drift() {
        // Ten samples: p99 is the largest (rank ceil(9.9) = 10), p90 the ninth.
        let sorted = ms_list(1..=10);
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(10));
        assert_eq!(percentile(&sorted, 90.0), Duration::from_millis(9));
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(5));
        // 99.9 % of 1000 is rank 999 exactly, although 99.9 is not exact in binary.
        let sorted = ms_list(1..=1000);
        assert_eq!(percentile(&sorted, 99.9), Duration::from_millis(999));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(990));
    }

    #[test]
    fn small_and_empty_sets() {
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
        let one = ms_list([7]);
        for p in [0.0, 50.0, 99.0, 100.0] {
            assert_eq!(percentile(&one, p), Duration::from_millis(7));
        }
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
    }

    #[test]
    fn percentiles_sort_their_samples() {
        // 1..=100 shuffled by a fixed permutation (37 is coprime with 100).
        let samples: Vec<Duration> = (0..100u64)
            .map(|i| Duration::from_millis((i * 37) % 100 + 1))
            .collect();
        let p = Percentiles::of(samples);
        assert_eq!(
            p,
            Percentiles {
                p50: Duration::from_millis(50),
                p90: Duration::from_millis(90),
                p99: Duration::from_millis(99),
                max: Duration::from_millis(100),
            }
        );
    }

    /// A loopback server that answers after a fixed delay, one request per
    /// connection at a time: the generator must keep to its schedule and
    /// count the latency from it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keeps_the_rate_and_counts_statuses() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    break;
                };
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = stream.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_string();
                            buf.drain(..end + 4);
                            let status = if head.contains("/missing") {
                                "404 Not Found"
                            } else {
                                "200 OK"
                            };
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\nok");
                            if stream.write_all(reply.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        let plan = Plan {
            rate: 500.0,
            warmup: Duration::from_millis(200),
            duration: Duration::from_secs(1),
            connections: 8,
            timeout: Duration::from_secs(5),
            give_up: Duration::from_secs(5),
        };
        let report = run(&plan, move |client, i| {
            let path = if i % 10 == 0 { "/missing" } else { "/" };
            client.get(format!("http://{addr}{path}"))
        })
        .await
        .unwrap();
        assert_eq!(report.scheduled, 500);
        assert_eq!(report.ok + report.non_2xx + report.errors, 500);
        assert_eq!(report.abandoned, 0);
        assert_eq!(report.errors, 0, "{:?}", report.error_samples);
        assert_eq!(report.non_2xx, 50);
        assert!(report.latency.p50 >= Duration::from_millis(2));
        assert!((450.0..550.0).contains(&report.achieved_rate), "{report:?}");
    }
}
