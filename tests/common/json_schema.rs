//! A small JSON Schema validator for the subset `schema/report.schema.json` uses: `type` (one or
//! a list), `enum`, `minimum`, `properties`, `required`, `additionalProperties: false`, `items`,
//! `anyOf` and local `$ref`s (`#/$defs/name`). Every violation is listed with its JSON path.

use serde_json::Value;

/// The violations of `v` against `schema` (a sub-schema of `root`), each as "path: problem".
pub fn violations(root: &Value, schema: &Value, v: &Value, path: &str) -> Vec<String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("only local $defs refs");
        let target = &root["$defs"][name];
        assert!(!target.is_null(), "{path}: unknown $ref {r}");
        return violations(root, target, v, path);
    }
    if let Some(alts) = schema.get("anyOf").and_then(Value::as_array) {
        if alts
            .iter()
            .all(|s| !violations(root, s, v, path).is_empty())
        {
            return vec![format!("{path}: matches none of anyOf")];
        }
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("{path}: bad type {t}"),
        };
        if !types.iter().any(|t| is_type(v, t)) {
            return vec![format!("{path}: {v} is not {types:?}")];
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        out.push(format!("{path}: {v} is not one of {e:?}"));
    }
    if let (Some(min), Some(x)) = (schema.get("minimum").and_then(Value::as_f64), v.as_f64())
        && x < min
    {
        out.push(format!("{path}: {x} < {min}"));
    }
    if let Some(o) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !o.contains_key(r) {
                out.push(format!("{path}: missing {r}"));
            }
        }
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(s) => out.extend(violations(root, s, x, &format!("{path}.{k}"))),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    out.push(format!("{path}: unexpected field {k}"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(a)) = (schema.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            out.extend(violations(root, items, x, &format!("{path}[{i}]")));
        }
    }
    out
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_u64() || v.is_i64(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => panic!("unknown type {t}"),
    }
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
