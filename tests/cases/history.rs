//! Evidence across weeks: `run --history DIR --window W` and `report --history`.

use std::path::Path;

use crate::common::*;

/// A run's report.json, checked against the published schema.
fn report_json(run: &Path) -> serde_json::Value {
    let v = serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(crate::common::repo().join("schema/report.schema.json")).unwrap(),
    )
    .unwrap();
    crate::common::schema::assert_valid(&schema, None, &v, "report.json with --history");
    v
}

fn status_of<'a>(v: &'a serde_json::Value, model: &str) -> &'a str {
    v["history"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == model)
        .unwrap_or_else(|| panic!("{model} in {v}"))["status"]
        .as_str()
        .unwrap()
}

/// Make every answer of `model` in the run's journal wrong (an earlier week in which the model
/// answered differently).
fn spoil_answers(run: &Path, model: &str) {
    let path = run.join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["model"] == model && v["kind"] == "candidate" {
            v["response"] = "I cannot say.".into();
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    std::fs::write(&path, out).unwrap();
}

#[test]
fn history_pools_unchanged_models_drops_a_moved_one_and_starts_a_reconfigured_one_afresh() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("llmdrift-happy-500", tmp.path());
    let out = tmp.path().join("reports");
    let week1 = run_ok(tmp.path(), &suite, &out);
    spoil_answers(&week1, "openai/gpt-3.5-turbo-0613");
    // gpt-4-0613 is configured differently this week: its earlier answers do not count.
    let routes = suite.join("routes.toml");
    let text = std::fs::read_to_string(&routes).unwrap().replace(
        "[models.\"openai/gpt-4-0613\"]\nendpoint = \"recorded\"\n",
        "[models.\"openai/gpt-4-0613\"]\nendpoint = \"recorded\"\nwire_name = \"gpt-4-0613\"\n",
    );
    std::fs::write(&routes, text).unwrap();
    let o = run_suite_in(
        tmp.path(),
        &suite,
        &out,
        &[
            "--quiet",
            "--history",
            out.to_str().unwrap(),
            "--window",
            "4w",
        ],
    );
    ok(&o);
    let week2 = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p != &week1)
        .unwrap();
    let v = report_json(&week2);
    assert_eq!(
        v["history"]["runs"][0],
        week1.file_name().unwrap().to_str().unwrap()
    );
    assert_eq!(status_of(&v, "openai/gpt-4-0314"), "pooled");
    assert_eq!(status_of(&v, "openai/gpt-3.5-turbo-0301"), "pooled");
    assert_eq!(status_of(&v, "openai/gpt-3.5-turbo-0613"), "moved");
    assert_eq!(status_of(&v, "openai/gpt-4-0613"), "no_history");
    let md = std::fs::read_to_string(week2.join("report.md")).unwrap();
    assert!(md.contains("## Evidence across weeks"), "{md}");
    assert!(md.contains("moved: history dropped"), "{md}");
    // report.html draws the same section, built once.
    let html = std::fs::read_to_string(week2.join("report.html")).unwrap();
    assert!(
        html.contains("id=\"history\""),
        "no history section in report.html"
    );
    assert!(html.contains("moved: history dropped"));
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("openai/gpt-3.5-turbo-0613 moved since the earlier runs"),
        "{warnings}"
    );

    // `report` re-derives the same decisions from the same earlier runs (the window ends at
    // the run's start, so runs made later never count).
    let before = report_json(&week2);
    let r = run_in(
        tmp.path(),
        &[
            "report",
            week2.to_str().unwrap(),
            "--quiet",
            "--history",
            out.to_str().unwrap(),
        ],
    );
    ok(&r);
    let after = report_json(&week2);
    for field in ["history", "changes", "undecided", "warnings"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    // Without the flags, `report` re-derives with the settings the run recorded in run.json.
    let recommended = std::fs::read(week2.join("routes.recommended.toml")).unwrap();
    ok(&run_in(
        tmp.path(),
        &["report", week2.to_str().unwrap(), "--quiet"],
    ));
    let plain = report_json(&week2);
    for field in ["history", "changes", "undecided", "warnings"] {
        assert_eq!(plain[field], before[field], "{field}");
    }
    assert_eq!(
        std::fs::read(week2.join("routes.recommended.toml")).unwrap(),
        recommended
    );
}

#[test]
fn equal_answers_in_every_earlier_run_never_read_as_a_move_and_huge_windows_are_bad_input() {
    // The recorded suite answers the same every week: its models cannot have moved, however many
    // earlier runs average into the history.
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("datasets/mt-bench");
    let out = tmp.path().join("reports");
    let hist = ["--history", out.to_str().unwrap()];
    let first = run_suite_in(tmp.path(), &suite, &out, &[]);
    ok(&first);
    for _ in 0..3 {
        ok(&run_suite_in(tmp.path(), &suite, &out, &hist));
    }
    let newest = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .max()
        .unwrap();
    let v = report_json(&newest);
    for c in v["history"]["models"].as_array().unwrap() {
        assert_eq!(c["status"], "pooled", "{c}");
        assert_eq!(c["p_value"], 1.0, "{c}");
    }
    let o = run_suite_in(
        tmp.path(),
        &suite,
        &out,
        &[
            "--history",
            out.to_str().unwrap(),
            "--window",
            "99999999999999w",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--window"), "{}", stderr(&o));
}

#[test]
fn a_window_that_does_not_parse_or_a_missing_folder_is_bad_input_before_any_call() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("datasets/llmdrift-happy-500");
    let out = tmp.path().join("reports");
    for extra in [
        vec![
            "--history",
            tmp.path().to_str().unwrap(),
            "--window",
            "4 weeks",
        ],
        // One spelling: spaces around it are refused as any other odd spelling is.
        vec!["--history", tmp.path().to_str().unwrap(), "--window", " 4w"],
        vec!["--history", tmp.path().to_str().unwrap(), "--window", "4w "],
        vec!["--history", tmp.path().to_str().unwrap(), "--window", "+4w"],
        vec!["--history", "/nonexistent/reports"],
    ] {
        let o = run_suite_in(tmp.path(), &suite, &out, &extra);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let wanted = if extra.contains(&"--window") {
            "--window"
        } else {
            "--history"
        };
        assert!(stderr(&o).contains(wanted), "{}", stderr(&o));
        assert!(!out.exists(), "nothing written");
    }
}

#[test]
fn runs_outside_the_window_or_unfinished_are_not_pooled() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("datasets/llmdrift-happy-500");
    let out = tmp.path().join("reports");
    let week1 = run_ok(tmp.path(), &suite, &out);
    // Five weeks ago.
    let m = week1.join("run.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    let old = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(5 * 7 * 24);
    v["finished_at"] = old.to_string().into();
    std::fs::write(&m, v.to_string()).unwrap();
    let o = run_suite_in(
        tmp.path(),
        &suite,
        &out,
        &["--quiet", "--json", "--history", out.to_str().unwrap()],
    );
    ok(&o);
    let week2 = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p != &week1)
        .unwrap();
    let v = report_json(&week2);
    assert_eq!(v["history"]["runs"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(status_of(&v, "openai/gpt-4-0314"), "no_history");
    // The run too old for the window is named, with the reason.
    let skipped = v["history"]["skipped"].to_string();
    assert!(skipped.contains("before the 4w window"), "{skipped}");

    // One run directory is history too (last week's run, downloaded on its own), here read
    // with a window that reaches it.
    let o = run_suite_in(
        tmp.path(),
        &suite,
        &tmp.path().join("again"),
        &[
            "--quiet",
            "--history",
            week1.to_str().unwrap(),
            "--window",
            "6w",
        ],
    );
    ok(&o);
    let again = only_run_dir(&tmp.path().join("again"));
    let v = report_json(&again);
    assert_eq!(v["history"]["runs"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(status_of(&v, "openai/gpt-4-0314"), "pooled");
}

/// A copy of `run` as another run in the same folder that finished `weeks_ago` weeks ago.
fn aged_copy(run: &Path, name: &str, weeks_ago: i64) -> std::path::PathBuf {
    let dst = run.parent().unwrap().join(name);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(run).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
    }
    let m = dst.join("run.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(weeks_ago * 7 * 24);
    v["finished_at"] = at.to_string().into();
    v["run_id"] = name.into();
    std::fs::write(&m, v.to_string()).unwrap();
    dst
}

#[test]
fn the_terminal_and_the_dry_run_plan_say_what_history_was_read_pooled_and_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("llmdrift-happy-500", tmp.path());
    let items = read(&suite.join("dataset.jsonl")).lines().count();
    let out = tmp.path().join("reports");
    let hist = ["--history", out.to_str().unwrap(), "--window", "4w"];
    let dry_run = |extra: &[&str]| {
        let o = run_suite_in(tmp.path(), &suite, &out, &[extra, &hist].concat());
        ok(&o);
        o
    };

    // An empty folder: the plan says there is nothing in the window.
    std::fs::create_dir_all(&out).unwrap();
    let o = dry_run(&["--dry-run"]);
    assert!(stdout(&o).contains("none in the window"), "{}", stdout(&o));

    let week1 = run_ok(tmp.path(), &suite, &out);
    let week1_id = week1.file_name().unwrap().to_str().unwrap().to_string();
    spoil_answers(&week1, "openai/gpt-3.5-turbo-0613");
    aged_copy(&week1, "old-run", 6);

    // The plan names the run it would read, the items it holds per model, and the run it
    // would not read, without a call.
    let o = dry_run(&["--dry-run"]);
    let plan = stdout(&o);
    assert!(plan.contains("1 earlier run would be read"), "{plan}");
    assert!(
        plan.contains(&format!("{week1_id}: graded items: "))
            && plan.contains(&format!("openai/gpt-4-0314 {items}")),
        "{plan}"
    );
    assert!(
        plan.contains("not read: 1 run (1 too old for the window"),
        "{plan}"
    );
    let o = dry_run(&["--dry-run", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["history"]["runs"][0]["run_id"], week1_id.as_str(), "{v}");
    assert_eq!(v["history"]["runs"][0]["items"]["openai/gpt-4-0314"], items);
    assert_eq!(v["history"]["skipped"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        2,
        "nothing written"
    );

    // The run's summary: runs read, models pooled, the moved model named, runs not read.
    let o = run_suite_in(tmp.path(), &suite, &out, &hist);
    ok(&o);
    let summary = stdout(&o);
    // The plan printed before the calls says what will be read, as the dry run did.
    let printed = format!("{summary}{}", stderr(&o));
    assert!(printed.contains("1 earlier run would be read"), "{printed}");
    let expect = [
        format!("window 4w): 1 earlier run read ({week1_id})"),
        format!("openai/gpt-4-0314 ({items} earlier items: {items} repeated this run, +0 new)"),
        "moved, history dropped: openai/gpt-3.5-turbo-0613 (".to_string(),
        "not read: 1 run (1 too old for the window".to_string(),
    ];
    for line in &expect {
        assert!(summary.contains(line.as_str()), "{line}\n{summary}");
    }
    // `report` re-derives the same lines; its --json carries the same history as report.json.
    let week2 = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p != &week1 && !p.ends_with("old-run"))
        .unwrap();
    let r = run_in(tmp.path(), &["report", week2.to_str().unwrap()]);
    ok(&r);
    for line in &expect {
        assert!(stdout(&r).contains(line.as_str()), "{line}\n{}", stdout(&r));
    }
    let r = run_in(tmp.path(), &["report", week2.to_str().unwrap(), "--json"]);
    ok(&r);
    let v: serde_json::Value = serde_json::from_str(&stdout(&r)).unwrap();
    assert_eq!(v["history"], report_json(&week2)["history"]);
    // The next plan counts what the run will use: week2 found gpt-3.5-turbo-0613 moved, so
    // week1's items of it are no longer its history; week1 still counts for the others.
    let o = dry_run(&["--dry-run", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let runs = v["history"]["runs"].as_array().unwrap();
    let week2_id = week2.file_name().unwrap().to_str().unwrap();
    assert_eq!(runs[0]["run_id"], week2_id, "{v}");
    assert_eq!(runs[1]["run_id"], week1_id.as_str(), "{v}");
    let moved = "openai/gpt-3.5-turbo-0613";
    assert_eq!(runs[0]["items"][moved], items, "{v}");
    assert!(runs[1]["items"].get(moved).is_none(), "{v}");
    assert_eq!(runs[1]["items"]["openai/gpt-4-0314"], items, "{v}");
    // Without --history the summary says nothing of it.
    let o = run_suite_in(tmp.path(), &suite, &tmp.path().join("plain"), &[]);
    ok(&o);
    assert!(
        !stdout(&o).contains("Evidence across weeks"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_window_of_zero_below_zero_or_too_long_names_the_flag_and_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("datasets/llmdrift-happy-500");
    let out = tmp.path().join("reports");
    let folder = tmp.path().to_str().unwrap();
    for (window, why) in [
        ("0w", "must be more than 0"),
        ("-4w", "must be more than 0"),
        ("15250284452472w", "is too large (at most "),
    ] {
        let o = run_suite_in(
            tmp.path(),
            &suite,
            &out,
            &["--history", folder, "--window", window],
        );
        assert_eq!(o.status.code(), Some(2), "{window}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(&format!("--window \"{window}\": {why}")), "{e}");
        assert!(!out.exists(), "nothing written");
    }
    let r = run_in(
        tmp.path(),
        &["report", folder, "--history", folder, "--window", "-4w"],
    );
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(
        !stderr(&r).contains("unexpected argument"),
        "{}",
        stderr(&r)
    );
}

/// The run directory in `out` that is none of `others`.
fn other_run(out: &Path, others: &[&Path]) -> std::path::PathBuf {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir() && !others.contains(&p.as_path()))
        .unwrap()
}

#[test]
fn report_after_a_run_with_a_relative_history_folder_rewrites_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("datasets/llmdrift-happy-500");
    let out = tmp.path().join("reports");
    let week1 = run_ok(tmp.path(), &suite, &out);
    // The folder as a user types it, relative to the working directory.
    ok(&run_suite_in(
        tmp.path(),
        &suite,
        &out,
        &["--quiet", "--history", "reports"],
    ));
    let week2 = other_run(&out, &[&week1]);
    let files = ["report.md", "report.json"];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(week2.join(f)).unwrap())
        .collect();
    let manifest: serde_json::Value = serde_json::from_str(&read(&week2.join("run.json"))).unwrap();
    let recorded = manifest["settings"]["history"]["dir"].as_str().unwrap();
    assert!(Path::new(recorded).is_absolute(), "{recorded}");
    assert_eq!(report_json(&week2)["history"]["dir"], recorded);
    let md = String::from_utf8_lossy(&before[0]).into_owned();
    assert!(md.contains(&format!("`{recorded}`")), "{md}");
    ok(&run_in(
        tmp.path(),
        &["report", week2.to_str().unwrap(), "--quiet"],
    ));
    for (f, bytes) in files.iter().zip(&before) {
        assert!(
            std::fs::read(week2.join(f)).unwrap() == *bytes,
            "{f} differs after `report`"
        );
    }
    // History given to `report` on a run made without it is recorded in run.json, so a later
    // plain `report` re-derives the same reports instead of silently dropping it.
    let w1 = week1.to_str().unwrap();
    let week1_md = read(&week1.join("report.md"));
    assert!(!week1_md.contains("Evidence across weeks"));
    ok(&run_in(
        tmp.path(),
        &[
            "report",
            w1,
            "--quiet",
            "--history",
            week2.to_str().unwrap(),
        ],
    ));
    let m: serde_json::Value = serde_json::from_str(&read(&week1.join("run.json"))).unwrap();
    assert!(m["settings"]["history"]["dir"].is_string(), "{m}");
    let with_history = read(&week1.join("report.md"));
    assert!(
        with_history.contains("Evidence across weeks"),
        "{with_history}"
    );
    ok(&run_in(tmp.path(), &["report", w1, "--quiet"]));
    assert_eq!(read(&week1.join("report.md")), with_history);
}

#[test]
fn a_recorded_history_folder_that_is_gone_is_a_warning_and_a_missing_given_one_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("datasets/llmdrift-happy-500");
    let hist = tmp.path().join("hist");
    run_ok(tmp.path(), &suite, &hist);
    let out = tmp.path().join("reports");
    ok(&run_suite_in(
        tmp.path(),
        &suite,
        &out,
        &["--quiet", "--history", hist.to_str().unwrap()],
    ));
    let week2 = only_run_dir(&out);
    assert_eq!(
        report_json(&week2)["history"]["runs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The run is downloaded elsewhere: the folder run.json names is not there.
    let moved = tmp.path().join("elsewhere");
    std::fs::rename(&hist, &moved).unwrap();
    let r = run_in(tmp.path(), &["report", week2.to_str().unwrap()]);
    ok(&r);
    let said = stdout(&r);
    let warning = format!(
        "warning: run.json settings.history names {}",
        hist.display()
    );
    assert!(said.contains(&warning), "{said}");
    assert!(said.contains("--history DIR"), "{said}");
    let v = report_json(&week2);
    assert!(v["history"].is_null(), "{v}");
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("settings.history"), "{warnings}");
    let md = read(&week2.join("report.md"));
    assert!(md.contains("run.json settings.history names"), "{md}");
    assert!(!md.contains("## Evidence across weeks"), "{md}");

    // Named on the command line, a folder that is not there stays bad input.
    let r = run_in(
        tmp.path(),
        &[
            "report",
            week2.to_str().unwrap(),
            "--history",
            hist.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("--history"), "{}", stderr(&r));
    // Named where it now is, the earlier run is read again.
    ok(&run_in(
        tmp.path(),
        &[
            "report",
            week2.to_str().unwrap(),
            "--quiet",
            "--history",
            moved.to_str().unwrap(),
        ],
    ));
    let v = report_json(&week2);
    assert_eq!(v["history"]["runs"].as_array().unwrap().len(), 1, "{v}");
    assert!(!v["warnings"].to_string().contains("settings.history"));
}

#[test]
fn a_run_without_its_journal_or_a_second_copy_of_a_run_is_listed_as_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("datasets/llmdrift-happy-500");
    let out = tmp.path().join("reports");
    let week1 = run_ok(tmp.path(), &suite, &out);
    let week1_id = week1.file_name().unwrap().to_str().unwrap().to_string();
    // The same run copied again (same run id), and another run whose journal is gone.
    let copy = out.join("zz-copy");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(&week1).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, copy.join(p.file_name().unwrap())).unwrap();
        }
    }
    let bare = aged_copy(&week1, "no-journal", 1);
    std::fs::remove_file(bare.join("journal.jsonl")).unwrap();
    let o = run_suite_in(
        tmp.path(),
        &suite,
        &out,
        &["--history", out.to_str().unwrap()],
    );
    ok(&o);
    let summary = stdout(&o);
    assert!(
        summary.contains("not read: 2 runs (1 unreadable, 1 duplicate"),
        "{summary}"
    );
    let week2 = other_run(&out, &[&week1, &copy, &bare]);
    let v = report_json(&week2);
    assert_eq!(v["history"]["runs"], serde_json::json!([week1_id]), "{v}");
    let skipped: Vec<&str> = v["history"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        skipped.contains(&"no-journal: its journal.jsonl is missing"),
        "{skipped:?}"
    );
    assert!(
        skipped.contains(&format!("zz-copy: duplicate of {week1_id}").as_str()),
        "{skipped:?}"
    );
}
