//! `monitor` alerts on what goes wrong in production: error rates per cell, model and provider,
//! and any `auth` or `quota_exhausted` error at all (a revoked key must not read "No alerts");
//! it shows every cell the classifier produced; and the router's log keeps the primary's error
//! kind when the primary and the fallback both fail.

use std::collections::HashMap;

use serde_json::json;

use crate::common::server::{Reply, Request, Server, completion};
use crate::common::*;

/// The classifier says `code quality`; the primary is overloaded (503); the fallback's key
/// was revoked (401).
fn handler(r: &Request) -> Reply {
    match r.json()["model"].as_str().unwrap_or("") {
        "clf" => completion("clf", "code quality"),
        "alpha" => Reply::json(503, json!({"error": {"message": "overloaded"}})),
        _ => Reply::json(401, json!({"error": {"message": "invalid api key"}})),
    }
}

fn routes(url: &str) -> String {
    format!(
        r#"[classifier]
model = "acme/clf"

[endpoints.api]
kind = "openai"
base_url = "{url}/v1"
timeout_s = 2
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

[models."other/beta"]
endpoint = "api"
tier = "frontier"
input_per_mtok = 2.5
output_per_mtok = 10.0

[default]
primary = "acme/alpha"

[routes.code.quality]
primary = "acme/alpha"
fallback = "other/beta"
"#
    )
}

#[test]
fn when_primary_and_fallback_both_fail_the_log_keeps_both_kinds_and_monitor_alerts() {
    let server = Server::start(handler);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("routes.toml"), routes(&server.url())).unwrap();
    let o = run_in(
        d,
        &[
            "route",
            "--routes",
            "routes.toml",
            "--json",
            "--no-cache",
            "--log",
            "routes.jsonl",
            "Fix this function",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let log = read_jsonl(&d.join("routes.jsonl"));
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["fallback_used"], true);
    assert_eq!(log[0]["ok"], false);
    assert_eq!(log[0]["error_kind"], "auth", "the fallback's");
    assert_eq!(log[0]["primary_error_kind"], "server", "the primary's");

    // One request is far below --min-requests, but an auth error alerts at any count.
    let o = run_in(d, &["monitor", "routes.jsonl"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("ALERT: 1 auth error from model other/beta (provider other)"),
        "{out}"
    );
    // The primary's failure is counted against the primary, with its kind.
    let o = run_in(d, &["monitor", "routes.jsonl", "--min-requests", "1"]);
    let out = stdout(&o);
    assert!(
        out.contains("ALERT: error rate of model acme/alpha is 100.0% over 1 calls (threshold 5.0%): 1 server"),
        "{out}"
    );
}

/// A log line as the router writes it.
fn line(cell: &str, task: &str, prio: &str, ok: bool, kind: Option<&str>) -> String {
    let mut v = json!({"ts": "2026-11-24T10:00:00Z", "prompt_sha256": "x", "task": task,
        "priority": prio, "cell": cell, "primary": "openai/gpt-5.2", "routed_to": "openai/gpt-5.2",
        "fallback_used": false, "ok": ok, "cost_usd": 0.0, "latency_ms": 80.0,
        "classifier_cache_hit": false, "classifier_parse_miss": false});
    if let Some(k) = kind {
        v["error_kind"] = k.into();
    }
    v.to_string() + "\n"
}

#[test]
fn a_log_of_auth_errors_alerts_and_every_real_cell_has_its_row() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("routes.jsonl");
    let mut body = String::new();
    for i in 0..80 {
        body.push_str(&match i % 4 {
            0 => line("code.quality", "code", "quality", false, Some("auth")),
            1 => line("default", "math", "latency", false, Some("auth")),
            2 => line("default", "creative", "quality", false, Some("auth")),
            _ => line("default", "factual", "default", false, Some("auth")),
        });
    }
    std::fs::write(&log, body).unwrap();
    let o = run_in(tmp.path(), &["monitor", log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "ALERT: 80 auth errors from model openai/gpt-5.2 (provider openai) in 80 calls"
        ),
        "{out}"
    );
    for scope in [
        "cell code.quality",
        "model openai/gpt-5.2",
        "provider openai",
    ] {
        assert!(
            out.contains(&format!("ALERT: error rate of {scope} is 100.0%")),
            "{scope}: {out}"
        );
    }

    let o = run_in(
        tmp.path(),
        &["monitor", log.to_str().unwrap(), "--format", "csv"],
    );
    let csv_path = tmp.path().join("m.csv");
    std::fs::write(&csv_path, stdout(&o)).unwrap();
    let rows = read_csv(&csv_path);
    let cells: Vec<&str> = rows
        .iter()
        .filter(|r| r["scope"] == "cell")
        .map(|r| r["key"].as_str())
        .collect();
    assert_eq!(
        cells,
        [
            "code.quality",
            "creative.quality (→ default)",
            "factual.default (→ default)",
            "math.latency (→ default)"
        ]
    );
    let model = rows
        .iter()
        .find(|r| r["scope"] == "model" && r["key"] == "openai/gpt-5.2")
        .unwrap();
    assert_eq!(model["requests"], "80");
    assert_eq!(model["error_rate"], "1");
    assert!(model["alert"].contains("auth"), "{model:?}");
}

#[test]
fn a_classifier_key_that_fails_is_logged_and_alerts_although_requests_are_answered() {
    let server = Server::start(
        |r: &Request| match r.json()["model"].as_str().unwrap_or("") {
            "clf" => Reply::json(401, json!({"error": {"message": "invalid api key"}})),
            m => completion(m, "an answer"),
        },
    );
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("routes.toml"), routes(&server.url())).unwrap();
    let o = run_in(
        d,
        &[
            "route",
            "--routes",
            "routes.toml",
            "--no-cache",
            "--log",
            "routes.jsonl",
            "Fix this function",
        ],
    );
    ok(&o);
    let log = read_jsonl(&d.join("routes.jsonl"));
    assert_eq!(log[0]["ok"], true);
    assert_eq!(log[0]["classifier_parse_miss"], true);
    assert_eq!(log[0]["classifier_error_kind"], "auth");
    let o = run_in(d, &["monitor", "routes.jsonl"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("ALERT: 1 auth error from the classifier in 1 calls"),
        "{}",
        stdout(&o)
    );
}

/// Lines `lines` of a deterministic synthetic router log of `total` lines: 18 cells × 4 models
/// over seven days from 2026-11-20, latencies from 50 ms to tens of seconds with a long tail,
/// 3% fallbacks, 1% failures, 30% classifier cache hits. Returns the text and the latencies in
/// line order.
pub fn synthetic_log(lines: std::ops::Range<usize>, total: usize, seed: u64) -> (String, Vec<f64>) {
    let n = lines.len();
    const TASKS: [&str; 6] = ["code", "math", "creative", "factual", "chat", "extract"];
    const PRIOS: [&str; 3] = ["quality", "latency", "cost"];
    const MODELS: [&str; 4] = [
        "openai/gpt-5.2",
        "anthropic/claude-opus-4.5",
        "deepseek/chat",
        "google/gemini-3-pro",
    ];
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = String::with_capacity(n * 400);
    let mut lat = Vec::with_capacity(n);
    let start = 1_795_132_800u64; // 2026-11-20T00:00:00Z
    for i in lines {
        let r = next();
        let (task, prio) = (TASKS[(r % 6) as usize], PRIOS[(r / 6 % 3) as usize]);
        let primary = MODELS[(r / 18 % 4) as usize];
        let fallback = r / 72 % 100 < 3;
        let routed = if fallback {
            MODELS[((r / 18 + 1) % 4) as usize]
        } else {
            primary
        };
        let ok = r / 7200 % 100 != 0;
        let u = (next() % 1_000_000) as f64 / 1_000_000.0;
        let ms = ((50.0 + (r / 720_000 % 1000) as f64) * (4.0 * u * u * u).exp() * 1000.0).round()
            / 1000.0;
        lat.push(ms);
        let secs = start + (i as u64 * 604_800 / total.max(1) as u64);
        let ts = jiff::Timestamp::from_second(secs as i64).unwrap();
        let kinds = match (ok, fallback) {
            (false, true) => r#","error_kind":"server","primary_error_kind":"rate_limited""#,
            (false, false) => r#","error_kind":"server""#,
            (true, true) => r#","primary_error_kind":"timeout""#,
            (true, false) => "",
        };
        out.push_str(&format!(
            concat!(
                r#"{{"ts":"{ts}","prompt_sha256":"{sha:064x}","task":"{task}","priority":"{prio}","#,
                r#""cell":"{task}.{prio}","primary":"{primary}","routed_to":"{routed}","#,
                r#""fallback_used":{fallback},"ok":{ok}{kinds},"cost_usd":{cost},"latency_ms":{ms},"#,
                r#""classifier_cache_hit":{hit},"classifier_parse_miss":{miss}}}"#,
                "\n"
            ),
            ts = ts,
            sha = (r as u128) << 64 | i as u128,
            task = task,
            prio = prio,
            primary = primary,
            routed = routed,
            fallback = fallback,
            ok = ok,
            kinds = kinds,
            cost = (r % 10_000) as f64 * 1e-7,
            ms = ms,
            hit = r / 13 % 10 < 3,
            miss = r / 17 % 100 == 0,
        ));
    }
    (out, lat)
}

/// Write lines `lines` of the synthetic log of `total` lines to `path`, 10,000 lines at a
/// time (so the writer's own memory stays small: other tests measure children forked from this
/// process); returns the latencies in line order.
fn write_synthetic(
    path: &std::path::Path,
    lines: std::ops::Range<usize>,
    total: usize,
    seed: u64,
) -> Vec<f64> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut lat = Vec::with_capacity(lines.len());
    let mut first = lines.start;
    while first < lines.end {
        let end = lines.end.min(first + 10_000);
        let (text, l) = synthetic_log(first..end, total, seed ^ first as u64);
        f.write_all(text.as_bytes()).unwrap();
        lat.extend(l);
        first = end;
    }
    f.flush().unwrap();
    lat
}

/// Writes a synthetic log for measurements:
/// `ROUTECAL_SYNTH_LOG=/tmp/routes.jsonl ROUTECAL_SYNTH_LINES=1000000 cargo test --test cli
/// write_synthetic_router_log -- --ignored` (see docs/monitor-at-scale.md).
#[test]
#[ignore = "writes a measurement log where ROUTECAL_SYNTH_LOG says"]
fn write_synthetic_router_log() {
    let path = std::env::var("ROUTECAL_SYNTH_LOG").expect("ROUTECAL_SYNTH_LOG");
    let n: usize = std::env::var("ROUTECAL_SYNTH_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    write_synthetic(std::path::Path::new(&path), 0..n, n, 0x5eed);
}

/// Run `routecal ARGS` in `dir`, returning its output and its own peak RSS in MiB: the
/// child's `VmHWM`, read from `/proc` until it exits. (`ru_maxrss` from `wait4` would also hold
/// the high-water mark of this test process, which `execve` carries over.)
fn run_measured(dir: &std::path::Path, args: &[&str]) -> (std::process::Output, u64) {
    use std::process::Stdio;
    let (out_path, err_path) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let mut child = bin()
        .args(args)
        .current_dir(dir)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        // VmHWM only grows; the last reading before exit is the peak (to within a few ms).
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(peak_kib > 0, "no reading of {status_file}");
    let output = std::process::Output {
        status,
        stdout: std::fs::read(out_path).unwrap(),
        stderr: std::fs::read(err_path).unwrap(),
    };
    (output, peak_kib / 1024)
}

fn csv_rows(dir: &std::path::Path, o: &std::process::Output) -> Vec<HashMap<String, String>> {
    let path = dir.join("out.csv");
    std::fs::write(&path, &o.stdout).unwrap();
    read_csv(&path)
}

/// The exact quantile, interpolated linearly between the two nearest ranks.
fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
    let idx = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (idx.floor() as usize, idx.ceil() as usize);
    sorted[lo] + (idx - lo as f64) * (sorted[hi] - sorted[lo])
}

#[test]
fn a_large_log_is_read_in_bounded_memory_with_exact_counts_and_percentiles_within_the_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let n = 200_000;
    let mut lat = write_synthetic(&d.join("big.jsonl"), 0..n, n, 7);
    let file_mib = std::fs::metadata(d.join("big.jsonl")).unwrap().len() >> 20;
    let (o, peak_mib) = run_measured(d, &["monitor", "big.jsonl", "--format", "csv"]);
    assert!(matches!(o.status.code(), Some(0 | 3)), "{}", stderr(&o));
    // Holding the records took three times the file (this 71 MiB log peaked at 226 MiB in a
    // debug build); the streaming read holds one line and fixed-size figures per group (about
    // 33 MiB, most of it the program itself).
    assert!(
        peak_mib < 120 && peak_mib < 2 * file_mib,
        "peak RSS {peak_mib} MiB for a {file_mib} MiB log"
    );
    let rows = csv_rows(d, &o);
    let overall = &rows[0];
    assert_eq!(overall["scope"], "overall");
    assert_eq!(overall["requests"], n.to_string());
    let cells = rows.iter().filter(|r| r["scope"] == "cell").count();
    assert_eq!(cells, 18);
    lat.sort_by(f64::total_cmp);
    // The bound printed beside the percentiles is the one they keep.
    let bound: f64 = overall["latency_rel_error"].parse().unwrap();
    assert_eq!(bound, routecal::router::monitor::latency::RELATIVE_ERROR);
    for (col, q) in [("p50_latency_ms", 0.5), ("p95_latency_ms", 0.95)] {
        let got: f64 = overall[col].parse().unwrap();
        let want = exact_quantile(&lat, q);
        assert!(
            (got - want).abs() <= want * bound + 0.001,
            "{col}: {got} vs exact {want}"
        );
    }
}

#[test]
fn the_percentiles_error_bound_is_printed_beside_them_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // 2,000 requests overall (past the exact buffer), 40 in one cell (exact).
    let mut log = String::new();
    for i in 0..2000 {
        let cell = if i < 40 {
            "math.quality"
        } else {
            "code.quality"
        };
        let (task, prio) = cell.split_once('.').unwrap();
        log.push_str(&line(cell, task, prio, true, None));
    }
    std::fs::write(d.join("r.jsonl"), log).unwrap();
    let csv = stdout(&run_in(d, &["monitor", "r.jsonl", "--format", "csv"]));
    let header = csv.lines().next().unwrap();
    assert!(
        header.contains("p50_latency_ms,p95_latency_ms,latency_rel_error,"),
        "{header}"
    );
    let rows = csv_rows_of(&csv);
    let get = |scope: &str, key: &str| {
        rows.iter()
            .find(|r| r["scope"] == scope && r["key"] == key)
            .unwrap()["latency_rel_error"]
            .clone()
    };
    assert_eq!(get("overall", "all"), "0.0005");
    assert_eq!(get("cell", "math.quality"), "0");
    let text = stdout(&run_in(d, &["monitor", "r.jsonl"]));
    assert!(text.contains("p50/p95 error"), "{text}");
    assert!(text.contains("±0.05%") && text.contains("exact"), "{text}");
    let md = stdout(&run_in(d, &["monitor", "r.jsonl", "--format", "markdown"]));
    assert!(
        md.contains("| p50/p95 error |") && md.contains("| ±0.05% |"),
        "{md}"
    );
}

fn csv_rows_of(csv: &str) -> Vec<HashMap<String, String>> {
    let mut r = ::csv::Reader::from_reader(csv.as_bytes());
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            h.iter()
                .zip(rec.unwrap().iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn a_log_with_no_request_is_not_reported_healthy() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("empty.jsonl"), "").unwrap();
    std::fs::write(d.join("junk.jsonl"), "not json\n{\"ts\": 1}\n").unwrap();
    // Logged 2026-11-24: older than a day.
    let old =
        line("code.quality", "code", "quality", true, None).replace("2026-11-24", "2020-01-01");
    std::fs::write(d.join("old.jsonl"), old).unwrap();
    for (args, why) in [
        (vec!["empty.jsonl"], "the logs are empty"),
        (vec!["junk.jsonl", "empty.jsonl"], "2 lines parsed"),
        (vec!["old.jsonl", "--since", "1d"], "--since window"),
        (vec!["empty.jsonl", "--format", "csv"], "empty"),
    ] {
        let o = run_in(d, &[&["monitor"], &args[..]].concat());
        assert_eq!(o.status.code(), Some(4), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("no request to monitor in"), "{args:?}: {err}");
        assert!(err.contains(args[0]), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}: {}", stdout(&o));
    }
}

#[test]
fn several_logs_and_a_glob_give_the_figures_of_their_concatenation() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let n = 30_000;
    // Every cell × model group gets past the exact buffer, so the histograms are compared too.
    std::fs::create_dir(d.join("logs")).unwrap();
    write_synthetic(&d.join("logs/router-a.jsonl"), 0..n / 3, n, 11);
    write_synthetic(&d.join("logs/router-b.jsonl"), n / 3..n, n, 11);
    let mut all = std::fs::File::create(d.join("all.jsonl")).unwrap();
    for part in ["a", "b"] {
        let mut f = std::fs::File::open(d.join(format!("logs/router-{part}.jsonl"))).unwrap();
        std::io::copy(&mut f, &mut all).unwrap();
    }
    drop(all);
    let run = |args: &[&str]| {
        let o = run_in(d, &[&["monitor", "--format", "csv"], args].concat());
        assert!(matches!(o.status.code(), Some(0 | 3)), "{}", stderr(&o));
        stdout(&o)
    };
    let whole = run(&["all.jsonl"]);
    assert!(whole.lines().count() > 100, "{whole}");
    assert_eq!(run(&["logs/router-a.jsonl", "logs/router-b.jsonl"]), whole);
    assert_eq!(run(&["logs/router-*.jsonl"]), whole, "a quoted glob");
    // A file named twice (directly and through the glob) is read once.
    assert_eq!(run(&["logs/router-a.jsonl", "logs/*.jsonl"]), whole);
    let text = |args: &[&str]| stdout(&run_in(d, &[&["monitor"], args].concat()));
    assert_eq!(text(&["logs/router-*.jsonl"]), text(&["all.jsonl"]));
}

#[test]
fn a_log_pattern_that_matches_nothing_or_an_unreadable_log_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("a.jsonl"),
        line("code.quality", "code", "quality", true, None),
    )
    .unwrap();
    for (args, names) in [
        (vec!["a.jsonl", "logs/*.jsonl"], "logs/*.jsonl"),
        (vec!["a.jsonl", "missing.jsonl"], "missing.jsonl"),
        (vec!["a.jsonl", "."], "route log ."),
    ] {
        let o = run_in(d, &[&["monitor"], &args[..]].concat());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(names), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "nothing printed: {}", stdout(&o));
    }
}
