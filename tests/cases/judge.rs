//! The judge grader end to end on the `judge` fixture: verdicts from a replayed judge model,
//! strict parsing (a reply without a verdict and a failed judge call are ungradable, not zero),
//! judge calls journaled and costed apart, the verdict cache, and `json_fields`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::common::*;

type Row = HashMap<String, String>;

fn copy_fixture(dir: &Path) -> PathBuf {
    let src = repo().join("tests/fixtures/judge");
    let dst = dir.join("judge");
    std::fs::create_dir_all(&dst).unwrap();
    for f in [
        "routes.toml",
        "dataset.jsonl",
        "recording.jsonl",
        "judge.jsonl",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    dst
}

fn run(cwd: &Path, suite: &Path, out: &Path) -> PathBuf {
    let before: Vec<PathBuf> = std::fs::read_dir(out)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    let o = run_suite_in(cwd, suite, out, &[]);
    ok(&o);
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir() && !before.contains(p))
        .expect("a new run directory")
}

fn score(results: &[Row], item: &str, model: &str) -> (String, String) {
    let r = results
        .iter()
        .find(|r| r["item_id"] == item && r["model"] == model)
        .unwrap_or_else(|| panic!("no result for {item} {model}"));
    (r["score"].clone(), r["grade_reason"].clone())
}

#[test]
fn judge_verdicts_grade_answers_and_a_bad_verdict_is_ungradable_not_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_fixture(tmp.path());
    let out = tmp.path().join("reports");
    let dir = run(tmp.path(), &suite, &out);

    let results = read_csv(&dir.join("results.csv"));
    assert_eq!(results.len(), 8, "judge calls are not candidate rows");
    assert_eq!(score(&results, "g1", "a/m1").0, "0.9");
    let (s, why) = score(&results, "g1", "b/m2");
    assert_eq!(s, "", "a reply without a verdict is ungradable");
    assert!(why.contains("no [[N]] verdict"), "{why}");
    let (s, why) = score(&results, "g2", "b/m2");
    assert_eq!(s, "");
    assert!(why.contains("judge call failed"), "{why}");
    assert_eq!(score(&results, "g2", "a/m1").0, "0.6");
    assert_eq!(score(&results, "g3", "a/m1").0, "1");
    assert_eq!(score(&results, "g3", "b/m2").0, "1");
    // json_fields: case, whitespace and number formats normalised; a wrong city costs a third.
    assert_eq!(score(&results, "x1", "a/m1").0, "1");
    let (s, why) = score(&results, "x1", "b/m2");
    assert!((s.parse::<f64>().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert!(why.contains("differ: city"), "{why}");

    // Journaled as judge rows that name the judged call.
    let journal = read_jsonl(&dir.join("journal.jsonl"));
    let judged: Vec<&serde_json::Value> = journal.iter().filter(|r| r["kind"] == "judge").collect();
    assert_eq!(judged.len(), 6);
    for r in &judged {
        let target = r["target"].as_str().unwrap();
        assert!(
            journal
                .iter()
                .any(|c| c["kind"] == "candidate" && c["key"] == target),
            "{target}"
        );
    }
    // Costed apart: 80 tokens in at $10/M + 20 out at $30/M per asked verdict; the identical
    // answers of g3 share one verdict, reused without a call.
    let judge = read_csv(&dir.join("judge.csv"));
    assert_eq!(judge.len(), 6);
    let asked: Vec<&Row> = judge.iter().filter(|r| r["reused"] == "false").collect();
    assert_eq!(asked.len(), 5);
    let billed: f64 = judge
        .iter()
        .map(|r| r["cost_usd"].parse::<f64>().unwrap_or(0.0))
        .sum();
    assert!((billed - 4.0 * 0.0014).abs() < 1e-12, "{billed}");
    let g3: Vec<&Row> = judge.iter().filter(|r| r["item_id"] == "g3").collect();
    assert_eq!(g3.iter().filter(|r| r["reused"] == "true").count(), 1);
    let summary = read_csv(&dir.join("summary.csv"));
    let candidate_cost: f64 = summary
        .iter()
        .map(|r| r["cost_usd"].parse::<f64>().unwrap())
        .sum();
    assert!(
        (candidate_cost - 8.0 * 32e-6).abs() < 1e-12,
        "the judge's cost stays out of the candidates' figures: {candidate_cost}"
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("**Judge** `j/judge`: 6 verdicts (4 asked"),
        "{report}"
    );
    assert!(report.contains("1 unparsable, 1 failed"));

    // Grading stays a pure function of the journal.
    let before = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    ok(&run_in(
        tmp.path(),
        &["report", dir.to_str().unwrap(), "--quiet"],
    ));
    assert_eq!(
        std::fs::read_to_string(dir.join("results.csv")).unwrap(),
        before
    );
}

#[test]
fn a_rerun_reuses_cached_verdicts_without_asking_the_judge_again() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_fixture(tmp.path());
    let out = tmp.path().join("reports");
    let first = run(tmp.path(), &suite, &out);
    let cache = out.join("judge-cache.jsonl");
    assert_eq!(read_jsonl(&cache).len(), 3, "the three valid verdicts");

    // Take the valid verdicts out of the judge's recording: asking for them again would fail.
    let judge_rec = suite.join("judge.jsonl");
    let kept: Vec<String> = std::fs::read_to_string(&judge_rec)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("[["))
        .map(str::to_string)
        .collect();
    assert_eq!(kept.len(), 1);
    std::fs::write(&judge_rec, kept.join("\n") + "\n").unwrap();

    let second = run(tmp.path(), &suite, &out);
    let scores = |dir: &Path| -> Vec<(String, String, String)> {
        read_csv(&dir.join("results.csv"))
            .into_iter()
            .map(|r| (r["item_id"].clone(), r["model"].clone(), r["score"].clone()))
            .collect()
    };
    assert_eq!(scores(&first), scores(&second));
    let judge = read_csv(&second.join("judge.csv"));
    let reused: Vec<&Row> = judge.iter().filter(|r| r["reused"] == "true").collect();
    assert_eq!(reused.len(), 4, "{judge:#?}");
    assert!(reused.iter().all(|r| r["cost_usd"] == "0"));
    // Only the reply without a verdict and the failed call were asked again.
    let asked: Vec<(&str, &str)> = judge
        .iter()
        .filter(|r| r["reused"] == "false")
        .map(|r| (r["item_id"].as_str(), r["model"].as_str()))
        .collect();
    assert_eq!(asked, vec![("g1", "b/m2"), ("g2", "b/m2")]);
    assert_eq!(read_jsonl(&cache).len(), 3, "nothing new to cache");
}

#[test]
fn a_judge_grader_without_a_judge_model_is_rejected_before_any_call() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_fixture(tmp.path());
    let routes = suite.join("routes.toml");
    let text = std::fs::read_to_string(&routes).unwrap();
    let start = text.find("[judge]").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    std::fs::write(&routes, format!("{}{}", &text[..start], &text[end + 2..])).unwrap();
    let out = tmp.path().join("reports");
    let o = run_suite_in(tmp.path(), &suite, &out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("dataset.jsonl:1: grader.kind: a judge grader needs a judge model"),
        "{err}"
    );
    assert!(!out.exists(), "nothing may be written for bad input");
    let o = run_in(
        tmp.path(),
        &["validate", "--suite", suite.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
}
