//! `routecal route`: the router on the command line, a thin layer over [`Router`].

use std::io::BufRead;
use std::path::PathBuf;

use futures::StreamExt;

use crate::cli::RouteArgs;
use crate::error::{UsageError, exit};
use crate::router::{RouteFailure, Routed, Router, RouterOptions};

/// The default classification cache: `$XDG_CACHE_HOME/routecal/…` or `~/.cache/routecal/…`.
fn default_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("routecal").join("classifications.jsonl"))
}

struct Input {
    id: Option<String>,
    prompt: String,
}

fn read_inputs(a: &RouteArgs) -> anyhow::Result<Vec<Input>> {
    if let Some(p) = a.prompt.as_deref().filter(|p| *p != "-") {
        return Ok(vec![Input {
            id: None,
            prompt: p.to_string(),
        }]);
    }
    let mut out = Vec::new();
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| UsageError(format!("stdin line {}: {e}", i + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        if a.jsonl {
            let v: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| UsageError(format!("stdin:{}: not valid JSON: {e}", i + 1)))?;
            let prompt = v
                .get("prompt")
                .and_then(|p| p.as_str())
                .filter(|p| !p.trim().is_empty())
                .ok_or_else(|| UsageError(format!("stdin:{}: prompt: missing or empty", i + 1)))?;
            let id = v.get("id").map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            });
            out.push(Input {
                id,
                prompt: prompt.to_string(),
            });
        } else {
            out.push(Input {
                id: None,
                prompt: line,
            });
        }
    }
    Ok(out)
}

pub fn route(a: RouteArgs) -> anyhow::Result<u8> {
    let inputs = read_inputs(&a)?;
    let opts = RouterOptions {
        cache_path: if a.no_cache {
            None
        } else {
            a.cache.clone().or_else(default_cache)
        },
        cache_ttl: a.cache_ttl,
        log_path: a.log.clone(),
        log_prompts: a.log_prompts,
        classifier: a.classifier.clone(),
    };
    let router = Router::with_options(&a.routes, opts)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut failed = 0;
    rt.block_on(async {
        let mut answers = futures::stream::iter(inputs)
            .map(|input| {
                let router = &router;
                async move {
                    let out = router.route(&input.prompt).await;
                    (input, out)
                }
            })
            .buffered(a.concurrency.max(1));
        // Printed in input order as they come. Once nobody reads stdout (`| head -1`), no
        // further prompt is routed: its answer would be paid for and thrown away.
        while let Some((input, out)) = answers.next().await {
            print_answer(&a, &input, &out);
            if out.is_err() {
                failed += 1;
            }
            if super::out::is_closed() {
                break;
            }
        }
    });
    Ok(if failed > 0 { exit::RUNTIME } else { exit::OK })
}

fn print_answer(a: &RouteArgs, input: &Input, out: &Result<Routed, RouteFailure>) {
    if a.json {
        outln!("{}", json_line(input, out));
        return;
    }
    match out {
        Ok(r) => {
            let via = if r.fell_back {
                format!("{} (fallback)", r.routed_to)
            } else {
                r.routed_to.to_string()
            };
            eoutln!(
                "routed to {via} ({} {}{})",
                r.classification.labels.0,
                r.classification.labels.1,
                if r.cell_listed { "" } else { ", default route" }
            );
            outln!("{}", r.answer);
        }
        Err(f) => eoutln!("error: {f}"),
    }
}

fn json_line(input: &Input, out: &Result<Routed, RouteFailure>) -> serde_json::Value {
    match out {
        Ok(r) => serde_json::json!({
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
