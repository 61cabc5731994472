//! The standard normal distribution (statrs), shared by the statistics of the decisions and the
//! `sim` provider's probit draws.

use statrs::distribution::{ContinuousCDF, Normal};

/// The standard normal quantile `Φ⁻¹(p)`, `p` in (0, 1).
pub fn z(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
}

/// The upper tail `1 − Φ(x)`.
pub fn upper_tail(x: f64) -> f64 {
    Normal::standard().sf(x)
}
