//! A validator for the part of JSON Schema (2020-12) that `assets/transcript.schema.json`
//! uses: `type`, `properties`, `required`, `additionalProperties`, `items`, `$ref` into
//! `$defs`, `anyOf`, `enum`, `const`, `minimum` and `pattern`. Any other keyword makes it fail,
//! so the schema cannot silently use something this check ignores.

use serde_json::Value;

const KNOWN: [&str; 16] = [
    "$schema",
    "$id",
    "$defs",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "$ref",
    "anyOf",
    "enum",
    "const",
    "minimum",
    "pattern",
];

/// Every place where `instance` does not conform to `schema`, as `path: problem`.
pub fn validate(schema: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, instance, "$", &mut errors);
    errors
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn check(root: &Value, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        if schema != &Value::Bool(true) {
            errors.push(format!("{path}: schema is not an object"));
        }
        return;
    };
    for key in s.keys() {
        if !KNOWN.contains(&key.as_str()) {
            errors.push(format!("{path}: the schema uses unsupported keyword {key}"));
        }
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        match r
            .strip_prefix("#/$defs/")
            .and_then(|name| root.get("$defs").and_then(|d| d.get(name)))
        {
            Some(target) => check(root, target, v, path, errors),
            None => errors.push(format!("{path}: unresolved $ref {r}")),
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        let ok = any.iter().any(|alt| {
            let mut e = Vec::new();
            check(root, alt, v, path, &mut e);
            e.is_empty()
        });
        if !ok {
            errors.push(format!("{path}: matches none of anyOf"));
        }
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(name) => type_matches(name, v),
            Value::Array(names) => names
                .iter()
                .filter_map(Value::as_str)
                .any(|n| type_matches(n, v)),
            _ => false,
        };
        if !ok {
            errors.push(format!("{path}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !v.is_null()
        && !e.contains(v)
    {
        errors.push(format!("{path}: {v} is not one of {e:?}"));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        errors.push(format!("{path}: {v} is not {c}"));
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
        && n < min
    {
        errors.push(format!("{path}: {n} is below {min}"));
    }
    if let (Some(p), Some(text)) = (s.get("pattern").and_then(Value::as_str), v.as_str()) {
        match regex::Regex::new(p) {
            Ok(re) if re.is_match(text) => {}
            Ok(_) => errors.push(format!("{path}: {text:?} does not match {p}")),
            Err(e) => errors.push(format!("{path}: bad pattern {p}: {e}")),
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    errors.push(format!("{path}: missing required {r}"));
                }
            }
        }
        for (k, val) in obj {
            let sub = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(root, ps, val, &sub, errors),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{path}: property {k} is not in the schema"))
                    }
                    Some(extra) => check(root, extra, val, &sub, errors),
                    None => {}
                },
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            check(root, items, item, &format!("{path}[{i}]"), errors);
        }
    }
}

#[test]
fn the_validator_notices_violations() {
    let schema = serde_json::json!({
        "type": "object", "additionalProperties": false, "required": ["a", "b"],
        "properties": {
            "a": {"type": "integer", "minimum": 0},
            "b": {"anyOf": [{"$ref": "#/$defs/x"}, {"type": "null"}]},
            "c": {"type": "string", "enum": ["p", "q"], "pattern": "^p$"}
        },
        "$defs": {"x": {"type": "array", "items": {"type": "boolean"}}}
    });
    assert!(validate(&schema, &serde_json::json!({"a": 1, "b": [true], "c": "p"})).is_empty());
    assert!(validate(&schema, &serde_json::json!({"a": 1, "b": null})).is_empty());
    for bad in [
        serde_json::json!({"a": -1, "b": null}),
        serde_json::json!({"a": 1}),
        serde_json::json!({"a": 1, "b": [1]}),
        serde_json::json!({"a": 1, "b": null, "c": "q"}),
        serde_json::json!({"a": 1, "b": null, "z": 0}),
        serde_json::json!({"a": "1", "b": null}),
    ] {
        assert!(!validate(&schema, &bad).is_empty(), "{bad}");
    }
    let unknown = serde_json::json!({"type": "string", "format": "date-time"});
    assert!(!validate(&unknown, &serde_json::json!("x")).is_empty());
}
