//! Which topics a component may publish to: its `publishes` grant in
//! spin.toml (`[component.NAME.tool.folio]`), checked on every publish, in a
//! transaction or not, and again by the relay.

use crate::valid_topic;

/// Exact topic names, `prefix.*` (every topic below `prefix.`), or `*`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicGrants {
    patterns: Vec<String>,
}

impl TopicGrants {
    pub fn parse(patterns: &[String]) -> Result<TopicGrants, String> {
        for pattern in patterns {
            let name = pattern.strip_suffix(".*").unwrap_or(pattern.as_str());
            if pattern != "*" && !valid_topic(name) {
                return Err(format!(
                    "`{pattern}` is not a topic (1-249 letters, digits, `.`, `_`, `-`), `prefix.*` or `*`"
                ));
            }
        }
        Ok(TopicGrants {
            patterns: patterns.to_vec(),
        })
    }

    /// Grants every topic (the host's own publishing, and tests).
    pub fn any() -> TopicGrants {
        TopicGrants {
            patterns: vec!["*".into()],
        }
    }

    pub fn allows(&self, topic: &str) -> bool {
        self.patterns.iter().any(|p| {
            p == "*"
                || p == topic
                || p.strip_suffix('*')
                    .is_some_and(|prefix| prefix.ends_with('.') && topic.starts_with(prefix))
        })
    }

    /// The `not-allowed` message for `topic`.
    pub fn refusal(topic: &str) -> String {
        format!(
            "topic `{topic}` is not granted to this component ([component.NAME.tool.folio] publishes)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_prefix_and_any() {
        let grants = TopicGrants::parse(&["folio.media".into(), "jobs.*".into()]).unwrap();
        assert!(grants.allows("folio.media"));
        assert!(grants.allows("jobs.images"));
        assert!(!grants.allows("folio.media.av-jobs"));
        assert!(!grants.allows("jobs"));
        assert!(!grants.allows("jobsx.a"));
        assert!(!TopicGrants::default().allows("anything"));
        assert!(TopicGrants::any().allows("anything"));
        assert!(TopicGrants::parse(&["a b".into()]).is_err());
        assert!(TopicGrants::parse(&["a*".into()]).is_err());
    }
}
