//! The workflow model (SPEC §3, §6, §7): serde types for definitions and nodes, decoding with
//! every problem reported, semantic validation, write-only secrets, and execution/job statuses.

mod decode;
mod node;
mod secrets;
mod status;
mod validate;
mod workflow;

pub use decode::{decode_workflow, Problem};
pub use node::{
    CalculationConfig, CalculationEngine, CalculationGroup, CalculationItem, ConditionBranches,
    ConditionConfig, ConditionEngine, EndConfig, GroupBody, GroupType, Node, NodeKind, ResponseConfig,
};
pub use secrets::MASK;
pub use status::{ExecutionStatus, Mode};
pub use validate::{is_valid_header_name, is_valid_header_value, is_valid_workflow_key};
pub use workflow::{
    BasicAuthentication, FieldMapping, Header, RequestParsing, Trigger, TriggerResponse, WorkflowDefinition,
    WorkflowOptions,
};
