//! The scale benchmark of routecal (issue "Fast at scale"): `cargo bench --bench scale`.
//!
//! It runs the shipped `routecal` binary as a child process and reads the child's own CPU time
//! and peak RSS from `wait4`, so nothing of the harness is counted. The OpenAI-compatible
//! loopback server is this same executable started again as `scale serve`: a separate process,
//! whose CPU is not routecal's.
//!
//! Cases (all by default; name some to run only those, e.g. `cargo bench --bench scale -- runner-5k`):
//!
//! - `runner-5k`, `runner-50k`: 5 models on one openai endpoint (max_concurrency 100) against a
//!   server answering after 100 ms; wall of the runner against N·L/C, CPU per call, peak RSS.
//! - `multi`: three endpoints with different limits (concurrency 50, concurrency 10,
//!   9,000 requests a minute) at once; wall against the slowest endpoint's own bound.
//! - `multi-sim`: the same limits on `sim` endpoints (no sockets), latency 100 ms.
//! - `report-1m`: `routecal report` on a synthetic journal of 1,000,000 rows.
//! - `quickstart`: `routecal run --suite datasets/mt-bench` and `datasets/llm-drift`.
//!
//! `ROUTECAL_BIN=path` measures another binary (a debug build, say); `ROUTECAL_BENCH_DIR` sets the
//! work folder (default: the system temp folder); `ROUTECAL_BENCH_REPORT_ITEMS` shrinks the
//! aggregation case (20 journal rows an item). Results are printed and written to
//! `<work>/results.json`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const LATENCY_MS: u64 = 100;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let latency = args
            .get(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(LATENCY_MS);
        serve(Duration::from_millis(latency));
        return;
    }
    let wanted: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let all = [
        "runner-5k",
        "runner-50k",
        "multi",
        "multi-sim",
        "report-1m",
        "quickstart",
    ];
    for w in &wanted {
        if !all.contains(w) {
            eprintln!("unknown case {w:?}; cases: {}", all.join(", "));
            std::process::exit(2);
        }
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary with nothing:
    // the benchmark takes minutes and is no test, so it only runs when asked.
    if wanted.is_empty() && !args.iter().any(|a| a == "--bench") {
        println!(
            "scale benchmark: run it with `cargo bench --bench scale` (cases: {})",
            all.join(", ")
        );
        return;
    }
    let run = |c: &str| wanted.is_empty() || wanted.contains(&c);

    let bin = std::env::var_os("ROUTECAL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_routecal")));
    let work = std::env::var_os("ROUTECAL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("routecal-bench"));
    std::fs::create_dir_all(&work).expect("work folder");
    let machine = machine();
    println!("routecal scale benchmark");
    println!("binary: {}", bin.display());
    println!(
        "machine: {} cores, {}; load average before: {}",
        machine["nproc"],
        machine["cpu"].as_str().unwrap_or("?"),
        loadavg()
    );
    println!("work folder: {}\n", work.display());

    let mut results = Vec::new();
    if run("runner-5k") {
        results.push(runner_case(&bin, &work, "runner-5k", 1_000));
    }
    if run("runner-50k") {
        results.push(runner_case(&bin, &work, "runner-50k", 10_000));
    }
    if run("multi") {
        results.push(multi_case(&bin, &work, false));
    }
    if run("multi-sim") {
        results.push(multi_case(&bin, &work, true));
    }
    if run("report-1m") {
        results.push(report_case(&bin, &work));
    }
    if run("quickstart") {
        for suite in ["mt-bench", "llm-drift"] {
            results.push(quickstart_case(&bin, &work, suite));
        }
    }
    let out = json!({
        "binary": bin.display().to_string(),
        "machine": machine,
        "load_average_after": loadavg(),
        "results": results,
    });
    let path = work.join("results.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&out).unwrap()).expect("results.json");
    println!("\nload average after: {}", loadavg());
    println!("wrote {}", path.display());
}

// ---------- measuring a child ----------

struct Measured {
    wall_s: f64,
    cpu_s: f64,
    user_s: f64,
    sys_s: f64,
    max_rss_mib: f64,
    code: i32,
}

/// `routecal report --quiet RUN_DIR` from `cwd`, measured and checked (log: `cwd/report.log`).
fn measure_report(bin: &Path, cwd: &Path, run_dir: &Path, case: &str) -> Measured {
    let mut cmd = Command::new(bin);
    cmd.current_dir(cwd)
        .args(["report", "--quiet"])
        .arg(run_dir);
    let log = cwd.join("report.log");
    let m = measure(cmd, &log);
    check(&m, case, &log);
    m
}

/// Run `cmd` to completion; its wall time, its own CPU time and peak RSS (from `wait4`).
fn measure(cmd: Command, log: &Path) -> Measured {
    measure_phases(cmd, log, None).0
}

/// Like [`measure`], and also the peak RSS while `phase_file` (a run.json) says the run is
/// still `running` (the runner's phase, before the reports are derived), sampled every 20 ms
/// from /proc.
fn measure_phases(mut cmd: Command, log: &Path, phase_dir: Option<&Path>) -> (Measured, f64) {
    let out = std::fs::File::create(log).expect("log file");
    cmd.stdout(out.try_clone().unwrap()).stderr(out);
    let t0 = Instant::now();
    let child = cmd.spawn().expect("spawn routecal");
    let pid = child.id() as libc::pid_t;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = phase_dir.map(|dir| {
        let (done, dir) = (done.clone(), dir.to_path_buf());
        std::thread::spawn(move || {
            let mut peak_kib = 0u64;
            while !done.load(Ordering::Relaxed) {
                if running(&dir) {
                    peak_kib = peak_kib.max(rss_kib(pid));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            peak_kib as f64 / 1024.0
        })
    });
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child, which we reap here.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall_s = t0.elapsed().as_secs_f64();
    assert_eq!(r, pid, "wait4 failed");
    std::mem::forget(child);
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    done.store(true, Ordering::Relaxed);
    let phase_peak = sampler.map_or(f64::NAN, |t| t.join().unwrap());
    (
        Measured {
            wall_s,
            cpu_s: tv(ru.ru_utime) + tv(ru.ru_stime),
            user_s: tv(ru.ru_utime),
            sys_s: tv(ru.ru_stime),
            max_rss_mib: ru.ru_maxrss as f64 / 1024.0,
            code,
        },
        phase_peak,
    )
}

fn rss_kib(pid: libc::pid_t) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Whether the one run directory under `out` exists and its run.json says `running`.
fn running(out: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(out) else {
        return false;
    };
    entries.filter_map(|e| e.ok()).any(|e| {
        std::fs::read(e.path().join("run.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|m| m["status"] == "running")
    })
}

fn check(m: &Measured, what: &str, log: &Path) {
    if m.code != 0 {
        let tail = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(20).collect();
        panic!(
            "{what} exited with {}; last lines of {}:\n{}",
            m.code,
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------- the loopback server (a separate process) ----------

struct Server {
    child: std::process::Child,
    port: u16,
}

impl Server {
    fn start(latency_ms: u64) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["serve", &latency_ms.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the loopback server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server prints its port");
        Server { child, port }
    }

    /// Requests answered and connections accepted so far.
    fn stats(&self) -> (u64, u64) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.write_all(b"GET /stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let body = out.split("\r\n\r\n").nth(1).unwrap_or("");
        let mut it = body.split_whitespace().map(|x| x.parse::<u64>().unwrap());
        (it.next().unwrap(), it.next().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(latency: Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let _ = sock.set_nodelay(true);
            connections.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(connection(
                sock,
                latency,
                requests.clone(),
                connections.clone(),
            ));
        }
    });
}

const COMPLETION: &str = r#"{"id":"bench","object":"chat.completion","model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"42"},"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":2,"total_tokens":26}}"#;

/// Minimal HTTP/1.1 with keep-alive: read a request (headers, then Content-Length bytes),
/// wait the latency, answer the completion.
async fn connection(
    mut sock: tokio::net::TcpStream,
    latency: Duration,
    requests: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{COMPLETION}",
        COMPLETION.len()
    );
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match sock.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let stats = head.starts_with("get /stats");
        while buf.len() < head_end + len {
            match sock.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        buf.drain(..head_end + len);
        if stats {
            let body = format!(
                "{} {}",
                requests.load(Ordering::Relaxed),
                connections.load(Ordering::Relaxed) - 1
            );
            let r = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(r.as_bytes()).await;
            return;
        }
        tokio::time::sleep(latency).await;
        requests.fetch_add(1, Ordering::Relaxed);
        if sock.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

// ---------- suites ----------

use routecal::benchmark::synth::TASK_PROMPTS as PROMPTS;

fn write_dataset(path: &Path, items: usize) {
    let mut out = Vec::new();
    for i in 0..items {
        let (task, tpl) = PROMPTS[i % PROMPTS.len()];
        let priority = ["default", "quality", "latency"][(i / 6) % 3];
        let line = json!({
            "id": format!("b-{i}"),
            "prompt": tpl.replace("{i}", &i.to_string()),
            "task_type": task,
            "priority": priority,
            "grader": {"kind": "exact", "expected": "42"},
            "max_tokens": 16,
        });
        serde_json::to_writer(&mut out, &line).unwrap();
        out.push(b'\n');
    }
    std::fs::write(path, out).unwrap();
}

const HEAD: &str = "[classifier]\nmodel = \"builtin/keywords\"\n\n\
                    [endpoints.keywords]\nkind = \"keywords\"\n\n\
                    [models.\"builtin/keywords\"]\nendpoint = \"keywords\"\ntier = \"budget\"\n\n";

fn model(name: &str, endpoint: &str) -> String {
    format!(
        "[models.\"bench/{name}\"]\nendpoint = \"{endpoint}\"\ntier = \"budget\"\n\
         input_per_mtok = 1.0\noutput_per_mtok = 2.0\n\n"
    )
}

fn table(first: &str, second: &str) -> String {
    format!("[default]\nprimary = \"bench/{first}\"\nfallback = \"bench/{second}\"\n")
}

fn fresh(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
}

fn the_run_dir(out: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("run.json").is_file())
        .collect();
    assert_eq!(dirs.len(), 1, "one run directory in {}", out.display());
    dirs.pop().unwrap()
}

fn runner_seconds(run_dir: &Path) -> f64 {
    let m: Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap())
        .expect("run.json");
    m["totals"]["duration_s"].as_f64().unwrap_or(f64::NAN)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

// ---------- cases ----------

/// 5 models × `items` on one openai endpoint (C = 100) at 100 ms a call.
fn runner_case(bin: &Path, work: &Path, name: &str, items: usize) -> Value {
    const MODELS: usize = 5;
    const C: usize = 100;
    let dir = work.join(name);
    fresh(&dir);
    let server = Server::start(LATENCY_MS);
    let mut routes = HEAD.to_string();
    routes.push_str(&format!(
        "[endpoints.loop]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{}/v1\"\n\
         max_concurrency = {C}\ntimeout_s = 30\n\n",
        server.port
    ));
    for m in 0..MODELS {
        routes.push_str(&model(&format!("m{m}"), "loop"));
    }
    routes.push_str(&table("m0", "m1"));
    std::fs::write(dir.join("routes.toml"), routes).unwrap();
    write_dataset(&dir.join("dataset.jsonl"), items);

    let mut cmd = Command::new(bin);
    cmd.current_dir(&dir).args([
        "run",
        "--routes",
        "routes.toml",
        "--dataset",
        "dataset.jsonl",
        "--out",
        "reports",
    ]);
    let log = dir.join("run.log");
    let (m, runner_rss) = measure_phases(cmd, &log, Some(&dir.join("reports")));
    check(&m, name, &log);
    let (calls, conns) = server.stats();
    let run_dir = the_run_dir(&dir.join("reports"));
    let runner_s = runner_seconds(&run_dir);
    let journal = std::fs::metadata(run_dir.join("journal.jsonl"))
        .map(|m| m.len())
        .unwrap_or(0);

    // The same derivation alone, to separate the runner's CPU from the reports'.
    let r = measure_report(bin, &dir, &run_dir, "report");

    let n = (items * MODELS) as f64;
    let limit = n * LATENCY_MS as f64 / 1e3 / C as f64;
    let v = json!({
        "case": name,
        "calls_planned": items * (MODELS + 1),
        "calls_received_by_server": calls,
        "connections": conns,
        "ideal_s": limit,
        "runner_wall_s": runner_s,
        "runner_ratio": runner_s / limit,
        "process_wall_s": m.wall_s,
        "process_ratio": m.wall_s / limit,
        "cpu_s": m.cpu_s,
        "user_s": m.user_s,
        "sys_s": m.sys_s,
        "cpu_ms_per_call": m.cpu_s * 1e3 / calls as f64,
        "report_cpu_s": r.cpu_s,
        "report_wall_s": r.wall_s,
        "runner_cpu_ms_per_call_excl_report": (m.cpu_s - r.cpu_s) * 1e3 / calls as f64,
        "peak_rss_mib": m.max_rss_mib,
        "runner_phase_peak_rss_mib": runner_rss,
        "report_peak_rss_mib": r.max_rss_mib,
        "journal_mib": mib(journal),
        "load_average": loadavg(),
    });
    println!(
        "{name}: {calls} calls over {conns} connections; runner {runner_s:.2} s for an ideal {limit:.2} s (ratio {:.3}), process {:.2} s; \
         CPU {:.2} s = {:.3} ms/call ({:.3} ms/call without the reports' {:.2} s); peak RSS {:.1} MiB (runner phase {:.1} MiB, report alone {:.1} MiB); load {}",
        runner_s / limit,
        m.wall_s,
        m.cpu_s,
        m.cpu_s * 1e3 / calls as f64,
        (m.cpu_s - r.cpu_s) * 1e3 / calls as f64,
        r.cpu_s,
        m.max_rss_mib,
        runner_rss,
        r.max_rss_mib,
        loadavg()
    );
    v
}

/// Three endpoints with different limits at once: the run lasts as long as the slowest alone.
fn multi_case(bin: &Path, work: &Path, sim: bool) -> Value {
    const ITEMS: usize = 2_000;
    let name = if sim { "multi-sim" } else { "multi" };
    let dir = work.join(name);
    fresh(&dir);
    let server = (!sim).then(|| Server::start(LATENCY_MS));
    // (endpoint, max_concurrency, requests_per_minute)
    let eps: [(&str, usize, Option<u32>); 3] = [
        ("wide", 50, None),
        ("narrow", 10, None),
        ("metered", 100, Some(9_000)),
    ];
    let mut routes = HEAD.to_string();
    for (ep, c, rpm) in eps {
        match &server {
            Some(s) => routes.push_str(&format!(
                "[endpoints.{ep}]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{}/{ep}/v1\"\n\
                 max_concurrency = {c}\ntimeout_s = 30\n",
                s.port
            )),
            None => routes.push_str(&format!(
                "[endpoints.{ep}]\nkind = \"sim\"\nseed = 1\ntime_scale = 1\nmax_concurrency = {c}\n"
            )),
        }
        if let Some(r) = rpm {
            routes.push_str(&format!("requests_per_minute = {r}\n"));
        }
        routes.push('\n');
    }
    for (ep, _, _) in eps {
        routes.push_str(&model(ep, ep));
        if sim {
            // Replace the trailing blank line with the profile: 100 ms every time, no errors.
            routes.pop();
            routes.push_str(&format!(
                "sim = {{ p50_ms = {LATENCY_MS}, p95_ms = {LATENCY_MS}, quality = 0.9 }}\n\n"
            ));
        }
    }
    routes.push_str(&table("wide", "narrow"));
    std::fs::write(dir.join("routes.toml"), routes).unwrap();
    write_dataset(&dir.join("dataset.jsonl"), ITEMS);
    let own: Vec<(String, f64)> = eps
        .iter()
        .map(|(ep, c, rpm)| {
            let by_c = ITEMS as f64 * LATENCY_MS as f64 / 1e3 / *c as f64;
            let by_rate = rpm.map_or(0.0, |r| ITEMS as f64 / (r as f64 / 60.0));
            (ep.to_string(), by_c.max(by_rate))
        })
        .collect();
    let limit = own.iter().map(|x| x.1).fold(0.0, f64::max);

    let mut cmd = Command::new(bin);
    cmd.current_dir(&dir).args([
        "run",
        "--routes",
        "routes.toml",
        "--dataset",
        "dataset.jsonl",
        "--out",
        "reports",
    ]);
    let log = dir.join("run.log");
    let m = measure(cmd, &log);
    check(&m, name, &log);
    let calls = server.as_ref().map(|s| s.stats().0);
    let runner_s = runner_seconds(&the_run_dir(&dir.join("reports")));
    println!(
        "{name}: endpoints' own bounds {}; runner {runner_s:.2} s for the slowest's {limit:.2} s (ratio {:.3}); process {:.2} s, CPU {:.2} s, peak RSS {:.1} MiB{}; load {}",
        own.iter()
            .map(|(e, s)| format!("{e} {s:.1} s"))
            .collect::<Vec<_>>()
            .join(", "),
        runner_s / limit,
        m.wall_s,
        m.cpu_s,
        m.max_rss_mib,
        calls.map_or(String::new(), |c| format!(", {c} calls received")),
        loadavg()
    );
    json!({
        "case": name,
        "endpoints": own.iter().map(|(e, s)| json!({"endpoint": e, "own_bound_s": s})).collect::<Vec<_>>(),
        "limit_s": limit,
        "runner_wall_s": runner_s,
        "runner_ratio": runner_s / limit,
        "process_wall_s": m.wall_s,
        "cpu_s": m.cpu_s,
        "peak_rss_mib": m.max_rss_mib,
        "calls_received_by_server": calls,
        "load_average": loadavg(),
    })
}

/// `routecal report` on a synthetic run of 1,000,000 journal rows.
fn report_case(bin: &Path, work: &Path) -> Value {
    // ROUTECAL_BENCH_REPORT_ITEMS scales the case down (20 rows an item) for a quick look.
    let items = std::env::var("ROUTECAL_BENCH_REPORT_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let spec = routecal::benchmark::synth::Spec {
        items,
        candidates: 4,
        repeats: 4,
        seed: 20_260_528,
    };
    let root = work.join(format!("report-{items}"));
    let run_dir = root.join("reports").join("synthetic-1m");
    let stamp = root.join("spec.txt");
    let spec_text = format!("{spec:?} v{}", env!("CARGO_PKG_VERSION"));
    let t0 = Instant::now();
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(spec_text.as_str()) {
        fresh(&root);
        routecal::benchmark::synth::write(
            &spec,
            &root.join("suite"),
            &root.join("reports"),
            "synthetic-1m",
        )
        .expect("synthetic run");
        std::fs::write(&stamp, &spec_text).unwrap();
        println!(
            "report-1m: wrote {} rows in {:.1} s",
            spec.rows(),
            t0.elapsed().as_secs_f64()
        );
    }
    let journal = std::fs::metadata(run_dir.join("journal.jsonl"))
        .map(|m| m.len())
        .unwrap_or(0);
    let m = measure_report(bin, &root, &run_dir, "report-1m");
    let files: Vec<String> = ["results.csv", "report.md", "report.html"]
        .iter()
        .map(|f| {
            let len = std::fs::metadata(run_dir.join(f))
                .map(|m| m.len())
                .unwrap_or(0);
            format!("{f} {:.1} MiB", mib(len))
        })
        .collect();
    println!(
        "report-1m: {} rows ({:.0} MiB journal) → every report in {:.2} s wall, CPU {:.2} s (user {:.2}, sys {:.2}), peak RSS {:.0} MiB; {}; load {}",
        spec.rows(),
        mib(journal),
        m.wall_s,
        m.cpu_s,
        m.user_s,
        m.sys_s,
        m.max_rss_mib,
        files.join(", "),
        loadavg()
    );
    json!({
        "case": "report-1m",
        "rows": spec.rows(),
        "journal_mib": mib(journal),
        "wall_s": m.wall_s,
        "cpu_s": m.cpu_s,
        "peak_rss_mib": m.max_rss_mib,
        "load_average": loadavg(),
    })
}

/// The offline quickstart on a shipped suite.
fn quickstart_case(bin: &Path, work: &Path, suite: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = work.join(format!("quickstart-{suite}"));
    fresh(&out);
    let mut cmd = Command::new(bin);
    cmd.current_dir(root)
        .args(["run", "--suite", &format!("datasets/{suite}"), "--out"])
        .arg(&out);
    let log = work.join(format!("quickstart-{suite}.log"));
    let m = measure(cmd, &log);
    check(&m, suite, &log);
    println!(
        "quickstart {suite}: {:.2} s wall, CPU {:.2} s, peak RSS {:.1} MiB; load {}",
        m.wall_s,
        m.cpu_s,
        m.max_rss_mib,
        loadavg()
    );
    json!({
        "case": format!("quickstart-{suite}"),
        "wall_s": m.wall_s,
        "cpu_s": m.cpu_s,
        "peak_rss_mib": m.max_rss_mib,
        "load_average": loadavg(),
    })
}
