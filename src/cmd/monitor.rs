//! `routecal monitor LOG...`: the router's health from its logs, read in one streaming pass;
//! exit 3 when an alert fires, 2 when a log cannot be read.

use crate::base::error::{UsageError, exit};
use crate::cli::{MonitorArgs, MonitorFormat};
use crate::report::{frame_to_csv, text};
use crate::router::monitor::{self, Thresholds, logs};

/// Exit code when the logs hold no request to judge by (empty, no line that parses, or none in
/// the `--since` window): not healthy, not an alert, not a usage error.
pub const NO_REQUESTS: u8 = 4;

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
    if agg.requests() == 0 {
        eoutln!(
            "{}",
            no_requests_message(&paths, skipped, a.since.is_some())
        );
        return Ok(NO_REQUESTS);
    }
    let th = Thresholds {
        fallback_rate: a.fallback_alert,
        parse_miss_rate: a.parse_miss_alert,
        error_rate: a.error_alert,
        min_requests: a.min_requests,
    };
    let r = agg.finish(&th)?;
    match a.format {
        MonitorFormat::Csv => out!("{}", String::from_utf8(frame_to_csv(&r.table)?)?),
        MonitorFormat::Markdown => out!("{}", monitor::markdown(&r)),
        MonitorFormat::Text => {
            outln!(
                "{} requests ({} – {})",
                r.requests,
                r.first_ts.as_deref().unwrap_or("–"),
                r.last_ts.as_deref().unwrap_or("–")
            );
            out!("{}", text::table(monitor::HEADERS, &monitor::rows(&r)));
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

/// Why no request was counted, naming the logs.
fn no_requests_message(paths: &[std::path::PathBuf], skipped: usize, since: bool) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let why = match (skipped > 0, since) {
        (true, false) => format!("none of its {skipped} lines parsed as a route-log line"),
        (true, true) => format!(
            "{skipped} lines did not parse as route-log lines and no other is in the --since window"
        ),
        (false, true) => "no request was logged in the --since window".to_string(),
        (false, false) => "the logs are empty".to_string(),
    };
    format!(
        "error: no request to monitor in {}: {why}; is the router writing its log (route --log)? \
         (exit {NO_REQUESTS})",
        names.join(", ")
    )
}
