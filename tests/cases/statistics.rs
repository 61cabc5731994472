//! Statistics and policy on small fixtures (`tests/fixtures/`) whose figures are computed by
//! hand: Wilson intervals, exact McNemar tests, repeats averaged per item, the RouteLLM curve,
//! a tie that must change nothing and a clear winner that must be proposed, and the flap rate
//! of the policy under resampling.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use routecal::derive::stats;

use crate::common::*;

type Row = HashMap<String, String>;

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// Run a fixture suite into a fresh temporary folder; returns the folder and the run directory.
fn run_fixture(name: &str, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reports");
    let extra = [&["--quiet"], extra].concat();
    ok(&run_suite_in(tmp.path(), &fixture(name), &out, &extra));
    let dir = only_run_dir(&out);
    (tmp, dir)
}

fn find<'a>(rows: &'a [Row], pairs: &[(&str, &str)]) -> &'a Row {
    rows.iter()
        .find(|r| pairs.iter().all(|(k, v)| r[*k] == *v))
        .unwrap_or_else(|| panic!("no row with {pairs:?} in {rows:#?}"))
}

fn num(r: &Row, col: &str) -> f64 {
    r[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = {:?} is not a number", r[col]))
}

fn close(x: f64, y: f64, tol: f64) -> bool {
    (x - y).abs() <= tol
}

#[test]
fn tied_models_keep_every_route_as_undecided_with_what_would_settle_it() {
    let (tmp, dir) = run_fixture("tied", &[]);
    // 17 of 24 each: Wilson 95% = [0.5083, 0.8509] by hand.
    let summary = read_csv(&dir.join("summary.csv"));
    for m in ["alpha/model-a", "beta/model-b"] {
        let r = find(&summary, &[("model", m), ("task_type", "math")]);
        assert!(close(num(r, "quality"), 17.0 / 24.0, 1e-12), "{r:?}");
        assert_eq!(r["quality_ci_method"], "wilson");
        assert!(close(num(r, "quality_ci_low"), 0.5083, 1e-4), "{r:?}");
        assert!(close(num(r, "quality_ci_high"), 0.8509, 1e-4), "{r:?}");
        assert_eq!(r["n_items"], "24");
    }
    // One discordant pair each way: Δ = 0, the paired statistic is 0, p = 1.
    let cmp = read_csv(&dir.join("comparisons.csv"));
    let c = find(&cmp, &[("task_type", "math")]);
    assert_eq!(
        (c["model_a"].as_str(), c["model_b"].as_str()),
        ("alpha/model-a", "beta/model-b")
    );
    assert_eq!(c["test"], "paired_z_agresti_min");
    assert_eq!(
        (c["a_only_passed"].as_str(), c["b_only_passed"].as_str()),
        ("1", "1")
    );
    assert_eq!(num(c, "p_value"), 1.0);
    assert_eq!(num(c, "delta"), 0.0);
    assert_eq!(c["significant"], "false");
    // The challenger is 2% cheaper and 2% faster on every item: under the 5% minimum effect, so
    // it is no saver and must be shown better, one-sided at 5%. 24 items cannot show that nor
    // rule it out: the cells are undecided. By hand (Agresti–Min: two discordant pairs plus the
    // pseudo-counts): sd = √(3/26); the interval at 90% is ±1.644854·sd/√26 = ±0.1096; the
    // minimum detectable effect (80% power) is (1.644854 + 0.841621)·sd/√26 = 0.1656; ruling
    // out a gain of 0.05 needs ((1.644854 + 0.841621)·sd/0.05)² − 2 = 283.3 → 284 pairs, 260
    // more than 24.
    let sd = (3.0f64 / 26.0).sqrt();
    let changes = read_csv(&dir.join("changes.csv"));
    assert_eq!(changes.len(), 4, "{changes:#?}");
    for r in &changes {
        assert_eq!(r["changed"], "false", "{r:?}");
        assert_eq!(r["outcome"], "undecided", "{r:?}");
        assert!(r["reason"].starts_with("undecided (kept)"), "{r:?}");
        assert!(!r["reason"].contains("tied"), "{r:?}");
        assert_eq!(r["challenger"], "beta/model-b");
        assert_eq!(r["quality_question"], "superiority");
        assert!(
            close(
                num(r, "delta_quality_ci_high"),
                1.644854 * sd / 26f64.sqrt(),
                1e-5
            ),
            "{r:?}"
        );
        assert!(
            close(num(r, "mde"), 2.486475 * sd / 26f64.sqrt(), 1e-5),
            "{r:?}"
        );
        assert_eq!(r["items_needed"], "260", "{r:?}");
    }
    let q = find(&changes, &[("cell", "math.quality")]);
    assert!(close(num(q, "cost_rel_change"), -0.02, 1e-12), "{q:?}");
    assert!(
        close(num(q, "cost_rel_change_ci_high"), -0.02, 1e-12),
        "{q:?}"
    );
    assert_eq!(q["quality_test"], "paired_z_agresti_min");
    let l = find(&changes, &[("cell", "math.latency")]);
    assert!(
        close(num(l, "p95_latency_rel_change"), -0.02, 1e-9),
        "{l:?}"
    );
    assert!(
        std::fs::read_to_string(dir.join("routes.diff"))
            .unwrap()
            .is_empty()
    );
    let o = run_in(tmp.path(), &["diff", dir.to_str().unwrap(), "--exit-code"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn a_clear_winner_is_proposed_with_its_evidence() {
    let (tmp, dir) = run_fixture("clear-winner", &[]);
    let summary = read_csv(&dir.join("summary.csv"));
    // 10 of 30 and 27 of 30: Wilson 95% by hand.
    let small = find(&summary, &[("model", "cheap/small")]);
    assert!(
        close(num(small, "quality_ci_low"), 0.1923, 1e-4),
        "{small:?}"
    );
    assert!(
        close(num(small, "quality_ci_high"), 0.5122, 1e-4),
        "{small:?}"
    );
    let large = find(&summary, &[("model", "strong/large")]);
    assert!(
        close(num(large, "quality_ci_low"), 0.7438, 1e-4),
        "{large:?}"
    );
    assert!(
        close(num(large, "quality_ci_high"), 0.9654, 1e-4),
        "{large:?}"
    );
    // 1 against 18 discordant pairs. Agresti–Min by hand: centre = 17/32, variance of one
    // difference (19 + 1)/32 − centre², se = √(var/32); z = centre/se; the test is the same
    // statistic one-sided, and the only challenger is a family of one (level 0.05).
    let centre = 17.0 / 32.0;
    let se = ((20.0 / 32.0 - centre * centre) / 32.0f64).sqrt();
    let changes = read_csv(&dir.join("changes.csv"));
    let q = find(&changes, &[("cell", "math.quality")]);
    assert_eq!(q["changed"], "true");
    assert_eq!(q["outcome"], "changed");
    assert_eq!(
        (q["new_primary"].as_str(), q["new_fallback"].as_str()),
        ("strong/large", "cheap/small")
    );
    assert!(close(num(q, "delta_quality"), 17.0 / 30.0, 1e-12), "{q:?}");
    assert!(
        close(num(q, "delta_quality_ci_low"), centre - 1.644854 * se, 1e-5),
        "{q:?}"
    );
    assert_eq!(q["quality_test"], "paired_z_agresti_min");
    assert_eq!(q["quality_question"], "superiority");
    assert_eq!(q["holm_family_size"], "1");
    assert!(num(q, "p_value_holm") < 1e-6, "{q:?}");
    assert!(q["reason"].contains("is better on quality"), "{q:?}");
    // Δcost per 1,000 requests on the 30 paired items: (30·2 + 40·6 − 30·0.1 − 12·0.2) / 1e6 · 1000.
    let per_1k = (30.0 * 2.0 + 40.0 * 6.0 - 30.0 * 0.1 - 12.0 * 0.2) / 1e6 * 1000.0;
    assert!(
        close(num(q, "delta_cost_per_1k_requests_usd"), per_1k, 1e-9),
        "{q:?}"
    );
    assert_eq!(q["n_paired"], "30");
    for cell in ["default", "math.latency", "math.default"] {
        assert_eq!(
            find(&changes, &[("cell", cell)])["new_primary"],
            "strong/large"
        );
    }
    let o = run_in(tmp.path(), &["diff", dir.to_str().unwrap(), "--exit-code"]);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn routellm_figures_and_classifier_value_match_hand_computation() {
    let (_tmp, dir) = run_fixture("clear-winner", &[]);
    // Strong 27/30, weak 10/30: gap 17/30. The recorded classifier sends c05, c15, c25 to
    // general.default (gain 2 over 3 items) and the rest to math.quality (gain 15 over 27):
    // general first. Points (0, 0), (0.1, 2/17), (1, 1).
    let curve = read_csv(&dir.join("threshold_curve.csv"));
    let cells: Vec<&Row> = curve
        .iter()
        .filter(|r| r["router"] == "cells by measured gain")
        .collect();
    assert_eq!(cells.len(), 3, "{curve:#?}");
    // The cross-fitted curve is there too, one point an item (30) plus the origin.
    let oos = curve
        .iter()
        .filter(|r| r["router"] == "cells by measured gain, out of sample")
        .count();
    assert_eq!(oos, 31, "{curve:#?}");
    assert!(close(num(cells[1], "strong_model_share"), 0.1, 1e-12));
    assert!(close(
        num(cells[1], "performance_gap_recovered"),
        2.0 / 17.0,
        1e-12
    ));
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    // APGR = 0.1 · (2/17) / 2 + 0.9 · (1 + 2/17) / 2 = 8.65 / 17 = 50.9%;
    // CPT(50%) = 0.1 + 0.9 · 6.5/15 = 49.0%; CPT(80%) = 0.1 + 0.9 · 11.6/15 = 79.6%.
    assert!(
        report.contains("| 50.9% | 49.0% | 79.6% |"),
        "{}",
        report
            .lines()
            .filter(|l| l.contains("cells by"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The recorded classifier gets 27 of 30 items right and costs $0.00001 a call.
    let accuracy = read_csv(&dir.join("classifier.csv"));
    let a = find(
        &accuracy,
        &[("classifier", "cls/tiny"), ("task_type", "all")],
    );
    assert!(close(num(a, "accuracy"), 0.9, 1e-12));
    assert!(report.contains("### Classifier return on cost"));
    let roc = report
        .lines()
        .find(|l| l.starts_with("| `cls/tiny`") && l.contains("0.900"))
        .unwrap_or_else(|| panic!("no return-on-cost row for cls/tiny:\n{report}"));
    assert!(roc.contains("| 90.0% | $0.0100 |"), "{roc}");
    // Every simulated scenario is in simulation.csv, the tables through both classifiers.
    let sim = read_csv(&dir.join("simulation.csv"));
    for c in ["cls/tiny", "builtin/keywords", "true labels"] {
        find(&sim, &[("scenario", "recommended"), ("classifier", c)]);
    }
    let rec = find(
        &sim,
        &[("scenario", "recommended"), ("classifier", "cls/tiny")],
    );
    assert!(close(num(rec, "quality"), 0.9, 1e-12));
    assert!(close(num(rec, "strong_model_share"), 1.0, 1e-12));
    find(&sim, &[("scenario", "oracle")]);
}

#[test]
fn repeats_average_each_item_before_the_interval() {
    let (_tmp, dir) = run_fixture("repeats", &["--repeats", "2"]);
    let results = read_csv(&dir.join("results.csv"));
    assert_eq!(results.len(), 40, "10 items × 2 models × 2 repeats");
    let summary = read_csv(&dir.join("summary.csv"));
    // one/a: 8 items pass both repeats: Wilson over 10 items, not over 20 calls.
    let a = find(&summary, &[("model", "one/a")]);
    assert_eq!((a["n_calls"].as_str(), a["n_items"].as_str()), ("20", "10"));
    assert!(close(num(a, "quality"), 0.8, 1e-12));
    assert_eq!(a["quality_ci_method"], "wilson");
    assert!(close(num(a, "quality_ci_low"), 0.4902, 1e-4), "{a:?}");
    assert!(close(num(a, "quality_ci_high"), 0.9433, 1e-4), "{a:?}");
    // two/b splits two items: item means 6 × 1, 2 × 0.5, 2 × 0; the bootstrap resamples them.
    let b = find(&summary, &[("model", "two/b")]);
    assert!(close(num(b, "quality"), 0.7, 1e-12));
    assert_eq!(b["quality_ci_method"], "bootstrap");
    let items = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.0, 0.0];
    let over_items = stats::bootstrap_mean(
        &items,
        1000,
        0.95,
        &mut stats::rng_for(20_260_528, "two/b|math"),
    )
    .unwrap();
    assert!(
        close(num(b, "quality_ci_low"), over_items.low, 1e-12),
        "{b:?}"
    );
    assert!(
        close(num(b, "quality_ci_high"), over_items.high, 1e-12),
        "{b:?}"
    );
    let calls: Vec<f64> = items
        .iter()
        .flat_map(|&m| if m == 0.5 { [1.0, 0.0] } else { [m, m] })
        .collect();
    let over_calls = stats::bootstrap_mean(
        &calls,
        1000,
        0.95,
        &mut stats::rng_for(20_260_528, "two/b|math"),
    )
    .unwrap();
    assert!(
        over_calls.high - over_calls.low < over_items.high - over_items.low,
        "counting 20 calls as independent would narrow the interval: {over_calls:?} vs {over_items:?}"
    );
    // Paired on the 10 items: Δ = (0.5 + 0.5) / 10; not pass/fail, the same paired test.
    let comparisons = read_csv(&dir.join("comparisons.csv"));
    let c = find(&comparisons, &[("task_type", "math")]);
    assert_eq!(c["n"], "10");
    assert!(close(num(c, "delta"), 0.1, 1e-12));
    assert_eq!(c["test"], "paired_z_agresti_min");
}

/// The policy re-run on bootstrap resamples of a finished run's items.
fn stability(dir: &Path, suite: &Path, resamples: usize) -> routecal::derive::stability::Stability {
    let (cfg, ds) = routecal::cmd::load_inputs(
        &suite.join("routes.toml"),
        &suite.join("dataset.jsonl"),
        jiff::Timestamp::now(),
    )
    .unwrap();
    let journal = routecal::store::journal::read(&dir.join("journal.jsonl")).unwrap();
    let analysis = routecal::derive::analyze::analyze(&cfg, &ds, &journal.rows).unwrap();
    let obs = routecal::derive::policy::Observations::new(&analysis, &ds);
    routecal::derive::stability::measure(&cfg, &obs, resamples, 7)
}

#[test]
fn resampling_seldom_moves_a_tied_route_and_reproduces_a_clear_change() {
    let (_t1, tied) = run_fixture("tied", &[]);
    let s = stability(&tied, &fixture("tied"), 50);
    assert_eq!(s.cells.len(), 4);
    assert!(s.cells.iter().all(|c| c.within_noise), "{:#?}", s.cells);
    // A bootstrap resample of 24 items can draw one of the two discordant items four or more
    // times and the other never; 4 to 0 is significant one-sided at 5% in that resample. The
    // rate of such moves stays under the test's level.
    assert!(s.flap_rate().unwrap() <= 0.05, "{:#?}", s.cells);
    let (_t2, clear) = run_fixture("clear-winner", &[]);
    let s = stability(&clear, &fixture("clear-winner"), 50);
    assert_eq!(
        s.flap_rate(),
        None,
        "no cell of this fixture is within the noise"
    );
    // A change backed by p = 7.6e-5 comes back in nearly every resample (one resample of 50
    // draws the single item the weaker model alone passes five times, and the test relents).
    let r = s.change_reproducibility().unwrap();
    assert!(r >= 0.9, "{r}: {:#?}", s.cells);
}

/// The flap rate of the policy on the shipped suites (50 bootstrap resamples, fixed seed).
/// `cargo test --test cli flap_rate_on_the_shipped_suites -- --ignored --nocapture`
#[test]
#[ignore = "a benchmark: about 40 s in a debug build"]
fn flap_rate_on_the_shipped_suites() {
    let mut deep_noise = Vec::new();
    for suite in ["mt-bench", "llm-drift"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("reports");
        let path = repo().join("datasets").join(suite);
        ok(&run_suite_in(tmp.path(), &path, &out, &["--quiet"]));
        let started = std::time::Instant::now();
        let s = stability(&only_run_dir(&out), &path, 50);
        println!(
            "{suite}: {} cells, {} within the noise; flap rate {:?} (leads under one standard error: {:?}); kept cells moved {:?}; changes reproduced {:?} ({:.1} s)",
            s.cells.len(),
            s.cells.iter().filter(|c| c.within_noise).count(),
            s.flap_rate(),
            s.flap_rate_within_one_se(),
            s.kept_move_rate(),
            s.change_reproducibility(),
            started.elapsed().as_secs_f64()
        );
        for c in &s.cells {
            println!(
                "  {:<20} {:<32} noise={:<5} lead {:>5} se  same {:>2}/50  moved {:>2}/50",
                c.cell,
                c.outcome.as_str(),
                c.within_noise,
                c.lead_in_se
                    .map(|l| format!("{l:.2}"))
                    .unwrap_or("–".into()),
                c.agree,
                c.moved
            );
        }
        deep_noise.push((suite, s.flap_rate_within_one_se()));
    }
    // A cell whose challenger is within one standard error moves in a resample only when the
    // resample makes it significant one-sided at 5%: seldom, and never more than that level.
    for (suite, rate) in deep_noise {
        assert!(rate.unwrap_or(0.0) <= 0.05, "{suite}: {rate:?}");
    }
}

#[test]
fn reports_measure_stability_when_the_policy_asks_for_it() {
    let (tmp, dir) = run_fixture("tied", &[]);
    // The same suite with the measurement turned on: a changed policy applies on `report`.
    let text = std::fs::read_to_string(fixture("tied").join("routes.toml")).unwrap();
    let routes = tmp.path().join("routes.toml");
    std::fs::write(
        &routes,
        text.replace(
            "min_samples = 20",
            "min_samples = 20\nstability_resamples = 50",
        ),
    )
    .unwrap();
    std::fs::copy(
        fixture("tied").join("recording.jsonl"),
        tmp.path().join("recording.jsonl"),
    )
    .unwrap();
    let dataset = fixture("tied").join("dataset.jsonl");
    ok(&run_in(
        tmp.path(),
        &[
            "report",
            dir.to_str().unwrap(),
            "--routes",
            routes.to_str().unwrap(),
            "--dataset",
            dataset.to_str().unwrap(),
            "--name",
            "stability",
            "--quiet",
        ],
    ));
    let dir = dir.join("derived-stability");
    let changes = read_csv(&dir.join("changes.csv"));
    assert!(
        changes.iter().all(|r| r["stability"] == "1"),
        "{changes:#?}"
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("## Stability\n\nOn 50 bootstrap resamples")
            && report.contains("flap rate 0.0% over the 4 kept cells"),
        "{report}"
    );
}
