//! Idempotency keys (SPEC §3.1): which value of a call names it, so that a provider's retries
//! of one callback start one execution. `trigger.idempotency` is `true` (the signature
//! preset's delivery id) or `{from, key, ttl}`; [`IdempotencyRule`] is its compiled form, and
//! [`IdempotencyRule::key_of`] reads the key out of a call's `$context`.
//!
//! Claiming a key is the storage's and the ingress's job; this module only names it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::Problem;
use crate::path::Path;
use crate::signature::Preset;

/// Default time a key is remembered: a day (providers retry for hours).
pub const DEFAULT_TTL: u64 = 86_400;
/// Longest time a key is remembered: 30 days.
pub const MAX_TTL: u64 = 30 * 86_400;
/// Longest key value kept; a longer value is refused as a key (the call runs normally).
pub const MAX_KEY_BYTES: usize = 1024;

fn default_ttl() -> u64 {
    DEFAULT_TTL
}

/// Where the key is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    Header,
    Body,
    Query,
}

/// `trigger.idempotency` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IdempotencySpec {
    /// `true`: the signature preset's delivery id, kept for a day.
    Preset(bool),
    Explicit(ExplicitKey),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplicitKey {
    pub from: KeySource,
    /// A header name, or a path into the body or the query.
    pub key: String,
    #[serde(default = "default_ttl")]
    pub ttl: u64,
}

/// Where a call's key is and how long it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRule {
    pub from: KeySource,
    /// Lower-cased for headers.
    pub key: String,
    pub ttl: u64,
    /// `key` parsed once, for body and query keys.
    path: Path,
}

const PATH: &str = "trigger.idempotency";

impl IdempotencyRule {
    pub fn new(from: KeySource, key: String, ttl: u64) -> Self {
        let path = Path::parse(&key);
        Self { from, key, ttl, path }
    }

    /// Checks the settings against the workflow's signature preset (`true` needs one with a
    /// delivery id); `Ok(None)` for `false`.
    pub fn compile(spec: &IdempotencySpec, preset: Option<Preset>) -> Result<Option<Self>, Vec<Problem>> {
        match spec {
            IdempotencySpec::Preset(false) => Ok(None),
            IdempotencySpec::Preset(true) => {
                let (from, key) = match preset {
                    Some(Preset::Stripe) => (KeySource::Body, "id"),
                    Some(Preset::Github) => (KeySource::Header, "x-github-delivery"),
                    Some(Preset::Shopify) => (KeySource::Header, "x-shopify-event-id"),
                    Some(Preset::StandardWebhooks) => (KeySource::Header, "webhook-id"),
                    _ => {
                        return Err(vec![Problem::new(
                            PATH,
                            "true takes the delivery id of the stripe, github, shopify or standard-webhooks \
                             signature preset; name the key with {from, key, ttl}",
                        )])
                    }
                };
                Ok(Some(Self::new(from, key.to_owned(), DEFAULT_TTL)))
            }
            IdempotencySpec::Explicit(explicit) => {
                let mut problems = Vec::new();
                let key = explicit.key.trim();
                if key.is_empty() {
                    problems.push(Problem::new(format!("{PATH}.key"), "must not be empty"));
                } else if explicit.from == KeySource::Header && !crate::model::is_valid_header_name(key) {
                    problems.push(Problem::new(format!("{PATH}.key"), format!("not a header name: {key:?}")));
                }
                if explicit.ttl == 0 || explicit.ttl > MAX_TTL {
                    problems.push(Problem::new(
                        format!("{PATH}.ttl"),
                        format!("must be between 1 and {MAX_TTL} seconds"),
                    ));
                }
                if !problems.is_empty() {
                    return Err(problems);
                }
                let key = if explicit.from == KeySource::Header {
                    key.to_ascii_lowercase()
                } else {
                    key.to_owned()
                };
                Ok(Some(Self::new(explicit.from, key, explicit.ttl)))
            }
        }
    }

    /// The key of a call, from its `$context`: a string as it is, a number or boolean as
    /// written; absent, null, empty, an object or array, or longer than [`MAX_KEY_BYTES`]:
    /// no key (the call is processed normally).
    pub fn key_of(&self, context: &Value) -> Option<String> {
        let value = match self.from {
            KeySource::Header => context.get("headers")?.get(&self.key),
            KeySource::Body => self.path.get(context.get("body")?),
            KeySource::Query => self.path.get(context.get("query")?),
        }?;
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            Value::Null | Value::Array(_) | Value::Object(_) => return None,
        };
        (!text.is_empty() && text.len() <= MAX_KEY_BYTES).then_some(text)
    }
}

/// What keys are stored under: a hash of the workflow and the key, so neither the key's length
/// nor its bytes reach the database or Redis.
pub fn key_hash(workflow_key: &str, key: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(workflow_key.as_bytes());
    digest.update([0]);
    digest.update(key.as_bytes());
    hex::encode(digest.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(spec: Value, preset: Option<Preset>) -> Result<Option<IdempotencyRule>, Vec<Problem>> {
        IdempotencyRule::compile(&serde_json::from_value(spec).unwrap(), preset)
    }

    #[test]
    fn presets_and_explicit_keys() {
        let stripe = rule(json!(true), Some(Preset::Stripe)).unwrap().unwrap();
        assert_eq!((stripe.from, stripe.key.as_str(), stripe.ttl), (KeySource::Body, "id", DEFAULT_TTL));
        let github = rule(json!(true), Some(Preset::Github)).unwrap().unwrap();
        assert_eq!(github.key, "x-github-delivery");
        assert!(rule(json!(true), Some(Preset::Adyen)).is_err());
        assert!(rule(json!(true), None).is_err());
        assert_eq!(rule(json!(false), None).unwrap(), None);
        let explicit =
            rule(json!({"from": "header", "key": "Idempotency-Key", "ttl": 60}), None).unwrap().unwrap();
        assert_eq!((explicit.key.as_str(), explicit.ttl), ("idempotency-key", 60));
        let paths: Vec<String> = rule(json!({"from": "header", "key": "a b", "ttl": 0}), None)
            .unwrap_err()
            .into_iter()
            .map(|p| p.path)
            .collect();
        assert_eq!(paths, vec!["trigger.idempotency.key", "trigger.idempotency.ttl"]);
        assert!(rule(json!({"from": "body", "key": "id", "ttl": MAX_TTL + 1}), None).is_err());
        assert!(serde_json::from_value::<IdempotencySpec>(json!({"from": "cookie", "key": "x"})).is_err());
    }

    #[test]
    fn keys_of_calls() {
        let context = json!({"headers": {"x-delivery": "d-1"}, "query": {"order": {"id": "7"}},
                             "body": {"id": "evt_1", "n": 42, "empty": "", "obj": {"a": 1}}});
        let key = |from, key: &str| IdempotencyRule::new(from, key.into(), 1).key_of(&context);
        assert_eq!(key(KeySource::Header, "x-delivery").as_deref(), Some("d-1"));
        assert_eq!(key(KeySource::Query, "order.id").as_deref(), Some("7"));
        assert_eq!(key(KeySource::Body, "id").as_deref(), Some("evt_1"));
        assert_eq!(key(KeySource::Body, "n").as_deref(), Some("42"));
        assert_eq!(key(KeySource::Body, "empty"), None);
        assert_eq!(key(KeySource::Body, "obj"), None);
        assert_eq!(key(KeySource::Body, "missing"), None);
        let long = json!({"body": {"id": "x".repeat(MAX_KEY_BYTES + 1)}});
        assert_eq!(IdempotencyRule::new(KeySource::Body, "id".into(), 1).key_of(&long), None);
        assert_ne!(key_hash("a", "bc"), key_hash("ab", "c"));
    }
}
