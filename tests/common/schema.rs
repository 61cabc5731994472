//! A JSON Schema (draft 2020-12) checker for the keywords routecal's published schemas use:
//! `type` (a name or a list), `enum`, `pattern`, `minimum`, `minLength`, `minItems`, `items`,
//! `properties`, `required`, `additionalProperties: false`, `not`, `anyOf`, and `$ref` to
//! `#/$defs/…`. It checks every published schema (`schema/report.schema.json`,
//! `schema/route-log.schema.json`).
//! Any other keyword in a schema is refused, so a schema cannot silently ask for more than is
//! checked. (The `jsonschema` crate turns on serde_json's `float_roundtrip` feature, which would
//! change how the binary under test parses numbers: test builds would no longer run the
//! shipped parser.)

use serde_json::Value;

const KNOWN: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "enum",
    "pattern",
    "minimum",
    "minLength",
    "minItems",
    "items",
    "properties",
    "required",
    "additionalProperties",
    "not",
    "anyOf",
];

/// The errors of `v` against `schema` (empty when valid), each with its JSON path.
pub fn errors(schema: &Value, v: &Value) -> Vec<String> {
    violations(schema, schema, v, "$")
}

/// The errors of `v` against `sub`, a sub-schema of `root` (its `$ref`s resolve in `root`).
pub fn violations(root: &Value, sub: &Value, v: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    check(root, sub, v, path, &mut out);
    out
}

/// Assert that `v` is valid against `#/$defs/<def>` of `schema` (the root for `None`).
pub fn assert_valid(schema: &Value, def: Option<&str>, v: &Value, what: &str) {
    let sub = match def {
        Some(d) => &schema["$defs"][d],
        None => schema,
    };
    assert!(!sub.is_null(), "no schema for {def:?}");
    let errors = violations(schema, sub, v, "$");
    assert!(errors.is_empty(), "{what}:\n{}", errors.join("\n"));
}

fn check(root: &Value, s: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let Some(s) = s.as_object() else {
        return out.push(format!("{at}: the schema is not an object"));
    };
    if let Some(k) = s.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return out.push(format!(
            "{at}: keyword {k} is not supported by this checker"
        ));
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("$ref to #/$defs/");
        check(root, &root["$defs"][name], v, at, out);
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            other => vec![other.as_str().unwrap_or("")],
        };
        if !types.iter().any(|t| is_type(v, t)) {
            out.push(format!("{at}: {v} is not of type {types:?}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        out.push(format!("{at}: {v} is not one of {e:?}"));
    }
    if let (Some(p), Some(text)) = (s.get("pattern").and_then(Value::as_str), v.as_str())
        && !regex::Regex::new(p).unwrap().is_match(text)
    {
        out.push(format!("{at}: {text:?} does not match {p}"));
    }
    if let (Some(m), Some(x)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
        && x < m
    {
        out.push(format!("{at}: {x} < {m}"));
    }
    if let (Some(m), Some(text)) = (s.get("minLength").and_then(Value::as_u64), v.as_str())
        && (text.chars().count() as u64) < m
    {
        out.push(format!("{at}: shorter than {m}"));
    }
    if let Some(a) = v.as_array() {
        if let Some(m) = s.get("minItems").and_then(Value::as_u64)
            && (a.len() as u64) < m
        {
            out.push(format!("{at}: fewer than {m} items"));
        }
        if let Some(item) = s.get("items") {
            for (i, x) in a.iter().enumerate() {
                check(root, item, x, &format!("{at}[{i}]"), out);
            }
        }
    }
    if let Some(o) = v.as_object() {
        check_object(root, s, o, at, out);
    }
    if let Some(alts) = s.get("anyOf").and_then(Value::as_array)
        && alts.iter().all(|a| !violations(root, a, v, at).is_empty())
    {
        out.push(format!("{at}: matches none of anyOf"));
    }
    if let Some(n) = s.get("not")
        && violations(root, n, v, at).is_empty()
    {
        out.push(format!("{at}: matches the schema it must not: {n}"));
    }
}

fn check_object(
    root: &Value,
    s: &serde_json::Map<String, Value>,
    o: &serde_json::Map<String, Value>,
    at: &str,
    out: &mut Vec<String>,
) {
    let props = s.get("properties").and_then(Value::as_object);
    for r in s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let r = r.as_str().unwrap_or("");
        if !o.contains_key(r) {
            out.push(format!("{at}: {r} is required"));
        }
    }
    for (k, x) in o {
        match props.and_then(|p| p.get(k)) {
            Some(ps) => check(root, ps, x, &format!("{at}.{k}"), out),
            None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                out.push(format!("{at}: {k} is not allowed"))
            }
            None => {}
        }
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

#[test]
fn the_checker_applies_each_keyword() {
    let s = serde_json::json!({
        "type": "object", "additionalProperties": false, "required": ["a"],
        "properties": {"a": {"$ref": "#/$defs/small"}, "b": {"type": ["string", "null"], "pattern": "^x", "minLength": 2},
                       "c": {"type": "array", "minItems": 1, "items": {"enum": [1, 2]}}},
        "not": {"required": ["b", "c"]},
        "anyOf": [{"required": ["a"]}, {"required": ["c"]}],
        "$defs": {"small": {"type": "number", "minimum": 0}}
    });
    assert!(errors(&s, &serde_json::json!({"a": 1, "b": "xy"})).is_empty());
    assert!(
        errors(&s, &serde_json::json!({"a": 1, "b": null, "c": [2]})).len() == 1,
        "not"
    );
    for bad in [
        serde_json::json!({}),
        serde_json::json!({"a": -1}),
        serde_json::json!({"a": "1"}),
        serde_json::json!({"a": 1, "b": "ya"}),
        serde_json::json!({"a": 1, "b": "x"}),
        serde_json::json!({"a": 1, "c": []}),
        serde_json::json!({"a": 1, "c": [3]}),
        serde_json::json!({"a": 1, "d": 0}),
    ] {
        assert!(!errors(&s, &bad).is_empty(), "{bad}");
    }
    assert!(
        !errors(
            &serde_json::json!({"format": "date"}),
            &serde_json::json!("x")
        )
        .is_empty()
    );
}
