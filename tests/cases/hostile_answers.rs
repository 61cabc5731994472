//! Model answers are arbitrary text: multi-megabyte answers, NUL bytes, CSV and HTML
//! metacharacters all come out intact (CSV, journal) or escaped (Markdown).

use crate::common::*;

fn nasty_answers() -> Vec<(&'static str, String)> {
    vec![
        (
            "csv",
            "a,b;\"quoted\"\r\nnew line, \"\"double\"\" and a trailing quote\"".to_string(),
        ),
        (
            "html",
            "<script>alert('x')</script><img src=x onerror=\"alert(1)\"> | pipe & amp".to_string(),
        ),
        (
            "nul",
            "before\u{0}after\u{1}\u{7f} and \u{202e}bidi".to_string(),
        ),
        ("big", "0123456789abcdef".repeat(200_000)),
    ]
}

#[test]
fn hostile_answers_survive_every_output() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = tmp.path().join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    let mut dataset = String::new();
    let mut recording = String::new();
    for (id, answer) in nasty_answers() {
        let prompt = format!("Say something {id}.");
        dataset.push_str(&serde_json::json!({"id": id, "prompt": prompt, "task_type": "general", "priority": "default",
            "grader": {"kind": "contains", "any": ["after", "alert", "quoted", "abcdef"]}}).to_string());
        dataset.push('\n');
        recording.push_str(&serde_json::json!({"model": "local/m", "prompt_sha256": sha256(&prompt), "response": answer}).to_string());
        recording.push('\n');
    }
    std::fs::write(suite.join("dataset.jsonl"), dataset).unwrap();
    std::fs::write(suite.join("recording.jsonl"), recording).unwrap();
    std::fs::write(
        suite.join("routes.toml"),
        r#"
[classifier]
model = "builtin/keywords"
[endpoints.kw]
kind = "keywords"
[endpoints.rec]
kind = "replay"
path = "recording.jsonl"
[models."builtin/keywords"]
endpoint = "kw"
tier = "budget"
[models."local/m"]
endpoint = "rec"
tier = "budget"
input_per_mtok = 1.0
output_per_mtok = 1.0
[default]
primary = "local/m"
"#,
    )
    .unwrap();
    let dir = run_ok(tmp.path(), &suite, &tmp.path().join("reports"));

    let results = read_csv(&dir.join("results.csv"));
    assert_eq!(results.len(), 4);
    for (id, answer) in nasty_answers() {
        let row = results.iter().find(|r| r["item_id"] == id).unwrap();
        assert!(
            row["answer"] == answer,
            "{id}: the CSV answer differs from the recorded one"
        );
        assert_eq!(row["score"], "1", "{id}: {row:?}");
    }
    let journal = read_jsonl(&dir.join("journal.jsonl"));
    for (id, answer) in nasty_answers() {
        let row = journal
            .iter()
            .find(|r| r["item"] == id && r["kind"] == "candidate")
            .unwrap();
        assert!(
            row["response"].as_str().unwrap() == answer,
            "{id}: the journal answer differs"
        );
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        !md.contains("<script>"),
        "report.md must not carry raw HTML from answers"
    );
}
