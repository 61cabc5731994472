//! `routecal apply RUN_DIR [--cells …]`: write the accepted cells of a run's proposal into the
//! routes file. Only those tables change (comments, blank lines and order stay byte for byte);
//! the write is atomic and the previous file is kept as `<file>.bak`; a proposal derived from
//! another routes file than the one it would change is refused unless `--force`.

use crate::report::json::{AppliedChange, ApplyOutput, Change, Pinned};
use std::path::{Path, PathBuf};

use crate::base::error::{InputError, UsageError};
use crate::base::types::sha256_hex;
use crate::cli::ApplyArgs;
use crate::config::Config;
use crate::config::prices::PriceTable;
use crate::config::routes_file::{self, CellLabel};
use crate::report::{self, text};
use crate::store::lock::Lock;
use crate::store::manifest::{Manifest, Status};
use crate::store::run_dir::{RunDir, RunFile};

/// Run `apply`; the exit code.
pub fn apply(a: ApplyArgs) -> anyhow::Result<u8> {
    // RUN_DIR may be a named derivation inside a run (`report RUN --routes FILE` writes one).
    let (run, from) = super::report::proposal_dirs(&a.run_dir);
    let manifest = Manifest::load(&run)?;
    if manifest.status != Status::Complete && !a.force {
        return Err(UsageError(format!(
            "{} is {}: not every planned call was made, so its proposal rests on part of the evidence; finish it with `routecal run --resume {0}` and apply that, or pass --force to apply it anyway",
            run.display(),
            manifest.status.as_str()
        ))
        .into());
    }
    let cells = a.cells.as_deref().map(parse_cells).transpose()?;
    let _lock = Lock::acquire(&run)?;

    let target = a
        .routes
        .clone()
        .unwrap_or_else(|| super::report::locate(&run, &manifest.routes.path));
    let proposal_path = RunDir::new(&from).recommended_routes();
    let proposal = std::fs::read_to_string(&proposal_path).map_err(|e| {
        UsageError(format!(
            "{} has no {} ({e}); run `routecal report {}` first",
            from.display(),
            RunFile::RecommendedRoutes.name(),
            run.display()
        ))
    })?;
    let current = std::fs::read_to_string(&target)
        .map_err(|e| InputError::new(&target, format!("cannot read the routes file: {e}")))?;

    // The proposal is relative to the file it was derived from: report.json records it (a
    // `report --routes` re-derivation changes it); older folders only have run.json's.
    let basis = report::json::basis(&from)
        .map(|b| (b.path, b.sha256))
        .unwrap_or((manifest.routes.path.clone(), manifest.routes.sha256.clone()));
    let sha = sha256_hex(current.as_bytes());
    if sha != basis.1 && !a.force {
        return Err(UsageError(format!(
            "{} is not the routes file this proposal was derived from ({}, sha256 {}…; now {}…): \
             it changed since, or it is another file. Re-derive the proposal against it with \
             `routecal report {} --routes {}` and apply the derivation it writes \
             ({}/derived-…), or pass --force to write the cells anyway",
            target.display(),
            basis.0,
            &basis.1[..basis.1.len().min(12)],
            &sha[..12],
            run.display(),
            target.display(),
            run.display()
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
        crate::base::fsio::write_atomic(&backup, current.as_bytes())?;
        crate::base::fsio::write_atomic(&target, accepted.text.as_bytes())?;
    }

    let out = Outcome {
        run_id: &manifest.run_id,
        source: if from == run {
            format!("run {}", manifest.run_id)
        } else {
            format!(
                "run {} ({})",
                manifest.run_id,
                from.file_name().unwrap_or_default().to_string_lossy()
            )
        },
        target: &target,
        current: &current,
        accepted: &accepted,
        backup: write.then_some(backup.as_path()),
    };
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&out.json(a.dry_run))?);
    } else if !a.quiet {
        out.print(a.dry_run);
    }
    super::ok()
}

/// What `apply` did (or would do), for its output.
struct Outcome<'a> {
    run_id: &'a str,
    /// The run, and the derivation inside it when the proposal came from one.
    source: String,
    target: &'a Path,
    current: &'a str,
    accepted: &'a routes_file::Accepted,
    /// Where the previous file was kept, when the file was written.
    backup: Option<&'a Path>,
}

impl Outcome<'_> {
    /// The `--json` object.
    fn json(&self, dry_run: bool) -> ApplyOutput {
        let acc = self.accepted;
        ApplyOutput {
            run_id: self.run_id.to_string(),
            routes: super::display_path(self.target),
            accepted: acc.accepted.iter().map(|c| c.to_string()).collect(),
            changes: acc
                .changes
                .iter()
                .map(|c| AppliedChange {
                    change: Change {
                        cell: c.cell.to_string(),
                        old: (&c.old).into(),
                        new: (&c.new).into(),
                    },
                    via_default: c.via_default,
                })
                .collect(),
            pinned: acc
                .pins
                .iter()
                .map(|p| Pinned {
                    cell: p.cell.to_string(),
                    route: (&p.route).into(),
                    reason: p.reason.as_str().into(),
                })
                .collect(),
            written: self.backup.is_some(),
            dry_run,
            backup: self.backup.map(super::display_path),
        }
    }

    /// The text output: every route that changes, the pinned cells and why.
    fn print(&self, dry_run: bool) {
        let acc = self.accepted;
        let name = super::display_path(self.target);
        if acc.text == self.current {
            outln!(
                "{name} already has {}: nothing to write",
                if acc.accepted.is_empty() {
                    "every proposed route".to_string()
                } else {
                    format!("the routes of {}", join(&acc.accepted))
                }
            );
            return;
        }
        if dry_run {
            let applied = format!("{name} (applied)");
            out!(
                "{}",
                routes_file::unified_diff(self.current, &acc.text, &name, &applied)
            );
        }
        outln!(
            "{} {} from {} to {name}; {} of {} routes change:",
            if dry_run { "Would apply" } else { "Applied" },
            join(&acc.accepted),
            self.source,
            acc.changes.len(),
            crate::base::types::Cell::all().count() + 1
        );
        for c in &acc.changes {
            let how = if c.via_default {
                "  (follows [default], as proposed)"
            } else {
                ""
            };
            outln!(
                "  {}: {} → {}{how}",
                c.cell,
                text::route(&c.old),
                text::route(&c.new)
            );
        }
        if !acc.pins.is_empty() {
            outln!(
                "{} explicitly in {name}, so that they end where the proposal says:",
                if dry_run { "Would pin" } else { "Pinned" }
            );
            for p in &acc.pins {
                let (route, why) = (text::route(&p.route), p.reason.describe());
                outln!("  {}: {route} ({why})", p.cell);
            }
        }
        if let Some(b) = self.backup {
            outln!(
                "Previous version: {}. Review with `git diff {name}`, then commit.",
                super::display_path(b)
            );
        }
    }
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
            crate::base::types::TaskType::expected(),
            crate::base::types::Priority::expected()
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
