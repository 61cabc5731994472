//! Router behaviour against scripted providers (wire formats are tested in tests/cases).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use super::*;
use crate::provider::{Answer, CallError, CallRequest, ErrorKind, Provider, Purpose};

/// Answers by wire model name from a script; `"sleep"` stalls past any timeout.
#[derive(Default)]
struct Scripted {
    script: Mutex<HashMap<String, VecDeque<Result<String, ErrorKind>>>>,
    calls: Mutex<HashMap<String, usize>>,
    classifier_calls: AtomicUsize,
}

impl Scripted {
    fn push(&self, model: &str, r: Result<&str, ErrorKind>) {
        self.script
            .lock()
            .unwrap()
            .entry(model.to_string())
            .or_default()
            .push_back(r.map(str::to_string));
    }
    fn calls(&self, model: &str) -> usize {
        self.calls.lock().unwrap().get(model).copied().unwrap_or(0)
    }
}

struct Shared(Arc<Scripted>);

impl Provider for Shared {
    fn call<'a>(&'a self, req: &'a CallRequest) -> BoxFuture<'a, Result<Answer, CallError>> {
        Box::pin(async move {
            if matches!(req.purpose, Purpose::Classify { .. }) {
                self.0.classifier_calls.fetch_add(1, Ordering::SeqCst);
            }
            *self
                .0
                .calls
                .lock()
                .unwrap()
                .entry(req.wire_name.to_string())
                .or_default() += 1;
            let next = self
                .0
                .script
                .lock()
                .unwrap()
                .get_mut(req.wire_name.as_ref())
                .and_then(|q| q.pop_front());
            match next {
                Some(Ok(text)) if text == "sleep" => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    unreachable!("the router's timeout fires first")
                }
                Some(Ok(text)) => Ok(Answer {
                    text,
                    input_tokens: Some(10),
                    output_tokens: Some(5),
                    ..Answer::default()
                }),
                Some(Err(kind)) => Err(CallError::new(kind, "scripted failure")),
                None => Err(CallError::new(
                    ErrorKind::BadRequest,
                    format!("nothing scripted for {}", req.wire_name),
                )),
            }
        })
    }
}

const ROUTES: &str = r#"
[classifier]
model = "acme/cls"
[endpoints.api]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
timeout_s = 0.2
[models."acme/cls"]
endpoint = "api"
tier = "budget"
input_per_mtok = 1.0
output_per_mtok = 1.0
[models."acme/big"]
endpoint = "api"
tier = "frontier"
input_per_mtok = 10.0
output_per_mtok = 30.0
[models."other/large"]
endpoint = "api"
tier = "frontier"
input_per_mtok = 5.0
output_per_mtok = 15.0
[models."acme/small"]
endpoint = "api"
tier = "budget"
input_per_mtok = 0.1
output_per_mtok = 0.2
[default]
primary = "acme/small"
[routes.code.quality]
primary = "acme/big"
fallback = "other/large"
"#;

fn router(opts: RouterOptions) -> (Router, Arc<Scripted>) {
    let cfg = Config::parse(
        Path::new("routes.toml"),
        ROUTES.to_string(),
        PriceTable::shipped(),
        jiff::Timestamp::now(),
    )
    .unwrap();
    let s = Arc::new(Scripted::default());
    let mut providers: HashMap<String, Arc<dyn Provider>> = HashMap::new();
    providers.insert("api".into(), Arc::new(Shared(s.clone())));
    (Router::new(Arc::new(cfg), providers, opts), s)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn fallback_fires_on_503_and_timeout_not_on_400_or_401() {
    let rt = rt();
    for (failure, falls_back) in [
        (Err(ErrorKind::Server), true),
        (Ok("sleep"), true),
        (Err(ErrorKind::Connection), true),
        (Err(ErrorKind::BadRequest), false),
        (Err(ErrorKind::Auth), false),
    ] {
        let (r, s) = router(RouterOptions::default());
        s.push("cls", Ok("code quality"));
        s.push("big", failure);
        s.push("big", Ok("a retry would have answered"));
        s.push("large", Ok("from the fallback"));
        let out = rt.block_on(r.route("Refactor this."));
        match (falls_back, out) {
            (true, Ok(routed)) => {
                assert!(routed.fell_back, "{failure:?}");
                assert_eq!(routed.routed_to.as_str(), "other/large");
                assert_eq!(routed.answer, "from the fallback");
                assert_eq!(
                    (s.calls("big"), s.calls("large")),
                    (1, 1),
                    "primary once, fallback once"
                );
            }
            (false, Err(f)) => {
                assert!(!f.fell_back);
                assert_eq!(f.model.as_str(), "acme/big");
                assert_eq!(
                    (s.calls("big"), s.calls("large")),
                    (1, 0),
                    "{failure:?}: no fallback call"
                );
            }
            (expect, got) => panic!("{failure:?}: expected fallback={expect}, got {got:?}"),
        }
    }
}

#[test]
fn a_missing_cell_uses_the_default_route() {
    let (r, s) = router(RouterOptions::default());
    s.push("cls", Ok("creative latency"));
    s.push("small", Ok("a haiku"));
    let out = rt().block_on(r.route("Write a haiku, quick.")).unwrap();
    assert!(!out.cell_listed);
    assert_eq!(out.routed_to.as_str(), "acme/small");
    assert_eq!(
        out.classification.labels,
        (TaskType::Creative, Priority::Latency)
    );
}

#[test]
fn a_garbage_classifier_reply_routes_to_general_default() {
    let (r, s) = router(RouterOptions::default());
    s.push("cls", Ok("I think this is probably a coding question"));
    s.push("small", Ok("ok"));
    let out = rt().block_on(r.route("Hmm?")).unwrap();
    assert!(out.classification.parse_miss);
    assert_eq!(
        out.classification.labels,
        (TaskType::General, Priority::Default)
    );
    assert_eq!(out.routed_to.as_str(), "acme/small");
}

#[test]
fn the_cache_saves_the_second_classifier_call_and_expires() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || RouterOptions {
        cache_path: Some(dir.path().join("cache.jsonl")),
        cache_ttl: Duration::from_millis(300),
        ..RouterOptions::default()
    };
    let rt = rt();
    let (r, s) = router(opts());
    s.push("cls", Ok("code quality"));
    s.push("big", Ok("one"));
    s.push("big", Ok("two"));
    rt.block_on(r.route("Same prompt")).unwrap();
    let second = rt.block_on(r.route("Same prompt")).unwrap();
    assert!(second.classification.cache_hit);
    assert_eq!(s.classifier_calls.load(Ordering::SeqCst), 1);
    // A new process (a new router on the same cache file) hits the cache too.
    let (r2, s2) = router(opts());
    s2.push("big", Ok("three"));
    let third = rt.block_on(r2.route("Same prompt")).unwrap();
    assert!(third.classification.cache_hit);
    assert_eq!(s2.classifier_calls.load(Ordering::SeqCst), 0);
    std::thread::sleep(Duration::from_millis(350));
    s2.push("cls", Ok("code quality"));
    s2.push("big", Ok("four"));
    let fourth = rt.block_on(r2.route("Same prompt")).unwrap();
    assert!(!fourth.classification.cache_hit, "expired after the TTL");
    assert_eq!(s2.classifier_calls.load(Ordering::SeqCst), 1);
}

#[test]
fn every_request_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("routes.log");
    let (r, s) = router(RouterOptions {
        log_path: Some(log.clone()),
        log_prompts: true,
        ..RouterOptions::default()
    });
    s.push("cls", Ok("code quality"));
    s.push("big", Err(ErrorKind::Server));
    s.push("large", Ok("fallback answer"));
    s.push("cls", Ok("code quality"));
    s.push("big", Err(ErrorKind::Auth));
    let rt = rt();
    rt.block_on(r.route("first")).unwrap();
    rt.block_on(r.route("second")).unwrap_err();
    let (records, skipped) = log::read(&log).unwrap();
    assert_eq!((records.len(), skipped), (2, 0));
    assert!(records[0].fallback_used && records[0].ok);
    assert_eq!(records[0].primary_error_kind, Some(ErrorKind::Server));
    assert_eq!(records[0].cell, "code.quality");
    assert_eq!(records[0].prompt.as_deref(), Some("first"));
    assert!(!records[1].ok && !records[1].fallback_used);
    assert_eq!(records[1].error_kind, Some(ErrorKind::Auth));
    // Classifier (10 in, 5 out at $1/$1) + fallback (10 in, 5 out at $5/$15).
    let expect = (15.0 * 1.0 + 10.0 * 5.0 + 5.0 * 15.0) / 1e6;
    assert!((records[0].cost_usd.unwrap() - expect).abs() < 1e-12);
}
