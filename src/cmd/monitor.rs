//! `routecal monitor LOG...`: the router's health from its logs, read in one streaming pass;
//! exit 3 when an alert fires, 2 when a log cannot be read.

use crate::base::error::{UsageError, exit};
use crate::cli::{MonitorArgs, MonitorFormat};
use crate::report::{frame_to_csv, text};
use crate::router::monitor::{self, Thresholds, logs};

pub fn monitor(a: MonitorArgs) -> anyhow::Result<u8> {
    let since_ms = a
        .since
        .map(|d| jiff::Timestamp::now().as_millisecond() - d.as_millis() as i64);
    let paths = logs::expand(&a.logs).map_err(|e| UsageError(e.to_string()))?;
    let mut agg = monitor::Aggregate::new(since_ms);
    let mut skipped_per_file = Vec::new();
    for path in &paths {
        let n = logs::read_into(path, &mut agg).map_err(|e| UsageError(e.to_string()))?;
        skipped_per_file.push((path, n));
    }
    let skipped: usize = skipped_per_file.iter().map(|(_, n)| n).sum();
    let th = Thresholds {
        fallback_rate: a.fallback_alert,
        parse_miss_rate: a.parse_miss_alert,
        error_rate: a.error_alert,
        min_requests: a.min_requests,
    };
    let r = agg.finish(&th, skipped)?;
    match a.format {
        MonitorFormat::Csv => out!("{}", String::from_utf8(frame_to_csv(&r.table)?)?),
        MonitorFormat::Markdown => out!("{}", monitor::markdown(&r)?),
        MonitorFormat::Text => {
            outln!(
                "{} requests ({} – {})",
                r.requests,
                r.first_ts.as_deref().unwrap_or("–"),
                r.last_ts.as_deref().unwrap_or("–")
            );
            out!(
                "{}",
                text::table(
                    &[
                        "scope",
                        "key",
                        "model",
                        "requests",
                        "cost",
                        "p50",
                        "p95",
                        "fallback",
                        "errors",
                        "parse misses",
                        "cache hits"
                    ],
                    &monitor::rows(&r)?
                )
            );
            for alert in &r.alerts {
                outln!("ALERT: {alert}");
            }
        }
    }
    for (path, n) in skipped_per_file.into_iter().filter(|(_, n)| *n > 0) {
        eoutln!(
            "warning: {n} lines of {} did not parse and were skipped",
            path.display()
        );
    }
    Ok(if r.alerts.is_empty() {
        exit::OK
    } else {
        exit::TABLE_CHANGED
    })
}
