//! A workflow definition as users write it (JSON or YAML) and as the admin API returns it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::node::Node;
use crate::idempotency::IdempotencySpec;
use crate::signature::SignatureSpec;

/// One workflow version's definition (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowDefinition {
    /// Stable across versions; the webhook URL's last segment. Generated when omitted.
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub title: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Sync: the caller waits for a Response node. Async: answered at once with `trigger.response`.
    #[serde(default)]
    pub sync: bool,
    #[serde(default)]
    pub options: WorkflowOptions,
    pub trigger: Trigger,
    #[serde(default)]
    pub nodes: Vec<Node>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowOptions {
    /// Milliseconds an execution may take, 0 = no limit; past it the execution is aborted.
    #[serde(default)]
    pub timeout: u64,
}

/// The webhook trigger's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Trigger {
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    #[serde(default, with = "basic_auth_or_false")]
    pub basic_authentication: Option<BasicAuthentication>,
    #[serde(default)]
    pub request: RequestParsing,
    #[serde(default)]
    pub response: TriggerResponse,
    /// Checked on the raw body before parsing (SPEC §3.1); `null` or absent: none.
    #[serde(default)]
    pub signature: Option<SignatureSpec>,
    /// Which value names a call, so that retries start one execution (SPEC §3.1).
    #[serde(default)]
    pub idempotency: Option<IdempotencySpec>,
    /// CIDRs or addresses the caller must come from (SPEC §3.1); empty: anyone.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    Webhook,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthentication {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for BasicAuthentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuthentication").field("username", &self.username).finish_non_exhaustive()
    }
}

/// `basicAuthentication` is `false`, `null`, absent, or `{username, password}`.
mod basic_auth_or_false {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::BasicAuthentication;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Off(bool),
        On(BasicAuthentication),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BasicAuthentication>, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            None | Some(Raw::Off(false)) => Ok(None),
            Some(Raw::Off(true)) => {
                Err(serde::de::Error::custom("basicAuthentication must be false or {username, password}"))
            }
            Some(Raw::On(auth)) => Ok(Some(auth)),
        }
    }

    pub fn serialize<S: Serializer>(value: &Option<BasicAuthentication>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            None => false.serialize(s),
            Some(auth) => auth.serialize(s),
        }
    }
}

/// Which request parts are mapped to named variables (all of the request is in `$context`
/// regardless).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestParsing {
    #[serde(default)]
    pub headers: Vec<FieldMapping>,
    #[serde(default)]
    pub query: Vec<FieldMapping>,
    #[serde(default)]
    pub body: Vec<FieldMapping>,
    /// Keep the body text as `$context.rawBody` even when it was read as JSON or a form.
    #[serde(default, rename = "rawBody", skip_serializing_if = "std::ops::Not::not")]
    pub raw_body: bool,
}

/// `{key, alias?, _var?}`: the value at `key` is also stored under `_var`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default, rename = "_var", skip_serializing_if = "Option::is_none")]
    pub var: Option<String>,
}

/// The immediate answer of an async workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerResponse {
    #[serde(default = "default_status")]
    pub status_code: u16,
    #[serde(default)]
    pub headers: Vec<Header>,
    #[serde(default = "default_body")]
    pub body: Value,
}

fn default_status() -> u16 {
    200
}

fn default_body() -> Value {
    Value::String("ok".into())
}

impl Default for TriggerResponse {
    fn default() -> Self {
        Self { status_code: default_status(), headers: Vec::new(), body: default_body() }
    }
}

/// A response header; the value may be templated (Response nodes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub name: String,
    pub value: String,
}
