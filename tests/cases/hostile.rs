//! The hostile-input corpus (tests/fixtures/hostile/cases.toml): every broken file is rejected
//! before any call with file, line and field named, exit code 2, and nothing left behind.

use std::path::Path;

use crate::common::*;

#[derive(serde::Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    file: String,
    what: String,
    expect: String,
}

fn corpus_dir() -> std::path::PathBuf {
    repo().join("tests/fixtures/hostile")
}

/// Run `routecal run` on a routes file and dataset; it must exit 2, name the problem, write
/// nothing. Returns stderr, or what went wrong.
fn check_rejected(
    routes: &Path,
    dataset: &Path,
    expect: &str,
    what: &str,
) -> Result<String, String> {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reports");
    let o = run_in(
        tmp.path(),
        &[
            "run",
            "--routes",
            routes.to_str().unwrap(),
            "--dataset",
            dataset.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let err = stderr(&o);
    if o.status.code() != Some(2) {
        return Err(format!(
            "{what}: exit {:?}, expected 2\n{err}",
            o.status.code()
        ));
    }
    if !err.contains(expect) {
        return Err(format!("{what}: expected {expect:?} in\n{err}"));
    }
    if out.exists() || std::fs::read_dir(tmp.path()).unwrap().count() != 0 {
        return Err(format!("{what}: a rejected run must leave nothing behind"));
    }
    Ok(err)
}

#[test]
fn every_corpus_case_is_rejected_with_its_location() {
    let dir = corpus_dir();
    let corpus: Corpus =
        toml::from_str(&std::fs::read_to_string(dir.join("cases.toml")).unwrap()).unwrap();
    assert!(
        corpus.case.len() >= 30,
        "the corpus holds {} cases",
        corpus.case.len()
    );
    let (good_routes, good_dataset) = (dir.join("good.toml"), dir.join("good.jsonl"));
    // The good pair itself validates, so every failure below is the fixture's own.
    ok(&run_in(
        &dir,
        &[
            "validate",
            "--routes",
            "good.toml",
            "--dataset",
            "good.jsonl",
        ],
    ));
    let mut failures = Vec::new();
    for c in &corpus.case {
        let file = dir.join(&c.file);
        assert!(file.is_file(), "{}: missing fixture", c.file);
        let (routes, dataset) = if c.file.starts_with("routes/") {
            (file.clone(), good_dataset.clone())
        } else {
            (good_routes.clone(), file.clone())
        };
        match check_rejected(&routes, &dataset, &c.expect, &c.what) {
            Ok(err) if err.contains("sk-proj-") => {
                failures.push(format!("{}: an error message echoes a key: {err}", c.file))
            }
            Ok(_) => {}
            Err(e) => failures.push(format!("{}: {e}", c.file)),
        }
        // validate agrees with run.
        let o = run_in(
            &dir,
            &[
                "validate",
                "--routes",
                routes.to_str().unwrap(),
                "--dataset",
                dataset.to_str().unwrap(),
            ],
        );
        if o.status.code() != Some(2) {
            failures.push(format!("{}: validate did not reject it", c.file));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        corpus.case.len(),
        failures.join("\n")
    );
}

#[test]
fn a_huge_line_is_rejected_without_loading_it_as_a_prompt() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("huge.jsonl");
    let good = std::fs::read_to_string(corpus_dir().join("good.jsonl")).unwrap();
    let huge = format!(
        "{good}{{\"id\":\"h\",\"prompt\":\"{}\",\"task_type\":\"math\",\"priority\":\"quality\",\"grader\":{{\"kind\":\"recorded\"}}}}\n",
        "x".repeat(17 << 20)
    );
    std::fs::write(&path, huge).unwrap();
    let o = run_in(
        tmp.path(),
        &[
            "validate",
            "--routes",
            corpus_dir().join("good.toml").to_str().unwrap(),
            "--dataset",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("huge.jsonl:2: the line is"),
        "{}",
        stderr(&o)
    );
}
