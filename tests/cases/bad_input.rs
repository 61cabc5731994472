//! Bad input fails before any call with file, line and field named, exit code 2, nothing written.

use crate::common::*;

fn expect_bad(dir: &std::path::Path, args: &[&str], needles: &[&str]) {
    let o = run_in(dir, args);
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&o),
        stderr(&o)
    );
    let err = stderr(&o);
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in:\n{err}");
    }
}

#[test]
fn malformed_dataset_names_file_line_field_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("mt-bench", tmp.path());
    let path = suite.join("dataset.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines[6] = lines[6].replace("\"task_type\":\"", "\"task_type\":\"x");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let out = tmp.path().join("reports");
    expect_bad(
        tmp.path(),
        &[
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &["dataset.jsonl:7: task_type: unknown task type"],
    );
    assert!(!out.exists(), "nothing may be written for bad input");
}

#[test]
fn malformed_routes_file_names_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("mt-bench", tmp.path());
    let path = suite.join("routes.toml");
    let src = std::fs::read_to_string(&path).unwrap();
    let bad = src.replacen(
        "[routes.math.quality]\nprimary = \"together/mistralai/Mixtral-8x7B-Instruct-v0.1\"",
        "[routes.math.quality]\nprimary = \"mistral/nope\"",
        1,
    );
    assert_ne!(bad, src);
    let line = bad
        .lines()
        .position(|l| l.contains("mistral/nope"))
        .unwrap()
        + 1;
    std::fs::write(&path, bad).unwrap();
    let out = tmp.path().join("reports");
    expect_bad(
        tmp.path(),
        &[
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[&format!(
            "routes.toml:{line}: routes.math.quality.primary: unknown model \"mistral/nope\""
        )],
    );
    assert!(!out.exists());
    expect_bad(
        tmp.path(),
        &["validate", "--suite", suite.to_str().unwrap()],
        &["mistral/nope"],
    );
}

#[test]
fn missing_recording_and_missing_suite_are_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("llm-drift", tmp.path());
    std::fs::remove_file(suite.join("recording.jsonl")).unwrap();
    expect_bad(
        tmp.path(),
        &["validate", "--suite", suite.to_str().unwrap()],
        &["routes.toml:", "endpoints.recorded.path", "does not exist"],
    );
    expect_bad(
        tmp.path(),
        &["run", "--suite", "no/such/suite"],
        &["not a folder"],
    );
}
