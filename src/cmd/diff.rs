//! `routecal diff RUN_DIR`: the proposed change to the routes file, for people and CI gates.

use crate::cli::DiffArgs;
use crate::error::exit;

pub fn diff(a: DiffArgs) -> anyhow::Result<u8> {
    let path = a.run_dir.join("routes.diff");
    let diff = std::fs::read_to_string(&path).map_err(|e| {
        crate::error::UsageError(format!(
            "{} has no routes.diff ({e}); run `routecal report {}` first",
            a.run_dir.display(),
            a.run_dir.display()
        ))
    })?;
    print!("{diff}");
    Ok(if a.exit_code && !diff.is_empty() {
        exit::TABLE_CHANGED
    } else {
        exit::OK
    })
}
