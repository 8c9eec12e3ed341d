//! Fuzzes workflow decoding and validation (`hookflow_shared::model::decode_workflow`) on
//! definitions read from the input as JSON and as YAML, the two forms the admin API and
//! workflow files accept.
//!
//! Input: a JSON or YAML document (both readings are tried).
#![no_main]

use hookflow_shared::model::decode_workflow;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        check(value);
    }
    if let Ok(value) = serde_yaml::from_slice::<Value>(data) {
        check(value);
    }
});

/// Decodes `value`; a definition that decodes must survive being sent back as the admin API
/// returns it, and a refusal must say why.
fn check(value: Value) {
    match decode_workflow(value) {
        Ok(definition) => {
            let returned = serde_json::to_value(&definition).expect("a definition serializes");
            match decode_workflow(returned.clone()) {
                Ok(again) => assert_eq!(again, definition, "round trip changed {returned}"),
                Err(problems) => panic!("{returned} was accepted once, then refused: {problems:?}"),
            }
        }
        Err(problems) => assert!(!problems.is_empty(), "refused without a problem"),
    }
}
