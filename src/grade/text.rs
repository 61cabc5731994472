//! Text graders: substring checks and the option an answer chose.

use std::sync::OnceLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use super::Grade;

pub fn contains(answer: &str, needles: &[String], all: bool, case_sensitive: bool) -> Grade {
    let hay = fold(answer, case_sensitive);
    let found: Vec<&String> = needles
        .iter()
        .filter(|n| hay.contains(&fold(n, case_sensitive)))
        .collect();
    let ok = if all {
        found.len() == needles.len()
    } else {
        !found.is_empty()
    };
    let reason = match (ok, all) {
        (true, _) => format!(
            "found {}",
            found
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (false, true) => format!("found {} of {}", found.len(), needles.len()),
        (false, false) => "none found".to_string(),
    };
    Grade::pass(ok, super::clip(&reason, 200))
}

/// The text as graders compare it: NFKC (so composed and decomposed accents, full-width letters
/// and digits, ligatures and no-break spaces compare equal to their plain forms), then lower case
/// unless `case_sensitive`.
pub fn fold(s: &str, case_sensitive: bool) -> String {
    let n: String = s.nfkc().collect();
    if case_sensitive { n } else { n.to_lowercase() }
}

fn wrapper_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|emph|mbox)\s*\{([^{}]*)\}")
            .expect("wrapper regex")
    })
}

/// An explicit answer line: `Answer: X`, `the answer is: X`, `Final answer - (X)`,
/// `the correct option is X` (after [`unwrap_markup`]).
fn marker_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)\b(?:answer|option|choice)\s*(?:is\s*[:=]?|[:=]|-)\s*(?:(?:option|choice)\s+)?[(\[]?\s*([\p{L}\p{N}]+)\s*[)\]]?",
        )
        .expect("marker regex")
    })
}

/// A second option right after the chosen one (`A or B`, `A, C`, `B/D`, `A and B`).
fn another_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)^\s*(?:,|/|&|\bor\b|\band\b)\s*[(\[]?\s*([\p{L}\p{N}]+)")
            .expect("another regex")
    })
}

/// The answer without the markup models wrap a chosen option in: NFKC, `\text{E}` → `E`,
/// and no `*`, `_`, `$` or backticks (`ANSWER: **A**`, `ANSWER: $A$`, `**Answer:** B`).
fn unwrap_markup(answer: &str) -> String {
    let n: String = answer.nfkc().collect();
    let mut t = n;
    while wrapper_re().is_match(&t) {
        t = wrapper_re().replace_all(&t, "$1").into_owned();
    }
    t.replace(['*', '_', '$', '`'], "")
}

/// The option an answer chose, or none when it chose none or several. In order: the last
/// `\boxed{X}`; the last explicit answer line (`Answer: X`, `the answer is: X`, with markdown
/// or LaTeX around X), where `X or Y` is no choice; the last bracketed option `[X]` / `(X)`;
/// an answer that starts with the option (`B.`, `B)`, a lone `B`). Options compare after
/// NFKC and without case.
pub fn extract_choice(answer: &str, options: &[String]) -> Option<String> {
    let text = unwrap_markup(answer);
    let opt = |s: &str| {
        let s = s
            .trim()
            .trim_matches(|c: char| "[]().:\"'{}".contains(c))
            .trim();
        let s = fold(s, false);
        options.iter().find(|o| fold(o, false) == s).cloned()
    };
    if let Some(start) = text.rfind("\\boxed{") {
        let rest = &text[start + 7..];
        if let Some(end) = rest.find('}') {
            let content = &rest[..end];
            let unbracketed = content.trim_start().trim_start_matches(['(', '[']);
            if let Some(o) = opt(content).or_else(|| leading_option(unbracketed, &opt)) {
                return Some(o);
            }
        }
    }
    let marked = marker_re()
        .captures_iter(&text)
        .filter_map(|c| {
            let m = c.get(1)?;
            if is_article(m.as_str(), &text[m.end()..]) {
                return None;
            }
            opt(m.as_str()).map(|o| (o, c.get(0).map_or(m.end(), |w| w.end())))
        })
        .last();
    if let Some((o, end)) = marked {
        let second = another_re()
            .captures(&text[end..])
            .and_then(|c| opt(&c[1]))
            .filter(|x| *x != o);
        return if second.is_some() { None } else { Some(o) };
    }
    last_bracketed(&text, &opt).or_else(|| leading_option(&text, &opt))
}

/// A lower-case one-letter word followed by another word (`the answer is a prime`): an
/// article or a pronoun, not option A.
fn is_article(token: &str, after: &str) -> bool {
    let mut cs = token.chars();
    let one_lower = matches!((cs.next(), cs.next()), (Some(c), None) if c.is_lowercase());
    let mut rest = after.chars();
    one_lower
        && rest.next().is_some_and(char::is_whitespace)
        && after
            .trim_start()
            .chars()
            .next()
            .is_some_and(char::is_alphabetic)
}

/// The last `[X]` or `(X)` that is an option (square brackets first).
fn last_bracketed(text: &str, opt: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    for (open, close) in [('[', ']'), ('(', ')')] {
        let mut last = None;
        let mut rest = text;
        while let Some(i) = rest.find(open) {
            let after = &rest[i + 1..];
            if let Some(j) = after.find(close)
                && let Some(o) = opt(&after[..j])
            {
                last = Some(o);
            }
            rest = after;
        }
        if last.is_some() {
            return last;
        }
    }
    None
}

/// An answer that starts with the option: `B`, `B.`, `B) 4`, `Yes, because…`. A one-letter
/// option followed by a word (`A lot of…`) is an article, not a choice.
fn leading_option(text: &str, opt: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let t = text.trim_start();
    let head: String = t.chars().take_while(|c| c.is_alphanumeric()).collect();
    let o = opt(&head)?;
    let next = t[head.len()..].chars().next();
    let single = head.chars().count() == 1;
    match next {
        None => Some(o),
        Some(c) if ".):,;\n".contains(c) => Some(o),
        Some(c) if c.is_whitespace() && !single => Some(o),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn letter_choices() {
        let o = opts(&["A", "B", "C", "D"]);
        assert_eq!(
            extract_choice("The answer is (C).", &o).as_deref(),
            Some("C")
        );
        assert_eq!(extract_choice("B. Because...", &o).as_deref(), Some("B"));
        assert_eq!(extract_choice("Answer: d", &o).as_deref(), Some("D"));
        assert_eq!(extract_choice("I cannot tell", &o), None);
    }

    #[test]
    fn word_choices_in_brackets_take_the_last() {
        let o = opts(&["Yes", "No"]);
        assert_eq!(
            extract_choice("[No] \n\nTo determine...", &o).as_deref(),
            Some("No")
        );
        assert_eq!(
            extract_choice("Step 1 ... so it is prime.\n[Yes]", &o).as_deref(),
            Some("Yes")
        );
        assert_eq!(
            extract_choice("Maybe [No]? Actually [Yes].", &o).as_deref(),
            Some("Yes")
        );
        assert_eq!(extract_choice("Not sure at all", &o), None);
    }

    #[test]
    fn wrapped_and_marked_answers() {
        let o = opts(&["A", "B", "C", "D", "E"]);
        let cases: &[(&str, Option<&str>)] = &[
            ("ANSWER: **A**", Some("A")),
            ("ANSWER: $A$", Some("A")),
            ("ANSWER: $\\text{A}$", Some("A")),
            ("Reasoning about each option...\n\n**Answer:** B", Some("B")),
            ("After checking, the answer is: C", Some("C")),
            ("The answer is **(D)**.", Some("D")),
            ("Final answer: `E`", Some("E")),
            ("So the choice is \\boxed{\\text{E}}", Some("E")),
            ("\\boxed{\\textbf{B}}", Some("B")),
            ("\\boxed{\\mathrm{C}}", Some("C")),
            ("$\\boxed{D}$", Some("D")),
            ("\\boxed{\\text{(E) double displacement}}", Some("E")),
            ("\\boxed{B. 4}", Some("B")),
            ("\\boxed{A lot}", None),
            ("The correct option is c.", Some("C")),
            ("Answer: Option B", Some("B")),
            ("answer = (A)", Some("A")),
            ("**B**", Some("B")),
            ("(D)", Some("D")),
            ("A) 2", Some("A")),
            ("ＡＮＳＷＥＲ: Ｃ", Some("C")),
            ("Answer: A\nWait, no. Answer: B", Some("B")),
            // Ambiguous or absent: no option.
            ("The answer is A or B.", None),
            ("ANSWER: **A**, **C**", None),
            ("Answer: B/D", None),
            ("Answer: A and C", None),
            ("A lot of thought went into this.", None),
            ("The answer is unclear.", None),
            ("The answer is a prime number.", None),
            ("The answer is a prime number. Answer: C", Some("C")),
            ("answer: b", Some("B")),
            ("I cannot tell", None),
        ];
        for (a, want) in cases {
            assert_eq!(extract_choice(a, &o).as_deref(), *want, "{a:?}");
        }
    }

    #[test]
    fn comparisons_ignore_normalisation_and_width() {
        assert_eq!(fold("Caf\u{e9}", false), fold("Cafe\u{301}", false));
        assert_eq!(fold("ＰＡＲＩＳ ４２", false), "paris 42");
        assert_ne!(fold("ＰＡＲＩＳ", true), fold("paris", true));
        let o = opts(&["Yes", "No"]);
        assert_eq!(extract_choice("ｙｅｓ, it is.", &o).as_deref(), Some("Yes"));
        let g = contains(
            "the ﬁnal café",
            &["FINAL".into(), "cafe\u{301}".into()],
            true,
            false,
        );
        assert_eq!(g.score, Some(1.0), "{}", g.reason);
    }
}
