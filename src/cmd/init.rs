//! `routecal init [DIR]`: start a router repository: a commented `routes.toml`, a small labelled
//! dataset to replace with your own prompts, and the weekly GitHub Actions workflow.
//!
//! Nothing is ever overwritten: when any of the files exists, `init` names them and writes
//! nothing (exit 2).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::base::error::UsageError;
use crate::cli::InitArgs;

/// The files `init` writes: path relative to DIR, content.
pub const FILES: [(&str, &str); 3] = [
    ("routes.toml", include_str!("init/routes.toml")),
    (
        "datasets/traffic/dataset.jsonl",
        include_str!("init/dataset.jsonl"),
    ),
    (
        ".github/workflows/routecal-weekly.yml",
        include_str!("../../.github/workflows/routecal-weekly.yml"),
    ),
];

pub fn init(a: InitArgs) -> anyhow::Result<u8> {
    let dir = a.dir.unwrap_or_else(|| PathBuf::from("."));
    if dir.exists() && !dir.is_dir() {
        return Err(UsageError(format!("{} is not a folder", dir.display())).into());
    }
    let existing: Vec<String> = FILES
        .iter()
        .map(|(rel, _)| dir.join(rel))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(UsageError(format!(
            "{} already exists: routecal init never overwrites a file; nothing was written (move it away, or init another folder)",
            existing.join(", ")
        ))
        .into());
    }
    let mut written: Vec<PathBuf> = Vec::new();
    for (rel, content) in FILES {
        let path = dir.join(rel);
        if let Err(e) = write_new(&path, content) {
            // Nothing half-written: take back what this call wrote.
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
            return Err(anyhow::anyhow!("cannot write {}: {e}", path.display()));
        }
        written.push(path);
    }
    print_next_steps(&dir);
    super::ok()
}

/// Create `path` (and its folders) with `content`; fails if it exists, even if it appeared
/// since the check.
fn write_new(path: &Path, content: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)?;
    let result = f.write_all(content.as_bytes()).and_then(|()| f.sync_all());
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn print_next_steps(dir: &Path) {
    for (rel, _) in FILES {
        outln!("wrote {}", dir.join(rel).display());
    }
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", dir.display())
    };
    outln!(
        "\nNext:\n  {cd}routecal validate --routes routes.toml --dataset datasets/traffic/dataset.jsonl\n  \
         routecal run --routes routes.toml --dataset datasets/traffic/dataset.jsonl --dry-run   # the plan and its cost; no key needed\n  \
         PROMPTSTER_API_KEY=… routecal run --routes routes.toml --dataset datasets/traffic/dataset.jsonl --max-spend 5\n\
         Replace the example items of datasets/traffic/dataset.jsonl with your own labelled prompts (20 or more per task type),\n\
         and read the comments at the top of .github/workflows/routecal-weekly.yml before pushing it."
    );
}
