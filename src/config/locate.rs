//! Where a dotted key sits in the routes file's source, so that every error names the file, the
//! line and the key; and the scan for API keys written into the file.

use std::path::Path;

use crate::base::error::InputError;

/// Errors and warnings of one routes file, collected all at once: every section builder
/// pushes into them, and the file is refused when any error was found.
pub(super) struct Check<'a> {
    pub(super) loc: &'a Locator<'a>,
    pub(super) errs: Vec<InputError>,
    pub(super) warnings: Vec<super::Warning>,
}

impl Check<'_> {
    /// An error at `keys` (see [`Locator::err`]).
    pub(super) fn err(&mut self, keys: &[&str], message: impl Into<String>) {
        let e = self.loc.err(keys, message);
        self.errs.push(e);
    }

    /// A warning at the line of `keys`.
    pub(super) fn warn(&mut self, keys: &[&str], message: String) {
        let line = self.loc.line(keys);
        self.warnings.push(super::Warning { line, message });
    }
}

pub(super) fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// A deserializer's message in the words of the routes file: Rust type names (`usize`, `u32`,
/// `f64`, …) become what a value of that type looks like.
pub(super) fn in_plain_words(message: &str) -> String {
    const WORDS: [(&str, &str); 8] = [
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected u16", "expected a whole number, 0 or more"),
        ("expected u8", "expected a whole number, 0 or more"),
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected f64", "expected a number"),
    ];
    let mut m = message.to_string();
    for (rust, plain) in WORDS {
        if let Some(rest) = m.strip_suffix(rust) {
            m = format!("{rest}{plain}");
        }
    }
    m
}

/// The key written on line `line` (1-based) of `source`, when that line is `key = value`: what a
/// syntax error there (an integer too large, say) is about.
pub(super) fn key_on_line(source: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = source.lines().collect();
    let text = lines.get(line.checked_sub(1)?)?;
    let (key, _) = text.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    // Dotted with the table it sits in, as the other errors name their keys.
    let table = lines[..line - 1].iter().rev().find_map(|l| {
        let l = l.trim();
        (l.starts_with('[') && !l.starts_with("[[")).then(|| {
            let inner = l.trim_start_matches('[');
            inner.split(']').next().unwrap_or("").trim().to_string()
        })
    });
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_string(),
    })
}

/// 1-based line of a byte offset.
pub(super) fn line_of_byte(source: &str, offset: usize) -> usize {
    source.as_bytes()[..offset.min(source.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Finds where a dotted key sits in the source.
pub(super) struct Locator<'a> {
    pub(super) doc: &'a toml_edit::Document<&'a str>,
    pub(super) source: &'a str,
    pub(super) path: &'a Path,
}

impl Locator<'_> {
    /// The line of the innermost key of `keys` that exists (1-based).
    pub(super) fn line(&self, keys: &[&str]) -> Option<usize> {
        let mut item = self.doc.as_item();
        let mut last_span = None;
        for k in keys {
            item = match item {
                toml_edit::Item::Table(t) => {
                    if let Some((key, _)) = t.get_key_value(k) {
                        last_span = key.span().or(last_span);
                    }
                    t.get(k)?
                }
                toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => {
                    let v = t.get(k)?;
                    let span = v.span().or(last_span);
                    return span.map(|s| line_of_byte(self.source, s.start));
                }
                _ => return last_span.map(|s| line_of_byte(self.source, s.start)),
            };
            if let Some(s) = item.span() {
                last_span = Some(s);
            }
        }
        last_span.map(|s| line_of_byte(self.source, s.start))
    }

    /// An error at `keys`: the file, the line of the key and the dotted key.
    pub(super) fn err(&self, keys: &[&str], message: impl Into<String>) -> InputError {
        InputError::new(self.path, message)
            .line_opt(self.line(keys))
            .field(keys.join("."))
    }

    /// The innermost dotted key whose value contains a byte offset.
    pub(super) fn key_at(&self, offset: usize) -> Option<String> {
        fn walk(item: &toml_edit::Item, offset: usize, path: &mut Vec<String>) -> bool {
            let entries: Vec<(String, &toml_edit::Item, Option<std::ops::Range<usize>>)> =
                match item {
                    toml_edit::Item::Table(t) => t
                        .iter()
                        .map(|(k, v)| {
                            let ks = t.get_key_value(k).and_then(|(key, _)| key.span());
                            (k.to_string(), v, ks)
                        })
                        .collect(),
                    _ => return false,
                };
            for (k, v, key_span) in entries {
                let in_key = key_span.as_ref().is_some_and(|s| s.contains(&offset));
                let in_value = v.span().is_some_and(|s| s.contains(&offset));
                if in_key || in_value {
                    path.push(k);
                    walk(v, offset, path);
                    return true;
                }
                if v.is_table() {
                    path.push(k);
                    if walk(v, offset, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            false
        }
        let mut path = Vec::new();
        walk(self.doc.as_item(), offset, &mut path);
        if path.is_empty() {
            None
        } else {
            Some(path.join("."))
        }
    }
}

/// Prefixes of real API keys; a value that starts with one is a secret written into the file.
const KEY_PREFIXES: &[&str] = &[
    "pk_live_", "pk_test_", "sk-", "sk_", "gsk_", "xai-", "AIza", "csk-", "pplx-",
];

/// Whether a value looks like an API key (a known prefix, 16 characters or more, no space).
pub(super) fn looks_like_key(s: &str) -> bool {
    s.len() >= 16
        && !s.contains(char::is_whitespace)
        && KEY_PREFIXES.iter().any(|p| s.starts_with(p))
}

/// Every string value anywhere in the file that looks like an API key is an error at its key
/// (the value itself is never echoed).
pub(super) fn scan_for_literal_keys(
    doc: &toml_edit::Document<&str>,
    loc: &Locator,
    errs: &mut Vec<InputError>,
) {
    fn walk(item: &toml_edit::Item, path: &mut Vec<String>, found: &mut Vec<Vec<String>>) {
        match item {
            toml_edit::Item::Table(t) => {
                for (k, v) in t.iter() {
                    path.push(k.to_string());
                    walk(v, path, found);
                    path.pop();
                }
            }
            toml_edit::Item::Value(v) => walk_value(v, path, found),
            _ => {}
        }
    }
    fn walk_value(v: &toml_edit::Value, path: &mut Vec<String>, found: &mut Vec<Vec<String>>) {
        match v {
            toml_edit::Value::String(s) if looks_like_key(s.value()) => found.push(path.clone()),
            toml_edit::Value::InlineTable(t) => {
                for (k, v) in t.iter() {
                    path.push(k.to_string());
                    walk_value(v, path, found);
                    path.pop();
                }
            }
            toml_edit::Value::Array(a) => {
                for v in a.iter() {
                    walk_value(v, path, found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(doc.as_item(), &mut Vec::new(), &mut found);
    for p in found {
        let keys: Vec<&str> = p.iter().map(String::as_str).collect();
        errs.push(loc.err(
            &keys,
            "this value looks like an API key written into the file; keys belong in the environment: \
             name the variable with api_key_env and remove the key from the file",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_type_names_become_plain_words() {
        assert_eq!(
            in_plain_words("invalid value: integer `-1`, expected usize"),
            "invalid value: integer `-1`, expected a whole number, 0 or more"
        );
        assert_eq!(
            in_plain_words("invalid type: string \"x\", expected f64"),
            "invalid type: string \"x\", expected a number"
        );
        assert_eq!(
            in_plain_words("missing field `model`"),
            "missing field `model`"
        );
    }

    #[test]
    fn the_key_of_a_line_is_found_when_it_is_an_assignment() {
        let src = "[run]\nadaptive_looks = 99999999999999999999\n# a comment = no\n";
        assert_eq!(key_on_line(src, 2).as_deref(), Some("run.adaptive_looks"));
        assert_eq!(key_on_line("top = 1e999\n", 1).as_deref(), Some("top"));
        assert_eq!(key_on_line(src, 1), None);
        assert_eq!(key_on_line(src, 3), None);
        assert_eq!(key_on_line(src, 9), None);
    }
}
