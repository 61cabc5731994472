//! What a provider reports about usage and about how an answer ended, read from every wire
//! format, plain and streamed: prompt-cache and reasoning tokens are journaled, shown and priced
//! at the table's cache prices; an answer cut at the token limit is recorded, counted per model
//! and warned about, and reasoning models are given room to reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::server::{Reply, Request, Server, sse};
use crate::common::*;

const KEY: &str = "sk-routecal-usage-5b8e2d7f1a9c3e4b6d";
const KEY_ENV: &str = "ROUTECAL_USAGE_TEST_KEY";

/// A suite with the keywords classifier and one live candidate `model` (priced by the shipped
/// table unless `price` says otherwise) on endpoint `api`.
fn suite(dir: &Path, kind: &str, url: &str, model: &str, endpoint_extra: &str, items: usize) {
    let routes = LiveRoutes {
        kind,
        url,
        key_env: KEY_ENV,
        endpoint: &format!(
            "max_attempts = 2\nbackoff_base_ms = 5\nbackoff_cap_ms = 20\ntimeout_s = 5\n{endpoint_extra}"
        ),
        models: &format!("[models.\"{model}\"]\nendpoint = \"api\"\ntier = \"budget\""),
        default: &format!("primary = \"{model}\""),
    }
    .render();
    std::fs::write(dir.join("routes.toml"), routes).unwrap();
    let ds: Vec<String> = (0..items)
        .map(|i| {
            json!({"id": format!("q{i}"), "prompt": format!("Question q{i}: what is 6 times 7?"),
                "task_type": "math", "priority": "quality",
                "grader": {"kind": "numeric", "expected": 42}})
            .to_string()
        })
        .collect();
    std::fs::write(dir.join("dataset.jsonl"), ds.join("\n")).unwrap();
}

/// Run the suite in `dir`; its run directory.
fn run(dir: &Path) -> PathBuf {
    let o = bin()
        .args([
            "run",
            "--routes",
            "routes.toml",
            "--dataset",
            "dataset.jsonl",
            "--out",
            "reports",
            "--quiet",
        ])
        .current_dir(dir)
        .env(KEY_ENV, KEY)
        .output()
        .unwrap();
    ok(&o);
    only_run_dir(&dir.join("reports"))
}

fn candidate_rows(run: &Path) -> Vec<Value> {
    read_jsonl(&run.join("journal.jsonl"))
        .into_iter()
        .filter(|r| r["kind"] == "candidate")
        .collect()
}

/// An OpenAI answer with `usage`, plain or as a stream whose last chunk carries the usage.
fn openai(stream: bool, text: &str, finish: &str, usage: Value) -> Reply {
    if !stream {
        return Reply::json(
            200,
            json!({"id":"x","object":"chat.completion","model":"m",
                "choices":[{"index":0,"message":{"role":"assistant","content":text},"finish_reason":finish}],
                "usage":usage}),
        );
    }
    Reply::Events {
        chunks: vec![
            sse(
                None,
                json!({"choices":[{"index":0,"delta":{"content":text},"finish_reason":null}]}),
            ),
            sse(
                None,
                json!({"choices":[{"index":0,"delta":{},"finish_reason":finish}]}),
            ),
            sse(None, json!({"choices":[],"usage":usage})),
            (Duration::ZERO, "data: [DONE]\n\n".into()),
        ],
        cut: false,
    }
}

/// An Anthropic message with `usage`, plain or streamed (usage split between `message_start`
/// and `message_delta` as the API does).
fn anthropic(stream: bool, text: &str, stop: &str, usage: Value) -> Reply {
    if !stream {
        return Reply::json(
            200,
            json!({"id":"msg_1","type":"message","role":"assistant","model":"m",
                "content":[{"type":"text","text":text}],"stop_reason":stop,"usage":usage}),
        );
    }
    let mut start = usage.clone();
    start["output_tokens"] = json!(1);
    Reply::Events {
        chunks: vec![
            sse(
                Some("message_start"),
                json!({"type":"message_start","message":{"usage":start}}),
            ),
            sse(
                Some("content_block_delta"),
                json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":text}}),
            ),
            sse(
                Some("message_delta"),
                json!({"type":"message_delta","delta":{"stop_reason":stop},"usage":{"output_tokens":usage["output_tokens"]}}),
            ),
            sse(Some("message_stop"), json!({"type":"message_stop"})),
        ],
        cut: false,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn openai_cached_and_reasoning_tokens_are_journaled_shown_and_priced() {
    let usage = json!({"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,
        "prompt_tokens_details":{"cached_tokens":1920},"completion_tokens_details":{"reasoning_tokens":120}});
    // gpt-4o in the shipped table: input 2.5, cache read 1.25, output 10 USD per million.
    let want = ((2006.0 - 1920.0) * 2.5 + 1920.0 * 1.25 + 300.0 * 10.0) / 1e6;
    for stream in [false, true] {
        let u = usage.clone();
        let server = Server::start(move |_| openai(stream, "The answer is 42.", "stop", u.clone()));
        let tmp = tempfile::tempdir().unwrap();
        let extra = if stream { "stream = true" } else { "" };
        suite(
            tmp.path(),
            "openai",
            &server.url(),
            "openai/gpt-4o",
            extra,
            1,
        );
        let dir = run(tmp.path());
        let row = &candidate_rows(&dir)[0];
        assert_eq!(row["cache_read_tokens"], 1920, "stream={stream}: {row}");
        assert_eq!(row["reasoning_tokens"], 120);
        assert_eq!(row["finish_reason"], "stop");
        assert!(row.get("truncated").is_none());
        assert!(close(row["cost_usd"].as_f64().unwrap(), want), "{row}");
        let res = &read_csv(&dir.join("results.csv"))[0];
        assert_eq!(res["cache_read_tokens"], "1920");
        assert_eq!(res["cache_write_tokens"], "");
        assert_eq!(res["reasoning_tokens"], "120");
        assert_eq!(res["truncated"], "false");
        assert!(close(res["cost_usd"].parse().unwrap(), want), "{res:?}");
    }
}

#[test]
fn anthropic_cache_reads_and_writes_are_input_and_priced_at_their_own_rates() {
    // Anthropic's input_tokens leaves the cached tokens out.
    let usage = json!({"input_tokens":100,"cache_read_input_tokens":600,"cache_creation_input_tokens":300,"output_tokens":10});
    // claude-3-5-sonnet: input 3, cache write 3.75, cache read 0.3, output 15 USD per million.
    let want = (100.0 * 3.0 + 600.0 * 0.3 + 300.0 * 3.75 + 10.0 * 15.0) / 1e6;
    for stream in [false, true] {
        let u = usage.clone();
        let server =
            Server::start(move |_| anthropic(stream, "The answer is 42.", "end_turn", u.clone()));
        let tmp = tempfile::tempdir().unwrap();
        let extra = if stream { "stream = true" } else { "" };
        suite(
            tmp.path(),
            "anthropic",
            &server.url(),
            "anthropic/claude-3-5-sonnet-20241022",
            extra,
            1,
        );
        let dir = run(tmp.path());
        let row = &candidate_rows(&dir)[0];
        assert_eq!(row["input_tokens"], 1000, "stream={stream}: {row}");
        assert_eq!(row["cache_read_tokens"], 600);
        assert_eq!(row["cache_write_tokens"], 300);
        assert_eq!(row["output_tokens"], 10);
        assert_eq!(row["finish_reason"], "end_turn");
        assert!(close(row["cost_usd"].as_f64().unwrap(), want), "{row}");
    }
}

#[test]
fn deepseek_cache_hits_and_promptster_cache_fields_are_read() {
    let server = Server::start(|_| {
        openai(
            false,
            "42",
            "stop",
            json!({"prompt_tokens":100,"completion_tokens":5,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}),
        )
    });
    let tmp = tempfile::tempdir().unwrap();
    suite(
        tmp.path(),
        "openai",
        &server.url(),
        "deepseek/deepseek-chat",
        "",
        1,
    );
    let dir = run(tmp.path());
    let row = &candidate_rows(&dir)[0];
    assert_eq!(row["cache_read_tokens"], 64, "{row}");
    // DeepSeek prices by time of day: the price of the run's start, cache hits at their rate.
    let at = jiff::Timestamp::from_millisecond(row["started_ms"].as_i64().unwrap()).unwrap();
    let p = routecal::config::prices::PriceTable::shipped()
        .lookup(
            &routecal::base::types::ModelId::parse("deepseek/deepseek-chat").unwrap(),
            at,
        )
        .unwrap();
    assert!(p.cache_read.is_some());
    let want = p
        .cost_of(&routecal::config::prices::TokenUse {
            input: 100,
            output: 5,
            cache_read: 64,
            cache_write: 0,
        })
        .0;
    let cost = row["cost_usd"].as_f64().unwrap();
    assert!(close(cost, want), "{cost} != {want}: {row}");
    assert!(cost < p.cost(100, 5).0);

    let server = Server::start(|_| {
        Reply::json(
            200,
            json!({"response":"42","metadata":{"input_tokens":50,"output_tokens":4,"cache_read_tokens":40,"reasoning_tokens":2,"finish_reason":"length"}}),
        )
    });
    let tmp = tempfile::tempdir().unwrap();
    suite(
        tmp.path(),
        "promptster",
        &server.url(),
        "openai/gpt-4o",
        "",
        1,
    );
    let dir = run(tmp.path());
    let row = &candidate_rows(&dir)[0];
    assert_eq!(row["cache_read_tokens"], 40, "{row}");
    assert_eq!(row["reasoning_tokens"], 2);
    assert_eq!(row["truncated"], true);
}

type Handler = Box<dyn Fn(&Request) -> Reply + Send + Sync>;

/// The request's output limit, whichever field carries it.
fn limit_of(r: &Request) -> u64 {
    let b = r.json();
    b["max_completion_tokens"]
        .as_u64()
        .or(b["max_tokens"].as_u64())
        .unwrap_or(0)
}

#[test]
fn an_answer_cut_at_the_token_limit_is_recorded_counted_and_warned_about() {
    // A reasoning model that spent its whole budget on hidden reasoning, plain and streamed,
    // and an Anthropic answer cut at max_tokens.
    let exhausted = |stream: bool| {
        move |r: &Request| {
            let mt = limit_of(r);
            openai(
                stream,
                "",
                "length",
                json!({"prompt_tokens":20,"completion_tokens":mt,"completion_tokens_details":{"reasoning_tokens":mt}}),
            )
        }
    };
    let cases: Vec<(&str, &str, bool, Handler)> = vec![
        (
            "openai",
            "openai/o3-mini",
            false,
            Box::new(exhausted(false)),
        ),
        ("openai", "openai/o3-mini", true, Box::new(exhausted(true))),
        (
            "anthropic",
            "anthropic/claude-3-5-sonnet-20241022",
            false,
            Box::new(|_: &Request| {
                anthropic(
                    false,
                    "The answer is",
                    "max_tokens",
                    json!({"input_tokens":20,"output_tokens":64}),
                )
            }),
        ),
        (
            "anthropic",
            "anthropic/claude-3-5-sonnet-20241022",
            true,
            Box::new(|_: &Request| {
                anthropic(
                    true,
                    "The answer is",
                    "max_tokens",
                    json!({"input_tokens":20,"output_tokens":64}),
                )
            }),
        ),
    ];
    for (kind, model, stream, handler) in cases {
        let server = Server::start(handler);
        let tmp = tempfile::tempdir().unwrap();
        let extra = if stream { "stream = true" } else { "" };
        suite(tmp.path(), kind, &server.url(), model, extra, 3);
        let dir = run(tmp.path());
        let what = format!("{kind} {model} stream={stream}");
        for row in candidate_rows(&dir) {
            assert_eq!(row["ok"], true, "{what}: {row}");
            assert_eq!(row["truncated"], true, "{what}: {row}");
            assert!(
                row["finish_reason"] == "length" || row["finish_reason"] == "max_tokens",
                "{what}: {row}"
            );
        }
        for r in read_csv(&dir.join("results.csv")) {
            assert_eq!(r["truncated"], "true", "{what}");
            assert!(
                r["grade_reason"].contains("cut at the token limit"),
                "{what}: {r:?}"
            );
        }
        let summary = read_csv(&dir.join("summary.csv"));
        let n: u32 = summary
            .iter()
            .filter(|r| r["model"] == model)
            .map(|r| r["n_truncated"].parse::<u32>().unwrap())
            .sum();
        assert_eq!(n, 3, "{what}: {summary:?}");
        let report: Value = serde_json::from_str(&read(&dir.join("report.json"))).unwrap();
        let warned = report["warnings"].as_array().unwrap().iter().any(|w| {
            w.as_str().unwrap().contains(model)
                && w.as_str().unwrap().contains("cut at the token limit")
        });
        assert!(warned, "{what}: {}", report["warnings"]);
        assert!(
            read(&dir.join("report.md")).contains("cut at the token limit"),
            "{what}"
        );
        if model == "openai/o3-mini" {
            // The dataset's default max_tokens (1024) plus the default room for reasoning.
            let sent = limit_of(&server.requests()[0]);
            assert_eq!(sent, 1024 + 16384, "{what}");
        }
    }
}

#[test]
fn ordinary_answers_raise_no_truncation_warning() {
    let server = Server::start(|_| {
        openai(
            false,
            "The answer is 42.",
            "stop",
            json!({"prompt_tokens":20,"completion_tokens":5}),
        )
    });
    let tmp = tempfile::tempdir().unwrap();
    suite(tmp.path(), "openai", &server.url(), "openai/gpt-4o", "", 2);
    let dir = run(tmp.path());
    let report = read(&dir.join("report.json"));
    assert!(!report.contains("cut at the token limit"));
    for r in read_csv(&dir.join("summary.csv")) {
        assert_eq!(r["n_truncated"], "0");
    }
    // An endpoint can turn the room off; a non-reasoning model never gets it.
    assert_eq!(limit_of(&server.requests()[0]), 1024);
    let server = Server::start(|_| openai(false, "42", "stop", json!({})));
    let tmp = tempfile::tempdir().unwrap();
    suite(
        tmp.path(),
        "openai",
        &server.url(),
        "openai/o3-mini",
        "reasoning_room_tokens = 0",
        1,
    );
    run(tmp.path());
    assert_eq!(limit_of(&server.requests()[0]), 1024);
}

#[test]
fn reasoning_models_get_room_to_reason_on_every_kind_that_sends_a_limit() {
    // (kind, model, the field that carries the limit, room expected)
    let cases = [
        ("openai", "deepseek/deepseek-reasoner", "max_tokens", true),
        ("openai", "openai/gpt-4o", "max_tokens", false),
        ("promptster", "openai/o3-mini", "max_tokens", true),
        (
            "promptster",
            "anthropic/claude-3-5-sonnet-20241022",
            "max_tokens",
            false,
        ),
    ];
    for (kind, model, field, room) in cases {
        let server = Server::start(|_| {
            Reply::json(
                200,
                json!({"response":"42","choices":[{"index":0,"message":{"content":"42"},"finish_reason":"stop"}]}),
            )
        });
        let tmp = tempfile::tempdir().unwrap();
        suite(tmp.path(), kind, &server.url(), model, "", 1);
        run(tmp.path());
        let sent = server.requests()[0].json()[field].as_u64();
        let want = if room { 1024 + 16384 } else { 1024 };
        assert_eq!(sent, Some(want), "{kind} {model}");
    }
}

#[test]
fn a_recording_keeps_cache_reasoning_and_finish_and_replays_to_the_same_cost() {
    let server = Server::start(|_| {
        openai(
            false,
            "",
            "length",
            json!({"prompt_tokens":2006,"completion_tokens":300,
                "prompt_tokens_details":{"cached_tokens":1920},"completion_tokens_details":{"reasoning_tokens":300}}),
        )
    });
    let tmp = tempfile::tempdir().unwrap();
    suite(tmp.path(), "openai", &server.url(), "openai/gpt-4o", "", 2);
    let o = bin()
        .args([
            "run",
            "--routes",
            "routes.toml",
            "--dataset",
            "dataset.jsonl",
            "--out",
            "live",
            "--quiet",
            "--record",
            "recording.jsonl",
        ])
        .current_dir(tmp.path())
        .env(KEY_ENV, KEY)
        .output()
        .unwrap();
    ok(&o);
    let line = &read_jsonl(&tmp.path().join("recording.jsonl"))
        .into_iter()
        .find(|l| l["model"] == "openai/gpt-4o")
        .unwrap();
    assert_eq!(line["cache_read_tokens"], 1920, "{line}");
    assert_eq!(line["reasoning_tokens"], 300);
    assert_eq!(line["finish_reason"], "length");
    // The same suite from the recording.
    let routes = read(&tmp.path().join("routes.toml"));
    let start = routes.find("kind = \"openai\"").unwrap();
    let end = start + routes[start..].find("\n\n").unwrap();
    let replay = format!(
        "{}kind = \"replay\"\npath = \"recording.jsonl\"{}",
        &routes[..start],
        &routes[end..]
    );
    std::fs::write(tmp.path().join("replay.toml"), replay).unwrap();
    let o = run_in(
        tmp.path(),
        &[
            "run",
            "--routes",
            "replay.toml",
            "--dataset",
            "dataset.jsonl",
            "--out",
            "replayed",
            "--quiet",
        ],
    );
    ok(&o);
    let live = candidate_rows(&only_run_dir(&tmp.path().join("live")));
    let replayed = candidate_rows(&only_run_dir(&tmp.path().join("replayed")));
    assert_eq!(live.len(), 2);
    for (a, b) in live.iter().zip(&replayed) {
        for f in [
            "cost_usd",
            "cache_read_tokens",
            "reasoning_tokens",
            "finish_reason",
            "truncated",
        ] {
            assert_eq!(a[f], b[f], "{f}: {a} vs {b}");
        }
    }
}
