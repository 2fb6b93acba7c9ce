//! What a user typed, turned into engine queries by hand: words and quoted
//! phrases are read here and never given to tantivy's query parser, so no
//! input is query syntax.

use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, PhraseQuery, Query,
    RangeQuery, TermQuery,
};
use tantivy::schema::{Facet, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;

use crate::schema::{Fields, stemmed_analyzer, tokens, words_analyzer};

/// Longest text a query may have, in bytes.
pub const MAX_TEXT_BYTES: usize = 512;
/// Words and phrases past this many are ignored.
const MAX_PARTS: usize = 16;
const TITLE_BOOST: f32 = 3.0;
const TYPO_WEIGHT: f32 = 0.4;
const PREFIX_WEIGHT: f32 = 0.6;

/// A filter clause: any of these (field, value) pairs; `id` names documents.
pub type AnyOf = Vec<(String, String)>;

/// The user's text, read: words, phrases, and whether the last word may
/// still be growing (no space or quote after it).
#[derive(Debug, Default, PartialEq)]
pub struct ParsedText {
    pub words: Vec<String>,
    pub phrases: Vec<Vec<String>>,
    pub last_word_is_prefix: bool,
}

/// Splits `text` into words and "quoted phrases"; a quote left open is
/// read as plain words.
pub fn parse_text(text: &str) -> ParsedText {
    let mut parsed = ParsedText::default();
    let mut words = words_analyzer();
    let quotes = text.matches('"').count();
    let closed = quotes - quotes % 2;
    let mut seen_quotes = 0;
    let mut in_phrase = false;
    let mut current = String::new();
    let mut flush = |chunk: &str, phrase: bool, parsed: &mut ParsedText| {
        let found = tokens(&mut words, chunk);
        if phrase {
            if found.len() > 1 {
                parsed.phrases.push(found);
            } else {
                parsed.words.extend(found);
            }
        } else {
            parsed.words.extend(found);
        }
    };
    for c in text.chars() {
        if c == '"' && seen_quotes < closed {
            seen_quotes += 1;
            flush(&current, in_phrase, &mut parsed);
            current.clear();
            in_phrase = !in_phrase;
        } else {
            current.push(c);
        }
    }
    let trailing_word =
        !current.is_empty() && current.chars().last().is_some_and(|c| c.is_alphanumeric());
    flush(&current, false, &mut parsed);
    parsed.last_word_is_prefix = trailing_word && !parsed.words.is_empty();
    parsed.words.truncate(MAX_PARTS);
    parsed.phrases.truncate(MAX_PARTS);
    parsed
}

/// Edits tolerated in a word of this many characters (Meilisearch's rule).
pub fn typos_allowed(word: &str) -> u8 {
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
}

fn boosted(query: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(query, boost))
}

fn any(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(
        queries.into_iter().map(|q| (Occur::Should, q)).collect(),
    ))
}

/// Stems one already-lowercased word.
fn stem(analyzer: &mut TextAnalyzer, word: &str) -> Option<String> {
    tokens(analyzer, word).into_iter().next()
}

/// A prefix shorter than this matches its word only: a one- or two-letter
/// prefix expands to thousands of words, each a posting list to merge.
const MIN_PREFIX_CHARS: usize = 3;

/// Whether a broad query could find more than the exact one: a word long
/// enough for a typo, or a last word long enough to be a prefix.
pub fn can_broaden(text: &str) -> bool {
    let parsed = parse_text(text);
    let prefix = parsed.last_word_is_prefix
        && parsed
            .words
            .last()
            .is_some_and(|w| w.chars().count() >= MIN_PREFIX_CHARS);
    prefix || parsed.words.iter().any(|w| typos_allowed(w) > 0)
}

/// The query for what the user typed (every word and phrase must match; the
/// last word also as a prefix of title words), and the stemmed terms a
/// snippet should highlight. A `broad` query also forgives typos and takes
/// the last word as a prefix of body words: the two expansions that cost
/// most (the body's vocabulary is large).
pub fn text_query(fields: &Fields, text: &str, broad: bool) -> (Box<dyn Query>, Vec<String>) {
    let parsed = parse_text(text);
    if parsed.words.is_empty() && parsed.phrases.is_empty() {
        return (Box::new(AllQuery), Vec::new());
    }
    let mut stemmer = stemmed_analyzer();
    let mut highlight = Vec::new();
    let mut required: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let last = parsed.words.len().saturating_sub(1);
    for (i, word) in parsed.words.iter().enumerate() {
        let Some(stemmed) = stem(&mut stemmer, word) else {
            continue;
        };
        highlight.push(stemmed.clone());
        let title = Term::from_field_text(fields.title, &stemmed);
        let body = Term::from_field_text(fields.body, &stemmed);
        let mut alternatives = vec![
            boosted(term_query(title.clone()), TITLE_BOOST),
            term_query(body.clone()),
        ];
        let allowed = if broad { typos_allowed(word) } else { 0 };
        if allowed > 0 {
            alternatives.push(boosted(
                Box::new(FuzzyTermQuery::new(
                    Term::from_field_text(fields.title_words, word),
                    allowed,
                    true,
                )),
                TITLE_BOOST * TYPO_WEIGHT,
            ));
            alternatives.push(boosted(
                Box::new(FuzzyTermQuery::new(
                    Term::from_field_text(fields.body_words, word),
                    allowed,
                    true,
                )),
                TYPO_WEIGHT,
            ));
        }
        if i == last && parsed.last_word_is_prefix && word.chars().count() >= MIN_PREFIX_CHARS {
            alternatives.push(boosted(
                Box::new(FuzzyTermQuery::new_prefix(
                    Term::from_field_text(fields.title_words, word),
                    0,
                    true,
                )),
                TITLE_BOOST * PREFIX_WEIGHT,
            ));
            if broad {
                alternatives.push(boosted(
                    Box::new(FuzzyTermQuery::new_prefix(
                        Term::from_field_text(fields.body_words, word),
                        0,
                        true,
                    )),
                    PREFIX_WEIGHT,
                ));
            }
        }
        required.push((Occur::Must, any(alternatives)));
    }
    for phrase in &parsed.phrases {
        let stems: Vec<String> = phrase
            .iter()
            .filter_map(|w| stem(&mut stemmer, w))
            .collect();
        if stems.is_empty() {
            continue;
        }
        highlight.extend(stems.iter().cloned());
        let in_field = |field| -> Box<dyn Query> {
            let terms: Vec<Term> = stems
                .iter()
                .map(|s| Term::from_field_text(field, s))
                .collect();
            match terms.len() {
                1 => term_query(terms.into_iter().next().expect("one term")),
                _ => Box::new(PhraseQuery::new(terms)),
            }
        };
        required.push((
            Occur::Must,
            any(vec![
                boosted(in_field(fields.title), TITLE_BOOST),
                in_field(fields.body),
            ]),
        ));
    }
    if required.is_empty() {
        return (Box::new(AllQuery), highlight);
    }
    (Box::new(BooleanQuery::new(required)), highlight)
}

/// A keyword value as a facet term: `/field/value`.
pub fn keyword_facet(field: &str, value: &str) -> Facet {
    Facet::from_path([field, value])
}

/// The document-matching part of a filter clause; scores nothing.
pub fn clause_query(fields: &Fields, clause: &AnyOf) -> Box<dyn Query> {
    let alternatives = clause
        .iter()
        .map(|(field, value)| {
            let term = if field == "id" {
                Term::from_field_text(fields.id, value)
            } else {
                Term::from_facet(fields.keywords, &keyword_facet(field, value))
            };
            term_query(term)
        })
        .collect();
    Box::new(ConstScoreQuery::new(any(alternatives), 0.0))
}

pub fn time_query(fields: &Fields, from: Option<i64>, to: Option<i64>) -> Option<Box<dyn Query>> {
    if from.is_none() && to.is_none() {
        return None;
    }
    let bound = |v: Option<i64>| match v {
        Some(v) => Bound::Included(Term::from_field_i64(fields.time, v)),
        None => Bound::Unbounded,
    };
    Some(Box::new(ConstScoreQuery::new(
        Box::new(RangeQuery::new(bound(from), bound(to))),
        0.0,
    )))
}

/// `scored` restricted by every clause (and the time range).
pub fn filtered(
    fields: &Fields,
    scored: Box<dyn Query>,
    clauses: &[&AnyOf],
    time: Option<Box<dyn Query>>,
) -> Box<dyn Query> {
    if clauses.is_empty() && time.is_none() {
        return scored;
    }
    let mut all = vec![(Occur::Must, scored)];
    all.extend(
        clauses
            .iter()
            .map(|clause| (Occur::Must, clause_query(fields, clause))),
    );
    all.extend(time.map(|t| (Occur::Must, t)));
    Box::new(BooleanQuery::new(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_words_phrases_and_stray_quotes() {
        let p = parse_text(r#"rust "wasm components" fast"#);
        assert_eq!(p.words, ["rust", "fast"]);
        assert_eq!(
            p.phrases,
            [vec!["wasm".to_string(), "components".to_string()]]
        );
        assert!(p.last_word_is_prefix);

        let p = parse_text(r#"open "quote never closed"#);
        assert_eq!(p.words, ["open", "quote", "never", "closed"]);
        assert!(p.phrases.is_empty());

        let p = parse_text("finished ");
        assert!(!p.last_word_is_prefix);
        let p = parse_text("title:foo AND bar* OR (baz");
        assert_eq!(p.words, ["title", "foo", "and", "bar", "or", "baz"]);
    }

    #[test]
    fn typo_budget_grows_with_word_length() {
        assert_eq!(typos_allowed("rust"), 0);
        assert_eq!(typos_allowed("tokio"), 1);
        assert_eq!(typos_allowed("ownership"), 2);
    }
}
