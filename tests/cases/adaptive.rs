//! `run --adaptive`: a sequential design that stops calling what can no longer change a
//! decision, whose looks replay exactly from the journal — after a kill, on `report`, and with
//! `[run] adaptive = true`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// The current primary `b/mid` is beaten by `a/strong` and beats `c/weak` by about 16 points
/// each: settled in a few looks, not the first; two task types of `per_task` items.
fn write_suite(dir: &Path, per_task: usize, time_scale: f64, adaptive_key: bool) {
    let mut t = format!(
        "[classifier]\nmodel = \"builtin/keywords\"\n\n[endpoints.kw]\nkind = \"keywords\"\n\n[endpoints.fake]\nkind = \"sim\"\nseed = 5\ntime_scale = {time_scale}\nmax_concurrency = 4\n\n[models.\"builtin/keywords\"]\nendpoint = \"kw\"\ntier = \"budget\"\n\n"
    );
    if adaptive_key {
        t.push_str("[run]\nadaptive = true\nadaptive_looks = 4\nadaptive_futility = 0.2\n\n");
    }
    for (m, q, price) in [
        ("a/strong", 0.78, 5.0),
        ("b/mid", 0.62, 1.0),
        ("c/weak", 0.45, 0.5),
    ] {
        t.push_str(&format!(
            "[models.\"{m}\"]\nendpoint = \"fake\"\ntier = \"frontier\"\ninput_per_mtok = {price}\noutput_per_mtok = {price}\nsim = {{ p50_ms = 800, p95_ms = 2000, error_rate = 0.0, rate_limited_rate = 0.0, quality = {q}, output_tokens = 200 }}\n\n"
        ));
    }
    t.push_str("[default]\nprimary = \"b/mid\"\nfallback = \"c/weak\"\n");
    std::fs::write(dir.join("routes.toml"), t).unwrap();
    let mut lines = String::new();
    for task in ["code", "math"] {
        for k in 0..per_task {
            let prio = ["quality", "latency", "default"][k % 3];
            lines.push_str(&format!(
                "{{\"id\":\"{task}-{k}\",\"prompt\":\"{task} question {k}\",\"task_type\":\"{task}\",\"priority\":\"{prio}\",\"grader\":{{\"kind\":\"recorded\"}}}}\n"
            ));
        }
    }
    std::fs::write(dir.join("dataset.jsonl"), lines).unwrap();
}

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// What must come out the same from two runs of one design: every cell's decision, the look
/// that settled it and the calls.
fn decisions(dir: &Path) -> (Vec<(String, String, String)>, Value) {
    let changes = read_csv(&dir.join("changes.csv"))
        .into_iter()
        .map(|r| {
            (
                r["cell"].clone(),
                r["outcome"].clone(),
                r["new_primary"].clone(),
            )
        })
        .collect();
    let report: Value = serde_json::from_str(&read(&dir.join("report.json"))).unwrap();
    (changes, report["adaptive"].clone())
}

fn candidate_keys(dir: &Path) -> Vec<String> {
    let mut keys: Vec<String> = read_jsonl(&dir.join("journal.jsonl"))
        .iter()
        .filter(|r| r["kind"] == "candidate")
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

#[test]
fn an_adaptive_run_stops_the_pairs_it_no_longer_needs_and_report_replays_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_suite(tmp.path(), 150, 0.0, false);
    let out = tmp.path().join("reports");
    let o = run_suite_in(tmp.path(), tmp.path(), &out, &["--adaptive", "--json"]);
    ok(&o);
    let v = json_of(&o);
    // `run --json` and report.json of an adaptive run follow the checked-in schema.
    let schema: serde_json::Value = serde_json::from_str(&read(
        &crate::common::repo().join("schema/report.schema.json"),
    ))
    .unwrap();
    crate::common::schema::assert_valid(&schema, Some("run_output"), &v, "run --adaptive --json");
    let a = &v["adaptive"];
    let (made, full) = (
        a["candidate_calls"].as_u64().unwrap(),
        a["candidate_calls_full_design"].as_u64().unwrap(),
    );
    assert_eq!(full, 2 * 150 * 3);
    assert!(made < full, "{made} of {full}: nothing was saved");
    let dir = only_run_dir(&out);
    let report: serde_json::Value = serde_json::from_str(&read(&dir.join("report.json"))).unwrap();
    crate::common::schema::assert_valid(&schema, None, &report, "report.json");
    assert_eq!(report["adaptive"], v["adaptive"]);
    // The journal holds exactly the calls the design made, no more.
    assert_eq!(candidate_keys(&dir).len() as u64, made);
    // Every cell the policy moved was settled at a look, and the upgrade is the strong model.
    for c in a["cells"].as_array().unwrap() {
        if c["outcome"] == "changed" {
            assert!(c["decided_at_look"].as_u64().unwrap() <= 10, "{c}");
        }
    }
    for ch in v["changes"].as_array().unwrap() {
        assert_eq!(ch["new"]["primary"], "a/strong", "{ch}");
    }
    // `report` re-derives from the journal alone: the same report.md, byte for byte.
    let before = read(&dir.join("report.md"));
    assert!(before.contains("## Adaptive sampling"), "{before}");
    // report.html draws the same section, built once.
    let html = read(&dir.join("report.html"));
    assert!(
        html.contains("id=\"adaptive\""),
        "no adaptive section in report.html"
    );
    assert!(html.contains("decided at look"));
    let (cells_before, adaptive_before) = decisions(&dir);
    ok(&run_in(
        tmp.path(),
        &["report", dir.to_str().unwrap(), "--quiet"],
    ));
    assert_eq!(read(&dir.join("report.md")), before);
    assert_eq!(decisions(&dir), (cells_before, adaptive_before));
}

#[test]
fn the_run_key_makes_runs_adaptive_and_the_plan_gives_maximum_and_expected_calls() {
    let tmp = tempfile::tempdir().unwrap();
    write_suite(tmp.path(), 60, 0.0, true);
    let out = tmp.path().join("reports");
    let o = run_suite_in(tmp.path(), tmp.path(), &out, &["--dry-run", "--json"]);
    ok(&o);
    let plan = json_of(&o);
    assert_eq!(plan["adaptive"]["max_candidate_calls"], 2 * 60 * 3);
    // The routes file's design (4 looks, futility 0.2) is not the benchmarked one: the plan
    // gives no expected figure rather than the default design's.
    assert_eq!(
        plan["adaptive"]["expected_candidate_calls"],
        Value::Null,
        "{plan}"
    );
    let o = run_suite_in(tmp.path(), tmp.path(), &out, &["--dry-run"]);
    assert!(
        stdout(&o).contains("candidate calls at most 360")
            && stdout(&o).contains("expected: not measured for this design"),
        "{}",
        stdout(&o)
    );
    // The default design has the benchmark's figure.
    let plain = tempfile::tempdir().unwrap();
    write_suite(plain.path(), 60, 0.0, false);
    let o = run_suite_in(
        plain.path(),
        plain.path(),
        &plain.path().join("reports"),
        &["--adaptive", "--dry-run", "--json"],
    );
    ok(&o);
    let expected = json_of(&o)["adaptive"]["expected_candidate_calls"]
        .as_u64()
        .unwrap();
    assert!(expected > 0 && expected < 360, "{expected}");
    ok(&run_suite_in(tmp.path(), tmp.path(), &out, &["--quiet"]));
    let manifest: Value =
        serde_json::from_str(&read(&only_run_dir(&out).join("run.json"))).unwrap();
    // The `[run]` keys set the design, recorded in run.json.
    let design = &manifest["settings"]["adaptive"];
    assert_eq!(design["looks"], 4, "{manifest}");
    assert_eq!(design["futility"]["power"], 0.2, "{manifest}");
    assert_eq!(design["futility"]["rule"], "challenger_predictive_power");
    assert_eq!(design["spending"]["function"], "hwang_shih_decani");
    let report: Value =
        serde_json::from_str(&read(&only_run_dir(&out).join("report.json"))).unwrap();
    assert_eq!(report["adaptive"]["levels"].as_array().unwrap().len(), 4);
    assert_eq!(report["adaptive"]["futility"], design["futility"]);
    // Out-of-range knobs are refused with the file, line and key.
    // Type errors speak of numbers, not Rust types; a number too large for TOML still names the key.
    for (key, bad) in [
        ("adaptive_looks", "0"),
        ("adaptive_looks", "51"),
        ("adaptive_looks", "\"x\""),
        ("adaptive_looks", "99999999999999999999"),
        ("adaptive_futility", "0.7"),
    ] {
        let routes = read(&tmp.path().join("routes.toml"));
        let line = routes
            .lines()
            .position(|l| l.starts_with(key))
            .expect("the key is written")
            + 1;
        let changed = routes.replacen(
            &format!(
                "{key} = {}",
                if key == "adaptive_looks" { "4" } else { "0.2" }
            ),
            &format!("{key} = {bad}"),
            1,
        );
        std::fs::write(tmp.path().join("routes.toml"), &changed).unwrap();
        let o = run_in(tmp.path(), &["validate", "--routes", "routes.toml"]);
        assert_eq!(o.status.code(), Some(2), "{key} = {bad}");
        let err = stderr(&o);
        assert!(
            err.contains(&format!("routes.toml:{line}")) && err.contains(&format!("run.{key}")),
            "{err}"
        );
        assert!(!err.contains("usize") && !err.contains("f64"), "{err}");
        std::fs::write(tmp.path().join("routes.toml"), &routes).unwrap();
    }
}

/// Start an adaptive run and SIGKILL it once its journal holds at least `rows` lines.
fn kill_after_rows(
    cwd: &Path,
    args: &[&str],
    journal_dir: impl Fn() -> Option<PathBuf>,
    rows: usize,
) {
    let mut child = bin()
        .current_dir(cwd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        let n = journal_dir()
            .and_then(|d| std::fs::read_to_string(d.join("journal.jsonl")).ok())
            .map_or(0, |j| j.lines().count());
        if n >= rows || child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the run made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait().unwrap();
}

#[test]
fn a_killed_adaptive_run_resumes_to_the_same_decisions() {
    // The uninterrupted run.
    let clean = tempfile::tempdir().unwrap();
    write_suite(clean.path(), 150, 0.0, false);
    let clean_out = clean.path().join("reports");
    ok(&run_suite_in(
        clean.path(),
        clean.path(),
        &clean_out,
        &["--adaptive", "--quiet"],
    ));
    let clean_dir = only_run_dir(&clean_out);

    // The same run, killed in its second and in a later look, then resumed.
    let tmp = tempfile::tempdir().unwrap();
    write_suite(tmp.path(), 150, 0.01, false);
    let out = tmp.path().join("reports");
    let dir_of = || {
        std::fs::read_dir(&out).ok()?.find_map(|e| {
            let p = e.ok()?.path();
            p.join("run.json").exists().then_some(p)
        })
    };
    let suite = tmp.path().to_str().unwrap().to_string();
    let out_s = out.to_str().unwrap().to_string();
    kill_after_rows(
        tmp.path(),
        &[
            "run",
            "--suite",
            &suite,
            "--out",
            &out_s,
            "--adaptive",
            "--quiet",
        ],
        dir_of,
        300,
    );
    let dir = dir_of().expect("the killed run has a run directory");
    let unfinished = |dir: &Path| {
        let m: Value = serde_json::from_str(&read(&dir.join("run.json"))).unwrap();
        assert_eq!(m["status"], "running", "the run ended before the kill");
    };
    unfinished(&dir);
    let d = dir.to_str().unwrap().to_string();
    // `report` on the killed run says it is unfinished, replays only the looks the journal
    // holds in full, and `apply` refuses its proposal without --force.
    ok(&run_in(tmp.path(), &["report", &d, "--quiet"]));
    let md = read(&dir.join("report.md"));
    assert!(
        md.contains("this run is running: not every planned call was made"),
        "{md}"
    );
    let report: Value = serde_json::from_str(&read(&dir.join("report.json"))).unwrap();
    let a = &report["adaptive"];
    let journaled = candidate_keys(&dir).len() as u64;
    assert!(a["looks_done"].as_u64().unwrap() < 10, "{a}");
    assert!(a["candidate_calls"].as_u64().unwrap() <= journaled, "{a}");
    let o = run_in(tmp.path(), &["apply", &d, "--dry-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("is running: not every planned call was made"));
    kill_after_rows(
        tmp.path(),
        &["run", "--resume", &d, "--quiet"],
        || Some(dir.clone()),
        700,
    );
    unfinished(&dir);
    ok(&run_in(tmp.path(), &["run", "--resume", &d, "--quiet"]));

    assert_eq!(decisions(&dir), decisions(&clean_dir));
    assert_eq!(candidate_keys(&dir).len(), {
        let mut k = candidate_keys(&dir);
        k.dedup();
        k.len()
    });
    let mut resumed = candidate_keys(&dir);
    resumed.dedup();
    assert_eq!(resumed, candidate_keys(&clean_dir));
}

#[test]
fn a_budget_below_the_maximum_refuses_the_full_design_but_not_an_adaptive_run() {
    use crate::common::server::{Reply, Request, Server};
    const KEY_ENV: &str = "ROUTECAL_TEST_ADAPTIVE_KEY";
    let server = Server::start(|r: &Request| {
        let model = r.json()["model"].as_str().unwrap_or("").to_string();
        Reply::json(
            200,
            serde_json::json!({"id":"c1","object":"chat.completion","created":1795636911,"model":model,
                "choices":[{"index":0,"message":{"role":"assistant","content":"the answer"},"finish_reason":"stop"}],
                "usage":{"prompt_tokens":30,"completion_tokens":5,"total_tokens":35}}),
        )
    });
    let suite = openai_suite(&server.url(), KEY_ENV, "max_concurrency = 2", 30);
    let dir = suite.path();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--routes",
            "routes.toml",
            "--dataset",
            "dataset.jsonl",
            "--out",
            "reports",
            "--max-spend",
            "0.03",
            "--json",
        ];
        args.extend_from_slice(extra);
        bin()
            .current_dir(dir)
            .args(&args)
            .env(KEY_ENV, "sk-adaptive-test-key-0123456789")
            .output()
            .unwrap()
    };
    // The full plan's estimate (about $0.07) is over the budget: refused before any call.
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(server.requests().is_empty());
    // An adaptive run starts: its plan is a maximum, and its calls stop at the budget.
    let o = run(&["--adaptive"]);
    ok(&o);
    assert!(!server.requests().is_empty());
    let v = json_of(&o);
    assert!(
        v["adaptive"]["candidate_calls"].as_u64().unwrap() > 0,
        "{v}"
    );
}

#[test]
fn a_call_budget_ends_an_adaptive_run_before_the_look_that_would_pass_it() {
    let tmp = tempfile::tempdir().unwrap();
    // Close models: without a budget the design reads many looks.
    write_suite(tmp.path(), 150, 0.0, false);
    let routes = read(&tmp.path().join("routes.toml"))
        .replace("quality = 0.78", "quality = 0.64")
        .replace("quality = 0.45", "quality = 0.60");
    std::fs::write(tmp.path().join("routes.toml"), routes).unwrap();
    let out = tmp.path().join("reports");
    // The full fixed design has no call budget, and a budget below the first look is refused.
    for (args, says) in [
        (
            vec!["--max-calls", "500"],
            "--max-calls limits an adaptive run",
        ),
        (
            vec!["--adaptive", "--max-calls", "20"],
            "the first look alone makes 90 candidate calls",
        ),
    ] {
        let o = run_suite_in(tmp.path(), tmp.path(), &out, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
        assert!(!out.exists(), "nothing written");
    }
    let o = run_suite_in(
        tmp.path(),
        tmp.path(),
        &out,
        &["--adaptive", "--max-calls", "250", "--json"],
    );
    ok(&o);
    let a = &json_of(&o)["adaptive"];
    assert_eq!(a["stopped_by_call_budget"], true, "{a}");
    assert_eq!(a["max_candidate_calls"], 250, "{a}");
    let made = a["candidate_calls"].as_u64().unwrap();
    assert!((90..=250).contains(&made), "{a}");
    let dir = only_run_dir(&out);
    assert_eq!(candidate_keys(&dir).len() as u64, made);
    let manifest: Value = serde_json::from_str(&read(&dir.join("run.json"))).unwrap();
    assert_eq!(
        manifest["settings"]["adaptive"]["max_pairs"], 250,
        "{manifest}"
    );
    let md = read(&dir.join("report.md"));
    assert!(
        md.contains("Stopped by the call budget (250 candidate calls)"),
        "{md}"
    );
    // `report` replays the same stop from the journal and the recorded budget.
    ok(&run_in(
        tmp.path(),
        &["report", dir.to_str().unwrap(), "--quiet"],
    ));
    assert_eq!(read(&dir.join("report.md")), md);
    // A larger budget on resume continues the run to what a fresh run with it decides.
    ok(&run_in(
        tmp.path(),
        &[
            "run",
            "--resume",
            dir.to_str().unwrap(),
            "--max-calls",
            "600",
            "--quiet",
        ],
    ));
    let fresh = tmp.path().join("fresh");
    ok(&run_suite_in(
        tmp.path(),
        tmp.path(),
        &fresh,
        &["--adaptive", "--max-calls", "600", "--quiet"],
    ));
    let fresh = only_run_dir(&fresh);
    assert_eq!(decisions(&dir), decisions(&fresh));
    assert_eq!(candidate_keys(&dir), candidate_keys(&fresh));
}
