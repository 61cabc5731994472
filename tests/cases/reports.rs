//! Reports people read: every file exists and parses, CSV columns follow the checked-in
//! contract, the HTML escapes what models and prompts say, its charts mark every model, two
//! runs compare, and a locked run directory refuses a second command.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::common::*;

/// Run `suite` (a folder) from `cwd` into `cwd/<out>`; the run directory.
fn run(cwd: &Path, suite: &Path, out: &str) -> PathBuf {
    run_ok(cwd, suite, &cwd.join(out))
}

fn shipped(name: &str) -> PathBuf {
    repo().join("datasets").join(name)
}

fn schema() -> serde_json::Value {
    serde_json::from_str(&read(&repo().join("schema/csv-columns.json"))).unwrap()
}

/// The schema entry for a CSV file name (`compare-*.csv` matches any comparison).
fn spec_for<'a>(schema: &'a serde_json::Value, file: &str) -> Option<&'a serde_json::Value> {
    let files = schema["files"].as_object().unwrap();
    files.get(file).or_else(|| {
        files
            .iter()
            .find(|(k, _)| {
                k.split_once('*')
                    .is_some_and(|(pre, post)| file.starts_with(pre) && file.ends_with(post))
            })
            .map(|(_, v)| v)
    })
}

/// Header equal to the contract, every record as long as the header, every value of its type.
fn check_csv(path: &Path, spec: &serde_json::Value) -> usize {
    let cols = spec["columns"].as_array().unwrap();
    let names: Vec<&str> = cols.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        csv_header(path),
        names,
        "{}: columns differ from schema/csv-columns.json",
        path.display()
    );
    let mut r = csv::Reader::from_path(path).unwrap();
    let mut rows = 0;
    for (i, rec) in r.records().enumerate() {
        let rec = rec.unwrap_or_else(|e| panic!("{} row {}: {e}", path.display(), i + 2));
        rows += 1;
        for (c, v) in cols.iter().zip(rec.iter()) {
            let name = c["name"].as_str().unwrap();
            let at = format!("{} row {} {name}: {v:?}", path.display(), i + 2);
            if v.is_empty() {
                assert!(c["nullable"].as_bool().unwrap(), "{at} may not be empty");
                continue;
            }
            match c["type"].as_str().unwrap() {
                "integer" => assert!(v.parse::<i64>().is_ok(), "{at} is not an integer"),
                "number" => assert!(
                    v.parse::<f64>().is_ok_and(f64::is_finite),
                    "{at} is not a number"
                ),
                "boolean" => assert!(v == "true" || v == "false", "{at} is not a boolean"),
                "string" => {}
                other => panic!("unknown type {other} in the schema"),
            }
            if let Some(values) = c["values"].as_array() {
                assert!(
                    values.iter().any(|x| x == v),
                    "{at} is not one of {values:?}"
                );
            }
        }
    }
    rows
}

#[test]
fn every_report_file_exists_and_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run(tmp.path(), &shipped("mt-bench"), "reports");
    let manifest: serde_json::Value = serde_json::from_str(&read(&dir.join("run.json"))).unwrap();
    assert_eq!(manifest["status"], "complete");
    assert_eq!(read_jsonl(&dir.join("journal.jsonl")).len(), 480);
    for f in [
        "results.csv",
        "summary.csv",
        "summary_by_priority.csv",
        "classifier.csv",
        "classifier_predictions.csv",
        "confusion.csv",
        "changes.csv",
        "simulation.csv",
    ] {
        assert!(!read_csv(&dir.join(f)).is_empty(), "{f} has no rows");
    }
    let recommended: toml::Table = toml::from_str(&read(&dir.join("routes.recommended.toml")))
        .expect("routes.recommended.toml is TOML");
    assert!(recommended.contains_key("default") && recommended.contains_key("routes"));
    // The change cell by cell, then the unified diff of the file.
    let diff = read(&dir.join("routes.diff"));
    let (cells, file_diff) = diff.split_once("\n\n").unwrap_or_else(|| panic!("{diff}"));
    assert!(cells.lines().all(|l| l.contains(": primary ")), "{cells}");
    assert!(file_diff.starts_with("--- routes.toml\n+++ routes.recommended.toml\n"));
    assert!(read(&dir.join("report.md")).starts_with(&format!(
        "# routecal run `{}`",
        manifest["run_id"].as_str().unwrap()
    )));
    let summary: serde_json::Value = serde_json::from_str(&read(&dir.join("report.json"))).unwrap();
    assert_eq!(summary["run_id"], manifest["run_id"]);
    assert_eq!(
        summary["routes"]["sha256"], manifest["routes"]["sha256"],
        "report.json records the routes file the proposal was derived from"
    );
    let changed_cells: Vec<String> = read_csv(&dir.join("changes.csv"))
        .into_iter()
        .filter(|r| r["changed"] == "true")
        .map(|r| r["cell"].clone())
        .collect();
    let json_cells: Vec<&str> = summary["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cell"].as_str().unwrap())
        .collect();
    assert_eq!(json_cells, changed_cells);

    let html = read(&dir.join("report.html"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    // Self-contained: nothing to fetch, nothing to run.
    for banned in [
        "<script", "<link", "<img", "<iframe", " src=", "@import", "url(",
    ] {
        assert!(!html.contains(banned), "report.html contains {banned:?}");
    }
    for section in [
        "id=\"verdict\"",
        "id=\"changes\"",
        "id=\"tasks\"",
        "id=\"classifier\"",
        "id=\"simulation\"",
        "id=\"examples\"",
    ] {
        assert!(html.contains(section), "report.html has no {section}");
    }
    // Leftovers of atomic writes would be visible here.
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "temporary file left: {name}");
    }
}

#[test]
fn csv_columns_follow_the_checked_in_schema_and_the_docs_list_them() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = schema();
    // The reference pages under docs/ list them (each page the columns it owns).
    let mut docs = String::new();
    for e in std::fs::read_dir(repo().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push_str(&read(&p));
        }
    }
    let a = run(tmp.path(), &shipped("llm-drift"), "a");
    let b = run(tmp.path(), &shipped("llm-drift"), "b");
    ok(&run_in(
        tmp.path(),
        &[
            "report",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--quiet",
        ],
    ));
    let m = run(tmp.path(), &shipped("mt-bench"), "m");
    // The shipped suites have no judge; this fixture's judge.csv has rows.
    let j = run(tmp.path(), &repo().join("tests/fixtures/judge"), "j");
    let mut seen = Vec::new();
    let mut rows: BTreeMap<String, usize> = BTreeMap::new();
    for dir in [&b, &m, &j] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            if !name.ends_with(".csv") {
                continue;
            }
            let spec = spec_for(&schema, &name)
                .unwrap_or_else(|| panic!("{name} is not in schema/csv-columns.json"));
            *rows.entry(name.clone()).or_default() += check_csv(&p, spec);
            seen.push(name);
        }
    }
    for (name, n) in &rows {
        assert!(*n > 0, "{name} has no rows in any run");
    }
    // Every file of the contract was produced and checked, and a page under docs/ documents it.
    for (file, spec) in schema["files"].as_object().unwrap() {
        assert!(
            seen.iter().any(|s| spec_for(&schema, s) == Some(spec)),
            "{file} was never written"
        );
        let cols: Vec<&str> = spec["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        let line = format!("`{file}`: `{}`", cols.join(", "));
        assert!(
            docs.contains(&line),
            "no page under docs/ has the line\n{line}"
        );
    }
}

/// A copy of the MT-bench suite where every prompt and every GPT-4 answer carries markup that
/// would run a script or break out of an attribute if it reached the page unescaped.
fn hostile_suite(dir: &Path) -> PathBuf {
    const PAYLOAD: &str = r#"<script>alert("owned")</script> " onmouseover="alert(1)" '><img src=x onerror=alert(2)>"#;
    let suite = copy_suite("mt-bench", dir);
    let mut rekey = HashMap::new();
    let items: Vec<String> = read_jsonl(&suite.join("dataset.jsonl"))
        .into_iter()
        .map(|mut it| {
            let old = item_sha256(&it);
            // In front, so that a long prompt shortened on the page still shows it (for a
            // conversation, in front of its last user turn: the prompt the page shows).
            let hostile = |s: &serde_json::Value| format!("{PAYLOAD}\n{}", s.as_str().unwrap());
            if let Some(m) = it.get_mut("messages") {
                let last = m.as_array_mut().unwrap().last_mut().unwrap();
                last["content"] = hostile(&last["content"]).into();
            } else {
                it["prompt"] = hostile(&it["prompt"]).into();
            }
            rekey.insert(old, item_sha256(&it));
            it.to_string()
        })
        .collect();
    std::fs::write(suite.join("dataset.jsonl"), items.join("\n") + "\n").unwrap();
    let rec: Vec<String> = read_jsonl(&suite.join("recording.jsonl"))
        .into_iter()
        .map(|mut r| {
            let key = rekey[r["prompt_sha256"].as_str().unwrap()].clone();
            r["prompt_sha256"] = key.into();
            if r["model"] == "openai/gpt-4-1106-preview" {
                r["response"] = format!("{PAYLOAD}\n{}", r["response"].as_str().unwrap()).into();
            }
            r.to_string()
        })
        .collect();
    std::fs::write(suite.join("recording.jsonl"), rec.join("\n") + "\n").unwrap();
    suite
}

#[test]
fn html_escapes_hostile_answers_and_prompts() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = hostile_suite(tmp.path());
    let dir = run(tmp.path(), &suite, "reports");
    let html = read(&dir.join("report.html"));
    let escaped = "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt; &quot; onmouseover=&quot;alert(1)&quot; &#39;&gt;&lt;img src=x onerror=alert(2)&gt;";
    let examples = html.matches("<details class=\"example\">").count();
    assert!(
        examples >= 2,
        "the run proposes changes, so it shows examples"
    );
    // Each example shows the prompt and two answers: the prompt and the GPT-4 answer carry it.
    assert!(
        html.matches(escaped).count() >= 2 * examples,
        "expected the escaped payload in every example's prompt and GPT-4 answer"
    );
    assert!(!html.to_lowercase().contains("<script"));
    assert!(!html.contains("<img"));
    assert!(!html.contains("onmouseover=\""));
    assert!(!html.contains("alert(\"owned\")"));
    // The answers themselves reach results.csv untouched.
    let results = read_csv(&dir.join("results.csv"));
    assert!(
        results
            .iter()
            .any(|r| r["answer"].starts_with("<script>alert(\"owned\")</script>"))
    );
}

/// `<figure id="ID">…</figure>` of the page.
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<figure id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no figure {id}"));
    let end = start + html[start..].find("</figure>").unwrap();
    &html[start..end]
}

/// Model → colour, from the legend in front of a task's charts.
fn legend(html: &str, task: &str) -> BTreeMap<String, String> {
    let start = html.find(&format!("<h3 id=\"task-{task}\">")).unwrap();
    let block = &html[start..start + html[start..].find("</ul>").unwrap()];
    block
        .split("<span class=\"swatch\" style=\"background:")
        .skip(1)
        .map(|s| {
            let color = s[..7].to_string();
            let model = s
                .split("<code>")
                .nth(1)
                .unwrap()
                .split("</code>")
                .next()
                .unwrap();
            (model.to_string(), color)
        })
        .collect()
}

#[test]
fn charts_mark_every_model_once_per_task_with_the_pareto_front_filled() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run(tmp.path(), &shipped("llm-drift"), "reports");
    let html = read(&dir.join("report.html"));
    let summary = read_csv(&dir.join("summary.csv"));
    let mut tasks: Vec<&str> = summary.iter().map(|r| r["task_type"].as_str()).collect();
    tasks.sort();
    tasks.dedup();
    assert!(tasks.len() >= 3, "{tasks:?}");
    for task in tasks {
        let rows: Vec<&HashMap<String, String>> =
            summary.iter().filter(|r| r["task_type"] == task).collect();
        let colors = legend(&html, task);
        assert_eq!(colors.len(), rows.len(), "{task}: legend {colors:?}");
        let cq = figure(&html, &format!("cost-quality-{task}"));
        let lat = figure(&html, &format!("latency-{task}"));
        assert_eq!(cq.matches("<circle").count(), rows.len(), "{task}");
        let point = |r: &HashMap<String, String>| -> (f64, f64) {
            (
                r["cost_per_call_usd"].parse().unwrap(),
                r["quality"].parse().unwrap(),
            )
        };
        for r in &rows {
            let model = &r["model"];
            let color = &colors[model];
            let circles: Vec<&str> = cq
                .lines()
                .filter(|l| l.starts_with("<circle") && l.contains(color.as_str()))
                .collect();
            assert_eq!(circles.len(), 1, "{task} {model}: {circles:?}");
            // On the Pareto front (no model both cheaper and better) ⇔ filled.
            let (c, q) = point(r);
            let dominated = rows.iter().any(|o| {
                let (oc, oq) = point(o);
                oc <= c && oq >= q && (oc < c || oq > q)
            });
            assert_eq!(
                circles[0].contains(&format!("fill=\"{color}\"")),
                !dominated,
                "{task} {model}: {}",
                circles[0]
            );
            let curves = lat
                .lines()
                .filter(|l| {
                    l.starts_with("<polyline") && l.contains(&format!("stroke=\"{color}\""))
                })
                .count();
            assert_eq!(curves, 1, "{task} {model}: one latency curve");
        }
    }
    // The confusion heat map shows every classified item once: its cell counts add up.
    let confusion = read_csv(&dir.join("confusion.csv"));
    assert!(
        confusion
            .iter()
            .all(|r| r["classifier"] == "builtin/keywords")
    );
    let confusion: u64 = confusion
        .iter()
        .map(|r| r["n"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(html.matches("<figure class=\"confusion\">").count(), 1);
    let start = html.find("<figure class=\"confusion\">").unwrap();
    let fig = &html[start..start + html[start..].find("</figure>").unwrap()];
    let shown: u64 = fig
        .split("</text>")
        .filter_map(|t| t.rsplit('>').next()?.trim().parse::<u64>().ok())
        .sum();
    assert_eq!(shown, confusion);
}

/// The hash a recording keys an item on: its prompt's, or its canonical conversation's.
fn item_sha256(item: &serde_json::Value) -> String {
    match item.get("messages") {
        Some(m) => sha256(&m.to_string()),
        None => sha256(item["prompt"].as_str().unwrap()),
    }
}

/// Set every recorded grade of `model` on `task` items to 1.
fn perfect_grades(suite: &Path, model: &str, task: &str) {
    let task_of: HashMap<String, String> = read_jsonl(&suite.join("dataset.jsonl"))
        .into_iter()
        .map(|i| {
            (
                item_sha256(&i),
                i["task_type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let rec: Vec<String> = read_jsonl(&suite.join("recording.jsonl"))
        .into_iter()
        .map(|mut r| {
            if r["model"] == model && task_of[r["prompt_sha256"].as_str().unwrap()] == task {
                r["grade"]["score"] = 1.0.into();
            }
            r.to_string()
        })
        .collect();
    std::fs::write(suite.join("recording.jsonl"), rec.join("\n") + "\n").unwrap();
}

#[test]
fn report_a_b_says_what_moved_between_two_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let mixtral = "together/mistralai/Mixtral-8x7B-Instruct-v0.1";
    let a = run(tmp.path(), &shipped("mt-bench"), "week1");
    let suite = copy_suite("mt-bench", tmp.path());
    perfect_grades(&suite, mixtral, "math");
    let b = run(tmp.path(), &suite, "week2");

    let o = run_in(
        tmp.path(),
        &["report", a.to_str().unwrap(), b.to_str().unwrap()],
    );
    ok(&o);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("math {mixtral}: quality up")),
        "{out}"
    );
    assert!(out.contains("What moved (1 of 12)"), "{out}");
    let a_id = a.file_name().unwrap().to_str().unwrap();
    let md = read(&b.join(format!("compare-{a_id}.md")));
    assert!(
        md.contains(&format!("- `{mixtral}` on **math**: quality up")),
        "{md}"
    );
    let rows = read_csv(&b.join(format!("compare-{a_id}.csv")));
    assert_eq!(rows.len(), 12);
    let qa = |dir: &Path, m: &str, t: &str| -> f64 {
        read_csv(&dir.join("summary.csv"))
            .iter()
            .find(|r| r["model"] == m && r["task_type"] == t)
            .unwrap()["quality"]
            .parse()
            .unwrap()
    };
    for r in &rows {
        let (m, t) = (&r["model"], &r["task_type"]);
        let delta: f64 = r["delta_quality"].parse().unwrap();
        assert!(
            (delta - (qa(&b, m, t) - qa(&a, m, t))).abs() < 1e-9,
            "{r:?}"
        );
        assert_eq!(r["n_paired"], r["n_graded_a"]);
        let moved = m == mixtral && t == "math";
        assert_eq!(!r["notable"].is_empty(), moved, "{r:?}");
        if moved {
            assert!(delta > 0.3 && r["delta_quality_ci_low"].parse::<f64>().unwrap() > 0.0);
        }
    }
    // Scripts get the same as JSON; the earlier run is only read.
    let before: Vec<_> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let o = run_in(
        tmp.path(),
        &["report", a.to_str().unwrap(), b.to_str().unwrap(), "--json"],
    );
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["notable"], 1);
    assert_eq!(v["a"], a_id);
    let after: Vec<_> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(before.len(), after.len());
}

#[test]
fn report_and_diff_speak_quiet_and_json_for_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run(tmp.path(), &shipped("mt-bench"), "reports");
    let d = dir.to_str().unwrap();

    let o = run_in(tmp.path(), &["diff", d, "--exit-code", "--quiet"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).is_empty() && stderr(&o).is_empty());

    let o = run_in(tmp.path(), &["diff", d, "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "without --exit-code a change is not an error"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["changed"], true);
    assert_eq!(v["diff"].as_str().unwrap(), read(&dir.join("routes.diff")));
    assert!(
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["cell"] == "math.quality"
                && c["new"]["primary"] == "openai/gpt-4-1106-preview")
    );

    let o = run_in(tmp.path(), &["report", d, "--quiet"]);
    ok(&o);
    assert!(stdout(&o).is_empty());
    let o = run_in(tmp.path(), &["report", d, "--json"]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "report.html")
    );
    assert_eq!(
        v["table_changes"].as_u64(),
        Some(v["changes"].as_array().unwrap().len() as u64)
    );
    assert!(v["table_changes"].as_u64().unwrap() > 0);
}

#[test]
fn a_locked_run_directory_refuses_a_second_command() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = copy_suite("mt-bench", tmp.path());
    let dir = run(tmp.path(), &suite, "reports");
    let routes_before = read(&suite.join("routes.toml"));
    let report_before = read(&dir.join("report.md"));
    std::fs::remove_file(dir.join("report.md")).unwrap();
    {
        // Another process holds the directory: this test process, through the same lock.
        let _held = routecal::store::lock::Lock::acquire(&dir).unwrap();
        for args in [
            vec!["report", dir.to_str().unwrap()],
            vec!["apply", dir.to_str().unwrap()],
        ] {
            let o = run_in(tmp.path(), &args);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
            assert!(
                stderr(&o).contains("in use by another routecal process (pid"),
                "{}",
                stderr(&o)
            );
        }
        assert!(
            !dir.join("report.md").exists(),
            "a refused report writes nothing"
        );
        assert_eq!(read(&suite.join("routes.toml")), routes_before);
        assert!(!suite.join("routes.toml.bak").exists());
    }
    // Released (as it is when a holder exits, even killed): the same command goes through.
    ok(&run_in(
        tmp.path(),
        &["report", dir.to_str().unwrap(), "--quiet"],
    ));
    assert_eq!(read(&dir.join("report.md")), report_before);
}

#[test]
fn diff_on_a_folder_that_is_no_run_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-run");
    let o = run_in(tmp.path(), &["diff", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not a run directory"),
        "{}",
        stderr(&o)
    );
    assert!(
        !stderr(&o).contains("routecal report"),
        "no advice that fails in turn"
    );
}
