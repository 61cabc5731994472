//! Monitoring the router from its log: requests, cost and latency per cell and model, fallback
//! rate per cell and per provider (a provider-health signal), error rate per cell, model and
//! provider, classifier parse misses and cache hits, with alerts for cron.
//!
//! Cells are the ones the classifier produced: a cell the table does not list is shown as
//! `math.latency (→ default)`, not lumped with every other unlisted cell.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::base::types::{Cell, ModelId};
use crate::provider::ErrorKind;
#[cfg(test)]
use crate::router::RouteRecord;

pub mod latency;
pub(crate) mod line;
pub(crate) mod logs;

use std::borrow::Cow;
use std::collections::HashMap;

use latency::Latencies;
use line::LogLine;

/// Alert thresholds.
#[derive(Debug, Clone)]
pub(crate) struct Thresholds {
    /// A cell or provider whose primary needs the fallback more often than this alerts.
    pub fallback_rate: f64,
    /// Classifier replies that do not parse more often than this alert.
    pub parse_miss_rate: f64,
    /// A cell, model or provider whose calls fail more often than this alerts. `auth` and
    /// `quota_exhausted` errors alert at any rate and any number of requests.
    pub error_rate: f64,
    /// Groups with fewer requests do not alert (too little evidence).
    pub min_requests: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            fallback_rate: 0.05,
            parse_miss_rate: 0.10,
            error_rate: 0.05,
            min_requests: 20,
        }
    }
}

pub(crate) struct MonitorReport {
    pub requests: usize,
    /// Long format: one row per scope (`overall`, `cell`, `provider`, `model`, `cell_model`)
    /// and key. `model` rows count calls (a primary's and a fallback's), not requests, and
    /// carry only `requests` and `error_rate`.
    pub table: DataFrame,
    /// The same rows, typed (the text and Markdown tables are written from them).
    pub rows: Vec<Row>,
    pub alerts: Vec<String>,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
}

/// What a row of the monitor table counts (the CSV's `scope` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Scope {
    /// Every request (`key` is `all`).
    Overall,
    /// The requests of one cell.
    Cell,
    /// The requests whose primary is from one provider.
    Provider,
    /// The calls of one model, as primary or fallback (calls and error rate only).
    Model,
    /// The classifier's calls (calls and error rate only).
    Classifier,
    /// The requests of one cell answered by one model.
    CellModel,
}

impl Scope {
    /// The name in the monitor table.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Overall => "overall",
            Scope::Cell => "cell",
            Scope::Provider => "provider",
            Scope::Model => "model",
            Scope::Classifier => "classifier",
            Scope::CellModel => "cell_model",
        }
    }

    /// Rows that count calls, not requests: no cost or latency.
    fn counts_calls(self) -> bool {
        matches!(self, Scope::Model | Scope::Classifier)
    }
}

/// Why a row alerts (the CSV's `alert` column joins them with commas).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AlertFlag {
    FallbackRate,
    ParseMissRate,
    ErrorRate,
    /// An error kind that alerts at any rate (`auth`, `quota_exhausted`).
    Kind(&'static str),
}

impl AlertFlag {
    fn as_str(self) -> &'static str {
        match self {
            AlertFlag::FallbackRate => "fallback_rate",
            AlertFlag::ParseMissRate => "parse_miss_rate",
            AlertFlag::ErrorRate => "error_rate",
            AlertFlag::Kind(k) => k,
        }
    }
}

/// Column names of the monitor CSV, in order (a unit test holds the frame to them).
#[cfg(test)]
pub(crate) const COLUMNS: &[&str] = &[
    "scope",
    "key",
    "model",
    "requests",
    "cost_usd",
    "p50_latency_ms",
    "p95_latency_ms",
    "latency_rel_error",
    "fallback_rate",
    "error_rate",
    "parse_miss_rate",
    "cache_hit_rate",
    "alert",
];

fn ts_ms(ts: &str) -> Option<i64> {
    ts.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// Aggregate the records logged at or after `since_ms` (a convenience over [`Aggregate`]).
#[cfg(test)]
pub(crate) fn monitor(
    records: &[RouteRecord],
    since_ms: Option<i64>,
    th: &Thresholds,
) -> PolarsResult<MonitorReport> {
    let mut agg = Aggregate::new(since_ms);
    records.iter().for_each(|r| agg.add(r));
    agg.finish(th)
}

/// Counts, sums and latencies of one group (overall, a cell, a provider, a cell × model).
#[derive(Debug, Clone, Default)]
struct Group {
    requests: u64,
    cost_usd: f64,
    fallback: u64,
    failed: u64,
    parse_miss: u64,
    cache_hit: u64,
    latency: Latencies,
}

impl Group {
    fn add(&mut self, r: &LogLine) {
        self.requests += 1;
        // Unpriced requests (`None`) add nothing, as a sum that skips nulls.
        self.cost_usd += r.cost_usd.unwrap_or(0.0);
        self.fallback += u64::from(r.fallback_used);
        self.failed += u64::from(!r.ok);
        self.parse_miss += u64::from(r.classifier_parse_miss);
        self.cache_hit += u64::from(r.classifier_cache_hit);
        self.latency.record(r.latency_ms);
    }

    fn row(&self, scope: Scope, key: &str, model: Option<&str>) -> Row {
        let n = self.requests.max(1) as f64;
        Row {
            scope,
            key: key.to_string(),
            model: model.map(str::to_string),
            requests: self.requests.min(u32::MAX as u64) as u32,
            cost_usd: Some(self.cost_usd),
            p50: self.latency.quantile(0.5),
            p95: self.latency.quantile(0.95),
            latency_rel_error: self.latency.rel_error_bound(),
            fallback_rate: Some(self.fallback as f64 / n),
            error_rate: Some(self.failed as f64 / n),
            parse_miss_rate: Some(self.parse_miss as f64 / n),
            cache_hit_rate: Some(self.cache_hit as f64 / n),
            alert: Vec::new(),
        }
    }
}

/// The group of `key` in `map`, created on first use (without allocating a key for a hit).
fn group<'m>(map: &'m mut BTreeMap<String, Group>, key: &str) -> &'m mut Group {
    if !map.contains_key(key) {
        map.insert(key.to_string(), Group::default());
    }
    map.get_mut(key).expect("inserted above")
}

/// One row of the monitor table (see [`COLUMNS`]).
#[derive(Debug, Clone)]
pub(crate) struct Row {
    scope: Scope,
    key: String,
    model: Option<String>,
    requests: u32,
    cost_usd: Option<f64>,
    p50: Option<f64>,
    p95: Option<f64>,
    /// Bound on the relative error of `p50` and `p95` (0 when exact; see
    /// [`latency::RELATIVE_ERROR`]).
    latency_rel_error: Option<f64>,
    fallback_rate: Option<f64>,
    error_rate: Option<f64>,
    parse_miss_rate: Option<f64>,
    cache_hit_rate: Option<f64>,
    /// Why it alerts (empty when quiet).
    alert: Vec<AlertFlag>,
}

/// The monitor's state while it reads a log: fixed-size figures per group, so memory grows
/// with the number of cells, models and providers, never with the number of lines. Records
/// can come from several logs one after another; the figures are those of the logs
/// concatenated.
#[derive(Debug, Clone)]
pub(crate) struct Aggregate {
    since_ms: Option<i64>,
    overall: Group,
    cells: BTreeMap<String, Group>,
    providers: BTreeMap<String, Group>,
    /// Cell, then the model that answered.
    cell_models: BTreeMap<String, BTreeMap<String, Group>>,
    /// Calls per scope ([`CALL_SCOPES`], in that order), then key.
    calls: [BTreeMap<String, CallCounts>; 4],
    /// The provider of each model name seen (see [`provider_of`]), so it is parsed once.
    provider_of: HashMap<String, String>,
    first_ts: Option<String>,
    last_ts: Option<String>,
}

/// The scopes calls are counted in, in the order their alerts are reported.
const CALL_SCOPES: [Scope; 4] = [
    Scope::Cell,
    Scope::Classifier,
    Scope::Model,
    Scope::Provider,
];

impl Aggregate {
    /// An empty aggregate that counts the records logged at or after `since_ms` (ms since
    /// the Unix epoch; `None` counts all).
    pub fn new(since_ms: Option<i64>) -> Self {
        Aggregate {
            since_ms,
            overall: Group::default(),
            cells: BTreeMap::new(),
            providers: BTreeMap::new(),
            cell_models: BTreeMap::new(),
            calls: Default::default(),
            provider_of: HashMap::new(),
            first_ts: None,
            last_ts: None,
        }
    }

    /// Count one record (ignored when it is older than the window or its time does not parse
    /// while a window is set).
    #[cfg(test)]
    pub fn add(&mut self, r: &RouteRecord) {
        self.add_line(&LogLine::from(r));
    }

    /// Count one log line (as [`Aggregate::add`]); the monitor's read path.
    pub fn add_line(&mut self, r: &LogLine) {
        if let Some(s) = self.since_ms
            && ts_ms(&r.ts).is_none_or(|t| t < s)
        {
            return;
        }
        let cell = cell_key_of(r);
        self.overall.add(r);
        group(&mut self.cells, &cell).add(r);
        let provider = provider_cached(&mut self.provider_of, &r.primary);
        group(&mut self.providers, provider).add(r);
        if !self.cell_models.contains_key(cell.as_ref()) {
            self.cell_models.insert(cell.to_string(), BTreeMap::new());
        }
        let models = self
            .cell_models
            .get_mut(cell.as_ref())
            .expect("inserted above");
        group(models, &r.routed_to).add(r);
        self.add_calls(r, &cell);
        if self.first_ts.as_deref().is_none_or(|t| *r.ts < *t) {
            self.first_ts = Some(r.ts.to_string());
        }
        if self.last_ts.as_deref().is_none_or(|t| *r.ts > *t) {
            self.last_ts = Some(r.ts.to_string());
        }
    }

    /// Count the calls one record made: the primary's, and the fallback's when it was tried. A
    /// primary that was followed by its fallback failed, whatever the fallback did.
    fn add_calls(&mut self, r: &LogLine, cell: &str) {
        let primary_failed = r.fallback_used || !r.ok;
        let primary_kind = if r.fallback_used {
            r.primary_error_kind
        } else {
            r.error_kind
        };
        let [cells, classifier, models, providers] = &mut self.calls;
        if !r.classifier_cache_hit {
            count(classifier, "classifier")
                .add(r.classifier_error_kind.is_some(), r.classifier_error_kind);
        }
        let mut made = [
            (&*r.primary, primary_failed, primary_kind),
            ("", false, None),
        ];
        if r.fallback_used {
            made[1] = (&*r.routed_to, !r.ok, r.error_kind);
        }
        for (model, failed, kind) in made.into_iter().take(1 + usize::from(r.fallback_used)) {
            count(cells, cell).add(failed, kind);
            count(models, model).add(failed, kind);
            let provider = provider_cached(&mut self.provider_of, model);
            count(providers, provider).add(failed, kind);
        }
    }

    /// Requests counted so far.
    pub fn requests(&self) -> u64 {
        self.overall.requests
    }

    /// The report: the table in its stable order (overall, cells, providers, models, the
    /// classifier, cell × model, each sorted by key), and the alerts.
    pub fn finish(self, th: &Thresholds) -> PolarsResult<MonitorReport> {
        let mut rows = vec![self.overall.row(Scope::Overall, "all", None)];
        rows.extend(self.cells.iter().map(|(k, g)| g.row(Scope::Cell, k, None)));
        rows.extend(
            self.providers
                .iter()
                .map(|(k, g)| g.row(Scope::Provider, k, None)),
        );
        let calls: Calls = CALL_SCOPES
            .into_iter()
            .zip(self.calls)
            .flat_map(|(s, by_key)| by_key.into_iter().map(move |(k, c)| (s, k, c)))
            .collect();
        for scope in [Scope::Model, Scope::Classifier] {
            rows.extend(
                calls
                    .iter()
                    .filter(|(s, _, _)| *s == scope)
                    .map(|(s, k, c)| call_row(*s, k, c)),
            );
        }
        for (cell, models) in &self.cell_models {
            rows.extend(
                models
                    .iter()
                    .map(|(m, g)| g.row(Scope::CellModel, cell, Some(m))),
            );
        }
        let alerts = alerts(&mut rows, &calls, th);
        Ok(MonitorReport {
            requests: self.overall.requests as usize,
            table: frame(&rows)?,
            rows,
            alerts,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
        })
    }
}

/// A `model` or `classifier` row: calls and their error rate only.
fn call_row(scope: Scope, key: &str, c: &CallCounts) -> Row {
    Row {
        scope,
        key: key.to_string(),
        model: None,
        requests: c.calls.min(u32::MAX as usize) as u32,
        cost_usd: None,
        p50: None,
        p95: None,
        latency_rel_error: None,
        fallback_rate: None,
        error_rate: Some(c.rate()),
        parse_miss_rate: None,
        cache_hit_rate: None,
        alert: Vec::new(),
    }
}

impl Row {
    /// The `alert` column: the flags, comma-separated and without repeats in a row, `None` when
    /// quiet.
    fn alert_text(&self) -> Option<String> {
        if self.alert.is_empty() {
            return None;
        }
        let mut f: Vec<&str> = self.alert.iter().map(|a| a.as_str()).collect();
        f.dedup();
        Some(f.join(","))
    }
}

/// The rows as a frame with the [`COLUMNS`].
fn frame(rows: &[Row]) -> PolarsResult<DataFrame> {
    let f = |name: &str, get: fn(&Row) -> Option<f64>| {
        Column::new(name.into(), rows.iter().map(get).collect::<Vec<_>>())
    };
    DataFrame::new(
        rows.len(),
        vec![
            Column::new(
                "scope".into(),
                rows.iter().map(|r| r.scope.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "key".into(),
                rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "model".into(),
                rows.iter().map(|r| r.model.as_deref()).collect::<Vec<_>>(),
            ),
            Column::new(
                "requests".into(),
                rows.iter().map(|r| r.requests).collect::<Vec<_>>(),
            ),
            f("cost_usd", |r| r.cost_usd),
            f("p50_latency_ms", |r| r.p50),
            f("p95_latency_ms", |r| r.p95),
            f("latency_rel_error", |r| r.latency_rel_error),
            f("fallback_rate", |r| r.fallback_rate),
            f("error_rate", |r| r.error_rate),
            f("parse_miss_rate", |r| r.parse_miss_rate),
            f("cache_hit_rate", |r| r.cache_hit_rate),
            Column::new(
                "alert".into(),
                rows.iter().map(Row::alert_text).collect::<Vec<_>>(),
            ),
        ],
    )
}

/// The cell a line was routed for, as the classifier produced it: `task.priority`, with
/// ` (→ default)` when the table does not list it and `[default]` answered; borrowed from the
/// line for a listed cell.
fn cell_key_of<'l>(r: &'l LogLine) -> Cow<'l, str> {
    if r.cell != "default" {
        return Cow::Borrowed(&r.cell);
    }
    match format!("{}.{}", r.task, r.priority).parse::<Cell>() {
        Ok(c) => Cow::Owned(format!("{c} (→ default)")),
        Err(_) => Cow::Borrowed(&r.cell),
    }
}

/// Calls and failed calls of one group, with the failures by error kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CallCounts {
    pub calls: usize,
    pub failed: usize,
    /// Failures by kind (`unknown` when an older log did not record the primary's kind).
    pub kinds: BTreeMap<&'static str, usize>,
}

impl CallCounts {
    fn add(&mut self, failed: bool, kind: Option<ErrorKind>) {
        self.calls += 1;
        if failed {
            self.failed += 1;
            *self
                .kinds
                .entry(kind.map_or("unknown", ErrorKind::as_str))
                .or_default() += 1;
        }
    }

    fn rate(&self) -> f64 {
        self.failed as f64 / self.calls.max(1) as f64
    }

    fn kinds_text(&self) -> String {
        self.kinds
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Call counts by scope ([`CALL_SCOPES`], in that order) and key (sorted).
type Calls = Vec<(Scope, String, CallCounts)>;

fn provider_of(m: &str) -> String {
    ModelId::parse(m)
        .map(|m| m.provider().to_string())
        .unwrap_or_else(|_| m.to_string())
}

/// [`provider_of`] `model`, parsed once per model name.
fn provider_cached<'c>(cache: &'c mut HashMap<String, String>, model: &str) -> &'c str {
    if !cache.contains_key(model) {
        cache.insert(model.to_string(), provider_of(model));
    }
    &cache[model]
}

/// The counts of `key` in `map`, created on first use (without allocating a key for a hit).
fn count<'m>(map: &'m mut BTreeMap<String, CallCounts>, key: &str) -> &'m mut CallCounts {
    if !map.contains_key(key) {
        map.insert(key.to_string(), CallCounts::default());
    }
    map.get_mut(key).expect("inserted above")
}

/// What an error kind that alerts at any rate means, for the alert's text.
fn alarming(kind: &str) -> Option<&'static str> {
    match kind {
        "auth" => Some("a missing, revoked or wrong API key"),
        "quota_exhausted" => Some("the account's quota or credit is used up"),
        _ => None,
    }
}

/// The alerts, in the order they are reported: the table's rows (fallback and parse-miss
/// rates), then the call counts (error rates, and error kinds that alert at any rate). Each
/// alert also flags its row.
fn alerts(rows: &mut [Row], calls: &Calls, th: &Thresholds) -> Vec<String> {
    let mut alerts = Vec::new();
    for row in rows.iter_mut() {
        alerts.extend(rate_alerts(row, th));
    }
    for (scope, key, c) in calls {
        let flag = |rows: &mut [Row], f: AlertFlag| {
            if let Some(r) = rows.iter_mut().find(|r| r.scope == *scope && r.key == *key) {
                r.alert.push(f);
            }
        };
        if c.calls >= th.min_requests && c.rate() > th.error_rate {
            alerts.push(format!(
                "error rate of {} {key} is {:.1}% over {} calls (threshold {:.1}%): {}",
                scope.as_str(),
                c.rate() * 100.0,
                c.calls,
                th.error_rate * 100.0,
                c.kinds_text()
            ));
            flag(rows, AlertFlag::ErrorRate);
        }
        // Keys and quotas are per account: one alert per model (and for the classifier),
        // whatever the numbers.
        let from = match scope {
            Scope::Model => format!("model {key} (provider {})", provider_of(key)),
            Scope::Classifier => "the classifier".to_string(),
            _ => continue,
        };
        for (kind, count) in &c.kinds {
            if let Some(meaning) = alarming(kind) {
                alerts.push(format!(
                    "{count} {kind} error{} from {from} in {} calls: {meaning}",
                    if *count == 1 { "" } else { "s" },
                    c.calls
                ));
                flag(rows, AlertFlag::Kind(kind));
            }
        }
    }
    alerts
}

/// The fallback-rate alert of a cell or provider row and the parse-miss alert of the overall
/// row, once the row has `min_requests`; each flags the row.
fn rate_alerts(row: &mut Row, th: &Thresholds) -> Vec<String> {
    let n = row.requests as usize;
    let mut out = Vec::new();
    if n < th.min_requests {
        return out;
    }
    let (s, k) = (row.scope.as_str(), &row.key);
    let f = row.fallback_rate.unwrap_or(0.0);
    if matches!(row.scope, Scope::Cell | Scope::Provider) && f > th.fallback_rate {
        out.push(format!(
            "fallback rate of {s} {k} is {:.1}% over {n} requests (threshold {:.1}%)",
            f * 100.0,
            th.fallback_rate * 100.0
        ));
        row.alert.push(AlertFlag::FallbackRate);
    }
    let p = row.parse_miss_rate.unwrap_or(0.0);
    if row.scope == Scope::Overall && p > th.parse_miss_rate {
        out.push(format!(
            "classifier parse misses are {:.1}% over {n} requests (threshold {:.1}%)",
            p * 100.0,
            th.parse_miss_rate * 100.0
        ));
        row.alert.push(AlertFlag::ParseMissRate);
    }
    out
}

/// The report as a Markdown block (for a CI step summary or a chat message).
pub(crate) fn markdown(r: &MonitorReport) -> String {
    let mut o = format!(
        "### Router monitor: {} requests ({} – {})\n\n",
        r.requests,
        r.first_ts.as_deref().unwrap_or("–"),
        r.last_ts.as_deref().unwrap_or("–")
    );
    if r.alerts.is_empty() {
        o.push_str("No alerts.\n\n");
    } else {
        for a in &r.alerts {
            o.push_str(&format!("- **ALERT** {a}\n"));
        }
        o.push('\n');
    }
    o.push_str(&format!("| {} |\n", HEADERS.join(" | ")));
    o.push_str(&format!("|{}\n", "---|".repeat(HEADERS.len())));
    for row in rows(r) {
        o.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    o
}

/// Column headings of the text and Markdown tables.
pub(crate) const HEADERS: &[&str] = &[
    "scope",
    "key",
    "model",
    "requests",
    "cost",
    "p50",
    "p95",
    "p50/p95 error",
    "fallback",
    "errors",
    "parse misses",
    "cache hits",
];

/// A percentile's error bound for people: `exact`, or `±0.05%` (and the 1 µs of rounding).
fn error_bound_text(bound: Option<f64>) -> String {
    match bound {
        None => "–".into(),
        Some(0.0) => "exact".into(),
        Some(b) => format!("±{}%", b * 100.0),
    }
}

/// Rows formatted for people.
pub(crate) fn rows(r: &MonitorReport) -> Vec<Vec<String>> {
    use crate::base::fmt::{ms, percent_1dp, usd};
    let rate = |x: Option<f64>| x.map(percent_1dp).unwrap_or_else(|| "–".into());
    r.rows
        .iter()
        .map(|row| {
            vec![
                row.scope.as_str().to_string(),
                row.key.clone(),
                row.model.clone().unwrap_or_default(),
                row.requests.to_string(),
                if row.scope.counts_calls() {
                    "–".into()
                } else {
                    usd(row.cost_usd)
                },
                ms(row.p50),
                ms(row.p95),
                error_bound_text(row.latency_rel_error),
                rate(row.fallback_rate),
                rate(row.error_rate),
                rate(row.parse_miss_rate),
                rate(row.cache_hit_rate),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_has_the_documented_columns() {
        let r = monitor(&[], None, &Thresholds::default()).unwrap();
        let names: Vec<&str> = r
            .table
            .get_column_names()
            .iter()
            .map(|c| c.as_str())
            .collect();
        assert_eq!(names, COLUMNS);
    }

    fn rec(
        ts: &str,
        cell: &str,
        primary: &str,
        routed_to: &str,
        fallback: bool,
        latency: f64,
    ) -> RouteRecord {
        RouteRecord {
            ts: ts.into(),
            prompt_sha256: "x".into(),
            task: "code".into(),
            priority: "quality".into(),
            cell: cell.into(),
            primary: primary.into(),
            routed_to: routed_to.into(),
            fallback_used: fallback,
            ok: true,
            error_kind: None,
            primary_error_kind: None,
            cost_usd: Some(0.01),
            latency_ms: latency,
            classifier_cache_hit: false,
            classifier_parse_miss: false,
            classifier_error_kind: None,
            prompt: None,
            messages: None,
        }
    }

    #[test]
    fn fallback_spike_alerts_per_cell_and_provider() {
        let mut rs = Vec::new();
        for i in 0..40 {
            let fb = i % 4 == 0; // 25% of code.quality falls back
            rs.push(rec(
                "2026-11-20T10:00:00Z",
                "code.quality",
                "anthropic/opus",
                if fb { "openai/gpt" } else { "anthropic/opus" },
                fb,
                100.0 + i as f64,
            ));
            rs.push(rec(
                "2026-11-20T10:00:00Z",
                "default",
                "deepseek/chat",
                "deepseek/chat",
                false,
                50.0,
            ));
        }
        let r = monitor(&rs, None, &Thresholds::default()).unwrap();
        assert_eq!(r.requests, 80);
        let fallback: Vec<&String> = r
            .alerts
            .iter()
            .filter(|a| a.starts_with("fallback rate"))
            .collect();
        assert_eq!(fallback.len(), 2, "{:?}", r.alerts);
        // A primary that needed its fallback failed: its calls fail 25% of the time.
        assert!(
            r.alerts
                .iter()
                .any(|a| a.starts_with("error rate of model anthropic/opus is 25.0% over 40 calls"))
        );
        assert!(
            r.alerts
                .iter()
                .any(|a| a.contains("cell code.quality") && a.contains("25.0%"))
        );
        assert!(r.alerts.iter().any(|a| a.contains("provider anthropic")));
        let scope = r.table.column("scope").unwrap().str().unwrap();
        assert_eq!(scope.get(0), Some("overall"));
        let n = r.table.column("requests").unwrap().u32().unwrap();
        assert_eq!(n.get(0), Some(80));
        // p50 of 100..139 (linear) is 119.5.
        let rows = rows(&r);
        let cq = rows
            .iter()
            .find(|x| x[0] == "cell" && x[1] == "code.quality")
            .unwrap();
        assert_eq!(cq[5], "120 ms");
    }

    fn failed(cell: &str, task: &str, prio: &str, kind: ErrorKind) -> RouteRecord {
        RouteRecord {
            task: task.into(),
            priority: prio.into(),
            ok: false,
            error_kind: Some(kind),
            ..rec(
                "2026-11-20T10:00:00Z",
                cell,
                "openai/gpt",
                "openai/gpt",
                false,
                10.0,
            )
        }
    }

    fn column(r: &MonitorReport, scope: &str) -> Vec<String> {
        let s = r.table.column("scope").unwrap().str().unwrap();
        let k = r.table.column("key").unwrap().str().unwrap();
        (0..r.table.height())
            .filter(|i| s.get(*i) == Some(scope))
            .map(|i| k.get(i).unwrap().to_string())
            .collect()
    }

    #[test]
    fn auth_and_quota_errors_alert_at_any_rate_and_any_count() {
        let mut rs: Vec<RouteRecord> = (0..200)
            .map(|_| {
                rec(
                    "2026-11-20T10:00:00Z",
                    "code.quality",
                    "a/x",
                    "a/x",
                    false,
                    5.0,
                )
            })
            .collect();
        rs.push(failed("code.quality", "code", "quality", ErrorKind::Auth));
        rs.push(failed(
            "code.quality",
            "code",
            "quality",
            ErrorKind::QuotaExhausted,
        ));
        let r = monitor(&rs, None, &Thresholds::default()).unwrap();
        assert!(
            r.alerts
                .iter()
                .any(|a| a.starts_with("1 auth error from model openai/gpt (provider openai)")),
            "{:?}",
            r.alerts
        );
        assert!(
            r.alerts
                .iter()
                .any(|a| a.starts_with("1 quota_exhausted error"))
        );
        // 2 of 202 calls: under the rate threshold, so no rate alert.
        assert!(
            !r.alerts.iter().any(|a| a.starts_with("error rate")),
            "{:?}",
            r.alerts
        );
        let flags = r.table.column("alert").unwrap().str().unwrap();
        let keys = r.table.column("key").unwrap().str().unwrap();
        let i = (0..r.table.height())
            .find(|i| keys.get(*i) == Some("openai/gpt"))
            .unwrap();
        assert_eq!(flags.get(i), Some("auth,quota_exhausted"));
    }

    #[test]
    fn an_error_rate_past_the_threshold_alerts_per_cell_model_and_provider() {
        let mut rs: Vec<RouteRecord> = (0..18)
            .map(|_| {
                rec(
                    "2026-11-20T10:00:00Z",
                    "code.quality",
                    "openai/gpt",
                    "openai/gpt",
                    false,
                    5.0,
                )
            })
            .collect();
        for _ in 0..4 {
            rs.push(failed("code.quality", "code", "quality", ErrorKind::Server));
        }
        let r = monitor(&rs, None, &Thresholds::default()).unwrap();
        for scope in ["cell code.quality", "model openai/gpt", "provider openai"] {
            assert!(
                r.alerts.iter().any(|a| a
                    .starts_with(&format!("error rate of {scope} is 18.2% over 22 calls"))
                    && a.ends_with("4 server")),
                "{scope}: {:?}",
                r.alerts
            );
        }
        let quiet = monitor(&rs[..19], None, &Thresholds::default()).unwrap();
        assert!(
            quiet.alerts.is_empty(),
            "under min_requests: {:?}",
            quiet.alerts
        );
    }

    #[test]
    fn every_real_cell_has_its_row_and_unlisted_ones_say_they_used_default() {
        let mut rs = vec![rec(
            "2026-11-20T10:00:00Z",
            "code.quality",
            "a/x",
            "a/x",
            false,
            5.0,
        )];
        for (task, prio) in [
            ("math", "latency"),
            ("creative", "quality"),
            ("math", "latency"),
        ] {
            rs.push(RouteRecord {
                task: task.into(),
                priority: prio.into(),
                ..rec("2026-11-20T10:00:00Z", "default", "b/y", "b/y", false, 5.0)
            });
        }
        let r = monitor(&rs, None, &Thresholds::default()).unwrap();
        assert_eq!(
            column(&r, "cell"),
            vec![
                "code.quality",
                "creative.quality (→ default)",
                "math.latency (→ default)"
            ]
        );
        let rows = rows(&r);
        let ml = rows
            .iter()
            .find(|x| x[0] == "cell" && x[1] == "math.latency (→ default)")
            .unwrap();
        assert_eq!(ml[3], "2");
        assert_eq!(column(&r, "model"), vec!["a/x", "b/y"]);
    }

    #[test]
    fn a_classifier_with_a_revoked_key_alerts() {
        let rs: Vec<RouteRecord> = (0..3)
            .map(|_| RouteRecord {
                classifier_parse_miss: true,
                classifier_error_kind: Some(ErrorKind::Auth),
                ..rec(
                    "2026-11-20T10:00:00Z",
                    "general.default",
                    "a/x",
                    "a/x",
                    false,
                    5.0,
                )
            })
            .collect();
        let r = monitor(&rs, None, &Thresholds::default()).unwrap();
        assert!(
            r.alerts
                .iter()
                .any(|a| a.starts_with("3 auth errors from the classifier in 3 calls")),
            "{:?}",
            r.alerts
        );
        assert_eq!(column(&r, "classifier"), vec!["classifier"]);
        let row = rows(&r).into_iter().find(|x| x[0] == "classifier").unwrap();
        assert_eq!(
            (row[3].as_str(), row[4].as_str(), row[9].as_str()),
            ("3", "–", "100.0%")
        );
    }

    #[test]
    fn since_filters_old_records() {
        let rs = vec![
            rec("2026-11-01T00:00:00Z", "default", "a/b", "a/b", true, 1.0),
            rec("2026-11-24T00:00:00Z", "default", "a/b", "a/b", false, 1.0),
        ];
        let since = ts_ms("2026-11-18T00:00:00Z");
        let r = monitor(
            &rs,
            since,
            &Thresholds {
                min_requests: 1,
                ..Thresholds::default()
            },
        )
        .unwrap();
        assert_eq!(r.requests, 1);
        assert!(r.alerts.is_empty());
    }
}
