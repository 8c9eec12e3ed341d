//! The in-memory catalog of workflow definitions: what the webhook hot path reads instead of
//! the database. Replaced wholesale on every admin write (copy-on-write behind an `ArcSwap`,
//! so readers never lock), and able to fetch older versions that running executions pin.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use ipnet::IpNet;

use crate::client_ip;
use crate::compiled::CompiledWorkflow;
use crate::idempotency::IdempotencyRule;
use crate::model::WorkflowDefinition;
use crate::signature::Verifier;
use crate::storage::{Storage, StorageError, StoredWorkflow};

/// The current version of one workflow.
#[derive(Debug)]
pub struct LiveWorkflow {
    pub definition: Arc<WorkflowDefinition>,
    /// The definition compiled once, for the executions of this version and the async answer.
    pub compiled: Arc<CompiledWorkflow>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `trigger.signature`, compiled once here rather than per call.
    pub signature: SignatureCheck,
    /// `trigger.allowedIps` parsed; `None`: anyone may call.
    pub allowed_ips: Option<Vec<IpNet>>,
    /// `trigger.idempotency` compiled; `None`: every call runs.
    pub idempotency: Option<IdempotencyRule>,
}

/// How this process checks a workflow's callers' signatures.
#[derive(Debug)]
pub enum SignatureCheck {
    Off,
    On(Verifier),
    /// The settings were valid where the workflow was saved but not here (a `{{$env.…}}`
    /// secret unset in this process): calls are refused until it is fixed, never let through.
    Unusable,
}

impl SignatureCheck {
    fn of(definition: &WorkflowDefinition) -> Self {
        let Some(spec) = &definition.trigger.signature else { return Self::Off };
        match Verifier::compile(spec) {
            Ok(verifier) => Self::On(verifier),
            Err(problems) => {
                let problems: Vec<String> =
                    problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
                tracing::error!(
                    workflow = %definition.key,
                    problems = %problems.join("; "),
                    "signature settings cannot be used by this process; its webhook answers 503"
                );
                Self::Unusable
            }
        }
    }
}

/// The parsed allow-list. Saved definitions were validated, so a list that does not parse
/// here is refused whole (nobody let in) rather than dropped (everybody let in).
fn allow_list_of(definition: &WorkflowDefinition) -> Option<Vec<IpNet>> {
    let entries = &definition.trigger.allowed_ips;
    if entries.is_empty() {
        return None;
    }
    Some(client_ip::parse_allow_list(entries).unwrap_or_else(|_| {
        tracing::error!(workflow = %definition.key, "allowedIps does not parse; every caller is refused");
        Vec::new()
    }))
}

/// The compiled idempotency rule (validated at save, so compiling succeeds).
fn idempotency_of(definition: &WorkflowDefinition) -> Option<IdempotencyRule> {
    let trigger = &definition.trigger;
    let preset = trigger.signature.as_ref().map(|s| s.preset);
    trigger.idempotency.as_ref().and_then(|spec| IdempotencyRule::compile(spec, preset).ok().flatten())
}

impl From<StoredWorkflow> for LiveWorkflow {
    fn from(stored: StoredWorkflow) -> Self {
        let definition = Arc::new(stored.definition);
        Self {
            signature: SignatureCheck::of(&definition),
            allowed_ips: allow_list_of(&definition),
            idempotency: idempotency_of(&definition),
            compiled: Arc::new(CompiledWorkflow::compile(definition.clone())),
            definition,
            version: stored.version,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }
}

type Current = HashMap<String, Arc<LiveWorkflow>>;

/// Older versions kept after first use; bounded so a long-lived process does not grow.
const HISTORY_LIMIT: usize = 1024;

/// Workflow definitions by key, current and past.
pub struct Catalog {
    current: ArcSwap<Current>,
    /// Versions that are no longer current but still have executions in flight.
    history: Mutex<HashMap<(String, i32), Arc<CompiledWorkflow>>>,
    storage: Storage,
}

impl Catalog {
    /// Loads every workflow from storage.
    pub async fn load(storage: Storage) -> Result<Arc<Self>, StorageError> {
        let catalog = Arc::new(Self {
            current: ArcSwap::from_pointee(HashMap::new()),
            history: Mutex::new(HashMap::new()),
            storage,
        });
        catalog.reload().await?;
        Ok(catalog)
    }

    /// Re-reads every workflow (start-up, change notifications, periodic refresh).
    pub async fn reload(&self) -> Result<(), StorageError> {
        let all = self.storage.list_workflows().await?;
        // A version already loaded is kept as it is: compiling is done once per version, not
        // once per refresh.
        let loaded = self.current.load();
        let fresh: Current = all
            .into_iter()
            .map(|stored| {
                let live = match loaded.get(&stored.definition.key) {
                    Some(live) if live.version == stored.version && live.updated_at == stored.updated_at => {
                        live.clone()
                    }
                    _ => Arc::new(LiveWorkflow::from(stored)),
                };
                (live.definition.key.clone(), live)
            })
            .collect();
        self.current.store(Arc::new(fresh));
        Ok(())
    }

    /// The current version of `key`, without touching the database.
    pub fn get(&self, key: &str) -> Option<Arc<LiveWorkflow>> {
        self.current.load().get(key).cloned()
    }

    /// Makes a saved version current.
    pub fn put(&self, stored: StoredWorkflow) {
        let live = Arc::new(LiveWorkflow::from(stored));
        self.current.rcu(|current| {
            let mut next = Current::clone(current);
            next.insert(live.definition.key.clone(), live.clone());
            next
        });
    }

    /// Forgets a deleted workflow.
    pub fn remove(&self, key: &str) {
        self.current.rcu(|current| {
            let mut next = Current::clone(current);
            next.remove(key);
            next
        });
    }

    /// `key` at `version`, compiled: the current one from memory, an older one from storage
    /// (then compiled and remembered).
    pub async fn compiled(
        &self,
        key: &str,
        version: i32,
    ) -> Result<Option<Arc<CompiledWorkflow>>, StorageError> {
        if let Some(live) = self.get(key).filter(|live| live.version == version) {
            return Ok(Some(live.compiled.clone()));
        }
        let history_key = (key.to_owned(), version);
        if let Some(found) = self.lock_history().get(&history_key) {
            return Ok(Some(found.clone()));
        }
        let Some(definition) = self.storage.get_version(key, version).await? else { return Ok(None) };
        let compiled = Arc::new(CompiledWorkflow::compile(Arc::new(definition)));
        let mut history = self.lock_history();
        if history.len() >= HISTORY_LIMIT {
            history.clear();
        }
        history.insert(history_key, compiled.clone());
        Ok(Some(compiled))
    }

    fn lock_history(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), Arc<CompiledWorkflow>>> {
        self.history.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
