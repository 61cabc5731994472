//! Accepting a proposal: `apply` changes only the accepted cells of a commented routes file,
//! byte for byte everywhere else, atomically and with a backup; it refuses a proposal made
//! against another routes file unless forced, and unknown cells are bad input.

use std::path::{Path, PathBuf};

use crate::common::*;

const GPT4: &str = "openai/gpt-4-1106-preview";
const MIXTRAL: &str = "together/mistralai/Mixtral-8x7B-Instruct-v0.1";

/// The MT-bench suite with a routes file as a team keeps it: comments on their own lines and
/// after values, extra blank lines, a trailing comment at the end.
fn commented_suite(dir: &Path) -> PathBuf {
    let suite = copy_suite("mt-bench", dir);
    let path = suite.join("routes.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replace(
            "[routes.math.quality]\nprimary = \"together/mistralai/Mixtral-8x7B-Instruct-v0.1\"\n",
            "[routes.math.quality]      # graded by the GPT-4 judge\n# owner: platform team, reviewed 2026-05\nprimary = \"together/mistralai/Mixtral-8x7B-Instruct-v0.1\"   # cheap and good enough?\n",
        )
        .replace("[routes.general.latency]", "\n\n[routes.general.latency]   # keep fast")
        + "\n# end of table\n";
    std::fs::write(&path, text).unwrap();
    suite
}

fn run(cwd: &Path, suite: &Path) -> PathBuf {
    run_ok(cwd, suite, &cwd.join("reports"))
}

#[test]
fn apply_changes_only_the_accepted_cells_and_keeps_every_other_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = commented_suite(tmp.path());
    let routes = suite.join("routes.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&routes, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let before = read(&routes);
    let dir = run(tmp.path(), &suite);
    // The proposal changes more than math.quality (code.quality, default, …); accept one cell.
    let changes = read_csv(&dir.join("changes.csv"));
    assert!(changes.iter().filter(|r| r["changed"] == "true").count() > 1);
    let o = run_in(
        tmp.path(),
        &["apply", dir.to_str().unwrap(), "--cells", "math.quality"],
    );
    ok(&o);
    assert!(
        stdout(&o).contains("1 of 19 routes change"),
        "{}",
        stdout(&o)
    );
    let after = read(&routes);
    assert_eq!(
        read(&suite.join("routes.toml.bak")),
        before,
        "the backup is the old file"
    );

    let (old_lines, new_lines): (Vec<&str>, Vec<&str>) =
        (before.lines().collect(), after.lines().collect());
    assert_eq!(old_lines.len(), new_lines.len(), "{after}");
    let cell_start = old_lines
        .iter()
        .position(|l| l.starts_with("[routes.math.quality]"))
        .unwrap();
    let differing: Vec<usize> = (0..old_lines.len())
        .filter(|&i| old_lines[i] != new_lines[i])
        .collect();
    assert_eq!(
        differing,
        vec![cell_start + 2, cell_start + 3],
        "only primary and fallback of math.quality"
    );
    assert_eq!(
        new_lines[cell_start + 2],
        format!("primary = \"{GPT4}\"   # cheap and good enough?")
    );
    assert_eq!(
        new_lines[cell_start + 3],
        format!("fallback = \"{MIXTRAL}\"")
    );
    assert!(after.ends_with("\n# end of table\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&routes).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "the routes file keeps its permissions");
    }
    ok(&run_in(
        tmp.path(),
        &["validate", "--routes", routes.to_str().unwrap()],
    ));
}

#[test]
fn apply_without_cells_accepts_the_whole_proposal_and_closes_the_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = commented_suite(tmp.path());
    let routes = suite.join("routes.toml");
    let dir = run(tmp.path(), &suite);
    let o = run_in(tmp.path(), &["apply", dir.to_str().unwrap(), "--json"]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["written"], true);
    let changed: Vec<String> = read_csv(&dir.join("changes.csv"))
        .into_iter()
        .filter(|r| r["changed"] == "true")
        .map(|r| r["cell"].clone())
        .collect();
    // What apply reroutes (cells following [default] included) is what the policy changed.
    let mut rerouted: Vec<String> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cell"].as_str().unwrap().to_string())
        .collect();
    let mut expected = changed.clone();
    rerouted.sort();
    expected.sort();
    assert_eq!(rerouted, expected);
    assert_eq!(read(&routes), read(&dir.join("routes.recommended.toml")));

    // Re-derived against the accepted table (a named derivation beside the run's own reports),
    // the run proposes nothing more: diff exits 0.
    ok(&run_in(
        tmp.path(),
        &[
            "report",
            dir.to_str().unwrap(),
            "--routes",
            routes.to_str().unwrap(),
            "--name",
            "accepted",
            "--quiet",
        ],
    ));
    let derived = dir.join("derived-accepted");
    let o = run_in(
        tmp.path(),
        &["diff", derived.to_str().unwrap(), "--exit-code"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).is_empty());
    // And applying again is a no-op that writes nothing.
    let bak = read(&suite.join("routes.toml.bak"));
    let o = run_in(tmp.path(), &["apply", derived.to_str().unwrap()]);
    ok(&o);
    assert!(stdout(&o).contains("nothing to write"), "{}", stdout(&o));
    assert_eq!(read(&suite.join("routes.toml.bak")), bak);
}

#[test]
fn apply_refuses_a_proposal_made_against_another_routes_file_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = commented_suite(tmp.path());
    let routes = suite.join("routes.toml");
    let dir = run(tmp.path(), &suite);
    // Someone edits the table after the run.
    let edited = read(&routes).replace("# end of table", "# end of table (edited after the run)");
    std::fs::write(&routes, &edited).unwrap();
    let o = run_in(
        tmp.path(),
        &["apply", dir.to_str().unwrap(), "--cells", "code.quality"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not the routes file this proposal was derived from"));
    assert!(stderr(&o).contains("--force"));
    assert_eq!(read(&routes), edited);
    assert!(!suite.join("routes.toml.bak").exists());

    let o = run_in(
        tmp.path(),
        &[
            "apply",
            dir.to_str().unwrap(),
            "--cells",
            "code.quality",
            "--force",
        ],
    );
    ok(&o);
    let after = read(&routes);
    assert!(after.contains(&format!("[routes.code.quality]\nprimary = \"{GPT4}\"\n")));
    assert!(
        after.ends_with("# end of table (edited after the run)\n"),
        "the edit survives"
    );
    assert_eq!(read(&suite.join("routes.toml.bak")), edited);
}

#[test]
fn unknown_cells_are_bad_input_and_dry_runs_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = commented_suite(tmp.path());
    let routes = suite.join("routes.toml");
    let before = read(&routes);
    let dir = run(tmp.path(), &suite);
    for cells in ["code.qualty", "math.quality,maths.default", "quality"] {
        let o = run_in(
            tmp.path(),
            &["apply", dir.to_str().unwrap(), "--cells", cells],
        );
        assert_eq!(o.status.code(), Some(2), "{cells}: {}", stderr(&o));
        assert!(stderr(&o).contains("--cells"), "{}", stderr(&o));
        assert!(stderr(&o).contains("TASK.PRIORITY"), "{}", stderr(&o));
    }
    let o = run_in(
        tmp.path(),
        &[
            "apply",
            dir.to_str().unwrap(),
            "--cells",
            "default,code.quality",
            "--dry-run",
        ],
    );
    ok(&o);
    let out = stdout(&o);
    assert!(out.contains(&format!("+primary = \"{GPT4}\"")), "{out}");
    assert!(out.contains("Would apply default, code.quality"), "{out}");
    // Cells that follow [default] are rerouted by accepting it, and the output says so.
    assert!(out.contains("(follows [default], as proposed)"), "{out}");
    assert_eq!(read(&routes), before);
    assert!(!suite.join("routes.toml.bak").exists());
}

/// The effective route (primary, fallback) of every cell, read from a routes file or a
/// proposal: an unlisted cell follows `[default]`.
fn effective(text: &str) -> std::collections::BTreeMap<String, (String, String)> {
    let doc: toml::Table = toml::from_str(text).unwrap();
    let route = |v: &toml::Value| {
        (
            v["primary"].as_str().unwrap().to_string(),
            v.get("fallback")
                .and_then(|f| f.as_str())
                .unwrap_or("")
                .to_string(),
        )
    };
    let default = route(&doc["default"]);
    let mut out = std::collections::BTreeMap::new();
    for task in [
        "code",
        "math",
        "extraction",
        "creative",
        "factual",
        "general",
    ] {
        for prio in ["latency", "quality", "default"] {
            let r = doc
                .get("routes")
                .and_then(|r| r.get(task))
                .and_then(|t| t.get(prio))
                .map(route)
                .unwrap_or_else(|| default.clone());
            out.insert(format!("{task}.{prio}"), r);
        }
    }
    out.insert("default".into(), default);
    out
}

#[test]
fn apply_writes_each_accepted_cell_the_route_the_proposal_gives_it_also_via_default() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("mt-bench", tmp.path());
    let routes = suite.join("routes.toml");
    let before = effective(&read(&routes));
    let dir = run(tmp.path(), &suite);
    let proposal = effective(&read(&dir.join("routes.recommended.toml")));
    // math.default follows the new [default] in the proposal, and changes.csv says it changes.
    let changes = read_csv(&dir.join("changes.csv"));
    let md = changes
        .iter()
        .find(|r| r["cell"] == "math.default")
        .unwrap();
    assert_eq!(md["changed"], "true");
    assert!(
        !read(&dir.join("routes.recommended.toml")).contains("[routes.math.default]"),
        "the proposal leaves math.default to [default]"
    );

    let o = run_in(
        tmp.path(),
        &[
            "apply",
            dir.to_str().unwrap(),
            "--cells",
            "code.quality,math.default",
            "--json",
        ],
    );
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let after = effective(&read(&routes));
    for cell in ["code.quality", "math.default"] {
        assert_eq!(after[cell], proposal[cell], "{cell}");
        assert_ne!(after[cell], before[cell], "{cell} moves");
    }
    for (cell, r) in &after {
        if cell != "code.quality" && cell != "math.default" {
            assert_eq!(
                r, &before[cell],
                "{cell} is not accepted and keeps its route"
            );
        }
    }
    assert!(read(&routes).contains(&format!(
        "[routes.math.default]\nprimary = \"{GPT4}\"\nfallback = \"{MIXTRAL}\"\n"
    )));
    let pinned = v["pinned"].as_array().unwrap();
    assert_eq!(pinned.len(), 1, "{v}");
    assert_eq!(pinned[0]["cell"], "math.default");
    assert_eq!(pinned[0]["reason"], "follows_proposed_default");
    assert_eq!(v["changes"].as_array().unwrap().len(), 2, "{v}");
}

#[test]
fn apply_default_pins_the_cells_the_proposal_keeps_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("mt-bench", tmp.path());
    let routes = suite.join("routes.toml");
    let before = effective(&read(&routes));
    let dir = run(tmp.path(), &suite);
    let proposal = effective(&read(&dir.join("routes.recommended.toml")));
    let kept: Vec<String> = read_csv(&dir.join("changes.csv"))
        .into_iter()
        .filter(|r| r["changed"] == "false")
        .map(|r| r["cell"].clone())
        .collect();
    assert!(!kept.is_empty());

    // Text output first (a dry run), then the write with --json.
    let o = run_in(
        tmp.path(),
        &[
            "apply",
            dir.to_str().unwrap(),
            "--cells",
            "default",
            "--dry-run",
        ],
    );
    ok(&o);
    let out = stdout(&o);
    assert!(out.contains("Would pin"), "{out}");
    assert!(out.contains("the proposal keeps it"), "{out}");
    let o = run_in(
        tmp.path(),
        &[
            "apply",
            dir.to_str().unwrap(),
            "--cells",
            "default",
            "--json",
        ],
    );
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let after = effective(&read(&routes));
    assert_eq!(after["default"], proposal["default"]);
    for cell in &kept {
        assert_eq!(after[cell], before[cell], "{cell}: the proposal keeps it");
        assert_eq!(after[cell], proposal[cell], "{cell}");
    }
    // Every cell that moved moved to the proposal's route for it.
    for (cell, r) in &after {
        assert!(r == &before[cell] || r == &proposal[cell], "{cell}: {r:?}");
    }
    let pinned: Vec<&str> = v["pinned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["cell"].as_str().unwrap())
        .collect();
    // Exactly the kept cells that followed [default] in the file are pinned (five or six on
    // MT-bench, depending on the policy's outcomes).
    let listed: toml::Table = toml::from_str(&read(&routes.with_extension("toml.bak"))).unwrap();
    let listed = |cell: &str| {
        let (task, prio) = cell.split_once('.').unwrap();
        listed["routes"]
            .get(task)
            .and_then(|t| t.get(prio))
            .is_some()
    };
    let mut expected: Vec<&str> = kept
        .iter()
        .map(String::as_str)
        .filter(|c| *c != "default" && !listed(c))
        .collect();
    let mut got = pinned.clone();
    expected.sort();
    got.sort();
    assert!(expected.len() >= 5, "{expected:?}");
    assert_eq!(got, expected, "{v}");
    for p in v["pinned"].as_array().unwrap() {
        let cell = p["cell"].as_str().unwrap();
        assert!(kept.iter().any(|k| k == cell), "{cell}");
        assert_eq!(p["reason"], "kept_by_proposal");
        assert_eq!(p["route"]["primary"], before[cell].0.as_str());
    }
}
