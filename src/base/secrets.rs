//! Keeping API keys out of everything routecal writes or prints.
//!
//! Every key read from the environment is registered here once ([`register`]). Text that may
//! hold a key (an error body, a transport error, an answer, a message about to be cut) goes
//! through [`scrub`] or [`scrub_with`], which replace **every run of [`MIN_RUN`] or more
//! characters of a key** with `[redacted]`, not only the whole key: a key cut in two by a
//! length limit, split across lines, or quoted in part is caught as well. Text is always
//! scrubbed before it is cut ([`cut`]), so a cut can never hide a key from the scrubber.

use std::collections::HashSet;
use std::sync::RwLock;

/// The shortest run of a key's characters that is scrubbed: shorter runs (and keys) are left,
/// because replacing every two-letter piece would mangle every answer.
pub const MIN_RUN: usize = 6;

/// What a scrubbed run is replaced by.
pub const REDACTED: &str = "[redacted]";

static KEYS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remember `key` so that [`scrub`] removes it (and its runs) from any text from now on.
pub fn register(key: &str) {
    if key.len() < MIN_RUN {
        return;
    }
    let mut keys = KEYS.write().unwrap_or_else(|p| p.into_inner());
    if !keys.iter().any(|k| k == key) {
        keys.push(key.to_string());
    }
}

/// `text` with every run of at least [`MIN_RUN`] characters of any registered key replaced.
pub fn scrub(text: &str) -> String {
    let keys = KEYS.read().unwrap_or_else(|p| p.into_inner());
    scrub_with(text, keys.iter().map(String::as_str))
}

/// `text` scrubbed (see [`scrub`]), then cut to at most `max` characters with an ellipsis.
pub fn cut(text: &str, max: usize) -> String {
    let keys = KEYS.read().unwrap_or_else(|p| p.into_inner());
    cut_with(text, max, keys.iter().map(String::as_str))
}

/// `text` scrubbed of `keys` (see [`scrub_with`]), then cut to at most `max` characters.
pub fn cut_with<'a>(text: &str, max: usize, keys: impl IntoIterator<Item = &'a str>) -> String {
    let clean = scrub_with(text, keys);
    match clean.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &clean[..i]),
        None => clean,
    }
}

/// `text` with every run of at least [`MIN_RUN`] bytes of any of `keys` replaced by
/// [`REDACTED`] (widened to whole characters). Linear in the text's length: candidate runs
/// are found through the keys' [`MIN_RUN`]-byte windows before any comparison.
pub fn scrub_with<'a>(text: &str, keys: impl IntoIterator<Item = &'a str>) -> String {
    let keys: Vec<&[u8]> = keys
        .into_iter()
        .map(str::as_bytes)
        .filter(|k| k.len() >= MIN_RUN)
        .collect();
    let t = text.as_bytes();
    if keys.is_empty() || t.len() < MIN_RUN {
        return text.to_string();
    }
    // A bit per two-byte prefix of the keys' windows: most positions of ordinary text are
    // ruled out by one bit test, before any hashing.
    let pair = |a: u8, b: u8| ((a as usize) << 8) | b as usize;
    let mut prefixes = vec![0u64; 1024];
    let mut grams: HashSet<&[u8]> = HashSet::new();
    for k in &keys {
        for w in k.windows(MIN_RUN) {
            let p = pair(w[0], w[1]);
            prefixes[p >> 6] |= 1 << (p & 63);
            grams.insert(w);
        }
    }
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for i in 0..=t.len() - MIN_RUN {
        let p = pair(t[i], t[i + 1]);
        if prefixes[p >> 6] & (1 << (p & 63)) == 0 || !grams.contains(&t[i..i + MIN_RUN]) {
            continue;
        }
        let end = i + longest_run_at(&t[i..], &keys);
        match spans.last_mut() {
            Some(last) if i <= last.1 => last.1 = last.1.max(end),
            _ => spans.push((i, end)),
        }
    }
    if spans.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (mut s, mut e) in spans {
        while !text.is_char_boundary(s) {
            s -= 1;
        }
        while !text.is_char_boundary(e) {
            e += 1;
        }
        if s < at {
            s = at;
        }
        out.push_str(&text[at..s]);
        if e > s {
            out.push_str(REDACTED);
        }
        at = at.max(e);
    }
    out.push_str(&text[at..]);
    out
}

/// The length of the longest prefix of `t` that occurs in one of `keys`.
fn longest_run_at(t: &[u8], keys: &[&[u8]]) -> usize {
    let mut best = 0;
    for k in keys {
        for j in 0..k.len() {
            let n = t.iter().zip(&k[j..]).take_while(|(a, b)| a == b).count();
            best = best.max(n);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-test-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef";

    /// The longest run of `key`'s characters found in `text`.
    fn longest_leak(text: &str, key: &str) -> usize {
        (0..key.len())
            .flat_map(|i| (i + 1..=key.len()).map(move |j| (i, j)))
            .filter(|&(i, j)| text.contains(&key[i..j]))
            .map(|(i, j)| j - i)
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn whole_keys_and_any_run_of_six_are_scrubbed() {
        let cases = [
            format!("bad key {KEY}, ab"),
            format!("header: Bearer {}", &KEY[..KEY.len() - 2]),
            format!("…{}", &KEY[3..]),
            format!("{}\n{}", &KEY[..20], &KEY[20..]),
            format!("x{}y{}z", &KEY[10..16], &KEY[30..37]),
            format!("\"authorization\":\"Bearer {KEY}\",\"{KEY}\""),
        ];
        for c in &cases {
            let s = scrub_with(c, [KEY]);
            assert!(longest_leak(&s, KEY) < MIN_RUN, "{c:?} -> {s:?}");
            assert!(s.contains(REDACTED), "{s}");
        }
        assert_eq!(
            scrub_with(&format!("bad key {KEY}, ab"), [KEY]),
            "bad key [redacted], ab"
        );
    }

    #[test]
    fn short_runs_short_keys_and_other_text_are_kept() {
        assert_eq!(scrub_with("sk-te and ABCDE", [KEY]), "sk-te and ABCDE");
        assert_eq!(scrub_with("ab abc", ["ab"]), "ab abc");
        assert_eq!(scrub_with("héllo wörld", [KEY]), "héllo wörld");
        assert_eq!(scrub_with("", [KEY]), "");
    }

    #[test]
    fn runs_next_to_multibyte_characters_are_cut_on_character_boundaries() {
        let key = "ééabcdefgh";
        let s = scrub_with("xé abcdefé y", [key]);
        assert_eq!(s, "xé [redacted]é y");
    }

    #[test]
    fn a_cut_after_the_scrub_leaves_no_piece_of_the_key() {
        for n in 0..KEY.len() + 40 {
            let text = format!("{}{KEY} tail", "p".repeat(n));
            let c = cut_with(&text, 40, [KEY]);
            assert!(longest_leak(&c, KEY) < MIN_RUN, "{n}: {c}");
        }
    }

    #[test]
    fn registered_keys_are_scrubbed_everywhere() {
        // A key no other test's text shares a run of six with: the registry is process-wide.
        let key = "zQ9xW7vV5tT3rR1pP";
        assert_eq!(scrub("key zQ9xW7vV5tT3"), "key zQ9xW7vV5tT3");
        register(key);
        assert_eq!(scrub("key zQ9xW7vV5tT3"), "key [redacted]");
        assert_eq!(cut("x xW7vV5tT3rR1pP y", 5), "x [re…");
    }

    /// `cargo test --release --lib scrub_speed -- --ignored --nocapture`: how fast answers are
    /// scrubbed when keys are registered (every answer goes through it).
    #[test]
    #[ignore]
    fn scrub_speed() {
        let keys = [
            KEY,
            "pk_live_Q7vX2mPz9LwR4tYb8NcK",
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
        ];
        let text: String =
            "The answer is 42, because sk-te and the key's six are rare. ".repeat(20_000);
        let t = std::time::Instant::now();
        let n = 20;
        for _ in 0..n {
            std::hint::black_box(scrub_with(&text, keys));
        }
        let secs = t.elapsed().as_secs_f64() / n as f64;
        println!(
            "scrub: {} bytes in {:.2} ms ({:.0} MB/s) with {} keys",
            text.len(),
            secs * 1e3,
            text.len() as f64 / secs / 1e6,
            keys.len()
        );
    }
}
