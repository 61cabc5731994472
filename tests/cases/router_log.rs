//! The route log's format and files: every line `route --log` writes matches the published
//! JSON Schema (schema/route-log.schema.json), and a rotated log (daily or by size) is read by
//! `monitor` as one set.

use std::io::Write;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::common::*;

fn schema() -> Value {
    serde_json::from_str(&read(&repo().join("schema/route-log.schema.json"))).unwrap()
}

/// `route --jsonl` over the offline MT-bench table, fed `stdin`; extra arguments after.
fn route(dir: &std::path::Path, stdin: &str, extra: &[&str]) -> std::process::Output {
    let routes = repo().join("datasets/mt-bench/routes.toml");
    let mut child = bin()
        .args(["route", "--routes", routes.to_str().unwrap()])
        .args(["--jsonl", "--json", "--no-cache"])
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A router that refuses its arguments exits before reading: the pipe may be closed.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child.wait_with_output().unwrap()
}

/// The first `n` MT-bench items as `route --jsonl` lines (prompts and conversations).
fn requests(n: usize) -> String {
    read_jsonl(&repo().join("datasets/mt-bench/dataset.jsonl"))
        .into_iter()
        .take(n)
        .map(|v| {
            let line = match v.get("messages") {
                Some(m) => json!({"id": v["id"], "messages": m}),
                None => json!({"id": v["id"], "prompt": v["prompt"]}),
            };
            line.to_string() + "\n"
        })
        .collect()
}

#[test]
fn every_route_log_line_matches_the_published_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Answered prompts and conversations, and a prompt no recording answers (a failed line).
    let input = requests(6) + &json!({"id": "x", "prompt": "Not in the recording."}).to_string();
    let o = route(d, &(input.clone() + "\n"), &["--log", "plain.jsonl"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "one request failed: {}",
        stderr(&o)
    );
    let o = route(
        d,
        &(input + "\n"),
        &["--log", "full.jsonl", "--log-prompts"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = schema();
    let mut lines = read_jsonl(&d.join("plain.jsonl"));
    lines.extend(read_jsonl(&d.join("full.jsonl")));
    assert_eq!(lines.len(), 14);
    for l in &lines {
        let errors = crate::common::schema::errors(&v, l);
        assert!(errors.is_empty(), "{l}: {errors:?}");
    }
    // The lines exercise the optional fields the schema describes.
    assert!(lines.iter().any(|l| l["error_kind"] == "not_recorded"));
    assert!(lines.iter().any(|l| l["messages"].is_array()));
    assert!(lines.iter().any(|l| l["prompt"].is_string()));
    // The schema is strict enough to catch a broken line.
    let good = lines[0].clone();
    let mut broken = Vec::new();
    for (field, value) in [
        ("ts", json!("yesterday")),
        ("prompt_sha256", json!("abc")),
        ("task", json!("poetry")),
        ("cost_usd", json!(-1.0)),
        ("error_kind", json!("oops")),
        ("unknown", json!(1)),
    ] {
        let mut l = good.clone();
        l[field] = value;
        broken.push(l);
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("latency_ms");
    broken.push(missing);
    let mut both = good.clone();
    both["prompt"] = "p".into();
    both["messages"] = json!([{"role": "user", "content": "p"}]);
    broken.push(both);
    for l in broken {
        assert!(
            !crate::common::schema::errors(&v, &l).is_empty(),
            "accepted: {l}"
        );
    }
}

fn monitor_csv(dir: &std::path::Path, logs: &[&str]) -> String {
    let o = run_in(dir, &[&["monitor", "--format", "csv"], logs].concat());
    assert!(
        matches!(o.status.code(), Some(0 | 3)),
        "{logs:?}: {}",
        stderr(&o)
    );
    stdout(&o)
}

#[test]
fn a_log_rotated_by_size_or_day_is_read_by_monitor_as_one_set() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let input = requests(40);
    // By size: every file under the limit, every request in one of them.
    ok(&route(
        d,
        &input,
        &[
            "--log",
            "logs/routes.jsonl",
            "--log-rotate",
            "4KiB",
            "--log-prompts",
        ],
    ));
    let mut files: Vec<_> = std::fs::read_dir(d.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let mut all = String::new();
    for f in &files {
        // A line longer than the limit (a long conversation) makes a file of its own.
        let text = read(f);
        assert!(text.len() <= 4096 || text.lines().count() == 1, "{f:?}");
        all.push_str(&text);
    }
    assert_eq!(all.lines().count(), 40);
    std::fs::write(d.join("all.jsonl"), &all).unwrap();
    let set = monitor_csv(d, &["logs/routes*.jsonl"]);
    assert_eq!(set, monitor_csv(d, &["all.jsonl"]));
    assert!(set.contains("overall,all,,40,"), "{set}");
    // dataset from-log reads the set too: every distinct request once.
    let o = run_in(
        d,
        &[
            "dataset",
            "from-log",
            "logs/routes*.jsonl",
            "--sample",
            "100",
            "-o",
            "next.jsonl",
        ],
    );
    ok(&o);
    assert_eq!(read_jsonl(&d.join("next.jsonl")).len(), 40);
    // Daily: the file of today's UTC date.
    ok(&route(
        d,
        &requests(3),
        &["--log", "daily/routes.jsonl", "--log-rotate", "daily"],
    ));
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let day = d.join(format!("daily/routes-{today}.jsonl"));
    assert_eq!(read(&day).lines().count(), 3, "{day:?}");
    assert!(!d.join("daily/routes.jsonl").exists());
    assert!(monitor_csv(d, &["daily/routes-*.jsonl"]).contains("overall,all,,3,"));
    // A bad rotation is a usage error before anything is routed.
    let o = route(
        d,
        &requests(1),
        &["--log", "x.jsonl", "--log-rotate", "weekly"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("weekly"), "{}", stderr(&o));
    assert!(!d.join("x.jsonl").exists());
}
