//! `calculation`: evaluates an expression with the engine it names (`expression`, Hookflow's
//! own; `math.js`; `formula.js`); the value is the result.

use hookflow_shared::engines::js::JsEngine;
use hookflow_shared::expression;
use hookflow_shared::model::{CalculationConfig, CalculationEngine};
use hookflow_shared::template::Variables;

use super::{scripted, Next, NodeResult};

pub fn run<'n>(key: &str, config: &CalculationConfig, variables: &Variables<'_>) -> NodeResult<'n> {
    let value = match config.engine {
        CalculationEngine::Expression => expression::evaluate(&config.expression, variables),
        CalculationEngine::MathJs => scripted::evaluate(JsEngine::MathJs, &config.expression, variables),
        CalculationEngine::FormulaJs => {
            scripted::evaluate(JsEngine::FormulaJs, &config.expression, variables)
        }
    };
    match value {
        Ok(value) => NodeResult::resolved(value, Next::Continue),
        Err(message) => NodeResult::error(key, message),
    }
}
