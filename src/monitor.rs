//! Monitoring the router from its log: requests, cost and latency per cell and model, fallback
//! rate per cell and per provider (a provider-health signal), classifier parse misses and cache
//! hits, with alerts for cron.

use polars::prelude::*;

use crate::router::RouteRecord;
use crate::types::ModelId;

/// Alert thresholds.
#[derive(Debug, Clone)]
pub struct Thresholds {
    /// A cell or provider whose primary needs the fallback more often than this alerts.
    pub fallback_rate: f64,
    /// Classifier replies that do not parse more often than this alert.
    pub parse_miss_rate: f64,
    /// Groups with fewer requests do not alert (too little evidence).
    pub min_requests: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            fallback_rate: 0.05,
            parse_miss_rate: 0.10,
            min_requests: 20,
        }
    }
}

pub struct MonitorReport {
    pub requests: usize,
    /// Long format: one row per scope (`overall`, `cell`, `provider`, `cell_model`) and key.
    pub table: DataFrame,
    pub alerts: Vec<String>,
    /// Log lines skipped because they did not parse, and records outside the window.
    pub skipped_lines: usize,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
}

/// Column names of the monitor CSV, in order.
pub const COLUMNS: &[&str] = &[
    "scope",
    "key",
    "model",
    "requests",
    "cost_usd",
    "p50_latency_ms",
    "p95_latency_ms",
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

/// Aggregate the records logged at or after `since_ms`.
pub fn monitor(
    records: &[RouteRecord],
    since_ms: Option<i64>,
    th: &Thresholds,
    skipped_lines: usize,
) -> PolarsResult<MonitorReport> {
    let rs: Vec<&RouteRecord> = records
        .iter()
        .filter(|r| since_ms.is_none_or(|s| ts_ms(&r.ts).is_some_and(|t| t >= s)))
        .collect();
    let provider = |m: &str| {
        ModelId::parse(m)
            .map(|m| m.provider().to_string())
            .unwrap_or_else(|_| m.to_string())
    };
    let df = DataFrame::new(
        rs.len(),
        vec![
            Column::new(
                "cell".into(),
                rs.iter().map(|r| r.cell.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "model".into(),
                rs.iter().map(|r| r.routed_to.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "provider".into(),
                rs.iter().map(|r| provider(&r.primary)).collect::<Vec<_>>(),
            ),
            Column::new(
                "fallback".into(),
                rs.iter().map(|r| r.fallback_used).collect::<Vec<_>>(),
            ),
            Column::new("ok".into(), rs.iter().map(|r| r.ok).collect::<Vec<_>>()),
            Column::new(
                "cost_usd".into(),
                rs.iter().map(|r| r.cost_usd).collect::<Vec<_>>(),
            ),
            Column::new(
                "latency_ms".into(),
                rs.iter().map(|r| r.latency_ms).collect::<Vec<_>>(),
            ),
            Column::new(
                "parse_miss".into(),
                rs.iter()
                    .map(|r| r.classifier_parse_miss)
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "cache_hit".into(),
                rs.iter()
                    .map(|r| r.classifier_cache_hit)
                    .collect::<Vec<_>>(),
            ),
        ],
    )?;
    let aggs = || {
        [
            len().cast(DataType::UInt32).alias("requests"),
            col("cost_usd").sum().alias("cost_usd"),
            col("latency_ms")
                .quantile(lit(0.5), QuantileMethod::Linear)
                .alias("p50_latency_ms"),
            col("latency_ms")
                .quantile(lit(0.95), QuantileMethod::Linear)
                .alias("p95_latency_ms"),
            col("fallback")
                .cast(DataType::Float64)
                .mean()
                .alias("fallback_rate"),
            col("ok")
                .not()
                .cast(DataType::Float64)
                .mean()
                .alias("error_rate"),
            col("parse_miss")
                .cast(DataType::Float64)
                .mean()
                .alias("parse_miss_rate"),
            col("cache_hit")
                .cast(DataType::Float64)
                .mean()
                .alias("cache_hit_rate"),
        ]
    };
    let scoped = |scope: &str, keys: Vec<Expr>, key: Expr, model: Expr| -> LazyFrame {
        let lf = df.clone().lazy();
        let lf = if keys.is_empty() {
            lf.select(aggs())
        } else {
            lf.group_by(keys).agg(aggs())
        };
        lf.select(
            [
                vec![
                    lit(scope.to_string()).alias("scope"),
                    key.alias("key"),
                    model.alias("model"),
                ],
                aggs_out(),
            ]
            .concat(),
        )
    };
    let none = || lit(NULL).cast(DataType::String);
    let table = concat(
        [
            scoped("overall", vec![], lit("all"), none()),
            scoped("cell", vec![col("cell")], col("cell"), none()),
            scoped("provider", vec![col("provider")], col("provider"), none()),
            scoped(
                "cell_model",
                vec![col("cell"), col("model")],
                col("cell"),
                col("model"),
            ),
        ],
        UnionArgs::default(),
    )?
    .collect()?;
    // Stable order: overall, cells, providers, cell × model, each sorted by key.
    let order = |s: &str| match s {
        "overall" => 0u32,
        "cell" => 1,
        "provider" => 2,
        _ => 3,
    };
    let scopes = table.column("scope")?.str()?;
    let scope_rank: Vec<u32> = (0..table.height())
        .map(|i| order(scopes.get(i).unwrap_or("")))
        .collect();
    let mut table = table;
    table.with_column(Column::new("scope_rank".into(), scope_rank))?;
    let mut table = table
        .lazy()
        .sort(
            ["scope_rank", "key", "model"],
            SortMultipleOptions::default().with_nulls_last(false),
        )
        .drop(Selector::ByName {
            names: Arc::new(["scope_rank".into()]),
            strict: true,
        })
        .collect()?;

    // Alerts.
    let mut alerts = Vec::new();
    let mut flags = Vec::with_capacity(table.height());
    {
        let scope = table.column("scope")?.str()?;
        let key = table.column("key")?.str()?;
        let n = table.column("requests")?.u32()?;
        let fb = table.column("fallback_rate")?.f64()?;
        let pm = table.column("parse_miss_rate")?.f64()?;
        for i in 0..table.height() {
            let (s, k, n) = (
                scope.get(i).unwrap_or(""),
                key.get(i).unwrap_or(""),
                n.get(i).unwrap_or(0) as usize,
            );
            let mut flag: Option<String> = None;
            if n >= th.min_requests
                && matches!(s, "cell" | "provider")
                && fb.get(i).unwrap_or(0.0) > th.fallback_rate
            {
                let msg = format!(
                    "fallback rate of {s} {k} is {:.1}% over {n} requests (threshold {:.1}%)",
                    fb.get(i).unwrap_or(0.0) * 100.0,
                    th.fallback_rate * 100.0
                );
                alerts.push(msg.clone());
                flag = Some("fallback_rate".into());
            }
            if n >= th.min_requests
                && s == "overall"
                && pm.get(i).unwrap_or(0.0) > th.parse_miss_rate
            {
                alerts.push(format!(
                    "classifier parse misses are {:.1}% over {n} requests (threshold {:.1}%)",
                    pm.get(i).unwrap_or(0.0) * 100.0,
                    th.parse_miss_rate * 100.0
                ));
                flag = Some("parse_miss_rate".into());
            }
            flags.push(flag);
        }
    }
    table.with_column(Column::new("alert".into(), flags))?;
    let mut ts: Vec<&str> = rs.iter().map(|r| r.ts.as_str()).collect();
    ts.sort();
    Ok(MonitorReport {
        requests: rs.len(),
        table,
        alerts,
        skipped_lines,
        first_ts: ts.first().map(|s| s.to_string()),
        last_ts: ts.last().map(|s| s.to_string()),
    })
}

fn aggs_out() -> Vec<Expr> {
    [
        "requests",
        "cost_usd",
        "p50_latency_ms",
        "p95_latency_ms",
        "fallback_rate",
        "error_rate",
        "parse_miss_rate",
        "cache_hit_rate",
    ]
    .iter()
    .map(|c| col(*c))
    .collect()
}

/// The report as a Markdown block (for a CI step summary or a chat message).
pub fn markdown(r: &MonitorReport) -> anyhow::Result<String> {
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
    o.push_str("| scope | key | model | requests | cost | p50 | p95 | fallback | errors | parse misses | cache hits |\n");
    o.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for row in rows(r)? {
        o.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    Ok(o)
}

/// Rows formatted for people.
pub fn rows(r: &MonitorReport) -> anyhow::Result<Vec<Vec<String>>> {
    use crate::report::text::{ms, pct, usd};
    let t = &r.table;
    let s = |c: &str| -> anyhow::Result<&StringChunked> { Ok(t.column(c)?.str()?) };
    let f = |c: &str| -> anyhow::Result<&Float64Chunked> { Ok(t.column(c)?.f64()?) };
    let (scope, key, model) = (s("scope")?, s("key")?, s("model")?);
    let n = t.column("requests")?.u32()?;
    let (cost, p50, p95, fb, err, pm, ch) = (
        f("cost_usd")?,
        f("p50_latency_ms")?,
        f("p95_latency_ms")?,
        f("fallback_rate")?,
        f("error_rate")?,
        f("parse_miss_rate")?,
        f("cache_hit_rate")?,
    );
    Ok((0..t.height())
        .map(|i| {
            vec![
                scope.get(i).unwrap_or("").to_string(),
                key.get(i).unwrap_or("").to_string(),
                model.get(i).unwrap_or("").to_string(),
                n.get(i).unwrap_or(0).to_string(),
                usd(cost.get(i)),
                ms(p50.get(i)),
                ms(p95.get(i)),
                pct(fb.get(i).unwrap_or(0.0)),
                pct(err.get(i).unwrap_or(0.0)),
                pct(pm.get(i).unwrap_or(0.0)),
                pct(ch.get(i).unwrap_or(0.0)),
            ]
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            prompt: None,
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
        let r = monitor(&rs, None, &Thresholds::default(), 0).unwrap();
        assert_eq!(r.requests, 80);
        assert_eq!(r.alerts.len(), 2, "{:?}", r.alerts);
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
        let rows = rows(&r).unwrap();
        let cq = rows
            .iter()
            .find(|x| x[0] == "cell" && x[1] == "code.quality")
            .unwrap();
        assert_eq!(cq[5], "120 ms");
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
            0,
        )
        .unwrap();
        assert_eq!(r.requests, 1);
        assert!(r.alerts.is_empty());
    }
}
