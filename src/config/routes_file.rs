//! Writing routes back: the recommended table rendered into the current file with toml_edit,
//! so comments, blank lines and the order of everything else are kept; its unified diff; and
//! accepting some cells of a proposal into a routes file (`apply`).

use std::collections::BTreeMap;

use toml_edit::{DocumentMut, Item, Table, value};

use crate::base::types::{Cell, ModelId};
use crate::config::{Route, RouteTable};

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
        set_route(cell_table(routes, cell)?, route);
    }
    Ok(doc.to_string())
}

/// The `[routes.TASK.PRIORITY]` table of `cell` inside `[routes]`, created (after a blank line,
/// its task table implicit) when the file has none.
fn cell_table<'t>(routes: &'t mut Table, cell: &Cell) -> anyhow::Result<&'t mut Table> {
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
    Ok(t)
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

/// A cell of the table as `apply --cells` names it: `default` or `task.priority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CellLabel {
    Default,
    Cell(Cell),
}

impl std::str::FromStr for CellLabel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "default" {
            return Ok(CellLabel::Default);
        }
        s.parse::<Cell>().map(CellLabel::Cell)
    }
}

impl std::fmt::Display for CellLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CellLabel::Default => f.write_str("default"),
            CellLabel::Cell(c) => c.fmt(f),
        }
    }
}

/// The routing table written in a routes file: `[default]` and every `[routes.TASK.PRIORITY]`.
/// Only the table is read; the rest of the file is `Config`'s business.
pub fn read_table(source: &str) -> anyhow::Result<RouteTable> {
    let doc: toml::Table = toml::from_str(source)?;
    let default = read_route(
        doc.get("default")
            .ok_or_else(|| anyhow::anyhow!("there is no [default] route"))?,
        "default",
    )?;
    let mut cells = BTreeMap::new();
    if let Some(routes) = doc.get("routes") {
        let routes = routes
            .as_table()
            .ok_or_else(|| anyhow::anyhow!("routes is not a table"))?;
        for (task, prios) in routes {
            let prios = prios
                .as_table()
                .ok_or_else(|| anyhow::anyhow!("routes.{task} is not a table"))?;
            for (prio, r) in prios {
                let label = format!("{task}.{prio}");
                let cell: Cell = label
                    .parse()
                    .map_err(|e| anyhow::anyhow!("routes.{label}: {e}"))?;
                cells.insert(cell, read_route(r, &format!("routes.{label}"))?);
            }
        }
    }
    Ok(RouteTable { default, cells })
}

/// The route in the table `v` at the dotted key `at`: its `primary` and optional `fallback`.
fn read_route(v: &toml::Value, at: &str) -> anyhow::Result<Route> {
    let t = v
        .as_table()
        .ok_or_else(|| anyhow::anyhow!("{at} is not a table"))?;
    let model = |key: &str| -> anyhow::Result<Option<ModelId>> {
        match t.get(key) {
            None => Ok(None),
            Some(v) => {
                let s = v
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("{at}.{key} is not a string"))?;
                ModelId::parse(s)
                    .map(Some)
                    .map_err(|e| anyhow::anyhow!("{at}.{key}: {e}"))
            }
        }
    };
    Ok(Route {
        primary: model("primary")?.ok_or_else(|| anyhow::anyhow!("{at} has no primary"))?,
        fallback: model("fallback")?,
    })
}

/// One cell whose route changes, and how it came to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChange {
    pub cell: CellLabel,
    pub old: Route,
    pub new: Route,
    /// The cell is not written in the file: it changes because `[default]` does (as the
    /// proposal has it: a cell that would move elsewhere is pinned instead, see [`Pin`]).
    pub via_default: bool,
}

/// Why `apply` wrote a cell explicitly that the proposal leaves to `[default]`, or that the
/// current file leaves to `[default]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinReason {
    /// An accepted cell follows the new `[default]` in the proposal, but `[default]` is not
    /// accepted: the cell is written with the proposal's route.
    FollowsProposedDefault,
    /// The proposal keeps this cell, but it follows `[default]` in the file, so accepting
    /// `[default]` would move it: it is written with its (unchanged) route.
    KeptByProposal,
    /// The proposal moves this cell elsewhere than the new `[default]`, and the cell is not
    /// accepted: it is written with its current route so that accepting `[default]` does not
    /// move it where nobody proposed.
    NotAccepted,
}

impl PinReason {
    /// Stable identifier in `apply --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            PinReason::FollowsProposedDefault => "follows_proposed_default",
            PinReason::KeptByProposal => "kept_by_proposal",
            PinReason::NotAccepted => "not_accepted",
        }
    }

    /// The reason in words, for the text output.
    pub fn describe(self) -> &'static str {
        match self {
            PinReason::FollowsProposedDefault => {
                "the proposal has it follow the new [default], which is not accepted"
            }
            PinReason::KeptByProposal => {
                "the proposal keeps it; it would otherwise follow the new [default]"
            }
            PinReason::NotAccepted => "not accepted; it would otherwise follow the new [default]",
        }
    }
}

/// A cell `apply` writes explicitly so that it ends at the route the proposal gives it (or,
/// when not accepted, keeps the route it has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub cell: Cell,
    pub route: Route,
    pub reason: PinReason,
}

/// The outcome of accepting cells of a proposal into a routes file.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The routes file with the accepted cells written in (equal to the input when nothing
    /// changes).
    pub text: String,
    /// The cells taken from the proposal, in table order.
    pub accepted: Vec<CellLabel>,
    /// Every cell whose effective route changes, `[default]` first; cells that follow
    /// `[default]` are listed too, so a reviewer sees everything the edit reroutes.
    pub changes: Vec<RouteChange>,
    /// Cells written explicitly (pinned) so that they end where the proposal says.
    pub pins: Vec<Pin>,
}

/// Accept cells of `proposal` (a recommended routes file) into `current` (a routes file):
/// the named cells, or with `None` every cell whose route the proposal changes. Only those
/// tables change; comments, blank lines and everything else stay byte for byte.
///
/// The result means what the proposal says, cell by cell:
/// - an accepted cell ends at the proposal's route for it, also when the proposal has it follow
///   the new `[default]` and `[default]` is not accepted (it is then pinned);
/// - a cell that is not accepted keeps its route, except a cell the proposal itself leaves to
///   the new `[default]` when `[default]` is accepted; every other cell that would follow the
///   new `[default]` is pinned to its current route (for a cell the proposal keeps, that is
///   its proposed route).
pub fn accept(
    current: &str,
    proposal: &str,
    only: Option<&[CellLabel]>,
) -> anyhow::Result<Accepted> {
    let before = read_table(current)?;
    let proposed = read_table(proposal)?;
    let accepted = accepted_cells(&before, &proposed, only);
    let (writes, pins) = plan_writes(&before, &proposed, &accepted);
    let mut names: Vec<String> = writes.cells.keys().map(|c| c.to_string()).collect();
    if accepted.contains(&CellLabel::Default) {
        names.push("default".into());
    }
    let text = render(current, &writes, Some(&names))?;
    let changes = route_changes(&before, &read_table(&text)?);
    Ok(Accepted {
        text,
        accepted,
        changes,
        pins,
    })
}

/// The cells accepted: `only` (sorted, once each), or every cell the proposal reroutes.
fn accepted_cells(
    before: &RouteTable,
    proposed: &RouteTable,
    only: Option<&[CellLabel]>,
) -> Vec<CellLabel> {
    match only {
        Some(labels) => {
            let mut v = labels.to_vec();
            v.sort();
            v.dedup();
            v
        }
        None => {
            let mut v = Vec::new();
            if proposed.default != before.default {
                v.push(CellLabel::Default);
            }
            v.extend(
                Cell::all()
                    .filter(|c| proposed.route(*c) != before.route(*c))
                    .map(CellLabel::Cell),
            );
            v
        }
    }
}

/// Every cell whose effective route differs between the two tables, `[default]` first.
fn route_changes(before: &RouteTable, after: &RouteTable) -> Vec<RouteChange> {
    let mut changes = Vec::new();
    if after.default != before.default {
        changes.push(RouteChange {
            cell: CellLabel::Default,
            old: before.default.clone(),
            new: after.default.clone(),
            via_default: false,
        });
    }
    for cell in Cell::all() {
        let (old, new) = (before.route(cell), after.route(cell));
        if old != new {
            changes.push(RouteChange {
                cell: CellLabel::Cell(cell),
                old: old.clone(),
                new: new.clone(),
                via_default: !after.cells.contains_key(&cell),
            });
        }
    }
    changes
}

/// The tables to write (`[default]` from the proposal, and every cell to write explicitly)
/// and the pins among those cells; see [`accept`] for the rules.
fn plan_writes(
    before: &RouteTable,
    proposed: &RouteTable,
    accepted: &[CellLabel],
) -> (RouteTable, Vec<Pin>) {
    let default_accepted = accepted.contains(&CellLabel::Default);
    let is_accepted = |c: Cell| accepted.contains(&CellLabel::Cell(c));
    let new_default = if default_accepted {
        &proposed.default
    } else {
        &before.default
    };
    let mut cells = BTreeMap::new();
    let mut pins = Vec::new();
    for cell in Cell::all() {
        // Where the cell ends if nothing is written for it.
        let untouched = before.cells.get(&cell).unwrap_or(new_default);
        let listed_in_proposal = proposed.cells.contains_key(&cell);
        if is_accepted(cell) {
            let want = proposed.route(cell);
            if before.cells.contains_key(&cell) {
                cells.insert(cell, want.clone());
            } else if untouched != want {
                // A cell the file leaves to [default] gets its own table only when it must.
                cells.insert(cell, want.clone());
                if !listed_in_proposal {
                    pins.push(Pin {
                        cell,
                        route: want.clone(),
                        reason: PinReason::FollowsProposedDefault,
                    });
                }
            }
            continue;
        }
        let old = before.route(cell);
        let as_proposed = !listed_in_proposal && untouched == proposed.route(cell);
        if untouched != old && !as_proposed {
            let reason = if proposed.route(cell) == old {
                PinReason::KeptByProposal
            } else {
                PinReason::NotAccepted
            };
            cells.insert(cell, old.clone());
            pins.push(Pin {
                cell,
                route: old.clone(),
                reason,
            });
        }
    }
    let writes = RouteTable {
        default: proposed.default.clone(),
        cells,
    };
    (writes, pins)
}

/// The change between two tables cell by cell, one line each: `default` first, naming the
/// cells that follow it in both tables, then every cell listed in either table whose effective
/// route differs. Empty when the tables route every cell alike.
///
/// `code.quality: primary a/x → b/y, fallback b/y → a/x`
pub fn cell_changes(old: &RouteTable, new: &RouteTable) -> String {
    let change = |a: &Route, b: &Route| -> Option<String> {
        if a == b {
            return None;
        }
        let mut parts = vec![if a.primary != b.primary {
            format!("primary {} → {}", a.primary, b.primary)
        } else {
            format!("primary {} stays", a.primary)
        }];
        if a.fallback != b.fallback {
            let f =
                |x: &Option<ModelId>| x.as_ref().map(|m| m.to_string()).unwrap_or("none".into());
            parts.push(format!("fallback {} → {}", f(&a.fallback), f(&b.fallback)));
        }
        Some(parts.join(", "))
    };
    let listed = |c: &Cell| old.cells.contains_key(c) || new.cells.contains_key(c);
    let mut out = String::new();
    if let Some(text) = change(&old.default, &new.default) {
        let through: Vec<String> = Cell::all()
            .filter(|c| !listed(c))
            .map(|c| c.to_string())
            .collect();
        out.push_str(&format!("default: {text}"));
        if !through.is_empty() {
            out.push_str(&format!(" (so also {})", through.join(", ")));
        }
        out.push('\n');
    }
    for c in Cell::all().filter(listed) {
        if let Some(text) = change(old.route(c), new.route(c)) {
            out.push_str(&format!("{c}: {text}\n"));
        }
    }
    out
}

/// What `routes.diff` holds: the cell-by-cell change, a blank line, then the unified diff of
/// the file (patch(1) and `git apply` skip the text before the `---` header). Empty when the
/// file does not change.
pub fn routes_diff(cells: &str, toml_diff: &str) -> String {
    if toml_diff.is_empty() {
        return String::new();
    }
    if cells.is_empty() {
        return toml_diff.to_string();
    }
    format!("{cells}\n{toml_diff}")
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
    use crate::base::types::{ModelId, Priority, TaskType};

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

    #[test]
    fn cell_changes_name_each_changed_cell_once() {
        let old = RouteTable {
            default: Route {
                primary: m("a/x"),
                fallback: Some(m("b/y")),
            },
            cells: BTreeMap::new(),
        };
        let new = table();
        let text = cell_changes(&old, &new);
        assert_eq!(
            text,
            "code.quality: primary a/x → b/y, fallback b/y → a/x\n\
             math.latency: primary a/x stays, fallback b/y → none\n",
            "{text}"
        );
        let mut fallback_only = new.clone();
        fallback_only.default.fallback = None;
        assert_eq!(
            cell_changes(&new, &fallback_only),
            format!(
                "default: primary a/x stays, fallback b/y → none (so also {})\n",
                Cell::all()
                    .filter(|c| !new.cells.contains_key(c))
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
        assert_eq!(cell_changes(&new, &new), "");
        assert_eq!(routes_diff("", ""), "");
        assert_eq!(routes_diff("x: y\n", "--- a\n"), "x: y\n\n--- a\n");
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
    fn read_table_reads_default_and_cells() {
        let t = read_table(SRC).unwrap();
        assert_eq!(t.default.primary, m("a/x"));
        assert_eq!(t.default.fallback, Some(m("b/y")));
        assert_eq!(t.cells.len(), 1);
        assert_eq!(
            t.route(Cell::new(TaskType::Code, Priority::Quality))
                .fallback,
            Some(m("b/y"))
        );
        assert!(read_table("[routes.code.quality]\nprimary = \"a/x\"\n").is_err());
        assert!(
            read_table("[default]\nprimary = \"a/x\"\n[routes.cod.quality]\nprimary = \"a/x\"\n")
                .is_err()
        );
    }

    #[test]
    fn accept_names_every_rerouted_cell_including_those_following_default() {
        let proposal = render(SRC, &table(), None).unwrap();
        let mut moved = table();
        moved.default = Route {
            primary: m("b/y"),
            fallback: None,
        };
        let proposal_new_default = render(SRC, &moved, None).unwrap();

        let all = accept(SRC, &proposal, None).unwrap();
        assert_eq!(all.text, proposal);
        assert_eq!(
            all.accepted,
            vec![
                CellLabel::Cell(Cell::new(TaskType::Code, Priority::Quality)),
                CellLabel::Cell(Cell::new(TaskType::Math, Priority::Latency)),
            ]
        );
        // Both are written in the file; math.latency loses the fallback it had through [default].
        assert_eq!(all.changes.len(), 2, "{:?}", all.changes);
        assert!(all.changes.iter().all(|c| !c.via_default));
        assert_eq!(all.changes[1].old.fallback, Some(m("b/y")));
        assert_eq!(all.changes[1].new.fallback, None);

        let only_default = accept(SRC, &proposal_new_default, Some(&[CellLabel::Default])).unwrap();
        assert!(only_default.text.contains(
            "[default]                 # fallback route\nprimary = \"b/y\"           # budget\n"
        ));
        assert!(!only_default.text.contains("fallback = \"b/y\"\n\n[routes"));
        // Default plus the 16 cells the proposal leaves to it; code.quality is written and keeps
        // its route; math.latency, which the proposal moves elsewhere but which is not
        // accepted, is pinned to the route it has instead of following the new default.
        assert_eq!(only_default.changes.len(), 17, "{:?}", only_default.changes);
        assert!(only_default.changes[1..].iter().all(|c| c.via_default));
        let ml = Cell::new(TaskType::Math, Priority::Latency);
        assert_eq!(
            only_default.pins,
            vec![Pin {
                cell: ml,
                route: read_table(SRC).unwrap().default,
                reason: PinReason::NotAccepted,
            }]
        );
        assert_eq!(
            read_table(&only_default.text).unwrap().route(ml),
            &read_table(SRC).unwrap().default
        );

        let none = accept(SRC, &proposal, Some(&[])).unwrap();
        assert_eq!(none.text, SRC);
        assert!(none.changes.is_empty());
    }

    /// A proposal that moves `[default]` from a/x to b/y, keeps math.default on a/x (so lists it),
    /// and leaves code.default to the new default (not listed).
    fn moved_default_proposal() -> String {
        let mut cells = BTreeMap::new();
        cells.insert(
            Cell::new(TaskType::Code, Priority::Quality),
            Route {
                primary: m("b/y"),
                fallback: Some(m("a/x")),
            },
        );
        cells.insert(
            Cell::new(TaskType::Math, Priority::Default),
            Route {
                primary: m("a/x"),
                fallback: Some(m("b/y")),
            },
        );
        let t = RouteTable {
            default: Route {
                primary: m("b/y"),
                fallback: Some(m("a/x")),
            },
            cells,
        };
        render(SRC, &t, None).unwrap()
    }

    #[test]
    fn accepting_a_cell_that_follows_the_new_default_pins_the_proposed_route() {
        let proposal = moved_default_proposal();
        let cd = Cell::new(TaskType::Code, Priority::Default);
        let only = [CellLabel::Cell(cd)];
        let out = accept(SRC, &proposal, Some(&only)).unwrap();
        let after = read_table(&out.text).unwrap();
        let proposed = read_table(&proposal).unwrap();
        assert_eq!(after.route(cd), proposed.route(cd));
        assert_eq!(after.default, read_table(SRC).unwrap().default);
        assert!(
            out.text
                .contains("[routes.code.default]\nprimary = \"b/y\"\nfallback = \"a/x\"\n")
        );
        assert_eq!(out.changes.len(), 1, "{:?}", out.changes);
        assert!(!out.changes[0].via_default);
        assert_eq!(out.pins[0].reason, PinReason::FollowsProposedDefault);
        // Every other cell keeps its route.
        for c in Cell::all().filter(|c| *c != cd) {
            assert_eq!(after.route(c), read_table(SRC).unwrap().route(c), "{c}");
        }
    }

    #[test]
    fn accepting_a_cell_whose_route_stays_writes_nothing() {
        let proposal = moved_default_proposal();
        // code.default follows [default] in the file; the proposal keeps a/x for math.default,
        // which the file also leaves to [default] (a/x): accepting it changes nothing.
        let md = CellLabel::Cell(Cell::new(TaskType::Math, Priority::Default));
        let out = accept(SRC, &proposal, Some(&[md])).unwrap();
        assert_eq!(out.text, SRC);
        assert!(out.changes.is_empty() && out.pins.is_empty());
    }

    #[test]
    fn accepting_default_never_moves_a_cell_the_proposal_keeps() {
        let proposal = moved_default_proposal();
        let proposed = read_table(&proposal).unwrap();
        let before = read_table(SRC).unwrap();
        let out = accept(SRC, &proposal, Some(&[CellLabel::Default])).unwrap();
        let after = read_table(&out.text).unwrap();
        let md = Cell::new(TaskType::Math, Priority::Default);
        assert_eq!(after.route(md), before.route(md), "kept by the proposal");
        assert!(
            out.pins
                .iter()
                .any(|p| p.cell == md && p.reason == PinReason::KeptByProposal)
        );
        for c in Cell::all() {
            let (b, a, p) = (before.route(c), after.route(c), proposed.route(c));
            // Either unchanged, or moved to exactly what the proposal gives it via [default].
            assert!(
                a == b || (a == p && !proposed.cells.contains_key(&c)),
                "{c}"
            );
        }
        // Accepting everything ends at the proposal, cell by cell.
        let all = accept(SRC, &proposal, None).unwrap();
        let after = read_table(&all.text).unwrap();
        for c in Cell::all() {
            assert_eq!(after.route(c), proposed.route(c), "{c}");
        }
        assert_eq!(after.default, proposed.default);
    }

    #[test]
    fn cell_labels_parse_default_and_task_priority_only() {
        assert_eq!("default".parse::<CellLabel>(), Ok(CellLabel::Default));
        assert_eq!(
            " math.default".parse::<CellLabel>(),
            Ok(CellLabel::Cell(Cell::new(
                TaskType::Math,
                Priority::Default
            )))
        );
        assert!("code.qualty".parse::<CellLabel>().is_err());
        assert!("code".parse::<CellLabel>().is_err());
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
