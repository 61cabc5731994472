//! Writing routes back: the recommended table rendered into the current file with toml_edit,
//! so comments, blank lines and the order of everything else are kept; and its unified diff.

use std::collections::BTreeMap;

use toml_edit::{DocumentMut, Item, Table, value};

use crate::config::{Route, RouteTable};
use crate::types::Cell;

/// The current file with `[default]` and the listed `[routes.*]` cells of `table` written in.
/// With `only`, just those cells (and `[default]` only if `only` names `default`) change.
pub fn render(source: &str, table: &RouteTable, only: Option<&[String]>) -> anyhow::Result<String> {
    let mut doc: DocumentMut = source.parse()?;
    let wanted = |label: &str| only.is_none_or(|o| o.iter().any(|x| x == label));
    if wanted("default") {
        let t = doc
            .entry("default")
            .or_insert_with(|| Item::Table(Table::new()))
            .as_table_mut()
            .ok_or_else(|| anyhow::anyhow!("[default] is not a table"))?;
        set_route(t, &table.default);
    }
    let cells: BTreeMap<&Cell, &Route> = table
        .cells
        .iter()
        .filter(|(c, _)| wanted(&c.to_string()))
        .collect();
    if cells.is_empty() {
        return Ok(doc.to_string());
    }
    let routes = doc.entry("routes").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let routes = routes
        .as_table_mut()
        .ok_or_else(|| anyhow::anyhow!("routes is not a table"))?;
    for (cell, route) in cells {
        let task = routes.entry(cell.task.as_str()).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        let task = task
            .as_table_mut()
            .ok_or_else(|| anyhow::anyhow!("routes.{} is not a table", cell.task))?;
        let fresh = !task.contains_key(cell.priority.as_str());
        let t = task.entry(cell.priority.as_str()).or_insert_with(|| {
            let mut t = Table::new();
            t.decor_mut().set_prefix("\n");
            Item::Table(t)
        });
        let t = t
            .as_table_mut()
            .ok_or_else(|| anyhow::anyhow!("routes.{cell} is not a table"))?;
        if fresh {
            t.decor_mut().set_prefix("\n");
        }
        set_route(t, route);
    }
    Ok(doc.to_string())
}

/// Set primary and fallback, keeping the comments around existing values.
fn set_route(t: &mut Table, r: &Route) {
    set_string(t, "primary", r.primary.as_str());
    match &r.fallback {
        Some(f) => set_string(t, "fallback", f.as_str()),
        None => {
            t.remove("fallback");
        }
    }
}

fn set_string(t: &mut Table, key: &str, v: &str) {
    match t.get_mut(key).and_then(Item::as_value_mut) {
        Some(existing) => {
            if existing.as_str() == Some(v) {
                return;
            }
            let decor = existing.decor().clone();
            *existing = toml_edit::Value::from(v);
            *existing.decor_mut() = decor;
        }
        None => {
            t.insert(key, value(v));
        }
    }
}

/// Unified diff between two versions of a routes file.
pub fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ModelId, Priority, TaskType};

    const SRC: &str = r#"# the team's table
[classifier]
model = "a/x"   # cheap

[default]                 # fallback route
primary = "a/x"           # budget
fallback = "b/y"

[routes.code.quality]
primary = "a/x"
fallback = "b/y"   # keep me

[policy]
min_samples = 5
"#;

    fn m(s: &str) -> ModelId {
        ModelId::parse(s).unwrap()
    }

    fn table() -> RouteTable {
        let mut cells = BTreeMap::new();
        cells.insert(
            Cell::new(TaskType::Code, Priority::Quality),
            Route {
                primary: m("b/y"),
                fallback: Some(m("a/x")),
            },
        );
        cells.insert(
            Cell::new(TaskType::Math, Priority::Latency),
            Route {
                primary: m("a/x"),
                fallback: None,
            },
        );
        RouteTable {
            default: Route {
                primary: m("a/x"),
                fallback: Some(m("b/y")),
            },
            cells,
        }
    }

    #[test]
    fn rewrites_only_routes_and_keeps_comments_and_order() {
        let out = render(SRC, &table(), None).unwrap();
        assert!(
            out.starts_with("# the team's table\n[classifier]\nmodel = \"a/x\"   # cheap\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "[default]                 # fallback route\nprimary = \"a/x\"           # budget\n"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "[routes.code.quality]\nprimary = \"b/y\"\nfallback = \"a/x\"   # keep me\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("\n[routes.math.latency]\nprimary = \"a/x\"\n"),
            "{out}"
        );
        // New cells go with the other routes, before [policy].
        assert!(
            out.find("[routes.math.latency]").unwrap() < out.find("[policy]").unwrap(),
            "{out}"
        );
        assert!(!out.contains("[routes.math]\n"), "{out}");
        let reparsed: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(reparsed["policy"]["min_samples"].as_integer(), Some(5));
    }

    #[test]
    fn only_selected_cells_change() {
        let out = render(SRC, &table(), Some(&["math.latency".to_string()])).unwrap();
        assert!(
            out.contains("[routes.code.quality]\nprimary = \"a/x\"\n"),
            "{out}"
        );
        assert!(out.contains("[routes.math.latency]"));
        let same = render(SRC, &table(), Some(&[])).unwrap();
        assert_eq!(same, SRC);
    }

    #[test]
    fn diff_shows_the_changed_lines() {
        let out = render(SRC, &table(), None).unwrap();
        let d = unified_diff(SRC, &out, "routes.toml", "routes.recommended.toml");
        assert!(d.contains("\n+primary = \"b/y\"\n"), "{d}");
        assert!(d.contains("\n+[routes.math.latency]\n"), "{d}");
        assert!(
            !d.contains("classifier"),
            "unchanged lines far from a change stay out: {d}"
        );
        assert!(
            d.starts_with("--- routes.toml\n+++ routes.recommended.toml\n"),
            "{d}"
        );
        assert_eq!(unified_diff(SRC, SRC, "a", "b"), "");
    }
}
