//! The labelled dataset: one JSON object a line, validated before any call is made.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::error::{InputError, InputErrors};
use crate::grade::Grader;
use crate::jsonl::{HashingReader, Line, Lines, StrictError, parse_strict};
use crate::types::{Priority, TaskType, sha256_hex};

/// Longest accepted line; a longer one is almost certainly not a prompt.
pub const MAX_LINE_BYTES: usize = 16 << 20;
/// Stop collecting errors after this many; the first ones are the ones to fix.
const MAX_REPORTED_ERRORS: usize = 20;

#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub prompt: Arc<str>,
    pub prompt_sha256: String,
    pub task: TaskType,
    pub priority: Priority,
    pub grader: Grader,
    pub max_tokens: Option<u32>,
    /// 1-based line in the dataset file.
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub path: PathBuf,
    pub sha256: String,
    pub items: Vec<Item>,
    index: HashMap<String, usize>,
}

const FIELDS: &[&str] = &[
    "id",
    "prompt",
    "task_type",
    "priority",
    "grader",
    "max_tokens",
    "meta",
];

impl Dataset {
    /// The items `keep` accepts, in order, as a dataset of their own (same path and hash: a
    /// view for cross-fitting, not a file).
    pub fn subset(&self, keep: impl Fn(&Item) -> bool) -> Dataset {
        let items: Vec<Item> = self.items.iter().filter(|i| keep(i)).cloned().collect();
        let index = items
            .iter()
            .enumerate()
            .map(|(k, i)| (i.id.clone(), k))
            .collect();
        Dataset {
            path: self.path.clone(),
            sha256: self.sha256.clone(),
            items,
            index,
        }
    }

    /// Load and check a dataset file, reading it once, line by line: memory stays bounded by
    /// the longest accepted line ([`MAX_LINE_BYTES`]) plus the items, whatever the file holds.
    pub fn load(path: &Path) -> anyhow::Result<Dataset> {
        let file = std::fs::File::open(path)
            .map_err(|e| InputError::new(path, format!("cannot read the dataset: {e}")))?;
        Ok(Dataset::read(path, file)?)
    }

    /// Check a dataset held in memory (tests, generated suites).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Dataset, InputErrors> {
        Dataset::read(path, bytes)
    }

    /// Check a dataset from any reader; `path` names it in errors.
    pub fn read(path: &Path, source: impl Read) -> Result<Dataset, InputErrors> {
        let mut hashing = HashingReader::new(source);
        let hash_wanted = hashing.wanted();
        let mut lines = Lines::new(
            BufReader::with_capacity(1 << 16, &mut hashing),
            MAX_LINE_BYTES,
        );
        let mut items = Vec::new();
        let mut index = HashMap::new();
        let mut errs = Vec::new();
        while errs.len() < MAX_REPORTED_ERRORS {
            // A dataset with an error has no hash to compute.
            hash_wanted.set(errs.is_empty());
            let (line, raw) = match lines.next_line() {
                Ok(Some((n, l))) => (n, l),
                Ok(None) => break,
                Err(e) => {
                    errs.push(InputError::new(
                        path,
                        format!("cannot read the dataset: {e}"),
                    ));
                    break;
                }
            };
            let at = |msg: String| InputError::new(path, msg).at_line(line);
            let raw = match raw {
                Line::TooLong(len) => {
                    errs.push(at(format!(
                        "the line is {len} bytes; the limit is {} MiB",
                        MAX_LINE_BYTES >> 20
                    )));
                    continue;
                }
                Line::Text(raw) => raw,
            };
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = match std::str::from_utf8(raw) {
                Ok(t) => t,
                Err(e) => {
                    errs.push(at(format!(
                        "not valid UTF-8 (at byte {} of the line)",
                        e.valid_up_to()
                    )));
                    continue;
                }
            };
            match parse_item(text, line) {
                Ok(item) => {
                    if let Some(&first) = index.get(&item.id) {
                        let first: &Item = &items[first];
                        errs.push(
                            at(format!(
                                "duplicate id {:?} (first on line {})",
                                item.id, first.line
                            ))
                            .field("id"),
                        );
                        continue;
                    }
                    index.insert(item.id.clone(), items.len());
                    items.push(item);
                }
                Err((field, msg)) => {
                    let e = at(msg);
                    errs.push(match field {
                        Some(f) => e.field(f),
                        None => e,
                    });
                }
            }
        }
        drop(lines);
        if errs.is_empty() && items.is_empty() {
            errs.push(InputError::new(path, "the dataset has no items"));
        }
        if errs.is_empty() {
            Ok(Dataset {
                path: path.to_path_buf(),
                sha256: hashing.hex(),
                items,
                index,
            })
        } else {
            Err(InputErrors(errs))
        }
    }

    pub fn get(&self, id: &str) -> Option<&Item> {
        self.index.get(id).map(|&i| &self.items[i])
    }

    /// Task types present, in canonical order.
    pub fn task_types(&self) -> Vec<TaskType> {
        TaskType::ALL
            .iter()
            .copied()
            .filter(|t| self.items.iter().any(|i| i.task == *t))
            .collect()
    }
}

type FieldError = (Option<String>, String);

fn parse_item(text: &str, line: usize) -> Result<Item, FieldError> {
    let v: Value = parse_strict(text).map_err(|e| match &e {
        StrictError::DuplicateKey(k) => (Some(k.clone()), e.to_string()),
        StrictError::Syntax(_) => (None, e.to_string()),
    })?;
    let obj = v
        .as_object()
        .ok_or((None, "each line must be a JSON object".to_string()))?;
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err((
            Some(k.clone()),
            format!("unknown field (expected {})", FIELDS.join(", ")),
        ));
    }
    let field = |f: &str, msg: &str| (Some(f.to_string()), msg.to_string());
    let string = |f: &str| -> Result<&str, FieldError> {
        match obj.get(f) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(field(f, "must be a string")),
            None => Err(field(f, "missing")),
        }
    };
    let id = string("id")?;
    if id.trim().is_empty() {
        return Err(field("id", "must not be empty"));
    }
    if id.len() > 256 || id.chars().any(char::is_control) {
        return Err(field(
            "id",
            "must be at most 256 bytes without control characters",
        ));
    }
    let prompt = string("prompt")?;
    if prompt.trim().is_empty() {
        return Err(field("prompt", "must not be empty"));
    }
    let task: TaskType = string("task_type")?
        .parse()
        .map_err(|m: String| field("task_type", &m))?;
    let priority: Priority = string("priority")?
        .parse()
        .map_err(|m: String| field("priority", &m))?;
    let grader_v = obj
        .get("grader")
        .ok_or_else(|| field("grader", "missing"))?;
    let grader = Grader::from_json(grader_v).map_err(|e| (Some(e.field), e.message))?;
    let max_tokens = match obj.get("max_tokens") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(x) if (1..=1_000_000).contains(&x) => Some(x as u32),
            _ => {
                return Err(field(
                    "max_tokens",
                    "must be a whole number from 1 to 1000000",
                ));
            }
        },
        Some(_) => return Err(field("max_tokens", "must be a number")),
    };
    Ok(Item {
        id: id.to_string(),
        prompt_sha256: sha256_hex(prompt.as_bytes()),
        prompt: Arc::from(prompt),
        task,
        priority,
        grader,
        max_tokens,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Dataset, Vec<InputError>> {
        Dataset::parse(Path::new("d.jsonl"), s).map_err(|e| e.0)
    }

    const OK: &str = r#"{"id":"a","prompt":"2+2?","task_type":"math","priority":"quality","grader":{"kind":"numeric","expected":4}}"#;

    #[test]
    fn accepts_bom_crlf_and_blank_lines() {
        let mut s = b"\xEF\xBB\xBF".to_vec();
        s.extend_from_slice(OK.as_bytes());
        s.extend_from_slice(b"\r\n\r\n");
        s.extend_from_slice(OK.replace("\"a\"", "\"b\"").as_bytes());
        let d = parse(&s).unwrap();
        assert_eq!(d.items.len(), 2);
        assert_eq!(d.items[1].line, 3);
        assert_eq!(d.get("b").unwrap().task, TaskType::Math);
    }

    #[test]
    fn errors_name_line_and_field() {
        let s = format!("{OK}\n{}\n", OK.replace("math", "maths"));
        let e = &parse(s.as_bytes()).unwrap_err()[0];
        assert_eq!((e.line, e.field.as_deref()), (Some(2), Some("task_type")));
        let s = format!("{OK}\n{OK}\n");
        let e = &parse(s.as_bytes()).unwrap_err()[0];
        assert!(
            e.message.contains("duplicate id") && e.message.contains("line 1"),
            "{e}"
        );
        let e = &parse(OK.replace("2+2?", "  ").as_bytes()).unwrap_err()[0];
        assert_eq!(e.field.as_deref(), Some("prompt"));
        let e = &parse(b"{\"id\":\"x\",\xff}").unwrap_err()[0];
        assert!(e.message.contains("UTF-8"));
        let e = &parse(
            OK.replace(
                "\"kind\":\"numeric\",\"expected\":4",
                "\"kind\":\"regex\",\"pattern\":\"[\"",
            )
            .as_bytes(),
        )
        .unwrap_err()[0];
        assert_eq!(e.field.as_deref(), Some("grader.pattern"));
        let e = &parse(b"").unwrap_err()[0];
        assert!(e.message.contains("no items"));
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        let line = r#"{"id":"x1","prompt":"p","task_type":"general","priority":"default","grader":{"kind":"contains","any":["red"]},"grader":{"kind":"recorded"},"id":"x2"}"#;
        let e = &parse(line.as_bytes()).unwrap_err()[0];
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(1), Some("grader")),
            "{e}"
        );
        assert!(e.message.contains("duplicate key"), "{e}");
        let nested = OK.replace(r#""kind":"numeric""#, r#""kind":"numeric","kind":"exact""#);
        let e = &parse(
            format!("{OK}\n{nested}")
                .replace("\"a\"", "\"b\"")
                .as_bytes(),
        )
        .unwrap_err()[0];
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(2), Some("grader.kind")),
            "{e}"
        );
    }

    #[test]
    fn an_over_long_line_is_refused_without_holding_it() {
        let mut s = OK.as_bytes().to_vec();
        s.push(b'\n');
        let long = MAX_LINE_BYTES + 10;
        s.extend(std::iter::repeat_n(b'x', long));
        s.push(b'\n');
        s.extend_from_slice(OK.replace("\"a\"", "\"b\"").as_bytes());
        let e = parse(&s).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(2));
        assert!(e[0].message.contains(&format!("{long} bytes")), "{}", e[0]);
    }

    #[test]
    fn the_hash_is_of_the_whole_file() {
        let s = format!("\u{FEFF}{OK}\r\n");
        let d = parse(s.as_bytes()).unwrap();
        assert_eq!(d.sha256, sha256_hex(s.as_bytes()));
    }
}
