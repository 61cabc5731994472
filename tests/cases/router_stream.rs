//! `routecal route` on a stream of prompts: answers come out as they finish, each labelled with
//! its input line and id; a stalled request holds back no finished answer; a pipe that stays
//! open gets its answers; a kill loses only what was in flight; a bad line is refused alone.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::server::{Reply, Request, Server, completion};
use crate::common::*;

/// Answers `echo: PROMPT` after `delay`; a prompt containing STALL gets no answer for 60 s.
fn server(delay: Duration) -> Server {
    Server::start(move |r: &Request| {
        let body = r.json();
        let prompt = body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if prompt.contains("STALL") {
            return Reply::Stall(Duration::from_secs(60));
        }
        Reply::After(
            delay,
            Box::new(completion("alpha", &format!("echo: {prompt}"))),
        )
    })
}

fn write_routes(dir: &Path, url: &str, timeout_s: u32) {
    let routes = format!(
        r#"[classifier]
model = "builtin/keywords"
[endpoints.kw]
kind = "keywords"
[endpoints.api]
kind = "openai"
base_url = "{url}/v1"
timeout_s = {timeout_s}
max_attempts = 1
max_concurrency = 16
[models."builtin/keywords"]
endpoint = "kw"
tier = "budget"
[models."acme/alpha"]
endpoint = "api"
tier = "budget"
input_per_mtok = 1.0
output_per_mtok = 2.0
[default]
primary = "acme/alpha"
"#
    );
    std::fs::write(dir.join("routes.toml"), routes).unwrap();
}

/// `route --jsonl --json` with piped stdin; stdout lines arrive on the channel with the time
/// they were read.
fn spawn_route(dir: &Path, extra: &[&str]) -> (Child, mpsc::Receiver<(Instant, Value)>) {
    let mut args = vec![
        "route",
        "--routes",
        "routes.toml",
        "--jsonl",
        "--json",
        "--no-cache",
    ];
    args.extend_from_slice(extra);
    let mut child = bin()
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if tx.send((Instant::now(), v)).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

fn prompt_line(i: usize, prompt: &str) -> String {
    json!({"id": format!("p{i:03}"), "prompt": prompt}).to_string() + "\n"
}

#[test]
fn a_stalled_request_holds_back_no_finished_answer() {
    let server = server(Duration::from_millis(30));
    let tmp = tempfile::tempdir().unwrap();
    write_routes(tmp.path(), &server.url(), 8);
    let (mut child, rx) = spawn_route(tmp.path(), &["--concurrency", "8"]);
    let mut input = String::new();
    for i in 0..40 {
        let p = if i < 2 {
            "STALL here"
        } else {
            "Summarize note"
        };
        input.push_str(&prompt_line(i, &format!("{p} {i}")));
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert_eq!(
        child.wait().unwrap().code(),
        Some(1),
        "two prompts timed out"
    );
    let lines: Vec<(Instant, Value)> = rx.iter().collect();
    assert_eq!(lines.len(), 40, "{lines:?}");
    // The two stalled prompts (lines 1 and 2) end by their timeout, after every other answer.
    let first_stalled = lines
        .iter()
        .position(|(_, v)| v["line"] == 1 || v["line"] == 2)
        .unwrap();
    assert_eq!(
        first_stalled, 38,
        "finished answers were held back behind a stalled one"
    );
    for (_, v) in &lines[..38] {
        let line = v["line"].as_u64().unwrap() as usize;
        assert_eq!(v["id"], format!("p{:03}", line - 1));
        assert_eq!(
            v["answer"],
            format!("echo: Summarize note {}", line - 1),
            "{v}"
        );
    }
    for (_, v) in &lines[38..] {
        assert_eq!(v["error_kind"], "timeout", "{v}");
    }
    // All 38 were out well before the stalled ones timed out.
    let span = lines[37].0.duration_since(lines[0].0);
    assert!(span < Duration::from_secs(6), "{span:?}");
}

#[test]
fn answers_flow_while_stdin_stays_open() {
    let server = server(Duration::from_millis(10));
    let tmp = tempfile::tempdir().unwrap();
    write_routes(tmp.path(), &server.url(), 10);
    let (mut child, rx) = spawn_route(tmp.path(), &[]);
    let mut stdin = child.stdin.take().unwrap();
    for round in 0..3 {
        stdin
            .write_all(prompt_line(round, &format!("Question {round}")).as_bytes())
            .unwrap();
        stdin.flush().unwrap();
        let (_, v) = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no answer to prompt {round} while stdin is open"));
        assert_eq!(v["id"], format!("p{round:03}"));
        assert_eq!(v["line"], round + 1);
        assert_eq!(v["answer"], format!("echo: Question {round}"));
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_kill_loses_only_what_was_in_flight() {
    let server = server(Duration::from_millis(100));
    let tmp = tempfile::tempdir().unwrap();
    write_routes(tmp.path(), &server.url(), 10);
    let (mut child, rx) = spawn_route(tmp.path(), &["--concurrency", "4", "--log", "log.jsonl"]);
    let input: String = (0..400)
        .map(|i| prompt_line(i, &format!("Summarize note {i}")))
        .collect();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    // Wait for some answers, then kill the router mid-batch.
    for _ in 0..12 {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("answers arrive before the batch ends");
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    child.wait().unwrap();
    let printed = 12 + rx.iter().count();
    let logged = read_jsonl(&tmp.path().join("log.jsonl")).len();
    assert!(printed < 400, "the kill came mid-batch");
    assert!(
        printed + 4 >= logged,
        "{logged} answers were routed and logged but only {printed} printed"
    );
}

#[test]
fn a_bad_line_is_refused_alone_with_its_number() {
    let server = server(Duration::from_millis(1));
    let tmp = tempfile::tempdir().unwrap();
    write_routes(tmp.path(), &server.url(), 10);
    let (mut child, rx) = spawn_route(tmp.path(), &[]);
    let mut input = prompt_line(0, "first");
    input.push_str("{\"prompt\": \"a\", \"prompt\": \"b\"}\n");
    input.push_str(&format!("{{\"prompt\": \"{}\"}}\n", "x".repeat(17 << 20)));
    input.push_str("not json\n");
    input.push_str(&prompt_line(4, "last"));
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    let mut lines: Vec<Value> = rx.iter().map(|(_, v)| v).collect();
    lines.sort_by_key(|v| v["line"].as_u64());
    let summary: Vec<(u64, &str)> = lines
        .iter()
        .map(|v| {
            let what = v["error_kind"].as_str().unwrap_or("answer");
            (v["line"].as_u64().unwrap(), what)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "answer"),
            (2, "bad_input"),
            (3, "bad_input"),
            (4, "bad_input"),
            (5, "answer")
        ]
    );
    assert!(err.contains("stdin:2: duplicate key \"prompt\""), "{err}");
    assert!(err.contains("stdin:3: the line is"), "{err}");
    assert!(err.contains("stdin:4: not valid JSON"), "{err}");
}

#[test]
fn text_mode_labels_each_answer_with_its_line() {
    let server = server(Duration::from_millis(1));
    let tmp = tempfile::tempdir().unwrap();
    write_routes(tmp.path(), &server.url(), 10);
    let mut child = bin()
        .args(["route", "--routes", "routes.toml", "--no-cache"])
        .current_dir(tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\n\ntwo\tthree\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    ok(&o);
    let mut got: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, vec!["line 1\techo: one", "line 3\techo: two\\tthree"]);
}
