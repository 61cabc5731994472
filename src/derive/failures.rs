//! How many calls of each classifier and candidate failed, from the journal: the figures behind
//! `--fail-on-error` and the failure warnings of `run` and `report`.
//!
//! Only the latest row of each call key counts: a call made again by `run --resume
//! --retry-errors` replaces its failed attempt (the journal keeps both).

use std::collections::{BTreeMap, HashMap};

use crate::base::types::ModelId;
use crate::store::journal::{CallKind, JournalRow};

/// The share of failed calls above which `run` exits 1 after writing its reports, unless
/// `--fail-on-error RATE` says otherwise.
pub const DEFAULT_FAIL_ON_ERROR: f64 = 0.2;

/// The failed calls of one model in one role.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFailures {
    pub model: ModelId,
    pub role: CallKind,
    /// Calls in the journal (latest attempt per call).
    pub calls: usize,
    pub failed: usize,
    /// Failed calls by error kind (`auth`, `timeout`, …), most frequent first.
    pub by_kind: Vec<(String, usize)>,
}

impl ModelFailures {
    /// The failed share of the calls, 0 to 1.
    pub fn share(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.failed as f64 / self.calls as f64
        }
    }

    /// `acme/alpha (candidate): 12 of 40 calls failed (30%: auth 12)`
    pub fn describe(&self) -> String {
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        format!(
            "{} ({}): {} of {} calls failed ({:.0}%: {})",
            self.model,
            self.role.as_str(),
            self.failed,
            self.calls,
            self.share() * 100.0,
            kinds.join(", ")
        )
    }
}

/// Classifier and candidate models with at least one failed call, in model order.
pub fn failures(rows: &[JournalRow]) -> Vec<ModelFailures> {
    let mut latest: HashMap<&str, &JournalRow> = HashMap::new();
    for r in rows.iter().filter(|r| r.kind != CallKind::Judge) {
        latest.insert(&r.key, r);
    }
    // (model, role) → (calls, failed calls by error kind)
    type Tally = (usize, BTreeMap<&'static str, usize>);
    let mut per: BTreeMap<(&ModelId, CallKind), Tally> = BTreeMap::new();
    for r in latest.values() {
        let e = per.entry((&r.model, r.kind)).or_default();
        e.0 += 1;
        if !r.ok {
            let kind = r.error_kind.map_or("error", |k| k.as_str());
            *e.1.entry(kind).or_default() += 1;
        }
    }
    per.into_iter()
        .filter(|(_, (_, kinds))| !kinds.is_empty())
        .map(|((model, role), (calls, kinds))| {
            let mut by_kind: Vec<(String, usize)> =
                kinds.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
            by_kind.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            ModelFailures {
                model: model.clone(),
                role,
                calls,
                failed: by_kind.iter().map(|(_, n)| n).sum(),
                by_kind,
            }
        })
        .collect()
}

/// One warning per model with failed calls.
pub fn notes(rows: &[JournalRow]) -> Vec<String> {
    failures(rows)
        .iter()
        .map(|f| {
            format!(
                "{}: its figures cover only the calls that answered",
                f.describe()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ErrorKind;
    use crate::store::journal::tests::row;

    #[test]
    fn the_latest_attempt_of_a_call_counts() {
        let failed = |key: &str, kind| JournalRow {
            ok: false,
            error_kind: Some(kind),
            ..row(key)
        };
        let rows = vec![
            failed("a", ErrorKind::Auth),
            failed("b", ErrorKind::Auth),
            failed("c", ErrorKind::Timeout),
            row("d"),
            // "a" made again and answered.
            row("a"),
        ];
        let f = failures(&rows);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].calls, f[0].failed), (4, 2));
        assert_eq!(
            f[0].by_kind,
            vec![("auth".to_string(), 1), ("timeout".to_string(), 1)]
        );
        assert!((f[0].share() - 0.5).abs() < 1e-9);
        assert!(
            f[0].describe()
                .contains("2 of 4 calls failed (50%: auth 1, timeout 1)")
        );
        assert!(failures(&[row("x")]).is_empty());
    }
}
