//! `json_fields`: an extraction answer graded field by field against an expected object.
//!
//! The first JSON object in the answer is parsed (prose or a code fence around it is fine); each
//! expected field scores when the answer's value matches after normalisation: strings compare
//! trimmed, with runs of whitespace collapsed and without case; numbers compare as numbers, so
//! `42`, `42.0`, `"42"` and `"1,234"`/`1234` match; lists and objects compare element by element.

use serde_json::{Map, Value};

use super::{Grade, clip, numeric, text};

/// At most this many `{` are tried as the start of an object, so a huge answer stays cheap.
const MAX_OBJECT_STARTS: usize = 256;

/// The JSON object an answer gives: the first top-level object, read left to right.
///
/// A `{` starts a candidate; its extent is found by matching braces and brackets (outside JSON
/// strings). The candidate is parsed as JSON, and if that fails, once more with trailing commas
/// (`,}` and `,]`) removed. A candidate that still does not parse is skipped whole: an object
/// nested inside it is never taken for the answer (a malformed outer object is a wrong answer,
/// not its inner part). A `{` that is never closed ends the search. Text around the object
/// (prose, a code fence) is ignored.
pub fn first_json_object(answer: &str) -> Option<Map<String, Value>> {
    let mut from = 0;
    for _ in 0..MAX_OBJECT_STARTS {
        let start = from + answer[from..].find('{')?;
        let end = start + balanced_len(&answer[start..])?;
        let span = &answer[start..end];
        let parsed = serde_json::from_str::<Value>(span)
            .ok()
            .or_else(|| serde_json::from_str::<Value>(&without_trailing_commas(span)).ok());
        if let Some(Value::Object(m)) = parsed {
            return Some(m);
        }
        from = end;
    }
    None
}

/// The length of the bracketed value at the start of `s` (which starts with `{`), braces and
/// brackets counted outside double-quoted strings; none when it is never closed.
fn balanced_len(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `s` without the commas that directly (up to whitespace) precede a `}` or `]`, outside strings.
fn without_trailing_commas(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let (mut in_string, mut escaped) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            (escaped, in_string) = match (escaped, c) {
                (true, _) => (false, true),
                (false, '\\') => (true, true),
                (false, '"') => (false, false),
                _ => (false, true),
            };
        } else if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|n| !n.is_whitespace());
            if matches!(next, Some('}' | ']')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// A value reduced to what the comparison looks at.
#[derive(Debug, Clone)]
enum Norm {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    List(Vec<Norm>),
    Object(Vec<(String, Norm)>),
}

fn norm_text(s: &str) -> String {
    text::fold(s, false)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn normalise(v: &Value) -> Norm {
    match v {
        Value::Null => Norm::Null,
        Value::Bool(b) => Norm::Bool(*b),
        Value::Number(n) => n.as_f64().map(Norm::Number).unwrap_or(Norm::Null),
        Value::String(s) => match numeric::parse_number(s) {
            Some(x) => Norm::Number(x),
            None => match norm_text(s).as_str() {
                "true" => Norm::Bool(true),
                "false" => Norm::Bool(false),
                t => Norm::Text(t.to_string()),
            },
        },
        Value::Array(a) => Norm::List(a.iter().map(normalise).collect()),
        Value::Object(m) => {
            let mut fields: Vec<(String, Norm)> = m
                .iter()
                .map(|(k, v)| (norm_text(k), normalise(v)))
                .collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Norm::Object(fields)
        }
    }
}

fn same(a: &Norm, b: &Norm) -> bool {
    match (a, b) {
        (Norm::Null, Norm::Null) => true,
        (Norm::Bool(x), Norm::Bool(y)) => x == y,
        (Norm::Number(x), Norm::Number(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        (Norm::Text(x), Norm::Text(y)) => x == y,
        (Norm::List(x), Norm::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Norm::Object(x), Norm::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same(vx, vy))
        }
        _ => false,
    }
}

/// The answer's value for an expected field: the exact key, else the key compared without case
/// and surrounding whitespace.
fn lookup<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        let want = norm_text(key);
        obj.iter()
            .find(|(k, _)| norm_text(k) == want)
            .map(|(_, v)| v)
    })
}

/// Score: the share of expected fields whose values match.
pub fn grade(expected: &Map<String, Value>, answer: &str) -> Grade {
    let Some(got) = first_json_object(answer) else {
        return Grade {
            score: Some(0.0),
            reason: "no JSON object in the answer".into(),
        };
    };
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for (k, want) in expected {
        match lookup(&got, k) {
            None => missing.push(k.as_str()),
            Some(v) if !same(&normalise(v), &normalise(want)) => wrong.push(k.as_str()),
            Some(_) => {}
        }
    }
    let total = expected.len();
    let matched = total - missing.len() - wrong.len();
    let mut reason = format!("{matched} of {total} fields match");
    if !wrong.is_empty() {
        reason.push_str(&format!("; differ: {}", wrong.join(", ")));
    }
    if !missing.is_empty() {
        reason.push_str(&format!("; missing: {}", missing.join(", ")));
    }
    Grade {
        score: Some(matched as f64 / total as f64),
        reason: clip(&reason, 200),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expected(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn finds_the_first_object_inside_prose_and_fences() {
        let a = "Sure! Here it is:\n```json\n{\"id\": \"A-17\", \"n\": 2}\n```\nand {\"other\": 1}";
        let o = first_json_object(a).unwrap();
        assert_eq!(o["id"], "A-17");
        // A brace that does not start an object is skipped.
        let o = first_json_object("set {x} = {\"a\": [1, {\"b\": 2}]} done").unwrap();
        assert_eq!(o["a"][1]["b"], 2);
        assert!(first_json_object("no object [1, 2]").is_none());
    }

    #[test]
    fn normalises_whitespace_case_and_numbers() {
        let e = expected(json!({
            "name": "Ada  Lovelace", "total": 1234.5, "count": "3", "paid": true,
            "tags": ["A", "b"]
        }));
        let a = r#"{"Name": " ada lovelace ", "total": "1,234.50", "count": 3.0, "paid": "TRUE", "tags": ["a", "B"]}"#;
        let g = grade(&e, a);
        assert_eq!(g.score, Some(1.0), "{}", g.reason);
    }

    #[test]
    fn scores_the_share_of_matching_fields() {
        let e = expected(
            json!({"order_id": "A-17", "ship_date": "2026-05-28", "total": 42, "city": "Oslo"}),
        );
        let g = grade(
            &e,
            r#"{"order_id": "a-17", "ship_date": "2026-05-29", "total": 42.0}"#,
        );
        assert_eq!(g.score, Some(0.5));
        assert!(g.reason.contains("differ: ship_date"), "{}", g.reason);
        assert!(g.reason.contains("missing: city"), "{}", g.reason);
        let g = grade(&e, "I could not find an order.");
        assert_eq!(g.score, Some(0.0));
        assert_eq!(g.reason, "no JSON object in the answer");
    }

    #[test]
    fn nested_values_must_match_entirely() {
        let e = expected(json!({"addr": {"city": "Oslo", "zip": "0150"}}));
        assert_eq!(
            grade(&e, r#"{"addr": {"zip": "0150", "city": "oslo"}}"#).score,
            Some(1.0)
        );
        assert_eq!(grade(&e, r#"{"addr": {"city": "Oslo"}}"#).score, Some(0.0));
    }

    #[test]
    fn a_malformed_outer_object_never_yields_an_inner_one() {
        // Trailing commas in the outer object are tolerated: the outer object is read.
        let a = "```json\n{\"id\": \"B-99\", \"items\": [{\"id\": \"A-17\", \"total\": 5}],}\n```";
        let o = first_json_object(a).unwrap();
        assert_eq!(o["id"], "B-99");
        let e = expected(json!({"id": "A-17", "total": 5}));
        assert_eq!(grade(&e, a).score, Some(0.0));
        // Broken beyond trailing commas: skipped whole, its inner object is not the answer.
        let a = "{\"id\": \"B-99\" \"items\": [{\"id\": \"A-17\", \"total\": 5}]}";
        assert!(first_json_object(a).is_none());
        assert_eq!(grade(&e, a).score, Some(0.0));
        // Never closed (a cut answer): no object.
        assert!(first_json_object("{\"outer\": {\"id\": \"A-17\", \"total\": 5}").is_none());
        // A malformed object, then a good one at top level: the good one.
        let o = first_json_object("{oops, {\"id\": 1}} then {\"id\": 2,}").unwrap();
        assert_eq!(o["id"], 2);
        // Braces inside strings do not count.
        let o = first_json_object(r#"{"note": "a } b {", "id": 3,}"#).unwrap();
        assert_eq!(o["id"], 3);
        // Commas inside strings stay.
        let o = first_json_object(r#"{"s": ",}", "t": [1, 2,],}"#).unwrap();
        assert_eq!(
            (o["s"].as_str(), o["t"].as_array().map(Vec::len)),
            (Some(",}"), Some(2))
        );
    }

    #[test]
    fn field_text_ignores_normalisation_and_width() {
        let e = expected(json!({"city": "Zürich", "code": "AB12"}));
        assert_eq!(
            grade(&e, "{\"city\": \"Zu\u{308}rich\", \"code\": \"ＡＢ１２\"}").score,
            Some(1.0)
        );
    }
}
