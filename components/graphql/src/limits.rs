//! What one query may cost, checked before any service is called: its
//! text, its aliases, its depth (fragments expanded), the fields it
//! selects, and an estimate of the objects it can make the services load.

use std::collections::HashMap;

use graphql_parser::query::{Definition, Document, FragmentDefinition, Selection, SelectionSet};

use crate::document::Selected;
use crate::errors::{self, GraphqlError};

/// Query text, in bytes.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// A request body (query, variables and extensions), in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Fields nested in fields: `{ contents { items { title } } }` is 3 deep.
pub const MAX_DEPTH: usize = 8;
/// Aliases written in the document.
pub const MAX_ALIASES: usize = 30;
/// Fields selected, a fragment counted each time it is spread.
pub const MAX_FIELDS: usize = 300;
/// The estimate [`complexity`] computes.
pub const MAX_COMPLEXITY: u64 = 2000;
/// Root fields, each one chained call.
pub const MAX_ROOT_FIELDS: usize = 10;

pub fn check_size(query: &str) -> Result<(), GraphqlError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(GraphqlError::new(
            errors::QUERY_TOO_LARGE,
            format!(
                "the query is {} bytes; at most {MAX_QUERY_BYTES} are accepted",
                query.len()
            ),
        ));
    }
    Ok(())
}

pub fn check_aliases<'a>(doc: &Document<'a, &'a str>) -> Result<(), GraphqlError> {
    fn count<'a>(set: &SelectionSet<'a, &'a str>) -> usize {
        set.items
            .iter()
            .map(|item| match item {
                Selection::Field(f) => usize::from(f.alias.is_some()) + count(&f.selection_set),
                Selection::FragmentSpread(_) => 0,
                Selection::InlineFragment(i) => count(&i.selection_set),
            })
            .sum()
    }
    let total: usize = doc
        .definitions
        .iter()
        .map(|d| match d {
            Definition::Fragment(f) => count(&f.selection_set),
            Definition::Operation(op) => match op {
                graphql_parser::query::OperationDefinition::SelectionSet(s) => count(s),
                graphql_parser::query::OperationDefinition::Query(q) => count(&q.selection_set),
                graphql_parser::query::OperationDefinition::Mutation(m) => count(&m.selection_set),
                graphql_parser::query::OperationDefinition::Subscription(s) => {
                    count(&s.selection_set)
                }
            },
        })
        .sum();
    if total > MAX_ALIASES {
        return Err(GraphqlError::new(
            errors::ALIAS_LIMIT,
            format!("the query has {total} aliases; at most {MAX_ALIASES} are accepted"),
        ));
    }
    Ok(())
}

/// The depth of the operation with its fragments expanded, refused past
/// [`MAX_DEPTH`]; checked on the document as written, before it is
/// validated, so a deep query is refused as such whatever it names.
pub fn check_depth<'a>(
    set: &SelectionSet<'a, &'a str>,
    fragments: &HashMap<&'a str, &FragmentDefinition<'a, &'a str>>,
) -> Result<(), GraphqlError> {
    let mut memo = HashMap::new();
    let depth = depth_of(set, fragments, &mut memo, &mut Vec::new())?;
    if depth > MAX_DEPTH {
        return Err(GraphqlError::new(
            errors::DEPTH_LIMIT,
            format!("the query is {depth} fields deep; at most {MAX_DEPTH} are accepted"),
        )
        .with_extension("maxDepth", MAX_DEPTH.into()));
    }
    Ok(())
}

fn depth_of<'a>(
    set: &SelectionSet<'a, &'a str>,
    fragments: &HashMap<&'a str, &FragmentDefinition<'a, &'a str>>,
    memo: &mut HashMap<&'a str, usize>,
    spreading: &mut Vec<&'a str>,
) -> Result<usize, GraphqlError> {
    let mut deepest = 0;
    for item in &set.items {
        let d = match item {
            Selection::Field(f) => 1 + depth_of(&f.selection_set, fragments, memo, spreading)?,
            Selection::InlineFragment(i) => depth_of(&i.selection_set, fragments, memo, spreading)?,
            Selection::FragmentSpread(s) => {
                let name = s.fragment_name;
                if let Some(d) = memo.get(name) {
                    *d
                } else if spreading.contains(&name) {
                    return Err(GraphqlError::new(
                        errors::VALIDATION_FAILED,
                        format!("fragment `{name}` spreads itself"),
                    )
                    .at(s.position.line, s.position.column));
                } else if let Some(f) = fragments.get(name) {
                    spreading.push(name);
                    let d = depth_of(&f.selection_set, fragments, memo, spreading)?;
                    spreading.pop();
                    memo.insert(name, d);
                    d
                } else {
                    0 // unknown: validation says so
                }
            }
        };
        deepest = deepest.max(d);
        if deepest > MAX_DEPTH {
            break;
        }
    }
    Ok(deepest)
}

/// Each field costs 1 (`__typename` nothing); a list field, or a field
/// that takes a page size, multiplies what its selection costs by that
/// size (`first`, else the schema's estimate for the field).
pub fn complexity(fields: &[Selected]) -> u64 {
    fields
        .iter()
        .map(|f| match f.def {
            None => 0,
            Some(def) => {
                let items = f
                    .arg_i64("first")
                    .map_or(u64::from(def.cost_items), |n| n.max(0) as u64);
                1u64.saturating_add(items.saturating_mul(complexity(&f.children)))
            }
        })
        .fold(0u64, u64::saturating_add)
}

pub fn check_complexity(fields: &[Selected]) -> Result<(), GraphqlError> {
    let roots = fields.iter().filter(|f| f.def.is_some()).count();
    if roots > MAX_ROOT_FIELDS {
        return Err(GraphqlError::new(
            errors::FIELD_LIMIT,
            format!("the query has {roots} root fields; at most {MAX_ROOT_FIELDS} are accepted"),
        ));
    }
    let cost = complexity(fields);
    if cost > MAX_COMPLEXITY {
        return Err(GraphqlError::new(
            errors::COMPLEXITY_LIMIT,
            format!(
                "the query may cost {cost}; at most {MAX_COMPLEXITY} is accepted (each field 1, list fields times their page size: ask for fewer items or fields)"
            ),
        )
        .with_extension("cost", cost.into())
        .with_extension("maxCost", MAX_COMPLEXITY.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::document::prepare;

    fn code(query: &str) -> Option<&'static str> {
        prepare(query, None, &Map::new()).err().map(|e| e.code)
    }

    #[test]
    fn depth_counts_fields_through_fragments() {
        // 9 deep through parents: refused, before the schema is consulted.
        let deep = "{ categories { parent { parent { parent { parent { parent { parent { parent { name } } } } } } } } }";
        assert_eq!(code(deep), Some(errors::DEPTH_LIMIT));
        let unknown_deep = "{ a { b { c { d { e { f { g { h { i } } } } } } } } }";
        assert_eq!(code(unknown_deep), Some(errors::DEPTH_LIMIT));
        let through_fragments = "{ categories { ...P } } fragment P on Category { parent { parent { ...Q } } } fragment Q on Category { parent { parent { parent { parent { parent { id } } } } } }";
        assert_eq!(code(through_fragments), Some(errors::DEPTH_LIMIT));
        let eight = "{ categories { parent { parent { parent { parent { parent { parent { name } } } } } } } }";
        assert_eq!(code(eight), None);
    }

    #[test]
    fn complexity_multiplies_lists_by_page_size() {
        let op = prepare(
            "{ contents(first: 10) { items { title author { firstName } } } }",
            None,
            &Map::new(),
        )
        .unwrap();
        // contents 1 + 10 × (items 1 + 1 × (title 1 + author (1 + firstName 1)))
        assert_eq!(complexity(&op.fields), 1 + 10 * (1 + (1 + 2)));
        let media = prepare("{ contents { items { media { id } } } }", None, &Map::new()).unwrap();
        // first defaults to 20, media is estimated at 10 per item.
        assert_eq!(complexity(&media.fields), 1 + 20 * (1 + (1 + 10)));
        assert_eq!(
            code(
                "{ contents(first: 100) { items { id title body media { id url: contentUrl } categories { name } } } }"
            ),
            Some(errors::COMPLEXITY_LIMIT)
        );
        let typename_is_free = prepare(
            "{ __typename tags(first: 3) { tag __typename } }",
            None,
            &Map::new(),
        )
        .unwrap();
        assert_eq!(complexity(&typename_is_free.fields), 1 + 3);
    }

    #[test]
    fn size_aliases_fields_and_roots_are_bounded() {
        let big = format!("{{ me {{ id }} }} #{}", "x".repeat(MAX_QUERY_BYTES));
        assert_eq!(code(&big), Some(errors::QUERY_TOO_LARGE));
        let aliases: String = (0..31).map(|i| format!("a{i}: __typename ")).collect();
        assert_eq!(code(&format!("{{ {aliases} }}")), Some(errors::ALIAS_LIMIT));
        // A fragment bomb: 4^5 fields once expanded.
        let bomb = "{ me { ...A } } fragment A on User { ...B ...B ...B ...B } fragment B on User { ...C ...C ...C ...C } fragment C on User { ...D ...D ...D ...D } fragment D on User { ...E ...E ...E ...E } fragment E on User { id email firstName lastName }";
        assert_eq!(code(bomb), Some(errors::FIELD_LIMIT));
        let roots: String = (0..11)
            .map(|i| format!("c{i}: content(id: \"{i}\") {{ id }} "))
            .collect();
        assert_eq!(code(&format!("{{ {roots} }}")), Some(errors::FIELD_LIMIT));
    }
}
