//! A bounded, linear-time parser of `text/event-stream` bodies (the WHATWG "server-sent
//! events" format as LLM APIs send it).
//!
//! Each byte is looked at once: the search for a line end resumes where the last one stopped,
//! so a line that arrives in many chunks costs its length, not its length squared. A line
//! longer than the limit is an error as soon as it is, without waiting for its end.

use std::collections::VecDeque;

/// One dispatched event: its `event:` name (empty when none was given) and its `data:` lines
/// joined with `\n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    pub event: String,
    pub data: String,
}

/// A line of the stream is longer than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong {
    /// The limit, bytes.
    pub limit: usize,
}

/// Incremental parser: feed it chunks as they arrive, take the events it completed.
#[derive(Debug)]
pub struct Parser {
    /// Bytes of the line being read (never holds a complete line between calls).
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` starting the next chunk belongs to it.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
    max_line: usize,
    ready: VecDeque<Event>,
}

impl Parser {
    /// A parser that refuses lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Parser {
        Parser {
            line: Vec::new(),
            after_cr: false,
            event: String::new(),
            data: String::new(),
            has_data: false,
            max_line,
            ready: VecDeque::new(),
        }
    }

    /// Read `chunk`; complete events become available from [`Parser::next_event`].
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), LineTooLong> {
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        while !chunk.is_empty() {
            match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    self.push_line_bytes(&chunk[..i])?;
                    let line = std::mem::take(&mut self.line);
                    self.take_line(&line);
                    self.line = line;
                    self.line.clear();
                    let crlf = chunk[i] == b'\r' && chunk.get(i + 1) == Some(&b'\n');
                    if chunk[i] == b'\r' && i + 1 == chunk.len() {
                        self.after_cr = true;
                    }
                    chunk = &chunk[i + 1 + usize::from(crlf)..];
                }
                None => {
                    self.push_line_bytes(chunk)?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// The end of the body: a last line without its line end, and an event without its blank
    /// line, still count (servers that close right after the last `data:` line are common).
    pub fn finish(&mut self) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.take_line(&line);
        }
        self.dispatch();
    }

    /// The oldest event completed and not yet taken.
    pub fn next_event(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }

    fn push_line_bytes(&mut self, b: &[u8]) -> Result<(), LineTooLong> {
        if self.line.len() + b.len() > self.max_line {
            return Err(LineTooLong {
                limit: self.max_line,
            });
        }
        self.line.extend_from_slice(b);
        Ok(())
    }

    fn take_line(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line[0] == b':' {
            return; // a comment (keep-alive, "OPENROUTER PROCESSING")
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = value.into_owned(),
            _ => {} // id, retry and unknown fields change nothing here
        }
    }

    fn dispatch(&mut self) {
        if self.has_data {
            self.ready.push_back(Event {
                event: std::mem::take(&mut self.event),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event.clear();
        self.data.clear();
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<Event> {
        let mut p = Parser::new(1 << 20);
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c).unwrap();
            while let Some(e) = p.next_event() {
                out.push(e);
            }
        }
        p.finish();
        while let Some(e) = p.next_event() {
            out.push(e);
        }
        out
    }

    fn ev(event: &str, data: &str) -> Event {
        Event {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn events_split_anywhere_parse_the_same() {
        let body = b": keep-alive\r\n\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: x\ndata:y\n\ndata: [DONE]\n\n";
        let whole = events(&[body]);
        assert_eq!(
            whole,
            vec![
                ev("message_start", "{\"a\":1}"),
                ev("", "x\ny"),
                ev("", "[DONE]")
            ]
        );
        for cut in 1..body.len() {
            assert_eq!(events(&[&body[..cut], &body[cut..]]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(events(&bytes), whole);
    }

    #[test]
    fn lone_cr_ends_lines_and_a_last_event_without_blank_line_counts() {
        assert_eq!(
            events(&[b"data: a\rdata: b\r\rdata: c"]),
            vec![ev("", "a\nb"), ev("", "c")]
        );
        assert_eq!(events(&[b"id: 1\nretry: 5\n\n"]), vec![]);
    }

    #[test]
    fn a_line_over_the_limit_is_refused_before_it_ends() {
        let mut p = Parser::new(10);
        p.feed(b"data: 1234").unwrap();
        assert_eq!(p.feed(b"5"), Err(LineTooLong { limit: 10 }));
        let mut p = Parser::new(10);
        p.feed(b"data: 12\n\n").unwrap();
        assert_eq!(p.next_event(), Some(ev("", "12")));
    }

    #[test]
    fn a_long_line_in_small_chunks_is_read_in_linear_time() {
        // 4 MiB in 1-byte-per-call pieces of 64 bytes: quadratic rescanning would take minutes.
        let mut p = Parser::new(8 << 20);
        let piece = [b'x'; 64];
        let t = std::time::Instant::now();
        p.feed(b"data: ").unwrap();
        for _ in 0..(4 << 20) / 64 {
            p.feed(&piece).unwrap();
        }
        p.feed(b"\n\n").unwrap();
        assert_eq!(p.next_event().unwrap().data.len(), 4 << 20);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
    }
}
