//! The plan as `run` shows it before the first call: calls, tokens, spend and duration per
//! model and endpoint, the adaptive design's maximum and expected calls, the budget check.

use super::*;

/// The price table's line for the plan, its staleness warning, and (for a dry run, given the
/// config) the keys a real run would need that are not set.
pub(super) fn prices_lines(
    p: &prices::Prices,
    now: jiff::Timestamp,
    dry_run: Option<&Config>,
) -> String {
    let mut out = format!("{}\n", p.describe(now));
    if let Some(w) = p.staleness_warning(now) {
        out.push_str(&format!("Warning: {w}\n"));
    }
    for k in dry_run.map(missing_keys).unwrap_or_default() {
        out.push_str(&format!(
            "Key: {} is not set (endpoint {}): the run itself needs it\n",
            k["variable"].as_str().unwrap_or_default(),
            k["endpoint"].as_str().unwrap_or_default()
        ));
    }
    out
}

/// The environment variables named by the routes file that hold no key now (names only).
pub(super) fn missing_keys(cfg: &Config) -> Vec<serde_json::Value> {
    let unset = |v: &str| std::env::var(v).map_or(true, |k| k.trim().is_empty());
    let mut out = Vec::new();
    for ep in cfg.endpoints.values() {
        let vars = ep
            .api_key_env
            .iter()
            .chain(ep.provider_keys.values().map(|k| &k.env));
        for var in vars.filter(|v| unset(v)) {
            out.push(serde_json::json!({"endpoint": ep.name, "variable": var}));
        }
    }
    out
}

/// A judge estimate reduced by the verdicts already in the journal (not asked again).
pub(super) fn judge_left(
    mut j: JudgeEstimate,
    earlier: &journal::JournalContents,
) -> JudgeEstimate {
    let judged = earlier
        .rows
        .iter()
        .filter(|r| r.kind == journal::CallKind::Judge && r.model == j.model)
        .count()
        .min(j.calls);
    let left = j.calls - judged;
    j.est_cost = j
        .est_cost
        .map(|c| Usd(c.0 * left as f64 / j.calls.max(1) as f64));
    j.calls = left;
    j
}

/// What the plan shows.
pub(super) struct Shown<'a> {
    pub(super) plan: &'a Plan,
    pub(super) judge: Option<&'a JudgeEstimate>,
    pub(super) estimate: &'a Estimate,
    pub(super) adaptive: Option<&'a Design>,
    /// What `--history` will read.
    pub(super) history: Option<&'a crate::derive::history::Earlier>,
}

/// The plan: on stdout for `--dry-run` (as JSON with `--json`), else on stderr unless quiet.
pub(super) fn show_plan(
    a: &RunArgs,
    cfg: &Config,
    shown: &Shown,
    mode: ProgressMode,
    (prices, now): (&prices::Prices, jiff::Timestamp),
) {
    let Shown {
        plan,
        judge,
        estimate,
        adaptive,
        history,
    } = *shown;
    if a.dry_run && a.json {
        let mut v = plan_json(plan, judge, estimate, a.max_spend);
        v["prices"] = serde_json::json!({
            "source": prices.source,
            "date": prices.date.to_string(),
            "age_days": prices.age_days(now),
            "warning": prices.staleness_warning(now),
        });
        v["missing_keys"] = missing_keys(cfg).into();
        if let Some(d) = adaptive {
            v["adaptive"] = adaptive_plan_json(plan, d);
        }
        if let Some(e) = history {
            v["history"] = crate::report::history::plan_json(e);
        }
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    let mut text = describe_plan(
        cfg,
        plan,
        judge,
        estimate,
        (a.max_spend, adaptive.is_some()),
    );
    if let Some(d) = adaptive {
        text.push_str(&describe_adaptive(plan, d));
    }
    if let Some(e) = history {
        text.push_str(&crate::report::history::plan_text(e));
    }
    text.push_str(&prices_lines(prices, now, a.dry_run.then_some(cfg)));
    if a.dry_run {
        out!("{text}");
    } else if mode != ProgressMode::Quiet {
        eout!("{text}");
    }
}

/// Candidate calls of a plan still to make.
pub(super) fn candidate_calls(plan: &Plan) -> usize {
    plan.calls
        .iter()
        .filter(|c| c.kind == journal::CallKind::Candidate)
        .count()
}

/// The adaptive design's maximum and expected candidate calls (of those still to make). The
/// expected figure is the benchmark's mean share, measured for the default design only: one
/// look makes every call, any other design has no measured figure (`None`).
pub(super) fn adaptive_calls(plan: &Plan, d: &Design) -> (usize, Option<usize>) {
    let max = candidate_calls(plan);
    let share = match d.looks {
        1 => Some(1.0),
        _ if sequential::is_benchmarked(d) => Some(sequential::EXPECTED_SHARE),
        _ => None,
    };
    let expected = share.map(|s| ((max as f64 * s).ceil() as usize).min(max));
    (max, expected)
}

pub(super) fn describe_adaptive(plan: &Plan, d: &Design) -> String {
    let (max, expected) = adaptive_calls(plan, d);
    let budget = match d.max_pairs {
        Some(p) => {
            format!("; call budget {p} candidate answers (no look starts that would pass it)")
        }
        None => String::new(),
    };
    let expected = match expected {
        Some(e) if d.looks == 1 => format!("all {e} of them (one look is the full design)"),
        Some(e) => format!(
            "expected about {e} ({:.0}% of them: the mean share of the adaptive benchmark, docs/adaptive.md)",
            sequential::EXPECTED_SHARE * 100.0
        ),
        None => "expected: not measured for this design (the adaptive benchmark measures the default: `cargo bench --bench adaptive` with ROUTECAL_ADAPTIVE_* measures others)".into(),
    };
    format!(
        "Adaptive: {} look{} (seed {}); candidate calls at most {max} (the full design), {expected}{budget}; the judge follows each look\n",
        d.looks,
        if d.looks == 1 { "" } else { "s" },
        d.seed,
    )
}

pub(super) fn adaptive_plan_json(plan: &Plan, d: &Design) -> serde_json::Value {
    let (max, expected) = adaptive_calls(plan, d);
    serde_json::json!({
        "looks": d.looks,
        "seed": d.seed,
        "max_candidate_calls": max,
        "expected_candidate_calls": expected,
        "expected_share": expected.map(|e| if max == 0 { 1.0 } else { e as f64 / max as f64 }),
        "max_candidate_answers": d.max_pairs,
    })
}

/// How long a plan is expected to take: the candidate and classifier calls per endpoint
/// (endpoints work side by side), then the judge's.
pub(super) struct Durations {
    pub(super) calls: Vec<duration::EndpointDuration>,
    pub(super) judge: Option<duration::EndpointDuration>,
}

impl Durations {
    pub(super) fn new(
        cfg: &Config,
        plan: &Plan,
        judge: Option<&JudgeEstimate>,
        providers: &std::collections::HashMap<String, Arc<dyn provider::Provider>>,
    ) -> Durations {
        let rpm = |ep: &crate::config::Endpoint| match providers.get(&ep.name) {
            Some(p) => benchmark::requests_per_minute(ep, &**p),
            None => ep.requests_per_minute,
        };
        let judge_calls = judge.filter(|j| j.calls > 0).map(|j| {
            let out = crate::benchmark::judge_phase::EXPECTED_JUDGE_OUTPUT_TOKENS;
            let shape = (cfg.model(&j.model).endpoint.as_str(), &j.model, out);
            std::iter::repeat_n(shape, j.calls)
        });
        Durations {
            calls: duration::estimate(cfg, duration::shapes(&plan.calls), rpm),
            judge: judge_calls.and_then(|c| duration::estimate(cfg, c, rpm).pop()),
        }
    }

    /// Expected wall time of the whole plan, in seconds.
    pub(super) fn total_s(&self) -> f64 {
        let calls = self.calls.iter().map(|d| d.seconds).fold(0.0, f64::max);
        calls + self.judge.as_ref().map_or(0.0, |d| d.seconds)
    }

    pub(super) fn describe(&self) -> String {
        let mut out = format!("Estimated duration: {}\n", duration::about(self.total_s()));
        for d in &self.calls {
            out.push_str(&format!("  {}\n", d.describe()));
        }
        if let Some(d) = &self.judge {
            out.push_str(&format!("  then the judge, {}\n", d.describe()));
        }
        out
    }

    pub(super) fn json(&self) -> serde_json::Value {
        let one = |d: &duration::EndpointDuration| {
            serde_json::json!({
                "endpoint": d.endpoint,
                "calls": d.calls,
                "max_concurrency": d.max_concurrency,
                "requests_per_minute": d.requests_per_minute,
                "est_latency_s": d.latency_s,
                "est_duration_s": d.seconds,
            })
        };
        serde_json::json!({
            "est_duration_s": self.total_s(),
            "endpoints": self.calls.iter().map(one).collect::<Vec<_>>(),
            "judge": self.judge.as_ref().map(one),
        })
    }
}

/// The spend a plan expects on live endpoints, before its first call.
pub(super) struct Estimate {
    /// Classifier and candidate calls.
    pub(super) calls: f64,
    /// Judge verdicts (at most; cached verdicts cost nothing).
    pub(super) judge: f64,
    /// Spent by the earlier part of a resumed run.
    pub(super) already: f64,
    pub(super) time: Durations,
}

impl Estimate {
    pub(super) fn new(
        plan: &Plan,
        judge: Option<&JudgeEstimate>,
        already: f64,
        time: Durations,
    ) -> Estimate {
        Estimate {
            time,
            calls: plan.est_live_spend().0,
            judge: judge
                .filter(|j| j.live)
                .and_then(|j| j.est_cost)
                .map_or(0.0, |c| c.0),
            already,
        }
    }

    pub(super) fn total(&self) -> f64 {
        self.calls + self.judge + self.already
    }
}

/// Live models whose cost cannot be estimated, with calls still to make.
pub(super) fn unpriced_live(
    cfg: &Config,
    plan: &Plan,
    judge: Option<&JudgeEstimate>,
) -> Vec<String> {
    let mut out: Vec<String> = plan
        .per_model
        .iter()
        .filter(|m| m.live && m.est_cost.is_none() && m.calls > 0)
        .map(|m| format!("{} (endpoint {})", m.model, m.endpoint))
        .collect();
    if let Some(j) = judge.filter(|j| j.live && j.est_cost.is_none() && j.calls > 0) {
        let entry = format!("{} (endpoint {})", j.model, cfg.model(&j.model).endpoint);
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    out
}

/// `--max-spend`: refuse, before any call, a plan that cannot be kept within the limit.
pub(super) fn check_budget(
    cfg: &Config,
    plan: &Plan,
    judge: Option<&JudgeEstimate>,
    est: &Estimate,
    (limit, adaptive): (f64, bool),
) -> anyhow::Result<()> {
    let unpriced = unpriced_live(cfg, plan, judge);
    if !unpriced.is_empty() {
        return Err(UsageError(format!(
            "{}: --max-spend cannot be kept: no price for {}, so what their calls cost is unknown; give them input_per_mtok and output_per_mtok, or run without --max-spend. Nothing was called or written.",
            cfg.path.display(),
            unpriced.join(", ")
        ))
        .into());
    }
    // An adaptive run's plan is its maximum: it starts, and its calls stop at the budget.
    if est.total() > limit && !adaptive {
        let already = if est.already > 0.0 {
            format!(
                " ({} already spent by this run)",
                fmt::usd(Some(est.already))
            )
        } else {
            String::new()
        };
        return Err(UsageError(format!(
            "the plan is estimated at {}{already}, over --max-spend {}: nothing was called or written. Raise --max-spend, or use fewer items, models or repeats.",
            fmt::usd(Some(est.total())),
            fmt::usd(Some(limit)),
        ))
        .into());
    }
    Ok(())
}

pub(super) fn plan_json(
    plan: &Plan,
    judge: Option<&JudgeEstimate>,
    est: &Estimate,
    max_spend: Option<f64>,
) -> serde_json::Value {
    let models: Vec<serde_json::Value> = plan
        .per_model
        .iter()
        .map(|m| {
            serde_json::json!({
                "model": m.model.to_string(),
                "role": m.kind.as_str(),
                "endpoint": m.endpoint,
                "live": m.live,
                "calls": m.calls,
                "est_input_tokens": m.est_input_tokens,
                "est_output_tokens": m.est_output_tokens,
                "est_cost_usd": m.est_cost.map(|c| c.0),
            })
        })
        .collect();
    serde_json::json!({
        "dry_run": true,
        "calls": plan.calls.len(),
        "already_in_journal": plan.skipped,
        "models": models,
        "judge": judge.map(|j| serde_json::json!({
            "model": j.model.to_string(),
            "live": j.live,
            "calls": j.calls,
            "est_cost_usd": j.est_cost.map(|c| c.0),
        })),
        "already_spent_usd": est.already,
        "estimated_usd": est.total(),
        "max_spend_usd": max_spend,
        "duration": est.time.json(),
    })
}

/// The plan's table: per model its role, endpoint, calls, tokens and cost, indented.
fn model_table(cfg: &Config, plan: &Plan) -> String {
    let mut table_out = String::new();
    let rows: Vec<Vec<String>> = plan
        .per_model
        .iter()
        .map(|m| {
            let kind = cfg.endpoints[&m.endpoint].kind;
            vec![
                m.model.to_string(),
                m.kind.as_str().to_string(),
                format!("{} ({})", m.endpoint, kind.as_str()),
                m.calls.to_string(),
                format!("{}/{}", m.est_input_tokens, m.est_output_tokens),
                match (m.est_cost, m.live) {
                    (None, _) => "UNPRICED".to_string(),
                    (Some(c), true) => fmt::usd(Some(c.0)),
                    (Some(c), false) => {
                        format!("{} at list prices, not spent", fmt::usd(Some(c.0)))
                    }
                },
            ]
        })
        .collect();
    let table = text::table(
        &[
            "model",
            "role",
            "endpoint",
            "calls",
            "est. tokens in/out",
            "est. cost",
        ],
        &rows,
    );
    for line in table.lines().filter(|_| !rows.is_empty()) {
        table_out.push_str("  ");
        table_out.push_str(line);
        table_out.push('\n');
    }
    table_out
}

pub(super) fn describe_plan(
    cfg: &Config,
    plan: &Plan,
    judge: Option<&JudgeEstimate>,
    est: &Estimate,
    (max_spend, adaptive): (Option<f64>, bool),
) -> String {
    let classifiers = cfg.classifiers().len();
    let candidates = cfg.candidates().count();
    let mut out = format!(
        "Plan: {} items × ({} classifier{} + {} candidate{}) × {} repeat{} = {} calls\n",
        plan.items,
        classifiers,
        if classifiers == 1 { "" } else { "s" },
        candidates,
        if candidates == 1 { "" } else { "s" },
        plan.repeats,
        if plan.repeats == 1 { "" } else { "s" },
        plan.calls.len() + plan.skipped
    );
    if plan.skipped > 0 {
        out.push_str(&format!(
            "Resuming: {} of them are in the journal already and are not made again; {} to make\n",
            plan.skipped,
            plan.calls.len()
        ));
    }
    out.push_str(&model_table(cfg, plan));
    if let Some(j) = judge.filter(|j| j.calls > 0) {
        out.push_str(&j.describe());
    }
    out.push_str(&format!(
        "Estimated spend on live endpoints: {}",
        fmt::usd(Some(est.calls + est.judge))
    ));
    if est.judge > 0.0 {
        out.push_str(&format!(
            " ({} calls, {} judge)",
            fmt::usd(Some(est.calls)),
            fmt::usd(Some(est.judge))
        ));
    }
    if est.already > 0.0 {
        out.push_str(&format!(
            ", {} already spent, {} in all",
            fmt::usd(Some(est.already)),
            fmt::usd(Some(est.total()))
        ));
    }
    out.push_str(&format!(
        "\n  (input tokens: characters / 4; output tokens: min({}, max_tokens) per answer, {} per verdict, 3 per classification)\n",
        benchmark::plan::EXPECTED_OUTPUT_TOKENS,
        crate::benchmark::judge_phase::EXPECTED_JUDGE_OUTPUT_TOKENS
    ));
    out.push_str(&est.time.describe());
    if let Some(limit) = max_spend {
        out.push_str(&format!(
            "Budget (--max-spend): {}{}\n",
            fmt::usd(Some(limit)),
            match (est.total() > limit, adaptive) {
                (true, false) => ": the estimate is over it, the run is refused",
                (true, true) =>
                    ": the maximum is over it; the calls stop when the budget is spent (the run then ends partial)",
                (false, _) => "",
            }
        ));
    }
    let unpriced = plan.unpriced();
    if !unpriced.is_empty() {
        out.push_str(&format!(
            "Warning: no price for {}: their cost is reported as unknown\n",
            unpriced
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}
