//! `routecal run`: plan, call, journal, derive, report.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use crate::cli::RunArgs;
use crate::config::{Config, EndpointKind};
use crate::dataset::Dataset;
use crate::derive;
use crate::prices;
use crate::provider;
use crate::report::{self, text};
use crate::run_dir::{self, FileRef, Lock, Manifest, Settings, Totals};
use crate::runner::{self, journal, plan::Plan, progress::ProgressMode};
use crate::types::sha256_hex;

pub fn run(a: RunArgs) -> anyhow::Result<u8> {
    let (routes_path, dataset_path) = super::resolve(&a.inputs, true)?;
    let dataset_path = dataset_path.expect("resolve requires a dataset for run");
    let now = jiff::Timestamp::now();
    let (cfg, ds) = super::load_inputs(&routes_path, &dataset_path, now)?;
    let providers = provider::build_all(&cfg)?;
    let repeats = a.repeats.unwrap_or(cfg.defaults.repeats).max(1);

    let plan = runner::plan::build(&cfg, &ds, repeats, &HashSet::new());
    let mode = if a.json {
        ProgressMode::Quiet
    } else {
        ProgressMode::auto(a.quiet)
    };
    if mode != ProgressMode::Quiet {
        eprint!("{}", describe_plan(&cfg, &plan));
        if let Some(j) = crate::judge_phase::estimate(&cfg, &ds, repeats) {
            eprint!("{}", j.describe());
        }
    }

    let label = a
        .inputs
        .suite
        .as_deref()
        .and_then(|s| s.file_name())
        .or_else(|| dataset_path.file_stem())
        .and_then(|s| s.to_str())
        .unwrap_or("run")
        .to_string();
    let record = a
        .record
        .as_deref()
        .map(runner::record::RecordWriter::create)
        .transpose()?;
    let (run_id, dir) = run_dir::create(&a.out, now, &label)?;
    let _lock = Lock::acquire(&dir)?;
    let mut manifest = Manifest {
        tool: "routecal".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        run_id: run_id.clone(),
        started_at: now.to_string(),
        finished_at: None,
        status: "running".into(),
        routes: FileRef {
            path: super::display_path(&routes_path),
            sha256: cfg.sha256.clone(),
        },
        dataset: FileRef {
            path: super::display_path(&dataset_path),
            sha256: ds.sha256.clone(),
        },
        prices: FileRef {
            path: prices::SNAPSHOT_SOURCE.into(),
            sha256: sha256_hex(prices::SNAPSHOT_JSON.as_bytes()),
        },
        settings: Settings {
            repeats,
            max_spend_usd: None,
        },
        models: cfg.candidates().map(|m| m.id.to_string()).collect(),
        classifiers: cfg.classifiers().iter().map(|m| m.to_string()).collect(),
        simulated: cfg.endpoints.values().any(|e| e.kind == EndpointKind::Sim),
        totals: Totals {
            planned_calls: plan.calls.len(),
            estimated_usd: plan.est_live_spend().0,
            ..Totals::default()
        },
    };
    manifest.save(&dir)?;

    let journal_path = dir.join(run_dir::JOURNAL);
    let writer = journal::JournalWriter::open_append(&journal_path)?;
    let cfg = Arc::new(cfg);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let totals = rt.block_on(runner::execute(
        plan,
        cfg.clone(),
        &providers,
        writer,
        record,
        mode,
    ))?;
    let judged = crate::judge_phase::run(&rt, &cfg, &ds, &providers, &journal_path, &a.out, mode)?;
    drop(rt);

    manifest.finished_at = Some(jiff::Timestamp::now().to_string());
    manifest.status = "complete".into();
    manifest.totals.calls = totals.calls + judged.calls;
    manifest.totals.errors = totals.errors + judged.errors;
    manifest.totals.spent_usd = totals.spent.0 + judged.spent.0;
    manifest.totals.duration_s = totals.elapsed.as_secs_f64();
    manifest.save(&dir)?;

    let contents = journal::read(&journal_path)?;
    let derived = derive::derive_owned(&manifest, &cfg, &ds, contents)?;
    report::write_all(&dir, &derived)?;
    print_outcome(&a, &derived, &dir, &ds);
    super::ok()
}

fn describe_plan(cfg: &Config, plan: &Plan) -> String {
    let classifiers = cfg.classifiers().len();
    let candidates = cfg.candidates().count();
    let mut out = format!(
        "Plan: {} items × ({} classifier{} + {} candidate{}) × {} repeat{} = {} calls\n",
        plan.items,
        classifiers,
        if classifiers == 1 { "" } else { "s" },
        candidates,
        if candidates == 1 { "" } else { "s" },
        plan.repeats,
        if plan.repeats == 1 { "" } else { "s" },
        plan.calls.len()
    );
    let rows: Vec<Vec<String>> = plan
        .per_model
        .iter()
        .map(|m| {
            let kind = cfg.endpoints[&m.endpoint].kind;
            vec![
                m.model.to_string(),
                m.kind.as_str().to_string(),
                format!("{} ({})", m.endpoint, kind.as_str()),
                m.calls.to_string(),
                format!("{}/{}", m.est_input_tokens, m.est_output_tokens),
                match (m.est_cost, m.live) {
                    (None, _) => "UNPRICED".to_string(),
                    (Some(c), true) => text::usd(Some(c.0)),
                    (Some(c), false) => {
                        format!("{} at list prices, not spent", text::usd(Some(c.0)))
                    }
                },
            ]
        })
        .collect();
    for line in text::table(
        &[
            "model",
            "role",
            "endpoint",
            "calls",
            "est. tokens in/out",
            "est. cost",
        ],
        &rows,
    )
    .lines()
    {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!(
        "Estimated spend on live endpoints: {}\n",
        text::usd(Some(plan.est_live_spend().0))
    ));
    let unpriced = plan.unpriced();
    if !unpriced.is_empty() {
        out.push_str(&format!(
            "Warning: no price for {}: their cost is reported as unknown\n",
            unpriced
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

fn print_outcome(a: &RunArgs, d: &derive::Derived, dir: &Path, ds: &Dataset) {
    let dir_s = super::display_path(dir);
    if a.json {
        let changes: Vec<serde_json::Value> = d
            .rec
            .changes()
            .map(|c| {
                serde_json::json!({
                    "cell": c.label(),
                    "old": {"primary": c.old.primary, "fallback": c.old.fallback},
                    "new": {"primary": c.new.primary, "fallback": c.new.fallback},
                    "reason": c.reason,
                })
            })
            .collect();
        let out = serde_json::json!({
            "run_id": d.manifest.run_id,
            "run_dir": dir_s,
            "status": d.manifest.status,
            "items": ds.items.len(),
            "calls": d.manifest.totals.calls,
            "errors": d.manifest.totals.errors,
            "spent_usd": d.manifest.totals.spent_usd,
            "table_changes": changes.len(),
            "changes": changes,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return;
    }
    if !a.quiet {
        println!();
        print!("{}", text::summary(d));
        for w in d.warnings() {
            println!("warning: {w}");
        }
    }
    println!("\nRun directory: {dir_s}");
    if !a.quiet {
        println!(
            "  report: {dir_s}/report.md   diff: {dir_s}/routes.diff   proposed table: {dir_s}/routes.recommended.toml"
        );
    }
}
