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

    // Re-derived against the accepted table, the run proposes nothing more: diff exits 0.
    ok(&run_in(
        tmp.path(),
        &[
            "report",
            dir.to_str().unwrap(),
            "--routes",
            routes.to_str().unwrap(),
            "--quiet",
        ],
    ));
    let o = run_in(tmp.path(), &["diff", dir.to_str().unwrap(), "--exit-code"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).is_empty());
    // And applying again is a no-op that writes nothing.
    let bak = read(&suite.join("routes.toml.bak"));
    let o = run_in(tmp.path(), &["apply", dir.to_str().unwrap()]);
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
    assert!(out.contains("(follows [default])"), "{out}");
    assert_eq!(read(&routes), before);
    assert!(!suite.join("routes.toml.bak").exists());
}
