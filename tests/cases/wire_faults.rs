//! Hostile servers on the wire: bodies without end or without bound, event-stream lines that
//! never end, errors sent as a 200 to a stream request, streams that end without their last
//! marker. Every call must end by its deadline or its size limit, with a typed error, in bounded
//! memory; and an error or an answer must be read for what it is, whatever the framing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::server::{Reply, Server, sse};
use crate::common::*;

const KEY: &str = "sk-routecal-wire-7d1e5c9a3b2f4e6d8c";
const KEY_ENV: &str = "ROUTECAL_WIRE_TEST_KEY";

/// What a hostile server does after reading a request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hostile {
    /// A 200 JSON completion announced and sent as 200 MB.
    BigBody,
    /// A 500 whose body is 200 MB.
    BigError,
    /// A 200 with chunked encoding that never sends its last chunk.
    EndlessChunks,
    /// An event stream whose first line never ends.
    EndlessLine,
    /// An event stream of valid events that never ends.
    EndlessEvents,
}

/// A raw-socket server on 127.0.0.1:0 that answers every request with `mode`, writing as fast
/// as the client reads, until the client goes away or a minute has passed.
struct HostileServer {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
}

impl HostileServer {
    fn start(mode: Hostile) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (st, rq) = (stop.clone(), requests.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        rq.fetch_add(1, Ordering::SeqCst);
                        let st = st.clone();
                        std::thread::spawn(move || serve(sock, mode, &st));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HostileServer {
            port,
            stop,
            requests,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn read_head(sock: &mut TcpStream) -> Option<()> {
    sock.set_nonblocking(false).ok()?;
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        let n = sock.read(&mut b).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < i + 4 + len {
                let n = sock.read(&mut b).ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&b[..n]);
            }
            return Some(());
        }
    }
}

fn serve(mut sock: TcpStream, mode: Hostile, stop: &AtomicBool) {
    if read_head(&mut sock).is_none() {
        return;
    }
    let mb = vec![b'a'; 1 << 20];
    let head: String = match mode {
        Hostile::BigBody => {
            let pre = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":""#;
            let total = pre.len() + 200 * (1 << 20) + 3;
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {total}\r\n\r\n{pre}")
        }
        Hostile::BigError => format!(
            "HTTP/1.1 500 X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
            200 << 20
        ),
        Hostile::EndlessChunks => {
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n".into()
        }
        Hostile::EndlessLine => {
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: ".into()
        }
        Hostile::EndlessEvents => {
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n".into()
        }
    };
    if sock.write_all(head.as_bytes()).is_err() {
        return;
    }
    let event = format!(
        "data: {}\n\n",
        json!({"choices":[{"index":0,"delta":{"content":"x".repeat(60_000)}}]})
    );
    let chunk: Vec<u8> = match mode {
        Hostile::EndlessChunks => {
            let mut c = format!("{:x}\r\n", mb.len()).into_bytes();
            c.extend_from_slice(&mb);
            c.extend_from_slice(b"\r\n");
            c
        }
        Hostile::EndlessEvents => event.into_bytes(),
        _ => mb,
    };
    let t0 = Instant::now();
    let mut sent = 0usize;
    while !stop.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(60) {
        if matches!(mode, Hostile::BigBody | Hostile::BigError) && sent >= 200 {
            break;
        }
        if sock.write_all(&chunk).is_err() {
            return;
        }
        sent += 1;
    }
}

/// A suite with the keywords classifier and one live candidate on endpoint `api`.
fn suite(dir: &Path, kind: &str, url: &str, endpoint_extra: &str, items: usize) {
    let routes = LiveRoutes {
        kind,
        url,
        key_env: KEY_ENV,
        endpoint: &format!(
            "max_concurrency = 2\nmax_attempts = 1\nbackoff_base_ms = 5\nbackoff_cap_ms = 20\n{endpoint_extra}"
        ),
        models: &ALPHA_BETA[..ALPHA_BETA.find("\n\n").unwrap()],
        default: "primary = \"acme/alpha\"",
    };
    std::fs::write(dir.join("routes.toml"), routes.render()).unwrap();
    let ds = factual_items(items, |_| vec!["42".into()], Some(64));
    std::fs::write(dir.join("dataset.jsonl"), ds.join("\n")).unwrap();
}

/// What a finished run left: exit code, wall time, the child's peak RSS, candidate rows.
struct Outcome {
    code: Option<i32>,
    wall: Duration,
    peak_rss_mib: u64,
    rows: Vec<Value>,
    stderr: String,
}

/// The exit code a run must end with: 1 when a model had no call answered (a run that measures
/// nothing fails loudly), else 0.
fn loud_exit(o: &Outcome) -> i32 {
    let answered = o.rows.iter().any(|r| r["error_kind"].is_null());
    if answered { 0 } else { 1 }
}

/// Run the suite in `dir`, measuring the child's own peak RSS ([`wait_with_peak_mib`]).
fn run_measured(dir: &Path) -> Outcome {
    use std::process::Stdio;
    let t0 = Instant::now();
    let err_path = dir.join("stderr.txt");
    let mut child = bin()
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
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let (status, peak_rss_mib) = wait_with_peak_mib(&mut child);
    let wall = t0.elapsed();
    let code = status.code();
    let rows = std::fs::read_dir(dir.join("reports"))
        .ok()
        .and_then(|mut d| d.next())
        .map(|e| read_jsonl(&e.unwrap().path().join("journal.jsonl")))
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r["kind"] == "candidate")
        .collect();
    Outcome {
        code,
        wall,
        peak_rss_mib,
        rows,
        stderr: std::fs::read_to_string(err_path).unwrap_or_default(),
    }
}

fn hostile_run(mode: Hostile, kind: &str, stream: bool, extra: &str) -> (Outcome, usize) {
    let server = HostileServer::start(mode);
    let tmp = tempfile::tempdir().unwrap();
    let extra = format!(
        "timeout_s = 30\n{}{extra}",
        if stream { "stream = true\n" } else { "" }
    );
    suite(tmp.path(), kind, &server.url(), &extra, 2);
    let o = run_measured(tmp.path());
    (o, server.requests.load(Ordering::SeqCst))
}

fn kinds_of(o: &Outcome) -> Vec<String> {
    o.rows
        .iter()
        .map(|r| r["error_kind"].as_str().unwrap_or("ok").to_string())
        .collect()
}

#[test]
fn huge_and_endless_bodies_stop_at_the_size_limit_in_bounded_memory() {
    let cases = [
        (Hostile::BigBody, "openai", false, "too_large"),
        (Hostile::BigBody, "anthropic", false, "too_large"),
        (Hostile::BigBody, "promptster", false, "too_large"),
        (Hostile::EndlessChunks, "openai", false, "too_large"),
        (Hostile::EndlessChunks, "promptster", false, "too_large"),
        (Hostile::EndlessEvents, "openai", true, "too_large"),
        (Hostile::EndlessEvents, "anthropic", true, "too_large"),
        // Only the start of an error body is read; the status decides the kind.
        (Hostile::BigError, "openai", false, "server"),
        (Hostile::BigError, "anthropic", true, "server"),
    ];
    for (mode, kind, stream, want) in cases {
        let (o, requests) = hostile_run(mode, kind, stream, "");
        let what = format!("{mode:?} {kind} stream={stream}: {}", o.stderr);
        assert_eq!(kinds_of(&o), vec![want; 2], "{what}");
        assert_eq!(o.code, Some(loud_exit(&o)), "{what}");
        // The size limit ends each call long before the 30 s deadline.
        assert!(o.wall < Duration::from_secs(20), "{what}: {:?}", o.wall);
        assert!(
            o.peak_rss_mib < 200,
            "{what}: peak RSS {} MiB",
            o.peak_rss_mib
        );
        // Not retried: the same request would get the same answer.
        assert_eq!(requests, 2, "{what}");
        for r in &o.rows {
            assert!(r.get("response").is_none(), "{what}");
            if want == "too_large" {
                let msg = r["error"].as_str().unwrap();
                assert!(msg.contains("max_response_bytes"), "{what}: {msg}");
            }
        }
    }
}

#[test]
fn an_event_stream_line_without_end_stops_at_the_line_limit() {
    for kind in ["openai", "anthropic"] {
        let (o, _) = hostile_run(Hostile::EndlessLine, kind, true, "");
        let what = format!("{kind}: {}", o.stderr);
        assert_eq!(kinds_of(&o), vec!["too_large"; 2], "{what}");
        let msg = o.rows[0]["error"].as_str().unwrap();
        assert!(msg.contains("max_line_bytes"), "{what}: {msg}");
        assert!(o.wall < Duration::from_secs(20), "{what}: {:?}", o.wall);
        assert!(o.peak_rss_mib < 200, "{what}: {} MiB", o.peak_rss_mib);
    }
}

#[test]
fn every_call_ends_by_its_deadline_when_the_limits_are_far() {
    // Limits too far to be reached in time: the deadline must end the calls, although the
    // server sends without pause.
    let far = "max_line_bytes = 64000000\nmax_response_bytes = 64000000\n";
    for mode in [Hostile::EndlessLine, Hostile::EndlessEvents] {
        let server = HostileServer::start(mode);
        let tmp = tempfile::tempdir().unwrap();
        suite(
            tmp.path(),
            "openai",
            &server.url(),
            &format!("stream = true\ntimeout_s = 2\n{far}"),
            2,
        );
        let o = run_measured(tmp.path());
        let what = format!("{mode:?}: {}", o.stderr);
        // Two calls side by side, 2 s each, plus start-up and reports.
        assert!(o.wall < Duration::from_secs(12), "{what}: {:?}", o.wall);
        for k in kinds_of(&o) {
            assert!(k == "timeout" || k == "too_large", "{what}: {k}");
        }
        assert_eq!(o.rows.len(), 2, "{what}");
    }
}

#[test]
fn the_limits_are_endpoint_settings() {
    // A normal answer over a tiny limit is refused; under a normal limit it is an answer.
    let server = Server::start(|_| {
        Reply::json(
            200,
            json!({"choices":[{"index":0,"message":{"role":"assistant","content":"42".repeat(600)},"finish_reason":"stop"}]}),
        )
    });
    for (extra, want) in [("max_response_bytes = 1000\n", "too_large"), ("", "ok")] {
        let tmp = tempfile::tempdir().unwrap();
        suite(tmp.path(), "openai", &server.url(), extra, 1);
        let o = run_measured(tmp.path());
        assert_eq!(kinds_of(&o), vec![want], "{extra}: {}", o.stderr);
    }
    let line = format!(
        "data: {}\n\n",
        json!({"choices":[{"index":0,"delta":{"content":"42".repeat(100)},"finish_reason":"stop"}]})
    );
    let server = Server::start(move |_| Reply::Events {
        chunks: vec![(Duration::ZERO, line.clone())],
        cut: false,
    });
    for (extra, want) in [("max_line_bytes = 100\n", "too_large"), ("", "ok")] {
        let tmp = tempfile::tempdir().unwrap();
        suite(
            tmp.path(),
            "openai",
            &server.url(),
            &format!("stream = true\n{extra}"),
            1,
        );
        let o = run_measured(tmp.path());
        assert_eq!(kinds_of(&o), vec![want], "{extra}: {}", o.stderr);
    }
    // A limit of 0 is bad input, located.
    let tmp = tempfile::tempdir().unwrap();
    suite(
        tmp.path(),
        "openai",
        &server.url(),
        "max_line_bytes = 0\n",
        1,
    );
    let o = run_in(
        tmp.path(),
        &[
            "run",
            "--routes",
            "routes.toml",
            "--dataset",
            "dataset.jsonl",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("max_line_bytes"), "{}", stderr(&o));
}

/// Run a one-item suite against `reply` on `kind` (streamed or not); the candidate row and the
/// number of requests the server saw.
fn one_call(kind: &str, stream: bool, reply: Reply, attempts: u32) -> (Value, usize) {
    let server = Server::start(move |_| reply.clone());
    let tmp = tempfile::tempdir().unwrap();
    let extra = format!(
        "timeout_s = 5\n{}",
        if stream { "stream = true\n" } else { "" }
    );
    suite(tmp.path(), kind, &server.url(), &extra, 1);
    let routes = read(&tmp.path().join("routes.toml"))
        .replace("max_attempts = 1", &format!("max_attempts = {attempts}"));
    std::fs::write(tmp.path().join("routes.toml"), routes).unwrap();
    let o = run_measured(tmp.path());
    assert_eq!(o.rows.len(), 1, "{}", o.stderr);
    assert_eq!(o.code, Some(loud_exit(&o)), "{}", o.stderr);
    (o.rows[0].clone(), server.requests().len())
}

#[test]
fn a_json_error_answering_a_stream_request_keeps_its_message_and_kind() {
    let validation = json!({"error":"Input validation error: `temperature` must be strictly positive","error_type":"validation"});
    let overloaded =
        json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}});
    let cases = [
        (
            "openai",
            validation.clone(),
            "bad_request",
            1,
            "Input validation error",
        ),
        (
            "anthropic",
            validation,
            "bad_request",
            1,
            "Input validation error",
        ),
        ("anthropic", overloaded, "server", 3, "Overloaded"),
        (
            "openai",
            json!({"error":{"message":"The upstream timed out","code":504}}),
            "server",
            3,
            "upstream timed out",
        ),
        (
            "openai",
            json!({"error":{"message":"Rate limit reached","type":"rate_limit_error"}}),
            "rate_limited",
            3,
            "Rate limit",
        ),
    ];
    for (kind, body, want, requests, says) in cases {
        for stream in [true, false] {
            let (row, n) = one_call(kind, stream, Reply::json(200, body.clone()), 3);
            let what = format!("{kind} stream={stream} {body}");
            assert_eq!(row["error_kind"], want, "{what}: {row}");
            let msg = row["error"].as_str().unwrap();
            assert!(msg.contains(says), "{what}: {msg}");
            assert!(!msg.contains("truncated"), "{what}: {msg}");
            assert_eq!(row["http_status"], 200, "{what}");
            assert_eq!(n, requests, "{what}: retried only when retryable");
        }
    }
}

#[test]
fn a_body_that_is_no_event_stream_keeps_its_text_in_the_error() {
    let page = "<html><body><h1>502 Bad Gateway</h1>upstream rejected the request</body></html>";
    for kind in ["openai", "anthropic"] {
        let (row, n) = one_call(kind, true, Reply::text(200, page), 2);
        assert_eq!(row["error_kind"], "bad_body", "{kind}: {row}");
        let msg = row["error"].as_str().unwrap();
        assert!(msg.contains("502 Bad Gateway"), "{kind}: {msg}");
        assert_eq!(n, 2, "a bad body is retried");
    }
}

#[test]
fn a_plain_json_answer_to_a_stream_request_is_an_answer() {
    let openai = json!({"choices":[{"index":0,"message":{"role":"assistant","content":"it is 42"},"finish_reason":"stop"}],
        "usage":{"prompt_tokens":9,"completion_tokens":3}});
    let anthropic = json!({"type":"message","content":[{"type":"text","text":"it is 42"}],"stop_reason":"end_turn",
        "usage":{"input_tokens":9,"output_tokens":3}});
    for (kind, body) in [("openai", openai), ("anthropic", anthropic)] {
        let (row, n) = one_call(kind, true, Reply::json(200, body), 3);
        assert_eq!(row["ok"], true, "{kind}: {row}");
        assert_eq!(row["response"], "it is 42", "{kind}");
        assert_eq!(
            (row["input_tokens"].clone(), row["output_tokens"].clone()),
            (json!(9), json!(3))
        );
        assert_eq!(n, 1);
    }
}

#[test]
fn a_stream_that_ends_after_its_finish_reason_is_complete() {
    let chunk = |delta: Value, finish: Value, usage: Option<Value>| {
        let mut c = json!({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":delta,"finish_reason":finish}]});
        if let Some(u) = usage {
            c["usage"] = u;
        }
        sse(None, c)
    };
    let usage = json!({"prompt_tokens":11,"completion_tokens":5,"total_tokens":16});
    let openai_no_done = Reply::Events {
        chunks: vec![
            chunk(json!({"content":"The answer "}), Value::Null, None),
            chunk(json!({"content":"is 42."}), Value::Null, None),
            chunk(json!({}), json!("stop"), Some(usage)),
        ],
        cut: false,
    };
    let anthropic_no_stop = Reply::Events {
        chunks: vec![
            sse(
                Some("message_start"),
                json!({"type":"message_start","message":{"usage":{"input_tokens":11,"output_tokens":1}}}),
            ),
            sse(
                Some("content_block_delta"),
                json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"The answer is 42."}}),
            ),
            sse(
                Some("message_delta"),
                json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}),
            ),
        ],
        cut: false,
    };
    for (kind, reply) in [("openai", openai_no_done), ("anthropic", anthropic_no_stop)] {
        // Also when the connection closes instead of ending the chunked body.
        for cut in [false, true] {
            let reply = match reply.clone() {
                Reply::Events { chunks, .. } => Reply::Events { chunks, cut },
                r => r,
            };
            let (row, n) = one_call(kind, true, reply, 3);
            assert_eq!(row["ok"], true, "{kind} cut={cut}: {row}");
            assert_eq!(row["response"], "The answer is 42.");
            assert_eq!(
                (row["input_tokens"].clone(), row["output_tokens"].clone()),
                (json!(11), json!(5))
            );
            assert_eq!(row["tokens_source"], "reported");
            assert_eq!(n, 1, "{kind}: not retried");
        }
    }
    // A server that holds the connection open after the finish reason, [DONE] long in coming
    // (after the 5 s deadline): the answer is taken without it.
    let late_done = Reply::Events {
        chunks: vec![
            chunk(json!({"content":"The answer is 42."}), Value::Null, None),
            chunk(json!({}), json!("stop"), None),
            (Duration::from_secs(8), "data: [DONE]\n\n".into()),
        ],
        cut: false,
    };
    let t0 = Instant::now();
    let (row, n) = one_call("openai", true, late_done, 3);
    assert_eq!(row["ok"], true, "{row}");
    assert_eq!(row["response"], "The answer is 42.");
    assert_eq!(n, 1);
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    // Without a finish reason the same stream was cut short: a bad body, retried.
    let cut_short = Reply::Events {
        chunks: vec![chunk(json!({"content":"The answer "}), Value::Null, None)],
        cut: true,
    };
    let (row, n) = one_call("openai", true, cut_short, 3);
    assert_eq!(row["error_kind"], "bad_body", "{row}");
    assert_eq!(n, 3);
}

#[test]
fn an_error_chunk_inside_a_stream_is_classified_like_its_status() {
    let reply = Reply::Events {
        chunks: vec![
            sse(
                None,
                json!({"choices":[{"index":0,"delta":{"content":"The answer "}}]}),
            ),
            sse(
                None,
                json!({"error":{"message":"context_length_exceeded: prompt too long","type":"invalid_request_error"}}),
            ),
        ],
        cut: false,
    };
    let (row, n) = one_call("openai", true, reply, 3);
    assert_eq!(row["error_kind"], "bad_request", "{row}");
    assert_eq!(n, 1);
    let reply = Reply::Events {
        chunks: vec![sse(
            None,
            json!({"error":{"message":"upstream provider overloaded","code":502}}),
        )],
        cut: false,
    };
    let (row, n) = one_call("openai", true, reply, 3);
    assert_eq!(row["error_kind"], "server", "{row}");
    assert!(
        row["error"]
            .as_str()
            .unwrap()
            .contains("upstream provider overloaded")
    );
    assert_eq!(n, 3);
    // OpenRouter's mid-stream error: the error next to a choice that finished with "error".
    let reply = Reply::Events {
        chunks: vec![
            sse(
                None,
                json!({"choices":[{"index":0,"delta":{"content":"The ans"}}]}),
            ),
            sse(
                None,
                json!({"id":"gen-1","error":{"code":502,"message":"Provider disconnected"},
                    "choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}),
            ),
        ],
        cut: false,
    };
    let (row, n) = one_call("openai", true, reply, 3);
    assert_eq!(row["error_kind"], "server", "{row}");
    assert!(
        row["error"]
            .as_str()
            .unwrap()
            .contains("Provider disconnected")
    );
    assert_eq!(n, 3);
    // A FastAPI-style {"detail": ...} body to a stream request.
    let (row, n) = one_call(
        "openai",
        true,
        Reply::json(200, json!({"detail":"model not found: acme-x"})),
        3,
    );
    assert_eq!(row["error_kind"], "server", "{row}");
    assert!(row["error"].as_str().unwrap().contains("model not found"));
    assert_eq!(n, 3);
}
