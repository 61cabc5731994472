//! Runs that stay true: a run directory keeps a byte-identical copy of the routes file it
//! measured, `report A B` derives each run from its own copy and lists the cells whose measured
//! tables differ, runs made before copies were kept fall back to the recorded path with a
//! warning, and re-deriving against another routes file writes a named derivation instead of
//! overwriting the run's reports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::*;

/// Run `suite` into `cwd/reports` and return the new run directory.
fn run_new(cwd: &Path, suite: &Path) -> PathBuf {
    let reports = cwd.join("reports");
    let existing: BTreeSet<PathBuf> = std::fs::read_dir(&reports)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    ok(&run_suite_in(cwd, suite, &reports, &["--quiet"]));
    let mut fresh: Vec<PathBuf> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !existing.contains(p))
        .collect();
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    fresh.pop().unwrap()
}

fn json(o: &std::process::Output) -> serde_json::Value {
    ok(o);
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// The simulated `current` row with the real classifier, from a run's simulation.csv.
fn current_quality(dir: &Path) -> f64 {
    read_csv(&dir.join("simulation.csv"))
        .iter()
        .find(|r| r["scenario"] == "current" && r["classifier"] != "true labels")
        .unwrap()["quality"]
        .parse()
        .unwrap()
}

#[test]
fn a_week_apply_week_walk_compares_each_run_against_its_own_table() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("mt-bench", tmp.path());
    let routes = suite.join("routes.toml");
    let week1_table = read(&routes);

    // Week 1: run, keep a copy of the table it measured.
    let a = run_new(tmp.path(), &suite);
    assert_eq!(read(&a.join("routes.measured.toml")), week1_table);
    let manifest: serde_json::Value = serde_json::from_str(&read(&a.join("run.json"))).unwrap();
    assert_eq!(manifest["routes_copy"]["path"], "routes.measured.toml");
    assert_eq!(manifest["routes_copy"]["sha256"], sha256(&week1_table));
    assert_eq!(manifest["routes"]["sha256"], sha256(&week1_table));
    assert!(manifest["dataset"]["sha256"].as_str().unwrap().len() == 64);
    let a_current = current_quality(&a);

    // Accept two cells, one of which follows the new [default] in the proposal.
    ok(&run_in(
        tmp.path(),
        &[
            "apply",
            a.to_str().unwrap(),
            "--cells",
            "code.quality,math.default",
            "--quiet",
        ],
    ));
    let week2_table = read(&routes);
    assert_ne!(week2_table, week1_table);

    // Week 2: the edited table.
    let b = run_new(tmp.path(), &suite);
    assert_eq!(read(&b.join("routes.measured.toml")), week2_table);
    let b_current = current_quality(&b);
    assert!(
        (a_current - b_current).abs() > 1e-6,
        "the accepted cells change the current table's quality: {a_current} vs {b_current}"
    );

    let v = json(&run_in(
        tmp.path(),
        &["report", a.to_str().unwrap(), b.to_str().unwrap(), "--json"],
    ));
    // A's current-table figures come from A's own copy, not from the edited file.
    let sim = v["simulation"].as_array().unwrap();
    let cur = sim
        .iter()
        .find(|s| s["scenario"] == "current" && s["classifier"] != "true labels")
        .unwrap();
    assert!(
        (cur["quality_a"].as_f64().unwrap() - a_current).abs() < 1e-9,
        "{v}"
    );
    assert!(
        (cur["quality_b"].as_f64().unwrap() - b_current).abs() < 1e-9,
        "{v}"
    );
    // The cells whose measured tables differ are listed, and only those.
    let cells: Vec<&str> = v["table_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cell"].as_str().unwrap())
        .collect();
    assert_eq!(cells, vec!["code.quality", "math.default"], "{v}");
    assert!(v["notes"].as_array().unwrap().is_empty(), "no warning: {v}");
    let a_id = a.file_name().unwrap().to_str().unwrap();
    let md = read(&b.join(format!("compare-{a_id}.md")));
    assert!(md.contains("## Cells whose measured tables differ"), "{md}");
    assert!(md.contains("| `math.default` |"), "{md}");

    // The text output says it too.
    let o = run_in(
        tmp.path(),
        &["report", a.to_str().unwrap(), b.to_str().unwrap()],
    );
    ok(&o);
    assert!(
        stdout(&o).contains("Cells whose measured tables differ (2 of 19, A → B):"),
        "{}",
        stdout(&o)
    );

    // Re-deriving A alone after the apply still measures A's own table.
    ok(&run_in(
        tmp.path(),
        &["report", a.to_str().unwrap(), "--quiet"],
    ));
    assert!((current_quality(&a) - a_current).abs() < 1e-9);
}

#[test]
fn a_run_made_before_copies_were_kept_falls_back_to_the_path_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("mt-bench", tmp.path());
    let a = run_new(tmp.path(), &suite);
    // Make it look like an older run: no copy, no record of one.
    std::fs::remove_file(a.join("routes.measured.toml")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&read(&a.join("run.json"))).unwrap();
    m.as_object_mut().unwrap().remove("routes_copy");
    std::fs::write(a.join("run.json"), m.to_string()).unwrap();
    let b = run_new(tmp.path(), &suite);

    // Unchanged file: no warning.
    let v = json(&run_in(
        tmp.path(),
        &["report", a.to_str().unwrap(), b.to_str().unwrap(), "--json"],
    ));
    assert!(v["notes"].as_array().unwrap().is_empty(), "{v}");

    ok(&run_in(
        tmp.path(),
        &[
            "apply",
            b.to_str().unwrap(),
            "--cells",
            "code.quality",
            "--quiet",
        ],
    ));
    let o = run_in(
        tmp.path(),
        &["report", a.to_str().unwrap(), b.to_str().unwrap()],
    );
    ok(&o);
    let err = stderr(&o);
    assert!(err.contains("warning: A: run "), "{err}");
    assert!(
        err.contains("keeps no copy of the routes file it measured"),
        "{err}"
    );
    assert!(err.contains("changed since the run"), "{err}");
    let v = json(&run_in(
        tmp.path(),
        &["report", a.to_str().unwrap(), b.to_str().unwrap(), "--json"],
    ));
    let notes = v["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "B has its copy: {v}");
    assert!(notes[0].as_str().unwrap().starts_with("A: "), "{v}");
}

#[test]
fn an_edited_routes_copy_is_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("mt-bench", tmp.path());
    let a = run_new(tmp.path(), &suite);
    let copy = a.join("routes.measured.toml");
    let before = std::fs::read(a.join("report.md")).unwrap();
    std::fs::write(&copy, read(&copy) + "\n# edited\n").unwrap();
    let o = run_in(tmp.path(), &["report", a.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("routes.measured.toml"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("sha256"), "{}", stderr(&o));
    assert_eq!(std::fs::read(a.join("report.md")).unwrap(), before);
}

#[test]
fn report_with_another_routes_file_writes_a_named_derivation_and_keeps_the_run_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("mt-bench", tmp.path());
    let routes = suite.join("routes.toml");
    let a = run_new(tmp.path(), &suite);
    let originals: Vec<(String, Vec<u8>)> = [
        "report.md",
        "report.html",
        "report.json",
        "changes.csv",
        "routes.recommended.toml",
        "routes.diff",
    ]
    .iter()
    .map(|f| (f.to_string(), std::fs::read(a.join(f)).unwrap()))
    .collect();

    // Accept part of the proposal, then re-derive against the edited table.
    ok(&run_in(
        tmp.path(),
        &[
            "apply",
            a.to_str().unwrap(),
            "--cells",
            "code.quality",
            "--quiet",
        ],
    ));
    let v = json(&run_in(
        tmp.path(),
        &[
            "report",
            a.to_str().unwrap(),
            "--routes",
            routes.to_str().unwrap(),
            "--json",
        ],
    ));
    for (f, bytes) in &originals {
        assert_eq!(
            &std::fs::read(a.join(f)).unwrap(),
            bytes,
            "{f} was overwritten"
        );
    }
    let derived = tmp.path().join(v["derived_dir"].as_str().unwrap());
    let name = derived.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("derived-routes-"), "{name}");
    assert_eq!(derived.parent().unwrap(), a.as_path());
    for f in [
        "report.md",
        "report.html",
        "routes.recommended.toml",
        "changes.csv",
    ] {
        assert!(derived.join(f).is_file(), "{f}");
    }
    assert_eq!(v["routes"]["sha256"], sha256(&read(&routes)));
    // A derivation's report names the file it was derived against; the run's keeps its own.
    let other = suite.join("other.toml");
    std::fs::copy(&routes, &other).unwrap();
    ok(&run_in(
        tmp.path(),
        &[
            "report",
            a.to_str().unwrap(),
            "--routes",
            other.to_str().unwrap(),
            "--name",
            "other",
            "--quiet",
        ],
    ));
    let md = read(&a.join("derived-other/report.md"));
    assert!(md.contains("**routes** `mt-bench/other.toml`"), "{md}");
    assert!(read(&a.join("report.md")).contains("**routes** `mt-bench/routes.toml`"));

    // The derivation is relative to the edited file: code.quality no longer changes, and
    // apply accepts the rest from it without --force.
    let changed: Vec<String> = read_csv(&derived.join("changes.csv"))
        .into_iter()
        .filter(|r| r["changed"] == "true")
        .map(|r| r["cell"].clone())
        .collect();
    assert!(!changed.is_empty());
    assert!(!changed.iter().any(|c| c == "code.quality"), "{changed:?}");
    let o = run_in(tmp.path(), &["apply", derived.to_str().unwrap(), "--json"]);
    let applied = json(&o);
    assert_eq!(applied["written"], true);
    assert_eq!(
        read(&routes),
        read(&derived.join("routes.recommended.toml"))
    );
    // The run's own proposal, read from the run directory, is refused now (another table).
    let o = run_in(tmp.path(), &["apply", a.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("derived-"), "{}", stderr(&o));

    // A name can be given; a bad one is bad input.
    ok(&run_in(
        tmp.path(),
        &[
            "report",
            a.to_str().unwrap(),
            "--routes",
            routes.to_str().unwrap(),
            "--name",
            "after-apply",
            "--quiet",
        ],
    ));
    assert!(a.join("derived-after-apply/report.md").is_file());
    let o = run_in(
        tmp.path(),
        &[
            "report",
            a.to_str().unwrap(),
            "--routes",
            routes.to_str().unwrap(),
            "--name",
            "../escape",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!tmp.path().join("reports/escape").exists());

    // A routes file that does not parse is bad input naming it, and leaves no folder behind.
    let bad = suite.join("bad.toml");
    std::fs::write(&bad, "[default]\nprimary = \n").unwrap();
    let o = run_in(
        tmp.path(),
        &[
            "report",
            a.to_str().unwrap(),
            "--routes",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.toml"), "{}", stderr(&o));
    let derivations: Vec<String> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("derived-"))
        .collect();
    assert!(
        !derivations.iter().any(|n| n.starts_with("derived-bad")),
        "{derivations:?}"
    );
}

/// A model's items graded in a run, by item id, from its journal (latest successful answers).
fn graded_items(run: &Path, model: &str) -> BTreeSet<String> {
    read_jsonl(&run.join("journal.jsonl"))
        .iter()
        .filter(|r| r["model"] == model && r["kind"] == "candidate" && r["ok"] == true)
        .map(|r| r["item"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn report_a_b_says_when_the_samples_differ_and_compares_quality_on_the_common_items() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("datasets/llmdrift-happy-500");
    let full = run_new(tmp.path(), &suite);
    let adaptive_out = tmp.path().join("adaptive");
    ok(&run_suite_in(
        tmp.path(),
        &suite,
        &adaptive_out,
        &["--quiet", "--adaptive"],
    ));
    let adaptive = only_run_dir(&adaptive_out);
    let args = |b: &Path, extra: &[&str]| -> Vec<String> {
        let mut v = vec![
            "report".to_string(),
            full.to_str().unwrap().into(),
            b.to_str().unwrap().into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |b: &Path, extra: &[&str]| {
        let a = args(b, extra);
        run_in(
            tmp.path(),
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };

    // Full design against adaptive: said plainly in the terminal, the markdown and --json.
    let o = run(&adaptive, &[]);
    ok(&o);
    assert!(
        stdout(&o).contains("The runs' samples differ: B is adaptive"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("On the items both runs graded:"));
    // The per-model table says its Δ is on the common items, and on how many.
    assert!(
        stdout(&o).contains("% CI] on common items"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("means over different items"),
        "{}",
        stdout(&o)
    );
    let a_id = full.file_name().unwrap().to_str().unwrap();
    let md = read(&adaptive.join(format!("compare-{a_id}.md")));
    assert!(
        md.contains("## Quality on the items both runs graded"),
        "{md}"
    );
    let v = json(&run(&adaptive, &["--json"]));
    let schema: serde_json::Value =
        serde_json::from_str(&read(&repo().join("schema/report.schema.json"))).unwrap();
    crate::common::schema::assert_valid(&schema, Some("comparison_output"), &v, "report A B");
    assert_eq!(v["samples"]["differ"], true);
    assert_eq!(v["samples"]["reasons"], serde_json::json!(["adaptive_b"]));
    let models = v["samples"]["models"].as_array().unwrap();
    assert!(!models.is_empty());
    let mut fewer = 0;
    for m in models {
        let name = m["model"].as_str().unwrap();
        let (ia, ib) = (graded_items(&full, name), graded_items(&adaptive, name));
        assert_eq!(m["items_a"], ia.len(), "{m}");
        assert_eq!(m["items_b"], ib.len(), "{m}");
        assert_eq!(m["items_both"], ia.intersection(&ib).count(), "{m}");
        fewer += usize::from(ib.len() < ia.len());
        // The same recorded answers on the same items: no change on the common items.
        assert_eq!(m["delta_quality"]["value"], 0.0, "{m}");
        assert_eq!(m["quality_a"], m["quality_b"], "{m}");
    }
    assert!(
        fewer > 0,
        "the adaptive run stopped early for some model: {v}"
    );

    // Two full designs on the same dataset: nothing to say, no section.
    let again = run_new(tmp.path(), &suite);
    let o = run(&again, &[]);
    ok(&o);
    assert!(!stdout(&o).contains("samples differ"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("on common items"), "{}", stdout(&o));
    let v = json(&run(&again, &["--json"]));
    assert_eq!(v["samples"]["differ"], false);
    assert_eq!(v["samples"]["reasons"], serde_json::json!([]));
    let md = read(&again.join(format!("compare-{a_id}.md")));
    assert!(!md.contains("## Quality on the items both runs graded"));

    // A run that pooled history: its decisions rest on more items than its own figures.
    let hist_out = tmp.path().join("pooled");
    let reports = tmp.path().join("reports");
    ok(&run_suite_in(
        tmp.path(),
        &suite,
        &hist_out,
        &["--quiet", "--history", reports.to_str().unwrap()],
    ));
    let pooled = only_run_dir(&hist_out);
    let v = json(&run(&pooled, &["--json"]));
    assert_eq!(v["samples"]["reasons"], serde_json::json!(["history_b"]));
    let o = run(&pooled, &[]);
    assert!(
        stdout(&o).contains("B pooled earlier runs' graded items"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("each run's own items"),
        "{}",
        stdout(&o)
    );
}
