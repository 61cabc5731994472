//! Real traffic → the next re-benchmark's dataset: a stratified sample of logged prompts,
//! labelled by the classifier's own labels and graded by the judge.

use std::collections::{BTreeMap, HashSet};

use rand::seq::SliceRandom;

use crate::derive::stats;
use crate::router::RouteRecord;

/// The rubric written into sampled items; the judge scores answers against it.
pub const DEFAULT_RUBRIC: &str = "Rate how well the answer serves the user's request: correct, complete, clear, \
and in the format asked for. 10 is an answer an expert would give; 1 is wrong or useless.";

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Dataset lines (JSON objects).
    pub items: Vec<serde_json::Value>,
    /// Logged prompts per cell, after removing duplicates.
    pub population: BTreeMap<String, usize>,
    /// Records skipped because the prompt was not logged.
    pub without_prompt: usize,
}

/// Draw `n` distinct prompts, allocated to cells in proportion to their traffic (largest
/// remainder; every cell with traffic gets at least one when `n` allows), seeded.
pub fn sample(records: &[RouteRecord], n: usize, seed: u64, rubric: &str) -> Sample {
    let mut seen = HashSet::new();
    let mut by_cell: BTreeMap<String, Vec<&RouteRecord>> = BTreeMap::new();
    let mut without_prompt = 0;
    for r in records {
        if r.prompt.is_none() && r.messages.is_none() {
            without_prompt += 1;
            continue;
        }
        if seen.insert(r.prompt_sha256.clone()) {
            by_cell
                .entry(format!("{}.{}", r.task, r.priority))
                .or_default()
                .push(r);
        }
    }
    let population: BTreeMap<String, usize> =
        by_cell.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    let alloc = allocate(&population, n);
    let mut items = Vec::new();
    for (cell, recs) in &by_cell {
        let mut recs = recs.clone();
        recs.sort_by(|a, b| a.prompt_sha256.cmp(&b.prompt_sha256));
        recs.shuffle(&mut stats::rng_for(seed, cell));
        for r in recs.into_iter().take(alloc.get(cell).copied().unwrap_or(0)) {
            let mut item = serde_json::json!({
                "id": format!("log-{}", &r.prompt_sha256[..16]),
                "task_type": r.task,
                "priority": r.priority,
                "grader": {"kind": "judge", "rubric": rubric},
                "meta": {"source": "route-log", "labels": "classifier", "logged_at": r.ts, "routed_to": r.routed_to},
            });
            // A chat request keeps its turns; the item is then a chat item.
            let (key, text) = match &r.messages {
                Some(turns) => ("messages", serde_json::json!(turns)),
                None => ("prompt", serde_json::json!(r.prompt)),
            };
            item.as_object_mut()
                .expect("an object")
                .insert(key.into(), text);
            items.push(item);
        }
    }
    Sample {
        items,
        population,
        without_prompt,
    }
}

/// How many of `n` draws each cell gets: in proportion to its size, by largest remainder, at
/// least one per cell when `n` allows, never more than the cell holds.
fn allocate(population: &BTreeMap<String, usize>, n: usize) -> BTreeMap<&String, usize> {
    let total: usize = population.values().sum();
    let n = n.min(total);
    let mut alloc: BTreeMap<&String, usize> = BTreeMap::new();
    if n > 0 {
        let floor_one = n >= population.len();
        let mut rem: Vec<(&String, f64)> = Vec::new();
        let mut given = 0;
        for (k, &size) in population {
            let exact = n as f64 * size as f64 / total as f64;
            let mut a = exact.floor() as usize;
            if floor_one {
                a = a.max(1);
            }
            a = a.min(size);
            given += a;
            alloc.insert(k, a);
            rem.push((k, exact - exact.floor()));
        }
        rem.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let mut i = 0;
        while given < n && i < rem.len() * 4 {
            let k = rem[i % rem.len()].0;
            if alloc[k] < population[k] {
                *alloc.get_mut(k).expect("allocated") += 1;
                given += 1;
            }
            i += 1;
        }
        while given > n {
            // The floor of one overshot: take back from the largest allocations.
            let k = *alloc
                .iter()
                .max_by_key(|(_, a)| **a)
                .map(|(k, _)| k)
                .expect("non-empty");
            *alloc.get_mut(k).expect("allocated") -= 1;
            given -= 1;
        }
    }
    alloc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: usize, task: &str, prompt: bool) -> RouteRecord {
        RouteRecord {
            ts: "2026-11-20T10:00:00Z".into(),
            prompt_sha256: crate::base::types::sha256_hex(format!("p{i}").as_bytes()),
            task: task.into(),
            priority: "default".into(),
            cell: "default".into(),
            primary: "a/b".into(),
            routed_to: "a/b".into(),
            fallback_used: false,
            ok: true,
            error_kind: None,
            primary_error_kind: None,
            cost_usd: None,
            latency_ms: 1.0,
            classifier_cache_hit: false,
            classifier_parse_miss: false,
            classifier_error_kind: None,
            prompt: prompt.then(|| format!("p{i}")),
            messages: None,
        }
    }

    #[test]
    fn stratified_distinct_and_seeded() {
        let mut rs: Vec<RouteRecord> = (0..90).map(|i| rec(i, "code", true)).collect();
        rs.extend((90..100).map(|i| rec(i, "math", true)));
        rs.push(rec(5, "code", true)); // a repeated prompt
        rs.push(rec(200, "code", false)); // prompt not logged
        let s = sample(&rs, 20, 7, DEFAULT_RUBRIC);
        assert_eq!(s.items.len(), 20);
        assert_eq!(s.without_prompt, 1);
        assert_eq!(s.population["code.default"], 90);
        let math = s.items.iter().filter(|i| i["task_type"] == "math").count();
        assert_eq!(math, 2, "10% of traffic → 2 of 20");
        let ids: HashSet<&str> = s.items.iter().map(|i| i["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 20, "distinct prompts");
        assert_eq!(
            sample(&rs, 20, 7, DEFAULT_RUBRIC),
            s,
            "same seed, same sample"
        );
        assert_ne!(sample(&rs, 20, 8, DEFAULT_RUBRIC).items, s.items);
        // A rare cell still gets one item.
        let mut rare = rs.clone();
        rare.push(rec(300, "creative", true));
        let s = sample(&rare, 20, 7, DEFAULT_RUBRIC);
        assert_eq!(s.items.len(), 20);
        assert_eq!(
            s.items
                .iter()
                .filter(|i| i["task_type"] == "creative")
                .count(),
            1
        );
    }
}
