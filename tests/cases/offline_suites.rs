//! The shipped suites run offline and their numbers match what the recorded data says.

use std::collections::HashMap;

use crate::common::*;

fn run_suite(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("datasets").join(name);
    let out = tmp.path().join("reports");
    let o = run_suite_in(tmp.path(), &suite, &out, &[]);
    ok(&o);
    let dir = only_run_dir(&out);
    assert!(
        stdout(&o).contains(&format!("Run directory: {}", dir.display()))
            || stdout(&o).contains("Run directory:"),
        "{}",
        stdout(&o)
    );
    (tmp, dir)
}

/// Mean recorded grade per (model, task type), computed straight from the suite's files.
fn recorded_means(suite: &str) -> HashMap<(String, String), f64> {
    let dir = repo().join("datasets").join(suite);
    let items = read_jsonl(&dir.join("dataset.jsonl"));
    let task_of: HashMap<String, String> = items
        .iter()
        .map(|i| (item_sha256(i), i["task_type"].as_str().unwrap().to_string()))
        .collect();
    let mut acc: HashMap<(String, String), (f64, usize)> = HashMap::new();
    for r in read_jsonl(&dir.join("recording.jsonl")) {
        let task = task_of[r["prompt_sha256"].as_str().unwrap()].clone();
        let e = acc
            .entry((r["model"].as_str().unwrap().to_string(), task))
            .or_default();
        e.0 += r["grade"]["score"].as_f64().unwrap();
        e.1 += 1;
    }
    acc.into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect()
}

/// The hash a recording keys an item on: its prompt's, or its canonical conversation's
/// (compact JSON, keys sorted: `serde_json`'s own order).
fn item_sha256(item: &serde_json::Value) -> String {
    match item.get("messages") {
        Some(m) => sha256(&m.to_string()),
        None => sha256(item["prompt"].as_str().unwrap()),
    }
}

fn quality(summary: &[HashMap<String, String>], model: &str, task: &str) -> f64 {
    summary
        .iter()
        .find(|r| r["model"] == model && r["task_type"] == task)
        .unwrap_or_else(|| panic!("no summary row for {model} {task}"))["quality"]
        .parse()
        .unwrap()
}

#[test]
fn mt_bench_runs_offline_and_gpt4_beats_mixtral_on_math_and_code() {
    let (_tmp, dir) = run_suite("mt-bench");
    for f in [
        "run.json",
        "journal.jsonl",
        "results.csv",
        "summary.csv",
        "classifier.csv",
        "routes.recommended.toml",
        "routes.diff",
        "report.md",
        "changes.csv",
        "simulation.csv",
        "confusion.csv",
    ] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    let summary = read_csv(&dir.join("summary.csv"));
    let expected = recorded_means("mt-bench");
    let gpt4 = "openai/gpt-4-1106-preview";
    let mixtral = "together/mistralai/Mixtral-8x7B-Instruct-v0.1";
    for task in [
        "code",
        "math",
        "extraction",
        "creative",
        "factual",
        "general",
    ] {
        for m in [gpt4, mixtral] {
            let q = quality(&summary, m, task);
            let e = expected[&(m.to_string(), task.to_string())];
            assert!(
                (q - e).abs() < 1e-9,
                "{m} {task}: summary {q} vs recording {e}"
            );
        }
    }
    assert!(quality(&summary, gpt4, "math") > quality(&summary, mixtral, "math"));
    assert!(quality(&summary, gpt4, "code") > quality(&summary, mixtral, "code"));
    // Every planned call has exactly one result row: 160 items × 2 candidates.
    let results = read_csv(&dir.join("results.csv"));
    assert_eq!(results.len(), 320);
    assert!(results.iter().all(|r| r["ok"] == "true"
        && r["latency_source"] == "modelled"
        && r["tokens_source"] == "estimated"));
    // The policy moves math and code quality cells to the stronger model.
    let changes = read_csv(&dir.join("changes.csv"));
    for cell in ["math.quality", "code.quality"] {
        let c = changes.iter().find(|r| r["cell"] == cell).unwrap();
        assert_eq!(c["new_primary"], gpt4, "{cell}: {c:?}");
    }
}

#[test]
fn llm_drift_costs_equal_the_recorded_costs() {
    let (_tmp, dir) = run_suite("llm-drift");
    let mut recorded: HashMap<String, f64> = HashMap::new();
    for r in read_jsonl(&repo().join("datasets/llm-drift/recording.jsonl")) {
        *recorded
            .entry(r["model"].as_str().unwrap().to_string())
            .or_default() += r["cost_usd"].as_f64().unwrap();
    }
    let summary = read_csv(&dir.join("summary.csv"));
    assert_eq!(recorded.len(), 4);
    for (model, total) in recorded {
        let sum: f64 = summary
            .iter()
            .filter(|r| r["model"] == model)
            .map(|r| r["cost_usd"].parse::<f64>().unwrap())
            .sum();
        assert!((sum - total).abs() < 1e-9, "{model}: {sum} vs {total}");
    }
    let results = read_csv(&dir.join("results.csv"));
    assert_eq!(results.len(), 1080);
    assert!(
        results
            .iter()
            .all(|r| r["cost_source"] == "recorded" && r["latency_source"] == "recorded")
    );
}

#[test]
fn report_rederives_the_same_files_without_calls() {
    let (_tmp, dir) = run_suite("mt-bench");
    let before: Vec<(String, String)> = [
        "summary.csv",
        "changes.csv",
        "simulation.csv",
        "routes.diff",
        "report.md",
    ]
    .iter()
    .map(|f| (f.to_string(), std::fs::read_to_string(dir.join(f)).unwrap()))
    .collect();
    for (f, _) in &before {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    let journal_before = std::fs::read(dir.join("journal.jsonl")).unwrap();
    let o = run_in(&repo(), &["report", dir.to_str().unwrap(), "--quiet"]);
    ok(&o);
    for (f, text) in before {
        assert!(
            std::fs::read_to_string(dir.join(&f)).unwrap() == text,
            "{f} differs after report"
        );
    }
    assert_eq!(
        std::fs::read(dir.join("journal.jsonl")).unwrap(),
        journal_before,
        "report must not touch the journal"
    );
}

#[test]
fn diff_exit_code_is_3_when_the_table_would_change_and_0_when_not() {
    let (tmp, dir) = run_suite("mt-bench");
    let o = run_in(tmp.path(), &["diff", dir.to_str().unwrap(), "--exit-code"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stdout(&o).contains("+primary = \"openai/gpt-4-1106-preview\""));
    // Accept the proposal as the new table: the next run proposes nothing.
    let suite = copy_suite("mt-bench", tmp.path());
    std::fs::copy(
        dir.join("routes.recommended.toml"),
        suite.join("routes.toml"),
    )
    .unwrap();
    let out2 = tmp.path().join("reports2");
    ok(&run_suite_in(tmp.path(), &suite, &out2, &["--quiet"]));
    let dir2 = only_run_dir(&out2);
    let o = run_in(tmp.path(), &["diff", dir2.to_str().unwrap(), "--exit-code"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).is_empty());
}

#[test]
fn validate_accepts_the_shipped_files() {
    let o = run_in(&repo(), &["validate", "--routes", "routes.toml"]);
    ok(&o);
    assert!(
        !stdout(&o).contains("has no price"),
        "every model of the shipped table is priced: {}",
        stdout(&o)
    );
    for suite in ["mt-bench", "llm-drift"] {
        let o = run_in(
            &repo(),
            &["validate", "--suite", &format!("datasets/{suite}")],
        );
        ok(&o);
        assert!(stdout(&o).contains("dataset.jsonl: ok"));
    }
}

/// Mean judge score / 10 per model and turn in the source data (RouteLLM's MT-bench judgements,
/// 80 questions), as `scripts/build_datasets.py` prints them and datasets/mt-bench/README.md
/// lists them: (model, turn 1, turn 2, both).
const MT_BENCH_SOURCE: [(&str, f64, f64, f64); 2] = [
    ("openai/gpt-4-1106-preview", 0.9406, 0.9050, 0.9228),
    (
        "together/mistralai/Mixtral-8x7B-Instruct-v0.1",
        0.8694,
        0.7987,
        0.8341,
    ),
];

#[test]
fn mt_bench_turn_two_is_a_real_conversation_and_its_figures_match_the_source() {
    let items = read_jsonl(&repo().join("datasets/mt-bench/dataset.jsonl"));
    let readme = read(&repo().join("datasets/mt-bench/README.md"));
    let mut turn_of = HashMap::new();
    for i in &items {
        let turn = i["meta"]["turn"].as_u64().unwrap();
        turn_of.insert(i["id"].as_str().unwrap().to_string(), turn);
        if turn == 2 {
            // user turn 1, the assistant's turn-1 answer, user turn 2: no flattened text.
            let m = i["messages"].as_array().unwrap();
            let roles: Vec<&str> = m.iter().map(|t| t["role"].as_str().unwrap()).collect();
            assert_eq!(roles, ["user", "assistant", "user"], "{}", i["id"]);
            assert!(i.get("prompt").is_none());
            let first = items
                .iter()
                .find(|x| x["meta"]["question_id"] == i["meta"]["question_id"])
                .unwrap();
            assert_eq!(m[0]["content"], first["prompt"]);
        }
    }
    let (_tmp, dir) = run_suite("mt-bench");
    let results = read_csv(&dir.join("results.csv"));
    assert_eq!(results.len(), 320);
    assert!(
        results.iter().all(|r| r["ok"] == "true"),
        "every conversation found its recorded answer"
    );
    for (model, t1, t2, both) in MT_BENCH_SOURCE {
        let mut sums = [(0.0, 0usize); 2];
        for r in results.iter().filter(|r| r["model"] == model) {
            let t = turn_of[&r["item_id"]] as usize - 1;
            sums[t].0 += r["score"].parse::<f64>().unwrap();
            sums[t].1 += 1;
        }
        let mean = |(s, n): (f64, usize)| s / n as f64;
        let all = (sums[0].0 + sums[1].0) / (sums[0].1 + sums[1].1) as f64;
        for (what, got, want) in [
            ("turn 1", mean(sums[0]), t1),
            ("turn 2", mean(sums[1]), t2),
            ("both", all, both),
        ] {
            // The source prints 4 decimals: half a unit (5e-5) off, plus the float noise of a
            // sum whose order follows the results file's.
            assert!(
                (got - want).abs() <= 5e-5 + 1e-12,
                "{model} {what}: run {got} vs source {want}"
            );
        }
        assert!(
            readme.contains(&format!("| `{model}` | {t1:.4} | {t2:.4} | {both:.4} |")),
            "datasets/mt-bench/README.md lists the source figures of {model}"
        );
    }
}
