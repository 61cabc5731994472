//! Token counts where a provider reports none: a documented estimate, always labelled as such.

use serde::{Deserialize, Serialize};

/// Where a token count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// Reported by the provider or recorded with the answer.
    Reported,
    /// Estimated from the text by [`estimate`].
    Estimated,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Reported => "reported",
            TokenSource::Estimated => "estimated",
        }
    }
}

/// Estimated tokens of a text: one per four characters, at least one for non-empty text.
///
/// BPE tokenizers of the GPT, Claude, Gemini and Llama families average 3.5–4.5 characters per
/// token on English prose; code and non-Latin scripts run denser, so treat the figure as ±25%.
pub fn estimate(text: &str) -> u64 {
    let chars = text.chars().count() as u64;
    if chars == 0 { 0 } else { chars.div_ceil(4) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn four_characters_a_token() {
        assert_eq!(super::estimate(""), 0);
        assert_eq!(super::estimate("abc"), 1);
        assert_eq!(super::estimate("abcdefghi"), 3);
        assert_eq!(super::estimate("日本語です"), 2);
    }
}
