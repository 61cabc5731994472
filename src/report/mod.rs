//! Reports: each file is a pure function of the derived run (one [`Exporter`] per format), and
//! one writer puts them on disk atomically (temp file, then rename).

mod charts;
pub mod compare;
mod csv;
mod history;
pub mod html;
pub mod json;
mod markdown;
pub mod sections;
pub mod text;

use std::io::Write;
use std::path::Path;

use crate::derive::Derived;

pub use self::csv::frame_to_csv;

/// One report file.
pub trait Exporter: Send + Sync {
    fn file_name(&self) -> &'static str;
    fn serialize(&self, d: &Derived) -> anyhow::Result<Vec<u8>>;
}

/// Every report of a run directory, in the order they are written.
pub fn exporters() -> Vec<Box<dyn Exporter>> {
    let mut v: Vec<Box<dyn Exporter>> = csv::exporters();
    v.push(Box::new(markdown::Markdown));
    v.push(Box::new(html::Html));
    v.push(Box::new(json::ReportJson));
    v.push(Box::new(RecommendedToml));
    v.push(Box::new(RoutesDiff));
    v
}

struct RecommendedToml;

impl Exporter for RecommendedToml {
    fn file_name(&self) -> &'static str {
        "routes.recommended.toml"
    }
    fn serialize(&self, d: &Derived) -> anyhow::Result<Vec<u8>> {
        Ok(d.recommended_toml.clone().into_bytes())
    }
}

struct RoutesDiff;

impl Exporter for RoutesDiff {
    fn file_name(&self) -> &'static str {
        "routes.diff"
    }
    fn serialize(&self, d: &Derived) -> anyhow::Result<Vec<u8>> {
        Ok(d.diff.clone().into_bytes())
    }
}

/// Serialize every report first, then write them all; a failure leaves no half-written file.
pub fn write_all(dir: &Path, d: &Derived) -> anyhow::Result<Vec<String>> {
    use rayon::prelude::*;
    // Every file is serialized (in parallel) before any is written, so a failure leaves the
    // previous reports whole.
    let files = exporters()
        .par_iter()
        .map(|e| Ok((e.file_name(), e.serialize(d)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (name, bytes) in &files {
        write_atomic(&dir.join(name), bytes)?;
    }
    Ok(files.into_iter().map(|(n, _)| n.to_string()).collect())
}

/// Write to a temporary file in the same folder, sync, then rename over the target: a reader
/// sees the old file or the new one, never half of one. The new file keeps the permissions of
/// the one it replaces (a new file gets the usual ones, umask applied), and a symbolic link is
/// followed so that the file it points to is replaced, not the link.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let resolved;
    let path = if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        resolved = std::fs::canonicalize(path)
            .map_err(|e| anyhow::anyhow!("cannot follow the link {}: {e}", path.display()))?;
        resolved.as_path()
    } else {
        path
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let existing = std::fs::metadata(path).ok().map(|m| m.permissions());
    let prefix = format!(
        ".{}.",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out")
    );
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // What `File::create` gives (the umask applies), instead of a temporary file's 0600.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| anyhow::anyhow!("cannot create a temporary file in {}: {e}", dir.display()))?;
    if let Some(p) = existing {
        tmp.as_file().set_permissions(p)?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    // The rename itself is durable once the folder is synced; best effort, as not every
    // platform can open a folder.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_whole_files_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("routes.toml");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("routes.toml")]);
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_keeps_permissions_and_writes_through_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("routes.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // A new file gets what `File::create` gives under the same umask, not a temporary
        // file's 0600.
        let fresh = dir.path().join("report.md");
        write_atomic(&fresh, b"x").unwrap();
        let created = dir.path().join("created.md");
        std::fs::File::create(&created).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), mode(&created));
    }
}
