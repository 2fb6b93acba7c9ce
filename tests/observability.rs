//! Metrics, logs, request ids and trace context.

use folio_tests::{Host, client, fixtures_manifest};

#[tokio::test]
async fn a_request_is_logged_once_with_its_request_and_trace_ids() {
    let host = Host::start(&fixtures_manifest(&[]));
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = client()
        .get(host.url("/fx/headers"))
        .header("x-request-id", "req-obs-1")
        .header("traceparent", traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-obs-1");
    let echoed: serde_json::Value = response.json().await.unwrap();
    // The guest sees the same trace, with the host's span as parent.
    let guest_tp = echoed["traceparent"].as_str().unwrap();
    assert!(
        guest_tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{guest_tp}"
    );
    assert!(!guest_tp.contains("00f067aa0ba902b7"));
    assert_eq!(echoed["x-request-id"], "req-obs-1");

    let line = host.wait_for_log(|v| v["requestId"] == "req-obs-1");
    assert_eq!(line["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(line["level"], "info");
    assert_eq!(line["service"], "fixtures");
    assert_eq!(line["data"]["status"], 200);
    assert_eq!(line["data"]["route"], "/fx/...");
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(line["spanId"].as_str().unwrap().len(), 16);
    let count = host
        .logs()
        .iter()
        .filter(|l| l.contains("\"requestId\":\"req-obs-1\""))
        .count();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn requests_without_ids_get_fresh_ones() {
    let host = Host::start(&fixtures_manifest(&[]));
    let a = client().get(host.url("/exact")).send().await.unwrap();
    let b = client().get(host.url("/exact")).send().await.unwrap();
    let id_a = a.headers()["x-request-id"].to_str().unwrap().to_string();
    let id_b = b.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id_a.len(), 32);
    assert_ne!(id_a, id_b);
    let tp = a.headers()["traceparent"].to_str().unwrap();
    assert_eq!(tp.len(), 55, "{tp}");
}

#[tokio::test]
async fn metrics_count_requests_errors_and_instantiations() {
    let host = Host::start(&fixtures_manifest(&[]));
    let client = client();
    for _ in 0..3 {
        client.get(host.url("/fx/counter")).send().await.unwrap();
    }
    client.get(host.url("/fx/trap")).send().await.unwrap();
    let read_metrics = || async {
        let response = client.get(host.url("/_folio/metrics")).send().await;
        response.unwrap().text().await.unwrap()
    };
    let metrics = read_metrics().await;
    assert!(
        metrics.contains(
            "folio_http_requests_total{route=\"/fx/...\",component=\"fixtures\",method=\"GET\",status=\"200\"} 3"
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        "folio_http_request_errors_total{route=\"/fx/...\",component=\"fixtures\",kind=\"guest-trap\"} 1"
    ));
    assert!(metrics.contains(
        "folio_http_request_duration_seconds_count{route=\"/fx/...\",component=\"fixtures\"} 4"
    ));
    assert!(
        metrics.contains("folio_instantiation_duration_seconds_count{component=\"fixtures\"} 4")
    );
    // An instance is released just after its answer is sent: on a busy
    // machine the gauge may still count one for a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let metrics = read_metrics().await;
        if metrics.contains("folio_instances_in_flight 0") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let host = Host::start(&fixtures_manifest(&[]));
    for path in ["/_folio/health", "/_folio/ready"] {
        let response = client().get(host.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn readiness_names_the_backend_that_does_not_answer() {
    let up = Host::start(&fixtures_manifest(&[]));
    let response = client().get(up.url("/_folio/ready")).send().await.unwrap();
    assert_eq!(response.status(), 200);

    // A Kafka event log at a port nothing listens on: the host starts (the
    // log connects lazily) but is not ready, and says why.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (down, _dir) = folio_tests::start_with_runtime_config(
        &fixtures_manifest(&[]),
        Some(&format!(
            "[event_log]\ntype = \"kafka\"\nbrokers = \"127.0.0.1:{closed_port}\"\n"
        )),
    );
    let response = client()
        .get(down.url("/_folio/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable", "{body}");
    assert!(body["failing"]["event-log"].is_string(), "{body}");
    assert!(body["failing"].get("sql").is_none(), "{body}");
    let health = client()
        .get(down.url("/_folio/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "liveness does not depend on backends");
}

#[tokio::test]
async fn metrics_can_require_a_bearer_token() {
    let (host, _dir) = folio_tests::start_with_runtime_config(
        &fixtures_manifest(&[]),
        Some("[metrics]\nbearer_token = \"scrape-me-please\"\n"),
    );
    let metrics = |token: Option<&'static str>| {
        let mut request = client().get(host.url("/_folio/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let refused = metrics(None).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        metrics(Some("scrape-me-pleasE")).await.unwrap().status(),
        401
    );
    let allowed = metrics(Some("scrape-me-please")).await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(allowed.text().await.unwrap().contains("folio_"));
}

#[tokio::test]
async fn an_unknown_runtime_config_table_stops_start_up() {
    let (code, stderr) = folio_tests::start_failure_with_runtime_config(
        &fixtures_manifest(&[]),
        "[sqlite_databse.default]\ntype = \"sqlite\"\n",
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("sqlite_databse"), "{stderr}");
}

/// OpenTelemetry export: a real OTLP/HTTP collector (decoding with the
/// OpenTelemetry project's protobuf classes) receives a span per request,
/// per event delivery and per chained call, linked as one trace: writing an
/// item (the request, continuing the caller's `traceparent`) publishes an
/// event whose delivery to the search service is the request's child, and
/// the search service's chained call to the content service for the item is
/// the delivery's child. Counters arrive as cumulative sums.
#[tokio::test(flavor = "multi_thread")]
async fn otlp_traces_link_a_request_its_event_and_a_chained_call() {
    use folio_tests::notifications::Helper;
    use folio_tests::search::{fresh_group, start_search_with};
    use folio_tests::services::{Api, unique};
    use serde_json::{Value, json};
    use std::time::{Duration, Instant};

    let collector = Helper::start("otlp_receiver.py", &[]);
    let port = collector.ready["port"].as_u64().unwrap();
    let config = format!(
        "[rate_limits]\nexempt = [\"127.0.0.1\"]\n\n[telemetry]\n\
         otlp_endpoint = \"http://127.0.0.1:{port}\"\nservice_name = \"folio-test\"\n\
         traces_interval_ms = 200\nmetrics_interval_ms = 500\n"
    );
    let run = unique();
    let id = format!("otel{}", &run[run.len() - 6..]);
    let (host, _dir) = start_search_with(&id, &fresh_group(&id), None, &[], true, &config).await;
    let api = Api { host: &host };
    let (admin, _) = api
        .login(
            folio_tests::BOOTSTRAP_ADMIN_EMAIL,
            folio_tests::BOOTSTRAP_ADMIN_PASSWORD,
        )
        .await;
    let trace_id = format!("{run:0>32}");
    let caller_span = "00f067aa0ba902b7";
    let r = client()
        .post(host.url("/api/v1/content"))
        .bearer_auth(&admin)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&json!({"title": "Traced", "type": "article", "body": "<p>Spans.</p>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let fetch = |path: &'static str| async move {
        client()
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap()
    };
    let attr = |s: &Value, k: &str| s["attributes"][k].as_str().unwrap_or_default().to_string();
    let content = format!("{id}-content");
    let search = format!("{id}-search");
    let deadline = Instant::now() + Duration::from_secs(30);
    let (request, delivery, chained) = loop {
        let spans: Vec<Value> = fetch("/spans")
            .await
            .into_iter()
            .filter(|s| s["traceId"] == trace_id.as_str())
            .collect();
        let request = spans
            .iter()
            .find(|s| s["kind"] == 2 && s["parentSpanId"] == caller_span)
            .cloned();
        let delivery = request.as_ref().and_then(|r| {
            spans
                .iter()
                .find(|s| {
                    s["kind"] == 5
                        && s["parentSpanId"] == r["spanId"]
                        && attr(s, "folio.component") == search
                })
                .cloned()
        });
        let chained = delivery.as_ref().and_then(|d| {
            spans
                .iter()
                .find(|s| s["parentSpanId"] == d["spanId"] && attr(s, "folio.caller") == search)
                .cloned()
        });
        if let (Some(r), Some(d), Some(c)) = (request, delivery, chained) {
            break (r, d, c);
        }
        assert!(
            Instant::now() < deadline,
            "the linked spans did not arrive; trace {trace_id}: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let route = attr(&request, "http.route");
    assert!(route.starts_with("/api/v1/content"), "{request}");
    assert_eq!(request["name"], format!("POST {route}"), "{request}");
    assert_eq!(attr(&request, "url.path"), "/api/v1/content");
    assert_eq!(attr(&request, "folio.component"), content);
    assert_eq!(request["attributes"]["http.response.status_code"], 201);
    assert_eq!(request["resource"]["service.name"], "folio-test");
    assert_eq!(request["status"], 1, "ok: {request}");
    assert_eq!(
        attr(&delivery, "messaging.destination.name"),
        "folio.content"
    );
    assert_eq!(attr(&chained, "folio.component"), content);
    assert_eq!(chained["kind"], 2);
    // The adapter calls the request made: database spans, its children.
    let spans = fetch("/spans").await;
    let sql: Vec<&Value> = spans
        .iter()
        .filter(|s| s["kind"] == 3 && s["parentSpanId"] == request["spanId"])
        .collect();
    assert!(
        sql.iter()
            .any(|s| s["name"] == "sql commit" && attr(s, "db.system.name") == "sqlite"),
        "no database spans under the request: {sql:#?}"
    );
    // And the search index calls the event's delivery made.
    let indexed = spans.iter().find(|s| {
        s["kind"] == 3 && s["parentSpanId"] == delivery["spanId"] && s["name"] == "search upsert"
    });
    let indexed =
        indexed.unwrap_or_else(|| panic!("no search upsert under the delivery: {spans:#?}"));
    assert_eq!(attr(indexed, "folio.system"), "tantivy");
    assert_eq!(attr(indexed, "folio.target"), "content");
    for s in [&request, &delivery, &chained] {
        assert!(s["endNs"].as_u64() >= s["startNs"].as_u64(), "{s}");
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let points = fetch("/metrics").await;
        let created = points.iter().any(|p| {
            p["name"] == "folio_http_requests_total"
                && p["kind"] == "sum"
                && p["monotonic"] == true
                && p["attributes"]["http.response.status_code"] == "201"
                && p["value"].as_i64() >= Some(1)
        });
        // Durations arrive as cumulative histograms: a count per bucket
        // and one for values above the last bound.
        let timed = points.iter().any(|p| {
            let counts: Vec<u64> = p["bucketCounts"]
                .as_array()
                .map(|c| c.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            p["name"] == "folio_http_request_duration_seconds"
                && p["kind"] == "histogram"
                && p["cumulative"] == true
                && p["attributes"]["folio.component"] == content.as_str()
                && p["count"].as_u64() >= Some(1)
                && counts.iter().sum::<u64>() == p["count"].as_u64().unwrap_or(0)
                && counts.len() == p["bounds"].as_array().map_or(0, Vec::len) + 1
        });
        if created && timed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no request counter or duration histogram: {points:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Requests that miss the same public list page together compute it once:
/// two dozen concurrent anonymous requests for a page nobody asked for yet
/// make one list query between them (the others wait for its answer in the
/// key-value store), as the database spans over OTLP show, and all of them
/// get the same page.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_misses_of_a_public_list_fill_it_once() {
    use folio_tests::notifications::Helper;
    use folio_tests::search::{fresh_group, start_search_with};
    use folio_tests::services::unique;
    use serde_json::Value;
    use std::time::{Duration, Instant};

    let collector = Helper::start("otlp_receiver.py", &[]);
    let port = collector.ready["port"].as_u64().unwrap();
    let config = format!(
        "[rate_limits]\nexempt = [\"127.0.0.1\"]\n\n[telemetry]\n\
         otlp_endpoint = \"http://127.0.0.1:{port}\"\ntraces_interval_ms = 200\n"
    );
    let run = unique();
    let id = format!("sf{}", &run[run.len() - 6..]);
    let (host, _dir) = start_search_with(&id, &fresh_group(&id), None, &[], true, &config).await;
    let trace_prefix = format!("{:0>16}", &run[run.len() - 8..]);
    let path = format!("/api/v1/content?limit=7&q=single-flight-{run}");
    let requests = (0..24).map(|i| {
        let (url, trace) = (host.url(&path), format!("{trace_prefix}{i:016x}"));
        async move {
            let response = client()
                .get(url)
                .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    });
    let bodies = futures_util::future::join_all(requests).await;
    assert!(bodies.iter().all(|b| *b == bodies[0]), "different pages");

    let list_queries = || async {
        let spans: Vec<Value> = client()
            .get(format!("http://127.0.0.1:{port}/spans"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ours = |s: &&Value| {
            s["traceId"]
                .as_str()
                .is_some_and(|t| t.starts_with(&trace_prefix))
        };
        let requests = spans.iter().filter(ours).filter(|s| s["kind"] == 2).count();
        let queries = spans
            .iter()
            .filter(ours)
            .filter(|s| {
                s["attributes"]["db.query.text"]
                    .as_str()
                    .is_some_and(|q| q.contains("FROM content WHERE") && q.contains("ORDER BY"))
            })
            .count();
        (requests, queries)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let (requests, queries) = loop {
        let (requests, queries) = list_queries().await;
        if requests == 24 {
            break (requests, queries);
        }
        assert!(Instant::now() < deadline, "{requests} request spans of 24");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        queries, 1,
        "{requests} concurrent misses made {queries} list queries"
    );
}
