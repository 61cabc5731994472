//! The README is where a new user starts: short, every link resolves, and every command in its
//! shell blocks runs as written, offline.

use std::path::Path;

use crate::common::*;

/// Lines of the README's `sh` blocks that are not run here, and why. Each must still occur in
/// the README (a stale entry fails), and nothing else is skipped.
const SKIPPED: [(&str, &str); 3] = [
    (
        "cargo install --locked",
        "needs the network (crates.io, git) and a 7-9 minute release build",
    ),
    (
        "cargo test",
        "it is this test suite: running it here would recurse",
    ),
    (
        "PROMPTSTER_API_KEY",
        "a live key and the network: the block's real run calls the Promptster API",
    ),
];

/// Documents a link may point to that other branches are writing; they exist once merged.
const WRITTEN_ELSEWHERE: [&str; 5] = [
    "docs/runs.md",
    "docs/providers.md",
    "docs/grading.md",
    "docs/router.md",
    "docs/compare-and-apply.md",
];

/// The fenced blocks of a Markdown text: (language, body).
fn blocks(md: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in md.lines() {
        match (&mut cur, line.strip_prefix("```")) {
            (None, Some(lang)) => cur = Some((lang.trim().to_string(), String::new())),
            (Some(_), Some(_)) => out.push(cur.take().unwrap()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

#[test]
fn the_readme_is_a_starting_page_under_250_lines() {
    let readme = read(&repo().join("README.md"));
    let n = readme.lines().count();
    assert!(n <= 250, "README.md has {n} lines");
    for heading in [
        "## Install",
        "## Quickstart",
        "## The weekly loop",
        "## In CI and cron",
        "## Links",
    ] {
        assert!(readme.contains(heading), "README.md lacks {heading}");
    }
    // The README's first code block is the Quickstart's two commands, and the second of them is
    // the test command `.ci/run` runs.
    let first = readme
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let commands: Vec<&str> = first.lines().collect();
    assert_eq!(
        commands,
        ["cargo run -- run --suite datasets/mt-bench", "cargo test"]
    );
    let ci = read(&repo().join(".ci/run"));
    assert_eq!(
        ci.lines().rfind(|l| !l.trim().is_empty()),
        Some(commands[1])
    );
    // Installing from git pins the version being released, as the weekly workflow does.
    let tag = format!("--tag v{} routecal", env!("CARGO_PKG_VERSION"));
    assert!(readme.contains(&tag), "README.md does not install {tag}");
    // The routes file `init` writes points to a reference page that exists.
    let template = read(&repo().join("src/cmd/init/routes.toml"));
    let page = template
        .split_whitespace()
        .find(|w| w.starts_with("docs/"))
        .expect("the template names its reference page");
    assert!(repo().join(page).is_file(), "{page}");
    // The two Quickstart commands are still the first block of the Quickstart.
    let quick = &readme[readme.find("## Quickstart").unwrap()..];
    let (_, body) = &blocks(quick)[0];
    assert_eq!(
        body,
        "cargo run -- run --suite datasets/mt-bench\ncargo test\n"
    );
}

/// GitHub's anchor of a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(md: &str) -> Vec<String> {
    md.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// Every relative link `](target)` of `file` (relative to the repository) resolves.
fn check_links(file: &str) -> usize {
    let path = repo().join(file);
    let text = read(&path);
    let dir = path.parent().unwrap();
    let mut n = 0;
    for part in text.split("](").skip(1) {
        let target = &part[..part.find(')').unwrap()];
        if target.starts_with("http") {
            continue;
        }
        let (file_part, anchor) = target.split_once('#').unwrap_or((target, ""));
        let resolved = if file_part.is_empty() {
            path.clone()
        } else {
            dir.join(file_part)
        };
        let rel = std::path::absolute(&resolved)
            .unwrap()
            .strip_prefix(repo())
            .map(|p| p.to_string_lossy().replace("/./", "/"))
            .unwrap_or_default();
        let normal = normalize(&rel);
        if WRITTEN_ELSEWHERE.contains(&normal.as_str()) {
            continue;
        }
        let target_path = repo().join(&normal);
        assert!(
            target_path.exists(),
            "{file}: link to {target} ({normal}) is broken"
        );
        if !anchor.is_empty() && normal.ends_with(".md") {
            assert!(
                anchors(&read(&target_path)).iter().any(|a| a == anchor),
                "{file}: {normal} has no heading for #{anchor}"
            );
        }
        n += 1;
    }
    n
}

/// `docs/../README.md` → `README.md`.
fn normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

#[test]
fn every_link_of_the_readme_and_the_docs_resolves() {
    let mut files = vec!["README.md".to_string(), "BENCHMARKS.md".to_string()];
    for e in std::fs::read_dir(repo().join("docs")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            files.push(format!("docs/{name}"));
        }
    }
    let n: usize = files.iter().map(|f| check_links(f)).sum();
    assert!(n >= 20, "only {n} links checked");
    let readme = read(&repo().join("README.md"));
    for doc in WRITTEN_ELSEWHERE {
        assert!(
            readme.contains(&format!("]({doc})")),
            "README.md does not link {doc}"
        );
    }
}

/// A block made runnable: `cargo run --` is the binary cargo builds (on PATH here), skipped
/// lines become no-ops; `None` when the whole block needs a live key.
fn runnable(body: &str, used: &mut [bool; 3]) -> Option<String> {
    if let Some(i) = SKIPPED.iter().position(|(p, _)| *p == "PROMPTSTER_API_KEY")
        && body.contains(SKIPPED[i].0)
    {
        used[i] = true;
        return None;
    }
    let mut out = String::from("set -euo pipefail\n");
    for line in body.lines() {
        match SKIPPED
            .iter()
            .position(|(p, _)| line.trim_start().starts_with(p))
        {
            Some(i) => {
                used[i] = true;
                out.push_str(": skipped\n");
            }
            None => {
                out.push_str(&line.replace("cargo run -- ", "routecal "));
                out.push('\n');
            }
        }
    }
    Some(out)
}

#[test]
fn every_command_of_the_readme_runs_offline_as_written() {
    let readme = read(&repo().join("README.md"));
    let tmp = tempfile::tempdir().unwrap();
    // A folder that looks like a clone: the shipped suites where the README expects them.
    let clone = tmp.path().join("clone");
    std::fs::create_dir_all(&clone).unwrap();
    std::os::unix::fs::symlink(repo().join("datasets"), clone.join("datasets")).unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_routecal")).parent().unwrap();
    let mut used = [false; 3];
    let mut ran = 0;
    for (lang, body) in blocks(&readme) {
        if lang != "sh" {
            continue;
        }
        let Some(script) = runnable(&body, &mut used) else {
            continue;
        };
        let o = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(&clone)
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.display()),
            )
            .env("TMPDIR", tmp.path())
            .env("HOME", tmp.path())
            .env_remove("PROMPTSTER_API_KEY")
            .env_remove("ROUTECAL_PRICES")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "README block failed (exit {:?}):\n{body}\nstdout:\n{}\nstderr:\n{}",
            o.status.code(),
            stdout(&o),
            stderr(&o)
        );
        ran += 1;
    }
    assert!(ran >= 3, "only {ran} blocks ran");
    for (i, (pattern, why)) in SKIPPED.iter().enumerate() {
        assert!(
            used[i],
            "the skip {pattern:?} ({why}) matches nothing in README.md"
        );
    }
    // The Quickstart's run and the weekly walk left their runs; the walk compared two weeks.
    assert!(clone.join("reports").is_dir());
    assert!(clone.join("my-router/routes.toml").is_file());
}
