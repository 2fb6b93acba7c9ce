//! Reading typed values out of `folio:platform/sql` result rows.

use crate::Value;

/// Text, timestamp and JSON columns as they are; integers in decimal; anything else empty.
pub fn text(v: &Value) -> String {
    match v {
        Value::Text(s) | Value::Timestamp(s) | Value::Json(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        _ => String::new(),
    }
}

pub fn optional_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        other => Some(text(other)),
    }
}

/// SQLite has no boolean column type, so booleans read back as integers there.
pub fn integer(v: &Value) -> i64 {
    match v {
        Value::Integer(i) => *i,
        Value::Boolean(b) => i64::from(*b),
        _ => 0,
    }
}

pub fn optional_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Null => None,
        other => Some(integer(other)),
    }
}

pub fn real(v: &Value) -> f64 {
    match v {
        Value::Real(r) => *r,
        Value::Integer(i) => *i as f64,
        _ => 0.0,
    }
}

pub fn boolean(v: &Value) -> bool {
    integer(v) != 0
}

/// `$1, $2, …` for an `IN (…)` list of `ids`, and the text parameters that fill it.
pub fn text_in_list(ids: &[String]) -> (String, Vec<Value>) {
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let params = ids.iter().map(|id| Value::Text(id.clone())).collect();
    (placeholders.join(", "), params)
}
