//! Tokens and cost of one call: what the provider said, else an estimate and the price table.

use crate::config::Model;
use crate::config::prices::TokenUse;
use crate::provider::tokens::{self, TokenSource};
use crate::provider::{Answer, CostSource};

/// Token counts of a call and where they came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub source: TokenSource,
    /// Of `input`, tokens read from / written to the prompt cache (0 when not reported).
    pub cache_read: u64,
    pub cache_write: u64,
}

impl Tokens {
    /// The counts as billed.
    pub fn billed(&self) -> TokenUse {
        TokenUse {
            input: self.input,
            output: self.output,
            cache_read: self.cache_read,
            cache_write: self.cache_write,
        }
    }
}

/// [`tokens`] of an answer, with the prompt-cache counts it reported.
pub fn answer_tokens(prompt: &str, a: &Answer) -> Tokens {
    Tokens {
        cache_read: a.usage.cache_read_tokens.unwrap_or(0),
        cache_write: a.usage.cache_write_tokens.unwrap_or(0),
        ..tokens(prompt, &a.text, a.input_tokens, a.output_tokens)
    }
}

/// Fill the token counts a provider did not report by the estimator.
pub fn tokens(prompt: &str, answer: &str, input: Option<u64>, output: Option<u64>) -> Tokens {
    let source = if input.is_some() && output.is_some() {
        TokenSource::Reported
    } else {
        TokenSource::Estimated
    };
    Tokens {
        input: input.unwrap_or_else(|| tokens::estimate(prompt)),
        output: output.unwrap_or_else(|| tokens::estimate(answer)),
        source,
        cache_read: 0,
        cache_write: 0,
    }
}

/// The cost of a successful call: a cost that came with the answer wins; else tokens × price;
/// else unknown (never zero).
pub fn cost(
    model: &Model,
    tokens: &Tokens,
    given: Option<(f64, CostSource)>,
) -> (Option<f64>, CostSource) {
    if let Some((c, src)) = given {
        return (Some(c), src);
    }
    match &model.price {
        Some(p) => (Some(p.cost_of(&tokens.billed()).0), CostSource::PriceTable),
        None => (None, CostSource::Unpriced),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::types::{ModelId, Tier};
    use crate::config::prices::Price;

    fn model(price: Option<Price>) -> Model {
        Model {
            id: ModelId::parse("a/b").unwrap(),
            endpoint: "e".into(),
            tiers: vec![Tier::Budget],
            price,
            candidate: true,
            wire_name: "b".into(),
            latency_model: None,
            sim: None,
        }
    }

    #[test]
    fn reported_cost_wins_then_price_table_then_unknown() {
        let p = Price::flat(1.0, 2.0, 0.0);
        let t = tokens("abcd", "abcdabcd", None, None);
        assert_eq!(
            (t.input, t.output, t.source),
            (1, 2, TokenSource::Estimated)
        );
        let (c, s) = cost(&model(Some(p.clone())), &t, None);
        assert_eq!(s, CostSource::PriceTable);
        assert!((c.unwrap() - 5e-6).abs() < 1e-15, "{c:?}");
        assert_eq!(
            cost(&model(Some(p)), &t, Some((0.5, CostSource::Reported))),
            (Some(0.5), CostSource::Reported)
        );
        assert_eq!(cost(&model(None), &t, None), (None, CostSource::Unpriced));
    }
}
