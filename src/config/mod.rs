//! `routes.toml`: the one human-edited file the router and the benchmark share.
//!
//! Parsing keeps the source so that every error, including the cross-field ones found after
//! deserialisation, names the file, the line and the dotted key. The file is read as written
//! ([`raw`]), then each section is built and checked by its own module ([`endpoints`],
//! [`models`], [`calls`] for the classifier, judge and run defaults, [`table`], [`policy`]), all
//! reporting into one [`locate::Check`].

mod calls;
mod endpoints;
mod locate;
mod models;
mod policy;
pub mod prices;
mod raw;
pub(crate) mod routes_file;
pub(crate) mod system;
mod table;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::base::error::{InputError, InputErrors};
use crate::base::types::{ModelId, sha256_hex};
use crate::config::prices::PriceTable;

pub use calls::{
    CallDefaults, ClassifierConfig, DEFAULT_CLASSIFIER_PROMPT, DEFAULT_FUTILITY, DEFAULT_LOOKS,
    JudgeConfig, MAX_LOOKS,
};
pub use endpoints::{
    Backoff, DEFAULT_ANTHROPIC_VERSION, DEFAULT_ITEM_CORRELATION, DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REASONING_ROOM_TOKENS, Endpoint, EndpointKind, ProviderKey,
};
use locate::{Check, Locator, first_line, line_of_byte, scan_for_literal_keys};
use models::Pricing;
pub use models::{LatencyModel, Model, SimProfile};
pub use policy::PolicyConfig;
use raw::RawFile;
pub use table::{Route, RouteTable};

/// Something worth telling the user that does not stop a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub line: Option<usize>,
    pub message: String,
}

/// A validated routes file.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub source: String,
    pub sha256: String,
    pub classifier: ClassifierConfig,
    pub judge: Option<JudgeConfig>,
    pub defaults: CallDefaults,
    pub endpoints: BTreeMap<String, Endpoint>,
    pub models: BTreeMap<ModelId, Model>,
    pub table: RouteTable,
    pub policy: PolicyConfig,
    /// `[run] system` and the models' own system prompts.
    pub system: system::SystemPrompts,
    pub warnings: Vec<Warning>,
}

impl Config {
    /// The declared model `id` (panics when it is not declared: ids come from this config).
    pub fn model(&self, id: &ModelId) -> &Model {
        &self.models[id]
    }

    /// The endpoint the declared model `id` is reached through.
    pub fn endpoint_of(&self, id: &ModelId) -> &Endpoint {
        &self.endpoints[&self.models[id].endpoint]
    }

    /// Models the benchmark asks every item, in a stable order.
    pub fn candidates(&self) -> impl Iterator<Item = &Model> {
        self.models.values().filter(|m| m.candidate)
    }

    /// The classifier followed by its alternatives.
    pub fn classifiers(&self) -> Vec<ModelId> {
        let mut v = vec![self.classifier.model.clone()];
        v.extend(self.classifier.alternatives.iter().cloned());
        v
    }

    /// Load and validate; `prices` resolves model prices at time `at`.
    pub fn load(path: &Path, prices: &PriceTable, at: jiff::Timestamp) -> anyhow::Result<Config> {
        let bytes = std::fs::read(path)
            .map_err(|e| InputError::new(path, format!("cannot read the routes file: {e}")))?;
        let source = String::from_utf8(bytes).map_err(|e| {
            let line = line_of_byte(
                &String::from_utf8_lossy(e.as_bytes()),
                e.utf8_error().valid_up_to(),
            );
            InputError::new(path, "the routes file is not valid UTF-8").at_line(line)
        })?;
        Ok(Config::parse(path, source, prices, at)?)
    }

    /// Parse and check `source` (the text of the routes file at `path`): every error is
    /// collected with its file, line and dotted key, and all are returned together.
    pub fn parse(
        path: &Path,
        source: String,
        prices: &PriceTable,
        at: jiff::Timestamp,
    ) -> Result<Config, InputErrors> {
        let doc = toml_edit::Document::parse(source.as_str()).map_err(|e| {
            let line = e.span().map(|s| line_of_byte(&source, s.start));
            let mut err =
                InputError::new(path, format!("not valid TOML: {}", first_line(e.message())))
                    .line_opt(line);
            err.field = line.and_then(|l| locate::key_on_line(&source, l));
            InputErrors(vec![err])
        })?;
        let loc = Locator {
            doc: &doc,
            source: &source,
            path,
        };
        let raw: RawFile = toml::from_str(&source).map_err(|e| {
            // A span over the whole document (a missing top-level table) points at no line.
            let offset = e
                .span()
                .filter(|s| !(s.start == 0 && (s.end == 0 || s.end >= source.trim_end().len())))
                .map(|s| s.start);
            let field = offset.and_then(|o| loc.key_at(o));
            let mut err = InputError::new(path, locate::in_plain_words(first_line(e.message())))
                .line_opt(offset.map(|o| line_of_byte(&source, o)));
            err.field = field;
            InputErrors(vec![err])
        })?;
        let mut ck = Check {
            loc: &loc,
            errs: Vec::new(),
            warnings: Vec::new(),
        };
        scan_for_literal_keys(&doc, &loc, &mut ck.errs);
        let cfg = build(raw, &Pricing { table: prices, at }, &mut ck);
        if ck.errs.is_empty() {
            let mut cfg = cfg.expect("a config when no error was found");
            cfg.sha256 = sha256_hex(source.as_bytes());
            cfg.source = source;
            Ok(cfg)
        } else {
            Err(InputErrors(ck.errs))
        }
    }
}

/// Every section built and checked in file order ([endpoints], [models], [classifier],
/// [judge], the table, [run], [policy]); errors are collected, not returned early, so a file
/// with several mistakes lists them all. `None` when a section the config cannot do without
/// (the classifier's model, `[default]`) is invalid.
fn build(raw: RawFile, pricing: &Pricing, ck: &mut Check) -> Option<Config> {
    let system = system::build(&raw.run, &raw.endpoints, &raw.models, ck);
    let endpoints = endpoints::build(raw.endpoints, ck);
    let models = models::build(raw.models, &endpoints, pricing, ck);
    let classifier = calls::classifier(raw.classifier, &models, ck);
    let judge = calls::judge(raw.judge, &models, ck);
    let table = table::build(&raw.default, &raw.routes, &models, ck);
    let defaults = calls::defaults(&raw.run, ck);
    policy::check(&raw.policy, ck);
    Some(Config {
        path: ck.loc.path.to_path_buf(),
        source: String::new(),
        sha256: String::new(),
        classifier: classifier?,
        judge,
        defaults,
        endpoints,
        models,
        table: table?,
        policy: raw.policy,
        system,
        warnings: std::mem::take(&mut ck.warnings),
    })
}
