//! Reports: each file is a pure function of the derived run (one [`Exporter`] per format), and
//! one writer puts them on disk atomically (temp file, then rename).
//!
//! The public surface is what an embedder needs: [`write_all`] (every report of a derived run),
//! [`exporters`], [`json`] (the typed machine output) and [`text`] (number formats, moving to the
//! foundations). Section tables (`sections`), charts, the per-format writers and the comparison
//! of two runs are the crate's own.

mod adaptive;

mod charts;
pub(crate) mod compare;
mod csv;
mod figures;
pub(crate) mod history;
pub(crate) mod html;
pub mod json;
mod markdown;
pub(crate) mod sections;
pub(crate) mod text;

use std::path::Path;

use crate::base::fsio::write_atomic;
use crate::derive::Derived;
use crate::store::run_dir::RunFile;

pub use self::csv::frame_to_csv;

/// One report file.
pub trait Exporter: Send + Sync {
    /// The file's name in the run directory (`report.md`).
    fn file_name(&self) -> &'static str;
    /// The file's bytes for the derived run; an error leaves nothing written.
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
        RunFile::RecommendedRoutes.name()
    }
    fn serialize(&self, d: &Derived) -> anyhow::Result<Vec<u8>> {
        Ok(d.recommended_toml.clone().into_bytes())
    }
}

struct RoutesDiff;

impl Exporter for RoutesDiff {
    fn file_name(&self) -> &'static str {
        RunFile::RoutesDiff.name()
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
