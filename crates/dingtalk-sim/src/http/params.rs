//! Reading request bodies the way DingTalk does: a JSON object whose fields are checked one by
//! one, each failure naming the field and what was expected. Nothing here panics on input.

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{Map, Value};

use crate::world::TZ_OFFSET_MS;

/// A parsed JSON object body.
pub(crate) struct Params(Map<String, Value>);

pub(crate) type Check<T> = Result<T, String>;

impl Params {
    pub fn parse(body: &[u8]) -> Check<Params> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err("request body is empty: expected a JSON object".into());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Params(map)),
            Ok(other) => Err(format!(
                "request body is {}: expected a JSON object",
                kind(&other)
            )),
            Err(err) => Err(format!(
                "request body is not valid JSON ({err}): expected a JSON object"
            )),
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub fn str(&self, key: &str) -> Check<&str> {
        self.opt_str(key)?.ok_or_else(|| missing(key, "a string"))
    }

    pub fn opt_str(&self, key: &str) -> Check<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong(key, other, "a string")),
        }
    }

    pub fn i64(&self, key: &str) -> Check<i64> {
        self.opt_i64(key)?.ok_or_else(|| missing(key, "an integer"))
    }

    pub fn opt_i64(&self, key: &str) -> Check<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("field `{key}` is {n}: expected an integer")),
            Some(other) => Err(wrong(key, other, "an integer")),
        }
    }

    /// The raw value, for fields whose type decides the error (e.g. `nextToken`).
    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }

    pub fn str_list(&self, key: &str) -> Check<Vec<String>> {
        self.opt_str_list(key)?
            .ok_or_else(|| missing(key, "a list of strings"))
    }

    pub fn opt_str_list(&self, key: &str) -> Check<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(format!(
                        "field `{key}` holds {}: expected a list of strings",
                        kind(other)
                    )),
                })
                .collect::<Check<Vec<_>>>()
                .map(Some),
            Some(other) => Err(wrong(key, other, "a list of strings")),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Check<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong(key, other, "a boolean")),
        }
    }

    /// A local `yyyy-MM-dd HH:mm:ss` field, as epoch ms.
    pub fn local_datetime(&self, key: &str) -> Check<i64> {
        let raw = self.str(key)?;
        NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S")
            .map(|t| t.and_utc().timestamp_millis() - TZ_OFFSET_MS)
            .map_err(|_| format!("field `{key}` is {raw:?}: expected \"yyyy-MM-dd HH:mm:ss\""))
    }

    /// The date part of a local `yyyy-MM-dd HH:mm:ss` field (the time is ignored).
    pub fn local_date(&self, key: &str) -> Check<NaiveDate> {
        let raw = self.str(key)?;
        NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S")
            .map(|t| t.date())
            .map_err(|_| format!("field `{key}` is {raw:?}: expected \"yyyy-MM-dd HH:mm:ss\""))
    }
}

fn missing(key: &str, expected: &str) -> String {
    format!("field `{key}` is missing: expected {expected}")
}

fn wrong(key: &str, value: &Value, expected: &str) -> String {
    format!("field `{key}` is {}: expected {expected}", kind(value))
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
