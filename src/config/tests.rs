//! Tests of the whole routes file: parsing, every error with its file, line and key.

use super::*;
use std::time::Duration;

use crate::base::types::{Cell, Priority, TaskType};
use crate::config::prices::Rate;

const GOOD: &str = r#"
[classifier]
model = "builtin/keywords"

[endpoints.kw]
kind = "keywords"

[endpoints.api]
kind = "openai"
base_url = "http://127.0.0.1:8088/v1"

[models."builtin/keywords"]
endpoint = "kw"
tier = "budget"

[models."openai/gpt-4-0613"]
endpoint = "api"
tier = "frontier"

[models."openai/gpt-4-0314"]
endpoint = "api"
tier = ["frontier", "budget"]

[default]
primary = "openai/gpt-4-0613"
fallback = "openai/gpt-4-0314"

[routes.math.quality]
primary = "openai/gpt-4-0314"
"#;

fn parse(src: &str) -> Result<Config, InputErrors> {
    Config::parse(
        Path::new("routes.toml"),
        src.to_string(),
        PriceTable::shipped(),
        "2026-11-25T12:00:00Z".parse().unwrap(),
    )
}

fn one_error(src: &str) -> InputError {
    let errs = parse(src).expect_err("an error").0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.into_iter().next().unwrap()
}

#[test]
fn parses_a_good_file() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.candidates().count(), 2);
    let cell = Cell::new(TaskType::Math, Priority::Quality);
    assert_eq!(c.table.route(cell).primary.as_str(), "openai/gpt-4-0314");
    assert_eq!(
        c.table.route(Cell::new(TaskType::Code, Priority::Latency)),
        &c.table.default
    );
    assert_eq!(
        c.model(&ModelId::parse("openai/gpt-4-0314").unwrap())
            .price
            .as_ref()
            .unwrap()
            .input
            .base,
        30.0
    );
    assert_eq!(c.policy, PolicyConfig::default());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn unknown_model_in_a_cell_names_line_and_key() {
    let src = GOOD.replace(
        "primary = \"openai/gpt-4-0314\"",
        "primary = \"openai/gpt-9\"",
    );
    let e = one_error(&src);
    assert_eq!(e.field.as_deref(), Some("routes.math.quality.primary"));
    assert_eq!(
        e.line,
        Some(src.lines().position(|l| l.contains("gpt-9")).unwrap() + 1)
    );
    assert!(e.message.contains("gpt-9"));
}

#[test]
fn unknown_field_is_located() {
    let src = GOOD.replace("kind = \"openai\"", "kind = \"openai\"\nmax_concurency = 4");
    let e = one_error(&src);
    assert!(e.message.contains("max_concurency"), "{e}");
    assert_eq!(
        e.line,
        Some(
            src.lines()
                .position(|l| l.contains("max_concurency"))
                .unwrap()
                + 1
        )
    );
    assert_eq!(e.field.as_deref(), Some("endpoints.api.max_concurency"));
}

#[test]
fn negative_limit_and_literal_key_are_rejected() {
    let src = GOOD.replace(
        "kind = \"openai\"",
        "kind = \"openai\"\nmax_concurrency = -3",
    );
    let e = one_error(&src);
    assert_eq!(e.field.as_deref(), Some("endpoints.api.max_concurrency"));
    let src = GOOD.replace(
        "kind = \"openai\"",
        "kind = \"openai\"\napi_key_env = \"pk_live_abcdefghijklmnop\"",
    );
    let errs = parse(&src).unwrap_err().0;
    assert!(
        errs.iter().any(|e| e.message.contains("API key")),
        "{errs:?}"
    );
    let shown = format!("{}", InputErrors(errs));
    assert!(!shown.contains("pk_live_abcdefghijklmnop"), "{shown}");
}

#[test]
fn bare_promptster_domain_names_the_www_fix() {
    let src = GOOD.replace(
        "kind = \"openai\"\nbase_url = \"http://127.0.0.1:8088/v1\"",
        "kind = \"promptster\"\nbase_url = \"https://promptster.dev/v1\"\napi_key_env = \"PROMPTSTER_API_KEY\"",
    );
    let e = one_error(&src);
    assert!(e.message.contains("www.promptster.dev"), "{e}");
}

#[test]
fn unknown_task_type_and_bad_toml() {
    let src = GOOD.replace("[routes.math.quality]", "[routes.maths.quality]");
    let e = one_error(&src);
    assert!(e.message.contains("maths"));
    assert_eq!(e.field.as_deref(), Some("routes.maths"));
    let e = one_error("[classifier\nmodel = 1");
    assert_eq!(e.line, Some(1));
}

#[test]
fn live_endpoint_knobs_are_read_and_checked() {
    let src = GOOD.replace(
        "kind = \"openai\"\n",
        "kind = \"openai\"\nstream = true\nbackoff_base_ms = 5\nbackoff_cap_ms = 40\nmax_retry_after_s = 2\n",
    );
    let c = parse(&src).unwrap();
    let ep = &c.endpoints["api"];
    assert!(ep.stream);
    assert_eq!(ep.backoff.base, Duration::from_millis(5));
    assert_eq!(ep.backoff.cap, Duration::from_millis(40));
    assert_eq!(ep.backoff.max_retry_after, Duration::from_secs(2));
    assert_eq!(ep.anthropic_version, DEFAULT_ANTHROPIC_VERSION);
    assert_eq!(
        ep.line,
        Some(src.lines().position(|l| l == "[endpoints.api]").unwrap() + 1)
    );

    let e = one_error(&GOOD.replace(
        "kind = \"openai\"\n",
        "kind = \"openai\"\nbackoff_cap_ms = -1\n",
    ));
    assert_eq!(e.field.as_deref(), Some("endpoints.api.backoff_cap_ms"));
    let e = one_error(&GOOD.replace(
        "kind = \"openai\"\n",
        "kind = \"openai\"\nprovider_keys = { anthropic = { header = \"X-ANTHROPIC-API-KEY\", env = \"K\" } }\n",
    ));
    assert_eq!(e.field.as_deref(), Some("endpoints.api.provider_keys"));
    let e = one_error(&GOOD.replace(
        "kind = \"openai\"\n",
        "kind = \"openai\"\nanthropic_version = \"2023-06-01\"\n",
    ));
    assert_eq!(e.field.as_deref(), Some("endpoints.api.anthropic_version"));
}

#[test]
fn response_limits_reasoning_room_and_cache_prices_are_read_and_checked() {
    let c = parse(GOOD).unwrap();
    let ep = &c.endpoints["api"];
    assert_eq!(ep.max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES);
    assert_eq!(ep.max_line_bytes, DEFAULT_MAX_LINE_BYTES);
    assert_eq!(ep.reasoning_room_tokens, DEFAULT_REASONING_ROOM_TOKENS);
    let src = GOOD.replace(
        "kind = \"openai\"\n",
        "kind = \"openai\"\nmax_response_bytes = 4096\nmax_line_bytes = 512\nreasoning_room_tokens = 0\n",
    );
    let ep = &parse(&src).unwrap().endpoints["api"];
    assert_eq!(
        (
            ep.max_response_bytes,
            ep.max_line_bytes,
            ep.reasoning_room_tokens
        ),
        (4096, 512, 0)
    );
    for (bad, field) in [
        ("max_response_bytes = 0", "max_response_bytes"),
        ("max_line_bytes = -1", "max_line_bytes"),
        ("reasoning_room_tokens = -5", "reasoning_room_tokens"),
    ] {
        let e = one_error(&GOOD.replace(
            "kind = \"openai\"\n",
            &format!("kind = \"openai\"\n{bad}\n"),
        ));
        assert_eq!(e.field.as_deref(), Some(&*format!("endpoints.api.{field}")));
    }
    // Cache prices: on a table price, on an override, and refused without a price.
    let table = GOOD.replace(
        "[models.\"openai/gpt-4-0613\"]\n",
        "[models.\"openai/gpt-4-0613\"]\ncache_read_per_mtok = 0.5\n",
    );
    let p = parse(&table).unwrap().models[&ModelId::parse("openai/gpt-4-0613").unwrap()]
        .price
        .clone()
        .unwrap();
    assert_eq!(p.cache_read, Some(Rate::flat(0.5)));
    assert_eq!(p.input.base, 30.0);
    let over = GOOD.replace(
        "[models.\"openai/gpt-4-0613\"]\n",
        "[models.\"openai/gpt-4-0613\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\ncache_write_per_mtok = 1.25\n",
    );
    let p = parse(&over).unwrap().models[&ModelId::parse("openai/gpt-4-0613").unwrap()]
        .price
        .clone()
        .unwrap();
    assert_eq!(
        (p.cache_read, p.cache_write),
        (None, Some(Rate::flat(1.25)))
    );
    let unknown = GOOD.replace(
        "[models.\"openai/gpt-4-0613\"]\n",
        "[models.\"nobody/no-such-model-xyz\"]\nendpoint = \"api\"\ntier = \"budget\"\ncache_read_per_mtok = 0.5\n\n[models.\"openai/gpt-4-0613\"]\n",
    );
    let e = one_error(&unknown);
    assert_eq!(
        e.field.as_deref(),
        Some("models.nobody/no-such-model-xyz.cache_read_per_mtok")
    );
}

#[test]
fn promptster_provider_keys_and_no_streaming() {
    let promptster = GOOD.replace(
        "kind = \"openai\"\nbase_url = \"http://127.0.0.1:8088/v1\"",
        "kind = \"promptster\"\nbase_url = \"https://www.promptster.dev/v1\"\napi_key_env = \"PROMPTSTER_API_KEY\"",
    );
    let src = promptster.replace(
        "api_key_env = \"PROMPTSTER_API_KEY\"",
        "api_key_env = \"PROMPTSTER_API_KEY\"\n[endpoints.api.provider_keys]\nanthropic = { header = \"X-ANTHROPIC-API-KEY\", env = \"ANTHROPIC_API_KEY\" }",
    );
    let c = parse(&src).unwrap();
    assert_eq!(
        c.endpoints["api"].provider_keys["anthropic"],
        ProviderKey {
            header: "X-ANTHROPIC-API-KEY".into(),
            env: "ANTHROPIC_API_KEY".into()
        }
    );
    let e = one_error(&src.replace("X-ANTHROPIC-API-KEY", "X ANTHROPIC"));
    assert_eq!(
        e.field.as_deref(),
        Some("endpoints.api.provider_keys.anthropic")
    );
    let e = one_error(&promptster.replace(
        "api_key_env = \"PROMPTSTER_API_KEY\"",
        "api_key_env = \"PROMPTSTER_API_KEY\"\nstream = true",
    ));
    assert_eq!(e.field.as_deref(), Some("endpoints.api.stream"));
    assert!(e.message.contains("cannot stream"), "{e}");
}

#[test]
fn judge_and_policy_sections_are_checked() {
    let src = format!("{GOOD}\n[judge]\nmodel = \"openai/gpt-4-0613\"\n");
    let c = parse(&src).unwrap();
    let j = c.judge.unwrap();
    assert_eq!(j.model.as_str(), "openai/gpt-4-0613");
    assert!(j.prompt_template.contains("[[5]]"));
    let src =
        format!("{GOOD}\n[judge]\nmodel = \"openai/gpt-4-0613\"\nprompt = \"rate {{answer}}\"\n");
    let e = one_error(&src);
    assert_eq!(e.field.as_deref(), Some("judge.prompt"));
    assert!(e.message.contains("{prompt}"), "{e}");
    let src = format!("{GOOD}\n[judge]\nmodel = \"openai/nope\"\n");
    assert_eq!(one_error(&src).field.as_deref(), Some("judge.model"));
    let src = format!("{GOOD}\n[policy]\nmin_quality_effect = 2\n");
    let e = one_error(&src);
    assert_eq!(e.field.as_deref(), Some("policy.min_quality_effect"));
    assert_eq!(
        e.line,
        Some(
            src.lines()
                .position(|l| l.starts_with("min_quality"))
                .unwrap()
                + 1
        )
    );
}

#[test]
fn cross_tier_fallback_is_a_warning() {
    let src = GOOD.replace("tier = [\"frontier\", \"budget\"]", "tier = \"budget\"");
    let c = parse(&src).unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].message.contains("default"));
}

const SIM: &str = r#"
[endpoints.fake]
kind = "sim"
seed = 42
time_scale = 0
max_concurrency = 200

[models."sim/fast"]
endpoint = "fake"
tier = "budget"
sim = { p50_ms = 300, p95_ms = 900, error_rate = 0.02, rate_limited_rate = 0.01, quality = 0.6 }

[models."sim/slow"]
endpoint = "fake"
tier = "budget"
"#;

#[test]
fn a_sim_endpoint_and_its_profiles() {
    let c = parse(&format!("{GOOD}{SIM}")).unwrap();
    let ep = &c.endpoints["fake"];
    assert_eq!(
        (ep.kind, ep.seed, ep.time_scale),
        (EndpointKind::Sim, 42, 0.0)
    );
    assert!(!ep.kind.is_live());
    assert_eq!(ep.max_concurrency, 200);
    let fast = c.model(&ModelId::parse("sim/fast").unwrap());
    let p = fast.sim.as_ref().unwrap();
    assert_eq!((p.p50_ms, p.p95_ms, p.quality), (300.0, 900.0, 0.6));
    assert_eq!(p.output_tokens, SimProfile::default().output_tokens);
    // A model without a profile answers by the defaults.
    assert!(c.model(&ModelId::parse("sim/slow").unwrap()).sim.is_none());
    assert_eq!(c.endpoints["api"].time_scale, 1.0);
}

#[test]
fn bad_sim_fields_name_the_line_and_the_field() {
    let line_of =
        |src: &str, needle: &str| Some(src.lines().position(|l| l.contains(needle)).unwrap() + 1);
    let src = format!("{GOOD}{SIM}").replace("error_rate = 0.02", "error_rate = 1.5");
    let e = one_error(&src);
    assert_eq!(e.field.as_deref(), Some("models.sim/fast.sim.error_rate"));
    assert_eq!(e.line, line_of(&src, "error_rate = 1.5"));
    assert!(e.message.contains("1.5"), "{e}");

    let src = format!("{GOOD}{SIM}").replace("p95_ms = 900", "p95_ms = 100");
    let e = one_error(&src);
    assert_eq!(e.field.as_deref(), Some("models.sim/fast.sim.p95_ms"));

    let src = format!("{GOOD}{SIM}").replace("quality = 0.6", "qualty = 0.6");
    let e = one_error(&src);
    assert!(e.message.contains("qualty"), "{e}");
    assert_eq!(e.line, line_of(&src, "qualty"));

    let src = format!("{GOOD}{SIM}").replace("seed = 42", "seed = -1");
    assert_eq!(
        one_error(&src).field.as_deref(),
        Some("endpoints.fake.seed")
    );

    let src = format!("{GOOD}{SIM}").replace("time_scale = 0", "time_scale = -2");
    assert_eq!(
        one_error(&src).field.as_deref(),
        Some("endpoints.fake.time_scale")
    );

    // Sim settings on another kind of endpoint or model.
    let src = GOOD.replace("kind = \"openai\"", "kind = \"openai\"\nseed = 3");
    let e = one_error(&src);
    assert_eq!(e.field.as_deref(), Some("endpoints.api.seed"));
    assert_eq!(e.line, line_of(&src, "seed = 3"));
    let src = GOOD.replace(
        "tier = [\"frontier\", \"budget\"]",
        "tier = [\"frontier\", \"budget\"]\nsim = { quality = 0.5 }",
    );
    let e = one_error(&src);
    assert_eq!(e.field.as_deref(), Some("models.openai/gpt-4-0314.sim"));
    assert!(e.message.contains("openai endpoint"), "{e}");
}
