//! Fixtures shared by the derive wing's unit tests: a routes file of replayed models and a
//! suite of math items, loaded the way a run loads them.

use crate::config::Config;
use crate::dataset::Dataset;

/// A routes file declaring `models` (each on a replay endpoint, frontier tier, $1 per million
/// tokens) followed by `tables` (TOML text: `[default]`, `[routes.…]`), loaded from a temporary
/// folder that lives as long as the returned guard.
pub(crate) fn replayed_models(models: &[&str], tables: &str) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let mut toml = String::from(
        "[classifier]\nmodel = \"builtin/keywords\"\n[endpoints.rec]\nkind = \"replay\"\npath = \"rec.jsonl\"\n[endpoints.kw]\nkind = \"keywords\"\n[models.\"builtin/keywords\"]\nendpoint = \"kw\"\ntier = \"budget\"\n",
    );
    for m in models {
        toml.push_str(&format!(
            "[models.\"{m}\"]\nendpoint = \"rec\"\ntier = \"frontier\"\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0\n"
        ));
    }
    toml.push_str(tables);
    std::fs::write(dir.path().join("routes.toml"), toml).unwrap();
    std::fs::write(dir.path().join("rec.jsonl"), "").unwrap();
    let cfg = Config::load(
        &dir.path().join("routes.toml"),
        crate::config::prices::PriceTable::shipped(),
        jiff::Timestamp::now(),
    )
    .unwrap();
    (dir, cfg)
}

/// `n` math items of priority `default` graded `exact`, ids `i0`, `i1`, ….
pub(crate) fn math_items(n: usize) -> Dataset {
    let lines: String = (0..n)
        .map(|i| format!("{{\"id\":\"i{i}\",\"prompt\":\"p{i}\",\"task_type\":\"math\",\"priority\":\"default\",\"grader\":{{\"kind\":\"exact\",\"expected\":\"x\"}}}}\n"))
        .collect();
    Dataset::parse(std::path::Path::new("d.jsonl"), lines.as_bytes()).unwrap()
}
