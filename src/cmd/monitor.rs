//! `routecal monitor LOG`: the router's health from its log; exit 3 when an alert fires.

use crate::cli::{MonitorArgs, MonitorFormat};
use crate::error::{UsageError, exit};
use crate::monitor::{self, Thresholds};
use crate::report::{frame_to_csv, text};
use crate::router::log;

pub fn monitor(a: MonitorArgs) -> anyhow::Result<u8> {
    let (records, skipped) = log::read(&a.log).map_err(|e| {
        UsageError(format!(
            "cannot read the route log {}: {e}",
            a.log.display()
        ))
    })?;
    let since_ms = a
        .since
        .map(|d| jiff::Timestamp::now().as_millisecond() - d.as_millis() as i64);
    let th = Thresholds {
        fallback_rate: a.fallback_alert,
        parse_miss_rate: a.parse_miss_alert,
        error_rate: a.error_alert,
        min_requests: a.min_requests,
    };
    let r = monitor::monitor(&records, since_ms, &th, skipped)?;
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
    if skipped > 0 {
        eoutln!(
            "warning: {skipped} lines of {} did not parse and were skipped",
            a.log.display()
        );
    }
    Ok(if r.alerts.is_empty() {
        exit::OK
    } else {
        exit::TABLE_CHANGED
    })
}
