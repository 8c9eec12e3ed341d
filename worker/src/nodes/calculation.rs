//! `calculation`: evaluates an expression on the rendered variables; the value is the result.

use hookflow_shared::expression;
use hookflow_shared::model::CalculationConfig;
use hookflow_shared::template::Variables;

use super::{Next, NodeResult};

pub fn run<'n>(key: &str, config: &CalculationConfig, variables: &Variables<'_>) -> NodeResult<'n> {
    match expression::evaluate(&config.expression, variables) {
        Ok(value) => NodeResult::resolved(value, Next::Continue),
        Err(message) => NodeResult::error(key, message),
    }
}
