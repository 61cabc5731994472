//! `routecal apply RUN_DIR [--cells …]`: write the accepted cells of a run's proposal into the
//! routes file. Only those tables change (comments, blank lines and order stay byte for byte);
//! the write is atomic and the previous file is kept as `<file>.bak`; a proposal derived from
//! another routes file than the one it would change is refused unless `--force`.

use std::path::{Path, PathBuf};

use crate::cli::ApplyArgs;
use crate::config::Config;
use crate::error::{InputError, UsageError};
use crate::prices::PriceTable;
use crate::report::{self, text};
use crate::routes_file::{self, CellLabel};
use crate::run_dir::{Lock, Manifest};
use crate::types::sha256_hex;

/// Run `apply`; the exit code.
pub fn apply(a: ApplyArgs) -> anyhow::Result<u8> {
    let manifest = Manifest::load(&a.run_dir)?;
    let cells = a.cells.as_deref().map(parse_cells).transpose()?;
    let _lock = Lock::acquire(&a.run_dir)?;

    let target = a
        .routes
        .clone()
        .unwrap_or_else(|| super::report::locate(&a.run_dir, &manifest.routes.path));
    let proposal_path = a.run_dir.join("routes.recommended.toml");
    let proposal = std::fs::read_to_string(&proposal_path).map_err(|e| {
        UsageError(format!(
            "{} has no routes.recommended.toml ({e}); run `routecal report {}` first",
            a.run_dir.display(),
            a.run_dir.display()
        ))
    })?;
    let current = std::fs::read_to_string(&target)
        .map_err(|e| InputError::new(&target, format!("cannot read the routes file: {e}")))?;

    // The proposal is relative to the file it was derived from: report.json records it (a
    // `report --routes` re-derivation changes it); older folders only have run.json's.
    let basis = report::json::basis(&a.run_dir)
        .map(|b| (b.path, b.sha256))
        .unwrap_or((manifest.routes.path.clone(), manifest.routes.sha256.clone()));
    let sha = sha256_hex(current.as_bytes());
    if sha != basis.1 && !a.force {
        return Err(UsageError(format!(
            "{} is not the routes file this proposal was derived from ({}, sha256 {}…; now {}…): \
             it changed since, or it is another file. Re-derive the proposal against it with \
             `routecal report {} --routes {}`, or pass --force to write the cells anyway",
            target.display(),
            basis.0,
            &basis.1[..basis.1.len().min(12)],
            &sha[..12],
            a.run_dir.display(),
            target.display()
        ))
        .into());
    }

    let accepted = routes_file::accept(&current, &proposal, cells.as_deref())
        .map_err(|e| anyhow::anyhow!("{}: {e:#}", proposal_path.display()))?;
    // The result must still be a routes file routecal accepts (a forced proposal may name
    // models this file does not declare).
    Config::parse(
        &target,
        accepted.text.clone(),
        PriceTable::shipped(),
        jiff::Timestamp::now(),
    )
    .map_err(|e| {
        anyhow::Error::new(e).context(format!(
            "the accepted cells would not leave {} a valid routes file; nothing was written",
            target.display()
        ))
    })?;

    let changed = accepted.text != current;
    let backup = backup_path(&target);
    let write = changed && !a.dry_run;
    if write {
        report::write_atomic(&backup, current.as_bytes())?;
        report::write_atomic(&target, accepted.text.as_bytes())?;
    }

    if a.json {
        let changes: Vec<serde_json::Value> = accepted
            .changes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "cell": c.cell.to_string(),
                    "old": {"primary": c.old.primary, "fallback": c.old.fallback},
                    "new": {"primary": c.new.primary, "fallback": c.new.fallback},
                    "via_default": c.via_default,
                })
            })
            .collect();
        let out = serde_json::json!({
            "run_id": manifest.run_id,
            "routes": super::display_path(&target),
            "accepted": accepted.accepted.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "changes": changes,
            "written": write,
            "dry_run": a.dry_run,
            "backup": write.then(|| super::display_path(&backup)),
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return super::ok();
    }
    if a.quiet {
        return super::ok();
    }
    let name = super::display_path(&target);
    if !changed {
        outln!(
            "{name} already has {}: nothing to write",
            if accepted.accepted.is_empty() {
                "every proposed route".to_string()
            } else {
                format!("the routes of {}", join(&accepted.accepted))
            }
        );
        return super::ok();
    }
    if a.dry_run {
        out!(
            "{}",
            routes_file::unified_diff(
                &current,
                &accepted.text,
                &name,
                &format!("{name} (applied)")
            )
        );
    }
    outln!(
        "{} {} from run {} to {name}; {} of {} routes change:",
        if a.dry_run { "Would apply" } else { "Applied" },
        join(&accepted.accepted),
        manifest.run_id,
        accepted.changes.len(),
        crate::types::Cell::all().count() + 1
    );
    for c in &accepted.changes {
        outln!(
            "  {}: {} → {}{}",
            c.cell,
            text::route(&c.old),
            text::route(&c.new),
            if c.via_default {
                "  (follows [default])"
            } else {
                ""
            }
        );
    }
    if write {
        outln!(
            "Previous version: {}. Review with `git diff {name}`, then commit.",
            super::display_path(&backup)
        );
    }
    super::ok()
}

/// `--cells` as typed; any unknown cell is bad input, reported with every valid form.
fn parse_cells(raw: &[String]) -> anyhow::Result<Vec<CellLabel>> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for s in raw.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match s.parse::<CellLabel>() {
            Ok(c) => out.push(c),
            Err(e) => bad.push(format!("{s:?}: {e}")),
        }
    }
    if !bad.is_empty() {
        return Err(UsageError(format!(
            "--cells: {}; a cell is `default` or TASK.PRIORITY with TASK one of {} and PRIORITY one of {}",
            bad.join("; "),
            crate::types::TaskType::expected(),
            crate::types::Priority::expected()
        ))
        .into());
    }
    if out.is_empty() {
        return Err(UsageError("--cells names no cell".into()).into());
    }
    Ok(out)
}

fn join(cells: &[CellLabel]) -> String {
    cells
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `routes.toml` → `routes.toml.bak`, beside it.
fn backup_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "routes.toml".into());
    target.with_file_name(format!("{name}.bak"))
}
