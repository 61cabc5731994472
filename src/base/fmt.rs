//! How numbers print, everywhere routecal prints them: the terminal, report.md, report.html, the
//! decision reasons and the monitor. One function per format, named after what it prints, so two
//! places that show the same figure show the same text.
//!
//! Missing values print as "–" (an en dash), except a missing cost, which prints "unknown".
//! Negative signs in signed money, latency and relative-change formats are the Unicode minus
//! ("−"); the fixed-decimal Δ formats use Rust's ASCII sign (`{:+}`).

/// A point estimate with a two-sided interval, as the interval formats read it
/// (`derive::stats::Estimate` implements it).
pub trait Interval {
    /// The point estimate.
    fn value(&self) -> f64;
    /// The interval's lower bound.
    fn low(&self) -> f64;
    /// The interval's upper bound.
    fn high(&self) -> f64;
}

/// A cost in US dollars: "$0", "$0.000123" below a cent, "$1.2345" otherwise, "unknown" when
/// the cost is not known.
pub fn usd(x: Option<f64>) -> String {
    match x {
        None => "unknown".into(),
        Some(0.0) => "$0".into(),
        Some(v) if v.abs() < 0.01 => format!("${v:.6}"),
        Some(v) => format!("${v:.4}"),
    }
}

/// [`usd`] with its sign ("+$0.0120", "−$0.000300"); "–" when unknown.
pub fn signed_usd(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) => format!("{}{}", if v < 0.0 { "−" } else { "+" }, usd(Some(v.abs()))),
    }
}

/// A latency in milliseconds: "3.25 ms" below 10 ms, "412 ms", and "12.3 s" from 10 s on.
pub fn ms(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) if v >= 10_000.0 => format!("{:.1} s", v / 1000.0),
        Some(v) if v < 10.0 => format!("{v:.2} ms"),
        Some(v) => format!("{v:.0} ms"),
    }
}

/// Milliseconds printed in seconds, always: one unit for a whole column ("5.31 s", "10.70 s").
pub fn seconds(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) if v.abs() < 1000.0 => format!("{:.3} s", v / 1000.0),
        Some(v) => format!("{:.2} s", v / 1000.0),
    }
}

/// [`seconds`] with its sign ("−1.20 s", "+0.35 s").
pub fn signed_seconds(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) => format!(
            "{}{}",
            if v < 0.0 { "−" } else { "+" },
            seconds(Some(v.abs()))
        ),
    }
}

/// Whether a column holding these latencies (ms) prints in seconds: when any reaches 10 s.
pub fn in_seconds(xs: impl IntoIterator<Item = Option<f64>>) -> bool {
    xs.into_iter().flatten().any(|v| v >= 10_000.0)
}

/// A latency (ms) in the unit [`in_seconds`] chose for its column.
pub fn ms_in(x: Option<f64>, seconds: bool) -> String {
    match x {
        None => "–".into(),
        Some(v) if seconds => format!("{:.1} s", v / 1000.0),
        Some(v) if v < 10.0 => format!("{v:.2} ms"),
        Some(v) => format!("{v:.0} ms"),
    }
}

/// A column of latencies in milliseconds, printed in one unit: seconds when any reaches 10 s,
/// milliseconds otherwise.
pub fn ms_column(xs: &[Option<f64>]) -> Vec<String> {
    let s = in_seconds(xs.iter().copied());
    xs.iter().map(|x| ms_in(*x, s)).collect()
}

/// A fraction as a percentage with one decimal: 0.1234 → "12.3%".
pub fn percent_1dp(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// A fraction as a whole percentage: 0.1234 → "12%".
pub fn percent_0dp(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// A relative change as a whole percentage with an ASCII sign: 0.12 → "+12%", −0.3 → "-30%".
pub fn signed_percent_0dp(x: f64) -> String {
    format!("{:+.0}%", x * 100.0)
}

/// A confidence level as a percentage without trailing zeros: 0.9 → "90", 0.975 → "97.5".
pub fn confidence_percent(confidence: f64) -> String {
    let v = confidence * 100.0;
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// A number with three decimals, "–" when missing: "0.812".
pub fn fixed_3dp(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.3}")).unwrap_or("–".into())
}

/// An estimate with its interval, three decimals: "0.812 [0.790, 0.830]"; "–" when missing.
pub fn interval_3dp(e: Option<impl Interval>) -> String {
    match e {
        Some(e) => format!("{:.3} [{:.3}, {:.3}]", e.value(), e.low(), e.high()),
        None => "–".into(),
    }
}

/// A difference with its interval, signed, three decimals: "Δ +0.150 [+0.020, +0.252]".
pub fn signed_delta_3dp(d: &impl Interval) -> String {
    format!("Δ {:+.3} [{:+.3}, {:+.3}]", d.value(), d.low(), d.high())
}

/// A relative change as a whole percentage with its interval: "−96% [−97%, −95%]".
pub fn percent_change_interval(e: &impl Interval) -> String {
    let p = |x: f64| {
        let v = x * 100.0;
        if v < 0.0 {
            format!("−{:.0}%", -v)
        } else {
            format!("+{v:.0}%")
        }
    };
    format!("{} [{}, {}]", p(e.value()), p(e.low()), p(e.high()))
}

/// A p-value as reports print it: "p = 0.031", "p < 0.001".
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct E(f64, f64, f64);
    impl Interval for E {
        fn value(&self) -> f64 {
            self.0
        }
        fn low(&self) -> f64 {
            self.1
        }
        fn high(&self) -> f64 {
            self.2
        }
    }

    #[test]
    fn money_switches_to_six_decimals_below_a_cent() {
        assert_eq!(usd(None), "unknown");
        assert_eq!(usd(Some(0.0)), "$0");
        assert_eq!(usd(Some(0.000123)), "$0.000123");
        assert_eq!(usd(Some(1.23456)), "$1.2346");
        assert_eq!(signed_usd(Some(-0.0003)), "−$0.000300");
        assert_eq!(signed_usd(None), "–");
    }

    #[test]
    fn latencies_pick_their_unit() {
        assert_eq!(ms(Some(3.25)), "3.25 ms");
        assert_eq!(ms(Some(412.4)), "412 ms");
        assert_eq!(ms(Some(12_345.0)), "12.3 s");
        assert_eq!(seconds(Some(350.0)), "0.350 s");
        assert_eq!(signed_seconds(Some(-1200.0)), "−1.20 s");
    }

    #[test]
    fn a_latency_column_keeps_one_unit() {
        assert_eq!(
            ms_column(&[Some(10_700.0), Some(5_305.0), None]),
            ["10.7 s", "5.3 s", "–"]
        );
        assert_eq!(
            ms_column(&[Some(9_999.0), Some(5.0)]),
            ["9999 ms", "5.00 ms"]
        );
    }

    #[test]
    fn percentages_print_at_their_precision() {
        assert_eq!(percent_1dp(0.1234), "12.3%");
        assert_eq!(percent_0dp(0.1264), "13%");
        assert_eq!(signed_percent_0dp(-0.3), "-30%");
        assert_eq!(signed_percent_0dp(0.12), "+12%");
        assert_eq!(confidence_percent(0.95), "95");
        assert_eq!(confidence_percent(0.8), "80");
        assert_eq!(confidence_percent(0.975), "97.5");
    }

    #[test]
    fn intervals_and_p_values_print_for_reasons() {
        assert_eq!(fixed_3dp(Some(0.8124)), "0.812");
        assert_eq!(fixed_3dp(None), "–");
        assert_eq!(
            interval_3dp(Some(E(0.8124, 0.79, 0.83))),
            "0.812 [0.790, 0.830]"
        );
        assert_eq!(interval_3dp(None::<E>), "–");
        assert_eq!(
            signed_delta_3dp(&E(0.15, 0.02, 0.2523)),
            "Δ +0.150 [+0.020, +0.252]"
        );
        assert_eq!(
            percent_change_interval(&E(-0.961, -0.97, -0.95)),
            "−96% [−97%, −95%]"
        );
        assert_eq!(p_value(0.0004), "p < 0.001");
        assert_eq!(p_value(0.0312), "p = 0.031");
    }
}
