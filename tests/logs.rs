//! What guests print reaches the host's log as JSON lines, bounded.

use folio_tests::{Host, client, fixtures_manifest};
use serde_json::Value;

fn guest_lines(host: &Host, request_id: &str) -> Vec<Value> {
    host.logs()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["requestId"] == request_id && line["data"]["stream"].is_string())
        .collect()
}

fn assert_every_line_is_json(host: &Host) {
    for line in host.logs() {
        assert!(
            serde_json::from_str::<Value>(&line).is_ok_and(|v| v.is_object()),
            "a raw line on the host's stdout: {line}"
        );
    }
}

#[tokio::test]
async fn guest_stdout_and_stderr_become_log_lines_of_the_request() {
    let host = Host::start(&fixtures_manifest(&[]));
    let response = client()
        .get(host.url("/fx/print?text=hello%20from%20the%20guest"))
        .header("x-request-id", "test-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let stdout =
        host.wait_for_log(|v| v["requestId"] == "test-123" && v["data"]["stream"] == "stdout");
    assert_eq!(stdout["service"], "fixtures");
    assert_eq!(stdout["level"], "info");
    assert_eq!(stdout["message"], "hello from the guest");
    // The fixture leaves its stderr line unterminated: it is logged when the instance ends.
    let stderr =
        host.wait_for_log(|v| v["requestId"] == "test-123" && v["data"]["stream"] == "stderr");
    assert_eq!(stderr["service"], "fixtures");
    assert_eq!(stderr["level"], "warn");
    assert_eq!(stderr["message"], "hello from the guest");

    let handled =
        host.wait_for_log(|v| v["requestId"] == "test-123" && v["message"] == "request handled");
    for line in [&stdout, &stderr] {
        assert_eq!(line["traceId"], handled["traceId"]);
        assert_eq!(line["spanId"], handled["spanId"]);
    }
    assert_eq!(guest_lines(&host, "test-123").len(), 2);
    assert_every_line_is_json(&host);
}

#[tokio::test]
async fn a_guest_panic_is_logged_as_a_stderr_line() {
    let host = Host::start(&fixtures_manifest(&[]));
    let response = client()
        .get(host.url("/fx/trap"))
        .header("x-request-id", "test-trap")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    host.wait_for_log(|v| {
        v["requestId"] == "test-trap"
            && v["data"]["stream"] == "stderr"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("fixture asked to trap"))
    });
    assert_every_line_is_json(&host);
}

#[tokio::test]
async fn a_guest_that_floods_its_output_is_cut_off_at_one_mebibyte() {
    let host = Host::start(&fixtures_manifest(&[]));
    let line = "x".repeat(1000);
    let response = client()
        .get(host.url(&format!("/fx/print?text={line}&times=2000")))
        .header("x-request-id", "test-flood")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the guest runs on");

    let notice = host.wait_for_log(|v| {
        v["requestId"] == "test-flood" && v["message"] == "guest output truncated"
    });
    assert_eq!(notice["level"], "warn");
    assert_eq!(notice["service"], "fixtures");
    host.wait_for_log(|v| v["requestId"] == "test-flood" && v["message"] == "request handled");
    let lines = guest_lines(&host, "test-flood");
    let notices = lines
        .iter()
        .filter(|v| v["message"] == "guest output truncated")
        .count();
    assert_eq!(notices, 1);
    // 1 MiB holds 1047 whole lines of 1001 bytes, then the one the cap cut.
    assert_eq!(lines.len(), 1047 + 1 + 1, "{:?}", lines.last());
    assert!(lines.iter().all(|v| v["data"]["stream"] == "stdout"));
    assert_every_line_is_json(&host);
}
