//! The fields of a route-log line the monitor counts, borrowed from the line's bytes.
//!
//! A line is parsed once into [`LogLine`]: strings without escapes point into the line (no
//! allocation), and the fields the monitor does not count (`prompt`, `messages`) are skipped
//! by the parser without being built. A line parses here when it has the fields a
//! [`RouteRecord`] must have, with their types (`prompt` and `messages` are not checked).

use std::borrow::Cow;

use serde::Deserialize;

use crate::provider::ErrorKind;
use crate::router::RouteRecord;

/// One route-log line, as the monitor reads it (see [`RouteRecord`] for the fields' meaning).
#[derive(Debug, Clone, Deserialize)]
pub struct LogLine<'a> {
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
    /// Required as in the log; not counted.
    #[serde(borrow, rename = "prompt_sha256")]
    pub _prompt_sha256: Cow<'a, str>,
    #[serde(borrow)]
    pub task: Cow<'a, str>,
    #[serde(borrow)]
    pub priority: Cow<'a, str>,
    #[serde(borrow)]
    pub cell: Cow<'a, str>,
    #[serde(borrow)]
    pub primary: Cow<'a, str>,
    #[serde(borrow)]
    pub routed_to: Cow<'a, str>,
    pub fallback_used: bool,
    pub ok: bool,
    #[serde(default)]
    pub error_kind: Option<ErrorKind>,
    #[serde(default)]
    pub primary_error_kind: Option<ErrorKind>,
    pub cost_usd: Option<f64>,
    pub latency_ms: f64,
    pub classifier_cache_hit: bool,
    pub classifier_parse_miss: bool,
    #[serde(default)]
    pub classifier_error_kind: Option<ErrorKind>,
}

impl<'a> From<&'a RouteRecord> for LogLine<'a> {
    fn from(r: &'a RouteRecord) -> Self {
        LogLine {
            ts: Cow::Borrowed(&r.ts),
            _prompt_sha256: Cow::Borrowed(&r.prompt_sha256),
            task: Cow::Borrowed(&r.task),
            priority: Cow::Borrowed(&r.priority),
            cell: Cow::Borrowed(&r.cell),
            primary: Cow::Borrowed(&r.primary),
            routed_to: Cow::Borrowed(&r.routed_to),
            fallback_used: r.fallback_used,
            ok: r.ok,
            error_kind: r.error_kind,
            primary_error_kind: r.primary_error_kind,
            cost_usd: r.cost_usd,
            latency_ms: r.latency_ms,
            classifier_cache_hit: r.classifier_cache_hit,
            classifier_parse_miss: r.classifier_parse_miss,
            classifier_error_kind: r.classifier_error_kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_borrows_plain_strings_and_reads_escaped_ones() {
        let raw = br#"{"ts":"2026-11-30T10:00:00Z","prompt_sha256":"ab","task":"code","priority":"quality","cell":"code.quality","primary":"a/b","routed_to":"a/\"c\"","fallback_used":true,"ok":false,"error_kind":"server","primary_error_kind":"timeout","cost_usd":null,"latency_ms":12.5,"classifier_cache_hit":false,"classifier_parse_miss":false,"prompt":"skipped","messages":[{"role":"user","content":"x"}]}"#;
        let l: LogLine = serde_json::from_slice(raw).unwrap();
        assert!(matches!(l.primary, Cow::Borrowed("a/b")));
        assert_eq!(l.routed_to, "a/\"c\"");
        assert_eq!(l.error_kind, Some(ErrorKind::Server));
        assert_eq!(l.cost_usd, None);
        // The same lines fail here as for a RouteRecord: a missing or mistyped field.
        for bad in [r#""ok":false,"#, r#""latency_ms":12.5,"#] {
            let s = std::str::from_utf8(raw).unwrap().replace(bad, "");
            assert!(serde_json::from_str::<LogLine>(&s).is_err(), "{bad}");
            assert!(serde_json::from_str::<RouteRecord>(&s).is_err(), "{bad}");
        }
    }
}
