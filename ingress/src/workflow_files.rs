//! `HOOKFLOW_WORKFLOWS_DIR`: workflow files (`*.json`, `*.yaml`, `*.yml`) applied at start,
//! upserted by key. A file with problems stops the start with every problem listed: a service
//! that silently skipped a broken callback definition would answer 404 to real payments.

use std::path::Path;

use anyhow::{bail, Context};
use hookflow_shared::model::decode_workflow;
use hookflow_shared::retry::{retry, Policy};
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;
use crate::workflows;

/// Reads one file as JSON or YAML, by extension.
fn read_definition(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    Ok(match extension.as_str() {
        "json" => {
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?
        }
        _ => serde_yaml::from_str(&text).with_context(|| format!("{} is not valid YAML", path.display()))?,
    })
}

/// Replicas starting together apply the same files at once; the loser of a race on a new
/// version reads again and finds the definition already saved.
async fn save_with_retry(
    state: &AppState,
    definition: hookflow_shared::model::WorkflowDefinition,
) -> anyhow::Result<(hookflow_shared::storage::StoredWorkflow, hookflow_shared::storage::SaveOutcome)> {
    let save = || workflows::save(state, definition.clone());
    retry(Policy::STARTUP_RACE, "saving a workflow file", save, |error| {
        matches!(error, ApiError::Conflict(_))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Applies every workflow file of `dir`, in name order; returns how many were applied.
pub async fn apply_dir(state: &AppState, dir: &Path) -> anyhow::Result<usize> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("HOOKFLOW_WORKFLOWS_DIR {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "yaml" | "yml"))
                && path.is_file()
        })
        .collect();
    paths.sort();
    for path in &paths {
        let value = read_definition(path)?;
        let definition = match decode_workflow(value) {
            Ok(definition) => definition,
            Err(problems) => {
                let list: Vec<String> =
                    problems.iter().map(|p| format!("  {}: {}", p.path, p.message)).collect();
                bail!("{} is not a valid workflow:\n{}", path.display(), list.join("\n"));
            }
        };
        if definition.key.is_empty() {
            bail!(
                "{}: a workflow file needs a \"key\" so that restarts update it instead of adding copies",
                path.display()
            );
        }
        let (stored, outcome) = save_with_retry(state, definition).await?;
        tracing::info!(file = %path.display(), key = %stored.definition.key, version = stored.version, ?outcome, "workflow file applied");
    }
    Ok(paths.len())
}
