//! Expressions of the `math.js` and `formula.js` engines, as NocoBase evaluates them: each
//! `{{path}}` bound as a variable holding the path's value (null when there is none), the
//! expression run by the real library in the embedded JavaScript runtime.

use hookflow_shared::engines::bind_placeholders;
use hookflow_shared::engines::js::{self, JsEngine};
use hookflow_shared::template::Variables;
use serde_json::{Map, Value};

/// The expression's value, or the message the job ends in `error` with.
pub fn evaluate(engine: JsEngine, expression: &str, variables: &Variables<'_>) -> Result<Value, String> {
    let bound = bind_placeholders(expression);
    let mut values = Map::with_capacity(bound.paths.len());
    for (index, path) in bound.paths.iter().enumerate() {
        let value = variables.resolve(path).map(std::borrow::Cow::into_owned).unwrap_or(Value::Null);
        values.insert(format!("$${index}"), value);
    }
    js::evaluate(engine, &bound.source, &values).map_err(|error| error.to_string())
}
