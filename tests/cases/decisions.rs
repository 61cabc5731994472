//! Decisions that cannot mislead, end to end: the shipped roster on a `sim` endpoint with known
//! pass rates (shared item difficulty), about 60 items per task type, the current primaries the
//! truly best ones. A cheaper model 10 points worse must not be adopted, every kept cell must
//! say whether it was decided or undecided (with what would settle it), and the report must
//! give the recommended table's figures out of sample.

use std::path::Path;

use crate::common::*;

/// The roster: model, pass rate, price per million tokens (input = output).
const ROSTER: [(&str, f64, f64); 9] = [
    ("anthropic/claude-opus-4-6", 0.86, 15.0),
    ("openai/gpt-5.2", 0.85, 10.0),
    ("google/gemini-3.1-pro-preview", 0.84, 7.0),
    ("deepseek/deepseek-reasoner", 0.82, 1.5),
    ("google/gemini-3-flash-preview", 0.78, 0.8),
    ("deepseek/deepseek-chat", 0.76, 0.4),
    ("cerebras/gpt-oss-120b", 0.74, 0.35),
    ("groq/llama-3.3-70b", 0.70, 0.6),
    ("perplexity/sonar", 0.68, 1.0),
];

fn write_suite(dir: &Path, seed: u64, per_task: usize) {
    let mut t = format!(
        "[classifier]\nmodel = \"builtin/keywords\"\n\n[endpoints.kw]\nkind = \"keywords\"\n\n[endpoints.fake]\nkind = \"sim\"\nseed = {seed}\ntime_scale = 0\nmax_concurrency = 64\n\n[models.\"builtin/keywords\"]\nendpoint = \"kw\"\ntier = \"budget\"\n\n"
    );
    for (m, q, price) in ROSTER {
        t.push_str(&format!(
            "[models.\"{m}\"]\nendpoint = \"fake\"\ntier = \"frontier\"\ninput_per_mtok = {price}\noutput_per_mtok = {price}\nsim = {{ p50_ms = 800, p95_ms = 2000, error_rate = 0.0, rate_limited_rate = 0.0, quality = {q}, output_tokens = 200 }}\n\n"
        ));
    }
    t.push_str(
        "[default]\nprimary = \"anthropic/claude-opus-4-6\"\nfallback = \"openai/gpt-5.2\"\n\n",
    );
    for task in [
        "code",
        "math",
        "extraction",
        "creative",
        "factual",
        "general",
    ] {
        for prio in ["quality", "latency", "default"] {
            t.push_str(&format!(
                "[routes.{task}.{prio}]\nprimary = \"anthropic/claude-opus-4-6\"\nfallback = \"openai/gpt-5.2\"\n\n"
            ));
        }
    }
    std::fs::write(dir.join("routes.toml"), t).unwrap();
    let mut lines = String::new();
    for task in [
        "code",
        "math",
        "extraction",
        "creative",
        "factual",
        "general",
    ] {
        for k in 0..per_task {
            let prio = ["quality", "latency", "default"][k % 3];
            lines.push_str(&format!(
                "{{\"id\":\"{task}-{k}\",\"prompt\":\"{task} question {k}\",\"task_type\":\"{task}\",\"priority\":\"{prio}\",\"grader\":{{\"kind\":\"recorded\"}}}}\n"
            ));
        }
    }
    std::fs::write(dir.join("dataset.jsonl"), lines).unwrap();
}

#[test]
fn a_ten_point_worse_cheaper_model_is_not_adopted_at_sixty_items() {
    let truth = |m: &str| ROSTER.iter().find(|r| r.0 == m).unwrap().1;
    for seed in [1, 2, 3] {
        let tmp = tempfile::tempdir().unwrap();
        write_suite(tmp.path(), seed, 60);
        let out = tmp.path().join("reports");
        ok(&run_suite_in(tmp.path(), tmp.path(), &out, &["--quiet"]));
        let dir = only_run_dir(&out);
        let changes = read_csv(&dir.join("changes.csv"));
        assert_eq!(changes.len(), 19);
        for r in &changes {
            let (old, new) = (truth(&r["old_primary"]), truth(&r["new_primary"]));
            let margin = if r["cell"].ends_with(".quality") {
                0.01
            } else {
                0.03
            };
            assert!(
                new >= old - margin,
                "seed {seed}: {} moved to a model {} points worse: {r:?}",
                r["cell"],
                (old - new) * 100.0
            );
            assert_ne!(r["new_primary"], "deepseek/deepseek-chat", "{r:?}");
            assert!(
                ["changed", "kept_best", "undecided"].contains(&r["outcome"].as_str()),
                "{r:?}"
            );
            assert!(!r["reason"].contains("tied (no significant"), "{r:?}");
            if r["outcome"] == "undecided" {
                assert!(
                    !r["mde"].is_empty() && !r["items_needed"].is_empty(),
                    "{r:?}"
                );
                assert!(
                    r["reason"].contains("more paired items would settle it"),
                    "{r:?}"
                );
            }
            if !r["quality_question"].is_empty() {
                // The printed interval is the one that decided: a rejected test's lower bound
                // clears its threshold, a kept cell's does not.
                let low: f64 = r["delta_quality_ci_low"].parse().unwrap();
                let theta: f64 = r["quality_threshold"].parse().unwrap();
                let moved = r["old_primary"] != r["new_primary"];
                if r["outcome"] == "undecided" {
                    assert!(low <= theta, "{r:?}");
                }
                if moved && r["quality_question"] == "non_inferiority" {
                    assert!(low > theta, "{r:?}");
                }
            }
        }
        let md = read(&dir.join("report.md"));
        assert!(md.contains("recommended (out of sample)"), "{md}");
        assert!(
            md.contains("out of sample ("),
            "the headline gives it: {md}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&read(&dir.join("report.json"))).unwrap();
        assert!(json["undecided"].is_array(), "{json}");
    }
}
