//! Text graders: substring checks and the option an answer chose.

use super::Grade;

pub fn contains(answer: &str, needles: &[String], all: bool, case_sensitive: bool) -> Grade {
    let hay = if case_sensitive {
        answer.to_string()
    } else {
        answer.to_lowercase()
    };
    let found: Vec<&String> = needles
        .iter()
        .filter(|n| {
            if case_sensitive {
                hay.contains(n.as_str())
            } else {
                hay.contains(&n.to_lowercase())
            }
        })
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

/// The option an answer chose: a `\boxed{X}`, an "answer is X" / "Answer: X", else the bracketed
/// options `[X]` / `(X)` (the last one when several differ, since reasoning comes first), else an
/// answer that starts with the option. Options compare without case.
pub fn extract_choice(answer: &str, options: &[String]) -> Option<String> {
    let lower = answer.to_lowercase();
    let opt = |s: &str| {
        let s = s
            .trim()
            .trim_matches(|c: char| "[]().:*\"'".contains(c))
            .trim();
        options.iter().find(|o| o.eq_ignore_ascii_case(s)).cloned()
    };
    if let Some(start) = lower.rfind("\\boxed{") {
        let rest = &answer[start + 7..];
        if let Some(end) = rest.find('}')
            && let Some(o) = opt(&rest[..end])
        {
            return Some(o);
        }
    }
    for marker in ["answer is", "answer:"] {
        if let Some(pos) = lower.rfind(marker) {
            let rest = &answer[pos + marker.len()..];
            let word: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || "[]()".contains(*c))
                .collect();
            if let Some(o) = opt(&word) {
                return Some(o);
            }
        }
    }
    let mut last = None;
    for (open, close) in [('[', ']'), ('(', ')')] {
        let mut rest = answer;
        let mut offset = 0;
        while let Some(i) = rest.find(open) {
            let after = &rest[i + 1..];
            if let Some(j) = after.find(close)
                && let Some(o) = opt(&after[..j])
            {
                let at = offset + i;
                if last.as_ref().is_none_or(|(p, _)| at > *p) {
                    last = Some((at, o));
                }
            }
            offset += i + 1;
            rest = after;
        }
        if last.is_some() {
            break;
        }
    }
    if let Some((_, o)) = last {
        return Some(o);
    }
    let head: String = answer
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric())
        .collect();
    opt(&head)
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
}
