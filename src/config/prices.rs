//! Prices: the shipped snapshot of the genai-prices table with its match rules, explicit
//! per-model overrides from routes.toml, and the cost of one call.

use std::sync::OnceLock;

use jiff::Timestamp;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::base::types::{ModelId, Usd};

/// The shipped snapshot (pydantic/genai-prices `prices/data_slim.json`, MIT; see prices/README.md).
pub const SNAPSHOT_JSON: &str = include_str!("../../prices/genai-prices.json");
/// Where the snapshot came from, for reports.
pub const SNAPSHOT_SOURCE: &str = "genai-prices@47df840a";

/// The day the shipped snapshot was taken from genai-prices (its age is shown in every plan).
pub const SNAPSHOT_DATE: &str = "2026-11-25";
/// The environment variable that names a newer price file (what `--prices FILE` sets).
pub const PRICES_ENV: &str = "ROUTECAL_PRICES";
/// A price table older than this many days is flagged in the plan.
pub const STALE_AFTER_DAYS: i64 = 60;

/// The price table a command uses, and where it came from: the shipped snapshot, or a
/// genai-prices file (`data_slim.json` or `data.json`) named by `--prices` / `ROUTECAL_PRICES`.
pub struct Prices {
    table: LoadedTable,
    /// `genai-prices@<commit>` for the snapshot, else the file's path as given.
    pub source: String,
    /// sha256 (hex) of the JSON the table was parsed from.
    pub sha256: String,
    /// The table's date: the snapshot's, or the file's last modification (UTC).
    pub date: jiff::civil::Date,
}

enum LoadedTable {
    Shipped,
    File(Box<PriceTable>),
}

impl Prices {
    /// The snapshot compiled into the binary.
    pub fn shipped() -> Prices {
        Prices {
            table: LoadedTable::Shipped,
            source: SNAPSHOT_SOURCE.into(),
            sha256: crate::base::types::sha256_hex(SNAPSHOT_JSON.as_bytes()),
            date: SNAPSHOT_DATE.parse().expect("SNAPSHOT_DATE is a date"),
        }
    }

    /// The file at `path` when given, else the shipped snapshot. A file that cannot be read or is
    /// not a genai-prices table is bad input ([`crate::base::error::InputError`], exit 2).
    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<Prices> {
        let Some(path) = path else {
            return Ok(Prices::shipped());
        };
        let bad = |m: String| crate::base::error::InputError::new(path, m);
        let bytes =
            std::fs::read(path).map_err(|e| bad(format!("cannot read the price file: {e}")))?;
        let json = std::str::from_utf8(&bytes)
            .map_err(|_| bad("the price file is not valid UTF-8".into()))?;
        let table = PriceTable::from_json(json).map_err(|e| {
            bad(format!(
                "not a genai-prices table (a list of providers with their models): {e}"
            ))
        })?;
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| Timestamp::try_from(t).ok())
            .unwrap_or_else(Timestamp::now);
        Ok(Prices {
            table: LoadedTable::File(Box::new(table)),
            source: path.display().to_string(),
            sha256: crate::base::types::sha256_hex(&bytes),
            date: modified.to_zoned_datetime(jiff::tz::TimeZone::UTC).date(),
        })
    }

    /// The table itself.
    pub fn table(&self) -> &PriceTable {
        match &self.table {
            LoadedTable::Shipped => PriceTable::shipped(),
            LoadedTable::File(t) => t,
        }
    }

    /// Whole days from the table's date to `now`.
    pub fn age_days(&self, now: Timestamp) -> i64 {
        let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        (today - self.date).get_days() as i64
    }

    /// One line for the plan: which table, its date and age.
    pub fn describe(&self, now: Timestamp) -> String {
        let basis = match self.table {
            LoadedTable::Shipped => "the shipped snapshot of",
            LoadedTable::File(_) => "modified",
        };
        format!(
            "Prices: {} ({basis} {}, {} days old)",
            self.source,
            self.date,
            self.age_days(now)
        )
    }

    /// A warning when the table is more than [`STALE_AFTER_DAYS`] old.
    pub fn staleness_warning(&self, now: Timestamp) -> Option<String> {
        let age = self.age_days(now);
        (age > STALE_AFTER_DAYS).then(|| {
            format!(
                "the price table {} is {age} days old (from {}, more than {STALE_AFTER_DAYS}): costs may be out of date; pass a newer genai-prices file (prices/data_slim.json of pydantic/genai-prices) with --prices FILE or {PRICES_ENV}",
                self.source, self.date
            )
        })
    }
}

/// USD per million tokens, possibly tiered by the call's input tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    pub base: f64,
    /// `(input tokens from which it applies, price)`, ascending.
    pub tiers: Vec<(u64, f64)>,
}

impl Rate {
    /// One price per million tokens, whatever the prompt's length.
    pub fn flat(per_mtok: f64) -> Self {
        Rate {
            base: per_mtok,
            tiers: Vec::new(),
        }
    }

    fn at(&self, input_tokens: u64) -> f64 {
        self.tiers
            .iter()
            .rev()
            .find(|(start, _)| input_tokens > *start)
            .map(|(_, p)| *p)
            .unwrap_or(self.base)
    }
}

/// The resolved price of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub input: Rate,
    pub output: Rate,
    /// Prompt tokens read from the provider's prompt cache; `None` bills them as input.
    pub cache_read: Option<Rate>,
    /// Prompt tokens written to the provider's prompt cache; `None` bills them as input.
    pub cache_write: Option<Rate>,
    /// A fee per request on top of tokens (e.g. web search), USD.
    pub per_request_usd: f64,
    /// `override` or `genai-prices:<provider>/<model id>`.
    pub source: String,
}

/// The tokens of one call, as billed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUse {
    /// Every prompt token, cached ones included.
    pub input: u64,
    /// Every output token, reasoning included.
    pub output: u64,
    /// Of `input`, the tokens read from the prompt cache.
    pub cache_read: u64,
    /// Of `input`, the tokens written to the prompt cache.
    pub cache_write: u64,
}

impl Price {
    /// A flat price per million tokens without cache prices (an override in routes.toml).
    pub fn flat(input_per_mtok: f64, output_per_mtok: f64, per_request_usd: f64) -> Price {
        Price {
            input: Rate::flat(input_per_mtok),
            output: Rate::flat(output_per_mtok),
            cache_read: None,
            cache_write: None,
            per_request_usd,
            source: "override".into(),
        }
    }

    /// Cost of one call with these token counts and no cached tokens.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> Usd {
        self.cost_of(&TokenUse {
            input: input_tokens,
            output: output_tokens,
            ..TokenUse::default()
        })
    }

    /// Cost of one call: uncached input at the input price, cache reads and writes at their
    /// own prices (the input price when the table has none), output (reasoning included) at
    /// the output price, plus the per-request fee. Tiers are chosen by the whole input.
    /// Cache counts larger than the input are cut to it.
    pub fn cost_of(&self, u: &TokenUse) -> Usd {
        let at = u.input;
        let i = self.input.at(at);
        let read = u.cache_read.min(u.input);
        let write = u.cache_write.min(u.input - read);
        let plain = u.input - read - write;
        let rate = |r: &Option<Rate>| r.as_ref().map_or(i, |r| r.at(at));
        let usd = plain as f64 * i
            + read as f64 * rate(&self.cache_read)
            + write as f64 * rate(&self.cache_write)
            + u.output as f64 * self.output.at(at);
        Usd(usd / 1e6 + self.per_request_usd)
    }
}

#[derive(Debug, Deserialize)]
struct RawProvider {
    id: String,
    #[serde(default)]
    provider_match: Option<Value>,
    #[serde(default)]
    model_match: Option<Value>,
    models: Vec<RawModel>,
}

#[derive(Debug, Deserialize)]
struct RawModel {
    id: String,
    #[serde(rename = "match")]
    matcher: Value,
    prices: Value,
}

#[derive(Debug)]
enum Clause {
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Regex(Regex),
    Or(Vec<Clause>),
    And(Vec<Clause>),
}

impl Clause {
    fn parse(v: &Value) -> Result<Clause, String> {
        let obj = v.as_object().ok_or("a match clause must be an object")?;
        let (k, v) = obj.iter().next().ok_or("empty match clause")?;
        let text = || {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("match clause {k:?} needs a string"))
        };
        let list = || -> Result<Vec<Clause>, String> {
            v.as_array()
                .ok_or_else(|| format!("match clause {k:?} needs a list"))?
                .iter()
                .map(Clause::parse)
                .collect()
        };
        Ok(match k.as_str() {
            "equals" => Clause::Equals(text()?),
            "starts_with" => Clause::StartsWith(text()?),
            "ends_with" => Clause::EndsWith(text()?),
            "contains" => Clause::Contains(text()?),
            "regex" => Clause::Regex(Regex::new(&text()?).map_err(|e| e.to_string())?),
            "or" => Clause::Or(list()?),
            "and" => Clause::And(list()?),
            other => return Err(format!("unknown match clause {other:?}")),
        })
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            Clause::Equals(x) => s == x,
            Clause::StartsWith(x) => s.starts_with(x.as_str()),
            Clause::EndsWith(x) => s.ends_with(x.as_str()),
            Clause::Contains(x) => s.contains(x.as_str()),
            Clause::Regex(r) => r.is_match(s),
            Clause::Or(cs) => cs.iter().any(|c| c.matches(s)),
            Clause::And(cs) => cs.iter().all(|c| c.matches(s)),
        }
    }
}

struct ProviderEntry {
    id: String,
    provider_match: Option<Clause>,
    model_match: Option<Clause>,
    models: Vec<(String, Clause, Value)>,
}

/// A price table with genai-prices' match rules.
pub struct PriceTable {
    providers: Vec<ProviderEntry>,
}

impl PriceTable {
    /// The snapshot compiled into the binary, parsed once.
    pub fn shipped() -> &'static PriceTable {
        static TABLE: OnceLock<PriceTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            PriceTable::from_json(SNAPSHOT_JSON).expect("the shipped price snapshot parses")
        })
    }

    /// A price table in the snapshot's JSON format (see `prices/`); the error is serde's message.
    pub fn from_json(json: &str) -> Result<PriceTable, String> {
        let raw: Vec<RawProvider> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let mut providers = Vec::with_capacity(raw.len());
        for p in raw {
            let mut models = Vec::with_capacity(p.models.len());
            for m in p.models {
                let clause =
                    Clause::parse(&m.matcher).map_err(|e| format!("{}/{}: {e}", p.id, m.id))?;
                models.push((m.id, clause, m.prices));
            }
            providers.push(ProviderEntry {
                provider_match: p.provider_match.as_ref().map(Clause::parse).transpose()?,
                model_match: p.model_match.as_ref().map(Clause::parse).transpose()?,
                id: p.id,
                models,
            });
        }
        Ok(PriceTable { providers })
    }

    /// The price of `model` at time `at` (dated and time-of-day prices are resolved at `at`).
    pub fn lookup(&self, model: &ModelId, at: Timestamp) -> Option<Price> {
        let (provider, name) = (model.provider(), model.name());
        let by_provider = self.providers.iter().filter(|p| {
            p.id == provider
                || p.provider_match
                    .as_ref()
                    .is_some_and(|c| c.matches(provider))
        });
        for p in by_provider {
            if let Some(price) = find_in(p, name, at) {
                return Some(price);
            }
        }
        // An unknown provider (a proxy, a self-hosted gateway): the provider whose model naming fits.
        self.providers
            .iter()
            .filter(|p| p.model_match.as_ref().is_some_and(|c| c.matches(name)))
            .find_map(|p| find_in(p, name, at))
    }
}

fn find_in(p: &ProviderEntry, name: &str, at: Timestamp) -> Option<Price> {
    let (id, _, prices) = p.models.iter().find(|(_, c, _)| c.matches(name))?;
    let set = select_price_set(prices, at)?;
    let rate = |k: &str| set.get(k).and_then(parse_rate);
    Some(Price {
        input: rate("input_mtok").unwrap_or(Rate::flat(0.0)),
        output: rate("output_mtok").unwrap_or(Rate::flat(0.0)),
        cache_read: rate("cache_read_mtok"),
        cache_write: rate("cache_write_mtok"),
        per_request_usd: set
            .get("requests_kcount")
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
            / 1000.0,
        source: format!("genai-prices:{}/{}", p.id, id),
    })
}

/// A model's prices are one set, or a list whose later entries apply under a constraint
/// (a start date, a time-of-day window); the last entry whose constraint holds wins.
fn select_price_set(prices: &Value, at: Timestamp) -> Option<&serde_json::Map<String, Value>> {
    match prices {
        Value::Object(o) => Some(o),
        Value::Array(list) => {
            let mut chosen = None;
            for entry in list {
                let holds = entry
                    .get("constraint")
                    .is_none_or(|c| constraint_holds(c, at));
                if holds {
                    chosen = entry.get("prices").and_then(Value::as_object).or(chosen);
                }
            }
            chosen
        }
        _ => None,
    }
}

fn constraint_holds(c: &Value, at: Timestamp) -> bool {
    let utc = at.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    if let Some(start) = c.get("start_date").and_then(Value::as_str) {
        match start.parse::<jiff::civil::Date>() {
            Ok(d) if utc.date() < d => return false,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    let time = |k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .and_then(|s| s.trim_end_matches('Z').parse::<jiff::civil::Time>().ok())
    };
    if let (Some(from), Some(to)) = (time("start_time"), time("end_time")) {
        let now = utc.time();
        let inside = if from <= to {
            now >= from && now < to
        } else {
            now >= from || now < to
        };
        if !inside {
            return false;
        }
    }
    true
}

fn parse_rate(v: &Value) -> Option<Rate> {
    if let Some(x) = v.as_f64() {
        return Some(Rate::flat(x));
    }
    let base = v.get("base")?.as_f64()?;
    let mut tiers: Vec<(u64, f64)> = v
        .get("tiers")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| Some((t.get("start")?.as_u64()?, t.get("price")?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    tiers.sort_by_key(|t| t.0);
    Some(Rate { base, tiers })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn m(s: &str) -> ModelId {
        ModelId::parse(s).unwrap()
    }

    #[test]
    fn shipped_table_prices_the_recorded_models() {
        let t = PriceTable::shipped();
        let now = at("2026-11-25T12:00:00Z");
        let gpt4t = t.lookup(&m("openai/gpt-4-1106-preview"), now).unwrap();
        assert_eq!((gpt4t.input.base, gpt4t.output.base), (10.0, 30.0));
        let mixtral = t
            .lookup(&m("together/mistralai/Mixtral-8x7B-Instruct-v0.1"), now)
            .unwrap();
        assert_eq!((mixtral.input.base, mixtral.output.base), (0.9, 0.9));
        let gpt4 = t.lookup(&m("openai/gpt-4-0314"), now).unwrap();
        assert_eq!(gpt4.cost(1_000_000, 1_000_000), Usd(90.0));
        assert!(t.lookup(&m("nobody/no-such-model-xyz"), now).is_none());
    }

    #[test]
    fn tiered_and_per_request_prices() {
        let t = PriceTable::shipped();
        let now = at("2026-11-25T12:00:00Z");
        let pro = t.lookup(&m("google/gemini-3.1-pro-preview"), now).unwrap();
        // Above 200k input tokens the whole call moves to the higher tier.
        assert_eq!(pro.cost(1000, 0), Usd(1000.0 * 2.0 / 1e6));
        assert_eq!(pro.cost(300_000, 0), Usd(300_000.0 * 4.0 / 1e6));
        let sonar = t.lookup(&m("perplexity/sonar"), now).unwrap();
        assert!((sonar.cost(0, 0).0 - 0.012).abs() < 1e-12);
    }

    #[test]
    fn time_of_day_and_dated_prices_resolve_at_the_call_time() {
        let t = PriceTable::shipped();
        let peak = t
            .lookup(&m("deepseek/deepseek-chat"), at("2026-11-25T12:00:00Z"))
            .unwrap();
        let off = t
            .lookup(&m("deepseek/deepseek-chat"), at("2026-11-25T20:00:00Z"))
            .unwrap();
        assert_eq!(peak.input.base, 0.27);
        assert_eq!(off.input.base, 0.135);
    }

    #[test]
    fn a_price_file_replaces_the_snapshot_and_carries_its_date() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prices.json");
        let json = r#"[{"id":"openai","name":"OpenAI","models":[{"id":"gpt-4-1106-preview","match":{"equals":"gpt-4-1106-preview"},"prices":{"input_mtok":1,"output_mtok":2}}]}]"#;
        std::fs::write(&path, json).unwrap();
        let p = Prices::load(Some(&path)).unwrap();
        let now = Timestamp::now();
        let price = p
            .table()
            .lookup(&m("openai/gpt-4-1106-preview"), now)
            .unwrap();
        assert_eq!((price.input.base, price.output.base), (1.0, 2.0));
        assert_eq!(p.age_days(now), 0);
        assert!(p.staleness_warning(now).is_none());
        assert_eq!(p.sha256, crate::base::types::sha256_hex(json.as_bytes()));
        std::fs::write(&path, "{\"not\": \"a table\"}").unwrap();
        let e = Prices::load(Some(&path)).err().unwrap().to_string();
        assert!(
            e.contains("prices.json") && e.contains("genai-prices"),
            "{e}"
        );
    }

    #[test]
    fn the_snapshot_is_flagged_once_older_than_60_days() {
        let p = Prices::shipped();
        let midnight = at(&format!("{SNAPSHOT_DATE}T00:00:00Z")).as_second();
        let day = |d: i64| Timestamp::from_second(midnight + d * 86_400 + 3_600).unwrap();
        assert_eq!(p.age_days(day(60)), 60);
        assert!(p.staleness_warning(day(60)).is_none());
        let w = p.staleness_warning(day(61)).unwrap();
        assert!(w.contains("61 days old") && w.contains("--prices"), "{w}");
        assert!(
            p.describe(day(3))
                .contains("snapshot of 2026-11-25, 3 days old")
        );
    }

    #[test]
    fn cached_prompt_tokens_are_billed_at_the_cache_prices() {
        let t = PriceTable::shipped();
        let now = at("2026-11-25T12:00:00Z");
        let gpt4o = t.lookup(&m("openai/gpt-4o"), now).unwrap();
        let cached = TokenUse {
            input: 2006,
            output: 300,
            cache_read: 1920,
            cache_write: 0,
        };
        let want = ((2006.0 - 1920.0) * 2.5 + 1920.0 * 1.25 + 300.0 * 10.0) / 1e6;
        assert!((gpt4o.cost_of(&cached).0 - want).abs() < 1e-12);
        assert!(gpt4o.cost(2006, 300).0 > want);
        let sonnet = t.lookup(&m("anthropic/claude-3-5-sonnet"), now).unwrap();
        let u = TokenUse {
            input: 1000,
            output: 10,
            cache_read: 600,
            cache_write: 300,
        };
        let want = (100.0 * 3.0 + 600.0 * 0.3 + 300.0 * 3.75 + 10.0 * 15.0) / 1e6;
        assert!((sonnet.cost_of(&u).0 - want).abs() < 1e-12);
        // No cache price: cached tokens cost what input costs; counts above the input are cut.
        let flat = Price::flat(1.0, 2.0, 0.0);
        let odd = TokenUse {
            input: 10,
            output: 0,
            cache_read: 50,
            cache_write: 5,
        };
        assert_eq!(flat.cost_of(&odd), flat.cost(10, 0));
        assert!(sonnet.cost_of(&odd).0 >= 0.0);
    }

    #[test]
    fn unknown_provider_falls_back_to_model_naming() {
        let t = PriceTable::shipped();
        let p = t
            .lookup(&m("mygateway/claude-opus-4-6"), at("2026-11-25T12:00:00Z"))
            .unwrap();
        assert!(
            p.source.starts_with("genai-prices:anthropic/"),
            "{}",
            p.source
        );
    }
}
