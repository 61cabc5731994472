//! A synthetic run directory for scale measurements of everything after the runner (the
//! benchmark harness's aggregation case): a suite (routes.toml with a `sim` endpoint, a dataset
//! graded by `recorded`) and a run directory (`run.json` marked simulated, `journal.jsonl` in the
//! real format) whose answers are drawn by the sim provider's model. Not a user-facing feature.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::base::types::{ModelId, sha256_hex};
use crate::config::prices::PriceTable;
use crate::config::{Config, SimProfile};
use crate::grade::RecordedGrade;
use crate::provider::meter;
use crate::provider::sim::{DrawOutcome, Sim};
use crate::provider::{CostSource, ErrorKind, LatencySource, classify_keywords};
use crate::store::journal::{CallKind, JournalRow, call_key};
use crate::store::manifest::{FileRef, Manifest, Settings, Status, Totals};
use crate::store::run_dir::RunDir;

/// The shape of a synthetic run: `items × (1 classifier + candidates) × repeats` rows.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub items: usize,
    pub candidates: usize,
    pub repeats: u32,
    pub seed: u64,
}

impl Spec {
    pub fn rows(&self) -> usize {
        self.items * (self.candidates + 1) * self.repeats as usize
    }
}

/// One prompt template per task type (`{i}` is the item number), shared with the scale benchmark.
pub const TASK_PROMPTS: [(&str, &str); 6] = [
    (
        "code",
        "Write a python function that reverses linked list number {i}.",
    ),
    (
        "math",
        "Solve the equation 3x + {i} = 2x - 7 and give the integer.",
    ),
    (
        "extraction",
        "Extract the fields name and date from this email as JSON: ticket {i}.",
    ),
    (
        "creative",
        "Write a short poem about lighthouse number {i}.",
    ),
    (
        "factual",
        "What is the history of the bridge number {i}? Explain briefly.",
    ),
    ("general", "Help me plan a quiet weekend, suggestion {i}."),
];
const PRIORITIES: [&str; 3] = ["default", "quality", "latency"];

fn profile(m: usize) -> SimProfile {
    SimProfile {
        p50_ms: 300.0 + 250.0 * m as f64,
        p95_ms: 900.0 + 600.0 * m as f64,
        error_rate: 0.01 * (m % 3) as f64,
        rate_limited_rate: 0.005,
        quality: 0.55 + 0.08 * (m % 5) as f64,
        output_tokens: 150 + 50 * m as u64,
    }
}

fn routes_toml(spec: &Spec) -> String {
    let mut s = String::from(
        "# SIMULATED: a synthetic suite written by the benchmark harness (routecal::benchmark::synth).\n\
         [classifier]\nmodel = \"builtin/keywords\"\n\n\
         [endpoints.keywords]\nkind = \"keywords\"\n\n\
         [endpoints.sim]\nkind = \"sim\"\n",
    );
    s.push_str(&format!("seed = {}\ntime_scale = 0\n\n", spec.seed));
    s.push_str("[models.\"builtin/keywords\"]\nendpoint = \"keywords\"\ntier = \"budget\"\n\n");
    for m in 0..spec.candidates {
        let p = profile(m);
        s.push_str(&format!(
            "[models.\"sim/model-{m}\"]\nendpoint = \"sim\"\ntier = \"budget\"\n\
             input_per_mtok = {:.2}\noutput_per_mtok = {:.2}\n\
             sim = {{ p50_ms = {}, p95_ms = {}, error_rate = {}, rate_limited_rate = {}, quality = {}, output_tokens = {} }}\n\n",
            0.2 + m as f64,
            0.8 + 3.0 * m as f64,
            p.p50_ms,
            p.p95_ms,
            p.error_rate,
            p.rate_limited_rate,
            p.quality,
            p.output_tokens
        ));
    }
    let fallback = if spec.candidates > 1 { 1 } else { 0 };
    s.push_str(&format!(
        "[default]\nprimary = \"sim/model-0\"\n{}\n",
        if fallback == 1 {
            "fallback = \"sim/model-1\"\n".to_string()
        } else {
            String::new()
        }
    ));
    s.push_str("[routes.code.quality]\nprimary = \"sim/model-0\"\n\n");
    s
}

/// Write the suite into `suite_dir` and a finished run into `run_parent/<name>`; the run
/// directory's path.
pub fn write(
    spec: &Spec,
    suite_dir: &Path,
    run_parent: &Path,
    name: &str,
) -> anyhow::Result<PathBuf> {
    assert!(spec.candidates >= 1 && spec.items >= 1 && spec.repeats >= 1);
    std::fs::create_dir_all(suite_dir)?;
    let routes_path = std::path::absolute(suite_dir.join("routes.toml"))?;
    let dataset_path = std::path::absolute(suite_dir.join("dataset.jsonl"))?;
    std::fs::write(&routes_path, routes_toml(spec))?;

    let (ds, prompts) = dataset(spec)?;
    std::fs::write(&dataset_path, &ds)?;

    let now = jiff::Timestamp::now();
    let cfg = Config::load(&routes_path, PriceTable::shipped(), now)?;
    let dir = run_parent.join(name);
    std::fs::create_dir_all(&dir)?;
    let mut out =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(RunDir::new(&dir).journal())?);
    let classifier = ModelId::parse("builtin/keywords").map_err(anyhow::Error::msg)?;
    let models: Vec<ModelId> = (0..spec.candidates)
        .map(|m| ModelId::parse(&format!("sim/model-{m}")).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    let t0 = now.as_millisecond() - 3_600_000;
    let (mut calls, mut errors) = (0usize, 0usize);
    for (i, prompt) in prompts.iter().enumerate() {
        let item = format!("syn-{i}");
        for repeat in 0..spec.repeats {
            let row = classifier_row(&item, &classifier, prompt, repeat, t0);
            write_row(&mut out, &row)?;
            calls += 1;
            for (m, model) in models.iter().enumerate() {
                let call = SynthCall {
                    item: &item,
                    index: i,
                    prompt,
                    repeat,
                    t0,
                };
                let row = candidate_row(spec, &cfg, (m, model), &call);
                errors += usize::from(!row.ok);
                write_row(&mut out, &row)?;
                calls += 1;
            }
        }
    }
    out.flush()?;
    drop(out);

    let manifest = Manifest {
        tool: "routecal".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        run_id: name.to_string(),
        started_at: jiff::Timestamp::from_millisecond(t0)?.to_string(),
        finished_at: Some(now.to_string()),
        status: Status::Complete,
        routes: FileRef {
            path: routes_path.display().to_string(),
            sha256: cfg.sha256.clone(),
        },
        dataset: FileRef {
            path: dataset_path.display().to_string(),
            sha256: sha256_hex(&ds),
        },
        prices: FileRef {
            path: crate::config::prices::SNAPSHOT_SOURCE.into(),
            sha256: sha256_hex(crate::config::prices::SNAPSHOT_JSON.as_bytes()),
        },
        routes_copy: None,
        settings: Settings {
            repeats: spec.repeats,
            max_spend_usd: None,
            routes_answers_sha256: None,
            adaptive: None,
            history: None,
        },
        models: models.iter().map(|m| m.to_string()).collect(),
        classifiers: vec![classifier.to_string()],
        simulated: true,
        totals: Totals {
            planned_calls: calls,
            calls,
            errors,
            ..Totals::default()
        },
    };
    manifest.save(&dir)?;
    Ok(dir)
}

fn base_row(
    kind: CallKind,
    item: &str,
    model: &ModelId,
    repeat: u32,
    endpoint: &str,
    t0: i64,
) -> JournalRow {
    JournalRow {
        attempts: 1,
        started_ms: t0,
        finished_ms: t0 + 1,
        ..JournalRow::new(
            call_key(kind, item, model, repeat),
            kind,
            item.to_string(),
            model.clone(),
            repeat,
            endpoint.to_string(),
        )
    }
}

fn write_row(out: &mut impl Write, row: &JournalRow) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, row)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// The dataset's bytes and its prompts.
fn dataset(spec: &Spec) -> anyhow::Result<(Vec<u8>, Vec<String>)> {
    let mut ds = Vec::with_capacity(spec.items * 200);
    let mut prompts = Vec::with_capacity(spec.items);
    for i in 0..spec.items {
        let (task, tpl) = TASK_PROMPTS[i % TASK_PROMPTS.len()];
        let prompt = tpl.replace("{i}", &i.to_string());
        let line = serde_json::json!({
            "id": format!("syn-{i}"),
            "prompt": prompt,
            "task_type": task,
            "priority": PRIORITIES[(i / TASK_PROMPTS.len()) % PRIORITIES.len()],
            "grader": {"kind": "recorded"},
        });
        serde_json::to_writer(&mut ds, &line)?;
        ds.push(b'\n');
        prompts.push(prompt);
    }
    Ok((ds, prompts))
}

/// The keywords classifier's journal row for one item.
fn classifier_row(
    item: &str,
    classifier: &ModelId,
    prompt: &str,
    repeat: u32,
    t0: i64,
) -> JournalRow {
    let (t, p) = classify_keywords(prompt);
    let mut row = base_row(
        CallKind::Classifier,
        item,
        classifier,
        repeat,
        "keywords",
        t0,
    );
    row.ok = true;
    row.response = Some(format!("{} {}", t.as_str(), p.as_str()));
    row.input_tokens = Some(crate::provider::tokens::estimate(prompt));
    row.output_tokens = Some(2);
    row.tokens_source = Some(crate::provider::tokens::TokenSource::Estimated);
    row.cost_usd = Some(0.0);
    row.cost_source = CostSource::Free;
    row.latency_ms = Some(0.05);
    row.latency_source = Some(LatencySource::Measured);
    row
}

/// One synthetic candidate call.
struct SynthCall<'a> {
    item: &'a str,
    /// The item's index (part of the draw's identity).
    index: usize,
    prompt: &'a str,
    repeat: u32,
    /// The run's start, epoch milliseconds.
    t0: i64,
}

/// The journal row of model `m`'s simulated answer (or failure) to one call.
fn candidate_row(
    spec: &Spec,
    cfg: &Config,
    (m, model): (usize, &ModelId),
    call: &SynthCall,
) -> JournalRow {
    let p = profile(m);
    let id = (call.index as u64) << 24 | (m as u64) << 8 | call.repeat as u64;
    let d = Sim::draw(spec.seed, &p, id, 1);
    let mut row = base_row(
        CallKind::Candidate,
        call.item,
        model,
        call.repeat,
        "sim",
        call.t0,
    );
    row.latency_ms = Some(d.latency_ms);
    row.latency_source = Some(LatencySource::Simulated);
    match d.outcome {
        DrawOutcome::ServerError | DrawOutcome::RateLimited => {
            let (kind, status) = if d.outcome == DrawOutcome::ServerError {
                (ErrorKind::Server, 500)
            } else {
                (ErrorKind::RateLimited, 429)
            };
            row.error_kind = Some(kind);
            row.http_status = Some(status);
            row.error = Some("simulated failure (sim endpoint)".into());
            row.cost_usd = Some(0.0);
            row.cost_source = CostSource::NotBilled;
        }
        DrawOutcome::Pass | DrawOutcome::Fail => {
            let pass = d.outcome == DrawOutcome::Pass;
            let text = format!(
                "SIMULATED answer of {model} ({})",
                if pass { "pass" } else { "fail" }
            );
            let tokens = meter::tokens(call.prompt, &text, None, Some(d.output_tokens));
            let (cost, src) = meter::cost(cfg.model(model), &tokens, None);
            row.ok = true;
            row.response = Some(text);
            row.input_tokens = Some(tokens.input);
            row.output_tokens = Some(tokens.output);
            row.tokens_source = Some(tokens.source);
            row.cost_usd = cost;
            row.cost_source = src;
            row.grade = Some(RecordedGrade {
                score: if pass { 1.0 } else { 0.0 },
                reason: "simulated".into(),
            });
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synthetic_run_is_a_real_run_directory_marked_simulated() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = Spec {
            items: 60,
            candidates: 3,
            repeats: 2,
            seed: 5,
        };
        let dir = write(
            &spec,
            &tmp.path().join("suite"),
            &tmp.path().join("reports"),
            "syn",
        )
        .unwrap();
        let m = Manifest::load(&dir).unwrap();
        assert!(m.simulated);
        assert_eq!(m.totals.calls, spec.rows());
        let j = crate::store::journal::read(&RunDir::new(dir).journal()).unwrap();
        assert_eq!(j.rows.len(), 60 * 4 * 2);
        assert!(j.bad_lines.is_empty() && !j.torn_tail);
        let cand: Vec<&JournalRow> = j
            .rows
            .iter()
            .filter(|r| r.kind == CallKind::Candidate)
            .collect();
        assert!(
            cand.iter()
                .all(|r| r.latency_source == Some(LatencySource::Simulated))
        );
        assert!(cand.iter().any(|r| r.ok) && cand.iter().any(|r| !r.ok));
        // The suite loads and the run derives like any other.
        let cfg = Config::load(
            Path::new(&m.routes.path),
            PriceTable::shipped(),
            m.started(),
        )
        .unwrap();
        let ds = crate::dataset::Dataset::load(Path::new(&m.dataset.path)).unwrap();
        assert_eq!(ds.sha256, m.dataset.sha256);
        let d = crate::derive::derive(&m, &cfg, &ds, &j).unwrap();
        assert_eq!(d.analysis.results.height(), 60 * 3 * 2);
        // The same spec writes the same journal.
        let again = write(
            &spec,
            &tmp.path().join("suite2"),
            &tmp.path().join("reports"),
            "syn2",
        )
        .unwrap();
        let a = crate::store::journal::read(&RunDir::new(again).journal()).unwrap();
        let strip = |r: &JournalRow| (r.key.clone(), r.ok, r.latency_ms, r.grade.clone());
        assert_eq!(
            j.rows.iter().map(strip).collect::<Vec<_>>(),
            a.rows.iter().map(strip).collect::<Vec<_>>()
        );
    }
}
