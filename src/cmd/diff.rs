//! `routecal diff RUN_DIR`: the proposed change to the routes file, for people and CI gates.
//! Read-only: it prints what `run` or `report` wrote, so it needs no lock.

use crate::base::error::exit;
use crate::cli::DiffArgs;
use crate::store::run_dir::{RunDir, RunFile};

/// Run `diff`; the exit code (3 with `--exit-code` when the table would change).
pub fn diff(a: DiffArgs) -> anyhow::Result<u8> {
    let dir = RunDir::new(&a.run_dir);
    if !dir.routes_diff().is_file() && !dir.manifest().is_file() {
        return Err(crate::base::error::UsageError(format!(
            "{} is not a run directory (no {}): give a folder that `routecal run` made, such as reports/<run-id>",
            a.run_dir.display(),
            RunFile::Manifest.name()
        ))
        .into());
    }
    let path = dir.routes_diff();
    let diff = std::fs::read_to_string(&path).map_err(|e| {
        crate::base::error::UsageError(format!(
            "{} has no {} ({e}); run `routecal report {}` first",
            a.run_dir.display(),
            RunFile::RoutesDiff.name(),
            a.run_dir.display()
        ))
    })?;
    let changed = !diff.is_empty();
    if a.json {
        // The changed cells come from report.json (absent in folders made before it existed).
        let out = crate::report::json::DiffOutput {
            run_dir: super::display_path(&a.run_dir),
            changed,
            changes: crate::report::json::Report::read(&a.run_dir).map(|r| r.changes),
            diff,
        };
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else if !a.quiet {
        out!("{diff}");
    }
    Ok(if a.exit_code && changed {
        exit::TABLE_CHANGED
    } else {
        exit::OK
    })
}
