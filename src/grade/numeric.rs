//! Numbers in answers, read the way math graders in the field read them (lm-evaluation-harness'
//! MATH normaliser, math-verify): LaTeX (`\boxed{}`, `\frac`/`\dfrac`/`\tfrac`/`\cfrac`, `\frac12`,
//! `\left(`…`\right)`, `\!`/`\,` spacing, `\%`, `\$`, `{,}` separators, `\text{units}`), plain
//! fractions `a/b`, signs written with U+2212 or a dash, thousands separators (`,`, thin and
//! no-break spaces), scientific notation (`1e-3`, `1.5 \times 10^{3}`, `2·10^-4`), percentages and
//! full-width digits.
//!
//! The final number of an answer is the last number of its last `\boxed{}`/`\fbox{}`, else the
//! first number after its last `####`, else its last number.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

/// One number read from an answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number {
    pub value: f64,
    /// Written with a `%` (`50%`, `50\%`): `value` is 50, and 0.5 is an accepted reading too.
    pub percent: bool,
}

/// How a number in text looks once [`clean`] has run. `-` in front of a number is a sign unless
/// it follows a letter, digit or closing bracket (then it is a subtraction or a range).
fn number_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let num = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?";
        let pattern = format!(
            r"(?x)
            (?P<sign>-)?[$€£¥]?\s*
            (?:
                (?P<whole>\d+)?\s*\\frac\s*
                (?:\{{\s*(?P<fn>-?{num})\s*\}}\s*\{{\s*(?P<fd>-?{num})\s*\}}|(?P<fn1>\d)(?P<fd1>\d))
              | (?P<num>{num})(?:\s*/\s*(?P<den>{num}))?
                (?:\s*(?:\\times|×|\\cdot|·|\*)\s*10\s*\^\s*(?:\{{\s*(?P<exp1>[-+]?\d+)\s*\}}|(?P<exp2>[-+]?\d+)))?
            )
            (?P<pct>\s*%)?"
        );
        Regex::new(&pattern).expect("number regex")
    })
}

/// Spacing and wrapping commands that never change a number.
const DROPPED: &[&str] = &[
    "\\left",
    "\\right",
    "\\!",
    "\\;",
    "\\:",
    "\\displaystyle",
    "^{\\circ}",
    "^\\circ",
    "\\circ",
    "\u{00B0}",
];

/// The answer in the form [`number_re`] reads: NFKC (full-width digits, no-break spaces), one
/// `\frac`, signs as `-`, digit-group spaces as `,`, and spacing commands gone.
fn clean(s: &str) -> String {
    let grouped = group_separators(s);
    let mut t: String = compatibility_numbers(&grouped).nfkc().collect();
    for (from, to) in [
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("\\cfrac", "\\frac"),
        ("{,}", ","),
        ("\\%", "%"),
        ("\\$", "$"),
        ("\\times", " \\times "),
        ("\u{2212}", "-"),
    ] {
        if t.contains(from) {
            t = t.replace(from, to);
        }
    }
    for d in DROPPED {
        if t.contains(d) {
            t = t.replace(d, "");
        }
    }
    dash_signs(&t)
}

/// The characters NFKC would turn into misleading digits, rewritten first: a superscript run
/// after `10` is a power (`10⁻³` → `10^{-3}`), any other superscript or subscript is an exponent or
/// index that is not the answer (`25 m²`, `H₂O`, `x²`) and goes; a vulgar fraction is a `\frac`
/// (`3½` → 3.5, `¾` → 0.75); squared-unit signs (`㎡`, `㎏`) are units, not digits.
fn compatibility_numbers(s: &str) -> Cow<'_, str> {
    const SUPER: &str = "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻";
    const SUB: &str = "₀₁₂₃₄₅₆₇₈₉₊₋";
    let vulgar =
        |c: char| ('\u{00BC}'..='\u{00BE}').contains(&c) || ('\u{2150}'..='\u{215F}').contains(&c);
    let units = |c: char| ('\u{3380}'..='\u{33FF}').contains(&c);
    if !s
        .chars()
        .any(|c| SUPER.contains(c) || SUB.contains(c) || vulgar(c) || units(c))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if SUPER.contains(c) {
            let plain = |x: char| -> String {
                x.nfkc()
                    .map(|d| if d == '\u{2212}' { '-' } else { d })
                    .collect()
            };
            let mut run = plain(c);
            while let Some(x) = chars.next_if(|x| SUPER.contains(*x)) {
                run.push_str(&plain(x));
            }
            if out.ends_with("10") {
                out.push_str(&format!("^{{{run}}}"));
            }
        } else if SUB.contains(c) {
            // An index (H₂O), never a number of the answer.
            continue;
        } else if vulgar(c) {
            let f: String = c.nfkc().collect();
            match f.split_once('\u{2044}') {
                Some((n, d)) => out.push_str(&format!("\\frac{{{n}}}{{{d}}}")),
                None => out.push(c),
            }
        } else if units(c) {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Thin, narrow no-break, figure and no-break spaces (and LaTeX `\,`) between digit groups of
/// three become `,` so `1 234 567` reads as one number; elsewhere `\,` is a space.
fn group_separators(s: &str) -> Cow<'_, str> {
    const SEPS: [&str; 5] = ["\u{2009}", "\u{202F}", "\u{2007}", "\u{00A0}", "\\,"];
    if !SEPS.iter().any(|x| s.contains(x)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let sep = SEPS.iter().find(|x| rest.starts_with(**x));
        if let Some(sep) = sep {
            let after = &rest[sep.len()..];
            let group = after.bytes().take_while(u8::is_ascii_digit).count();
            let digit_before = out.chars().last().is_some_and(|p| p.is_ascii_digit());
            out.push(if digit_before && group == 3 { ',' } else { ' ' });
            rest = after;
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Cow::Owned(out)
}

/// En, em and figure dashes become a minus when they stand where a sign stands (`–7`, `(—3)`,
/// `= ‒2`) and are followed by a digit; between two numbers (`3–10`) they stay a range.
fn dash_signs(s: &str) -> String {
    const DASHES: [char; 3] = ['\u{2013}', '\u{2014}', '\u{2012}'];
    if !s.contains(DASHES) {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        let sign_place = i == 0 || chars[i - 1].is_whitespace() || "([{=$:,".contains(chars[i - 1]);
        let before_digit = chars
            .get(i + 1)
            .is_some_and(|n| n.is_ascii_digit() || *n == '.' || *n == '\\');
        out.push(if DASHES.contains(&c) && sign_place && before_digit {
            '-'
        } else {
            c
        });
    }
    out
}

fn num(s: &str) -> Option<f64> {
    s.replace(',', "").parse::<f64>().ok()
}

/// The value of one match of [`number_re`] in `text`, or none when it is not a finite number.
fn value_of(text: &str, c: &regex::Captures) -> Option<Number> {
    let mut x = if let Some(n) = c.name("fn").or(c.name("fn1")) {
        let d = num(c.name("fd").or(c.name("fd1"))?.as_str())?;
        let n = num(n.as_str())?;
        let whole = c.name("whole").map_or(Some(0.0), |w| num(w.as_str()))?;
        if d == 0.0 {
            return None;
        }
        whole + n / d
    } else {
        let mantissa = c.name("num")?.as_str().replace(',', "");
        let exp = c.name("exp1").or(c.name("exp2")).map(|e| e.as_str());
        let mut x = match exp {
            // Written out so `6.02 \times 10^{23}` is exactly the float `6.02e23` is.
            Some(e) if !mantissa.contains(['e', 'E']) => format!("{mantissa}e{e}").parse().ok()?,
            Some(e) => num(&mantissa)? * 10f64.powi(e.parse::<i32>().ok()?),
            None => num(&mantissa)?,
        };
        if let Some(d) = c.name("den") {
            let d = num(d.as_str())?;
            if d == 0.0 {
                return None;
            }
            x /= d;
        }
        x
    };
    if let Some(sign) = c.name("sign") {
        let prev = text[..sign.start()].chars().next_back();
        let subtraction = prev.is_some_and(|p| p.is_alphanumeric() || ")]}".contains(p));
        if !subtraction {
            x = -x;
        }
    }
    x.is_finite().then_some(Number {
        value: x,
        percent: c.name("pct").is_some(),
    })
}

/// Every number of `s`, in order.
fn numbers_in(s: &str) -> Vec<Number> {
    let text = clean(s);
    number_re()
        .captures_iter(&text)
        .filter_map(|c| value_of(&text, &c))
        .collect()
}

/// Parse a text that is one number as people write it: `1,234.5`, `-3`, `−3`, `3/4`, `$12`,
/// `50%`, `1e-3`, `\frac{1}{2}`, `1.5 \times 10^{3}`. Surrounding spaces, `$…$` and a final `.`
/// are allowed; anything else makes it not a number.
pub fn parse_number(s: &str) -> Option<f64> {
    parse_whole(s).map(|n| n.value)
}

fn parse_whole(s: &str) -> Option<Number> {
    let text = clean(s);
    let t = text
        .trim()
        .trim_end_matches('.')
        .trim()
        .trim_matches('$')
        .trim();
    let t = match t.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        Some(inner) => inner.trim(),
        None => t,
    };
    let c = number_re().captures(t)?;
    let m = c.get(0)?;
    (m.start() == 0 && m.end() == t.len())
        .then(|| value_of(t, &c))
        .flatten()
}

/// The contents of the last `\boxed{…}` or `\fbox{…}` (braces balanced), or of `\boxed 5`.
fn last_boxed(s: &str) -> Option<&str> {
    let (at, cmd) = ["\\boxed", "\\fbox"]
        .iter()
        .filter_map(|c| s.rfind(c).map(|i| (i, *c)))
        .max()?;
    let rest = &s[at + cmd.len()..];
    if let Some(word) = rest.strip_prefix(' ') {
        let end = word.find(['$', '\n']).unwrap_or(word.len());
        return Some(&word[..end]);
    }
    let body = rest.strip_prefix('{')?;
    let mut depth = 1usize;
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&body[..i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// A `\boxed{}` answer as one number: `\text{}` units dropped (`12\text{ cm}`), a leading
/// `x =` dropped, else its last number; an expression with other LaTeX (`\sqrt{2}`, `\pi`)
/// is not read as a number at all, so no digit inside it passes for the answer.
fn boxed_number(content: &str) -> Option<Number> {
    static TEXT: OnceLock<Regex> = OnceLock::new();
    let text_re = TEXT.get_or_init(|| {
        Regex::new(r"\\(?:text|textbf|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")
            .expect("text regex")
    });
    let unwrapped = text_re.replace_all(content, |c: &regex::Captures| {
        let inner = &c[1];
        if inner.chars().any(|ch| ch.is_ascii_digit()) {
            inner.to_string()
        } else {
            String::new()
        }
    });
    let body = unwrapped.trim();
    let body = match body.split_once('=') {
        Some((lhs, rhs)) if lhs.trim().chars().all(|c| c.is_alphabetic() || c == ' ') => rhs,
        _ => body,
    };
    if let Some(n) = parse_whole(body) {
        return Some(n);
    }
    let cleaned = clean(body);
    if cleaned.contains('\\') {
        return None;
    }
    numbers_in(body).pop()
}

/// The answer's final number and how it was found (`boxed`, `tagged` or `last number`), or why
/// there is none.
pub fn extract_final_number(answer: &str) -> Result<(Number, &'static str), &'static str> {
    if let Some(b) = last_boxed(answer) {
        return boxed_number(b)
            .map(|x| (x, "boxed"))
            .ok_or("the boxed answer is not a number");
    }
    if let Some(pos) = answer.rfind("####")
        && let Some(&x) = numbers_in(&answer[pos + 4..]).first()
    {
        return Ok((x, "tagged"));
    }
    numbers_in(answer)
        .pop()
        .map(|x| (x, "last number"))
        .ok_or("no number in the answer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_as_people_write_them() {
        let cases: &[(&str, Option<f64>)] = &[
            ("42", Some(42.0)),
            ("1,234.5", Some(1234.5)),
            ("1,234,567", Some(1234567.0)),
            ("$12", Some(12.0)),
            ("\\$12.50", Some(12.5)),
            ("-$3", Some(-3.0)),
            ("3/4", Some(0.75)),
            ("-3/4", Some(-0.75)),
            ("1/0", None),
            ("abc", None),
            ("12 apples", None),
            ("\u{2212}7", Some(-7.0)),
            ("\u{2013}7", Some(-7.0)),
            ("\u{FF0D}7", Some(-7.0)),
            ("\u{FF14}\u{FF12}", Some(42.0)),
            ("1e-3", Some(0.001)),
            ("2.5E+2", Some(250.0)),
            ("1.5 \\times 10^{3}", Some(1500.0)),
            ("1.5×10^-3", Some(0.0015)),
            ("6.02 \\cdot 10^{23}", Some(6.02e23)),
            ("50%", Some(50.0)),
            ("50\\%", Some(50.0)),
            ("\\frac{1}{2}", Some(0.5)),
            ("\\dfrac{3}{4}", Some(0.75)),
            ("\\tfrac12", Some(0.5)),
            ("-\\frac{1}{2}", Some(-0.5)),
            ("\\frac{-1}{2}", Some(-0.5)),
            ("\\left(-\\frac{1}{4}\\right)", Some(-0.25)),
            ("2\\frac{1}{2}", Some(2.5)),
            ("1{,}000", Some(1000.0)),
            ("1\\,000\\,000", Some(1_000_000.0)),
            ("1\u{202F}234", Some(1234.0)),
            ("1\u{00A0}234.5", Some(1234.5)),
            ("$7$", Some(7.0)),
            ("7.", Some(7.0)),
            ("  .5 ", Some(0.5)),
            ("1e999", None),
            ("\u{00BD}", Some(0.5)),
            ("3\u{00BD}", Some(3.5)),
            ("\u{00BE}", Some(0.75)),
            ("1.5\u{00D7}10\u{207B}\u{00B3}", Some(0.0015)),
            ("2\u{00B7}10\u{2075}", Some(200000.0)),
        ];
        for (s, want) in cases {
            assert_eq!(parse_number(s), *want, "{s:?}");
        }
    }

    fn last(s: &str) -> Option<(f64, &'static str)> {
        extract_final_number(s).ok().map(|(n, how)| (n.value, how))
    }

    #[test]
    fn final_numbers_in_answers() {
        let cases: &[(&str, Option<(f64, &str)>)] = &[
            ("so \\boxed{\\frac{1}{2}} maybe 7", Some((0.5, "boxed"))),
            (
                "Dividing gives $\\boxed{\\frac{1}{2}}$.",
                Some((0.5, "boxed")),
            ),
            (
                "The result is \\boxed{\\dfrac{3}{4}}",
                Some((0.75, "boxed")),
            ),
            ("The slope is \\boxed{-\\frac{1}{2}}", Some((-0.5, "boxed"))),
            (
                "\\boxed{\\left(-\\frac{1}{4}\\right)}",
                Some((-0.25, "boxed")),
            ),
            ("\\boxed{12} then 99", Some((12.0, "boxed"))),
            ("\\boxed{x = 5}", Some((5.0, "boxed"))),
            ("\\boxed{12\\text{ cm}}", Some((12.0, "boxed"))),
            ("\\boxed{1{,}024}", Some((1024.0, "boxed"))),
            ("\\boxed 7$ done", Some((7.0, "boxed"))),
            ("\\fbox{3.5}", Some((3.5, "boxed"))),
            ("\\boxed{\\frac{\\sqrt{2}}{2}} and 3", None),
            ("\\boxed{2\\pi}", None),
            ("\\boxed{5 \\text{ apples}}", Some((5.0, "boxed"))),
            ("\\boxed{\\text{7}}", Some((7.0, "boxed"))),
            ("\\boxed{90^\\circ}", Some((90.0, "boxed"))),
            ("steps 1, 2\n#### 1,200", Some((1200.0, "tagged"))),
            ("#### \u{2212}12", Some((-12.0, "tagged"))),
            ("total 1,200 and -3.5", Some((-3.5, "last number"))),
            ("3 \u{2212} 10 = \u{2212}7", Some((-7.0, "last number"))),
            ("3 \u{2212} 10 = \u{2013}7", Some((-7.0, "last number"))),
            ("pages 3\u{2013}10", Some((10.0, "last number"))),
            ("pages 3-10", Some((10.0, "last number"))),
            ("x-3", Some((3.0, "last number"))),
            ("x = -3", Some((-3.0, "last number"))),
            ("about 1e-3 mol", Some((0.001, "last number"))),
            ("speed is 3 \\times 10^{8} m/s", Some((3e8, "last number"))),
            ("grew by 12.5%.", Some((12.5, "last number"))),
            ("answer: \u{FF17}", Some((7.0, "last number"))),
            ("\\boxed{unclosed 5", Some((5.0, "last number"))),
            ("no number here", None),
            ("The area is 25 m\u{00B2}.", Some((25.0, "last number"))),
            ("So x\u{00B2} = 49 and x = 7", Some((7.0, "last number"))),
            ("It weighs 12 \u{338F}", Some((12.0, "last number"))),
            ("Water is H\u{2082}O; we need 3", Some((3.0, "last number"))),
            (
                "about 6.02\u{00D7}10\u{00B2}\u{00B3}",
                Some((6.02e23, "last number")),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(last(s), *want, "{s:?}");
        }
    }

    #[test]
    fn percentages_are_flagged() {
        let (n, _) = extract_final_number("it is 45\\% of the total").unwrap();
        assert_eq!((n.value, n.percent), (45.0, true));
        let (n, _) = extract_final_number("it is 45 of them").unwrap();
        assert!(!n.percent);
    }
}
