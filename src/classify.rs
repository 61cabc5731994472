//! The classifier's contract: the prompt it is sent and the strict parse of its two-word reply.

use crate::base::types::{Priority, TaskType};

/// The classifier prompt for a user prompt.
pub fn render_prompt(template: &str, prompt: &str) -> String {
    template.replace("{prompt}", prompt)
}

/// Strict parse of a classifier reply: exactly two words, a task type then a priority.
/// Surrounding whitespace, quotes, backticks and a final period are tolerated; nothing else.
pub fn parse_labels(reply: &str) -> Option<(TaskType, Priority)> {
    let cleaned = reply
        .trim()
        .trim_matches(|c: char| c == '"' || c == '\'' || c == '`')
        .trim_end_matches('.')
        .trim()
        .to_lowercase();
    let mut words = cleaned.split_whitespace();
    let (t, p) = (words.next()?, words.next()?);
    if words.next().is_some() {
        return None;
    }
    Some((t.trim_end_matches(',').parse().ok()?, p.parse().ok()?))
}

/// The labels the router acts on: the parse, or general/default when the reply does not parse.
pub fn labels_or_default(reply: &str) -> ((TaskType, Priority), bool) {
    match parse_labels(reply) {
        Some(l) => (l, true),
        None => ((TaskType::General, Priority::Default), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_two_word_parse() {
        assert_eq!(
            parse_labels("code quality"),
            Some((TaskType::Code, Priority::Quality))
        );
        assert_eq!(
            parse_labels("  \"Math Latency.\"\n"),
            Some((TaskType::Math, Priority::Latency))
        );
        assert_eq!(parse_labels("code"), None);
        assert_eq!(parse_labels("code quality because it is code"), None);
        assert_eq!(parse_labels("coding quality"), None);
        assert_eq!(parse_labels(""), None);
        assert_eq!(
            labels_or_default("banana").0,
            (TaskType::General, Priority::Default)
        );
        assert!(!labels_or_default("banana").1);
    }

    #[test]
    fn template_substitution() {
        assert_eq!(render_prompt("Prompt: {prompt}!", "hi"), "Prompt: hi!");
    }
}
