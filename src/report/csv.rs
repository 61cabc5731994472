//! CSV reports: a header row, RFC 4180 quoting, one unit per column named in the header.

use polars::prelude::*;

use super::Exporter;
use crate::derive::Derived;

/// Write a frame as CSV. Floats print in Rust's shortest round-trip form, nulls as empty fields.
pub fn frame_to_csv(df: &DataFrame) -> anyhow::Result<Vec<u8>> {
    let mut w = ::csv::WriterBuilder::new().from_writer(Vec::with_capacity(df.height() * 64));
    let cols = df.columns();
    w.write_record(cols.iter().map(|c| c.name().as_str()))?;
    let series: Vec<&Series> = cols.iter().map(|c| c.as_materialized_series()).collect();
    let mut record: Vec<String> = vec![String::new(); series.len()];
    for i in 0..df.height() {
        for (j, s) in series.iter().enumerate() {
            record[j] = cell(s.get(i)?);
        }
        w.write_record(&record)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

fn cell(v: AnyValue) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::Boolean(b) => b.to_string(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Float64(f) => fmt_float(f),
        AnyValue::Float32(f) => fmt_float(f as f64),
        other => other.to_string(),
    }
}

pub fn fmt_float(f: f64) -> String {
    if f.is_nan() {
        String::new()
    } else {
        f.to_string()
    }
}

struct FrameCsv {
    name: &'static str,
    frame: fn(&Derived) -> anyhow::Result<DataFrame>,
}

impl Exporter for FrameCsv {
    fn file_name(&self) -> &'static str {
        self.name
    }
    fn serialize(&self, d: &Derived) -> anyhow::Result<Vec<u8>> {
        frame_to_csv(&(self.frame)(d)?)
    }
}

pub fn exporters() -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(FrameCsv {
            name: "results.csv",
            frame: |d| Ok(d.analysis.results.clone()),
        }),
        Box::new(FrameCsv {
            name: "summary.csv",
            frame: |d| Ok(d.analysis.summary_task.clone()),
        }),
        Box::new(FrameCsv {
            name: "summary_by_priority.csv",
            frame: |d| Ok(d.analysis.summary_cell.clone()),
        }),
        Box::new(FrameCsv {
            name: "classifier.csv",
            frame: |d| Ok(d.analysis.classifier_accuracy.clone()),
        }),
        Box::new(FrameCsv {
            name: "classifier_predictions.csv",
            frame: |d| Ok(d.analysis.classifier.clone()),
        }),
        Box::new(FrameCsv {
            name: "confusion.csv",
            frame: |d| Ok(d.analysis.confusion.clone()),
        }),
        Box::new(FrameCsv {
            name: "changes.csv",
            frame: changes_frame,
        }),
        Box::new(FrameCsv {
            name: "simulation.csv",
            frame: simulation_frame,
        }),
    ]
}

fn changes_frame(d: &Derived) -> anyhow::Result<DataFrame> {
    let ds = &d.rec.decisions;
    let s = |f: &dyn Fn(&crate::policy::Decision) -> Option<String>| -> Vec<Option<String>> {
        ds.iter().map(f).collect()
    };
    let x = |f: &dyn Fn(&crate::policy::Decision) -> Option<f64>| -> Vec<Option<f64>> {
        ds.iter().map(f).collect()
    };
    let ev = |dd: &crate::policy::Decision| dd.evidence.clone();
    Ok(DataFrame::new(
        ds.len(),
        vec![
            Column::new("cell".into(), s(&|d| Some(d.label()))),
            Column::new(
                "changed".into(),
                ds.iter().map(|d| d.changed()).collect::<Vec<_>>(),
            ),
            Column::new(
                "old_primary".into(),
                s(&|d| Some(d.old.primary.to_string())),
            ),
            Column::new(
                "old_fallback".into(),
                s(&|d| d.old.fallback.as_ref().map(|m| m.to_string())),
            ),
            Column::new(
                "new_primary".into(),
                s(&|d| Some(d.new.primary.to_string())),
            ),
            Column::new(
                "new_fallback".into(),
                s(&|d| d.new.fallback.as_ref().map(|m| m.to_string())),
            ),
            Column::new("reason".into(), s(&|d| Some(d.reason.clone()))),
            Column::new(
                "challenger".into(),
                s(&|d| ev(d).map(|e| e.challenger.to_string())),
            ),
            Column::new(
                "delta_quality".into(),
                x(&|d| ev(d)?.delta_quality.map(|q| q.value)),
            ),
            Column::new(
                "delta_quality_ci_low".into(),
                x(&|d| ev(d)?.delta_quality.map(|q| q.low)),
            ),
            Column::new(
                "delta_quality_ci_high".into(),
                x(&|d| ev(d)?.delta_quality.map(|q| q.high)),
            ),
            Column::new(
                "delta_cost_per_1k_requests_usd".into(),
                x(&|d| ev(d)?.delta_cost_per_1k),
            ),
            Column::new("delta_p95_latency_ms".into(), x(&|d| ev(d)?.delta_p95_ms)),
            Column::new(
                "delta_error_rate".into(),
                x(&|d| ev(d).map(|e| e.delta_error_rate)),
            ),
            Column::new(
                "n_paired".into(),
                ds.iter()
                    .map(|d| d.evidence.as_ref().map(|e| e.n as u32))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "n".into(),
                ds.iter().map(|d| d.n as u32).collect::<Vec<_>>(),
            ),
            Column::new(
                "flags".into(),
                s(&|d| (!d.flags.is_empty()).then(|| d.flags.join("; "))),
            ),
        ],
    )?)
}

fn simulation_frame(d: &Derived) -> anyhow::Result<DataFrame> {
    let rows = &d.sim;
    Ok(DataFrame::new(
        rows.len(),
        vec![
            Column::new(
                "scenario".into(),
                rows.iter().map(|r| r.scenario.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "classifier".into(),
                rows.iter()
                    .map(|r| r.classifier.clone())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "n".into(),
                rows.iter().map(|r| r.n as u32).collect::<Vec<_>>(),
            ),
            Column::new(
                "quality".into(),
                rows.iter().map(|r| r.quality).collect::<Vec<_>>(),
            ),
            Column::new(
                "cost_per_1k_requests_usd".into(),
                rows.iter().map(|r| r.cost_per_1k).collect::<Vec<_>>(),
            ),
            Column::new(
                "p95_latency_ms".into(),
                rows.iter().map(|r| r.p95_latency_ms).collect::<Vec<_>>(),
            ),
            Column::new(
                "fallback_rate".into(),
                rows.iter().map(|r| r.fallback_rate).collect::<Vec<_>>(),
            ),
            Column::new(
                "misrouted_rate".into(),
                rows.iter().map(|r| r.misrouted_rate).collect::<Vec<_>>(),
            ),
        ],
    )?)
}
