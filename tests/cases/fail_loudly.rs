//! A run that measures nothing fails loudly: an endpoint refusing calls (`auth`,
//! `quota_exhausted`) stops and exits 1 naming the cause, `--fail-on-error` exits 1 after the
//! reports, warnings reach `--json`, and `run --resume --retry-errors` makes failed calls again.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::common::server::{Reply, Request, Server};
use crate::common::*;

const KEY: &str = "sk-fail-loudly-test-0c4e2a9d";
const KEY_ENV: &str = "ROUTECAL_TEST_FAIL_LOUDLY_KEY";

fn answer(r: &Request) -> Reply {
    let model = r.json()["model"].as_str().unwrap_or("").to_string();
    Reply::json(
        200,
        json!({"id":"c1","object":"chat.completion","created":1795636911,"model":model,
            "choices":[{"index":0,"message":{"role":"assistant","content":"the answer"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":30,"completion_tokens":5,"total_tokens":35}}),
    )
}

fn item_number(r: &Request) -> usize {
    let p = r.json()["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_string();
    p.split("Question q")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A keywords classifier and two live candidates, `items` items.
fn suite(url: &str, items: usize, concurrency: usize) -> tempfile::TempDir {
    let endpoint = format!("max_concurrency = {concurrency}\nmax_attempts = 1\ntimeout_s = 10");
    openai_suite(url, KEY_ENV, &endpoint, items)
}

fn routecal(dir: &Path, key: &str, args: &[&str]) -> Output {
    bin()
        .args(args)
        .current_dir(dir)
        .env(KEY_ENV, key)
        .output()
        .unwrap()
}

const RUN: &[&str] = &[
    "run",
    "--routes",
    "routes.toml",
    "--dataset",
    "dataset.jsonl",
    "--out",
    "reports",
];

fn with(base: &[&'static str], extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = base.to_vec();
    v.extend_from_slice(extra);
    v
}

fn json_out(o: &Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[test]
fn a_revoked_key_stops_its_endpoint_exits_1_and_a_retry_with_the_right_key_completes() {
    let server = Server::start(|r: &Request| {
        if r.header("authorization") == Some(&format!("Bearer {KEY}")) {
            answer(r)
        } else {
            Reply::json(
                401,
                json!({"error": {"message": "invalid api key", "type": "invalid_request_error"}}),
            )
        }
    });
    let suite = suite(&server.url(), 30, 2);
    let dir = suite.path();
    let o = routecal(dir, "sk-revoked-key-123456", &with(RUN, &["--json"]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("endpoint api refused calls (auth)"), "{err}");
    assert!(err.contains("--retry-errors"), "{err}");
    // Only the calls already in flight were made, not the 60 planned.
    let made = server.requests().len();
    assert!(made <= 2, "{made} calls made after the first 401");
    let out = json_out(&o);
    assert_eq!(out["status"], "partial");
    let failures = out["failures"].as_array().unwrap();
    assert!(
        failures
            .iter()
            .any(|f| f.as_str().unwrap().contains("auth")),
        "{out}"
    );
    assert!(
        out["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("calls failed")),
        "{out}"
    );
    let rd = only_run_dir(&dir.join("reports"));
    // report --json carries the same warnings.
    let rep = routecal(dir, KEY, &["report", rd.to_str().unwrap(), "--json"]);
    ok(&rep);
    assert!(
        json_out(&rep)["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("auth")),
        "{}",
        stdout(&rep)
    );

    // The key fixed: a plain resume makes the calls never started; --retry-errors also the failed ones.
    let o = routecal(
        dir,
        KEY,
        &[
            "run",
            "--resume",
            rd.to_str().unwrap(),
            "--quiet",
            "--retry-errors",
        ],
    );
    ok(&o);
    let m = manifest(&rd);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["totals"]["errors"], 0);
    let ok_calls = server
        .requests()
        .iter()
        .filter(|r| r.header("authorization") == Some(&format!("Bearer {KEY}")))
        .count();
    assert_eq!(ok_calls, 60, "each planned call answered once");
    let results = read_csv(&rd.join("results.csv"));
    assert!(
        results.iter().all(|r| r["ok"] == "true"),
        "the latest attempt counts"
    );
    // The journal keeps every attempt.
    let journal = read(&rd.join("journal.jsonl"));
    assert_eq!(journal.matches("\"error_kind\":\"auth\"").count(), made);
}

#[test]
fn every_call_failing_never_exits_0_even_with_the_highest_fail_on_error() {
    let server = Server::start(|_: &Request| Reply::json(500, json!({"error": "upstream down"})));
    let suite = suite(&server.url(), 5, 2);
    for extra in [&[][..], &["--fail-on-error", "1"][..]] {
        let o = routecal(suite.path(), KEY, &with(&with(RUN, &["--quiet"]), extra));
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("5 of 5 calls failed"), "{}", stderr(&o));
    }
}

#[test]
fn fail_on_error_exits_1_after_writing_the_reports_and_retry_errors_makes_only_failed_calls_again()
{
    // q0..q2 of acme/beta fail once (3 of 10 calls, 30%).
    let healed = Arc::new(AtomicBool::new(false));
    let h = healed.clone();
    let server = Server::start(move |r: &Request| {
        let beta = r.json()["model"] == "beta";
        if beta && item_number(r) < 3 && !h.load(Ordering::SeqCst) {
            Reply::json(500, json!({"error": "overloaded"}))
        } else {
            answer(r)
        }
    });
    let suite = suite(&server.url(), 10, 2);
    let dir = suite.path();
    let o = routecal(dir, KEY, &with(RUN, &["--quiet"]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("acme/beta (candidate): 3 of 10 calls failed (30%: server 3)"),
        "{err}"
    );
    assert!(err.contains("--fail-on-error 20%"), "{err}");
    let rd = only_run_dir(&dir.join("reports"));
    assert!(
        rd.join("report.md").is_file(),
        "the reports are written first"
    );
    assert_eq!(manifest(&rd)["status"], "complete");

    // A higher threshold passes the same run.
    let second = suite_copy(dir);
    let o = routecal(
        second.path(),
        KEY,
        &with(RUN, &["--quiet", "--fail-on-error", "0.5"]),
    );
    ok(&o);

    // A plain resume makes nothing; --retry-errors makes the three failed calls, once.
    healed.store(true, Ordering::SeqCst);
    let before = server.requests().len();
    let o = routecal(
        dir,
        KEY,
        &["run", "--resume", rd.to_str().unwrap(), "--quiet"],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "the errors remain: {}",
        stderr(&o)
    );
    assert_eq!(server.requests().len(), before);
    let o = routecal(
        dir,
        KEY,
        &[
            "run",
            "--resume",
            rd.to_str().unwrap(),
            "--quiet",
            "--retry-errors",
        ],
    );
    ok(&o);
    assert_eq!(server.requests().len(), before + 3);
    let results = read_csv(&rd.join("results.csv"));
    assert_eq!(results.len(), 20);
    assert!(results.iter().all(|r| r["ok"] == "true"));
    assert_eq!(manifest(&rd)["totals"]["errors"], 0);
}

/// A copy of a suite's inputs in a fresh folder.
fn suite_copy(dir: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["routes.toml", "dataset.jsonl"] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    tmp
}

#[test]
fn an_exhausted_quota_stops_only_its_own_endpoint() {
    let server = Server::start(|r: &Request| {
        if r.path.starts_with("/broke/") {
            Reply::json(
                402,
                json!({"error": "payment required: your credit balance is too low"}),
            )
        } else {
            answer(r)
        }
    });
    let suite = suite(&server.url(), 12, 2);
    let dir = suite.path();
    let routes = read(&dir.join("routes.toml")).replace(
        "[default]",
        &format!(
            "[endpoints.broke]\nkind = \"openai\"\nbase_url = \"{}/broke/v1\"\napi_key_env = \"{KEY_ENV}\"\nmax_concurrency = 2\n\n\
             [models.\"acme/gamma\"]\nendpoint = \"broke\"\ntier = \"frontier\"\ninput_per_mtok = 5.0\noutput_per_mtok = 6.0\n\n[default]",
            server.url()
        ),
    );
    std::fs::write(dir.join("routes.toml"), routes).unwrap();
    let o = routecal(dir, KEY, &with(RUN, &["--quiet"]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("endpoint broke refused calls (quota_exhausted)"),
        "{err}"
    );
    assert!(!err.contains("endpoint api refused"), "{err}");
    let (broke, api): (Vec<Request>, Vec<Request>) = server
        .requests()
        .into_iter()
        .partition(|r| r.path.starts_with("/broke/"));
    assert!(
        broke.len() <= 2,
        "{} calls after the first 402",
        broke.len()
    );
    assert_eq!(api.len(), 24, "the other endpoint made every call");
    assert_eq!(
        manifest(&only_run_dir(&dir.join("reports")))["status"],
        "partial"
    );
}

#[test]
fn fail_on_error_takes_a_share_or_a_percentage() {
    let suite = suite("http://127.0.0.1:9", 2, 1);
    let dir = suite.path();
    for bad in ["1.5", "150%", "some"] {
        let o = routecal(dir, KEY, &with(RUN, &["--dry-run", "--fail-on-error", bad]));
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("share"), "{bad}: {}", stderr(&o));
    }
    for good in ["0", "0.05", "5%", "100%"] {
        let o = routecal(
            dir,
            KEY,
            &with(RUN, &["--dry-run", "--fail-on-error", good]),
        );
        ok(&o);
    }
}
