//! Runs that stay honest under faults: no piece of a key in anything written or printed, a
//! journal that cannot be written stops the calls, a run.json that says what really happened,
//! and a graceful stop on SIGTERM/SIGINT.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

const KEY: &str = "sk-durability-test-7f3a9c1e5b";
const KEY_ENV: &str = "ROUTECAL_TEST_DURABILITY_KEY";
const CONCURRENCY: usize = 4;

/// An OpenAI-compatible server answering every call after `delay`.
fn answering_server(delay: Duration) -> Server {
    Server::start(move |r: &Request| {
        let b = r.json();
        let model = b["model"].as_str().unwrap_or("").to_string();
        Reply::After(
            delay,
            Box::new(Reply::json(
                200,
                json!({"id":"c1","object":"chat.completion","created":1795636911,"model":model,
                    "choices":[{"index":0,"message":{"role":"assistant","content":"the answer"},"finish_reason":"stop"}],
                    "usage":{"prompt_tokens":30,"completion_tokens":5,"total_tokens":35}}),
            )),
        )
    })
}

/// A keywords classifier and two live candidates on the server, `items` items.
fn live_suite(url: &str, items: usize) -> tempfile::TempDir {
    let endpoint = format!("max_concurrency = {CONCURRENCY}\ntimeout_s = 10");
    openai_suite(url, KEY_ENV, &endpoint, items)
}

fn routecal(dir: &Path, args: &[&str]) -> Command {
    let mut c = bin();
    c.args(args)
        .current_dir(dir)
        .env(KEY_ENV, KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

const FRESH: &[&str] = &[
    "run",
    "--routes",
    "routes.toml",
    "--dataset",
    "dataset.jsonl",
    "--out",
    "reports",
    "--quiet",
];

/// Files written by the child may not grow past `bytes` (writes beyond fail with EFBIG, as on
/// a full disk).
fn limit_file_size(c: &mut Command, bytes: u64) {
    unsafe {
        c.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Calls the server received per (model, prompt).
fn server_calls(s: &Server) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for r in s.requests() {
        let b = r.json();
        let key = (
            b["model"].as_str().unwrap_or("").to_string(),
            b["messages"][0]["content"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
        *out.entry(key).or_default() += 1;
    }
    out
}

/// Live (paid) calls in the journal.
fn journal_rows(run_dir: &Path) -> usize {
    live_rows(&read(&run_dir.join("journal.jsonl")))
}

fn live_rows(journal: &str) -> usize {
    journal
        .lines()
        .filter(|l| l.ends_with('}') && l.contains(r#""endpoint":"api""#))
        .count()
}

#[test]
fn a_journal_that_cannot_be_written_stops_the_calls_and_a_resume_pays_only_for_the_rest() {
    let server = answering_server(Duration::from_millis(2));
    let suite = live_suite(&server.url(), 400);
    let dir = suite.path();
    let mut c = routecal(dir, FRESH);
    // Room for about a hundred journal rows of the 800 planned live calls.
    limit_file_size(&mut c, 48 * 1024);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("cannot append to the journal"), "{err}");
    assert!(err.contains("routecal run --resume"), "{err}");
    let rd = only_run_dir(&dir.join("reports"));
    let journaled = journal_rows(&rd);
    let made = server.requests().len();
    assert_eq!(manifest(&rd)["status"], "partial");
    assert!(journaled < 400, "{journaled} rows: the limit did not bite");
    // Only the calls in flight when the write failed are lost.
    assert!(
        made <= journaled + CONCURRENCY + 1,
        "{made} calls made, {journaled} journaled"
    );
    let o = routecal(dir, &["run", "--resume", rd.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(manifest(&rd)["status"], "complete");
    let twice = server_calls(&server).values().filter(|&&n| n > 1).count();
    assert!(twice <= CONCURRENCY, "{twice} calls paid twice");
    assert_eq!(server_calls(&server).len(), 800);
}

#[test]
fn reports_that_cannot_be_written_leave_the_run_partial_and_exit_1() {
    let server = answering_server(Duration::ZERO);
    let suite = live_suite(&server.url(), 6);
    let dir = suite.path();
    let mut c = routecal(dir, FRESH);
    // The journal (12 live rows, 6 classifications) fits; report.html does not.
    limit_file_size(&mut c, 16 * 1024);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("reports of") && err.contains("routecal report"),
        "{err}"
    );
    let rd = only_run_dir(&dir.join("reports"));
    assert_eq!(journal_rows(&rd), 12);
    assert_eq!(manifest(&rd)["status"], "partial");
    // With room again, the reports are derived without a call and the run is complete.
    let calls = server.requests().len();
    ok(
        &routecal(dir, &["run", "--resume", rd.to_str().unwrap(), "--quiet"])
            .output()
            .unwrap(),
    );
    assert_eq!(server.requests().len(), calls);
    assert_eq!(manifest(&rd)["status"], "complete");
    assert!(rd.join("report.html").is_file());
}

/// Start a run against a slow server, send `sig` once journal rows exist, and wait for it.
fn run_and_signal(sig: i32) -> (Output, PathBuf, Server, tempfile::TempDir) {
    let server = answering_server(Duration::from_millis(300));
    let suite = live_suite(&server.url(), 40);
    let dir = suite.path().to_path_buf();
    let child = routecal(&dir, FRESH).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = std::fs::read_dir(dir.join("reports"))
            .ok()
            .and_then(|mut d| d.next())
            .map_or(0, |e| {
                std::fs::read_to_string(e.unwrap().path().join("journal.jsonl"))
                    .map_or(0, |j| live_rows(&j))
            });
        if rows >= 8 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
    let o = child.wait_with_output().unwrap();
    let rd = only_run_dir(&dir.join("reports"));
    (o, rd, server, suite)
}

#[test]
fn sigterm_sigint_and_sighup_stop_gracefully_journal_what_finished_and_say_partial() {
    for (sig, code) in [
        (libc::SIGTERM, 143),
        (libc::SIGINT, 130),
        (libc::SIGHUP, 129),
    ] {
        let (o, rd, server, suite) = run_and_signal(sig);
        assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("routecal run --resume"), "{err}");
        assert_eq!(manifest(&rd)["status"], "partial");
        assert_eq!(read(&rd.join("run.lock")), "", "the lock is released");
        // Calls in flight finished and were journaled: nothing was paid for and lost. Counted once
        // the server has read everything the process sent (its connections are closed).
        server.wait_idle(Duration::from_secs(30));
        let made = server.requests().len();
        assert_eq!(journal_rows(&rd), made, "every call made is journaled");
        assert!(made < 80, "the run was stopped early ({made} calls)");
        let o = routecal(
            suite.path(),
            &["run", "--resume", rd.to_str().unwrap(), "--quiet"],
        )
        .output()
        .unwrap();
        ok(&o);
        assert!(
            server_calls(&server).values().all(|&n| n == 1),
            "no call made twice"
        );
        assert_eq!(manifest(&rd)["status"], "complete");
    }
}

#[test]
fn the_plan_estimates_each_endpoints_duration_from_its_limits() {
    let suite = live_suite("http://127.0.0.1:9", 2400);
    let dir = suite.path();
    let routes = read(&dir.join("routes.toml")).replace(
        "max_concurrency = 4",
        "max_concurrency = 16\nrequests_per_minute = 60",
    );
    std::fs::write(dir.join("routes.toml"), routes).unwrap();
    // 4,800 live calls at 60 a minute take 80 minutes, however many run at once.
    let o = routecal(
        dir,
        &[
            "run",
            "--routes",
            "routes.toml",
            "--dataset",
            "dataset.jsonl",
            "--dry-run",
        ],
    )
    .output()
    .unwrap();
    ok(&o);
    let plan = stdout(&o);
    assert!(
        plan.contains("Estimated duration: about 1 h 20 min"),
        "{plan}"
    );
    assert!(
        plan.contains("api: 4800 calls, 16 at once, 60 a minute, ~9.0 s a call → about 1 h 20 min (bound by requests_per_minute)"),
        "{plan}"
    );
    let o = routecal(
        dir,
        &[
            "run",
            "--routes",
            "routes.toml",
            "--dataset",
            "dataset.jsonl",
            "--dry-run",
            "--json",
        ],
    )
    .output()
    .unwrap();
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["duration"]["est_duration_s"], 4800.0);
    assert_eq!(v["duration"]["endpoints"][0]["endpoint"], "api");
}

#[test]
fn a_recording_that_cannot_be_written_stops_the_calls_too() {
    let server = answering_server(Duration::from_millis(2));
    let suite = live_suite(&server.url(), 100);
    let dir = suite.path();
    // /dev/full accepts the open and fails every write with ENOSPC, as a full disk does.
    let o = routecal(dir, &[FRESH, &["--record", "/dev/full"]].concat())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write the recording /dev/full"),
        "{}",
        stderr(&o)
    );
    let rd = only_run_dir(&dir.join("reports"));
    assert_eq!(manifest(&rd)["status"], "partial");
    let made = server.requests().len();
    assert!(
        made <= CONCURRENCY + 1,
        "{made} calls made after the first failed write"
    );
    let o = routecal(dir, &["run", "--resume", rd.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    ok(&o);
    let twice = server_calls(&server).values().filter(|&&n| n > 1).count();
    assert!(twice <= CONCURRENCY, "{twice} calls paid twice");
    assert_eq!(server_calls(&server).len(), 200);
}

#[test]
fn after_a_signal_no_call_waiting_on_the_rate_limiter_is_sent() {
    let server = answering_server(Duration::from_millis(5));
    let suite = live_suite(&server.url(), 20);
    let dir = suite.path();
    // Eight calls admitted at once, sent one every 0.3 s.
    let routes = read(&dir.join("routes.toml")).replace(
        "max_concurrency = 4",
        "max_concurrency = 8\nrequests_per_minute = 200",
    );
    std::fs::write(dir.join("routes.toml"), routes).unwrap();
    let child = routecal(dir, FRESH).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.requests().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let sent_at_signal = server.requests().len();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    let made = server.requests().len();
    // At most what the limiter released while the signal was on its way (one every 0.3 s),
    // not the calls waiting on it.
    assert!(
        made <= sent_at_signal + 2,
        "{made} calls made, {sent_at_signal} when the signal was sent"
    );
    let rd = only_run_dir(&dir.join("reports"));
    assert_eq!(journal_rows(&rd), made);
}

#[test]
fn a_run_stopped_by_a_failed_write_prints_json_that_follows_the_schema() {
    let server = answering_server(Duration::from_millis(2));
    let suite = live_suite(&server.url(), 400);
    let dir = suite.path();
    let args: Vec<&str> = FRESH
        .iter()
        .map(|a| if *a == "--quiet" { "--json" } else { a })
        .collect();
    let mut c = routecal(dir, &args);
    limit_file_size(&mut c, 48 * 1024);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&read(&repo().join("schema/report.schema.json"))).unwrap();
    crate::common::schema::assert_valid(&schema, Some("run_stopped"), &v, "run --json");
    assert_eq!(v["status"], "partial");
    assert!(v["planned_calls_not_made"].as_u64().unwrap() > 0, "{v}");
}
