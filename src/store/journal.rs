//! The journal: one JSON line per finished call, appended as calls finish. It is the run's
//! source of truth: every report is derived from it, and a resumed run skips what it holds.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::base::types::ModelId;
use crate::grade::RecordedGrade;
use crate::provider::tokens::TokenSource;
use crate::provider::{CostSource, ErrorKind, LatencySource, UsageDetail};

/// What a call was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// A candidate model answering an item.
    Candidate,
    /// A classifier labelling an item.
    Classifier,
    /// The judge grading an answer.
    Judge,
}

impl CallKind {
    /// The kind as the journal key and `results.csv` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Candidate => "candidate",
            CallKind::Classifier => "classifier",
            CallKind::Judge => "judge",
        }
    }
}

/// The identity of a call within a run: the same key is never paid for twice.
pub fn call_key(kind: CallKind, item: &str, model: &ModelId, repeat: u32) -> String {
    format!("{}|{}|{}|{}", kind.as_str(), item, model, repeat)
}

/// One finished call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRow {
    /// `kind|item|model|repeat`: one key per planned call.
    pub key: String,
    /// Which call this was.
    pub kind: CallKind,
    /// The dataset item's id.
    pub item: String,
    /// The model called.
    pub model: ModelId,
    /// Which repeat of the item (0-based).
    pub repeat: u32,
    /// The endpoint the call went through.
    pub endpoint: String,
    /// An answer came back (a grade may still be 0).
    pub ok: bool,
    /// Why the call failed, typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// The error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The HTTP status of the last attempt, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Attempts made (0: not started).
    pub attempts: u32,
    /// The answer text (untrusted model output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Prompt tokens, cached ones included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Output tokens, reasoning included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Whether the token counts were reported or estimated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_source: Option<TokenSource>,
    /// Of `input_tokens`, those read from and written to the provider's prompt cache; of
    /// `output_tokens`, the hidden reasoning (as reported; top-level keys in the line).
    #[serde(flatten)]
    pub usage: UsageDetail,
    /// Why the model stopped, as the provider said it (`stop`, `length`, `end_turn`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The answer was cut by the token limit (`finish_reason` `length` or `max_tokens`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The cost that came with the answer (reported or recorded), kept apart so that a later
    /// price change re-prices only what the price table priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_cost_usd: Option<f64>,
    /// The cost as counted during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Where `cost_usd` came from.
    pub cost_source: CostSource,
    /// Milliseconds from request to the whole answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Measured, recorded or modelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_source: Option<LatencySource>,
    /// Processing time the server reported, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_latency_ms: Option<f64>,
    /// Milliseconds to the first token (streamed answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// A grade that came with a recorded answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<RecordedGrade>,
    /// For a judge call: the key of the call it judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Unix milliseconds.
    pub started_ms: i64,
    /// Unix milliseconds.
    pub finished_ms: i64,
}

impl JournalRow {
    /// Put an answer's cache and reasoning counts and its finish reason into its row.
    pub fn record_usage(&mut self, a: &crate::provider::Answer) {
        self.usage = a.usage;
        self.finish_reason = a.finish_reason.clone();
        self.truncated = a.truncated();
    }

    /// The billed tokens of the row (cache counts as journaled, 0 when absent).
    pub fn tokens(&self) -> crate::config::prices::TokenUse {
        crate::config::prices::TokenUse {
            input: self.input_tokens.unwrap_or(0),
            output: self.output_tokens.unwrap_or(0),
            cache_read: self.usage.cache_read_tokens.unwrap_or(0),
            cache_write: self.usage.cache_write_tokens.unwrap_or(0),
        }
    }
}

impl JournalRow {
    /// A row for the call `key` with nothing known yet: not ok, no attempt, no answer, no
    /// measurement, cost unknown. Callers fill in what they know.
    pub fn new(
        key: String,
        kind: CallKind,
        item: String,
        model: ModelId,
        repeat: u32,
        endpoint: String,
    ) -> JournalRow {
        JournalRow {
            key,
            kind,
            item,
            model,
            repeat,
            endpoint,
            ok: false,
            error_kind: None,
            error: None,
            http_status: None,
            attempts: 0,
            response: None,
            input_tokens: None,
            output_tokens: None,
            tokens_source: None,
            usage: UsageDetail::default(),
            finish_reason: None,
            truncated: false,
            given_cost_usd: None,
            cost_usd: None,
            cost_source: CostSource::Unpriced,
            latency_ms: None,
            latency_source: None,
            server_latency_ms: None,
            ttft_ms: None,
            grade: None,
            target: None,
            started_ms: 0,
            finished_ms: 0,
        }
    }
}

/// How often an open journal is synced to disk. A row reaches the operating system as soon as
/// it is appended, so a killed process loses nothing; a power cut loses at most this much.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Appends rows; each row reaches the OS when appended, and the file is synced to disk at a
/// bounded interval ([`SYNC_EVERY`]) and on finish.
pub struct JournalWriter {
    /// `None` only in the overhead measurement, which runs without a journal.
    out: Option<BufWriter<File>>,
    last_sync: Instant,
    sync_every: Duration,
    line: Vec<u8>,
}

impl JournalWriter {
    /// Open `path` for appending (created when missing). A torn last line, left by a process
    /// killed mid-write, is cut off first, so the next row starts on a line of its own.
    pub fn open_append(path: &Path) -> std::io::Result<JournalWriter> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        repair_tail(&mut file)?;
        Ok(JournalWriter {
            out: Some(BufWriter::with_capacity(1 << 16, file)),
            last_sync: Instant::now(),
            sync_every: SYNC_EVERY,
            line: Vec::with_capacity(4096),
        })
    }

    /// A writer that keeps nothing: only for measuring what the journal costs.
    #[cfg(test)]
    pub(crate) fn discard() -> JournalWriter {
        JournalWriter {
            out: None,
            last_sync: Instant::now(),
            sync_every: SYNC_EVERY,
            line: Vec::new(),
        }
    }

    /// Append one row as a JSON line and flush it; the file is synced to disk at most every
    /// sync interval (a crash loses at most the rows since the last sync, never half a row).
    pub fn append(&mut self, row: &JournalRow) -> std::io::Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        self.line.clear();
        serde_json::to_writer(&mut self.line, row).map_err(std::io::Error::other)?;
        self.line.push(b'\n');
        out.write_all(&self.line)?;
        out.flush()?;
        if self.last_sync.elapsed() >= self.sync_every {
            out.get_ref().sync_data()?;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Flush and sync the file (nothing for a discarding writer).
    pub fn finish(self) -> std::io::Result<()> {
        let Some(mut out) = self.out else {
            return Ok(());
        };
        out.flush()?;
        out.get_ref().sync_all()
    }
}

/// Make a journal end with a whole line: a last line without its newline is either a whole row
/// (the newline was lost; it is added) or a torn one (it is cut off, as [`read`] ignores it).
fn repair_tail(file: &mut File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Find the start of the last line, reading backwards.
    let mut start = 0;
    let mut end = len;
    let mut chunk = vec![0u8; 1 << 16];
    'search: while end > 0 {
        let from = end.saturating_sub(chunk.len() as u64);
        let n = (end - from) as usize;
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk[..n])?;
        if let Some(i) = chunk[..n].iter().rposition(|&b| b == b'\n') {
            start = from + i as u64 + 1;
            break 'search;
        }
        end = from;
    }
    let mut tail = Vec::with_capacity((len - start) as usize);
    file.seek(SeekFrom::Start(start))?;
    file.read_to_end(&mut tail)?;
    if serde_json::from_slice::<JournalRow>(&tail).is_ok() {
        file.write_all(b"\n")?;
    } else {
        file.set_len(start)?;
    }
    file.sync_data()
}

/// What a journal file held.
#[derive(Debug, Default)]
pub struct JournalContents {
    /// Every row, in file order.
    pub rows: Vec<JournalRow>,
    /// The last line was cut short (a crash mid-write); it was ignored.
    pub torn_tail: bool,
    /// Lines (1-based) that did not parse, other than a torn last line.
    pub bad_lines: Vec<usize>,
}

/// Read a journal. A missing file is an empty journal; a torn last line is skipped.
///
/// The file is read in blocks and each block's lines are parsed in parallel, so memory holds
/// the rows and one block, never the whole file next to its rows.
pub fn read(path: &Path) -> std::io::Result<JournalContents> {
    read_limited(path, crate::base::jsonl::MAX_JOURNAL_LINE_BYTES)
}

/// [`read`], with lines longer than `max_line` bytes counted as bad lines and never held.
pub(crate) fn read_limited(path: &Path, max_line: usize) -> std::io::Result<JournalContents> {
    use std::io::Read;
    const BLOCK: usize = 8 << 20;
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(JournalContents::default()),
        Err(e) => return Err(e),
    };
    let mut out = JournalContents::default();
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK * 2);
    let mut first_line = 1;
    // Inside a line longer than `max_line`: dropped block by block, never held.
    let mut skipping = false;
    loop {
        let got = (&mut f).take(BLOCK as u64).read_to_end(&mut buf)?;
        if skipping {
            let Some(i) = buf.iter().position(|&b| b == b'\n') else {
                buf.clear();
                if got == 0 {
                    out.torn_tail = true;
                    return Ok(out);
                }
                continue;
            };
            buf.drain(..=i);
            out.bad_lines.push(first_line);
            first_line += 1;
            skipping = false;
        }
        if got == 0 {
            // The end: what is left is a last line without its newline (or nothing).
            parse_into(&buf, first_line, &mut out);
            out.rows.shrink_to_fit();
            return Ok(out);
        }
        let Some(nl) = buf.iter().rposition(|&b| b == b'\n') else {
            if buf.len() > max_line {
                skipping = true;
                buf.clear();
            }
            continue;
        };
        first_line = parse_into(&buf[..=nl], first_line, &mut out);
        buf.drain(..=nl);
    }
}

/// A journal held in memory, read as [`read`] reads a file (a torn last line is skipped).
pub fn parse(bytes: &[u8]) -> JournalContents {
    let mut out = JournalContents::default();
    parse_into(bytes, 1, &mut out);
    out
}

/// Parse the lines of `bytes` (numbered from `first_line`) into `out`, in parallel and in order;
/// the number of the line after them. When `bytes` does not end with a newline, its last line is
/// the file's last and a failure to parse it is a torn tail.
fn parse_into(bytes: &[u8], first_line: usize, out: &mut JournalContents) -> usize {
    use rayon::prelude::*;
    enum Skip {
        Blank,
        Bad,
    }
    if bytes.is_empty() {
        return first_line;
    }
    let ends_clean = bytes.ends_with(b"\n");
    let body = if ends_clean {
        &bytes[..bytes.len() - 1]
    } else {
        bytes
    };
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    let n = lines.len();
    let mut parsed: Vec<Result<JournalRow, Skip>> = Vec::with_capacity(n);
    lines
        .par_iter()
        .with_min_len(256)
        .map(|line| {
            if line.is_empty() {
                Err(Skip::Blank)
            } else {
                serde_json::from_slice::<JournalRow>(line).map_err(|_| Skip::Bad)
            }
        })
        .collect_into_vec(&mut parsed);
    for (i, r) in parsed.iter().enumerate() {
        if let Err(Skip::Bad) = r {
            if i + 1 == n && !ends_clean {
                out.torn_tail = true;
            } else {
                out.bad_lines.push(first_line + i);
            }
        }
    }
    out.rows.extend(parsed.into_iter().filter_map(Result::ok));
    first_line + n
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn row(key: &str) -> JournalRow {
        JournalRow {
            key: key.into(),
            kind: CallKind::Candidate,
            item: "i".into(),
            model: ModelId::parse("a/b").unwrap(),
            repeat: 0,
            endpoint: "e".into(),
            ok: true,
            error_kind: None,
            error: None,
            http_status: None,
            attempts: 1,
            response: Some("x\ny\u{0}\"".into()),
            input_tokens: Some(1),
            output_tokens: Some(2),
            tokens_source: Some(TokenSource::Reported),
            usage: UsageDetail::default(),
            finish_reason: None,
            truncated: false,
            given_cost_usd: None,
            cost_usd: Some(0.5),
            cost_source: CostSource::PriceTable,
            latency_ms: Some(3.0),
            latency_source: Some(LatencySource::Measured),
            server_latency_ms: None,
            ttft_ms: None,
            grade: None,
            target: None,
            started_ms: 1,
            finished_ms: 2,
        }
    }

    #[test]
    fn usage_fields_round_trip_and_rows_without_them_still_parse() {
        let old = serde_json::to_string(&row("k")).unwrap();
        assert!(!old.contains("cache_read_tokens") && !old.contains("truncated"));
        let back: JournalRow = serde_json::from_str(&old).unwrap();
        assert_eq!(back, row("k"));
        let new = JournalRow {
            usage: UsageDetail {
                cache_read_tokens: Some(1920),
                cache_write_tokens: Some(0),
                reasoning_tokens: Some(500),
            },
            finish_reason: Some("length".into()),
            truncated: true,
            ..row("k")
        };
        let line = serde_json::to_string(&new).unwrap();
        // The flattened counts are top-level keys, where the journal always had them.
        assert!(
            line.contains(r#""tokens_source":"reported","cache_read_tokens":1920,"cache_write_tokens":0,"reasoning_tokens":500,"finish_reason":"length""#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<JournalRow>(&line).unwrap(), new);
    }

    #[test]
    fn round_trips_and_skips_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = crate::store::run_dir::RunDir::new(dir.path()).journal();
        let mut w = JournalWriter::open_append(&p).unwrap();
        w.append(&row("k1")).unwrap();
        w.append(&row("k2")).unwrap();
        w.finish().unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        let back = parse(&bytes);
        assert_eq!(back.rows, vec![row("k1"), row("k2")]);
        assert!(!back.torn_tail);
        bytes.extend_from_slice(b"{\"key\":\"k3\",\"ki");
        let torn = parse(&bytes);
        assert_eq!(torn.rows.len(), 2);
        assert!(torn.torn_tail && torn.bad_lines.is_empty());
    }

    #[test]
    fn appending_after_a_torn_tail_starts_a_fresh_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = crate::store::run_dir::RunDir::new(dir.path()).journal();
        let mut w = JournalWriter::open_append(&p).unwrap();
        w.append(&row("k1")).unwrap();
        w.finish().unwrap();
        let whole = std::fs::read(&p).unwrap();
        // Torn: half of a second row.
        let second = serde_json::to_vec(&row("k2")).unwrap();
        let mut torn = whole.clone();
        torn.extend_from_slice(&second[..second.len() / 2]);
        std::fs::write(&p, &torn).unwrap();
        let mut w = JournalWriter::open_append(&p).unwrap();
        w.append(&row("k3")).unwrap();
        w.finish().unwrap();
        let back = read(&p).unwrap();
        assert_eq!(back.rows, vec![row("k1"), row("k3")]);
        assert!(!back.torn_tail && back.bad_lines.is_empty());
        // A whole row that lost only its newline is kept.
        let mut no_newline = whole.clone();
        no_newline.extend_from_slice(&second);
        std::fs::write(&p, &no_newline).unwrap();
        let mut w = JournalWriter::open_append(&p).unwrap();
        w.append(&row("k3")).unwrap();
        w.finish().unwrap();
        assert_eq!(
            read(&p).unwrap().rows,
            vec![row("k1"), row("k2"), row("k3")]
        );
    }

    /// What the journal costs: calls per second through the runner on the shipped llm-drift
    /// replay suite (no network, so the runner and the journal are all there is), with the
    /// journal on disk and with a writer that keeps nothing. Not a pass/fail test; run with
    /// `cargo test --release --lib journal_overhead -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn journal_overhead() {
        use crate::benchmark::{execute, plan, progress::ProgressMode};
        use std::collections::HashSet;
        use std::sync::Arc;

        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/llm-drift");
        let now = jiff::Timestamp::now();
        let cfg = crate::config::Config::load(
            &root.join("routes.toml"),
            crate::config::prices::PriceTable::shipped(),
            now,
        )
        .unwrap();
        let ds = crate::dataset::Dataset::load(&root.join("dataset.jsonl")).unwrap();
        let providers = crate::provider::build_all(&cfg).unwrap();
        let cfg = Arc::new(cfg);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let repeats = 10;
        let dir = tempfile::tempdir().unwrap();
        let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for round in 0..6 {
            for (i, journaled) in [true, false].into_iter().enumerate() {
                let plan = plan::build(&cfg, &ds, repeats, &HashSet::new());
                let n = plan.calls.len();
                let writer = if journaled {
                    JournalWriter::open_append(&dir.path().join(format!("j{round}.jsonl"))).unwrap()
                } else {
                    JournalWriter::discard()
                };
                let t = Instant::now();
                let totals = rt
                    .block_on(execute(
                        plan,
                        cfg.clone(),
                        &providers,
                        crate::benchmark::Sinks {
                            journal: writer,
                            record: None,
                            budget: None,
                            stop: Default::default(),
                        },
                        ProgressMode::Quiet,
                    ))
                    .unwrap();
                assert_eq!(totals.calls, n);
                // The first round warms caches; it is not counted.
                if round > 0 {
                    rates[i].push(n as f64 / t.elapsed().as_secs_f64());
                }
            }
        }
        let bytes = std::fs::metadata(dir.path().join("j1.jsonl"))
            .unwrap()
            .len();
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (with, without) = (median(&mut rates[0]), median(&mut rates[1]));
        crate::eoutln!(
            "{} calls a run ({bytes} journal bytes): {with:.0} calls/s with the journal, {without:.0} without; {:.1} µs a call",
            270 * 5 * repeats,
            (1.0 / with - 1.0 / without) * 1e6
        );
        // The writer's own time per row (serialise, write, flush, the periodic sync), which
        // bounds the calls per second the journal can take.
        let rows = read(&dir.path().join("j1.jsonl")).unwrap().rows;
        let mut w = JournalWriter::open_append(&dir.path().join("alone.jsonl")).unwrap();
        let t = Instant::now();
        for r in &rows {
            w.append(r).unwrap();
        }
        w.finish().unwrap();
        let per_row = t.elapsed().as_secs_f64() / rows.len() as f64;
        crate::eoutln!(
            "appending alone: {:.1} µs a row ({:.0} rows/s)",
            per_row * 1e6,
            1.0 / per_row
        );
    }

    #[test]
    fn a_bad_line_in_the_middle_is_reported() {
        let mut bytes = serde_json::to_vec(&row("k1")).unwrap();
        bytes.extend_from_slice(b"\ngarbage\n");
        let back = parse(&bytes);
        assert_eq!(back.bad_lines, vec![2]);
        assert!(!back.torn_tail);
        assert!(
            read(Path::new("/nonexistent/journal.jsonl"))
                .unwrap()
                .rows
                .is_empty()
        );
    }

    #[test]
    fn reading_in_blocks_keeps_line_numbers_and_the_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = crate::store::run_dir::RunDir::new(dir.path()).journal();
        let mut bytes = Vec::new();
        let mut want = Vec::new();
        // Enough rows to span several read blocks.
        for i in 0..12_000 {
            let mut r = row(&format!("k{i}"));
            r.response = Some("x".repeat(i % 2_400));
            if i == 7_000 {
                bytes.extend_from_slice(b"not json\n\n");
            }
            serde_json::to_writer(&mut bytes, &r).unwrap();
            bytes.push(b'\n');
            want.push(r);
        }
        bytes.extend_from_slice(b"{\"key\":\"torn");
        std::fs::write(&p, &bytes).unwrap();
        let back = read(&p).unwrap();
        assert_eq!(back.rows.len(), want.len());
        assert!(back.rows == want);
        assert_eq!(back.bad_lines, vec![7_001]);
        assert!(back.torn_tail);
        let same = parse(&bytes);
        assert_eq!(same.bad_lines, back.bad_lines);
        assert!(same.torn_tail && same.rows == want);
    }
}
