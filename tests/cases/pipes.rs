//! A reader that closes stdout early (`routecal monitor LOG | head -1`) ends the output quietly:
//! no panic, the command's own exit code, its files written whole. Other write errors fail it.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Output, Stdio};

use crate::common::*;

/// The write end of a pipe whose read end is already closed: every write fails with EPIPE.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) returns.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are owned here alone.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

/// Run routecal in `cwd` with stdout a closed pipe and `input` on stdin.
fn run_closed(cwd: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = bin()
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The child may exit before reading everything; that is not this test's concern.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// Run routecal in `cwd` with `input` on stdin, reading all its output.
fn route_open(cwd: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = bin()
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn quiet_exit(o: &Output, code: i32, what: &str) {
    let err = stderr(o);
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(!err.contains("Broken pipe"), "{what}: {err}");
    assert_eq!(o.status.code(), Some(code), "{what}: {err}");
}

/// Items of the mt-bench suite as `route --jsonl` lines: `{"id","prompt"}` for turn 1,
/// `{"id","messages"}` for turn 2.
fn mt_bench_jsonl(n: usize) -> String {
    read_jsonl(&repo().join("datasets/mt-bench/dataset.jsonl"))
        .into_iter()
        .take(n)
        .map(|v| {
            let line = match v.get("messages") {
                Some(m) => serde_json::json!({"id": v["id"], "messages": m}),
                None => serde_json::json!({"id": v["id"], "prompt": v["prompt"]}),
            };
            line.to_string() + "\n"
        })
        .collect()
}

#[test]
fn router_commands_exit_quietly_on_a_closed_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let routes = repo().join("datasets/mt-bench/routes.toml");
    let routes = routes.to_str().unwrap();
    let log = tmp.path().join("routes.log");
    let log = log.to_str().unwrap();
    let input = mt_bench_jsonl(30);
    let route = [
        "route",
        "--routes",
        routes,
        "--jsonl",
        "--no-cache",
        "--log",
        log,
        "--log-prompts",
    ];
    let o = run_closed(tmp.path(), &[&route[..], &["--json"]].concat(), &input);
    quiet_exit(&o, 0, "route --json");
    // Nobody reads the answers any more: the router stops instead of paying for the rest
    // (at most the first answer and the 8 prompts in flight with it are logged).
    let logged = read(Path::new(log)).lines().count();
    assert!((1..=9).contains(&logged), "{logged} prompts routed");
    let o = run_closed(tmp.path(), &route, &input);
    quiet_exit(&o, 0, "route");
    // Read to the end, the log holds every prompt of a third batch.
    let o = route_open(tmp.path(), &[&route[..], &["--json"]].concat(), &input);
    ok(&o);
    assert_eq!(stdout(&o).lines().count(), 30);
    let total = read(Path::new(log)).lines().count();

    assert!(total >= logged + 31, "{total}");
    for format in ["text", "csv", "markdown"] {
        let o = run_closed(
            tmp.path(),
            &["monitor", log, "--min-requests", "1000", "--format", format],
            "",
        );
        quiet_exit(&o, 0, &format!("monitor --format {format}"));
    }
    let o = run_closed(
        tmp.path(),
        &["dataset", "from-log", log, "--sample", "10"],
        "",
    );
    quiet_exit(&o, 0, "dataset from-log");
}

#[test]
fn run_report_diff_apply_exit_quietly_on_a_closed_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("mt-bench", tmp.path());
    let suite_s = suite.to_str().unwrap();
    let o = run_closed(
        tmp.path(),
        &["run", "--suite", suite_s, "--dry-run", "--json"],
        "",
    );
    quiet_exit(&o, 0, "run --dry-run --json");
    let o = run_closed(tmp.path(), &["run", "--suite", suite_s, "--dry-run"], "");
    quiet_exit(&o, 0, "run --dry-run");
    let o = run_closed(tmp.path(), &["validate", "--suite", suite_s], "");
    quiet_exit(&o, 0, "validate");

    let out = tmp.path().join("reports");
    let o = run_closed(
        tmp.path(),
        &[
            "run",
            "--suite",
            suite_s,
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
        "",
    );
    quiet_exit(&o, 0, "run --json");
    let dir = only_run_dir(&out);
    // The run finished its work: the manifest is complete and the reports are there.
    assert!(read(&dir.join("run.json")).contains("\"complete\""));
    assert!(dir.join("report.md").is_file());
    let d = dir.to_str().unwrap();
    for args in [
        vec!["report", d],
        vec!["report", d, "--json"],
        vec!["report", d, d],
        vec!["diff", d],
        vec!["diff", d, "--json"],
        vec!["apply", d, "--dry-run"],
    ] {
        let o = run_closed(tmp.path(), &args, "");
        quiet_exit(&o, 0, &args.join(" "));
    }
    let before = read(&suite.join("routes.toml"));
    let o = run_closed(tmp.path(), &["apply", d], "");
    quiet_exit(&o, 0, "apply");
    // apply still wrote the routes file although nobody read what it printed.
    assert_ne!(read(&suite.join("routes.toml")), before);
    let o = run_closed(tmp.path(), &["diff", d, "--exit-code"], "");
    quiet_exit(&o, 3, "diff --exit-code keeps its code");
}

#[test]
fn a_failing_stdout_other_than_a_closed_pipe_is_an_error() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let suite = repo().join("datasets/mt-bench");
    let o = bin()
        .args(["validate", "--suite", suite.to_str().unwrap()])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write to standard output"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn a_closed_stderr_does_not_stop_a_run_or_the_router() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("datasets/llm-drift");
    let out = tmp.path().join("reports");
    // `routecal run … 2>&1 | head -1`: both streams closed; plan and progress lines are dropped.
    let o = bin()
        .args([
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .current_dir(tmp.path())
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .status()
        .unwrap();
    assert_eq!(o.code(), Some(0));
    let dir = only_run_dir(&out);
    assert!(read(&dir.join("run.json")).contains("\"complete\""));
    assert!(dir.join("report.html").is_file());

    let routes = repo().join("datasets/mt-bench/routes.toml");
    let log = tmp.path().join("routes.log");
    let mut child = bin()
        .args([
            "route",
            "--routes",
            routes.to_str().unwrap(),
            "--jsonl",
            "--no-cache",
        ])
        .arg("--log")
        .arg(&log)
        .current_dir(tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(closed_pipe())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(mt_bench_jsonl(10).as_bytes());
    }
    // Its "routed to …" lines go nowhere; every answer still reaches stdout.
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(!stdout(&o).is_empty());
    assert_eq!(read(&log).lines().count(), 10);
}
