//! `calculation`: evaluates its compiled expression (`expression`, Hookflow's own engine;
//! `math.js`; `formula.js`); the value is the result.

use hookflow_shared::compiled::Evaluation;
use hookflow_shared::template::Variables;

use super::{scripted, Next, NodeResult};

pub fn run<'n>(key: &str, evaluation: &Evaluation, variables: &Variables<'_>) -> NodeResult<'n> {
    match scripted::evaluate(evaluation, variables) {
        Ok(value) => NodeResult::resolved(value, Next::Continue),
        Err(message) => NodeResult::error(key, message),
    }
}
