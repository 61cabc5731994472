//! The router over real HTTP: `routecal route` against an in-process OpenAI-compatible server
//! whose classifier and models misbehave on cue. A 503 or a stall past the timeout sends the
//! request to the fallback; a 400 or a 401 does not; a cell missing from the table uses
//! `[default]`; a garbage classifier reply routes to general/default; the classification cache
//! saves the second classifier call and expires after its TTL.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::common::server::{Reply, Request, Server, completion};
use crate::common::*;

/// The classifier reads cue words in the user's prompt; `alpha` fails on cue; `beta` and
/// `gamma` always answer with their own name.
fn handler(r: &Request) -> Reply {
    let body = r.json();
    let model = body["model"].as_str().unwrap_or("").to_string();
    let prompt = body["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_string();
    match model.as_str() {
        "clf" => {
            let reply = if prompt.contains("GARBAGE") {
                "Sure! This looks like a coding question to me."
            } else if prompt.contains("UNLISTED") {
                "creative latency"
            } else {
                "code quality"
            };
            completion(&model, reply)
        }
        "alpha" if prompt.contains("FAIL503") => {
            Reply::json(503, json!({"error": {"message": "overloaded"}}))
        }
        "alpha" if prompt.contains("FAIL400") => {
            Reply::json(400, json!({"error": {"message": "bad parameter"}}))
        }
        "alpha" if prompt.contains("FAIL401") => {
            Reply::json(401, json!({"error": {"message": "invalid api key"}}))
        }
        "alpha" if prompt.contains("STALL") => Reply::Stall(Duration::from_secs(5)),
        _ => completion(&model, &format!("answer from {model}")),
    }
}

fn routes(url: &str) -> String {
    format!(
        r#"[classifier]
model = "acme/clf"

[endpoints.api]
kind = "openai"
base_url = "{url}/v1"
timeout_s = 1
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

[models."acme/beta"]
endpoint = "api"
tier = "frontier"
input_per_mtok = 2.5
output_per_mtok = 10.0

[models."acme/gamma"]
endpoint = "api"
tier = "budget"
input_per_mtok = 0.2
output_per_mtok = 0.4

[default]
primary = "acme/gamma"

[routes.code.quality]
primary = "acme/alpha"
fallback = "acme/beta"
"#
    )
}

/// The models each request asked for, in arrival order.
fn models(server: &Server) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap_or("").to_string())
        .collect()
}

/// `route --json` one prompt; the exit code and the printed JSON line.
fn route(dir: &Path, prompt: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec![
        "route",
        "--routes",
        "routes.toml",
        "--json",
        "--log",
        "routes.jsonl",
    ];
    args.extend_from_slice(extra);
    args.push(prompt);
    let o = run_in(dir, &args);
    let line = stdout(&o);
    let v = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("not one JSON line ({e}): {line}\n{}", stderr(&o)));
    (o.status.code().unwrap_or(-1), v)
}

fn setup() -> (tempfile::TempDir, Server) {
    let server = Server::start(handler);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("routes.toml"), routes(&server.url())).unwrap();
    (tmp, server)
}

#[test]
fn a_503_and_a_stall_fall_back_a_400_and_a_401_do_not() {
    let (tmp, server) = setup();
    let d = tmp.path();

    let (code, v) = route(d, "Fix this function FAIL503", &["--no-cache"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["routed_to"], "acme/beta");
    assert_eq!(v["fell_back"], true);
    assert_eq!(v["primary_error"], "server");
    assert_eq!(v["answer"], "answer from beta");
    assert_eq!(models(&server), ["clf", "alpha", "beta"]);

    let (code, v) = route(d, "Fix this function STALL", &["--no-cache"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["routed_to"], "acme/beta");
    assert_eq!(v["primary_error"], "timeout");
    assert_eq!(models(&server)[3..], ["clf", "alpha", "beta"]);

    for (cue, kind) in [("FAIL400", "bad_request"), ("FAIL401", "auth")] {
        let before = server.requests().len();
        let (code, v) = route(d, &format!("Fix this function {cue}"), &["--no-cache"]);
        assert_eq!(code, 1, "{cue}: a request without an answer exits 1: {v}");
        assert_eq!(v["error_kind"], kind, "{v}");
        assert_eq!(v["failed_model"], "acme/alpha");
        assert_eq!(v["fell_back"], false);
        assert_eq!(
            models(&server)[before..],
            ["clf", "alpha"],
            "{cue} must not reach the fallback"
        );
    }

    // Every request is one whole log line, failures included.
    let log = read_jsonl(&d.join("routes.jsonl"));
    assert_eq!(log.len(), 4);
    let used: Vec<bool> = log
        .iter()
        .map(|l| l["fallback_used"].as_bool().unwrap())
        .collect();
    assert_eq!(used, [true, true, false, false]);
    assert_eq!(log[2]["error_kind"], "bad_request");
}

#[test]
fn an_unlisted_cell_uses_the_default_and_garbage_routes_to_general_default() {
    let (tmp, server) = setup();
    let d = tmp.path();

    let (code, v) = route(d, "Write a haiku UNLISTED", &["--no-cache"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (v["task"].as_str(), v["priority"].as_str()),
        (Some("creative"), Some("latency"))
    );
    assert_eq!(v["cell_listed"], false);
    assert_eq!(v["routed_to"], "acme/gamma");
    assert_eq!(v["classifier_parse_miss"], false);

    let (code, v) = route(d, "Fix this function GARBAGE", &["--no-cache"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (v["task"].as_str(), v["priority"].as_str()),
        (Some("general"), Some("default"))
    );
    assert_eq!(v["classifier_parse_miss"], true);
    assert_eq!(
        v["routed_to"], "acme/gamma",
        "general/default goes to [default]"
    );
    assert_eq!(models(&server), ["clf", "gamma", "clf", "gamma"]);

    // Another declared model may classify; an undeclared one is bad input.
    let (_, v) = route(
        d,
        "Fix this function",
        &["--no-cache", "--classifier", "acme/gamma"],
    );
    assert_eq!(
        v["classifier_parse_miss"], true,
        "gamma does not answer in labels"
    );
    assert_eq!(models(&server)[4..], ["gamma", "gamma"]);
    let o = run_in(
        d,
        &[
            "route",
            "--routes",
            "routes.toml",
            "--classifier",
            "acme/nope",
            "hi",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("acme/nope"), "{}", stderr(&o));
    assert_eq!(models(&server).len(), 6, "nothing was called");

    let log = read_jsonl(&d.join("routes.jsonl"));
    assert_eq!(log[1]["classifier_parse_miss"], true);
    assert_eq!(log[0]["classifier_parse_miss"], false);
}

#[test]
fn the_cache_saves_the_second_classifier_call_and_expires_after_its_ttl() {
    let (tmp, server) = setup();
    let d = tmp.path();
    let clf_calls = || models(&server).iter().filter(|m| *m == "clf").count();
    let cache = ["--cache", "cache.jsonl", "--cache-ttl", "2s"];

    let (_, v) = route(d, "Refactor this parser", &cache);
    assert_eq!(v["classifier_cache_hit"], false);
    assert_eq!(clf_calls(), 1);

    // A second process: the cache on disk answers.
    let (_, v) = route(d, "Refactor this parser", &cache);
    assert_eq!(v["classifier_cache_hit"], true);
    assert_eq!(v["routed_to"], "acme/alpha");
    assert_eq!(clf_calls(), 1, "a cached prompt costs no classifier call");

    // Another prompt is not served from the cache.
    route(d, "Refactor this lexer", &cache);
    assert_eq!(clf_calls(), 2);

    std::thread::sleep(Duration::from_millis(2200));
    let (_, v) = route(d, "Refactor this parser", &cache);
    assert_eq!(v["classifier_cache_hit"], false, "the entry expired");
    assert_eq!(clf_calls(), 3);

    let hits: Vec<bool> = read_jsonl(&d.join("routes.jsonl"))
        .iter()
        .map(|l| l["classifier_cache_hit"].as_bool().unwrap())
        .collect();
    assert_eq!(hits, [false, true, false, false]);
}

#[test]
fn a_batch_keeps_to_the_endpoints_concurrency_limit() {
    // Each answer takes 150 ms; the endpoint takes one request at a time.
    let server = Server::start(|r| Reply::After(Duration::from_millis(150), Box::new(handler(r))));
    let tmp = tempfile::tempdir().unwrap();
    let routes =
        routes(&server.url()).replace("timeout_s = 1\n", "timeout_s = 5\nmax_concurrency = 1\n");
    std::fs::write(tmp.path().join("routes.toml"), routes).unwrap();
    let mut child = bin()
        .args([
            "route",
            "--routes",
            "routes.toml",
            "--json",
            "--no-cache",
            "--concurrency",
            "4",
        ])
        .current_dir(tmp.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Refactor this parser\nRefactor this lexer\nRefactor this printer\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    ok(&o);
    assert_eq!(stdout(&o).lines().count(), 3);
    let mut at: Vec<_> = server.requests().iter().map(|r| r.at).collect();
    at.sort();
    assert_eq!(at.len(), 6, "a classifier call and an answer per prompt");
    for w in at.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(140),
            "two requests overlapped on an endpoint with max_concurrency = 1: {:?}",
            w[1] - w[0]
        );
    }
}
