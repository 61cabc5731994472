//! The layering of `src/` that docs/ARCHITECTURE.md describes: each wing imports only the wings
//! before it in the data flow, so the module graph has no cycle. The check reads the sources: a
//! `crate::WING` path outside comments and outside `#[cfg(test)]` modules is an import of WING.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::common::repo;

/// The wings in data-flow order; a wing may import the ones before it.
const LAYERS: &[&str] = &[
    "base",
    "grade",
    "config",
    "dataset",
    "classify",
    "provider",
    "store",
    "derive",
    "benchmark",
    "report",
    "router",
    "cli",
    "cmd",
];

/// Items exported at the crate root by `#[macro_export]` (the output macros of `base::out`).
const ROOT_MACROS: &[&str] = &["out", "outln", "eout", "eoutln"];

fn wing_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The source without comments and without `#[cfg(test)]` items (unit tests may reach anywhere).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<usize> = None;
    let mut depth = 0usize;
    let mut pending_test_attr = false;
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let trimmed = code.trim();
        if skip_depth.is_none() && trimmed == "#[cfg(test)]" {
            pending_test_attr = true;
            continue;
        }
        let opens = code.matches('{').count();
        let closes = code.matches('}').count();
        if pending_test_attr && skip_depth.is_none() && !trimmed.starts_with("#[") {
            pending_test_attr = false;
            if opens > closes {
                skip_depth = Some(depth);
            } else {
                continue; // a one-line test item
            }
        }
        depth = depth + opens - closes.min(depth + opens);
        if let Some(d) = skip_depth {
            if depth <= d {
                skip_depth = None;
            }
            continue;
        }
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = repo().join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            if rel.file_name().is_some_and(|n| n == "tests.rs") {
                continue; // a unit-test module in its own file
            }
            let wing = wing_of(rel);
            let code = code_of(&fs::read_to_string(&path).unwrap());
            let targets = graph.entry(wing.clone()).or_default();
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != wing && !ROOT_MACROS.contains(&name.as_str()) {
                    targets.insert(name);
                }
            }
        }
    }
    graph
}

#[test]
fn every_wing_imports_only_the_wings_before_it_in_the_data_flow() {
    let graph = imports();
    let rank = |w: &str| LAYERS.iter().position(|l| *l == w);
    let mut wrong = Vec::new();
    for (wing, targets) in &graph {
        if matches!(wing.as_str(), "lib" | "main") {
            continue;
        }
        let Some(r) = rank(wing) else {
            wrong.push(format!("src/{wing} is not a wing of docs/ARCHITECTURE.md"));
            continue;
        };
        for t in targets {
            match rank(t) {
                Some(tr) if tr < r => {}
                _ => wrong.push(format!("{wing} imports {t}")),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_layering_check_sees_imports_and_skips_comments_and_unit_tests() {
    let text = "use crate::base::types::Cell;\n// crate::report in a comment\n\
                fn f() { crate::store::x(); }\n#[cfg(test)]\nmod tests {\n    use crate::cmd::run;\n}\n";
    let code = code_of(text);
    assert!(code.contains("crate::base"));
    assert!(code.contains("crate::store"));
    assert!(!code.contains("crate::report"));
    assert!(!code.contains("crate::cmd"));
}
