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

    // A price file that is not there, or not a price table, is bad input naming the file.
    std::fs::write(tmp.path().join("bad.json"), "{\"providers\": 1}").unwrap();
    for (file, what) in [
        ("missing.json", "cannot read"),
        ("bad.json", "not a genai-prices table"),
    ] {
        let o = bin()
            .args(["run", "--suite", suite.to_str().unwrap(), "--dry-run"])
            .current_dir(tmp.path())
            .env("ROUTECAL_PRICES", file)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(file) && stderr(&o).contains(what),
            "{}",
            stderr(&o)
        );
    }

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

    // A resume keeps the run's own price file; another one is a change of inputs.
    let resume = |extra: &[&str]| {
        bin()
            .args(
                [
                    &["run", "--resume", dir.to_str().unwrap(), "--quiet"][..],
                    extra,
                ]
                .concat(),
            )
            .current_dir(tmp.path())
            .env_remove("ROUTECAL_PRICES")
            .output()
            .unwrap()
    };
    ok(&resume(&[]));
    let other = tmp.path().join("other-prices.json");
    std::fs::write(&other, read(&fresh).replace("1000.0", "999.0")).unwrap();
    let o = resume(&["--prices", other.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("prices"), "{}", stderr(&o));
}

#[test]
fn init_writes_a_repository_that_validates_and_plans_offline_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let repo_dir = tmp.path().join("router");
    let o = run_in(tmp.path(), &["init", "router"]);
    ok(&o);
    for f in [
        "routes.toml",
        "datasets/traffic/dataset.jsonl",
        ".github/workflows/routecal-weekly.yml",
    ] {
        assert!(repo_dir.join(f).is_file(), "{f}: {}", stdout(&o));
    }
    // The workflow init writes is the one routecal ships and this test checks below.
    assert!(
        read(&repo_dir.join(".github/workflows/routecal-weekly.yml"))
            == read(&repo().join(".github/workflows/routecal-weekly.yml")),
        "init wrote another workflow than .github/workflows/routecal-weekly.yml"
    );
    let inputs = [
        "--routes",
        "routes.toml",
        "--dataset",
        "datasets/traffic/dataset.jsonl",
    ];
    ok(&run_in(&repo_dir, &[&["validate"][..], &inputs].concat()));
    let o = bin()
        .args([&["run"][..], &inputs, &["--dry-run"]].concat())
        .current_dir(&repo_dir)
        .env_remove("PROMPTSTER_API_KEY")
        .output()
        .unwrap();
    ok(&o);
    assert!(stdout(&o).contains("Estimated spend on live endpoints"));

    // A second init refuses, names the file, and changes nothing.
    std::fs::write(repo_dir.join("routes.toml"), "# mine\n").unwrap();
    let o = run_in(tmp.path(), &["init", "router"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("routes.toml"), "{}", stderr(&o));
    assert_eq!(read(&repo_dir.join("routes.toml")), "# mine\n");

    // One existing file is enough to write none of the others.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(other.join(".github/workflows")).unwrap();
    std::fs::write(other.join(".github/workflows/routecal-weekly.yml"), "x").unwrap();
    let o = run_in(&other, &["init"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!other.join("routes.toml").exists());
    assert!(!other.join("datasets").exists());
}

/// The shipped workflow as YAML.
fn workflow() -> (String, yaml_rust2::Yaml) {
    let text = read(&repo().join(".github/workflows/routecal-weekly.yml"));
    let mut docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("the workflow is YAML");
    (text, docs.remove(0))
}

fn steps(wf: &yaml_rust2::Yaml) -> Vec<yaml_rust2::Yaml> {
    wf["jobs"]["benchmark"]["steps"]
        .as_vec()
        .expect("jobs.benchmark.steps")
        .clone()
}

/// The step whose `run` (or `uses`) contains `needle`.
fn step_with(steps: &[yaml_rust2::Yaml], key: &str, needle: &str) -> yaml_rust2::Yaml {
    steps
        .iter()
        .find(|s| s[key].as_str().is_some_and(|v| v.contains(needle)))
        .unwrap_or_else(|| panic!("no step whose {key} contains {needle:?}"))
        .clone()
}

#[test]
fn the_weekly_workflow_installs_a_pinned_routecal_spends_within_a_limit_and_compares_weeks() {
    let (text, wf) = workflow();
    assert!(wf["on"]["schedule"][0]["cron"].as_str().is_some());
    assert!(!wf["on"]["workflow_dispatch"].is_badvalue());
    for (k, v) in [
        ("contents", "write"),
        ("pull-requests", "write"),
        ("actions", "read"),
    ] {
        assert_eq!(wf["permissions"][k].as_str(), Some(v), "permissions.{k}");
    }
    assert_eq!(
        wf["env"]["ROUTECAL_VERSION"].as_str(),
        Some(env!("CARGO_PKG_VERSION")),
        "the workflow pins the version being released"
    );
    let steps = steps(&wf);
    // Installed, not built from the user's repository; the binary cached by version.
    let install = step_with(&steps, "run", "cargo +stable install --locked --git");
    assert!(
        install["run"]
            .as_str()
            .unwrap()
            .contains("--tag \"v$ROUTECAL_VERSION\"")
    );
    let cache = step_with(&steps, "uses", "actions/cache@");
    assert_eq!(
        cache["with"]["path"].as_str(),
        Some("~/.cargo/bin/routecal")
    );
    assert!(
        cache["with"]["key"]
            .as_str()
            .unwrap()
            .contains("env.ROUTECAL_VERSION")
    );
    assert!(!text.contains("cargo build"));
    // One unattended run with live keys, within a spending limit.
    let run = step_with(&steps, "run", "routecal run ");
    assert!(
        run["run"]
            .as_str()
            .unwrap()
            .contains("--max-spend \"$MAX_SPEND\"")
    );
    assert!(
        wf["env"]["MAX_SPEND"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.0
    );
    // Last week's run, downloaded under the name this week's is uploaded with, is compared.
    let download = step_with(&steps, "run", "gh run download");
    let upload = step_with(&steps, "uses", "actions/upload-artifact@");
    let name = upload["with"]["name"].as_str().unwrap();
    assert!(
        download["run"]
            .as_str()
            .unwrap()
            .contains(&format!("--name {name} --dir last-run"))
    );
    let summary = step_with(&steps, "run", "routecal report last-run \"$RUN_DIR\"");
    assert!(
        summary["run"]
            .as_str()
            .unwrap()
            .contains("GITHUB_STEP_SUMMARY")
    );
    // The judge cache is restored before the run and saved after it, even when a step fails.
    let restore = step_with(&steps, "uses", "actions/cache/restore@");
    let save = step_with(&steps, "uses", "actions/cache/save@");
    for s in [&restore, &save] {
        assert!(
            s["with"]["path"]
                .as_str()
                .unwrap()
                .ends_with("/judge-cache.jsonl")
        );
    }
    assert_eq!(save["if"].as_str(), Some("always()"));
    let pos = |s: &yaml_rust2::Yaml| steps.iter().position(|x| x == s).unwrap();
    assert!(pos(&restore) < pos(&run) && pos(&run) < pos(&save));
    assert!(
        pos(&summary) < pos(&upload),
        "the comparison is part of the artifact"
    );
    // The earlier runs are evidence: downloaded from last week's history artifact, passed with
    // --history and --window, joined by this week's run, pruned to the window and uploaded
    // under the name next week downloads.
    let window = wf["env"]["WINDOW"].as_str().unwrap();
    let (n, unit) = window.split_at(window.len() - 1);
    assert!(
        n.parse::<u32>().is_ok() && ["h", "d", "w"].contains(&unit),
        "{window}"
    );
    let script = run["run"].as_str().unwrap();
    assert!(
        script.contains("history_flags=(--history history --window \"$WINDOW\")")
            && script.contains("\"${history_flags[@]}\""),
        "{script}"
    );
    let history_up = steps
        .iter()
        .find(|s| s["with"]["name"].as_str() == Some("routecal-history"))
        .expect("an upload of the earlier runs");
    assert_eq!(history_up["with"]["path"].as_str(), Some("history"));
    assert!(
        download["run"]
            .as_str()
            .unwrap()
            .contains("--name routecal-history --dir history")
    );
    let keep = step_with(&steps, "run", "cp -r \"$RUN_DIR\" \"history/");
    assert!(keep["run"].as_str().unwrap().contains("rm -rf \"$d\""));
    assert!(pos(&download) < pos(&run) && pos(&run) < pos(&keep));
    assert!(pos(&keep) < pos(history_up));
    for s in [&keep, history_up] {
        assert!(s["if"].as_str().unwrap().starts_with("always()"));
    }
    // The pull request: a token that starts the repository's CI when one is given.
    let pr = step_with(&steps, "uses", "peter-evans/create-pull-request@");
    assert!(
        pr["with"]["token"]
            .as_str()
            .unwrap()
            .contains("secrets.ROUTECAL_PR_TOKEN")
    );
    assert!(text.contains("Allow GitHub\n#     Actions to create and approve pull requests"));
    assert!(text.contains("does not start the\n#     repository's own workflows"));
    // Every action is pinned to a major version.
    for s in &steps {
        if let Some(u) = s["uses"].as_str() {
            assert!(
                u.rsplit_once("@v")
                    .is_some_and(|(_, v)| v.parse::<u32>().is_ok()),
                "{u}"
            );
        }
    }
}

#[test]
fn every_routecal_command_in_the_workflow_exists_with_its_flags() {
    let (_, wf) = workflow();
    let mut checked = 0;
    for s in steps(&wf) {
        let Some(script) = s["run"].as_str() else {
            continue;
        };
        let script = script.replace("\\\n", " ");
        for line in script.lines() {
            let Some(at) = line.find("routecal ") else {
                continue;
            };
            let words: Vec<&str> = line[at + "routecal ".len()..].split_whitespace().collect();
            let sub = words[0];
            if sub.starts_with("--") {
                continue; // routecal --version
            }
            let help = run_in(&repo(), &[sub, "--help"]);
            ok(&help);
            for flag in words.iter().filter(|w| w.starts_with("--")) {
                let flag = flag.trim_end_matches(['"', '}', ';']);
                assert!(stdout(&help).contains(flag), "routecal {sub} has no {flag}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked}");
}

/// `git ARGS` in `dir`; its stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let o = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
    stdout(&o).trim().to_string()
}

fn clone_as(origin: &Path, dir: &Path, who: &str) {
    let parent = dir.parent().unwrap();
    git(
        parent,
        &[
            "clone",
            "--quiet",
            origin.to_str().unwrap(),
            dir.to_str().unwrap(),
        ],
    );
    git(dir, &["config", "user.name", who]);
    git(
        dir,
        &["config", "user.email", &format!("{who}@example.com")],
    );
}

/// A bare `origin` whose main holds a copy of the mt-bench suite as a router repository.
fn router_origin(tmp: &Path) -> std::path::PathBuf {
    let origin = tmp.join("origin.git");
    git(
        tmp,
        &[
            "init",
            "--quiet",
            "--bare",
            "-b",
            "main",
            origin.to_str().unwrap(),
        ],
    );
    let seed = tmp.join("seed");
    clone_as(&origin, &seed, "seed");
    git(&seed, &["checkout", "--quiet", "-b", "main"]);
    for f in ["routes.toml", "dataset.jsonl", "recording.jsonl"] {
        std::fs::copy(repo().join("datasets/mt-bench").join(f), seed.join(f)).unwrap();
    }
    std::fs::write(seed.join(".gitignore"), "reports/\n").unwrap();
    git(&seed, &["add", "."]);
    git(&seed, &["commit", "--quiet", "-m", "the routing table"]);
    git(&seed, &["push", "--quiet", "origin", "main"]);
    origin
}

/// One week of scripts/routecal-weekly.sh in `clone`, with cron's bare PATH.
fn cron_week(clone: &Path, extra_env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg(repo().join("scripts/routecal-weekly.sh"))
        .arg(clone)
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/local/bin")
        .env("HOME", clone)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("ROUTECAL", env!("CARGO_BIN_EXE_routecal"))
        .env("DATASET", "dataset.jsonl")
        .env("MAX_SPEND", "1");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn sha256_file(p: &Path) -> String {
    sha256(&read(p))
}

fn run_dirs(clone: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(clone.join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("run.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn two_cron_weeks_measure_the_merged_table_and_leave_the_clone_as_found() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = router_origin(tmp.path());
    let server = tmp.path().join("server");
    clone_as(&origin, &server, "cron");
    let original = sha256_file(&server.join("routes.toml"));

    // Week 1: measures main, commits the proposal on a branch and pushes it for review.
    let o = cron_week(&server, &[]);
    ok(&o);
    // The first week has no earlier run: no --history.
    let m: serde_json::Value =
        serde_json::from_str(&read(&run_dirs(&server)[0].join("run.json"))).unwrap();
    assert!(m["settings"]["history"].is_null(), "{m}");
    assert_eq!(git(&server, &["rev-parse", "--abbrev-ref", "HEAD"]), "main");
    assert_eq!(
        git(&server, &["status", "--porcelain"]),
        "",
        "the clone is left clean"
    );
    let week1 = run_dirs(&server).remove(0);
    let id1 = week1.file_name().unwrap().to_str().unwrap().to_string();
    let m1: serde_json::Value = serde_json::from_str(&read(&week1.join("run.json"))).unwrap();
    assert_eq!(m1["routes"]["sha256"], original);
    let branch = format!("routecal/{id1}");
    git(&server, &["fetch", "--quiet", "origin"]);
    let proposal = git(&server, &["show", &format!("origin/{branch}:routes.toml")]);
    assert_ne!(sha256(&(proposal.clone() + "\n")), original);

    // The review: a person accepts the proposal on main and notes it in the file, so the merged
    // table is neither the original nor the proposal branch's file.
    let reviewer = tmp.path().join("reviewer");
    clone_as(&origin, &reviewer, "reviewer");
    let reviewed = reviewer.join("routes.toml");
    ok(&run_in(
        &reviewer,
        &[
            "apply",
            week1.to_str().unwrap(),
            "--routes",
            reviewed.to_str().unwrap(),
            "--quiet",
        ],
    ));
    let mut text = read(&reviewed);
    text.push_str("# reviewed: accepted in the weekly review\n");
    std::fs::write(&reviewed, text).unwrap();
    let _ = std::fs::remove_file(reviewer.join("routes.toml.bak"));
    git(
        &reviewer,
        &["commit", "--quiet", "-am", "routes: accept one cell"],
    );
    git(&reviewer, &["push", "--quiet", "origin", "main"]);
    let merged = sha256_file(&reviewed);
    assert!(merged != original && sha256(&(proposal + "\n")) != merged);

    // Someone left the server's clone on the proposal branch; week 2 must still measure main.
    git(&server, &["checkout", "--quiet", &branch]);
    let o = cron_week(&server, &[]);
    ok(&o);
    let week2 = run_dirs(&server).pop().unwrap();
    assert_ne!(week2, week1);
    let m2: serde_json::Value = serde_json::from_str(&read(&week2.join("run.json"))).unwrap();
    assert_eq!(
        m2["routes"]["sha256"], merged,
        "week 2 measured the merged table"
    );
    assert!(
        week2.join(format!("compare-{id1}.md")).is_file(),
        "{}",
        stdout(&o)
    );
    // Week 2 reads week 1 as history: recorded in run.json, reported in report.json and
    // report.md, and said in the comparison (the two runs' samples differ).
    let history = &m2["settings"]["history"];
    assert_eq!(history["window"], "4w", "{m2}");
    assert_eq!(
        std::path::Path::new(history["dir"].as_str().unwrap()),
        server.join("reports").canonicalize().unwrap(),
        "{m2}"
    );
    let r2: serde_json::Value = serde_json::from_str(&read(&week2.join("report.json"))).unwrap();
    assert_eq!(r2["history"]["runs"], serde_json::json!([id1]), "{r2}");
    let checks = r2["history"]["models"].as_array().unwrap();
    assert!(
        !checks.is_empty() && checks.iter().all(|c| c["weeks"] == 1),
        "{r2}"
    );
    assert!(read(&week2.join("report.md")).contains("## Evidence across weeks"));
    // And the clone is back where it was found, clean, with main updated.
    assert_eq!(git(&server, &["rev-parse", "--abbrev-ref", "HEAD"]), branch);
    assert_eq!(git(&server, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&server, &["rev-parse", "main"]),
        git(&reviewer, &["rev-parse", "main"])
    );
}

#[test]
fn the_cron_script_never_runs_a_routecal_found_by_path_and_never_touches_a_dirty_clone() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = router_origin(tmp.path());
    let server = tmp.path().join("server");
    clone_as(&origin, &server, "cron");
    // A relative name would be looked up in PATH: refused.
    let o = cron_week(&server, &[("ROUTECAL", "routecal")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("absolute path"), "{}", stderr(&o));
    // Not installed where it is looked for: says how to install, not "command not found" (127).
    let o = cron_week(&server, &[("ROUTECAL", "/nonexistent/routecal")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cargo install"), "{}", stderr(&o));
    // A failing week (here a missing dataset) still returns the clone to where it was.
    git(&server, &["checkout", "--quiet", "-b", "investigating"]);
    let o = cron_week(&server, &[("DATASET", "missing.jsonl")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing.jsonl"), "{}", stderr(&o));
    assert_eq!(
        git(&server, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "investigating"
    );
    assert_eq!(git(&server, &["status", "--porcelain"]), "");
    // Uncommitted work in the clone: left alone.
    std::fs::write(server.join("routes.toml"), "# being edited\n").unwrap();
    let o = cron_week(&server, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!server.join("reports").exists());
    assert_eq!(read(&server.join("routes.toml")), "# being edited\n");
}
