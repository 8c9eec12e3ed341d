//! Evaluates a compiled expression. For NocoBase's `math.js` and `formula.js` engines, each
//! `{{path}}` is bound as a variable holding the path's value (null when there is none) and the
//! expression is run by the real library in the embedded JavaScript runtime.

use hookflow_shared::compiled::Evaluation;
use hookflow_shared::engines::js;
use hookflow_shared::expression;
use hookflow_shared::template::Variables;
use serde_json::{Map, Value};

/// The expression's value, or the message the job ends in `error` with.
pub fn evaluate(evaluation: &Evaluation, variables: &Variables<'_>) -> Result<Value, String> {
    match evaluation {
        Evaluation::Native(compiled) => expression::evaluate(compiled, variables),
        Evaluation::Script { engine, source, paths } => {
            let mut values = Map::with_capacity(paths.len());
            for (index, path) in paths.iter().enumerate() {
                let value = variables.resolve(path).into_json().unwrap_or(Value::Null);
                values.insert(format!("$${index}"), value);
            }
            js::evaluate(*engine, source, &values).map_err(|error| error.to_string())
        }
        Evaluation::Invalid(message) => Err(message.clone()),
    }
}
