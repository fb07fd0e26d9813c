//! A `serde_json` value seen through `core::estimate::JsonView`, as the Wasm driver shows it a
//! value from `JSON.parse`.

use llm_pacer::core::estimate::{JsonView, Shape};
use serde_json::Value;

/// A borrowed JSON value.
#[derive(Debug, Clone, Copy)]
pub struct J<'a>(pub &'a Value);

impl<'a> JsonView for J<'a> {
    fn shape(&self) -> Shape<J<'a>> {
        match self.0 {
            Value::Null => Shape::Null,
            Value::Bool(b) => Shape::Bool(*b),
            Value::Number(n) => n.as_f64().map_or(Shape::Null, Shape::Number),
            Value::String(s) => Shape::Str(s.clone()),
            Value::Array(a) => Shape::Array(a.iter().map(J).collect()),
            Value::Object(o) => Shape::Object(o.iter().map(|(k, v)| (k.clone(), J(v))).collect()),
        }
    }
}
