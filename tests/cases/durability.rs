//! Runs that stay honest under faults: no piece of a key in anything written or printed, a
//! journal that cannot be written stops the calls, a run.json that says what really happened,
//! and a graceful stop on SIGTERM/SIGINT.

use std::path::Path;

use serde_json::json;

use crate::common::server::{Reply, Request, Server};
use crate::common::*;

const LEAK_KEY: &str = "sk-leak-Q7vX2mPz9LwR4tYb8NcK3hJd6FgS1aE5";
const LEAK_ENV: &str = "ROUTECAL_TEST_LEAK_KEY";

/// The longest run of `key`'s bytes found in `hay`.
fn longest_key_run(hay: &[u8], key: &str) -> usize {
    let k = key.as_bytes();
    let mut best = 0;
    for i in 0..k.len() {
        for j in (i + best + 1)..=k.len() {
            if hay.windows(j - i).any(|w| w == &k[i..j]) {
                best = j - i;
            } else {
                break;
            }
        }
    }
    best
}

/// Every file under `dir` (recursively) with the longest key run it holds.
fn key_runs_in(dir: &Path, key: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(key_runs_in(&p, key));
        } else {
            let n = longest_key_run(&std::fs::read(&p).unwrap(), key);
            out.push((p.display().to_string(), n));
        }
    }
    out
}

/// The padding a prompt asks for: prompts say `pad=N`.
fn pad_of(r: &Request) -> usize {
    let b = r.json();
    let prompt = b["messages"][0]["content"].as_str().unwrap_or("");
    prompt
        .split("pad=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A server that repeats the caller's Authorization header inside every kind of failure,
/// after `pad=N` characters, so that any cut at 100–320 characters falls inside the key.
fn echoing_server() -> Server {
    Server::start(|r: &Request| {
        let auth = r.header("authorization").unwrap_or("").to_string();
        let text = format!("{} Authorization: {auth} (echoed)", "p".repeat(pad_of(r)));
        let model = r.json()["model"].as_str().unwrap_or("").to_string();
        let sse = |data: String| Reply::Events {
            chunks: vec![(std::time::Duration::ZERO, format!("data: {data}\n\n"))],
            cut: false,
        };
        match model.as_str() {
            "text400" => Reply::text(400, &text),
            "json500" => Reply::json(
                500,
                json!({"error": {"message": text, "type": "server_error"}}),
            ),
            "notjson" => Reply::text(200, &text),
            "badshape" => Reply::json(200, json!({"unexpected": text})),
            "sseerr" => sse(json!({"error": {"message": text}}).to_string()),
            _ => sse(format!("{text} (not json)")),
        }
    })
}

fn leak_routes(url: &str) -> String {
    let mut s = format!(
        r#"[classifier]
model = "builtin/keywords"

[endpoints.kw]
kind = "keywords"

[endpoints.plain]
kind = "openai"
base_url = "{url}/v1"
api_key_env = "{LEAK_ENV}"
max_attempts = 1
max_concurrency = 4

[endpoints.sse]
kind = "openai"
base_url = "{url}/v1"
api_key_env = "{LEAK_ENV}"
stream = true
max_attempts = 1
max_concurrency = 4

[models."builtin/keywords"]
endpoint = "kw"
tier = "budget"
"#
    );
    for (m, ep) in [
        ("text400", "plain"),
        ("json500", "plain"),
        ("notjson", "plain"),
        ("badshape", "plain"),
        ("sseerr", "sse"),
        ("ssebad", "sse"),
    ] {
        s.push_str(&format!(
            "\n[models.\"acme/{m}\"]\nendpoint = \"{ep}\"\ntier = \"budget\"\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n"
        ));
    }
    s.push_str("\n[default]\nprimary = \"acme/text400\"\nfallback = \"acme/sseerr\"\n");
    s
}

#[test]
fn no_run_of_six_key_characters_reaches_any_output_on_any_error_path() {
    let server = echoing_server();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("routes.toml"), leak_routes(&server.url())).unwrap();
    // Paddings that put each of the cuts (120, 160 and 300 characters, and others) inside the key.
    let pads = (60..=330).step_by(7);
    let lines: String = pads
        .enumerate()
        .map(|(i, p)| {
            json!({"id": format!("q{i}"), "prompt": format!("Question {i}: pad={p}"),
                "task_type": "factual", "priority": "quality",
                "grader": {"kind": "contains", "any": ["x"]}})
            .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(dir.join("dataset.jsonl"), lines).unwrap();
    let run = bin()
        .args([
            "run",
            "--routes",
            "routes.toml",
            "--dataset",
            "dataset.jsonl",
        ])
        .args(["--out", "reports", "--record", "rec.jsonl", "--json"])
        .current_dir(dir)
        .env(LEAK_ENV, LEAK_KEY)
        .output()
        .unwrap();
    let mut outputs: Vec<(String, Vec<u8>)> = vec![
        ("run stdout".into(), run.stdout.clone()),
        ("run stderr".into(), run.stderr.clone()),
    ];
    for pad in [100, 118, 157, 290, 297] {
        let o = bin()
            .args(["route", "--routes", "routes.toml", "--json", "--no-cache"])
            .args(["--log", "route.log", &format!("Question: pad={pad}")])
            .current_dir(dir)
            .env(LEAK_ENV, LEAK_KEY)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        outputs.push((format!("route {pad} stdout"), o.stdout));
        outputs.push((format!("route {pad} stderr"), o.stderr));
    }
    let journal = read(&only_run_dir(&dir.join("reports")).join("journal.jsonl"));
    assert!(
        journal.contains("[redacted]"),
        "the server did echo the key"
    );
    let mut leaks: Vec<(String, usize)> = outputs
        .iter()
        .map(|(what, bytes)| (what.clone(), longest_key_run(bytes, LEAK_KEY)))
        .collect();
    leaks.extend(
        key_runs_in(dir, LEAK_KEY)
            .into_iter()
            .filter(|(p, _)| !p.ends_with("routes.toml")),
    );
    let bad: Vec<_> = leaks.iter().filter(|(_, n)| *n >= 6).collect();
    assert!(bad.is_empty(), "key pieces found: {bad:?}");
}
