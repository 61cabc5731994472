//! The router on the command line, offline: keyword classifier, replayed answers, the route log,
//! monitoring and sampling the log into a dataset.

use std::io::Write;
use std::process::Stdio;

use crate::common::*;

/// The first `n` single-prompt items (turn 1) of the MT-bench suite: (id, prompt).
fn mt_prompts(n: usize) -> Vec<(String, String)> {
    read_jsonl(&repo().join("datasets/mt-bench/dataset.jsonl"))
        .into_iter()
        .filter(|v| v["prompt"].is_string())
        .take(n)
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                v["prompt"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn route_stdin(cwd: &std::path::Path, args: &[&str], input: &str) -> std::process::Output {
    let mut child = bin()
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn routes_a_prompt_to_the_recorded_answer_of_the_cell_model() {
    let tmp = tempfile::tempdir().unwrap();
    let routes = repo().join("datasets/mt-bench/routes.toml");
    let (_, prompt) = mt_prompts(1).remove(0);
    let o = run_in(
        tmp.path(),
        &[
            "route",
            "--routes",
            routes.to_str().unwrap(),
            "--json",
            "--no-cache",
            &prompt,
        ],
    );
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let model = v["routed_to"].as_str().unwrap();
    let recorded = read_jsonl(&repo().join("datasets/mt-bench/recording.jsonl"))
        .into_iter()
        .find(|r| r["model"] == model && r["prompt_sha256"] == sha256(&prompt))
        .unwrap();
    assert_eq!(v["answer"], recorded["response"]);
    assert_eq!(v["fell_back"], false);
    assert!(v["cost_usd"].as_f64().unwrap() > 0.0);
}

/// The first `n` items of the MT-bench suite as `route --jsonl` requests: (id, the line's
/// object, with `prompt` for turn 1 and `messages` for turn 2).
fn mt_requests(n: usize) -> Vec<(String, serde_json::Value)> {
    read_jsonl(&repo().join("datasets/mt-bench/dataset.jsonl"))
        .into_iter()
        .take(n)
        .map(|v| {
            let id = v["id"].as_str().unwrap().to_string();
            let line = match v.get("messages") {
                Some(m) => serde_json::json!({"id": id, "messages": m}),
                None => serde_json::json!({"id": id, "prompt": v["prompt"]}),
            };
            (id, line)
        })
        .collect()
}

#[test]
fn routes_a_conversation_to_the_recorded_answer_of_its_turns() {
    let tmp = tempfile::tempdir().unwrap();
    let routes = repo().join("datasets/mt-bench/routes.toml");
    let (_, line) = mt_requests(2).remove(1);
    let o = route_stdin(
        tmp.path(),
        &[
            "route",
            "--routes",
            routes.to_str().unwrap(),
            "--jsonl",
            "--json",
            "--no-cache",
        ],
        &format!("{line}\n"),
    );
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let model = v["routed_to"].as_str().unwrap();
    let key = sha256(&line["messages"].to_string());
    let recorded = read_jsonl(&repo().join("datasets/mt-bench/recording.jsonl"))
        .into_iter()
        .find(|r| r["model"] == model && r["prompt_sha256"] == key.as_str())
        .expect("the conversation's recorded answer");
    assert_eq!(v["answer"], recorded["response"]);
}

#[test]
fn log_monitor_and_dataset_from_log() {
    let tmp = tempfile::tempdir().unwrap();
    let routes = repo().join("datasets/mt-bench/routes.toml");
    let log = tmp.path().join("routes.log");
    // Both turns of 20 questions: prompts and conversations.
    let prompts = mt_requests(40);
    let input: String = prompts
        .iter()
        .map(|(_, line)| line.to_string() + "\n")
        .collect();
    let o = route_stdin(
        tmp.path(),
        &[
            "route",
            "--routes",
            routes.to_str().unwrap(),
            "--jsonl",
            "--json",
            "--log",
            log.to_str().unwrap(),
            "--log-prompts",
            "--cache",
            "c.jsonl",
        ],
        &input,
    );
    ok(&o);
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 40);
    for (i, (id, _)) in prompts.iter().enumerate() {
        let l = lines.iter().find(|l| l["id"] == id.as_str()).unwrap();
        assert_eq!(l["line"], i + 1, "each answer names its id and input line");
    }
    let logged = read_jsonl(&log);
    assert_eq!(logged.len(), 40);
    assert!(
        logged
            .iter()
            .all(|r| (r["prompt"].is_string() || r["messages"].is_array()) && r["ok"] == true)
    );

    // The same prompts again: every classification comes from the cache.
    let o = route_stdin(
        tmp.path(),
        &[
            "route",
            "--routes",
            routes.to_str().unwrap(),
            "--jsonl",
            "--json",
            "--cache",
            "c.jsonl",
        ],
        &input,
    );
    ok(&o);
    assert!(stdout(&o).lines().all(
        |l| serde_json::from_str::<serde_json::Value>(l).unwrap()["classifier_cache_hit"] == true
    ));

    let o = run_in(
        tmp.path(),
        &["monitor", log.to_str().unwrap(), "--format", "csv"],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "no fallback, no alert: {}",
        stdout(&o)
    );
    let csv_path = tmp.path().join("m.csv");
    std::fs::write(&csv_path, stdout(&o)).unwrap();
    let rows = read_csv(&csv_path);
    let overall = rows.iter().find(|r| r["scope"] == "overall").unwrap();
    assert_eq!(overall["requests"], "40");
    assert_eq!(overall["fallback_rate"], "0");
    let o = run_in(
        tmp.path(),
        &["monitor", log.to_str().unwrap(), "--format", "markdown"],
    );
    assert!(
        stdout(&o).starts_with("### Router monitor: 40 requests"),
        "{}",
        stdout(&o)
    );

    let out = tmp.path().join("next.jsonl");
    let o = run_in(
        tmp.path(),
        &[
            "dataset",
            "from-log",
            log.to_str().unwrap(),
            "--sample",
            "12",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    ok(&o);
    let items = read_jsonl(&out);
    assert_eq!(items.len(), 12);
    // Each sampled item is a prompt or a conversation that was routed, as it was sent.
    let sent: Vec<&serde_json::Value> = prompts.iter().map(|(_, l)| l).collect();
    assert!(items.iter().all(|i| {
        let same = |l: &&serde_json::Value| match i.get("messages") {
            Some(m) => l["messages"] == *m,
            None => l["prompt"] == i["prompt"],
        };
        sent.iter().any(same) && i["grader"]["kind"] == "judge"
    }));
    assert!(items.iter().any(|i| i["messages"].is_array()), "{items:?}");
}

#[test]
fn a_fallback_spike_makes_monitor_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("routes.log");
    let mut body = String::new();
    for i in 0..30 {
        let fb = i % 3 == 0;
        body.push_str(
            &serde_json::json!({"ts": "2026-11-24T10:00:00Z", "prompt_sha256": format!("{i}"), "task": "code", "priority": "quality",
                "cell": "code.quality", "primary": "anthropic/claude-opus-4-6", "routed_to": if fb {"openai/gpt-5.2"} else {"anthropic/claude-opus-4-6"},
                "fallback_used": fb, "ok": true, "cost_usd": 0.01, "latency_ms": 900.0, "classifier_cache_hit": false, "classifier_parse_miss": false})
            .to_string(),
        );
        body.push('\n');
    }
    body.push_str("{\"torn\": \n");
    std::fs::write(&log, body).unwrap();
    let o = run_in(tmp.path(), &["monitor", log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("ALERT: fallback rate of cell code.quality is 33.3%"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("1 lines"), "{}", stderr(&o));
}

#[test]
fn concurrent_routers_append_whole_lines_to_one_log() {
    let tmp = tempfile::tempdir().unwrap();
    let routes = repo().join("datasets/mt-bench/routes.toml");
    let log = tmp.path().join("shared.log");
    let prompts = mt_prompts(50);
    let input: String = prompts
        .iter()
        .map(|(_, p)| serde_json::json!({"prompt": p}).to_string() + "\n")
        .collect();
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut c = bin()
                .args([
                    "route",
                    "--routes",
                    routes.to_str().unwrap(),
                    "--jsonl",
                    "--no-cache",
                    "--log",
                    log.to_str().unwrap(),
                    "--log-prompts",
                ])
                .current_dir(tmp.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            c
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 200);
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line {e}: {l:.80}"));
        assert!(v["prompt"].is_string());
    }
}

#[test]
fn an_empty_prompt_is_refused_before_any_call() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("route.jsonl");
    let routes = repo().join("datasets/mt-bench/routes.toml");
    for prompt in ["", "  \n"] {
        let o = run_in(
            tmp.path(),
            &[
                "route",
                "--routes",
                routes.to_str().unwrap(),
                "--log",
                log.to_str().unwrap(),
                prompt,
            ],
        );
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("the prompt is empty"), "{}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
    assert!(!log.exists(), "nothing was routed, so nothing is logged");
}
