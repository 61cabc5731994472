//! `keywords`: a free, deterministic classifier of keyword and pattern rules that answers in
//! the same two-word format as an LLM classifier, so it is measured like one.

use std::sync::OnceLock;
use std::time::Instant;

use futures::future::BoxFuture;
use regex::Regex;

use super::{
    Answer, CallError, CallRequest, CostSource, ErrorKind, Latency, LatencySource, Provider,
    Purpose,
};
use crate::base::types::{Priority, TaskType};

pub struct Keywords;

struct Rules {
    tasks: Vec<(TaskType, Regex, f64)>,
    latency: Regex,
    quality: Regex,
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let re = |s: &str| Regex::new(&format!("(?i){s}")).expect("keyword rule");
        Rules {
            tasks: vec![
                (TaskType::Code, re(r"```|\bdef \w+\(|\bclass \w+|\b(python|javascript|typescript|java|c\+\+|rust|golang|sql|html|css|bash|regex)\b|\b(code|coding|program|function|method|implement\w*|algorithm|bug|debug\w*|compile\w*|refactor\w*|script|api|leetcode|array|linked list|unit test)\b"), 1.0),
                (TaskType::Math, re(r"\\boxed|\b(prime|equation|solve|calculate|compute|integer|probability|derivative|integral|sum of|how many|area of|triangle|polynomial|digits?|divisible|arithmetic|algebra|geometry|math\w*)\b|\d+\s*[-+*/^=]\s*\d+"), 1.0),
                (TaskType::Extraction, re(r"\b(extract|identify|list all|parse|json|yaml|csv|table|named entities|key-value|pull (?:out|the)|fields?|from (?:the|this) (?:following|text|email|passage|article|document|paragraph)s?|return .* format)\b"), 1.2),
                (TaskType::Creative, re(r"\b(write|story|poem|compose|blog|essay|imagine|pretend|role-?play|character|act as|as if you|slogan|song|lyrics|persuasive|rewrite|draft|haiku|limerick|fiction|dialogue)\b"), 1.0),
                (TaskType::Factual, re(r"\b(what is|what are|who (?:is|was|were)|when did|explain|describe|history|define|definition|science|physics|chemistry|biology|economics|theory|principle|concept|discuss|overview)\b"), 0.8),
                (TaskType::General, re(r"\b(riddle|puzzle|suppose|imagine you are in a race|what would happen|advice|should i|opinion|help me)\b"), 0.6),
            ],
            latency: re(r"\b(now|asap|urgent\w*|immediately|quick\w*|fast|real-?time|live|right away|hurry|dashboard|latency)\b"),
            quality: re(r"\b(critical|carefully|correct\w*|accurate|accuracy|precise\w*|rigorous\w*|step by step|exact\w*|production|thorough\w*|important)\b"),
        }
    })
}

/// Labels of a prompt by the built-in rules.
pub fn classify_keywords(text: &str) -> (TaskType, Priority) {
    let r = rules();
    let mut best = (TaskType::General, 0.0);
    for (task, re, weight) in &r.tasks {
        let hits = re.find_iter(text).take(20).count() as f64;
        let score = hits * weight;
        if score > best.1 {
            best = (*task, score);
        }
    }
    let task = best.0;
    let priority = if r.latency.is_match(text) {
        Priority::Latency
    } else if r.quality.is_match(text) || matches!(task, TaskType::Code | TaskType::Math) {
        // Correctness is what code and math are for, unless the prompt asks for speed.
        Priority::Quality
    } else {
        Priority::Default
    };
    (task, priority)
}

impl Provider for Keywords {
    fn call<'a>(&'a self, req: &'a CallRequest) -> BoxFuture<'a, Result<Answer, CallError>> {
        let out = match &req.purpose {
            Purpose::Classify { text } => {
                let start = Instant::now();
                let (t, p) = classify_keywords(text);
                Ok(Answer {
                    text: format!("{t} {p}"),
                    input_tokens: Some(0),
                    output_tokens: Some(0),
                    cost: Some((0.0, CostSource::Free)),
                    latency: Latency::Given(
                        start.elapsed().as_secs_f64() * 1e3,
                        LatencySource::Measured,
                    ),
                    ..Answer::default()
                })
            }
            _ => Err(CallError::new(
                ErrorKind::BadRequest,
                "the keywords endpoint only classifies prompts",
            )),
        };
        Box::pin(std::future::ready(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_examples() {
        assert_eq!(
            classify_keywords(
                "Refactor this auth middleware to be thread-safe. Correctness is critical."
            ),
            (TaskType::Code, Priority::Quality)
        );
        assert_eq!(
            classify_keywords(
                "Pull the order ID and ship date from this email. Need it now for the live dashboard."
            ),
            (TaskType::Extraction, Priority::Latency)
        );
        assert_eq!(
            classify_keywords("Summarize this changelog."),
            (TaskType::General, Priority::Default)
        );
    }

    #[test]
    fn math_and_creative() {
        assert_eq!(
            classify_keywords("Is 17077 a prime number? Think step by step").0,
            TaskType::Math
        );
        assert_eq!(
            classify_keywords("Compose a poem about the sea").0,
            TaskType::Creative
        );
    }
}
