//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod schema;
pub mod server;
pub mod svg_text;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_routecal"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run routecal with `args` in `cwd`; stderr is a pipe, so progress prints plain lines.
pub fn run_in(cwd: &Path, args: &[&str]) -> Output {
    bin()
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("routecal runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success and show the output when it fails.
pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

/// `routecal run --suite SUITE --out OUT` and `extra`, in `cwd`.
pub fn run_suite_in(cwd: &Path, suite: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run_in(cwd, &args)
}

/// A quiet run of `suite` into `out` that must succeed; its run directory.
pub fn run_ok(cwd: &Path, suite: &Path, out: &Path) -> PathBuf {
    ok(&run_suite_in(cwd, suite, out, &["--quiet"]));
    only_run_dir(out)
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The single run directory under `reports`.
pub fn only_run_dir(reports: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(reports)
        .expect("reports exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// A CSV file as one map (header → value) per row.
pub fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

pub fn csv_header(path: &Path) -> Vec<String> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.headers().unwrap().iter().map(str::to_string).collect()
}

/// Copy a shipped suite into `dir` (so tests can edit it).
pub fn copy_suite(name: &str, dir: &Path) -> PathBuf {
    let src = repo().join("datasets").join(name);
    let dst = dir.join(name);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
    }
    dst
}

/// Every line of a JSONL file as a JSON value.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// SHA-256 hex of a string (the replay key).
pub fn sha256(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Wait for `child` to end; its exit status and its peak resident memory in MiB: the highest
/// `VmHWM` of /proc/PID/status seen while it ran. That is the figure of the program itself:
/// `wait4`'s `ru_maxrss` would also carry the test process's own high-water mark, which Linux
/// records into the child when it executes the program.
pub fn wait_with_peak_mib(child: &mut std::process::Child) -> (std::process::ExitStatus, u64) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        let hwm = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|t| {
                let l = t.lines().find(|l| l.starts_with("VmHWM:"))?;
                l.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .unwrap_or(0);
        peak_kib = peak_kib.max(hwm);
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    (status, peak_kib / 1024)
}

/// A routes file with the keywords classifier and one live endpoint `api`.
pub struct LiveRoutes<'a> {
    /// The endpoint's kind (`openai`, `anthropic`, `promptster`).
    pub kind: &'a str,
    /// The server's address; the endpoint's `base_url` is `{url}/v1`.
    pub url: &'a str,
    /// The environment variable holding the key.
    pub key_env: &'a str,
    /// Further lines of `[endpoints.api]` (limits, retries, streaming).
    pub endpoint: &'a str,
    /// The candidates' `[models."…"]` tables, on endpoint `api`.
    pub models: &'a str,
    /// The lines of `[default]`.
    pub default: &'a str,
}

impl LiveRoutes<'_> {
    /// The routes file's text.
    pub fn render(&self) -> String {
        let LiveRoutes {
            kind,
            url,
            key_env,
            endpoint,
            models,
            default,
        } = self;
        format!(
            r#"[classifier]
model = "builtin/keywords"

[endpoints.kw]
kind = "keywords"

[endpoints.api]
kind = "{kind}"
base_url = "{url}/v1"
api_key_env = "{key_env}"
{endpoint}

[models."builtin/keywords"]
endpoint = "kw"
tier = "budget"

{models}

[default]
{default}
"#
        )
    }
}

/// The candidates `acme/alpha` (1 and 2 USD per million tokens) and `acme/beta` (3 and 4).
pub const ALPHA_BETA: &str = r#"[models."acme/alpha"]
endpoint = "api"
tier = "budget"
input_per_mtok = 1.0
output_per_mtok = 2.0

[models."acme/beta"]
endpoint = "api"
tier = "budget"
input_per_mtok = 3.0
output_per_mtok = 4.0"#;

/// `n` factual items `q0…`, prompt "Question q{i}: what is {i} plus {i}?", graded by `contains`
/// with `any(i)`, with `max_tokens` when given: one JSON object a line, without line ends.
pub fn factual_items(
    n: usize,
    any: impl Fn(usize) -> Vec<String>,
    max_tokens: Option<u32>,
) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut item = serde_json::json!({"id": format!("q{i}"),
                "prompt": format!("Question q{i}: what is {i} plus {i}?"),
                "task_type": "factual", "priority": "quality",
                "grader": {"kind": "contains", "any": any(i)}});
            if let Some(m) = max_tokens {
                item["max_tokens"] = m.into();
            }
            item.to_string()
        })
        .collect()
}

/// The prefix of routecal's default classifier prompt: a request starting with it classifies.
pub const CLASSIFIER_PREFIX: &str = "Classify this prompt.";

/// The item id (`q7`) of a test prompt "Question q7: …".
pub fn item_of(prompt: &str) -> String {
    let start = prompt.find("Question q").expect("a test prompt") + "Question ".len();
    prompt[start..].split(':').next().unwrap().to_string()
}

/// A run directory's `run.json`.
pub fn manifest(run_dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap()
}

/// A suite on a live OpenAI-compatible `url`: the keywords classifier and two candidates
/// (`acme/alpha`, `acme/beta`) on one `openai` endpoint keyed by `key_env`, whose settings are
/// `endpoint` lines (e.g. `max_concurrency = 4`), and `items` factual items graded by `contains`.
pub fn openai_suite(url: &str, key_env: &str, endpoint: &str, items: usize) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let routes = LiveRoutes {
        kind: "openai",
        url,
        key_env,
        endpoint,
        models: ALPHA_BETA,
        default: "primary = \"acme/alpha\"\nfallback = \"acme/beta\"",
    };
    std::fs::write(tmp.path().join("routes.toml"), routes.render()).unwrap();
    let lines: String = factual_items(items, |_| vec!["answer".into()], None)
        .into_iter()
        .map(|l| l + "\n")
        .collect();
    std::fs::write(tmp.path().join("dataset.jsonl"), lines).unwrap();
    tmp
}
