//! The seam where popularity enters the order of related items.
//!
//! A [`Popularity`] source gives some items a boost (from 0: none, to 1:
//! the most popular), and [`blend`] multiplies each hit's score by
//! `1 + BLEND_WEIGHT × boost`, so relevance still leads and popularity
//! settles the close calls. Nothing feeds it yet: the analytics service
//! will (reads and clicks per item); until then [`current`] is
//! [`NoSignal`], every boost is absent and the index's order stands.

use std::collections::HashMap;

use folio_guest::search::Hit;

/// How much the most popular item's score is raised: by half.
const BLEND_WEIGHT: f32 = 0.5;

pub trait Popularity {
    /// Boosts in `0.0..=1.0` for those of `ids` that have one.
    fn boosts(&self, ids: &[&str]) -> HashMap<String, f32>;
}

/// No popularity signal: what there is until analytics feeds one.
pub struct NoSignal;

impl Popularity for NoSignal {
    fn boosts(&self, _ids: &[&str]) -> HashMap<String, f32> {
        HashMap::new()
    }
}

/// The source in use.
pub fn current() -> impl Popularity {
    NoSignal
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
        let boosts = current().boosts(&ids);
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
}
