//! Live providers against in-process servers that speak each wire format exactly and fail the
//! way real APIs do: every planned call ends in exactly one row, retries stay within policy,
//! and the server's own count of requests matches the attempts the results report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::server::{Reply, Request, Server};
use crate::common::*;

/// The test key. Long and unique, so that finding it anywhere is proof of a leak.
const KEY: &str = "sk-routecal-test-9f3c2a7e51b04d6a8e";
const KEY_ENV: &str = "ROUTECAL_TEST_API_KEY";
const BYOK: &str = "sk-ant-byok-test-0a1b2c3d4e5f6a7b";
const BYOK_ENV: &str = "ROUTECAL_TEST_ANTHROPIC_KEY";
const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Wire {
    OpenAi { stream: bool },
    Anthropic { stream: bool },
    Promptster,
}

/// What the server understood a request to be.
struct Call {
    model: String,
    prompt: String,
}

impl Wire {
    fn kind(self) -> &'static str {
        match self {
            Wire::OpenAi { .. } => "openai",
            Wire::Anthropic { .. } => "anthropic",
            Wire::Promptster => "promptster",
        }
    }

    fn stream(self) -> bool {
        matches!(
            self,
            Wire::OpenAi { stream: true } | Wire::Anthropic { stream: true }
        )
    }

    /// Check that the request is exactly what the wire format wants.
    fn check(self, r: &Request) -> Result<Call, String> {
        let want = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
        want(r.method == "POST", "method must be POST")?;
        want(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "content-type must be application/json",
        )?;
        let b = r.json();
        let max_tokens_ok = b["max_tokens"].as_u64().is_some_and(|n| n > 0);
        let single_user_message = |b: &Value| -> Result<String, String> {
            let msgs = b["messages"].as_array().ok_or("messages must be a list")?;
            want(msgs.len() == 1, "exactly one message")?;
            want(msgs[0]["role"] == "user", "the message role must be user")?;
            msgs[0]["content"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| "content must be a string".to_string())
        };
        match self {
            Wire::OpenAi { stream } => {
                want(
                    r.path == "/v1/chat/completions",
                    "path /v1/chat/completions",
                )?;
                want(
                    r.header("authorization") == Some(&format!("Bearer {KEY}")),
                    "Authorization: Bearer <key>",
                )?;
                want(max_tokens_ok, "max_tokens must be a positive integer")?;
                want(
                    b["stream"].as_bool().unwrap_or(false) == stream,
                    "stream flag as configured",
                )?;
                if stream {
                    want(
                        b["stream_options"]["include_usage"] == true,
                        "stream_options.include_usage",
                    )?;
                }
                Ok(Call {
                    model: format!("acme/{}", b["model"].as_str().ok_or("model")?),
                    prompt: single_user_message(&b)?,
                })
            }
            Wire::Anthropic { stream } => {
                want(r.path == "/v1/messages", "path /v1/messages")?;
                want(r.header("x-api-key") == Some(KEY), "x-api-key: <key>")?;
                want(
                    r.header("anthropic-version") == Some("2023-06-01"),
                    "anthropic-version: 2023-06-01",
                )?;
                want(
                    r.header("authorization").is_none(),
                    "no Authorization header",
                )?;
                want(max_tokens_ok, "max_tokens must be a positive integer")?;
                want(
                    b["stream"].as_bool().unwrap_or(false) == stream,
                    "stream flag as configured",
                )?;
                Ok(Call {
                    model: format!("acme/{}", b["model"].as_str().ok_or("model")?),
                    prompt: single_user_message(&b)?,
                })
            }
            Wire::Promptster => {
                want(r.path == "/v1/prompts/test", "path /v1/prompts/test")?;
                want(
                    r.header("authorization") == Some(&format!("Bearer {KEY}")),
                    "Authorization: Bearer <key>",
                )?;
                let provider = b["provider"].as_str().ok_or("provider")?;
                want(max_tokens_ok, "max_tokens must be a positive integer")?;
                // The bring-your-own key goes only with calls to its provider.
                let byok = r.header("x-anthropic-api-key");
                if provider == "anthropic" {
                    want(byok == Some(BYOK), "X-ANTHROPIC-API-KEY for anthropic")?;
                } else {
                    want(byok.is_none(), "no X-ANTHROPIC-API-KEY for other providers")?;
                }
                Ok(Call {
                    model: format!("{provider}/{}", b["model"].as_str().ok_or("model")?),
                    prompt: b["prompt"].as_str().ok_or("prompt")?.to_string(),
                })
            }
        }
    }

    /// A successful answer in the wire format; a stream sends its first token after `ttft`.
    fn answer(self, c: &Call, text: &str, ttft: Duration, item: &str) -> Reply {
        let (a, b) = text.split_at(text.len() / 2);
        let sse = |ev: Option<&str>, data: Value| {
            let head = ev.map(|e| format!("event: {e}\n")).unwrap_or_default();
            format!("{head}data: {data}\n\n")
        };
        let z = Duration::ZERO;
        let wire_model = c.model.split_once('/').unwrap().1;
        match self {
            Wire::OpenAi { stream: false } => Reply::json(
                200,
                json!({"id":"chatcmpl-1","object":"chat.completion","created":1795636911,"model":wire_model,
                    "choices":[{"index":0,"message":{"content":text,"role":"assistant"},"logprobs":null,"finish_reason":"stop"}],
                    "usage":{"prompt_tokens":40,"completion_tokens":6,"total_tokens":46}}),
            )
            .with_header("openai-processing-ms", "7"),
            Wire::OpenAi { stream: true } => {
                let chunk = |delta: Value, finish: Value| {
                    sse(None, json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":wire_model,
                        "choices":[{"index":0,"delta":delta,"logprobs":null,"finish_reason":finish}]}))
                };
                Reply::Events {
                    chunks: vec![
                        (z, chunk(json!({"role":"assistant"}), Value::Null)),
                        (ttft, chunk(json!({"content":a}), Value::Null)),
                        (z, chunk(json!({"content":b}), Value::Null)),
                        (z, chunk(json!({}), json!("stop"))),
                        (
                            z,
                            sse(
                                None,
                                json!({"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],
                                "usage":{"prompt_tokens":40,"completion_tokens":6,"total_tokens":46}}),
                            ),
                        ),
                        (z, "data: [DONE]\n\n".into()),
                    ],
                    cut: false,
                }
            }
            Wire::Anthropic { stream: false } => Reply::json(
                200,
                json!({"id":"msg_01","type":"message","role":"assistant","model":wire_model,
                    "content":[{"type":"text","text":text}],"stop_reason":"end_turn","stop_sequence":null,
                    "usage":{"input_tokens":40,"output_tokens":6}}),
            ),
            Wire::Anthropic { stream: true } => Reply::Events {
                chunks: vec![
                    (
                        z,
                        sse(
                            Some("message_start"),
                            json!({"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant",
                            "content":[],"model":wire_model,"stop_reason":null,"usage":{"input_tokens":40,"output_tokens":1}}}),
                        ),
                    ),
                    (
                        z,
                        sse(
                            Some("content_block_start"),
                            json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
                        ),
                    ),
                    (z, sse(Some("ping"), json!({"type":"ping"}))),
                    (
                        ttft,
                        sse(
                            Some("content_block_delta"),
                            json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":a}}),
                        ),
                    ),
                    (
                        z,
                        sse(
                            Some("content_block_delta"),
                            json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":b}}),
                        ),
                    ),
                    (
                        z,
                        sse(
                            Some("content_block_stop"),
                            json!({"type":"content_block_stop","index":0}),
                        ),
                    ),
                    (
                        z,
                        sse(
                            Some("message_delta"),
                            json!({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}),
                        ),
                    ),
                    (
                        z,
                        sse(Some("message_stop"), json!({"type":"message_stop"})),
                    ),
                ],
                cut: false,
            },
            // The two documented shapes, alternating by item.
            Wire::Promptster => {
                let odd = item.trim_start_matches('q').parse::<u32>().unwrap_or(0) % 2 == 1;
                if odd {
                    Reply::json(
                        200,
                        json!({"result":text,"metadata":{"provider":c.model.split('/').next(),"model":wire_model,
                            "input_tokens":40,"output_tokens":6,"cost_usd":0.0025,"latency_ms":612}}),
                    )
                } else {
                    Reply::json(
                        200,
                        json!({"id":"test_abc123","provider":c.model.split('/').next(),"model":wire_model,"prompt":c.prompt,
                            "response":text,"metadata":{"input_tokens":40,"output_tokens":6,"total_tokens":46,
                            "cost_usd":0.0025,"latency_ms":612},"judge":{"overall":4.5}}),
                    )
                }
            }
        }
    }
}

/// The journal key of the call a request belongs to.
fn key_of(c: &Call) -> String {
    let kind = if c.prompt.starts_with(CLASSIFIER_PREFIX) {
        "classifier"
    } else {
        "candidate"
    };
    format!("{kind}|{}|{}|0", item_of(&c.prompt), c.model)
}

/// The answer a healthy server gives.
fn expected_text(c: &Call) -> String {
    if c.prompt.starts_with(CLASSIFIER_PREFIX) {
        "factual quality".into()
    } else {
        format!("ans-{} from {}", item_of(&c.prompt), c.model)
    }
}

/// The wire's answer to a request, or a 400 naming what the request got wrong.
fn healthy(wire: Wire, r: &Request, ttft: Duration) -> Reply {
    match wire.check(r) {
        Ok(c) => wire.answer(&c, &expected_text(&c), ttft, &item_of(&c.prompt)),
        Err(what) => Reply::json(400, json!({"error": format!("bad request: {what}")})),
    }
}

/// A routes file with a live classifier and two live candidates on one endpoint.
fn routes(wire: Wire, url: &str, endpoint_extra: &str) -> String {
    let (clf, a, b) = match wire {
        Wire::Promptster => ("google/clf", "openai/alpha", "anthropic/beta"),
        _ => ("acme/clf", "acme/alpha", "acme/beta"),
    };
    let byok = if wire == Wire::Promptster {
        format!(
            "\n[endpoints.api.provider_keys]\nanthropic = {{ header = \"X-ANTHROPIC-API-KEY\", env = \"{BYOK_ENV}\" }}\n"
        )
    } else {
        String::new()
    };
    format!(
        r#"[classifier]
model = "{clf}"

[endpoints.api]
kind = "{kind}"
base_url = "{url}/v1"
api_key_env = "{KEY_ENV}"
max_concurrency = 4
{timeout}max_attempts = {MAX_ATTEMPTS}
backoff_base_ms = 5
backoff_cap_ms = 40
{stream}{endpoint_extra}
{byok}
[models."{clf}"]
endpoint = "api"
tier = "budget"
candidate = false
input_per_mtok = 0.1
output_per_mtok = 0.2

[models."{a}"]
endpoint = "api"
tier = "budget"
input_per_mtok = 1.0
output_per_mtok = 2.0

[models."{b}"]
endpoint = "api"
tier = "budget"
input_per_mtok = 3.0
output_per_mtok = 4.0

[default]
primary = "{a}"
fallback = "{b}"
"#,
        kind = wire.kind(),
        stream = if wire.stream() { "stream = true\n" } else { "" },
        timeout = if endpoint_extra.contains("timeout_s") {
            ""
        } else {
            "timeout_s = 1\n"
        },
    )
}

/// `src` with the body of `[endpoints.api]` replaced.
fn replace_endpoint(src: &str, body: &str) -> String {
    let start = src.find("[endpoints.api]\n").unwrap() + "[endpoints.api]\n".len();
    let end = start + src[start..].find("\n[").unwrap() + 1;
    format!("{}{body}{}", &src[..start], &src[end..])
}

/// A routes file with the free keywords classifier and one live candidate, `acme/alpha`.
fn one_model_routes(wire: Wire, url: &str, endpoint_extra: &str) -> String {
    format!(
        r#"[classifier]
model = "builtin/keywords"

[endpoints.kw]
kind = "keywords"

[endpoints.api]
kind = "{kind}"
base_url = "{url}/v1"
api_key_env = "{KEY_ENV}"
max_attempts = {MAX_ATTEMPTS}
backoff_base_ms = 5
backoff_cap_ms = 40
{stream}{endpoint_extra}

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
"#,
        kind = wire.kind(),
        stream = if wire.stream() { "stream = true\n" } else { "" },
    )
}

fn dataset(items: usize) -> String {
    factual_items(items, |i| vec![format!("ans-q{i}")], Some(64)).join("\n")
}

struct Run {
    tmp: tempfile::TempDir,
    out: Output,
}

impl Run {
    fn dir(&self) -> PathBuf {
        only_run_dir(&self.tmp.path().join("reports"))
    }

    fn journal(&self) -> Vec<Value> {
        read_jsonl(&self.dir().join("journal.jsonl"))
    }

    fn row(&self, key: &str) -> Value {
        self.journal()
            .into_iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("no journal row {key}"))
    }
}

/// Write the suite into a fresh folder and run it with the test keys in the environment.
fn run_live(routes_toml: &str, items: usize, extra_args: &[&str]) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("routes.toml"), routes_toml).unwrap();
    std::fs::write(tmp.path().join("dataset.jsonl"), dataset(items)).unwrap();
    let out = run_with_keys(tmp.path(), extra_args);
    Run { tmp, out }
}

fn run_with_keys(dir: &Path, extra_args: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--routes",
        "routes.toml",
        "--dataset",
        "dataset.jsonl",
        "--out",
        "reports",
    ];
    args.extend_from_slice(extra_args);
    bin()
        .args(&args)
        .current_dir(dir)
        .env(KEY_ENV, KEY)
        .env(BYOK_ENV, BYOK)
        .output()
        .expect("routecal runs")
}

/// What a bad day looks like; a streamed wire also gets streams cut short.
fn fault(wire: Wire, nth_fault: usize, healthy_reply: Reply) -> (&'static str, Reply) {
    let kinds = if wire.stream() { 11 } else { 10 };
    match nth_fault % kinds {
        0 => (
            "429",
            Reply::json(
                429,
                json!({"error":{"message":"Rate limit reached: 60 requests per minute","type":"rate_limit_error"}}),
            ),
        ),
        1 => (
            "429 Retry-After seconds",
            Reply::json(429, json!({"error":"slow down"})).with_header("retry-after", "0"),
        ),
        2 => (
            "429 Retry-After date",
            Reply::json(429, json!({"message":"slow down"}))
                .with_header("retry-after", "Thu, 01 Jan 2015 00:00:00 GMT"),
        ),
        3 => ("500", Reply::text(500, "Internal Server Error")),
        4 => (
            "502",
            Reply::text(502, "<html><body>502 Bad Gateway</body></html>"),
        ),
        5 => (
            "503",
            Reply::json(
                503,
                json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}),
            )
            .with_header("retry-after-ms", "20"),
        ),
        6 => ("stall", Reply::Stall(Duration::from_secs(2))),
        7 => ("drop", Reply::Drop),
        8 => (
            "truncated",
            match healthy_reply {
                Reply::Full { status, body, .. } => Reply::Truncated {
                    status,
                    declared: body.len(),
                    body: body[..body.len() / 2].to_vec(),
                },
                Reply::Events { mut chunks, .. } => {
                    chunks.truncate(2);
                    Reply::Events { chunks, cut: true }
                }
                other => other,
            },
        ),
        9 => (
            "not json",
            Reply::Full {
                status: 200,
                headers: vec![("content-type".into(), "text/html".into())],
                body: b"<html>Down for maintenance</html>".to_vec(),
            },
        ),
        _ => (
            "stream cut",
            match healthy_reply {
                Reply::Events { mut chunks, .. } => {
                    chunks.truncate(chunks.len() - 1);
                    Reply::Events { chunks, cut: true }
                }
                other => other,
            },
        ),
    }
}

/// 30% of requests fail, cycling through every kind of failure.
fn faulty_server(wire: Wire) -> (Server, Arc<std::sync::Mutex<Vec<&'static str>>>) {
    let counter = Arc::new(AtomicUsize::new(0));
    let injected = Arc::new(std::sync::Mutex::new(Vec::new()));
    let inj = injected.clone();
    let server = Server::start(move |r| {
        let reply = healthy(wire, r, Duration::from_millis(5));
        if matches!(&reply, Reply::Full { status: 400, .. }) {
            return reply;
        }
        let n = counter.fetch_add(1, Ordering::SeqCst);
        if n % 10 < 3 {
            let (name, f) = fault(wire, n / 10 * 3 + n % 10, reply);
            inj.lock().unwrap().push(name);
            f
        } else {
            reply
        }
    });
    (server, injected)
}

fn faults_leave_one_row_per_call_and_no_call_beyond_its_retries(wire: Wire) {
    let items = 16;
    let (server, injected) = faulty_server(wire);
    let run = run_live(&routes(wire, &server.url(), ""), items, &[]);
    ok(&run.out);
    let dir = run.dir();

    // Every kind of failure happened.
    let kinds: HashSet<&str> = injected.lock().unwrap().iter().copied().collect();
    let expected_kinds = if wire.stream() { 11 } else { 10 };
    assert_eq!(kinds.len(), expected_kinds, "{kinds:?}");

    // Every planned call has exactly one row.
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    let planned = manifest["totals"]["planned_calls"].as_u64().unwrap() as usize;
    assert_eq!(planned, items * 3);
    let journal = run.journal();
    assert_eq!(journal.len(), planned);
    let keys: HashSet<&str> = journal.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), planned, "one row per call");
    assert_eq!(read_csv(&dir.join("results.csv")).len(), items * 2);
    assert_eq!(
        read_csv(&dir.join("classifier_predictions.csv")).len(),
        items
    );

    // The server's count of each call's requests is the number of attempts reported.
    let mut served: HashMap<String, u32> = HashMap::new();
    for r in server.requests() {
        let c = wire.check(&r).unwrap_or_else(|e| panic!("{e}: {r:?}"));
        *served.entry(key_of(&c)).or_default() += 1;
    }
    let mut retried = 0;
    for row in &journal {
        let key = row["key"].as_str().unwrap();
        let attempts = row["attempts"].as_u64().unwrap() as u32;
        assert!((1..=MAX_ATTEMPTS).contains(&attempts), "{row}");
        assert_eq!(served.get(key).copied(), Some(attempts), "{key}: {row}");
        if attempts > 1 {
            retried += 1;
        }
        if row["ok"] == true {
            let (kind, item, model) = {
                let p: Vec<&str> = key.split('|').collect();
                (p[0], p[1], p[2])
            };
            let want = if kind == "classifier" {
                "factual quality".to_string()
            } else {
                format!("ans-{item} from {model}")
            };
            assert_eq!(row["response"], want.as_str(), "{row}");
        } else {
            // Only retryable failures can be left, and only after every attempt was spent.
            assert_eq!(attempts, MAX_ATTEMPTS, "{row}");
            let k = row["error_kind"].as_str().unwrap();
            assert!(
                [
                    "rate_limited",
                    "server",
                    "timeout",
                    "connection",
                    "bad_body"
                ]
                .contains(&k),
                "{row}"
            );
        }
    }
    assert!(retried > 0);
    assert_eq!(
        served.values().sum::<u32>(),
        journal
            .iter()
            .map(|r| r["attempts"].as_u64().unwrap() as u32)
            .sum::<u32>()
    );
}

#[test]
fn openai_survives_faults_with_one_row_per_call() {
    faults_leave_one_row_per_call_and_no_call_beyond_its_retries(Wire::OpenAi { stream: false });
}

#[test]
fn openai_streaming_survives_faults_with_one_row_per_call() {
    faults_leave_one_row_per_call_and_no_call_beyond_its_retries(Wire::OpenAi { stream: true });
}

#[test]
fn anthropic_survives_faults_with_one_row_per_call() {
    faults_leave_one_row_per_call_and_no_call_beyond_its_retries(Wire::Anthropic { stream: false });
}

#[test]
fn anthropic_streaming_survives_faults_with_one_row_per_call() {
    faults_leave_one_row_per_call_and_no_call_beyond_its_retries(Wire::Anthropic { stream: true });
}

#[test]
fn promptster_survives_faults_with_one_row_per_call() {
    faults_leave_one_row_per_call_and_no_call_beyond_its_retries(Wire::Promptster);
}

fn results_by_key(run: &Run) -> BTreeMap<(String, String), HashMap<String, String>> {
    read_csv(&run.dir().join("results.csv"))
        .into_iter()
        .map(|r| ((r["item_id"].clone(), r["model"].clone()), r))
        .collect()
}

#[test]
fn openai_usage_server_latency_and_price_table_cost_are_kept() {
    let wire = Wire::OpenAi { stream: false };
    let server = Server::start(move |r| healthy(wire, r, Duration::ZERO));
    let run = run_live(&routes(wire, &server.url(), "timeout_s = 10\n"), 2, &[]);
    ok(&run.out);
    let rows = results_by_key(&run);
    let r = &rows[&("q1".to_string(), "acme/beta".to_string())];
    assert_eq!(r["ok"], "true");
    assert_eq!(r["answer"], "ans-q1 from acme/beta");
    assert_eq!(r["score"], "1");
    assert_eq!(
        (r["input_tokens"].as_str(), r["output_tokens"].as_str()),
        ("40", "6")
    );
    assert_eq!(r["tokens_source"], "reported");
    assert_eq!(r["cost_source"], "price_table");
    let cost: f64 = r["cost_usd"].parse().unwrap();
    assert!(
        (cost - (40.0 * 3.0 + 6.0 * 4.0) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    assert_eq!(r["latency_source"], "measured");
    assert_eq!(r["server_latency_ms"], "7");
    assert_eq!(r["ttft_ms"], "");
    assert_eq!(r["attempts"], "1");
    assert_eq!(server.requests().len(), 2 * 3);
}

#[test]
fn streaming_measures_time_to_first_token() {
    for wire in [
        Wire::OpenAi { stream: true },
        Wire::Anthropic { stream: true },
    ] {
        let server = Server::start(move |r| healthy(wire, r, Duration::from_millis(150)));
        let run = run_live(&routes(wire, &server.url(), "timeout_s = 5\n"), 2, &[]);
        ok(&run.out);
        for r in results_by_key(&run).values() {
            assert_eq!(r["ok"], "true", "{wire:?} {r:?}");
            assert!(r["answer"].starts_with("ans-q"), "{r:?}");
            assert_eq!(r["tokens_source"], "reported", "{r:?}");
            let ttft: f64 = r["ttft_ms"].parse().unwrap();
            let total: f64 = r["latency_ms"].parse().unwrap();
            assert!(
                ttft >= 140.0,
                "{wire:?}: the first token came 150 ms in, ttft {ttft}"
            );
            assert!(ttft <= total, "{ttft} > {total}");
        }
    }
}

#[test]
fn promptster_reported_cost_and_latency_from_either_shape() {
    let wire = Wire::Promptster;
    let server = Server::start(move |r| healthy(wire, r, Duration::ZERO));
    let run = run_live(&routes(wire, &server.url(), "timeout_s = 10\n"), 2, &[]);
    ok(&run.out);
    let rows = results_by_key(&run);
    assert_eq!(rows.len(), 4);
    for r in rows.values() {
        assert_eq!(r["ok"], "true", "{r:?}");
        assert_eq!(r["score"], "1", "{r:?}");
        assert_eq!(r["cost_source"], "reported", "{r:?}");
        assert_eq!(r["cost_usd"], "0.0025", "{r:?}");
        assert_eq!(r["server_latency_ms"], "612", "{r:?}");
        assert_eq!(r["latency_source"], "measured", "{r:?}");
        assert_eq!(r["tokens_source"], "reported", "{r:?}");
    }
}

#[test]
fn fatal_errors_are_not_retried_and_quota_fails_fast() {
    let wire = Wire::Promptster;
    let server = Server::start(move |r| {
        let c = match wire.check(r) {
            Ok(c) => c,
            Err(e) => return Reply::json(400, json!({ "error": e })),
        };
        if c.prompt.starts_with(CLASSIFIER_PREFIX) {
            return healthy(wire, r, Duration::ZERO);
        }
        // Late answers, so that every call has started before the first `auth` stops the endpoint.
        let late = |reply| Reply::After(Duration::from_millis(1000), Box::new(reply));
        late(match item_of(&c.prompt).as_str() {
            "q0" => Reply::json(401, json!({"error":"invalid api key"})),
            "q1" => Reply::json(
                403,
                json!({"error":{"code":"forbidden","message":"no access"}}),
            ),
            "q2" => Reply::json(400, json!({"message":"max_tokens too large"})),
            "q3" => Reply::text(404, "model not found"),
            "q4" => Reply::json(402, json!({"error":"payment required"})),
            "q5" => Reply::json(
                429,
                json!({"error":{"type":"insufficient_quota","message":"You exceeded your current quota, please check your plan and billing details."}}),
            ),
            "q6" => {
                Reply::json(429, json!({"error":"daily limit"})).with_header("retry-after", "3600")
            }
            "q7" => Reply::Full {
                status: 307,
                headers: vec![(
                    "location".into(),
                    "https://www.example.test/v1/prompts/test".into(),
                )],
                body: vec![],
            },
            _ => healthy(wire, r, Duration::ZERO),
        })
    });
    // Every call in flight at once: the first `auth` or `quota_exhausted` answer stops the
    // endpoint's later calls, and the run exits 1 naming it.
    let all_at_once = routes(wire, &server.url(), "timeout_s = 10\n")
        .replace("max_concurrency = 4", "max_concurrency = 64");
    let run = run_live(&all_at_once, 9, &[]);
    assert_eq!(run.out.status.code(), Some(1), "{}", stderr(&run.out));
    let err = stderr(&run.out);
    assert!(
        err.contains("endpoint api refused calls (auth)")
            || err.contains("endpoint api refused calls (quota_exhausted)"),
        "{err}"
    );
    let expect = [
        ("q0", "auth", "401", "invalid api key"),
        ("q1", "auth", "403", "no access"),
        ("q2", "bad_request", "400", "max_tokens too large"),
        ("q3", "bad_request", "404", "model not found"),
        ("q4", "quota_exhausted", "402", "payment required"),
        (
            "q5",
            "quota_exhausted",
            "429",
            "exceeded your current quota",
        ),
        ("q6", "quota_exhausted", "429", "max_retry_after_s"),
        ("q7", "redirect", "307", "redirects are never followed"),
    ];
    let rows = results_by_key(&run);
    for (item, kind, status, msg) in expect {
        let r = &rows[&(item.to_string(), "openai/alpha".to_string())];
        assert_eq!(r["ok"], "false", "{r:?}");
        assert_eq!(r["error_kind"], kind, "{r:?}");
        assert_eq!(r["http_status"], status, "{r:?}");
        assert!(r["error"].contains(msg), "{msg:?} in {r:?}");
        assert_eq!(r["attempts"], "1", "{r:?}");
        assert_eq!(r["cost_source"], "not_billed", "{r:?}");
    }
    assert_eq!(
        rows[&("q8".to_string(), "openai/alpha".to_string())]["ok"],
        "true"
    );
    // One request per call: nothing was retried.
    assert_eq!(server.requests().len(), 9 * 3);
}

#[test]
fn retry_after_pauses_the_whole_endpoint() {
    let wire = Wire::OpenAi { stream: false };
    let server = Server::start(move |r| {
        let c = wire.check(r).unwrap();
        if item_of(&c.prompt) == "q0" && r.nth == 1 {
            Reply::json(429, json!({"error":"slow down"})).with_header("retry-after", "1")
        } else {
            Reply::After(
                Duration::from_millis(100),
                Box::new(healthy(wire, r, Duration::ZERO)),
            )
        }
    });
    let run = run_live(
        &one_model_routes(wire, &server.url(), "max_concurrency = 2\ntimeout_s = 5\n"),
        6,
        &[],
    );
    ok(&run.out);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 7);
    let first = reqs
        .iter()
        .find(|r| item_of(&wire.check(r).unwrap().prompt) == "q0")
        .unwrap()
        .at;
    // Without the pause, the calls after the first two would start within ~100 ms.
    let early = reqs
        .iter()
        .filter(|r| r.at < first + Duration::from_millis(950))
        .count();
    assert!(early <= 2, "{early} requests inside the Retry-After window");
    let retry = reqs
        .iter()
        .filter(|r| item_of(&wire.check(r).unwrap().prompt) == "q0")
        .nth(1)
        .unwrap()
        .at;
    assert!(retry.duration_since(first) >= Duration::from_millis(990));
    assert_eq!(run.row("candidate|q0|acme/alpha|0")["attempts"], 2);
}

#[test]
fn requests_per_minute_spaces_requests_evenly() {
    let wire = Wire::OpenAi { stream: false };
    let server = Server::start(move |r| healthy(wire, r, Duration::ZERO));
    let run = run_live(
        &one_model_routes(
            wire,
            &server.url(),
            "requests_per_minute = 600\nmax_concurrency = 8\n",
        ),
        6,
        &[],
    );
    ok(&run.out);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 6);
    let span = reqs[5].at.duration_since(reqs[0].at);
    // 600 a minute is one every 100 ms: six requests span at least 500 ms.
    assert!(span >= Duration::from_millis(450), "{span:?}");
}

#[test]
fn calls_to_one_endpoint_reuse_one_connection() {
    let wire = Wire::OpenAi { stream: false };
    let server = Server::start(move |r| healthy(wire, r, Duration::ZERO));
    let run = run_live(
        &one_model_routes(wire, &server.url(), "max_concurrency = 1\n"),
        6,
        &[],
    );
    ok(&run.out);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 6);
    let connections: HashSet<usize> = reqs.iter().map(|r| r.connection).collect();
    assert_eq!(connections.len(), 1, "keep-alive: {connections:?}");
}

#[test]
fn a_slow_endpoint_never_delays_another() {
    let wire = Wire::OpenAi { stream: false };
    let slow = Server::start(move |r| {
        Reply::After(
            Duration::from_millis(500),
            Box::new(healthy(wire, r, Duration::ZERO)),
        )
    });
    let fast = Server::start(move |r| healthy(wire, r, Duration::ZERO));
    let routes_toml = format!(
        r#"[classifier]
model = "builtin/keywords"

[endpoints.kw]
kind = "keywords"

[endpoints.slow]
kind = "openai"
base_url = "{slow}/v1"
api_key_env = "{KEY_ENV}"
max_concurrency = 1
timeout_s = 5

[endpoints.fast]
kind = "openai"
base_url = "{fast}/v1"
api_key_env = "{KEY_ENV}"
max_concurrency = 1

[models."builtin/keywords"]
endpoint = "kw"
tier = "budget"

[models."acme/alpha"]
endpoint = "slow"
tier = "budget"
input_per_mtok = 1.0
output_per_mtok = 2.0

[models."acme/beta"]
endpoint = "fast"
tier = "budget"
input_per_mtok = 1.0
output_per_mtok = 2.0

[default]
primary = "acme/alpha"
"#,
        slow = slow.url(),
        fast = fast.url()
    );
    let run = run_live(&routes_toml, 4, &[]);
    ok(&run.out);
    let journal = run.journal();
    let finished = |model: &str| -> Vec<i64> {
        let mut v: Vec<i64> = journal
            .iter()
            .filter(|r| r["model"] == model)
            .map(|r| r["finished_ms"].as_i64().unwrap())
            .collect();
        v.sort();
        v
    };
    let (slow_done, fast_done) = (finished("acme/alpha"), finished("acme/beta"));
    assert_eq!((slow_done.len(), fast_done.len()), (4, 4));
    // The slow endpoint answers one call every 500 ms; the fast one is done before its second.
    assert!(
        fast_done[3] < slow_done[1],
        "fast {fast_done:?} slow {slow_done:?}"
    );
}

#[test]
fn a_promptster_test_key_is_throttled_to_five_a_minute_unless_configured() {
    let wire = Wire::Promptster;
    let test_key = "pk_test_routecal0123456789abcdef";
    let server = Server::start(move |r| {
        // The wire check wants the usual test key: accept the test key in its place.
        let mut r = r.clone();
        if r.header("authorization") == Some(&format!("Bearer {test_key}")) {
            r.headers
                .insert("authorization".into(), format!("Bearer {KEY}"));
        }
        healthy(wire, &r, Duration::ZERO)
    });
    let base = one_model_routes(wire, &server.url(), "").replace("acme/alpha", "openai/alpha");
    for (extra, throttled) in [("", true), ("requests_per_minute = 100\n", false)] {
        let tmp = tempfile::tempdir().unwrap();
        let src = base.replace(
            "backoff_cap_ms = 40\n",
            &format!("backoff_cap_ms = 40\n{extra}"),
        );
        std::fs::write(tmp.path().join("routes.toml"), src).unwrap();
        std::fs::write(tmp.path().join("dataset.jsonl"), dataset(1)).unwrap();
        let o = bin()
            .args([
                "run",
                "--routes",
                "routes.toml",
                "--dataset",
                "dataset.jsonl",
                "--out",
                "reports",
            ])
            .current_dir(tmp.path())
            .env(KEY_ENV, test_key)
            .output()
            .unwrap();
        ok(&o);
        let err = stderr(&o);
        assert_eq!(
            err.contains("5 requests a minute (a pk_test_ key"),
            throttled,
            "{err}"
        );
        assert!(!err.contains(test_key));
        let r = &read_csv(&only_run_dir(&tmp.path().join("reports")).join("results.csv"))[0];
        assert_eq!(r["ok"], "true", "{r:?}");
    }
}

#[test]
fn the_api_key_appears_in_no_file_and_no_output() {
    let wire = Wire::OpenAi { stream: false };
    // A careless server that echoes the key back in errors and answers.
    let server = Server::start(move |r| {
        let c = wire.check(r).unwrap();
        let auth = r.header("authorization").unwrap_or("").to_string();
        match item_of(&c.prompt).as_str() {
            // Late (within the endpoint's 1 s timeout), so that every call has started before
            // the `auth` stops the endpoint.
            "q0" => Reply::After(
                Duration::from_millis(400),
                Box::new(Reply::json(
                    401,
                    json!({"error":{"message":format!("Incorrect API key provided: {auth}")}}),
                )),
            ),
            "q1" if r.nth == 1 => Reply::text(500, &format!("upstream refused {auth}")),
            "q2" => wire.answer(
                &c,
                &format!("ans-q2 (you sent {auth})"),
                Duration::ZERO,
                "q2",
            ),
            _ => healthy(wire, r, Duration::ZERO),
        }
    });
    // Every call in flight at once: the `auth` answer stops the endpoint's later calls (exit 1).
    let run = run_live(
        &routes(wire, &server.url(), "").replace("max_concurrency = 4", "max_concurrency = 64"),
        4,
        &["--record", "recording.jsonl"],
    );
    assert_eq!(run.out.status.code(), Some(1), "{}", stderr(&run.out));
    let mut haystacks = vec![
        ("stdout".to_string(), stdout(&run.out)),
        ("stderr".to_string(), stderr(&run.out)),
    ];
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((
                    p.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    walk(run.tmp.path(), &mut haystacks);
    assert!(haystacks.len() >= 10, "{}", haystacks.len());
    for (name, text) in &haystacks {
        assert!(!text.contains(KEY), "the key leaked into {name}");
    }
    // The echoes did arrive, and were scrubbed where they landed.
    let journal = std::fs::read_to_string(run.dir().join("journal.jsonl")).unwrap();
    assert!(
        journal.contains("Incorrect API key provided: Bearer [redacted]"),
        "{journal}"
    );
    let recording = std::fs::read_to_string(run.tmp.path().join("recording.jsonl")).unwrap();
    assert!(
        recording.contains("(you sent Bearer [redacted])"),
        "{recording}"
    );
}

#[test]
fn a_recorded_live_run_replays_offline_to_the_same_results() {
    let wire = Wire::OpenAi { stream: true };
    let server = Server::start(move |r| healthy(wire, r, Duration::from_millis(20)));
    let live = run_live(
        &routes(wire, &server.url(), "timeout_s = 5\n"),
        3,
        &["--record", "recording.jsonl"],
    );
    ok(&live.out);
    let recording = read_jsonl(&live.tmp.path().join("recording.jsonl"));
    assert_eq!(
        recording.len(),
        3 * 3,
        "every live answer, classifier included"
    );
    for line in &recording {
        assert_eq!(line["repeat"], 0);
        assert!(line["ttft_ms"].as_f64().is_some(), "{line}");
    }

    // The same suite, answered from the recording.
    let replay_routes = replace_endpoint(
        &routes(wire, &server.url(), ""),
        "kind = \"replay\"\npath = \"recording.jsonl\"\n",
    );
    assert!(
        replay_routes.contains("kind = \"replay\""),
        "{replay_routes}"
    );
    std::fs::write(live.tmp.path().join("replay.toml"), replay_routes).unwrap();
    let before = server.requests().len();
    let o = bin()
        .args([
            "run",
            "--routes",
            "replay.toml",
            "--dataset",
            "dataset.jsonl",
            "--out",
            "replayed",
        ])
        .current_dir(live.tmp.path())
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(server.requests().len(), before, "a replay calls nothing");
    let replayed: BTreeMap<_, _> =
        read_csv(&only_run_dir(&live.tmp.path().join("replayed")).join("results.csv"))
            .into_iter()
            .map(|r| ((r["item_id"].clone(), r["model"].clone()), r))
            .collect();
    let original = results_by_key(&live);
    assert_eq!(replayed.len(), original.len());
    for (k, a) in &original {
        let b = &replayed[k];
        for col in [
            "ok",
            "answer",
            "score",
            "input_tokens",
            "output_tokens",
            "tokens_source",
            "cost_usd",
            "latency_ms",
            "ttft_ms",
        ] {
            assert_eq!(a[col], b[col], "{col} of {k:?}");
        }
        assert_eq!(b["latency_source"], "recorded");
    }
    let replies = |dir: &Path| -> Vec<(String, String, String)> {
        let mut v: Vec<_> = read_csv(&dir.join("classifier_predictions.csv"))
            .into_iter()
            .map(|r| {
                (
                    r["item_id"].clone(),
                    r["classifier"].clone(),
                    r["reply"].clone(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let live_replies = replies(&live.dir());
    assert_eq!(live_replies.len(), 3);
    assert!(
        live_replies.iter().all(|r| r.2 == "factual quality"),
        "{live_replies:?}"
    );
    assert_eq!(
        live_replies,
        replies(&only_run_dir(&live.tmp.path().join("replayed")))
    );
}

#[test]
fn an_unset_key_variable_is_bad_input_located_in_the_routes_file() {
    let tmp = tempfile::tempdir().unwrap();
    let src = routes(Wire::Anthropic { stream: false }, "http://127.0.0.1:9", "");
    std::fs::write(tmp.path().join("routes.toml"), &src).unwrap();
    std::fs::write(tmp.path().join("dataset.jsonl"), dataset(1)).unwrap();
    let o = bin()
        .args([
            "run",
            "--routes",
            "routes.toml",
            "--dataset",
            "dataset.jsonl",
            "--out",
            "reports",
        ])
        .current_dir(tmp.path())
        .env_remove(KEY_ENV)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let line = src.lines().position(|l| l == "[endpoints.api]").unwrap() + 1;
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "routes.toml:{line}: endpoints.api.api_key_env: environment variable {KEY_ENV} is not set"
        )),
        "{err}"
    );
    assert!(!tmp.path().join("reports").exists());
}
