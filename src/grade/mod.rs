//! Graders: turn one answer into a score in [0, 1] with a short reason.
//!
//! Grading is a pure function of the journal (answer, recorded grade, judge reply), so a changed
//! grader re-applies to an old run for free.

mod json;
pub(crate) mod judge;
mod numeric;
mod text;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use numeric::extract_final_number;
pub use text::extract_choice;

/// A grade that came with a replayed answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedGrade {
    pub score: f64,
    #[serde(default)]
    pub reason: String,
}

/// What a grader sees of one call.
#[derive(Debug, Clone, Copy, Default)]
pub struct GradeInput<'a> {
    pub answer: &'a str,
    /// The grade recorded with a replayed answer, if any.
    pub recorded: Option<&'a RecordedGrade>,
    /// The judge model's reply about this answer, when a judge was called.
    pub judge_reply: Option<&'a str>,
    /// Why the judge call about this answer failed, when it did.
    pub judge_error: Option<&'a str>,
}

/// A score in [0, 1], or none when the answer could not be graded (an ungradable row is not a zero).
#[derive(Debug, Clone, PartialEq)]
pub struct Grade {
    pub score: Option<f64>,
    pub reason: String,
}

impl Grade {
    fn pass(ok: bool, reason: impl Into<String>) -> Grade {
        Grade {
            score: Some(if ok { 1.0 } else { 0.0 }),
            reason: reason.into(),
        }
    }

    fn ungradable(reason: impl Into<String>) -> Grade {
        Grade {
            score: None,
            reason: reason.into(),
        }
    }
}

/// How an item is graded (the dataset's `grader` object).
#[derive(Debug, Clone)]
pub enum Grader {
    Exact {
        expected: String,
        case_sensitive: bool,
    },
    Contains {
        needles: Vec<String>,
        all: bool,
        case_sensitive: bool,
    },
    Regex {
        pattern: regex::Regex,
    },
    Numeric {
        expected: f64,
        tolerance: f64,
    },
    Choice {
        expected: String,
        options: Vec<String>,
    },
    /// Extraction: the share of `expected`'s fields the answer's first JSON object matches.
    JsonFields {
        expected: serde_json::Map<String, Value>,
    },
    /// An LLM judge's 1–10 verdict against a rubric (and a reference answer, when given).
    Judge {
        rubric: String,
        reference: Option<String>,
    },
    Recorded,
}

/// A grader definition that cannot work, with the field at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct GraderError {
    pub field: String,
    pub message: String,
}

fn gerr(field: &str, message: impl Into<String>) -> GraderError {
    GraderError {
        field: format!("grader.{field}"),
        message: message.into(),
    }
}

/// The `kind` of a grader object in a dataset line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GraderKind {
    Exact,
    Contains,
    Regex,
    Numeric,
    Choice,
    Recorded,
    JsonFields,
    Judge,
}

/// Every kind, in the order error messages list them.
const GRADER_KINDS: [GraderKind; 8] = [
    GraderKind::Exact,
    GraderKind::Contains,
    GraderKind::Regex,
    GraderKind::Numeric,
    GraderKind::Choice,
    GraderKind::JsonFields,
    GraderKind::Judge,
    GraderKind::Recorded,
];

impl GraderKind {
    fn as_str(self) -> &'static str {
        match self {
            GraderKind::Exact => "exact",
            GraderKind::Contains => "contains",
            GraderKind::Regex => "regex",
            GraderKind::Numeric => "numeric",
            GraderKind::Choice => "choice",
            GraderKind::Recorded => "recorded",
            GraderKind::JsonFields => "json_fields",
            GraderKind::Judge => "judge",
        }
    }

    /// The fields a grader object of this kind may have.
    fn fields(self) -> &'static [&'static str] {
        match self {
            GraderKind::Exact => &["kind", "expected", "case_sensitive"],
            GraderKind::Contains => &["kind", "any", "all", "case_sensitive"],
            GraderKind::Regex => &["kind", "pattern"],
            GraderKind::Numeric => &["kind", "expected", "tolerance"],
            GraderKind::Choice => &["kind", "expected", "options"],
            GraderKind::Recorded => &["kind"],
            GraderKind::JsonFields => &["kind", "expected"],
            GraderKind::Judge => &["kind", "rubric", "reference"],
        }
    }

    /// The object's `kind`, or why it has none that is known.
    fn of(obj: &serde_json::Map<String, Value>) -> Result<GraderKind, GraderError> {
        let names = || GRADER_KINDS.map(GraderKind::as_str).join(", ");
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| gerr("kind", format!("missing (one of {})", names())))?;
        GRADER_KINDS
            .into_iter()
            .find(|k| k.as_str() == kind)
            .ok_or_else(|| {
                gerr(
                    "kind",
                    format!("unknown grader kind {kind:?} (expected one of {})", names()),
                )
            })
    }
}

/// The fields of a grader object, read with the error each kind of bad value gets.
struct Fields<'a>(&'a serde_json::Map<String, Value>);

impl Fields<'_> {
    fn string(&self, f: &str) -> Result<String, GraderError> {
        match self.0.get(f) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(_) => Err(gerr(f, "must be a string")),
            None => Err(gerr(f, "missing")),
        }
    }

    fn flag(&self, f: &str) -> Result<bool, GraderError> {
        match self.0.get(f) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(gerr(f, "must be true or false")),
        }
    }

    fn strings(&self, f: &str) -> Result<Option<Vec<String>>, GraderError> {
        match self.0.get(f) {
            None => Ok(None),
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|x| match x {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(gerr(f, "must be a list of non-empty strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(gerr(f, "must be a non-empty list of strings")),
        }
    }

    fn number(&self, f: &str) -> Result<Option<f64>, GraderError> {
        match self.0.get(f) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => numeric::parse_number(s)
                .map(Some)
                .ok_or_else(|| gerr(f, format!("{s:?} is not a number"))),
            Some(_) => Err(gerr(f, "must be a number")),
        }
    }

    fn contains(&self) -> Result<Grader, GraderError> {
        let case_sensitive = self.flag("case_sensitive")?;
        let (needles, all) = match (self.strings("any")?, self.strings("all")?) {
            (Some(n), None) => (n, false),
            (None, Some(n)) => (n, true),
            (Some(_), Some(_)) => return Err(gerr("all", "give either any or all, not both")),
            (None, None) => return Err(gerr("any", "missing (give any or all)")),
        };
        Ok(Grader::Contains {
            needles,
            all,
            case_sensitive,
        })
    }

    fn regex(&self) -> Result<Grader, GraderError> {
        let p = self.string("pattern")?;
        let pattern = regex::RegexBuilder::new(&p)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                gerr(
                    "pattern",
                    format!(
                        "invalid regex: {}",
                        e.to_string().lines().last().unwrap_or("")
                    ),
                )
            })?;
        Ok(Grader::Regex { pattern })
    }

    fn numeric(&self) -> Result<Grader, GraderError> {
        let expected = self
            .number("expected")?
            .ok_or_else(|| gerr("expected", "missing"))?;
        let tolerance = self.number("tolerance")?.unwrap_or(1e-6);
        if tolerance.is_nan() || tolerance < 0.0 {
            return Err(gerr("tolerance", "must be non-negative"));
        }
        Ok(Grader::Numeric {
            expected,
            tolerance,
        })
    }

    fn choice(&self) -> Result<Grader, GraderError> {
        let expected = self.string("expected")?;
        let options = self.strings("options")?.unwrap_or_else(|| {
            ["A", "B", "C", "D", "E", "F", "G", "H"]
                .map(String::from)
                .to_vec()
        });
        if !options.iter().any(|o| o.eq_ignore_ascii_case(&expected)) {
            return Err(gerr(
                "expected",
                format!("{expected:?} is not one of the options {options:?}"),
            ));
        }
        Ok(Grader::Choice { expected, options })
    }

    fn json_fields(&self) -> Result<Grader, GraderError> {
        match self.0.get("expected") {
            Some(Value::Object(m)) if !m.is_empty() => Ok(Grader::JsonFields {
                expected: m.clone(),
            }),
            Some(_) => Err(gerr(
                "expected",
                "must be a non-empty object of the fields to extract, e.g. {\"order_id\":\"A-17\"}",
            )),
            None => Err(gerr("expected", "missing")),
        }
    }

    fn judge(&self) -> Result<Grader, GraderError> {
        let rubric = self.string("rubric")?;
        if rubric.trim().is_empty() {
            return Err(gerr("rubric", "must not be empty"));
        }
        let reference = match self.0.get("reference") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(gerr("reference", "must be a string")),
        };
        Ok(Grader::Judge { rubric, reference })
    }
}

impl Grader {
    pub fn kind(&self) -> &'static str {
        match self {
            Grader::Exact { .. } => "exact",
            Grader::Contains { .. } => "contains",
            Grader::Regex { .. } => "regex",
            Grader::Numeric { .. } => "numeric",
            Grader::Choice { .. } => "choice",
            Grader::JsonFields { .. } => "json_fields",
            Grader::Judge { .. } => "judge",
            Grader::Recorded => "recorded",
        }
    }

    /// Pass/fail graders give 0 or 1 (Wilson intervals, McNemar's test apply).
    pub fn is_pass_fail(&self) -> bool {
        !matches!(
            self,
            Grader::Recorded | Grader::JsonFields { .. } | Grader::Judge { .. }
        )
    }

    /// Whether the scores can be read as pass/fail outcomes when they are all 0 or 1 (judge
    /// verdicts and field shares are graded scores even when they land on 0 or 1).
    pub fn can_pass_fail(&self) -> bool {
        !matches!(self, Grader::JsonFields { .. } | Grader::Judge { .. })
    }

    /// Whether grading needs a judge model's verdict.
    pub fn needs_judge(&self) -> bool {
        matches!(self, Grader::Judge { .. })
    }

    /// Parse and check a grader object from a dataset line.
    pub fn from_json(v: &Value) -> Result<Grader, GraderError> {
        let obj = v.as_object().ok_or_else(|| GraderError {
            field: "grader".into(),
            message: "must be an object such as {\"kind\":\"exact\",\"expected\":\"42\"}".into(),
        })?;
        let kind = GraderKind::of(obj)?;
        let allowed = kind.fields();
        if let Some(extra) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(gerr(
                extra,
                format!(
                    "unknown field for a {} grader (allowed: {})",
                    kind.as_str(),
                    allowed.join(", ")
                ),
            ));
        }
        let f = Fields(obj);
        match kind {
            GraderKind::Exact => Ok(Grader::Exact {
                expected: f.string("expected")?,
                case_sensitive: f.flag("case_sensitive")?,
            }),
            GraderKind::Contains => f.contains(),
            GraderKind::Regex => f.regex(),
            GraderKind::Numeric => f.numeric(),
            GraderKind::Choice => f.choice(),
            GraderKind::JsonFields => f.json_fields(),
            GraderKind::Judge => f.judge(),
            GraderKind::Recorded => Ok(Grader::Recorded),
        }
    }

    pub fn grade(&self, input: &GradeInput) -> Grade {
        let answer = input.answer;
        match self {
            Grader::Exact {
                expected,
                case_sensitive,
            } => {
                let ok = text::fold(answer.trim(), *case_sensitive)
                    == text::fold(expected.trim(), *case_sensitive);
                Grade::pass(
                    ok,
                    if ok {
                        "exact match".to_string()
                    } else {
                        format!("expected {:?}", clip(expected, 60))
                    },
                )
            }
            Grader::Contains {
                needles,
                all,
                case_sensitive,
            } => text::contains(answer, needles, *all, *case_sensitive),
            Grader::Regex { pattern } => {
                let ok = pattern.is_match(answer) || pattern.is_match(&text::fold(answer, true));
                Grade::pass(
                    ok,
                    if ok {
                        "pattern matches"
                    } else {
                        "pattern does not match"
                    },
                )
            }
            Grader::Numeric {
                expected,
                tolerance,
            } => match extract_final_number(answer) {
                Ok((x, how)) => numeric_grade(x, how, *expected, *tolerance),
                Err(why) => Grade::pass(false, why),
            },
            Grader::Choice { expected, options } => match extract_choice(answer, options) {
                Some(c) => {
                    let ok = text::fold(&c, false) == text::fold(expected, false);
                    Grade::pass(ok, format!("chose {c}, expected {expected}"))
                }
                None => Grade::pass(false, format!("no option of {} chosen", options.join("/"))),
            },
            Grader::JsonFields { expected } => json::grade(expected, answer),
            Grader::Judge { .. } => judge::grade(input.judge_reply, input.judge_error),
            Grader::Recorded => match input.recorded {
                Some(g) if (0.0..=1.0).contains(&g.score) => Grade {
                    score: Some(g.score),
                    reason: clip(&g.reason, 200),
                },
                Some(g) => {
                    Grade::ungradable(format!("recorded score {} is outside [0, 1]", g.score))
                }
                None => Grade::ungradable("no grade was recorded with this answer"),
            },
        }
    }
}

/// A read number against the expected one; a percentage also passes as its fraction
/// (`50%` for an expected 0.5), as math graders accept.
fn numeric_grade(x: numeric::Number, how: &str, expected: f64, tolerance: f64) -> Grade {
    let close = |v: f64| (v - expected).abs() <= tolerance;
    if close(x.value) {
        Grade::pass(true, format!("{how} {} vs expected {expected}", x.value))
    } else if x.percent && close(x.value / 100.0) {
        let v = x.value / 100.0;
        Grade::pass(
            true,
            format!("{how} {}% = {v} vs expected {expected}", x.value),
        )
    } else {
        Grade::pass(false, format!("{how} {} vs expected {expected}", x.value))
    }
}

/// The first `max` characters, with an ellipsis when cut; keys are scrubbed before the cut.
pub fn clip(s: &str, max: usize) -> String {
    crate::base::secrets::cut(s, max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn g(v: Value, answer: &str) -> Grade {
        Grader::from_json(&v).unwrap().grade(&GradeInput {
            answer,
            ..Default::default()
        })
    }

    #[test]
    fn exact_trims_and_ignores_case_by_default() {
        assert_eq!(
            g(json!({"kind":"exact","expected":"Paris"}), "  paris\n").score,
            Some(1.0)
        );
        assert_eq!(
            g(
                json!({"kind":"exact","expected":"Paris","case_sensitive":true}),
                "paris"
            )
            .score,
            Some(0.0)
        );
    }

    #[test]
    fn contains_any_and_all() {
        assert_eq!(
            g(json!({"kind":"contains","any":["cat","dog"]}), "a DOG").score,
            Some(1.0)
        );
        assert_eq!(
            g(json!({"kind":"contains","all":["cat","dog"]}), "a dog").score,
            Some(0.0)
        );
    }

    #[test]
    fn exact_and_regex_ignore_normalisation_and_width() {
        let v = json!({"kind":"exact","expected":"Zürich 42"});
        assert_eq!(g(v.clone(), "Zu\u{308}rich ４２").score, Some(1.0));
        assert_eq!(g(v, "Zurich 42").score, Some(0.0));
        let r = json!({"kind":"regex","pattern":"^Zürich \\d+$"});
        assert_eq!(g(r.clone(), "Zu\u{308}rich ４２").score, Some(1.0));
        assert_eq!(g(r, "Zurich 42").score, Some(0.0));
    }

    #[test]
    fn numeric_prefers_tagged_answers() {
        let v = json!({"kind":"numeric","expected":"42"});
        assert_eq!(
            g(v.clone(), "First 7 then 6, so \\boxed{42}. Check: 3").score,
            Some(1.0)
        );
        assert_eq!(g(v.clone(), "steps 1, 2\n#### 42").score, Some(1.0));
        assert_eq!(g(v.clone(), "the answer is 41").score, Some(0.0));
        assert_eq!(g(v, "no idea").score, Some(0.0));
    }

    #[test]
    fn recorded_grade_passes_through_and_missing_is_ungradable() {
        let gr = Grader::from_json(&json!({"kind":"recorded"})).unwrap();
        let rec = RecordedGrade {
            score: 0.8,
            reason: "judge 8/10".into(),
        };
        let out = gr.grade(&GradeInput {
            answer: "x",
            recorded: Some(&rec),
            ..Default::default()
        });
        assert_eq!(out.score, Some(0.8));
        assert_eq!(
            gr.grade(&GradeInput {
                answer: "x",
                ..Default::default()
            })
            .score,
            None
        );
    }

    #[test]
    fn invalid_definitions_name_the_field() {
        let e = Grader::from_json(&json!({"kind":"regex","pattern":"(unclosed"})).unwrap_err();
        assert_eq!(e.field, "grader.pattern");
        let e = Grader::from_json(&json!({"kind":"numeric","expected":"forty"})).unwrap_err();
        assert_eq!(e.field, "grader.expected");
        let e = Grader::from_json(&json!({"kind":"exact","expected":"a","extra":1})).unwrap_err();
        assert_eq!(e.field, "grader.extra");
        let e = Grader::from_json(&json!({"kind":"choice","expected":"Z"})).unwrap_err();
        assert_eq!(e.field, "grader.expected");
        let e = Grader::from_json(&json!({"kind":"fuzzy"})).unwrap_err();
        assert_eq!(e.field, "grader.kind");
        let e = Grader::from_json(&json!({"kind":"json_fields","expected":{}})).unwrap_err();
        assert_eq!(e.field, "grader.expected");
        let e = Grader::from_json(&json!({"kind":"judge","rubric":" "})).unwrap_err();
        assert_eq!(e.field, "grader.rubric");
        let e = Grader::from_json(&json!({"kind":"judge"})).unwrap_err();
        assert_eq!(e.field, "grader.rubric");
    }

    #[test]
    fn json_fields_and_judge_graders_parse_and_grade() {
        let j = json!({"kind":"json_fields","expected":{"id":"A-17","n":2}});
        assert_eq!(
            g(j, "```json\n{\"id\": \"a-17\", \"n\": \"2\"}\n```").score,
            Some(1.0)
        );
        let judge =
            Grader::from_json(&json!({"kind":"judge","rubric":"concise","reference":"4"})).unwrap();
        assert!(judge.needs_judge() && !judge.is_pass_fail());
        let out = judge.grade(&GradeInput {
            answer: "4",
            judge_reply: Some("Fine. Rating: [[9]]"),
            ..Default::default()
        });
        assert_eq!(out.score, Some(0.9));
    }
}
