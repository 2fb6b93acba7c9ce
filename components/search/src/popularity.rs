//! The seam where popularity enters the order of results.
//!
//! A [`Popularity`] source gives some items a boost (from 0: none, to 1:
//! the most popular of them), and [`blend`] multiplies each hit's score by
//! `1 + BLEND_WEIGHT × boost`, so relevance still leads and popularity
//! settles the close calls. Feature flags pick the source:
//! `enhancedSearch` ranks a page of search results with [`ClickThrough`]
//! (what searchers clicked), `newRecommendationEngine` ranks related
//! items with [`Audience`] (what readers viewed, from the analytics
//! service); with a flag off, [`NoSignal`] leaves the index's order.

use std::collections::HashMap;

use folio_guest::Value;
use folio_guest::columns::{integer, text, text_in_list};
use folio_guest::http::{chained_service, sign_chained_call};
use folio_guest::search::Hit;
use folio_guest::util::{now_ms, rfc3339};
use spin_sdk::http::{Request, Response};

use crate::store;

/// How much the most popular item's score is raised: by half.
const BLEND_WEIGHT: f32 = 0.5;
/// How far back clicks count.
const CLICK_WINDOW_MS: i64 = 30 * 86_400_000;

pub trait Popularity {
    /// Boosts in `0.0..=1.0` for those of `ids` that have one.
    fn boosts(&self, ids: &[&str]) -> HashMap<String, f32>;
}

/// No popularity signal: the index's order stands.
pub struct NoSignal;

impl Popularity for NoSignal {
    fn boosts(&self, _ids: &[&str]) -> HashMap<String, f32> {
        HashMap::new()
    }
}

/// Clicks on each item in search results over the last 30 days (this
/// service's own `search_clicks`).
pub struct ClickThrough;

impl Popularity for ClickThrough {
    fn boosts(&self, ids: &[&str]) -> HashMap<String, f32> {
        match clicks(ids) {
            Ok(counts) => relative(counts),
            Err(e) => {
                eprintln!("popularity: no click signal: {}", e.detail);
                HashMap::new()
            }
        }
    }
}

fn clicks(ids: &[&str]) -> Result<Vec<(String, i64)>, folio_guest::http::Problem> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    let (list, mut params) = text_in_list(&ids);
    params.push(Value::Timestamp(rfc3339(now_ms() - CLICK_WINDOW_MS)));
    let rows = store::db()?
        .query(
            &format!(
                "SELECT content_id, COUNT(*) FROM search_clicks \
                 WHERE content_id IN ({list}) AND at >= ${} GROUP BY content_id",
                ids.len() + 1
            ),
            &params,
        )
        .map_err(store::db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| (text(&r[0]), integer(&r[1])))
        .collect())
}

/// Each count over the largest; none without a positive count.
fn relative(counts: Vec<(String, i64)>) -> HashMap<String, f32> {
    let most = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    if most <= 0 {
        return HashMap::new();
    }
    counts
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(id, n)| (id, n as f32 / most as f32))
        .collect()
}

/// Pageviews and reads over the last 30 days, from the analytics service
/// (`GET http://{analytics_service}.spin.internal/api/v1/analytics/popularity`,
/// which answers only the components it names). Unreachable, it gives no
/// boosts: related items never fail for want of popularity.
pub struct Audience;

impl Popularity for Audience {
    fn boosts(&self, ids: &[&str]) -> HashMap<String, f32> {
        match audience(ids) {
            Ok(boosts) => boosts,
            Err(e) => {
                eprintln!("popularity: no audience signal: {e}");
                HashMap::new()
            }
        }
    }
}

fn audience(ids: &[&str]) -> Result<HashMap<String, f32>, String> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids = ids.join(",");
    let path = crate::url::with_query("/api/v1/analytics/popularity", [("ids", ids.as_str())]);
    let analytics = chained_service("analytics_service", "analytics");
    let url = format!("http://{analytics}.spin.internal{path}");
    let mut request = Request::get(url);
    sign_chained_call(&mut request, &analytics);
    let response: Response =
        spin_sdk::http::run(spin_sdk::http::send(request)).map_err(|e| e.to_string())?;
    if *response.status() != 200 {
        return Err(format!(
            "the analytics service answered {}",
            response.status()
        ));
    }
    let body: serde_json::Value =
        serde_json::from_slice(response.body()).map_err(|e| e.to_string())?;
    Ok(body["boosts"]
        .as_object()
        .map(|boosts| {
            boosts
                .iter()
                .filter_map(|(id, b)| Some((id.clone(), b.as_f64()? as f32)))
                .collect()
        })
        .unwrap_or_default())
}

/// `hits` reordered by their scores with the boosts blended in (the score
/// each answers is the blended one); without boosts, unchanged.
pub fn blend(mut hits: Vec<Hit>, boosts: &HashMap<String, f32>) -> Vec<Hit> {
    if boosts.is_empty() {
        return hits;
    }
    for hit in &mut hits {
        if let Some(boost) = boosts.get(&hit.id) {
            hit.score *= 1.0 + BLEND_WEIGHT * boost.clamp(0.0, 1.0);
        }
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str, score: f32) -> Hit {
        Hit {
            id: id.into(),
            score,
            title: String::new(),
            snippet: String::new(),
            time: None,
            keywords: Vec::new(),
        }
    }

    fn order(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.id.as_str()).collect()
    }

    #[test]
    fn no_signal_keeps_the_index_order() {
        let ids = ["a", "b"];
        let boosts = NoSignal.boosts(&ids);
        let hits = blend(vec![hit("a", 1.0), hit("b", 2.0)], &boosts);
        assert_eq!(order(&hits), ["a", "b"]);
    }

    #[test]
    fn a_boost_settles_close_calls_only() {
        let boosts = HashMap::from([("b".to_string(), 1.0), ("c".to_string(), 1.0)]);
        let hits = blend(
            vec![hit("a", 10.0), hit("b", 9.0), hit("d", 3.0), hit("c", 1.0)],
            &boosts,
        );
        assert_eq!(order(&hits), ["b", "a", "d", "c"]);
    }

    #[test]
    fn counts_become_shares_of_the_most() {
        let boosts = relative(vec![("a".into(), 8), ("b".into(), 2), ("c".into(), 0)]);
        assert_eq!(boosts.len(), 2);
        assert_eq!(boosts["a"], 1.0);
        assert_eq!(boosts["b"], 0.25);
        assert!(relative(Vec::new()).is_empty());
    }
}
