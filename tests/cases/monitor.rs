//! `monitor` alerts on what goes wrong in production: error rates per cell, model and provider,
//! and any `auth` or `quota_exhausted` error at all (a revoked key must not read "No alerts");
//! it shows every cell the classifier produced; and the router's log keeps the primary's error
//! kind when the primary and the fallback both fail.

use serde_json::json;

use crate::common::server::{Reply, Request, Server};
use crate::common::*;

fn completion(model: &str, text: &str) -> Reply {
    Reply::json(
        200,
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        }),
    )
}

/// The classifier says `code quality`; the primary is overloaded (503); the fallback's key
/// was revoked (401).
fn handler(r: &Request) -> Reply {
    match r.json()["model"].as_str().unwrap_or("") {
        "clf" => completion("clf", "code quality"),
        "alpha" => Reply::json(503, json!({"error": {"message": "overloaded"}})),
        _ => Reply::json(401, json!({"error": {"message": "invalid api key"}})),
    }
}

fn routes(url: &str) -> String {
    format!(
        r#"[classifier]
model = "acme/clf"

[endpoints.api]
kind = "openai"
base_url = "{url}/v1"
timeout_s = 2
max_attempts = 1

[models."acme/clf"]
endpoint = "api"
tier = "budget"
candidate = false
input_per_mtok = 0.1
output_per_mtok = 0.2

[models."acme/alpha"]
endpoint = "api"
tier = "frontier"
input_per_mtok = 3.0
output_per_mtok = 15.0

[models."other/beta"]
endpoint = "api"
tier = "frontier"
input_per_mtok = 2.5
output_per_mtok = 10.0

[default]
primary = "acme/alpha"

[routes.code.quality]
primary = "acme/alpha"
fallback = "other/beta"
"#
    )
}

#[test]
fn when_primary_and_fallback_both_fail_the_log_keeps_both_kinds_and_monitor_alerts() {
    let server = Server::start(handler);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("routes.toml"), routes(&server.url())).unwrap();
    let o = run_in(
        d,
        &[
            "route",
            "--routes",
            "routes.toml",
            "--json",
            "--no-cache",
            "--log",
            "routes.jsonl",
            "Fix this function",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let log = read_jsonl(&d.join("routes.jsonl"));
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["fallback_used"], true);
    assert_eq!(log[0]["ok"], false);
    assert_eq!(log[0]["error_kind"], "auth", "the fallback's");
    assert_eq!(log[0]["primary_error_kind"], "server", "the primary's");

    // One request is far below --min-requests, but an auth error alerts at any count.
    let o = run_in(d, &["monitor", "routes.jsonl"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("ALERT: 1 auth error from model other/beta (provider other)"),
        "{out}"
    );
    // The primary's failure is counted against the primary, with its kind.
    let o = run_in(d, &["monitor", "routes.jsonl", "--min-requests", "1"]);
    let out = stdout(&o);
    assert!(
        out.contains("ALERT: error rate of model acme/alpha is 100.0% over 1 calls (threshold 5.0%): 1 server"),
        "{out}"
    );
}

/// A log line as the router writes it.
fn line(cell: &str, task: &str, prio: &str, ok: bool, kind: Option<&str>) -> String {
    let mut v = json!({"ts": "2026-11-24T10:00:00Z", "prompt_sha256": "x", "task": task,
        "priority": prio, "cell": cell, "primary": "openai/gpt-5.2", "routed_to": "openai/gpt-5.2",
        "fallback_used": false, "ok": ok, "cost_usd": 0.0, "latency_ms": 80.0,
        "classifier_cache_hit": false, "classifier_parse_miss": false});
    if let Some(k) = kind {
        v["error_kind"] = k.into();
    }
    v.to_string() + "\n"
}

#[test]
fn a_log_of_auth_errors_alerts_and_every_real_cell_has_its_row() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("routes.jsonl");
    let mut body = String::new();
    for i in 0..80 {
        body.push_str(&match i % 4 {
            0 => line("code.quality", "code", "quality", false, Some("auth")),
            1 => line("default", "math", "latency", false, Some("auth")),
            2 => line("default", "creative", "quality", false, Some("auth")),
            _ => line("default", "factual", "default", false, Some("auth")),
        });
    }
    std::fs::write(&log, body).unwrap();
    let o = run_in(tmp.path(), &["monitor", log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "ALERT: 80 auth errors from model openai/gpt-5.2 (provider openai) in 80 calls"
        ),
        "{out}"
    );
    for scope in [
        "cell code.quality",
        "model openai/gpt-5.2",
        "provider openai",
    ] {
        assert!(
            out.contains(&format!("ALERT: error rate of {scope} is 100.0%")),
            "{scope}: {out}"
        );
    }

    let o = run_in(
        tmp.path(),
        &["monitor", log.to_str().unwrap(), "--format", "csv"],
    );
    let csv_path = tmp.path().join("m.csv");
    std::fs::write(&csv_path, stdout(&o)).unwrap();
    let rows = read_csv(&csv_path);
    let cells: Vec<&str> = rows
        .iter()
        .filter(|r| r["scope"] == "cell")
        .map(|r| r["key"].as_str())
        .collect();
    assert_eq!(
        cells,
        [
            "code.quality",
            "creative.quality (→ default)",
            "factual.default (→ default)",
            "math.latency (→ default)"
        ]
    );
    let model = rows
        .iter()
        .find(|r| r["scope"] == "model" && r["key"] == "openai/gpt-5.2")
        .unwrap();
    assert_eq!(model["requests"], "80");
    assert_eq!(model["error_rate"], "1");
    assert!(model["alert"].contains("auth"), "{model:?}");
}

#[test]
fn a_classifier_key_that_fails_is_logged_and_alerts_although_requests_are_answered() {
    let server = Server::start(
        |r: &Request| match r.json()["model"].as_str().unwrap_or("") {
            "clf" => Reply::json(401, json!({"error": {"message": "invalid api key"}})),
            m => completion(m, "an answer"),
        },
    );
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("routes.toml"), routes(&server.url())).unwrap();
    let o = run_in(
        d,
        &[
            "route",
            "--routes",
            "routes.toml",
            "--no-cache",
            "--log",
            "routes.jsonl",
            "Fix this function",
        ],
    );
    ok(&o);
    let log = read_jsonl(&d.join("routes.jsonl"));
    assert_eq!(log[0]["ok"], true);
    assert_eq!(log[0]["classifier_parse_miss"], true);
    assert_eq!(log[0]["classifier_error_kind"], "auth");
    let o = run_in(d, &["monitor", "routes.jsonl"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("ALERT: 1 auth error from the classifier in 1 calls"),
        "{}",
        stdout(&o)
    );
}
