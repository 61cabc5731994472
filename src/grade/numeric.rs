//! The final number of an answer: a `\boxed{}` one, a `####` tagged one, else the last one.

use std::sync::OnceLock;

use regex::Regex;

fn number_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:/\d+)?|-?\.\d+")
            .expect("number regex")
    })
}

/// Parse one number as people write it: `1,234.5`, `-3`, `3/4`, `$12`, `50%`.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s
        .trim()
        .trim_start_matches('$')
        .trim_end_matches(['%', '.'])
        .replace(',', "");
    if let Some((a, b)) = t.split_once('/') {
        let (a, b) = (a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?);
        return (b != 0.0).then(|| a / b);
    }
    t.parse::<f64>().ok().filter(|x| x.is_finite())
}

fn last_number_in(s: &str) -> Option<f64> {
    number_re()
        .find_iter(s)
        .filter_map(|m| parse_number(m.as_str()))
        .last()
}

/// The contents of the last `\boxed{…}` (braces balanced).
fn last_boxed(s: &str) -> Option<&str> {
    let start = s.rfind("\\boxed{")? + "\\boxed{".len();
    let mut depth = 1usize;
    for (i, c) in s[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[start..start + i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The answer's final number and how it was found.
pub fn extract_final_number(answer: &str) -> Option<(f64, &'static str)> {
    if let Some(x) = last_boxed(answer).and_then(last_number_in) {
        return Some((x, "boxed"));
    }
    if let Some(pos) = answer.rfind("####")
        && let Some(x) = number_re()
            .find(&answer[pos..])
            .and_then(|m| parse_number(m.as_str()))
    {
        return Some((x, "tagged"));
    }
    last_number_in(answer).map(|x| (x, "last number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_of_numbers() {
        assert_eq!(parse_number("1,234.5"), Some(1234.5));
        assert_eq!(parse_number("$12"), Some(12.0));
        assert_eq!(parse_number("3/4"), Some(0.75));
        assert_eq!(parse_number("1/0"), None);
        assert_eq!(parse_number("abc"), None);
    }

    #[test]
    fn boxed_wins_over_later_numbers_and_nests() {
        assert_eq!(
            extract_final_number("so \\boxed{\\frac{1}{2}} maybe 7"),
            Some((2.0, "boxed"))
        );
        assert_eq!(
            extract_final_number("\\boxed{12} then 99"),
            Some((12.0, "boxed"))
        );
        assert_eq!(
            extract_final_number("total 1,200 and -3.5"),
            Some((-3.5, "last number"))
        );
        assert_eq!(
            extract_final_number("\\boxed{unclosed 5"),
            Some((5.0, "last number"))
        );
    }
}
