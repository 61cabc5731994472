//! Never pay twice, never lose a result: runs killed with SIGKILL and resumed, refused resumes,
//! `--max-spend` and `--dry-run`, against an OpenAI-compatible server that counts every call.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::server::{Reply, Request, Server};
use crate::common::*;

const KEY: &str = "sk-routecal-resume-test-5e1d0c7b9a";
const KEY_ENV: &str = "ROUTECAL_TEST_RESUME_KEY";
/// Prompt tokens the server reports per call (the cost of a call follows from it).
const DEFAULT_PROMPT_TOKENS: u64 = 40;

/// A (model, prompt) pair as the server saw it.
type Pair = (String, String);

fn pair_of(r: &Request) -> Option<Pair> {
    let b = r.json();
    let model = format!("acme/{}", b["model"].as_str()?);
    let prompt = b["messages"][0]["content"].as_str()?.to_string();
    Some((model, prompt))
}

/// An OpenAI-compatible server answering after 20–50 ms (fixed per prompt), reporting
/// `prompt_tokens` tokens in per call; anything not in the wire format gets a 400.
fn server(prompt_tokens: u64) -> Server {
    Server::start(move |r: &Request| {
        let auth_ok = r.header("authorization") == Some(&format!("Bearer {KEY}"));
        let Some((model, prompt)) = pair_of(r)
            .filter(|_| r.method == "POST" && r.path == "/v1/chat/completions" && auth_ok)
        else {
            return Reply::json(400, json!({"error": {"message": "bad request"}}));
        };
        let text = if prompt.starts_with(CLASSIFIER_PREFIX) {
            "factual quality".to_string()
        } else {
            format!("ans-{} from {model}", item_of(&prompt))
        };
        let wire_model = model.split_once('/').unwrap().1;
        let delay = 20 + sha256(&format!("{model}{prompt}")).as_bytes()[0] as u64 % 31;
        Reply::After(
            Duration::from_millis(delay),
            Box::new(Reply::json(
                200,
                json!({"id":"chatcmpl-1","object":"chat.completion","created":1795636911,"model":wire_model,
                    "choices":[{"index":0,"message":{"role":"assistant","content":text},"finish_reason":"stop"}],
                    "usage":{"prompt_tokens":prompt_tokens,"completion_tokens":6,"total_tokens":prompt_tokens + 6}}),
            )),
        )
    })
}

/// Calls received per (model, prompt).
fn counts(s: &Server) -> BTreeMap<Pair, usize> {
    let mut out = BTreeMap::new();
    for r in s.requests() {
        if let Some(p) = pair_of(&r) {
            *out.entry(p).or_default() += 1;
        }
    }
    out
}

/// A live classifier and three live candidates on one OpenAI-compatible endpoint.
fn routes(url: &str, concurrency: usize) -> String {
    format!(
        r#"[classifier]
model = "acme/clf"

[endpoints.api]
kind = "openai"
base_url = "{url}/v1"
api_key_env = "{KEY_ENV}"
max_concurrency = {concurrency}
timeout_s = 10

[models."acme/clf"]
endpoint = "api"
tier = "budget"
candidate = false
input_per_mtok = 0.1
output_per_mtok = 0.2

[models."acme/alpha"]
endpoint = "api"
tier = "budget"
input_per_mtok = 1.0
output_per_mtok = 2.0

[models."acme/beta"]
endpoint = "api"
tier = "budget"
input_per_mtok = 3.0
output_per_mtok = 4.0

[models."acme/gamma"]
endpoint = "api"
tier = "frontier"
input_per_mtok = 5.0
output_per_mtok = 6.0

[default]
primary = "acme/alpha"
fallback = "acme/beta"
"#
    )
}

fn dataset(items: usize) -> String {
    factual_items(items, |i| vec![format!("ans-q{i}")], Some(64)).join("\n") + "\n"
}

/// A suite folder: routes.toml and dataset.jsonl.
fn suite(url: &str, items: usize, concurrency: usize) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("routes.toml"), routes(url, concurrency)).unwrap();
    std::fs::write(tmp.path().join("dataset.jsonl"), dataset(items)).unwrap();
    tmp
}

fn routecal(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = bin();
    c.args(args).current_dir(dir).env(KEY_ENV, KEY);
    c
}

const FRESH: &[&str] = &[
    "run",
    "--routes",
    "routes.toml",
    "--dataset",
    "dataset.jsonl",
    "--out",
    "reports",
];

fn run(dir: &Path, extra: &[&str]) -> Output {
    let mut args = FRESH.to_vec();
    args.extend_from_slice(extra);
    routecal(dir, &args).output().unwrap()
}

fn resume(dir: &Path, run_dir: &Path, extra: &[&str]) -> Output {
    let rd = run_dir.to_str().unwrap();
    let mut args = vec!["run", "--resume", rd];
    args.extend_from_slice(extra);
    routecal(dir, &args).output().unwrap()
}

/// Journal rows per key, and rows per (model, prompt) pair (through the dataset's prompts).
fn journal_keys(run_dir: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in read_jsonl(&run_dir.join("journal.jsonl")) {
        *out.entry(r["key"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    out
}

fn journal_pairs(run_dir: &Path) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for r in read_jsonl(&run_dir.join("journal.jsonl")) {
        let kind = r["kind"].as_str().unwrap().to_string();
        let model = r["model"].as_str().unwrap().to_string();
        let item = r["item"].as_str().unwrap().to_string();
        *out.entry((model, format!("{kind}|{item}"))).or_default() += 1;
    }
    out
}

/// The same (model, kind|item) identity for what the server received.
fn server_pairs(s: &Server) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for ((model, prompt), n) in counts(s) {
        let kind = if prompt.starts_with(CLASSIFIER_PREFIX) {
            "classifier"
        } else {
            "candidate"
        };
        *out.entry((model, format!("{kind}|{}", item_of(&prompt))))
            .or_default() += n;
    }
    out
}

/// results.csv without the columns that measure time, sorted.
fn results_without_latency(run_dir: &Path) -> Vec<BTreeMap<String, String>> {
    let mut rows: Vec<BTreeMap<String, String>> = read_csv(&run_dir.join("results.csv"))
        .into_iter()
        .map(|r| {
            r.into_iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "latency_ms" | "server_latency_ms" | "ttft_ms")
                })
                .collect()
        })
        .collect();
    rows.sort_by_key(|r| {
        (
            r["item_id"].clone(),
            r["model"].clone(),
            r["repeat"].clone(),
        )
    });
    rows
}

/// Small deterministic generator for the kill points (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[test]
fn twenty_kills_lose_only_calls_in_flight_and_end_like_an_uninterrupted_run() {
    const ITEMS: usize = 60;
    const REPEATS: &str = "4";
    const CONCURRENCY: usize = 8;
    const KILLS: usize = 20;
    let planned = ITEMS * 4 * 4;

    // The uninterrupted run.
    let clean_server = server(DEFAULT_PROMPT_TOKENS);
    let clean = suite(&clean_server.url(), ITEMS, CONCURRENCY);
    let o = run(clean.path(), &["--repeats", REPEATS, "--quiet"]);
    ok(&o);
    let clean_dir = only_run_dir(&clean.path().join("reports"));
    assert_eq!(clean_server.requests().len(), planned);

    // The same run, killed at 20 seeded points and resumed each time.
    let s = server(DEFAULT_PROMPT_TOKENS);
    let tmp = suite(&s.url(), ITEMS, CONCURRENCY);
    let mut rng = Rng(0x5eed_0fc0_ffee);
    let mut run_dir: Option<PathBuf> = None;
    let (mut kills, mut lost_total, mut max_lost) = (0, 0, 0);
    for _ in 0..KILLS {
        let mut args: Vec<String> = match &run_dir {
            None => FRESH.iter().map(|s| s.to_string()).collect(),
            Some(d) => vec!["run".into(), "--resume".into(), d.display().to_string()],
        };
        args.extend(["--repeats".into(), REPEATS.into(), "--quiet".into()]);
        let mut child = routecal(
            tmp.path(),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let at = Duration::from_millis(rng.between(20, 250));
        let t0 = Instant::now();
        while t0.elapsed() < at && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        // Let the server finish reading what the process sent before it died: its connections
        // are closed once the process is gone.
        s.wait_idle(Duration::from_secs(30));
        if run_dir.is_none() {
            // A run killed before its run.json was written left an empty folder: the run to
            // resume is the one with a manifest.
            let reports = tmp.path().join("reports");
            let with_manifest: Vec<PathBuf> = std::fs::read_dir(&reports)
                .map(|d| d.map(|e| e.unwrap().path()).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|d: &PathBuf| d.join("run.json").exists())
                .collect();
            assert!(with_manifest.len() <= 1, "{with_manifest:?}");
            run_dir = with_manifest.into_iter().next();
        }
        // Calls the server received whose result the journal does not hold were lost, and are
        // made again by a later resume: the difference only grows, by what each kill lost.
        let journaled = run_dir.as_deref().map(journal_pairs).unwrap_or_default();
        let unjournaled: usize = server_pairs(&s)
            .iter()
            .map(|(p, n)| n.saturating_sub(journaled.get(p).copied().unwrap_or(0)))
            .sum();
        let lost = unjournaled - lost_total;
        assert!(
            lost <= CONCURRENCY,
            "{lost} calls lost at one kill, more than the {CONCURRENCY} in flight"
        );
        lost_total = unjournaled;
        max_lost = max_lost.max(lost);
    }
    assert!(
        kills >= 15,
        "only {kills} of {KILLS} runs were killed before finishing"
    );
    let run_dir = run_dir.expect("a run directory");
    let o = resume(tmp.path(), &run_dir, &["--repeats", REPEATS, "--quiet"]);
    ok(&o);

    // Every planned call has exactly one journal row.
    let keys = journal_keys(&run_dir);
    assert_eq!(keys.len(), planned);
    assert!(keys.values().all(|&n| n == 1), "a call journaled twice");
    // Calls made beyond the plan are exactly the calls lost at the kills.
    let total = s.requests().len();
    let repeated = total - planned;
    eprintln!(
        "{kills} kills: {total} calls for {planned} planned, {repeated} repeated; at most {max_lost} lost at one kill (bound {CONCURRENCY})"
    );
    assert!(repeated <= kills * CONCURRENCY);
    assert_eq!(
        repeated, lost_total,
        "calls repeated beyond those lost at the kills"
    );
    assert_eq!(manifest(&run_dir)["status"], "complete");
    assert_eq!(
        results_without_latency(&run_dir),
        results_without_latency(&clean_dir)
    );
}

/// A complete run of `items` items against `s`, and its run directory.
fn complete_run(s: &Server, items: usize) -> (tempfile::TempDir, PathBuf) {
    let tmp = suite(&s.url(), items, 4);
    let o = run(tmp.path(), &["--quiet"]);
    ok(&o);
    let dir = only_run_dir(&tmp.path().join("reports"));
    (tmp, dir)
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.ends_with("run.lock"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn resuming_a_complete_run_makes_no_call_and_rederives_the_reports() {
    let s = server(DEFAULT_PROMPT_TOKENS);
    let (tmp, dir) = complete_run(&s, 3);
    let calls = s.requests().len();
    assert_eq!(calls, 3 * 4);
    std::fs::remove_file(dir.join("results.csv")).unwrap();
    let o = resume(tmp.path(), &dir, &[]);
    ok(&o);
    assert_eq!(
        s.requests().len(),
        calls,
        "a complete run resumed calls nothing"
    );
    assert!(
        stderr(&o).contains("12 of them are in the journal already"),
        "{}",
        stderr(&o)
    );
    assert_eq!(read_csv(&dir.join("results.csv")).len(), 9);
    let m = manifest(&dir);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["totals"]["calls"], 12);
}

#[test]
fn resume_refuses_changed_inputs_naming_what_differs_unless_forced() {
    let s = server(DEFAULT_PROMPT_TOKENS);
    let (tmp, dir) = complete_run(&s, 3);
    let before = snapshot(&dir);
    let calls = s.requests().len();
    let old_ds = &manifest(&dir)["dataset"]["sha256"].as_str().unwrap()[..12].to_string();
    let old_routes = &manifest(&dir)["routes"]["sha256"].as_str().unwrap()[..12].to_string();

    // A changed dataset.
    let ds_path = tmp.path().join("dataset.jsonl");
    std::fs::write(&ds_path, dataset(4)).unwrap();
    let new_ds = sha256(&dataset(4))[..12].to_string();
    let o = resume(tmp.path(), &dir, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("dataset dataset.jsonl"), "{err}");
    assert!(
        err.contains(old_ds.as_str()) && err.contains(&new_ds),
        "{err}"
    );
    assert!(!err.contains("routes file"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(snapshot(&dir), before, "a refused resume wrote nothing");
    assert_eq!(s.requests().len(), calls);

    // And a changed routes file (a price), and other repeats.
    let routes_path = tmp.path().join("routes.toml");
    let changed = routes(&s.url(), 4).replace("input_per_mtok = 1.0", "input_per_mtok = 1.5");
    std::fs::write(&routes_path, &changed).unwrap();
    let o = resume(tmp.path(), &dir, &["--repeats", "2"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("routes file routes.toml"), "{err}");
    assert!(
        err.contains(old_routes.as_str()) && err.contains(&sha256(&changed)[..12]),
        "{err}"
    );
    assert!(err.contains("dataset dataset.jsonl"), "{err}");
    assert!(err.contains("repeats 1 in run.json, 2 now"), "{err}");
    assert_eq!(snapshot(&dir), before);
    assert_eq!(s.requests().len(), calls);

    // --force: only the new item's calls are made, into the same journal.
    let o = resume(tmp.path(), &dir, &["--force", "--quiet"]);
    ok(&o);
    assert_eq!(s.requests().len(), calls + 4);
    let keys = journal_keys(&dir);
    assert_eq!(keys.len(), 16);
    assert!(keys.contains_key("candidate|q3|acme/alpha|0"));
    assert_eq!(read_csv(&dir.join("results.csv")).len(), 12);
    let m = manifest(&dir);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["dataset"]["sha256"].as_str().unwrap()[..12], new_ds);
}

#[test]
fn a_torn_journal_tail_is_ignored_and_its_call_made_again() {
    let s = server(DEFAULT_PROMPT_TOKENS);
    let (tmp, dir) = complete_run(&s, 3);
    let journal = dir.join("journal.jsonl");
    let bytes = std::fs::read(&journal).unwrap();
    // Cut the last row in half, as a kill in the middle of a write would.
    let body = &bytes[..bytes.len() - 1];
    let last_start = body.iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let last: Value = serde_json::from_slice(&body[last_start..]).unwrap();
    let cut = last_start + (body.len() - last_start) / 2;
    std::fs::write(&journal, &bytes[..cut]).unwrap();

    let o = resume(tmp.path(), &dir, &["--quiet"]);
    ok(&o);
    assert_eq!(
        s.requests().len(),
        12 + 1,
        "only the torn row's call is made again"
    );
    let keys = journal_keys(&dir);
    assert_eq!(keys.len(), 12);
    assert!(keys.values().all(|&n| n == 1));
    assert_eq!(keys[last["key"].as_str().unwrap()], 1);
    // Every line is whole again.
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.ends_with('\n'));
    for l in text.lines() {
        serde_json::from_str::<Value>(l).unwrap();
    }
    assert_eq!(manifest(&dir)["status"], "complete");
}

#[test]
fn dry_run_prints_the_plan_and_calls_and_writes_nothing() {
    let s = server(DEFAULT_PROMPT_TOKENS);
    let tmp = suite(&s.url(), 5, 4);
    let o = run(tmp.path(), &["--dry-run", "--max-spend", "1"]);
    ok(&o);
    let out = stdout(&o);
    assert!(out.contains("= 20 calls"), "{out}");
    for m in ["acme/clf", "acme/alpha", "acme/beta", "acme/gamma"] {
        assert!(out.contains(m), "{out}");
    }
    assert!(
        out.contains("Estimated spend on live endpoints: $"),
        "{out}"
    );
    assert!(out.contains("Budget (--max-spend): $1"), "{out}");
    assert!(out.contains("no call made, nothing written"), "{out}");
    assert!(s.requests().is_empty());
    assert!(!tmp.path().join("reports").exists());

    // On a run directory: what a resume would make, still nothing written.
    let (tmp, dir) = complete_run(&s, 2);
    let before = snapshot(&dir);
    let calls = s.requests().len();
    let o = resume(tmp.path(), &dir, &["--dry-run", "--json"]);
    ok(&o);
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(plan["calls"], 0);
    assert_eq!(plan["already_in_journal"], 8);
    assert_eq!(s.requests().len(), calls);
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn max_spend_refuses_a_plan_over_budget_before_any_call() {
    let s = server(DEFAULT_PROMPT_TOKENS);
    let tmp = suite(&s.url(), 5, 4);
    let o = run(tmp.path(), &["--max-spend", "0.0001"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("over --max-spend $0.000100"), "{err}");
    assert!(err.contains("nothing was called or written"), "{err}");
    assert!(s.requests().is_empty());
    assert!(!tmp.path().join("reports").exists());

    // An unpriced live model makes a budget impossible to keep: refused, not counted as free.
    let unpriced = routes(&s.url(), 4).replace("input_per_mtok = 5.0\noutput_per_mtok = 6.0\n", "");
    std::fs::write(tmp.path().join("routes.toml"), unpriced).unwrap();
    let o = run(tmp.path(), &["--max-spend", "100"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("no price for acme/gamma"), "{err}");
    assert!(err.contains("UNPRICED"), "{err}");
    assert!(s.requests().is_empty());
    assert!(!tmp.path().join("reports").exists());
}

#[test]
fn max_spend_stops_mid_run_and_a_resume_with_more_completes_it() {
    // Each call really costs about 100,000 input tokens: far over its estimate, so the plan is
    // accepted and the live spend reaches the limit during the run.
    let s = server(100_000);
    let tmp = suite(&s.url(), 10, 2);
    let o = run(tmp.path(), &["--max-spend", "1"]);
    ok(&o);
    let err = stderr(&o);
    assert!(err.contains("warning: stopped at --max-spend $1"), "{err}");
    let dir = only_run_dir(&tmp.path().join("reports"));
    let m = manifest(&dir);
    assert_eq!(m["status"], "partial");
    let made = s.requests().len();
    assert!(made > 0 && made < 40, "{made} calls made");
    let spent = m["totals"]["spent_usd"].as_f64().unwrap();
    // The overshoot is at most the calls in flight (2) at the most expensive model ($0.5).
    assert!(
        (0.5..=1.0 + 2.0 * 0.5 + 1e-9).contains(&spent),
        "spent {spent}"
    );
    assert_eq!(journal_keys(&dir).len(), made);
    // The partial run's reports are written from what was made.
    assert!(dir.join("results.csv").exists() && dir.join("report.md").exists());

    // The same budget again: refused, what was spent is counted.
    let o = resume(tmp.path(), &dir, &["--max-spend", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("already spent by this run"),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.requests().len(), made);

    let o = resume(tmp.path(), &dir, &["--max-spend", "100", "--quiet"]);
    ok(&o);
    assert_eq!(s.requests().len(), 40, "no call was made twice");
    let keys = journal_keys(&dir);
    assert_eq!(keys.len(), 40);
    assert!(keys.values().all(|&n| n == 1));
    let m = manifest(&dir);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["settings"]["max_spend_usd"], 100.0);
    assert_eq!(read_csv(&dir.join("results.csv")).len(), 30);
}

#[test]
fn a_run_directory_in_use_is_refused_naming_the_holder() {
    let s = server(DEFAULT_PROMPT_TOKENS);
    let (tmp, dir) = complete_run(&s, 1);
    // Hold the lock the way a running routecal does: a process with the file locked.
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("run.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(
        dir.join("run.lock"),
        "pid 4242 since 2026-11-26T00:00:00Z\n",
    )
    .unwrap();
    let o = resume(tmp.path(), &dir, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("pid 4242"), "{}", stderr(&o));
    drop(lock);
    ok(&resume(tmp.path(), &dir, &["--quiet"]));
}

#[test]
fn throughput_changes_do_not_block_a_resume_but_a_wire_name_does() {
    let s = server(DEFAULT_PROMPT_TOKENS);
    let (tmp, dir) = complete_run(&s, 4);
    // An interrupted run: the journal lost its last six rows.
    let journal = read(&dir.join("journal.jsonl"));
    let kept: Vec<&str> = journal.lines().collect();
    let kept = kept[..kept.len() - 6].join("\n") + "\n";
    std::fs::write(dir.join("journal.jsonl"), kept).unwrap();
    let calls = s.requests().len();

    // A different wire name changes who answers: refused.
    let routes_path = tmp.path().join("routes.toml");
    let renamed = routes(&s.url(), 4).replace(
        "tier = \"frontier\"",
        "tier = \"frontier\"\nwire_name = \"gamma-2\"",
    );
    std::fs::write(&routes_path, &renamed).unwrap();
    let o = resume(tmp.path(), &dir, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("routes file routes.toml"),
        "{}",
        stderr(&o)
    );

    // Faster limits, a longer timeout, more retries and a comment: accepted.
    let faster = format!(
        "# raised after a slow start\n{}",
        routes(&s.url(), 8).replace(
            "timeout_s = 10",
            "timeout_s = 60\nrequests_per_minute = 6000\nmax_attempts = 5"
        )
    );
    std::fs::write(&routes_path, &faster).unwrap();
    let o = resume(tmp.path(), &dir, &["--quiet"]);
    ok(&o);
    assert_eq!(s.requests().len(), calls + 6, "only the missing calls");
    let m = manifest(&dir);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["routes"]["sha256"], sha256(&faster));
}
