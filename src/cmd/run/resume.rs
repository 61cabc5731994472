//! What a resumed run is made from, and when a resume is refused: the inputs recorded in
//! run.json against those of the resumption.

use super::*;

/// Refuse (exit 2) to resume a run from inputs that change answers or prices, unless `--force`.
pub(super) fn check_resume(
    a: &RunArgs,
    dir: &Path,
    m: &Manifest,
    refs: &Refs,
    repeats: u32,
    mode: ProgressMode,
) -> anyhow::Result<()> {
    let differs = differences(m, refs, repeats);
    if differs.is_empty() {
        return Ok(());
    }
    let list: String = differs.iter().map(|d| format!("\n  {d}")).collect();
    if !a.force {
        return Err(UsageError(format!(
            "cannot resume {}: it was made from other inputs than these:{list}\nresuming would mix answers to different questions in one journal; start a new run, or pass --force to resume anyway",
            dir.display()
        ))
        .into());
    }
    if mode != ProgressMode::Quiet {
        eoutln!(
            "Resuming {} with --force although its inputs differ:{list}",
            dir.display()
        );
    }
    Ok(())
}

/// What a run is made from, as recorded in run.json.
pub(super) struct Refs {
    pub(super) routes: FileRef,
    pub(super) dataset: FileRef,
    pub(super) prices: FileRef,
    /// The routes file's hash without its throughput settings ([`manifest::answers_sha256`]).
    pub(super) routes_answers: Option<String>,
}

impl Refs {
    pub(super) fn new(routes_path: &Path, dataset_path: &Path, cfg: &Config, ds: &Dataset) -> Refs {
        Refs {
            routes: FileRef {
                path: crate::cmd::display_path(routes_path),
                sha256: cfg.sha256.clone(),
            },
            dataset: FileRef {
                path: crate::cmd::display_path(dataset_path),
                sha256: ds.sha256.clone(),
            },
            prices: FileRef {
                path: prices::SNAPSHOT_SOURCE.into(),
                sha256: sha256_hex(prices::SNAPSHOT_JSON.as_bytes()),
            },
            routes_answers: std::fs::read_to_string(routes_path)
                .ok()
                .and_then(|t| manifest::answers_sha256(&t)),
        }
    }

    /// A resumed run's manifest, running again from these inputs.
    pub(super) fn resumed(
        self,
        mut m: Manifest,
        a: &RunArgs,
        cfg: &Config,
        repeats: u32,
    ) -> Manifest {
        m.finished_at = None;
        m.status = Status::Running;
        m.routes = self.routes;
        m.dataset = self.dataset;
        m.prices = self.prices;
        m.settings.repeats = repeats;
        m.settings.max_spend_usd = a.max_spend;
        m.settings.routes_answers_sha256 = self.routes_answers;
        if a.history.is_some() {
            m.settings.history =
                HistorySettings::from_args(a.history.as_deref(), a.window.as_deref());
        }
        m.models = cfg.candidates().map(|m| m.id.to_string()).collect();
        m.classifiers = cfg.classifiers().iter().map(|m| m.to_string()).collect();
        m.simulated = cfg.endpoints.values().any(|e| e.kind == EndpointKind::Sim);
        m
    }

    /// A new run's manifest.
    pub(super) fn fresh(
        self,
        run_id: String,
        now: jiff::Timestamp,
        a: &RunArgs,
        cfg: &Config,
        repeats: u32,
    ) -> Manifest {
        Manifest {
            tool: "routecal".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            run_id,
            started_at: now.to_string(),
            finished_at: None,
            status: Status::Running,
            routes: self.routes,
            dataset: self.dataset,
            prices: self.prices,
            routes_copy: None,
            settings: Settings {
                repeats,
                max_spend_usd: a.max_spend,
                routes_answers_sha256: self.routes_answers,
                adaptive: None,
                history: HistorySettings::from_args(a.history.as_deref(), a.window.as_deref()),
            },
            models: cfg.candidates().map(|m| m.id.to_string()).collect(),
            classifiers: cfg.classifiers().iter().map(|m| m.to_string()).collect(),
            simulated: cfg.endpoints.values().any(|e| e.kind == EndpointKind::Sim),
            totals: Totals::default(),
        }
    }
}

/// The inputs of a resumed run: those named on the command line, else the run's own.
pub(super) fn resume_inputs(a: &RunArgs, dir: &Path, m: &Manifest) -> (PathBuf, PathBuf) {
    if let Some(s) = &a.inputs.suite {
        return (s.join("routes.toml"), s.join("dataset.jsonl"));
    }
    let routes = a
        .inputs
        .routes
        .clone()
        .unwrap_or_else(|| crate::cmd::report::locate(dir, &m.routes.path));
    let dataset = a
        .inputs
        .dataset
        .clone()
        .unwrap_or_else(|| crate::cmd::report::locate(dir, &m.dataset.path));
    (routes, dataset)
}

pub(super) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// What differs between a run's manifest and the inputs of its resumption, one line each.
/// A routes file whose answers hash (`answers`, see [`manifest::answers_sha256`]) matches the
/// run's differs only in throughput settings, comments or layout: that is no difference.
pub(super) fn differences(m: &Manifest, refs: &Refs, repeats: u32) -> Vec<String> {
    let mut out = Vec::new();
    let answers = refs.routes_answers.as_deref();
    let same_answers = answers.is_some() && m.settings.routes_answers_sha256.as_deref() == answers;
    for (what, old, new) in [
        ("routes file", &m.routes, &refs.routes),
        ("dataset", &m.dataset, &refs.dataset),
        ("prices", &m.prices, &refs.prices),
    ] {
        if what == "routes file" && same_answers {
            continue;
        }
        if old.sha256 != new.sha256 {
            out.push(format!(
                "{what} {}: sha256 {} in run.json, {} now{}",
                new.path,
                short(&old.sha256),
                short(&new.sha256),
                if old.path != new.path {
                    format!(" (the run used {})", old.path)
                } else {
                    String::new()
                }
            ));
        }
    }
    if m.settings.repeats != repeats {
        out.push(format!(
            "settings: repeats {} in run.json, {repeats} now",
            m.settings.repeats
        ));
    }
    out
}
