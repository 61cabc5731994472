//! Machine output follows one checked-in JSON Schema (`schema/report.schema.json`): report.json
//! and every `--json` (`run`, `report`, `report --routes`, `report A B`, `diff`, `apply`) of
//! both shipped suites is validated against it, every field required and none unknown; the
//! route change of a cell is the same object everywhere.

use std::path::Path;

use serde_json::Value;

use crate::common::schema::assert_valid;
use crate::common::*;

fn schema() -> Value {
    serde_json::from_str(&read(&repo().join("schema/report.schema.json"))).unwrap()
}

fn json_of(cwd: &Path, args: &[&str]) -> Value {
    let o = run_in(cwd, args);
    ok(&o);
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", stdout(&o)))
}

/// The `{cell, old, new}` part of a change object.
fn change(c: &Value) -> Value {
    serde_json::json!({"cell": c["cell"], "old": c["old"], "new": c["new"]})
}

#[test]
fn every_json_output_of_both_shipped_suites_follows_the_checked_in_schema() {
    let schema = schema();
    for name in ["mt-bench", "llm-drift"] {
        let tmp = tempfile::tempdir().unwrap();
        let suite = copy_suite(name, tmp.path());
        let out = tmp.path().join("reports");
        let o = run_suite_in(tmp.path(), &suite, &out, &["--json"]);
        ok(&o);
        let run: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_valid(
            &schema,
            Some("run_output"),
            &run,
            &format!("{name}: run --json"),
        );
        let dir = only_run_dir(&out);
        let d = dir.to_str().unwrap();

        let report: Value = serde_json::from_str(&read(&dir.join("report.json"))).unwrap();
        assert_valid(&schema, None, &report, &format!("{name}: report.json"));
        assert!(report["table_changes"].as_u64().unwrap() > 0, "{name}");
        let rep = json_of(tmp.path(), &["report", d, "--json"]);
        assert_valid(&schema, Some("report_output"), &rep, "report --json");
        assert!(rep.get("derived_dir").is_none());
        let routes = suite.join("routes.toml");
        let named = json_of(
            tmp.path(),
            &[
                "report",
                d,
                "--routes",
                routes.to_str().unwrap(),
                "--name",
                "again",
                "--json",
            ],
        );
        assert_valid(
            &schema,
            Some("report_output"),
            &named,
            "report --routes --json",
        );
        assert!(named["derived_dir"].is_string());

        let diff = json_of(tmp.path(), &["diff", d, "--json"]);
        assert_valid(&schema, Some("diff_output"), &diff, "diff --json");
        let apply = json_of(tmp.path(), &["apply", d, "--dry-run", "--json"]);
        assert_valid(&schema, Some("apply_output"), &apply, "apply --json");

        // One change object: the cells report.json changes appear with the same routes in
        // run --json, diff --json and apply --json.
        for c in report["changes"].as_array().unwrap() {
            let want = change(c);
            for (what, list) in [("run", &run["changes"]), ("diff", &diff["changes"])] {
                assert!(
                    list.as_array().unwrap().iter().any(|x| change(x) == want),
                    "{name}: {what} lacks {want}"
                );
            }
            assert!(
                apply["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| change(x) == want),
                "{name}: apply lacks {want}"
            );
        }

        // Two runs compared.
        let out_b = tmp.path().join("reports-b");
        let b = run_ok(tmp.path(), &suite, &out_b);
        let cmp = json_of(tmp.path(), &["report", d, b.to_str().unwrap(), "--json"]);
        assert_valid(
            &schema,
            Some("comparison_output"),
            &cmp,
            "report A B --json",
        );
        assert!(!cmp["moves"].as_array().unwrap().is_empty());
    }
}

#[test]
fn the_schema_rejects_what_it_should() {
    let schema = schema();
    let route = serde_json::json!({"primary": "a/x", "fallback": null});
    let errors = |def: &str, v: &Value| {
        crate::common::schema::violations(&schema, &schema["$defs"][def], v, "$")
    };
    assert!(errors("route", &route).is_empty());
    assert!(!errors("route", &serde_json::json!({"primary": "a/x"})).is_empty());
    assert!(
        !errors(
            "route",
            &serde_json::json!({"primary": 1, "fallback": null})
        )
        .is_empty()
    );
    assert!(
        !errors(
            "route",
            &serde_json::json!({"primary": "a/x", "fallback": null, "extra": 1})
        )
        .is_empty()
    );
}
