//! System prompts: the suite-wide `[run] system` and a model's own `[models."…"] system`.
//!
//! A model is sent its own system prompt when it sets one, else the suite's; `system = ""` on a
//! model sends it none (for a model that refuses system turns). A dataset item that opens with
//! its own system turn keeps it: see [`crate::dataset::with_system`].

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::base::types::ModelId;

use super::EndpointKind;
use super::locate::Check;
use super::raw::{RawEndpoint, RawModel, RawRun};

/// The system prompts of a routes file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemPrompts {
    /// `[run] system`: sent to every model that sets none of its own.
    pub default: Option<Arc<str>>,
    /// `[models."…"] system`: `Some(text)` replaces the default, `None` (written `""`) sends none.
    pub per_model: BTreeMap<ModelId, Option<Arc<str>>>,
}

impl SystemPrompts {
    /// The system prompt `model` is sent, if any.
    pub fn for_model(&self, model: &ModelId) -> Option<&Arc<str>> {
        match self.per_model.get(model) {
            Some(own) => own.as_ref(),
            None => self.default.as_ref(),
        }
    }
}

/// Read `[run] system` and every model's `system`. Errors name the file, line and key: a blank
/// suite prompt, a model prompt of only whitespace, and a system prompt for a model on a
/// `promptster` endpoint (its `/prompts/test` takes one prompt and no system prompt).
pub(super) fn build(
    run: &RawRun,
    endpoints: &BTreeMap<String, RawEndpoint>,
    models: &BTreeMap<String, RawModel>,
    ck: &mut Check,
) -> SystemPrompts {
    let default = run.system.as_deref().and_then(|s| {
        if s.trim().is_empty() {
            ck.err(
                &["run", "system"],
                "must not be blank (leave it out to send no system prompt)",
            );
            return None;
        }
        Some(Arc::from(s))
    });
    let mut per_model = BTreeMap::new();
    for (name, m) in models {
        let (Some(s), Ok(id)) = (m.system.as_deref(), ModelId::parse(name)) else {
            continue;
        };
        if s.is_empty() {
            per_model.insert(id, None);
        } else if s.trim().is_empty() {
            ck.err(
                &["models", name, "system"],
                "must not be blank (write \"\" to send this model no system prompt)",
            );
        } else {
            per_model.insert(id, Some(Arc::from(s)));
        }
    }
    let prompts = SystemPrompts { default, per_model };
    for (name, m) in models {
        let promptster = endpoints
            .get(&m.endpoint)
            .is_some_and(|e| e.kind == EndpointKind::Promptster);
        let Ok(id) = ModelId::parse(name) else {
            continue;
        };
        if promptster && prompts.for_model(&id).is_some() {
            let (keys, hint) = match m.system {
                Some(_) => (vec!["models", name.as_str(), "system"], ""),
                None => (vec!["run", "system"], ": give the model system = \"\""),
            };
            ck.err(
                &keys,
                format!("{name} is on a promptster endpoint, which takes no system prompt{hint}"),
            );
        }
    }
    prompts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_prompt_wins_and_an_empty_one_sends_none() {
        let a = ModelId::parse("a/x").unwrap();
        let b = ModelId::parse("b/y").unwrap();
        let c = ModelId::parse("c/z").unwrap();
        let s = SystemPrompts {
            default: Some(Arc::from("suite")),
            per_model: BTreeMap::from([(a.clone(), Some(Arc::from("own"))), (b.clone(), None)]),
        };
        assert_eq!(s.for_model(&a).map(|s| &**s), Some("own"));
        assert_eq!(s.for_model(&b), None);
        assert_eq!(s.for_model(&c).map(|s| &**s), Some("suite"));
        assert_eq!(SystemPrompts::default().for_model(&c), None);
    }
}
