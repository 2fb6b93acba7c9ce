//! The releases of the app one host serves, side by side: the live one; a
//! candidate that takes a share of requests (canary) or only those that ask
//! for it (blue-green); and the release before the live one, still loaded,
//! for an instant rollback. Every release shares the host's engine,
//! capabilities, budgets and metrics (`AppRuntime::load_release`).
//!
//! A switch replaces one pointer. A request keeps the release it started
//! on, and so do its chained calls (each instance reaches only its own
//! release). Background work (relays, event consumers, cron) runs on the
//! live release alone and moves with it: stopped on the old release after
//! its calls in hand finish, then started on the new one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use rand::Rng;

use crate::gateway::RateLimiter;
use crate::manifest::App;
use crate::runtime::AppRuntime;

/// The request header with which testers pick a release: `candidate`,
/// `live`, or a release's number.
pub const RELEASE_HEADER: &str = "folio-release";

pub struct Release {
    /// Numbered from 1 in the order this process loaded them.
    pub id: u64,
    pub manifest: PathBuf,
    pub runtime: Arc<AppRuntime>,
    pub(crate) rate_limits: RateLimiter,
}

#[derive(Clone)]
struct Traffic {
    live: Arc<Release>,
    candidate: Option<Arc<Release>>,
    /// Percent of requests the candidate takes; 0 serves it only to
    /// requests that name it.
    weight: u8,
    previous: Option<Arc<Release>>,
}

/// Why a change was refused; each is a 4xx of `/_folio/releases`.
#[derive(Debug)]
pub enum ReleaseError {
    /// Another change is being made (a release is loading).
    Busy,
    NoCandidate,
    NoPrevious,
    /// The manifest or a component of the release does not load.
    Unloadable(String),
}

impl std::fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReleaseError::Busy => write!(f, "another release change is in progress"),
            ReleaseError::NoCandidate => write!(f, "there is no candidate release"),
            ReleaseError::NoPrevious => write!(f, "there is no previous release to roll back to"),
            ReleaseError::Unloadable(why) => write!(f, "{why}"),
        }
    }
}

pub struct Releases {
    traffic: ArcSwap<Traffic>,
    /// One change at a time: a second one while a release loads is refused.
    changing: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
    /// `--component-id`s: every release serves only these.
    retain: Vec<String>,
}

impl Releases {
    /// `runtime` is the first live release; its background work is started.
    pub fn start(
        manifest: PathBuf,
        runtime: Arc<AppRuntime>,
        rate_limits: RateLimiter,
        retain: Vec<String>,
    ) -> Arc<Releases> {
        runtime.start_background();
        let live = Arc::new(Release {
            id: 1,
            manifest,
            runtime,
            rate_limits,
        });
        Arc::new(Releases {
            traffic: ArcSwap::from_pointee(Traffic {
                live,
                candidate: None,
                weight: 0,
                previous: None,
            }),
            changing: tokio::sync::Mutex::new(()),
            next_id: AtomicU64::new(2),
            retain,
        })
    }

    pub fn live(&self) -> Arc<Release> {
        self.traffic.load().live.clone()
    }

    /// The release that serves a request: the one its `folio-release`
    /// header names, else the candidate for its weighted share, else the
    /// live one.
    pub fn pick(&self, headers: &http::HeaderMap) -> Arc<Release> {
        let traffic = self.traffic.load();
        if let Some(asked) = headers.get(RELEASE_HEADER).and_then(|v| v.to_str().ok()) {
            let named = match asked.trim() {
                "live" => Some(&traffic.live),
                "candidate" => traffic.candidate.as_ref(),
                number => number.parse::<u64>().ok().and_then(|id| {
                    [Some(&traffic.live), traffic.candidate.as_ref()]
                        .into_iter()
                        .flatten()
                        .find(|r| r.id == id)
                }),
            };
            if let Some(release) = named {
                return release.clone();
            }
        }
        match &traffic.candidate {
            Some(candidate)
                if traffic.weight > 0 && rand::rng().random_range(0..100) < traffic.weight =>
            {
                candidate.clone()
            }
            _ => traffic.live.clone(),
        }
    }

    /// Loads the app at `manifest` as the candidate, with no share of
    /// traffic; a candidate already there is dropped.
    pub async fn stage(&self, manifest: &Path) -> Result<Arc<Release>, ReleaseError> {
        let _change = self.changing.try_lock().map_err(|_| ReleaseError::Busy)?;
        let release = self.load(manifest).await?;
        self.update(|t| Traffic {
            candidate: Some(release.clone()),
            weight: 0,
            ..t.clone()
        });
        tracing::info!(
            release = release.id,
            manifest = %release.manifest.display(),
            "release staged as the candidate"
        );
        Ok(release)
    }

    /// Gives the candidate `percent` of requests.
    pub async fn set_weight(&self, percent: u8) -> Result<(), ReleaseError> {
        self.change_candidate(|t| Traffic {
            weight: percent.min(100),
            ..t.clone()
        })
        .await?;
        tracing::info!(weight = percent, "candidate's share of requests set");
        Ok(())
    }

    /// Drops the candidate: every request goes to the live release again.
    pub async fn drop_candidate(&self) -> Result<(), ReleaseError> {
        self.change_candidate(|t| Traffic {
            candidate: None,
            weight: 0,
            ..t.clone()
        })
        .await?;
        tracing::info!("candidate dropped");
        Ok(())
    }

    async fn change_candidate(
        &self,
        change: impl Fn(&Traffic) -> Traffic,
    ) -> Result<(), ReleaseError> {
        let _change = self.changing.try_lock().map_err(|_| ReleaseError::Busy)?;
        if self.traffic.load().candidate.is_none() {
            return Err(ReleaseError::NoCandidate);
        }
        self.update(change);
        Ok(())
    }

    /// The candidate becomes live; the live release is kept as the previous.
    pub async fn promote(&self) -> Result<Arc<Release>, ReleaseError> {
        let _change = self.changing.try_lock().map_err(|_| ReleaseError::Busy)?;
        let candidate = self
            .traffic
            .load()
            .candidate
            .clone()
            .ok_or(ReleaseError::NoCandidate)?;
        self.switch_to(candidate.clone()).await;
        Ok(candidate)
    }

    /// The previous release becomes live again (and the live one becomes the
    /// previous, so a second rollback rolls forward).
    pub async fn rollback(&self) -> Result<Arc<Release>, ReleaseError> {
        let _change = self.changing.try_lock().map_err(|_| ReleaseError::Busy)?;
        let previous = self
            .traffic
            .load()
            .previous
            .clone()
            .ok_or(ReleaseError::NoPrevious)?;
        self.switch_to(previous.clone()).await;
        Ok(previous)
    }

    /// Loads the live release's manifest again (changed components too) and
    /// switches to it: `folio up`'s answer to SIGHUP.
    pub async fn reload(&self) -> Result<Arc<Release>, ReleaseError> {
        let _change = self.changing.try_lock().map_err(|_| ReleaseError::Busy)?;
        let manifest = self.live().manifest.clone();
        let release = self.load(&manifest).await?;
        self.switch_to(release.clone()).await;
        Ok(release)
    }

    /// What `GET /_folio/releases` shows.
    pub fn describe(&self) -> serde_json::Value {
        let traffic = self.traffic.load();
        let describe = |r: &Release| {
            serde_json::json!({
                "id": r.id,
                "manifest": r.manifest.display().to_string(),
                "app": r.runtime.app_name,
                "version": r.runtime.app_version,
            })
        };
        serde_json::json!({
            "live": describe(&traffic.live),
            "candidate": traffic.candidate.as_deref().map(|c| {
                let mut c = describe(c);
                c["weight"] = traffic.weight.into();
                c
            }),
            "previous": traffic.previous.as_deref().map(describe),
        })
    }

    async fn load(&self, manifest: &Path) -> Result<Arc<Release>, ReleaseError> {
        let started = std::time::Instant::now();
        let unloadable = |e: anyhow::Error| ReleaseError::Unloadable(crate::manifest::one_line(&e));
        let mut app = App::load(manifest).map_err(unloadable)?;
        if !self.retain.is_empty() {
            app.retain_components(&self.retain).map_err(unloadable)?;
        }
        let live = self.live();
        let runtime = live
            .runtime
            .load_release(&app, &|k| std::env::var(k).ok())
            .await
            .map_err(unloadable)?;
        let rate_limits = live
            .rate_limits
            .for_release(&manifest_rate_limits(&app))
            .map_err(unloadable)?;
        let release = Arc::new(Release {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            manifest: manifest.to_path_buf(),
            runtime,
            rate_limits,
        });
        tracing::info!(
            release = release.id,
            components = app.components.len(),
            loadMs = started.elapsed().as_secs_f64() * 1000.0,
            "release loaded"
        );
        Ok(release)
    }

    /// Makes `next` live at once, then moves the background work to it.
    async fn switch_to(&self, next: Arc<Release>) {
        let before = self.live();
        self.update(|t| Traffic {
            live: next.clone(),
            candidate: t.candidate.clone().filter(|c| c.id != next.id),
            weight: if t.candidate.as_ref().is_some_and(|c| c.id == next.id) {
                0
            } else {
                t.weight
            },
            previous: Some(before.clone()),
        });
        tracing::info!(
            release = next.id,
            previous = before.id,
            manifest = %next.manifest.display(),
            "release switched"
        );
        before.runtime.stop_background().await;
        next.runtime.start_background();
    }

    fn update(&self, change: impl Fn(&Traffic) -> Traffic) {
        self.traffic.rcu(|t| change(t));
    }
}

/// Each component's rate-limit policies, as the manifest declares them.
pub fn manifest_rate_limits(
    app: &App,
) -> std::collections::HashMap<String, Vec<crate::gateway::RateLimitRule>> {
    app.components
        .values()
        .map(|c| (c.id.clone(), c.rate_limits.clone()))
        .collect()
}
