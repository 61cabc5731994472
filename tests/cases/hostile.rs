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

/// Run `cmd` to its end; its exit code, stderr and peak resident memory in MiB
/// ([`wait_with_peak_mib`]). `stdin` is written from a thread when given.
fn run_measured(
    mut cmd: std::process::Command,
    stdin: Option<Vec<u8>>,
) -> (Option<i32>, String, u64) {
    use std::io::{Read, Write};
    use std::process::Stdio;
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().unwrap();
    if let Some(bytes) = stdin {
        let mut w = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = w.write_all(&bytes);
        });
    }
    let mut stderr_pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = stderr_pipe.read_to_string(&mut err);
        err
    });
    let (status, peak_mib) = wait_with_peak_mib(&mut child);
    (status.code(), reader.join().unwrap(), peak_mib)
}

/// A line this long would show in the peak memory of any reader that held it.
const HUGE: usize = 160 << 20;

fn huge_prompt_line() -> Vec<u8> {
    let mut line = b"{\"id\":\"h\",\"prompt\":\"".to_vec();
    line.resize(line.len() + HUGE, b'x');
    line.extend_from_slice(
        b"\",\"task_type\":\"math\",\"priority\":\"quality\",\"grader\":{\"kind\":\"recorded\"}}\n",
    );
    line
}

#[test]
fn huge_lines_are_refused_while_reading_with_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(corpus_dir().join("good.jsonl")).unwrap();
    let mut failures = Vec::new();
    let mut check = |what: &str, cmd: std::process::Command, stdin, expect: &str| {
        let (code, err, rss) = run_measured(cmd, stdin);
        eprintln!("{what}: exit {code:?}, peak {rss} MiB");
        if code != Some(2) || !err.contains(expect) || rss >= 130 {
            failures.push(format!(
                "{what}: exit {code:?}, peak {rss} MiB (limit 130), expected {expect:?} in\n{err}"
            ));
        }
    };

    // A dataset line.
    let dataset = tmp.path().join("huge.jsonl");
    let mut bytes = good.clone();
    bytes.extend(huge_prompt_line());
    std::fs::write(&dataset, &bytes).unwrap();
    let mut cmd = bin();
    cmd.current_dir(tmp.path()).args([
        "validate",
        "--routes",
        corpus_dir().join("good.toml").to_str().unwrap(),
        "--dataset",
        dataset.to_str().unwrap(),
    ]);
    let expect = format!(
        "huge.jsonl:{}: the line is",
        good.split(|&b| b == b'\n').count()
    );
    check("dataset", cmd, None, &expect);

    // A recording line.
    let routes = std::fs::read_to_string(corpus_dir().join("routes/recording_duplicate_keys.toml"))
        .unwrap()
        .replace("recordings/duplicate_keys.jsonl", "huge_recording.jsonl");
    std::fs::write(tmp.path().join("routes.toml"), routes).unwrap();
    let mut rec = b"\n".to_vec();
    rec.extend(huge_prompt_line());
    std::fs::write(tmp.path().join("huge_recording.jsonl"), &rec).unwrap();
    let mut cmd = bin();
    cmd.current_dir(tmp.path()).args([
        "validate",
        "--routes",
        "routes.toml",
        "--dataset",
        corpus_dir().join("good.jsonl").to_str().unwrap(),
    ]);
    check(
        "recording",
        cmd,
        None,
        "huge_recording.jsonl:2: the line is",
    );

    // A prompt on stdin.
    let mut cmd = bin();
    cmd.current_dir(tmp.path())
        .args(["route", "--routes", "routes.toml", "--jsonl", "--no-cache"]);
    std::fs::write(
        tmp.path().join("routes.toml"),
        std::fs::read(corpus_dir().join("good.toml")).unwrap(),
    )
    .unwrap();
    check(
        "stdin",
        cmd,
        Some(huge_prompt_line()),
        "stdin:1: the line is",
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
