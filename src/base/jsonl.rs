//! Line-oriented input, read with bounded memory, and JSON lines parsed strictly.
//!
//! [`Lines`] yields one line at a time and never holds more than `max` bytes of a line: a longer
//! line is reported as [`Line::TooLong`] (with its full length) while the reader skips to the
//! next newline, so a 1 GB line costs a 1 GB read, not 1 GB of memory. [`parse_strict`] parses a
//! JSON text and refuses duplicate object keys at any depth (RFC 8259 says names SHOULD be
//! unique; serde_json would silently keep the last value).

use std::cell::RefCell;
use std::fmt;
use std::io::{self, BufRead, Read};

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use sha2::Digest;

/// Longest journal line read back; a longer one is a bad line, skipped without being held.
/// Well above any answer a provider is allowed to return, so only damage reaches it.
pub const MAX_JOURNAL_LINE_BYTES: usize = 256 << 20;

/// One line of input.
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    /// The line without its `\n` (and without a `\r` before it; without a leading BOM on line 1).
    Text(&'a [u8]),
    /// A line longer than the limit, and its length in bytes.
    TooLong(u64),
}

/// Bounded line reader over any [`BufRead`].
pub struct Lines<R> {
    reader: R,
    max: usize,
    buf: Vec<u8>,
    number: usize,
}

impl<R: BufRead> Lines<R> {
    /// Lines of at most `max` bytes (a longer one is [`Line::TooLong`]).
    pub fn new(reader: R, max: usize) -> Self {
        Lines {
            reader,
            max,
            buf: Vec::new(),
            number: 0,
        }
    }

    /// The next line and its 1-based number; `None` at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<(usize, Line<'_>)>> {
        self.buf.clear();
        let limit = self.max as u64 + 1;
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        let ended = self.buf.last() == Some(&b'\n');
        if ended {
            self.buf.pop();
        }
        if self.buf.len() > self.max {
            // Count the rest of the line without keeping it.
            let rest = if ended {
                0
            } else {
                self.reader.skip_until(b'\n')?
            };
            let newline = usize::from(rest > 0 && !ended);
            let len = self.buf.len() as u64 + (rest - newline) as u64;
            self.buf.clear();
            self.buf.shrink_to(self.max.min(1 << 16));
            return Ok(Some((self.number, Line::TooLong(len))));
        }
        let mut text = &self.buf[..];
        if self.number == 1 {
            text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        }
        text = text.strip_suffix(b"\r").unwrap_or(text);
        Ok(Some((self.number, Line::Text(text))))
    }
}

/// A reader that feeds every byte it reads into a SHA-256 (the hash of a whole file read once),
/// until told the hash is no longer wanted (an input already known to be bad).
pub struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
    wanted: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: sha2::Sha256::new(),
            wanted: std::rc::Rc::new(std::cell::Cell::new(true)),
        }
    }

    /// A switch that, set to `false`, stops hashing what is read from then on.
    pub fn wanted(&self) -> std::rc::Rc<std::cell::Cell<bool>> {
        self.wanted.clone()
    }

    /// Lower-case hex SHA-256 of everything read so far.
    pub fn hex(&self) -> String {
        self.hasher
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        if self.wanted.get() {
            self.hasher.update(&out[..n]);
        }
        Ok(n)
    }
}

/// Why a JSON line did not parse.
#[derive(Debug, Clone, PartialEq)]
pub enum StrictError {
    /// Not JSON (serde_json's message, with line and column).
    Syntax(String),
    /// The same key twice in one object; the dotted path of the second one (`grader.kind`,
    /// `items[2].id`).
    DuplicateKey(String),
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictError::Syntax(m) => write!(f, "not valid JSON: {m}"),
            StrictError::DuplicateKey(k) => write!(
                f,
                "duplicate key {k:?} (a JSON object must not name a field twice)"
            ),
        }
    }
}

/// Parse one JSON text, refusing duplicate keys at any depth.
pub fn parse_strict(text: &str) -> Result<Value, StrictError> {
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = Strict {
        path: String::new(),
        dup: &dup,
    };
    let out = seed.deserialize(&mut de).and_then(|v| de.end().map(|_| v));
    match (out, dup.into_inner()) {
        (_, Some(path)) => Err(StrictError::DuplicateKey(path)),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(StrictError::Syntax(e.to_string())),
    }
}

/// Builds a [`Value`] like serde_json does, noting the first duplicate key in `dup`.
struct Strict<'a> {
    path: String,
    dup: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, x: i64) -> Result<Value, E> {
        Ok(Value::from(x))
    }
    fn visit_u64<E>(self, x: u64) -> Result<Value, E> {
        Ok(Value::from(x))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let path = format!("{}[{}]", self.path, out.len());
            match seq.next_element_seed(Strict {
                path,
                dup: self.dup,
            })? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if out.contains_key(&key) {
                *self.dup.borrow_mut() = Some(path);
                return Err(A::Error::custom("duplicate key"));
            }
            let v = map.next_value_seed(Strict {
                path,
                dup: self.dup,
            })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> Vec<(usize, Result<String, u64>)> {
        let mut l = Lines::new(io::BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        while let Some((n, line)) = l.next_line().unwrap() {
            out.push((
                n,
                match line {
                    Line::Text(t) => Ok(String::from_utf8(t.to_vec()).unwrap()),
                    Line::TooLong(len) => Err(len),
                },
            ));
        }
        out
    }

    #[test]
    fn lines_are_bounded_and_numbered() {
        let got = all(b"\xEF\xBB\xBFab\r\n0123456789\n\nlast", 8);
        assert_eq!(
            got,
            vec![
                (1, Ok("ab".into())),
                (2, Err(10)),
                (3, Ok(String::new())),
                (4, Ok("last".into()))
            ]
        );
        assert_eq!(all(b"", 8), vec![]);
        assert_eq!(all(b"x\n", 8), vec![(1, Ok("x".into()))]);
        assert_eq!(all(b"12345678\n", 8), vec![(1, Ok("12345678".into()))]);
    }

    #[test]
    fn hashing_reader_hashes_what_was_read() {
        let mut r = HashingReader::new(&b"abc"[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(
            r.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let dup = |s: &str| match parse_strict(s) {
            Err(StrictError::DuplicateKey(k)) => k,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(dup(r#"{"id":"x1","id":"x2"}"#), "id");
        assert_eq!(dup(r#"{"grader":{"kind":"a","kind":"b"}}"#), "grader.kind");
        assert_eq!(dup(r#"{"a":[{"b":1},{"c":1,"c":2}]}"#), "a[1].c");
        let v = parse_strict(r#"{"a":{"b":[1,-2,3.5,null,true,"s"]},"c":{"b":1}}"#).unwrap();
        assert_eq!(v["a"]["b"][2], 3.5);
        assert!(matches!(
            parse_strict("{\"a\":1} x"),
            Err(StrictError::Syntax(_))
        ));
        assert!(matches!(
            parse_strict("{\"a\":"),
            Err(StrictError::Syntax(_))
        ));
    }

    #[test]
    fn a_journal_line_over_the_limit_is_skipped_unheld() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"{\"not\": \"a row\"}\n").unwrap();
        // 20 MiB: longer than the 8 MiB read block, so it spans blocks.
        f.write_all(&vec![b'x'; 20 << 20]).unwrap();
        f.write_all(b"\n\n").unwrap();
        f.write_all(&vec![b'y'; 9 << 20]).unwrap();
        drop(f);
        let j = crate::store::journal::read_limited(&path, 1 << 20).unwrap();
        assert_eq!(j.bad_lines, vec![1, 2]);
        assert!(j.torn_tail, "the over-long last line without its newline");
    }
}
