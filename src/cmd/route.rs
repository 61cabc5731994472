//! `routecal route`: the router on the command line, a thin layer over [`Router`].
//!
//! Prompts from stdin are answered as they arrive: a reader thread takes one line at a time
//! (bounded, see [`crate::base::jsonl::Lines`]), at most `--concurrency` prompts are in flight, and
//! each answer is written (and flushed) the moment it is ready, labelled with its input line and
//! id. A stalled request holds one slot only; a pipe that stays open gets its answers; a kill
//! loses only what was in flight. docs/router.md describes the output lines.

use std::path::PathBuf;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::base::error::exit;
use crate::base::jsonl::{Line, Lines};
use crate::cli::RouteArgs;
use crate::dataset::MAX_LINE_BYTES;
use crate::router::{RouteFailure, Routed, Router, RouterOptions};

/// The default classification cache: `$XDG_CACHE_HOME/routecal/…` or `~/.cache/routecal/…`.
fn default_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("routecal").join("classifications.jsonl"))
}

/// One prompt to answer.
struct Input {
    /// 1-based stdin line; `None` for a prompt given as an argument.
    line: Option<usize>,
    id: Option<String>,
    prompt: String,
    /// A chat request's turns (`prompt` is then its last user message).
    messages: Option<Turns>,
}

/// A chat request's turns.
type Turns = std::sync::Arc<[crate::dataset::Message]>;

/// A stdin line that is not a prompt: its number and why.
struct BadLine {
    line: usize,
    message: String,
}

/// One stdin line as an input: `None` for a blank line.
fn parse_line(line: usize, raw: Line, jsonl: bool) -> Option<Result<Input, BadLine>> {
    let bad = |message: String| Some(Err(BadLine { line, message }));
    let raw = match raw {
        Line::TooLong(len) => {
            return bad(format!(
                "the line is {len} bytes; the limit is {} MiB",
                MAX_LINE_BYTES >> 20
            ));
        }
        Line::Text(raw) => raw,
    };
    let Ok(text) = std::str::from_utf8(raw) else {
        return bad("not valid UTF-8".into());
    };
    if text.trim().is_empty() {
        return None;
    }
    if !jsonl {
        return Some(Ok(Input {
            line: Some(line),
            id: None,
            prompt: text.to_string(),
            messages: None,
        }));
    }
    let v = match crate::base::jsonl::parse_strict(text) {
        Ok(v) => v,
        Err(e) => return bad(e.to_string()),
    };
    let (prompt, messages) = match request_text(&v) {
        Ok(x) => x,
        Err(message) => return bad(message),
    };
    let id = v.get("id").map(|x| {
        x.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| x.to_string())
    });
    Some(Ok(Input {
        line: Some(line),
        id,
        prompt,
        messages,
    }))
}

/// A `--jsonl` line's prompt, or its chat request (`messages`, checked as a dataset item's,
/// with the last user message as the prompt); the error names the field.
fn request_text(v: &serde_json::Value) -> Result<(String, Option<Turns>), String> {
    match (v.get("prompt"), v.get("messages")) {
        (Some(_), Some(_)) => Err("messages: give either prompt or messages, not both".into()),
        (None, Some(m)) => {
            let turns = crate::dataset::parse_messages(m).map_err(|(field, message)| {
                format!("{}: {message}", field.as_deref().unwrap_or("messages"))
            })?;
            let last = turns
                .last()
                .expect("validated: not empty")
                .content
                .to_string();
            Ok((last, Some(turns.into())))
        }
        (p, None) => match p.and_then(|p| p.as_str()).filter(|p| !p.trim().is_empty()) {
            Some(p) => Ok((p.to_string(), None)),
            None => Err("prompt: missing or empty (or give messages)".into()),
        },
    }
}

/// Read stdin on a thread, one bounded line at a time, into `tx`; ends at EOF, on a read error
/// (reported as a bad line) or when the receiver is gone.
fn spawn_reader(jsonl: bool, tx: tokio::sync::mpsc::Sender<Result<Input, BadLine>>) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut lines = Lines::new(stdin.lock(), MAX_LINE_BYTES);
        loop {
            let msg = match lines.next_line() {
                Ok(None) => return,
                Ok(Some((n, raw))) => match parse_line(n, raw, jsonl) {
                    Some(m) => m,
                    None => continue,
                },
                Err(e) => Err(BadLine {
                    line: 0,
                    message: format!("cannot read stdin: {e}"),
                }),
            };
            let stop = msg.as_ref().is_err_and(|b| b.line == 0);
            if tx.blocking_send(msg).is_err() || stop {
                return;
            }
        }
    });
}

/// What the command prints, and how many prompts failed or were bad.
struct Output {
    json: bool,
    failed: usize,
    bad: usize,
}

impl Output {
    /// Print one answer (or failure) and flush, so it is out before the next one finishes.
    fn answer(&mut self, input: &Input, out: &Result<Routed, RouteFailure>) -> std::io::Result<()> {
        if out.is_err() {
            self.failed += 1;
        }
        if self.json {
            outln!("{}", json_line(input, out));
            return Ok(());
        }
        let label = text_label(input);
        match out {
            Ok(r) => {
                let via = if r.fell_back {
                    format!("{} (fallback)", r.routed_to)
                } else {
                    r.routed_to.to_string()
                };
                eoutln!(
                    "{}routed to {via} ({} {}{})",
                    label
                        .as_deref()
                        .map(|l| format!("{l}: "))
                        .unwrap_or_default(),
                    r.classification.labels.0,
                    r.classification.labels.1,
                    if r.cell_listed { "" } else { ", default route" }
                );
                match &label {
                    Some(l) => outln!("{l}\t{}", escape_line(&r.answer)),
                    None => outln!("{}", r.answer),
                }
            }
            Err(f) => match &label {
                Some(l) => eoutln!("{l}: error: {f}"),
                None => eoutln!("error: {f}"),
            },
        }
        Ok(())
    }

    /// Report a stdin line that is not a prompt (on stderr, and as a JSON line with `--json`).
    fn bad_line(&mut self, b: &BadLine) -> std::io::Result<()> {
        self.bad += 1;
        eoutln!("error: stdin:{}: {}", b.line, b.message);
        if self.json {
            let v = serde_json::json!({
                "line": b.line,
                "id": null,
                "error": format!("stdin:{}: {}", b.line, b.message),
                "error_kind": "bad_input",
            });
            outln!("{v}");
        }
        Ok(())
    }
}

/// The label of a batch answer in text mode: its id, else `line N`; none for a single prompt.
fn text_label(input: &Input) -> Option<String> {
    match (&input.id, input.line) {
        (Some(id), _) => Some(escape_line(id)),
        (None, Some(n)) => Some(format!("line {n}")),
        (None, None) => None,
    }
}

/// One line of text: backslash, newline, carriage return and tab written as `\\`, `\n`, `\r`,
/// `\t`.
fn escape_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// Answer prompts as they arrive, at most `concurrency` at a time, each printed when done.
async fn stream_stdin(
    router: &Router,
    out: &mut Output,
    jsonl: bool,
    concurrency: usize,
) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(concurrency);
    spawn_reader(jsonl, tx);
    let mut inflight = FuturesUnordered::new();
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            Some((input, result)) = inflight.next(), if !inflight.is_empty() => {
                out.answer(&input, &result)?;
                // Nobody reads stdout any more (`| head -1`): route no further prompt, whose
                // answer would be paid for and thrown away.
                if crate::base::out::is_closed() {
                    return Ok(());
                }
            }
            msg = rx.recv(), if open && inflight.len() < concurrency => match msg {
                Some(Ok(input)) => inflight.push(async move {
                    let result = match &input.messages {
                        Some(turns) => router.route_chat(turns.clone()).await,
                        None => router.route(&input.prompt).await,
                    };
                    (input, result)
                }),
                Some(Err(bad)) => out.bad_line(&bad)?,
                None => open = false,
            },
            else => return Ok(()),
        }
    }
}

pub fn route(a: RouteArgs) -> anyhow::Result<u8> {
    // An empty prompt would still be classified and answered, and paid for: refuse it first.
    if a.prompt.as_deref().is_some_and(|p| p.trim().is_empty()) {
        return Err(crate::base::error::UsageError(
            "the prompt is empty: give the text to route, or - to read prompts from stdin".into(),
        )
        .into());
    }
    let opts = RouterOptions {
        cache_path: if a.no_cache {
            None
        } else {
            a.cache.clone().or_else(default_cache)
        },
        cache_ttl: a.cache_ttl,
        log_path: a.log.clone(),
        log_rotation: a.log_rotate.unwrap_or_default(),
        log_prompts: a.log_prompts,
        classifier: a.classifier.clone(),
    };
    let router = Router::with_options(&a.routes, opts)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut out = Output {
        json: a.json,
        failed: 0,
        bad: 0,
    };
    match a.prompt.as_deref().filter(|p| *p != "-") {
        Some(p) => {
            let input = Input {
                line: None,
                id: None,
                prompt: p.to_string(),
                messages: None,
            };
            let result = rt.block_on(router.route(p));
            out.answer(&input, &result)?;
        }
        None => rt.block_on(stream_stdin(
            &router,
            &mut out,
            a.jsonl,
            a.concurrency.max(1),
        ))?,
    }
    // The reader thread may still wait on an open stdin; the process ends without it.
    rt.shutdown_background();
    Ok(if out.bad > 0 {
        exit::BAD_INPUT
    } else if out.failed > 0 {
        exit::RUNTIME
    } else {
        exit::OK
    })
}

fn json_line(input: &Input, out: &Result<Routed, RouteFailure>) -> serde_json::Value {
    match out {
        Ok(r) => serde_json::json!({
            "line": input.line,
            "id": input.id,
            "answer": r.answer,
            "task": r.classification.labels.0,
            "priority": r.classification.labels.1,
            "cell_listed": r.cell_listed,
            "routed_to": r.routed_to,
            "primary": r.primary,
            "fell_back": r.fell_back,
            "primary_error": r.primary_error.as_ref().map(|e| e.kind.as_str()),
            "cost_usd": r.cost_usd,
            "latency_ms": r.latency_ms,
            "classifier_cache_hit": r.classification.cache_hit,
            "classifier_parse_miss": r.classification.parse_miss,
        }),
        Err(f) => serde_json::json!({
            "line": input.line,
            "id": input.id,
            "error": f.to_string(),
            "error_kind": f.error.kind.as_str(),
            "task": f.classification.labels.0,
            "priority": f.classification.labels.1,
            "primary": f.primary,
            "failed_model": f.model,
            "fell_back": f.fell_back,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_lines_become_inputs_or_located_errors() {
        let ok = parse_line(3, Line::Text(br#"{"id":7,"prompt":"hi"}"#), true)
            .unwrap()
            .ok()
            .unwrap();
        assert_eq!(
            (ok.line, ok.id.as_deref(), ok.prompt.as_str()),
            (Some(3), Some("7"), "hi")
        );
        assert!(parse_line(4, Line::Text(b"  "), true).is_none());
        let bad = |raw: Line| parse_line(5, raw, true).unwrap().err().unwrap();
        assert!(
            bad(Line::Text(b"{\"prompt\":\"a\",\"prompt\":\"b\"}"))
                .message
                .contains("duplicate key")
        );
        assert!(
            bad(Line::Text(b"{\"id\":1}"))
                .message
                .contains("prompt: missing")
        );
        assert!(
            bad(Line::TooLong(1 << 30))
                .message
                .contains("1073741824 bytes")
        );
        let plain = parse_line(2, Line::Text(b"a \"raw\" prompt"), false)
            .unwrap()
            .ok()
            .unwrap();
        assert_eq!(plain.prompt, "a \"raw\" prompt");
    }

    #[test]
    fn text_answers_are_one_line_each() {
        assert_eq!(escape_line("a\nb\\c\td\r"), "a\\nb\\\\c\\td\\r");
    }
}
