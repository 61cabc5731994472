//! `routecal dataset from-log`: real traffic into the next re-benchmark's dataset.

use crate::base::error::UsageError;
use crate::cli::FromLogArgs;
use crate::router::from_log::{self, DEFAULT_RUBRIC};
use crate::router::log;
use crate::router::monitor::logs;

pub fn from_log(a: FromLogArgs) -> anyhow::Result<u8> {
    let paths = logs::expand(&a.logs).map_err(|e| UsageError(e.to_string()))?;
    let (mut records, mut skipped) = (Vec::new(), 0);
    for path in &paths {
        let (r, s) = log::read(path).map_err(|e| {
            UsageError(format!("cannot read the route log {}: {e}", path.display()))
        })?;
        records.extend(r);
        skipped += s;
    }
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let s = from_log::sample(
        &records,
        a.sample,
        a.seed,
        a.rubric.as_deref().unwrap_or(DEFAULT_RUBRIC),
    );
    if s.items.is_empty() {
        return Err(UsageError(format!(
            "{} holds no logged prompts ({} requests without one): route with --log-prompts to collect them",
            names.join(", "),
            s.without_prompt
        ))
        .into());
    }
    let mut out = Vec::new();
    for item in &s.items {
        serde_json::to_writer(&mut out, item)?;
        out.push(b'\n');
    }
    match &a.out {
        Some(p) => crate::base::fsio::write_atomic(p, &out)?,
        None => out!("{}", String::from_utf8(out)?),
    }
    let cells: Vec<String> = s
        .population
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    eoutln!(
        "sampled {} of {} distinct logged prompts ({}); {} requests had no logged prompt; {} log lines skipped",
        s.items.len(),
        s.population.values().sum::<usize>(),
        cells.join(", "),
        s.without_prompt,
        skipped
    );
    Ok(crate::base::error::exit::OK)
}
