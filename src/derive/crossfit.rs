//! Cross-fitting: out-of-sample figures for tables fitted on the run's own items.
//!
//! The recommended table is chosen on the same items its simulated figures are computed on, so
//! those figures are optimistic (a model that was lucky on these items is both chosen and scored
//! on its luck). Cross-fitting removes that: the items are split into `k` folds, stratified by
//! task type and seeded; for each fold the policy is refitted on the other folds, and the fold's
//! items are routed by that table. Every item is thus scored by a table that never saw it
//! (k-fold cross-validation of the whole fitting procedure, as in Hastie, Tibshirani & Friedman,
//! *The Elements of Statistical Learning*, §7.10). The same folds give the gain-ordered cell
//! router its out-of-fold ordering.

use std::collections::HashMap;

use rand::seq::SliceRandom;

use crate::base::types::TaskType;
use crate::config::{Config, RouteTable};
use crate::dataset::Dataset;
use crate::derive::analyze::Analysis;
use crate::derive::policy::{self, Observations};
use crate::derive::stats;

/// The fold of every item: items of each task type shuffled with the seed and dealt in turn.
pub fn folds(ds: &Dataset, k: usize, seed: u64) -> HashMap<String, usize> {
    let mut rng = stats::rng_for(seed, "crossfit");
    let mut out = HashMap::new();
    for t in TaskType::ALL {
        let mut ids: Vec<&str> = ds
            .items
            .iter()
            .filter(|i| i.task == *t)
            .map(|i| i.id.as_str())
            .collect();
        ids.shuffle(&mut rng);
        for (n, id) in ids.into_iter().enumerate() {
            out.insert(id.to_string(), n % k);
        }
    }
    out
}

/// The policy of a refit: the same knobs, with `min_samples` scaled to the (k − 1)/k of the items
/// a refit sees (rounded up), so that a task type the full fit may decide is not kept in every
/// refit for want of the items held out.
fn refit_config(cfg: &Config, k: usize) -> Config {
    let mut c = cfg.clone();
    c.policy.min_samples = (cfg.policy.min_samples * (k - 1)).div_ceil(k);
    c
}

/// The policy refitted without each fold.
pub struct CrossFit {
    /// Number of folds.
    pub k: usize,
    fold_of: HashMap<String, usize>,
    /// `tables[f]` was fitted on every fold but `f`.
    tables: Vec<RouteTable>,
}

impl CrossFit {
    /// Fit the policy `k` times (`[policy] crossfit_folds`); `None` when cross-fitting is off
    /// or the dataset has fewer items than folds.
    pub fn fit(cfg: &Config, a: &Analysis, ds: &Dataset) -> Option<CrossFit> {
        let items: Vec<(String, TaskType)> =
            ds.items.iter().map(|i| (i.id.clone(), i.task)).collect();
        CrossFit::fit_pooled(cfg, a, &items, ds)
    }

    /// [`CrossFit::fit`] of decisions made on pooled evidence ([`crate::derive::history`]):
    /// the folds are this run's items (`ds`), and each refit sees the pooled `items` outside
    /// the fold — the earlier runs' items always, an item of the fold not even through its
    /// earlier repeats (they are merged into it).
    pub fn fit_pooled(
        cfg: &Config,
        pooled: &Analysis,
        items: &[(String, TaskType)],
        ds: &Dataset,
    ) -> Option<CrossFit> {
        let k = cfg.policy.crossfit_folds;
        if k < 2 || ds.items.len() < k {
            return None;
        }
        let fold_of = folds(ds, k, cfg.policy.seed);
        let refit = refit_config(cfg, k);
        let tables = (0..k)
            .map(|f| {
                let train = items
                    .iter()
                    .filter(|(id, _)| fold_of.get(id) != Some(&f))
                    .map(|(id, t)| (id.as_str(), *t));
                policy::recommend(&refit, &Observations::over(pooled, train)).table
            })
            .collect();
        Some(CrossFit { k, fold_of, tables })
    }

    /// The fold an item is held out in.
    pub fn fold(&self, item: &str) -> Option<usize> {
        self.fold_of.get(item).copied()
    }

    /// The table that routes `item`: fitted without the item's fold.
    pub fn table_for(&self, item: &str) -> Option<&RouteTable> {
        self.tables.get(self.fold(item)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_balanced_and_seeded() {
        let lines: String = (0..23)
            .map(|i| {
                let task = if i < 15 { "math" } else { "code" };
                format!(
                    "{{\"id\":\"i{i}\",\"prompt\":\"p{i}\",\"task_type\":\"{task}\",\"priority\":\"default\",\"grader\":{{\"kind\":\"exact\",\"expected\":\"x\"}}}}\n"
                )
            })
            .collect();
        let ds = Dataset::parse(std::path::Path::new("d.jsonl"), lines.as_bytes()).unwrap();
        let f = folds(&ds, 5, 7);
        assert_eq!(f.len(), 23);
        for t in ["math", "code"] {
            let mut counts = [0usize; 5];
            for i in ds.items.iter().filter(|i| i.task.as_str() == t) {
                counts[f[&i.id]] += 1;
            }
            let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(hi - lo <= 1, "{t}: {counts:?}");
        }
        assert_eq!(f, folds(&ds, 5, 7));
        assert_ne!(f, folds(&ds, 5, 8));
    }
}
