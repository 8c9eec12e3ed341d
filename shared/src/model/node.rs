//! Node kinds (SPEC §6) as one `#[serde(tag = "type")]` enum: a workflow graph describes itself.
//! Branching nodes hold labelled sequences of their own.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::status::ExecutionStatus;
use super::workflow::Header;

/// One node of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Node {
    /// Tests a calculation; runs `branches.true` / `.false`, or fails the execution
    /// (`rejectOnFalse`).
    Condition {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        config: ConditionConfig,
        #[serde(default, skip_serializing_if = "ConditionBranches::is_empty")]
        branches: ConditionBranches,
    },
    /// Evaluates an expression; its value is the job result.
    Calculation {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        config: CalculationConfig,
    },
    /// Answers a sync caller and ends the execution.
    Response {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        config: ResponseConfig,
    },
    /// Ends the whole execution with `endStatus`.
    End {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default)]
        config: EndConfig,
    },
}

/// The kinds of node, without their settings: what records, metrics and messages name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    Condition,
    Calculation,
    Response,
    End,
}

impl NodeKind {
    /// Every kind, in the order messages list them.
    pub const ALL: [NodeKind; 4] =
        [NodeKind::Condition, NodeKind::Calculation, NodeKind::Response, NodeKind::End];

    /// The `type` of a node of this kind.
    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Condition => "condition",
            NodeKind::Calculation => "calculation",
            NodeKind::Response => "response",
            NodeKind::End => "end",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The labels of the branches a node of this kind may hold.
    pub fn branch_labels(self) -> &'static [&'static str] {
        match self {
            NodeKind::Condition => &["true", "false"],
            NodeKind::Calculation | NodeKind::Response | NodeKind::End => &[],
        }
    }
}

impl Node {
    pub fn key(&self) -> &str {
        match self {
            Node::Condition { key, .. }
            | Node::Calculation { key, .. }
            | Node::Response { key, .. }
            | Node::End { key, .. } => key,
        }
    }

    pub fn title(&self) -> Option<&str> {
        match self {
            Node::Condition { title, .. }
            | Node::Calculation { title, .. }
            | Node::Response { title, .. }
            | Node::End { title, .. } => title.as_deref(),
        }
    }

    pub fn kind(&self) -> NodeKind {
        match self {
            Node::Condition { .. } => NodeKind::Condition,
            Node::Calculation { .. } => NodeKind::Calculation,
            Node::Response { .. } => NodeKind::Response,
            Node::End { .. } => NodeKind::End,
        }
    }

    pub fn type_name(&self) -> &'static str {
        self.kind().name()
    }

    /// The labelled sequences under this node, in a fixed order.
    pub fn branches(&self) -> Vec<(&'static str, &[Node])> {
        match self {
            Node::Condition { branches, .. } => {
                vec![("true", branches.on_true.as_slice()), ("false", branches.on_false.as_slice())]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_name() {
        for kind in NodeKind::ALL {
            assert_eq!(NodeKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(NodeKind::from_name("loop"), None);
    }
}

/// `branches` of a condition node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionBranches {
    #[serde(rename = "true", default, skip_serializing_if = "Vec::is_empty")]
    pub on_true: Vec<Node>,
    #[serde(rename = "false", default, skip_serializing_if = "Vec::is_empty")]
    pub on_false: Vec<Node>,
}

impl ConditionBranches {
    pub fn is_empty(&self) -> bool {
        self.on_true.is_empty() && self.on_false.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionConfig {
    /// True: a false result fails the execution. False: branch mode.
    #[serde(default)]
    pub reject_on_false: bool,
    #[serde(default)]
    pub engine: ConditionEngine,
    /// Used by the `basic` engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calculation: Option<CalculationGroup>,
    /// Used by the `expression`, `math.js` and `formula.js` engines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionEngine {
    #[default]
    Basic,
    Expression,
    /// NocoBase's math.js engine: the real library, in the embedded JavaScript runtime.
    #[serde(rename = "math.js")]
    MathJs,
    /// NocoBase's formula.js engine: JavaScript with formula.js's functions.
    #[serde(rename = "formula.js")]
    FormulaJs,
}

/// `{group: {type, calculations}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalculationGroup {
    pub group: GroupBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    #[serde(rename = "type", default)]
    pub kind: GroupType,
    #[serde(default)]
    pub calculations: Vec<CalculationItem>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupType {
    #[default]
    And,
    Or,
}

/// One entry of a group: a comparison `{calculator, operands}` or a nested `{group}`.
/// Kept as one struct (not an untagged enum) so a mistake gets a precise message; validation
/// checks that exactly one form is used. The calculator name is checked when the node runs:
/// an unknown one makes the job end in `error` (SPEC §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalculationItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calculator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operands: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupBody>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalculationConfig {
    #[serde(default)]
    pub engine: CalculationEngine,
    pub expression: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalculationEngine {
    #[default]
    Expression,
    /// NocoBase's math.js engine: the real library, in the embedded JavaScript runtime.
    #[serde(rename = "math.js")]
    MathJs,
    /// NocoBase's formula.js engine: JavaScript with formula.js's functions.
    #[serde(rename = "formula.js")]
    FormulaJs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseConfig {
    #[serde(default = "default_status")]
    pub status_code: u16,
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Any JSON, templated. A string is sent as text/plain, anything else as JSON.
    #[serde(default)]
    pub body: Value,
}

fn default_status() -> u16 {
    200
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndConfig {
    /// `resolved` (1) or `failed` (-1).
    #[serde(default = "default_end_status")]
    pub end_status: ExecutionStatus,
}

fn default_end_status() -> ExecutionStatus {
    ExecutionStatus::Resolved
}

impl Default for EndConfig {
    fn default() -> Self {
        Self { end_status: default_end_status() }
    }
}
