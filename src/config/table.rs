//! The routing table: `[default]` and `[routes.TASK.PRIORITY]` cells.

use std::collections::BTreeMap;

use super::locate::Check;
use super::models::{Model, declared};
use super::raw::RawRoute;
use crate::base::types::{Cell, ModelId, Priority, TaskType};

/// Where a cell's requests go: the primary, and the model tried when it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub primary: ModelId,
    pub fallback: Option<ModelId>,
}

/// The routing table: explicit cells, and the route for every cell not listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    pub default: Route,
    pub cells: BTreeMap<Cell, Route>,
}

impl RouteTable {
    /// The route a cell resolves to (a missing cell uses `[default]`).
    pub fn route(&self, cell: Cell) -> &Route {
        self.cells.get(&cell).unwrap_or(&self.default)
    }
}

/// `[default]` and `[routes.TASK.PRIORITY]`: each route's models must be declared, its fallback
/// another model (a fallback outside the primary's tiers is a warning). `None` when `[default]`
/// is not a valid route.
pub(super) fn build(
    default: &RawRoute,
    routes: &BTreeMap<String, BTreeMap<String, RawRoute>>,
    models: &BTreeMap<ModelId, Model>,
    ck: &mut Check,
) -> Option<RouteTable> {
    let default = route(&["default"], default, models, ck);
    let mut cells = BTreeMap::new();
    for (task, prios) in routes {
        let t = match task.parse::<TaskType>() {
            Ok(t) => t,
            Err(msg) => {
                ck.err(&["routes", task], msg);
                continue;
            }
        };
        for (prio, r) in prios {
            let p = match prio.parse::<Priority>() {
                Ok(p) => p,
                Err(msg) => {
                    ck.err(&["routes", task, prio], msg);
                    continue;
                }
            };
            if let Some(rt) = route(&["routes", task, prio], r, models, ck) {
                cells.insert(Cell::new(t, p), rt);
            }
        }
    }
    Some(RouteTable {
        default: default?,
        cells,
    })
}

/// One route at `keys`.
fn route(
    keys: &[&str],
    r: &RawRoute,
    models: &BTreeMap<ModelId, Model>,
    ck: &mut Check,
) -> Option<Route> {
    let mut pk = keys.to_vec();
    pk.push("primary");
    let primary = declared(models, &pk, &r.primary, ck)?;
    let mut fk = keys.to_vec();
    fk.push("fallback");
    let fallback = r
        .fallback
        .as_ref()
        .and_then(|f| declared(models, &fk, f, ck));
    if let Some(f) = &fallback {
        if *f == primary {
            ck.err(&fk, "the fallback must differ from the primary");
        } else if let (Some(p), Some(fm)) = (models.get(&primary), models.get(f))
            && !p.shares_tier(fm)
        {
            ck.warn(
                &fk,
                format!(
                    "{}: fallback {f} is not in a tier of the primary {primary}",
                    keys.join(".")
                ),
            );
        }
    }
    Some(Route { primary, fallback })
}
