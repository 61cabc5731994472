//! The weekly loop as a user's repository runs it: a plan priced in CI without secrets, a newer
//! price file, `routecal init`, the workflow file, and the cron script over two simulated weeks.

use std::path::Path;

use crate::common::*;

/// `routecal run --dry-run` on the shipped live routes file (Promptster endpoint) with no key set.
fn dry_run_without_keys(cwd: &Path, extra: &[&str]) -> std::process::Output {
    let routes = repo().join("routes.toml");
    let dataset = repo().join("datasets/llm-drift/dataset.jsonl");
    let mut args = vec![
        "run",
        "--routes",
        routes.to_str().unwrap(),
        "--dataset",
        dataset.to_str().unwrap(),
        "--out",
        "reports",
    ];
    args.extend_from_slice(extra);
    bin()
        .args(&args)
        .current_dir(cwd)
        .env_remove("PROMPTSTER_API_KEY")
        .env_remove("ROUTECAL_PRICES")
        .output()
        .unwrap()
}

#[test]
fn dry_run_prices_the_plan_without_api_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let o = dry_run_without_keys(tmp.path(), &["--dry-run"]);
    ok(&o);
    let out = stdout(&o);
    assert!(
        out.contains("Estimated spend on live endpoints: $"),
        "{out}"
    );
    assert!(
        out.contains("Key: PROMPTSTER_API_KEY is not set (endpoint promptster)"),
        "{out}"
    );
    assert!(out.contains("Prices: genai-prices@"), "{out}");

    let o = dry_run_without_keys(tmp.path(), &["--dry-run", "--json"]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["estimated_usd"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(v["missing_keys"][0]["variable"], "PROMPTSTER_API_KEY");
    assert!(
        v["prices"]["date"].as_str().unwrap().starts_with("20"),
        "{v}"
    );

    // The run itself still needs the key: refused before anything is written.
    let o = dry_run_without_keys(tmp.path(), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("PROMPTSTER_API_KEY"), "{}", stderr(&o));
    assert!(!tmp.path().join("reports").exists());
}

/// A genai-prices file holding one made-up price for gpt-4-1106-preview and Mixtral, dated
/// `age_days` ago by its modification time.
fn price_file(dir: &Path, age_days: u64) -> std::path::PathBuf {
    let path = dir.join("genai-prices.json");
    let json = serde_json::json!([
        {"id": "openai", "name": "OpenAI", "models": [
            {"id": "gpt-4-1106-preview", "match": {"equals": "gpt-4-1106-preview"},
             "prices": {"input_mtok": 1000.0, "output_mtok": 1000.0}}]},
        {"id": "together", "name": "Together", "models": [
            {"id": "mixtral", "match": {"contains": "Mixtral"},
             "prices": {"input_mtok": 0.5, "output_mtok": 0.5}}]}
    ]);
    std::fs::write(&path, json.to_string()).unwrap();
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age_days * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(when)
        .unwrap();
    path
}

fn plan_json(cwd: &Path, suite: &Path, prices: Option<&Path>, env: bool) -> serde_json::Value {
    let mut cmd = bin();
    cmd.args([
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--dry-run",
        "--json",
    ])
    .current_dir(cwd)
    .env_remove("ROUTECAL_PRICES");
    match (prices, env) {
        (Some(p), true) => cmd.env("ROUTECAL_PRICES", p),
        (Some(p), false) => cmd.arg("--prices").arg(p),
        (None, _) => &mut cmd,
    };
    let o = cmd.output().unwrap();
    ok(&o);
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn gpt4_estimate(v: &serde_json::Value) -> f64 {
    v["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "openai/gpt-4-1106-preview")
        .unwrap()["est_cost_usd"]
        .as_f64()
        .unwrap()
}

#[test]
fn a_newer_price_file_reprices_plan_run_and_report_and_an_old_one_is_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("datasets/mt-bench");
    let shipped = plan_json(tmp.path(), &suite, None, false);
    assert!(
        shipped["prices"]["source"]
            .as_str()
            .unwrap()
            .starts_with("genai-prices@")
    );
    let fresh = price_file(tmp.path(), 0);
    for env in [false, true] {
        let v = plan_json(tmp.path(), &suite, Some(&fresh), env);
        assert!(gpt4_estimate(&v) > 20.0 * gpt4_estimate(&shipped), "{v}");
        assert_eq!(v["prices"]["age_days"], 0);
        assert!(v["prices"]["warning"].is_null(), "{v}");
    }
    let old = price_file(tmp.path(), 90);
    let v = plan_json(tmp.path(), &suite, Some(&old), false);
    assert!(v["prices"]["age_days"].as_i64().unwrap() >= 89, "{v}");
    let w = v["prices"]["warning"].as_str().unwrap();
    assert!(w.contains("days old") && w.contains("--prices"), "{w}");

    // A real run records the file; `report` re-derives with it, not with the snapshot.
    let fresh = price_file(tmp.path(), 0);
    let o = run_suite_in(
        tmp.path(),
        &suite,
        Path::new("reports"),
        &["--quiet", "--prices", fresh.to_str().unwrap()],
    );
    ok(&o);
    let dir = only_run_dir(&tmp.path().join("reports"));
    let manifest: serde_json::Value = serde_json::from_str(&read(&dir.join("run.json"))).unwrap();
    assert_eq!(manifest["prices"]["path"], "genai-prices.json");
    let cost = |dir: &Path| -> f64 {
        read_csv(&dir.join("summary.csv"))
            .iter()
            .filter(|r| r["model"] == "openai/gpt-4-1106-preview")
            .map(|r| r["cost_usd"].parse::<f64>().unwrap())
            .sum()
    };
    let before = cost(&dir);
    ok(&run_in(
        tmp.path(),
        &["report", dir.to_str().unwrap(), "--quiet"],
    ));
    assert!((cost(&dir) - before).abs() < 1e-9 * before.max(1.0));
    assert!(
        before > 10.0,
        "priced at the file's $1000 per million tokens: {before}"
    );
}
