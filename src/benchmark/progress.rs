//! Progress: bars per endpoint on a terminal, plain periodic lines otherwise (cron, CI), or
//! nothing with `--quiet`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Bars,
    Lines,
    Quiet,
}

impl ProgressMode {
    /// Bars on a terminal, lines otherwise.
    pub fn auto(quiet: bool) -> Self {
        if quiet {
            ProgressMode::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bars
        } else {
            ProgressMode::Lines
        }
    }
}

#[derive(Default)]
struct Counts {
    total: u64,
    done: u64,
    errors: u64,
    spent: f64,
}

/// Seconds left for `total - done` calls at the pace of the `done` calls in `elapsed` seconds;
/// `None` before the first call or after the last.
pub fn eta(elapsed: f64, done: u64, total: u64) -> Option<f64> {
    (done > 0 && done < total).then(|| elapsed / done as f64 * (total - done) as f64)
}

pub struct Progress {
    mode: ProgressMode,
    counts: BTreeMap<String, Counts>,
    bars: BTreeMap<String, ProgressBar>,
    _multi: Option<MultiProgress>,
    started: Instant,
    last_line: Instant,
    line_every: Duration,
}

impl Progress {
    /// `totals`: calls planned per endpoint.
    pub fn new(mode: ProgressMode, totals: &BTreeMap<String, u64>) -> Progress {
        let counts = totals
            .iter()
            .map(|(k, &t)| {
                (
                    k.clone(),
                    Counts {
                        total: t,
                        ..Counts::default()
                    },
                )
            })
            .collect();
        let mut bars = BTreeMap::new();
        let multi = (mode == ProgressMode::Bars).then(|| {
            let m = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
            let width = totals.keys().map(String::len).max().unwrap_or(8);
            let style = ProgressStyle::with_template(&format!(
                "{{prefix:>{width}}} [{{bar:30}}] {{pos}}/{{len}} {{msg}} eta {{eta}}"
            ))
            .expect("progress template")
            .progress_chars("=> ");
            for (name, &total) in totals {
                let b = m.add(ProgressBar::new(total));
                b.set_style(style.clone());
                b.set_prefix(name.clone());
                bars.insert(name.clone(), b);
            }
            m
        });
        Progress {
            mode,
            counts,
            bars,
            _multi: multi,
            started: Instant::now(),
            last_line: Instant::now(),
            line_every: Duration::from_secs(10),
        }
    }

    /// One call on `endpoint` finished.
    pub fn record(&mut self, endpoint: &str, ok: bool, cost: f64) {
        let c = self.counts.entry(endpoint.to_string()).or_default();
        c.done += 1;
        if !ok {
            c.errors += 1;
        }
        c.spent += cost;
        match self.mode {
            ProgressMode::Bars => {
                if let Some(b) = self.bars.get(endpoint) {
                    b.inc(1);
                    if !ok || cost > 0.0 || c.done == c.total {
                        b.set_message(format!("{} errors ${:.4}", c.errors, c.spent));
                    }
                }
            }
            ProgressMode::Lines => {
                if self.last_line.elapsed() >= self.line_every {
                    self.print_lines();
                    self.last_line = Instant::now();
                }
            }
            ProgressMode::Quiet => {}
        }
    }

    fn print_lines(&self) {
        let elapsed = self.started.elapsed().as_secs_f64();
        for (name, c) in &self.counts {
            crate::eoutln!(
                "[{:>5}s] {name}: {}/{} done, {} errors, ${:.4}{}",
                elapsed as u64,
                c.done,
                c.total,
                c.errors,
                c.spent,
                eta(elapsed, c.done, c.total).map_or(String::new(), |s| format!(
                    ", ETA {}",
                    super::duration::human(s)
                ))
            );
        }
    }

    pub fn finish(self) {
        match self.mode {
            ProgressMode::Bars => {
                for b in self.bars.values() {
                    b.finish();
                }
            }
            ProgressMode::Lines => self.print_lines(),
            ProgressMode::Quiet => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_follows_the_pace_so_far() {
        assert_eq!(eta(60.0, 100, 400), Some(180.0));
        assert_eq!(eta(60.0, 0, 400), None);
        assert_eq!(eta(60.0, 400, 400), None);
    }
}
