//! `routecal validate`: check a routes file and a dataset without calling anything.

use std::collections::HashMap;

use crate::base::types::{ModelId, sha256_hex};
use crate::cli::ValidateArgs;
use crate::config::prices::Prices;
use crate::config::{Config, EndpointKind};
use crate::dataset::Dataset;
use crate::provider;
use crate::store::journal::CallKind;

pub fn validate(a: ValidateArgs) -> anyhow::Result<u8> {
    let (routes, dataset) = super::resolve(&a.inputs, false)?;
    let prices = Prices::load(a.prices.as_deref())?;
    let cfg = Config::load(&routes, prices.table(), jiff::Timestamp::now())?;
    // A broken recording fails here too.
    let mut recordings = HashMap::new();
    for ep in cfg
        .endpoints
        .values()
        .filter(|e| e.kind == EndpointKind::Replay)
    {
        let path = ep
            .path
            .as_ref()
            .expect("validated: replay endpoints have a path");
        recordings.insert(
            ep.name.clone(),
            provider::Recording::open(path, Vec::new())?,
        );
    }
    outln!(
        "{}: ok ({} endpoints, {} models, {} candidates, {} table cells + default)",
        routes.display(),
        cfg.endpoints.len(),
        cfg.models.len(),
        cfg.candidates().count(),
        cfg.table.cells.len()
    );
    for w in &cfg.warnings {
        match w.line {
            Some(l) => outln!("  warning: {}:{l}: {}", routes.display(), w.message),
            None => outln!("  warning: {}: {}", routes.display(), w.message),
        }
    }
    let now = jiff::Timestamp::now();
    outln!("  {}", prices.describe(now));
    if let Some(w) = prices.staleness_warning(now) {
        outln!("  warning: {w}");
    }
    if let Some(d) = dataset {
        let ds = Dataset::load(&d)?;
        crate::benchmark::judge_phase::check(&cfg, &ds)?;
        let per_task: Vec<String> = ds
            .task_types()
            .iter()
            .map(|t| format!("{t} {}", ds.items.iter().filter(|i| i.task == *t).count()))
            .collect();
        outln!(
            "{}: ok ({} items: {})",
            d.display(),
            ds.items.len(),
            per_task.join(", ")
        );
        for w in replay_gaps(&cfg, &ds, &recordings) {
            outln!("  warning: {w}");
        }
    }
    super::ok()
}

/// The models on replay endpoints whose recording holds no answer for some of the dataset's
/// conversations as they would now be sent (with the system prompt `routes.toml` sets): a run
/// would get only "not recorded" errors for them. Each warning names the model, the calls not
/// covered, and the key whose system prompt changes the conversation's hash when one is set.
fn replay_gaps(
    cfg: &Config,
    ds: &Dataset,
    recordings: &HashMap<String, provider::Recording>,
) -> Vec<String> {
    let plan = crate::benchmark::plan::build(cfg, ds, 1, &Default::default());
    let mut missing: std::collections::BTreeMap<&ModelId, (usize, usize)> = Default::default();
    for c in plan.calls.iter().filter(|c| c.kind == CallKind::Candidate) {
        let Some(rec) = recordings.get(&c.endpoint) else {
            continue;
        };
        let sha = sha256_hex(c.request.key_text().as_bytes());
        let e = missing.entry(&c.request.model).or_default();
        e.1 += 1;
        e.0 += usize::from(!rec.holds(c.request.model.as_str(), &sha));
    }
    missing
        .into_iter()
        .filter(|(_, (gaps, _))| *gaps > 0)
        .map(|(model, (gaps, calls))| {
            let endpoint = &cfg.model(model).endpoint;
            let key = match (cfg.system.per_model.get(model), &cfg.system.default) {
                (Some(Some(_)), _) => Some(format!("[models.\"{model}\"] system")),
                (None, Some(_)) => Some("[run] system".to_string()),
                _ => None,
            };
            let why = match &key {
                Some(k) => format!(
                    "; {k} is set, and a system prompt changes the conversation the recording is keyed on"
                ),
                None => String::new(),
            };
            let fix = match &key {
                Some(k) => format!("record them again with --record, or leave {k} out for this model"),
                None => "record them with --record".to_string(),
            };
            format!(
                "model {model} (replay endpoint {endpoint}): the recording holds no answer for {gaps} of its {calls} conversations as they would be sent{why}; a run gets a \"not recorded\" error for each ({fix})"
            )
        })
        .collect()
}
