//! Reports a reviewer decides from: the verdict comes first in report.md, report.html and the
//! terminal, with the out-of-sample figures of simulation.csv and the share of traffic the
//! changes reroute; one compact row per cell follows; interval levels come from the run's
//! `[policy] confidence`; latencies in a column share one unit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::common::*;

/// A quiet run of `suite` from `tmp`: its run directory and what the terminal printed.
fn run_loud(tmp: &Path, suite: &Path) -> (PathBuf, String) {
    let out = tmp.join("reports");
    let o = run_suite_in(tmp, suite, &out, &[]);
    ok(&o);
    (only_run_dir(&out), stdout(&o))
}

fn pos(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} missing from:\n{text}"))
}

/// Items whose true cell gets a different primary, from dataset.jsonl and changes.csv.
fn rerouted(suite: &Path, changes: &[HashMap<String, String>]) -> (usize, usize) {
    let by_cell: HashMap<&str, &HashMap<String, String>> =
        changes.iter().map(|r| (r["cell"].as_str(), r)).collect();
    let items = read_jsonl(&suite.join("dataset.jsonl"));
    let moved = items
        .iter()
        .filter(|it| {
            let cell = format!(
                "{}.{}",
                it["task_type"].as_str().unwrap(),
                it["priority"].as_str().unwrap()
            );
            let r = by_cell.get(cell.as_str()).unwrap_or(&by_cell["default"]);
            r["old_primary"] != r["new_primary"]
        })
        .count();
    (moved, items.len())
}

fn sim_row<'a>(
    sim: &'a [HashMap<String, String>],
    scenario: &str,
    classifier: &str,
) -> &'a HashMap<String, String> {
    sim.iter()
        .find(|r| r["scenario"] == scenario && r["classifier"] == classifier)
        .unwrap_or_else(|| panic!("no {scenario} row through {classifier}"))
}

#[test]
fn the_verdict_comes_first_with_out_of_sample_figures_and_rerouted_traffic() {
    for suite_name in ["mt-bench", "llm-drift"] {
        let tmp = tempfile::tempdir().unwrap();
        let suite = repo().join("datasets").join(suite_name);
        let (dir, terminal) = run_loud(tmp.path(), &suite);
        let md = read(&dir.join("report.md"));
        let html = read(&dir.join("report.html"));
        let changes = read_csv(&dir.join("changes.csv"));
        let sim = read_csv(&dir.join("simulation.csv"));

        // Order: verdict, cells, then everything else.
        assert!(pos(&md, "## Verdict") < pos(&md, "## Cells"));
        assert!(pos(&md, "## Cells") < pos(&md, "## Run"));
        assert!(pos(&md, "## Run") < pos(&md, "## Leaderboard"));
        assert!(pos(&html, "id=\"verdict\"") < pos(&html, "id=\"changes\""));
        assert!(pos(&html, "id=\"changes\"") < pos(&html, "id=\"run\""));
        assert!(pos(&html, "id=\"run\"") < pos(&html, "id=\"tasks\""));
        assert!(pos(&terminal, "Accepting every change") < pos(&terminal, "evidence"));
        assert!(pos(&terminal, "evidence") < pos(&terminal, "cost/call"));

        // The verdict's figures are simulation.csv's current and out-of-sample rows.
        let cls = "builtin/keywords";
        let cur = sim_row(&sim, "current", cls);
        let oos = sim_row(&sim, "recommended (out of sample)", cls);
        let q =
            |r: &HashMap<String, String>| format!("{:.3}", r["quality"].parse::<f64>().unwrap());
        let verdict_md = &md[pos(&md, "## Verdict")..pos(&md, "## Cells")];
        let quality_row = verdict_md
            .lines()
            .find(|l| l.starts_with("| quality"))
            .unwrap_or_else(|| panic!("{verdict_md}"));
        assert!(
            quality_row.contains(&format!("| {} | {} |", q(cur), q(oos))),
            "{quality_row}"
        );
        assert!(
            verdict_md.contains("recommended (out of sample)"),
            "{verdict_md}"
        );
        let (moved, items) = rerouted(&suite, &changes);
        let share = format!(
            "reroutes {:.1}% of traffic ({moved} of {items} dataset items",
            moved as f64 / items as f64 * 100.0
        );
        assert!(verdict_md.contains(&share), "{share}\n{verdict_md}");
        assert!(terminal.contains(&share), "{terminal}");
        for r in changes.iter().filter(|r| r["outcome"] == "undecided") {
            assert!(
                verdict_md.contains(&r["cell"]),
                "undecided {} not named in the verdict",
                r["cell"]
            );
        }

        // A negative misclassification loss is a gain, in both formats; the sentence reads the
        // cross-fitted (out-of-sample) rows and says so.
        let loss: f64 = sim_row(&sim, "recommended (out of sample)", cls)["misclassification_loss"]
            .parse()
            .unwrap();
        let effect = format!(
            "{} the recommended table {:.1}% of its quality (out of sample)",
            if loss < 0.0 { "gains" } else { "costs" },
            loss.abs() * 100.0
        );
        assert!(md.contains(&effect) && html.contains(&effect), "{effect}");

        // One row per cell, in changes.csv's order, with its badge; traffic shares add up.
        let cells_md = &md[pos(&md, "## Cells")..pos(&md, "## Run")];
        let rows: Vec<&str> = cells_md.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(rows.len(), changes.len(), "{cells_md}");
        let mut total = 0.0;
        for (row, c) in rows.iter().zip(&changes) {
            let cols: Vec<&str> = row.split(" | ").collect();
            assert_eq!(cols[0], format!("| `{}`", c["cell"]), "{row}");
            total += cols[1].trim_end_matches('%').parse::<f64>().unwrap();
            let badge = match c["outcome"].as_str() {
                "changed" => "changed",
                "undecided" => "undecided",
                "kept_too_few_samples" => "too few items",
                _ if c["changed"] == "true" => "fallback changed",
                _ => "kept",
            };
            assert!(cols[6].starts_with(badge), "{row}: expected {badge}");
            // The prose reason is not in the row.
            assert!(
                !row.contains(&c["reason"][..20.min(c["reason"].len())]),
                "{row}"
            );
        }
        assert!((total - 100.0).abs() < 0.2, "traffic adds to {total}%");
        assert_eq!(
            html.matches("<details class=\"why\">").count(),
            changes.len(),
            "every HTML row keeps its reason one click away"
        );
    }
}

#[test]
fn interval_levels_come_from_the_policy_and_latency_columns_keep_one_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("mt-bench", tmp.path());
    let routes = suite.join("routes.toml");
    let text = read(&routes).replace("[policy]\n", "[policy]\nconfidence = 0.8\n");
    std::fs::write(&routes, text).unwrap();
    let (dir, terminal) = run_loud(tmp.path(), &suite);
    let md = read(&dir.join("report.md"));
    let html = read(&dir.join("report.html"));
    for (name, body) in [
        ("report.md", &md),
        ("report.html", &html),
        ("terminal", &terminal),
    ] {
        for stale in ["95% CI", "intervals are 95%", "paired bootstrap, 95%"] {
            assert!(!body.contains(stale), "{name} says {stale:?}");
        }
    }
    assert!(html.contains("quality [80% CI]") && html.contains("mean score, 80% CI"));
    assert!(terminal.contains("quality [80% CI]"), "{terminal}");
    // The decisions' own intervals are two-sided at 2c − 1.
    assert!(md.contains("Δ quality [60% CI]") && html.contains("Δ quality [60% CI]"));

    // `report A B` speaks of the same level, in the terminal and in compare-A.md.
    let out2 = tmp.path().join("again");
    ok(&run_suite_in(tmp.path(), &suite, &out2, &["--quiet"]));
    let b = only_run_dir(&out2);
    let o = run_in(
        tmp.path(),
        &["report", dir.to_str().unwrap(), b.to_str().unwrap()],
    );
    ok(&o);
    let a_id = dir.file_name().unwrap().to_str().unwrap();
    let compare_md = read(&b.join(format!("compare-{a_id}.md")));
    assert!(stdout(&o).contains("Δ quality [80% CI]"), "{}", stdout(&o));
    assert!(compare_md.contains("paired bootstrap, 80%"), "{compare_md}");
    assert!(!stdout(&o).contains("95%") && !compare_md.contains("95%"));

    // The terminal's p95 column is in one unit.
    let header = terminal
        .lines()
        .position(|l| l.starts_with("task ") && l.contains("cost/call"))
        .unwrap();
    let units: std::collections::BTreeSet<&str> = terminal
        .lines()
        .skip(header + 2)
        .take_while(|l| !l.is_empty() && !l.starts_with("warning"))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w[w.len() - 2]
        })
        .collect();
    assert_eq!(units.len(), 1, "p95 units {units:?}:\n{terminal}");
}

#[test]
fn routes_diff_names_every_changed_cell_before_the_file_diff() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("datasets").join("mt-bench");
    let (dir, _) = run_loud(tmp.path(), &suite);
    let diff = read(&dir.join("routes.diff"));
    let header = pos(&diff, "--- routes.toml\n+++ routes.recommended.toml\n");
    let cells = &diff[..header];
    let changes = read_csv(&dir.join("changes.csv"));
    for r in changes.iter().filter(|r| r["changed"] == "true") {
        let own = format!("\n{}: primary ", r["cell"]);
        let via_default = cells
            .lines()
            .find(|l| l.starts_with("default: "))
            .is_some_and(|l| {
                l.split_once("(so also ").is_some_and(|(_, list)| {
                    list.trim_end_matches(')')
                        .split(", ")
                        .any(|c| c == r["cell"])
                })
            });
        assert!(
            format!("\n{cells}").contains(&own) || via_default,
            "{} is not named:\n{cells}",
            r["cell"]
        );
        if format!("\n{cells}").contains(&own) {
            let line = format!("\n{cells}")
                .split(&own)
                .nth(1)
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_string();
            if r["old_primary"] != r["new_primary"] {
                assert!(
                    line.starts_with(&format!("{} → {}", r["old_primary"], r["new_primary"])),
                    "{line}"
                );
            }
        }
    }
    // No cell that keeps its route is listed.
    for r in changes
        .iter()
        .filter(|r| r["changed"] == "false" && r["cell"] != "default")
    {
        assert!(
            !cells.contains(&format!("{}: ", r["cell"])),
            "{}",
            r["cell"]
        );
    }
    // `routecal diff` prints the same text, and patch(1)-style consumers still find the file
    // diff after the cell lines.
    let o = run_in(tmp.path(), &["diff", dir.to_str().unwrap()]);
    ok(&o);
    assert_eq!(stdout(&o), diff);
}

/// `scripts/check-report-html.sh` in headless Chromium: report.html of both shipped suites fits
/// 1280 and 1920 px with every `<details>` closed and open, and fetches nothing. Skipped (with
/// the reason printed) where `chromium` is not installed.
#[test]
fn report_html_fits_1280_and_1920_px_in_headless_chromium() {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("chromium").is_file()))
        .unwrap_or(false);
    if !on_path {
        println!("skipped: no chromium on PATH (Debian package `chromium`)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = std::process::Command::new("bash")
        .arg(repo().join("scripts/check-report-html.sh"))
        .arg(env!("CARGO_BIN_EXE_routecal"))
        .arg(tmp.path())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Three suites (the shipped two and nine crowded `sim` models) at two widths, each checked:
    // no overflow, no chart text overlapping another or leaving its chart, no request.
    assert_eq!(
        out.lines().filter(|l| l.ends_with(": OK")).count(),
        6,
        "{out}"
    );
    for suite in ["mt-bench", "llm-drift", "nine-models"] {
        for w in [1280, 1920] {
            assert!(tmp.path().join(format!("{suite}-{w}.png")).is_file());
        }
    }
}
