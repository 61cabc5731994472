//! `routecal validate`: check a routes file and a dataset without calling anything.

use crate::cli::ValidateArgs;
use crate::config::prices::Prices;
use crate::config::{Config, EndpointKind};
use crate::dataset::Dataset;
use crate::provider;

pub fn validate(a: ValidateArgs) -> anyhow::Result<u8> {
    let (routes, dataset) = super::resolve(&a.inputs, false)?;
    let prices = Prices::load(a.prices.as_deref())?;
    let cfg = Config::load(&routes, prices.table(), jiff::Timestamp::now())?;
    // A broken recording fails here too.
    for ep in cfg
        .endpoints
        .values()
        .filter(|e| e.kind == EndpointKind::Replay)
    {
        let path = ep
            .path
            .as_ref()
            .expect("validated: replay endpoints have a path");
        provider::Recording::open(path, Vec::new())?;
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
    }
    super::ok()
}
