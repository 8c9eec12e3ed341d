//! Saving workflows, shared by the admin API and the workflow-files loader: key generation,
//! defaults, storage, then the in-memory catalog (so the next webhook sees the new version);
//! and the API shape of a stored workflow, with its secrets masked.

use hookflow_shared::model::WorkflowDefinition;
use hookflow_shared::storage::{SaveOutcome, StoredWorkflow};
use rand::Rng;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// Length of a generated workflow key.
const GENERATED_KEY_LEN: usize = 11;

/// 11 lowercase letters and digits.
pub fn generate_key() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..GENERATED_KEY_LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Stores `definition` (a new version when it changed) and makes it current in the catalog.
pub async fn save(
    state: &AppState,
    mut definition: WorkflowDefinition,
) -> Result<(StoredWorkflow, SaveOutcome), ApiError> {
    if definition.key.is_empty() {
        definition.key = generate_key();
    }
    if definition.title.trim().is_empty() {
        definition.title = definition.key.clone();
    }
    if definition.has_masked_secrets() {
        // A mask keeps the stored secret; refuse it with the problem's path when there is
        // none. Storage does the keeping itself, inside its transaction.
        let current = state.storage.get_workflow(&definition.key).await?;
        definition
            .clone()
            .restore_secrets(current.as_ref().map(|c| &c.definition))
            .map_err(ApiError::Invalid)?;
    }
    let (stored, outcome) = state.storage.save_workflow(definition).await?;
    if outcome != SaveOutcome::Unchanged {
        state.catalog.put(stored.clone());
        announce(state, &stored.definition.key).await;
    }
    Ok((stored, outcome))
}

/// Lets the other processes know (distributed mode).
pub async fn announce(state: &AppState, key: &str) {
    if let Some(announcer) = &state.announcer {
        announcer.announce(key).await;
    }
}

/// The API shape of a workflow: its definition, secrets masked, plus `version`, `webhookUrl`,
/// timestamps. Every answer that shows a definition goes through here.
pub fn to_json(stored: &StoredWorkflow, public_url: &str) -> Value {
    let mut value = serde_json::to_value(stored.definition.masked()).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut value {
        map.insert("version".into(), json!(stored.version));
        map.insert("webhookUrl".into(), json!(webhook_url(public_url, &stored.definition.key)));
        map.insert("createdAt".into(), json!(stored.created_at));
        map.insert("updatedAt".into(), json!(stored.updated_at));
    }
    value
}

pub fn webhook_url(public_url: &str, key: &str) -> String {
    format!("{public_url}/api/webhook:trigger/{key}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookflow_shared::model::is_valid_workflow_key;

    #[test]
    fn generated_keys_are_valid_and_distinct() {
        let a = generate_key();
        assert_eq!(a.len(), 11);
        assert!(is_valid_workflow_key(&a), "{a}");
        assert_ne!(a, generate_key());
    }
}
