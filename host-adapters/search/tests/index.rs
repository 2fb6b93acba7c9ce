//! The index on its own: relevance, typos, prefixes, phrases, facets,
//! versions, deletion, rebuilds and reopening.

use folio_search_index::{Document, SearchIndex, SearchQuery, Sort, WriterSettings};
use std::time::Duration;

fn settings() -> WriterSettings {
    WriterSettings {
        threads: 1,
        memory_bytes: 16 << 20,
        commit_interval: Duration::from_millis(20),
    }
}

fn doc(
    id: &str,
    version: i64,
    title: &str,
    body: &str,
    keywords: &[(&str, &str)],
    time: i64,
) -> Document {
    Document {
        id: id.into(),
        version,
        title: title.into(),
        body: body.into(),
        keywords: keywords
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect(),
        time: Some(time),
    }
}

fn query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        limit: 10,
        facet_limit: 10,
        ..SearchQuery::default()
    }
}

async fn ids(index: &SearchIndex, q: SearchQuery) -> Vec<String> {
    index
        .search(q)
        .await
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.id)
        .collect()
}

async fn corpus(index: &SearchIndex) {
    index
        .upsert(vec![
            doc(
                "a",
                1,
                "Gardening in winter",
                "Frost protects nothing; mulch does. Winter gardening tips.",
                &[
                    ("type", "article"),
                    ("tag", "garden"),
                    ("status", "published"),
                ],
                1_000,
            ),
            doc(
                "b",
                1,
                "Kubernetes operators",
                "Writing operators for clusters of Wasmtime hosts.",
                &[
                    ("type", "article"),
                    ("tag", "cloud"),
                    ("status", "published"),
                ],
                2_000,
            ),
            doc(
                "c",
                1,
                "Podcast: winter stories",
                "Stories told by the fire about gardens in the snow.",
                &[("type", "podcast"), ("tag", "garden"), ("status", "draft")],
                3_000,
            ),
        ])
        .await
        .unwrap();
}

#[tokio::test]
async fn finds_by_words_typos_prefixes_and_phrases() {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(dir.path(), settings()).unwrap();
    corpus(&index).await;

    assert_eq!(ids(&index, query("kubernetes")).await, ["b"]);
    // Stemming: "gardens" finds "gardening" and "gardens".
    let mut found = ids(&index, query("gardens ")).await;
    found.sort();
    assert_eq!(found, ["a", "c"]);
    // One typo from 5 letters, two from 9.
    assert_eq!(ids(&index, query("kubernetis ")).await, ["b"]);
    assert_eq!(ids(&index, query("operatros ")).await, ["b"]);
    assert!(ids(&index, query("opxxxtors ")).await.is_empty());
    // The last word is a prefix while it is being typed.
    assert_eq!(ids(&index, query("wasmt")).await, ["b"]);
    assert!(ids(&index, query("wasmt ")).await.is_empty());
    // Phrases match in order only.
    assert_eq!(ids(&index, query(r#""winter stories""#)).await, ["c"]);
    assert!(ids(&index, query(r#""stories winter""#)).await.is_empty());
    // Title matches rank above body matches.
    assert_eq!(ids(&index, query("winter ")).await[0], "a");
    // Query syntax is just words.
    assert!(ids(&index, query("title:kubernetes OR *")).await.is_empty());

    let results = index
        .search(SearchQuery {
            snippet_chars: 80,
            ..query("mulch ")
        })
        .await
        .unwrap();
    assert!(
        results.hits[0].snippet.contains("<mark>mulch</mark>"),
        "{}",
        results.hits[0].snippet
    );
}

#[tokio::test]
async fn facets_count_under_the_other_filters() {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(dir.path(), settings()).unwrap();
    corpus(&index).await;
    let results = index
        .search(SearchQuery {
            filters: vec![vec![("type".into(), "article".into())]],
            facets: vec!["type".into(), "tag".into()],
            sort: Sort::NewestFirst,
            ..query("")
        })
        .await
        .unwrap();
    assert_eq!(results.total, 2);
    assert_eq!(
        results
            .hits
            .iter()
            .map(|h| h.id.as_str())
            .collect::<Vec<_>>(),
        ["b", "a"]
    );
    let facet = |name: &str| {
        results
            .facets
            .iter()
            .find(|(f, _)| f == name)
            .unwrap()
            .1
            .clone()
    };
    // `type` ignores its own filter; `tag` counts within articles.
    let mut types = facet("type");
    types.sort();
    assert_eq!(
        types,
        [("article".to_string(), 2), ("podcast".to_string(), 1)]
    );
    let mut tags = facet("tag");
    tags.sort();
    assert_eq!(tags, [("cloud".to_string(), 1), ("garden".to_string(), 1)]);

    // Any of a clause's pairs; the `id` field names documents.
    let visible = vec![vec![
        ("status".into(), "published".into()),
        ("id".into(), "c".into()),
    ]];
    let mut all = ids(
        &index,
        SearchQuery {
            filters: visible,
            ..query("")
        },
    )
    .await;
    all.sort();
    assert_eq!(all, ["a", "b", "c"]);
    let drafts_hidden = vec![vec![("status".into(), "published".into())]];
    assert!(
        !ids(
            &index,
            SearchQuery {
                filters: drafts_hidden,
                ..query("stories")
            }
        )
        .await
        .contains(&"c".to_string())
    );
}

#[tokio::test]
async fn old_versions_never_come_back_and_deletes_stick() {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(dir.path(), settings()).unwrap();
    corpus(&index).await;
    index
        .upsert(vec![doc("b", 3, "Kubernetes controllers", "", &[], 2_000)])
        .await
        .unwrap();
    index
        .upsert(vec![doc("b", 2, "Kubernetes operators", "", &[], 2_000)])
        .await
        .unwrap();
    let hits = index.search(query("kubernetes")).await.unwrap().hits;
    assert_eq!(hits[0].title, "Kubernetes controllers");

    index.delete(vec!["a".into()], 5).await.unwrap();
    index
        .upsert(vec![doc("a", 4, "Frost in winter", "", &[], 1)])
        .await
        .unwrap();
    assert!(ids(&index, query("frost")).await.is_empty());
    index
        .upsert(vec![doc("a", 6, "Frost restored", "", &[], 1)])
        .await
        .unwrap();
    assert_eq!(ids(&index, query("frost")).await, ["a"]);

    // Reopened, it has what was committed and still knows the versions.
    drop(index);
    let index = SearchIndex::open(dir.path(), settings()).unwrap();
    assert_eq!(index.documents(), 3);
    index
        .upsert(vec![doc("b", 1, "stale", "", &[], 1)])
        .await
        .unwrap();
    assert!(ids(&index, query("stale")).await.is_empty());
}

#[tokio::test]
async fn a_rebuild_swaps_in_whole_and_keeps_concurrent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(dir.path(), settings()).unwrap();
    corpus(&index).await;
    let rebuild = index.begin_rebuild().await.unwrap();
    index
        .rebuild_upsert(
            &rebuild,
            vec![doc("a", 1, "Gardening in winter", "", &[], 1)],
        )
        .await
        .unwrap();
    // A write during the rebuild reaches both generations, and the rebuild's
    // older copy of it does not win.
    index
        .upsert(vec![doc("d", 2, "Fresh news", "", &[], 1)])
        .await
        .unwrap();
    index
        .rebuild_upsert(&rebuild, vec![doc("d", 1, "Stale news", "", &[], 1)])
        .await
        .unwrap();
    // The live generation answers until the swap.
    assert_eq!(index.documents(), 4);
    assert_eq!(index.finish_rebuild(&rebuild).await.unwrap(), 2);
    assert_eq!(index.documents(), 2);
    assert_eq!(ids(&index, query("fresh")).await, ["d"]);
    assert!(ids(&index, query("kubernetes")).await.is_empty());
    assert!(index.finish_rebuild(&rebuild).await.is_err());

    drop(index);
    let index = SearchIndex::open(dir.path(), settings()).unwrap();
    assert_eq!(index.documents(), 2);
    let generations = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("g-")
        })
        .count();
    assert_eq!(generations, 1);
}

#[tokio::test]
async fn suggestions_and_related_items() {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(dir.path(), settings()).unwrap();
    corpus(&index).await;
    let found = index.suggest("garde".into(), vec![], 5).await.unwrap();
    assert_eq!(
        found,
        [("a".to_string(), "Gardening in winter".to_string())]
    );
    let found = index
        .suggest("podcast: win".into(), vec![], 5)
        .await
        .unwrap();
    assert_eq!(found[0].0, "c");

    let related = index
        .more_like_this("a".into(), vec!["tag".into()], vec![], 5)
        .await
        .unwrap();
    assert_eq!(related.first().map(|h| h.id.as_str()), Some("c"));
    assert!(related.iter().all(|h| h.id != "a"));
    let published_only = vec![vec![("status".into(), "published".into())]];
    let related = index
        .more_like_this("a".into(), vec!["tag".into()], published_only, 5)
        .await
        .unwrap();
    assert!(related.iter().all(|h| h.id != "c"));
}

#[tokio::test]
async fn bad_arguments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(dir.path(), settings()).unwrap();
    assert!(index.search(query(&"x".repeat(600))).await.is_err());
    assert!(
        index
            .search(SearchQuery {
                limit: 1000,
                ..query("x")
            })
            .await
            .is_err()
    );
    assert!(
        index
            .search(SearchQuery {
                facets: vec!["no such!".into()],
                ..query("x")
            })
            .await
            .is_err()
    );
    assert!(
        index
            .upsert(vec![doc("x", 1, "t", "b", &[("bad field", "v")], 1)])
            .await
            .is_err()
    );
    assert!(index.rebuild_upsert("g-nope", vec![]).await.is_err());
}
