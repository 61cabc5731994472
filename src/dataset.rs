//! The labelled dataset: one JSON object a line, validated before any call is made.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::base::error::{InputError, InputErrors};
use crate::base::jsonl::{HashingReader, Line, Lines, StrictError, parse_strict};
use crate::base::types::{Priority, TaskType, sha256_hex};
use crate::grade::Grader;

/// Longest accepted line; a longer one is almost certainly not a prompt.
pub const MAX_LINE_BYTES: usize = 16 << 20;
/// Stop collecting errors after this many; the first ones are the ones to fix.
const MAX_REPORTED_ERRORS: usize = 20;

pub use crate::base::chat::{Message, Role, canonical_messages};

/// The conversation a model is sent once a system prompt from `routes.toml` is applied:
/// `system` goes first unless the conversation already opens with its own system turn (the
/// item's own wins). A `prompt` item becomes `[system, user]`. With no `system`, the item is
/// sent as it is: `None` for a `prompt` item, its own turns for a chat item.
pub fn with_system(
    prompt: &Arc<str>,
    messages: Option<&Arc<[Message]>>,
    system: Option<&Arc<str>>,
) -> Option<Arc<[Message]>> {
    let Some(system) = system else {
        return messages.cloned();
    };
    let system_turn = Message {
        role: Role::System,
        content: system.clone(),
    };
    match messages {
        Some(turns) if turns.first().is_some_and(|m| m.role == Role::System) => Some(turns.clone()),
        Some(turns) => Some(
            std::iter::once(system_turn)
                .chain(turns.iter().cloned())
                .collect(),
        ),
        None => Some(Arc::from(vec![
            system_turn,
            Message {
                role: Role::User,
                content: prompt.clone(),
            },
        ])),
    }
}

/// The text of every turn, one after the other (a line between turns): what token estimates
/// of a conversation count.
pub fn turns_text(messages: &[Message]) -> String {
    messages
        .iter()
        .map(|m| &*m.content)
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    /// The prompt; for a chat item, its last user message (what the classifier classifies).
    pub prompt: Arc<str>,
    /// The conversation of a chat item (`messages` in the dataset): an optional system turn
    /// first, user and assistant turns, the last one from the user. `None` for a `prompt` item.
    pub messages: Option<Arc<[Message]>>,
    /// SHA-256 (hex) of the prompt, or of a chat item's [`canonical_messages`].
    pub prompt_sha256: String,
    pub task: TaskType,
    pub priority: Priority,
    pub grader: Grader,
    pub max_tokens: Option<u32>,
    /// 1-based line in the dataset file.
    pub line: usize,
}

impl Item {
    /// Everything a candidate is sent: the prompt, or every turn of a chat item (one a line),
    /// for token estimates.
    pub fn input_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.messages {
            Some(turns) => turns_text(turns).into(),
            None => std::borrow::Cow::Borrowed(&self.prompt),
        }
    }

    /// The conversation sent to a model whose system prompt (from `routes.toml`) is `system`;
    /// see [`with_system`].
    pub fn conversation(&self, system: Option<&Arc<str>>) -> Option<Arc<[Message]>> {
        with_system(&self.prompt, self.messages.as_ref(), system)
    }
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
    "messages",
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

pub(crate) type FieldError = (Option<String>, String);

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
    // `null` is absent in JSON: `"prompt": null` beside messages (or the reverse) is one kind.
    let present = |f: &str| obj.get(f).filter(|v| !v.is_null());
    let (prompt, messages, prompt_sha256) = match (present("prompt"), present("messages")) {
        (Some(_), Some(_)) => {
            return Err(field(
                "messages",
                "give either prompt or messages, not both",
            ));
        }
        (None, Some(m)) => {
            let messages = parse_messages(m)?;
            let last = messages.last().expect("validated: not empty");
            let sha = sha256_hex(canonical_messages(&messages).as_bytes());
            (last.content.clone(), Some(Arc::from(messages)), sha)
        }
        (None, None) => return Err(field("prompt", "missing (or give messages)")),
        (Some(p), None) => {
            let prompt = p
                .as_str()
                .ok_or_else(|| field("prompt", "must be a string"))?;
            if prompt.trim().is_empty() {
                return Err(field("prompt", "must not be empty"));
            }
            (Arc::from(prompt), None, sha256_hex(prompt.as_bytes()))
        }
    };
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
        prompt_sha256,
        prompt,
        messages,
        task,
        priority,
        grader,
        max_tokens,
        line,
    })
}

/// Check a chat item's `messages`: a non-empty array of `{"role", "content"}` objects, roles
/// `system` (only as the first turn), `user` and `assistant`, non-blank text, the last turn
/// from the user. Errors name the field as `messages[i].role` (0-based). `route --jsonl` checks
/// chat requests with it too.
pub(crate) fn parse_messages(v: &Value) -> Result<Vec<Message>, FieldError> {
    let turns = match v {
        Value::Array(a) if !a.is_empty() => a,
        Value::Array(_) => return Err((Some("messages".into()), "must not be empty".into())),
        _ => {
            return Err((
                Some("messages".into()),
                "must be an array of {\"role\", \"content\"} objects".into(),
            ));
        }
    };
    let mut out = Vec::with_capacity(turns.len());
    for (i, t) in turns.iter().enumerate() {
        let at = |f: &str, msg: &str| (Some(format!("messages[{i}]{f}")), msg.to_string());
        let obj = t
            .as_object()
            .ok_or_else(|| at("", "must be an object with role and content"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "role" | "content"))
        {
            return Err(at(
                &format!(".{k}"),
                "unknown field (expected role, content)",
            ));
        }
        let role = match obj.get("role").and_then(Value::as_str) {
            Some("system") if i == 0 => Role::System,
            Some("system") => return Err(at(".role", "a system turn must be the first")),
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some(_) => return Err(at(".role", "must be system, user or assistant")),
            None => return Err(at(".role", "missing (a string: system, user or assistant)")),
        };
        let content = match obj.get("content") {
            Some(Value::String(c)) if !c.trim().is_empty() => c,
            Some(Value::String(_)) => return Err(at(".content", "must not be empty")),
            Some(_) => return Err(at(".content", "must be a string")),
            None => return Err(at(".content", "missing")),
        };
        out.push(Message {
            role,
            content: Arc::from(content.as_str()),
        });
    }
    if out.last().map(|m| m.role) != Some(Role::User) {
        let last = out.len() - 1;
        return Err((
            Some(format!("messages[{last}].role")),
            "the last turn must be from the user".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Dataset, Vec<InputError>> {
        Dataset::parse(Path::new("d.jsonl"), s).map_err(|e| e.0)
    }

    const OK: &str = r#"{"id":"a","prompt":"2+2?","task_type":"math","priority":"quality","grader":{"kind":"numeric","expected":4}}"#;

    fn chat(messages: &str) -> String {
        OK.replace(r#""prompt":"2+2?""#, &format!(r#""messages":{messages}"#))
    }

    #[test]
    fn a_chat_item_keeps_its_turns_and_hashes_the_whole_conversation() {
        let m = r#"[{"role":"system","content":"Be terse."},{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"},{"role":"user","content":"and 3+3?"}]"#;
        let d = parse(chat(m).as_bytes()).unwrap();
        let item = &d.items[0];
        let turns = item.messages.as_deref().unwrap();
        assert_eq!(turns.len(), 4);
        assert_eq!(
            (turns[0].role, &*turns[0].content),
            (Role::System, "Be terse.")
        );
        assert_eq!(&*item.prompt, "and 3+3?", "the last user message");
        assert_eq!(item.input_text(), "Be terse.\n2+2?\n4\nand 3+3?");
        assert_eq!(
            item.prompt_sha256,
            sha256_hex(canonical_messages(turns).as_bytes())
        );
        assert_eq!(
            canonical_messages(&turns[..2]),
            r#"[{"content":"Be terse.","role":"system"},{"content":"2+2?","role":"user"}]"#
        );
        // Another system prompt is another conversation, though the last turn is the same.
        let other = parse(chat(&m.replace("Be terse.", "Be kind.")).as_bytes()).unwrap();
        assert_ne!(other.items[0].prompt_sha256, item.prompt_sha256);
        assert_eq!(parse(OK.as_bytes()).unwrap().items[0].messages, None);
    }

    #[test]
    fn a_null_prompt_or_messages_is_absent() {
        let turns = r#"[{"role":"user","content":"2+2?"}]"#;
        let chat_null_prompt = OK.replace(
            r#""prompt":"2+2?""#,
            &format!(r#""prompt":null,"messages":{turns}"#),
        );
        let item = &parse(chat_null_prompt.as_bytes()).unwrap().items[0];
        assert_eq!(item.messages.as_deref().map(<[Message]>::len), Some(1));
        let prompt_null_messages =
            OK.replace(r#""prompt":"2+2?""#, r#""prompt":"2+2?","messages":null"#);
        let item = &parse(prompt_null_messages.as_bytes()).unwrap().items[0];
        assert_eq!((&*item.prompt, item.messages.is_none()), ("2+2?", true));
        // Both absent (or null), or a prompt of another type, keep their field errors.
        for (line, field, words) in [
            (
                OK.replace(r#""prompt":"2+2?""#, r#""prompt":null,"messages":null"#),
                "prompt",
                "missing",
            ),
            (
                OK.replace(r#""prompt":"2+2?""#, r#""prompt":null"#),
                "prompt",
                "missing",
            ),
            (
                OK.replace(r#""prompt":"2+2?""#, r#""prompt":7"#),
                "prompt",
                "string",
            ),
            (
                chat_null_prompt.replace("null", r#""x""#),
                "messages",
                "not both",
            ),
        ] {
            let e = &parse(line.as_bytes()).unwrap_err()[0];
            assert_eq!(
                (e.line, e.field.as_deref()),
                (Some(1), Some(field)),
                "{line}"
            );
            assert!(e.message.contains(words), "{line}: {e}");
        }
    }

    #[test]
    fn malformed_messages_name_the_turn_and_field() {
        let u = r#"{"role":"user","content":"hi"}"#;
        for (messages, field, words) in [
            ("[]".to_string(), "messages", "not be empty"),
            ("\"hi\"".to_string(), "messages", "array"),
            (
                format!(r#"[{u},{{"role":"robot","content":"x"}},{u}]"#),
                "messages[1].role",
                "system, user or assistant",
            ),
            (
                format!(r#"[{u},{{"role":"assistant","content":"  "}},{u}]"#),
                "messages[1].content",
                "not be empty",
            ),
            (
                format!(r#"[{u},{{"role":"system","content":"x"}},{u}]"#),
                "messages[1].role",
                "first",
            ),
            (
                format!(r#"[{u},{{"role":"assistant","content":"x"}}]"#),
                "messages[1].role",
                "last turn",
            ),
            (
                r#"[{"role":"system","content":"x"}]"#.to_string(),
                "messages[0].role",
                "last turn",
            ),
            (
                format!(r#"[{{"content":"x"}},{u}]"#),
                "messages[0].role",
                "missing",
            ),
            (
                r#"[{"role":"user","content":["x"]}]"#.to_string(),
                "messages[0].content",
                "string",
            ),
            (
                r#"[{"role":"user","content":"x","name":"n"}]"#.to_string(),
                "messages[0].name",
                "unknown",
            ),
            (format!(r#"[{u},7]"#), "messages[1]", "object"),
        ] {
            let e = &parse(chat(&messages).as_bytes()).unwrap_err()[0];
            assert_eq!(
                (e.line, e.field.as_deref()),
                (Some(1), Some(field)),
                "{messages}: {e}"
            );
            assert!(e.message.contains(words), "{messages}: {e}");
        }
        let both = OK.replace(
            r#""prompt":"2+2?""#,
            &format!(r#""prompt":"2+2?","messages":[{u}]"#),
        );
        let e = &parse(both.as_bytes()).unwrap_err()[0];
        assert_eq!(e.field.as_deref(), Some("messages"));
        assert!(e.message.contains("not both"), "{e}");
        let neither = OK.replace(r#""prompt":"2+2?","#, "");
        let e = &parse(neither.as_bytes()).unwrap_err()[0];
        assert_eq!(e.field.as_deref(), Some("prompt"));
        assert!(e.message.contains("or give messages"), "{e}");
    }

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
