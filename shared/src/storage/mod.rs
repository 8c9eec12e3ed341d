//! Persistence with sea-orm on SQLite or PostgreSQL: workflows with their immutable versions,
//! executions with their jobs. The webhook hot path never calls this module; the admin API,
//! start-up loading and the batched execution recorder do.

mod entities;
mod idempotency;
mod migration;

pub use idempotency::{Claim, ClaimedKey, KeyState, NewClaim};

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait, TryInsertResult,
};
use sea_orm_migration::MigratorTrait;
use serde_json::Value;
use uuid::Uuid;

use crate::execution::{ExecutionRecord, JobRecord};
use crate::model::{ExecutionStatus, Mode, WorkflowDefinition};
use entities::{execution, job, pending_execution, workflow, workflow_version};
pub use migration::Migrator;

/// Why storage failed. The message is for logs; clients get a generic 500.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("workflow {0:?} was changed by another request at the same time")]
    Conflict(String),
}

/// A workflow definition with its version and timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWorkflow {
    pub definition: WorkflowDefinition,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// The key was new.
    Created,
    /// A new version was written.
    Updated,
    /// The definition equals the current version; nothing was written.
    Unchanged,
}

/// Rows per multi-row insert. Fixed-size chunks give the same SQL text again and again, so
/// the driver's prepared-statement cache hits instead of the database parsing every batch.
const INSERT_CHUNK: usize = 64;
/// Longest wait for a connection (new or from the pool).
const DATABASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The database. Cheap to clone (a pool).
#[derive(Clone)]
pub struct Storage {
    db: DatabaseConnection,
    /// SQLite only: its transactions start as readers and fail with "database is locked" when
    /// two try to become the writer at once, whatever the busy timeout. Embedded mode is one
    /// process, so taking this lock around every write transaction serialises them up front.
    sqlite_writes: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl Storage {
    /// Connects and runs migrations.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        Self::connect_in_schema(url, None).await
    }

    /// Connects with a PostgreSQL schema as search path (tests isolate themselves this way).
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> Result<Self, StorageError> {
        let mut options = ConnectOptions::new(url.to_owned());
        // A database that stopped answering fails a call within seconds (503 for a keyed
        // webhook or the admin API, a retry for the recorder) instead of sqlx's 30 s.
        options
            .sqlx_logging(false)
            .max_connections(if url.starts_with("sqlite:") { 4 } else { 16 })
            .connect_timeout(DATABASE_TIMEOUT)
            .acquire_timeout(DATABASE_TIMEOUT);
        if let Some(schema) = schema {
            options.set_schema_search_path(schema.to_owned());
        }
        let db = Database::connect(options).await?;
        if url.starts_with("sqlite:") {
            // WAL lets the admin API read while the recorder writes.
            db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        }
        migrate(&db).await?;
        let sqlite_writes = url.starts_with("sqlite:").then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Self { db, sqlite_writes })
    }

    /// Held for the length of a write transaction (SQLite only).
    async fn write_lock(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.sqlite_writes {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StorageError> {
        Ok(self.db.ping().await?)
    }

    pub async fn list_workflows(&self) -> Result<Vec<StoredWorkflow>, StorageError> {
        let rows = workflow::Entity::find().order_by_asc(workflow::Column::Key).all(&self.db).await?;
        rows.into_iter().map(stored_from_row).collect()
    }

    pub async fn get_workflow(&self, key: &str) -> Result<Option<StoredWorkflow>, StorageError> {
        workflow::Entity::find_by_id(key.to_owned()).one(&self.db).await?.map(stored_from_row).transpose()
    }

    /// Saves a definition (its key must be set): a new version when it differs from the
    /// current one, nothing when it is equal. Secrets sent as [`crate::model::MASK`] keep the
    /// current version's values, read in the same transaction so a concurrent change cannot
    /// be undone by a stale copy; when there is no value to keep (callers check that first, so
    /// only a concurrent delete gets here) the save fails with `Conflict`.
    pub async fn save_workflow(
        &self,
        mut definition: WorkflowDefinition,
    ) -> Result<(StoredWorkflow, SaveOutcome), StorageError> {
        let key = definition.key.clone();
        let _writing = self.write_lock().await;
        let txn = self.db.begin().await?;
        let current = workflow::Entity::find_by_id(key.clone()).one(&txn).await?;
        let current_stored = current.clone().map(stored_from_row).transpose()?;
        if definition.restore_secrets(current_stored.as_ref().map(|s| &s.definition)).is_err() {
            return Err(StorageError::Conflict(key));
        }
        if let Some(stored) = current_stored {
            if stored.definition == definition {
                txn.commit().await?;
                return Ok((stored, SaveOutcome::Unchanged));
            }
        }
        // Versions continue after a delete, so (key, version) always names one definition.
        let last_version: Option<i32> = workflow_version::Entity::find()
            .select_only()
            .column_as(workflow_version::Column::Version.max(), "max")
            .filter(workflow_version::Column::Key.eq(key.clone()))
            .into_tuple::<Option<i32>>()
            .one(&txn)
            .await?
            .flatten();
        let version = last_version.unwrap_or(0) + 1;
        // PostgreSQL keeps microseconds; what is returned must equal what is read back later.
        let now = Utc::now().trunc_subsecs(6);
        let json = serde_json::to_string(&definition).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let inserted = workflow_version::Entity::insert(workflow_version::ActiveModel {
            key: Set(key.clone()),
            version: Set(version),
            definition: Set(json.clone()),
            created_at: Set(now),
        })
        .exec(&txn)
        .await;
        if let Err(error) = inserted {
            return Err(conflict_or(error, &key));
        }
        let created_at = current.as_ref().map_or(now, |row| row.created_at);
        let row = workflow::ActiveModel {
            key: Set(key.clone()),
            version: Set(version),
            definition: Set(json),
            created_at: Set(created_at),
            updated_at: Set(now),
        };
        let outcome = if current.is_some() {
            workflow::Entity::update(row).exec(&txn).await?;
            SaveOutcome::Updated
        } else {
            workflow::Entity::insert(row).exec(&txn).await.map_err(|e| conflict_or(e, &key))?;
            SaveOutcome::Created
        };
        txn.commit().await.map_err(|e| conflict_or(e, &key))?;
        Ok((StoredWorkflow { definition, version, created_at, updated_at: now }, outcome))
    }

    /// Removes a workflow; its versions and executions stay for history.
    pub async fn delete_workflow(&self, key: &str) -> Result<bool, StorageError> {
        let _writing = self.write_lock().await;
        let result = workflow::Entity::delete_by_id(key.to_owned()).exec(&self.db).await?;
        Ok(result.rows_affected > 0)
    }

    /// Every version of a workflow, oldest first.
    pub async fn list_versions(&self, key: &str) -> Result<Vec<StoredWorkflow>, StorageError> {
        let rows = workflow_version::Entity::find()
            .filter(workflow_version::Column::Key.eq(key.to_owned()))
            .order_by_asc(workflow_version::Column::Version)
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(StoredWorkflow {
                    definition: definition_from_json(row.definition)?,
                    version: row.version,
                    created_at: row.created_at,
                    updated_at: row.created_at,
                })
            })
            .collect()
    }

    pub async fn get_version(
        &self,
        key: &str,
        version: i32,
    ) -> Result<Option<WorkflowDefinition>, StorageError> {
        let row = workflow_version::Entity::find_by_id((key.to_owned(), version)).one(&self.db).await?;
        row.map(|row| definition_from_json(row.definition)).transpose()
    }

    /// Writes finished executions and their jobs in one transaction. An execution id already
    /// stored (a redelivered message run again, or two workers racing on one message) is
    /// skipped with its jobs: the database decides which record wins, so each id is recorded
    /// exactly once whoever asks; the ids skipped are returned. `settled` journal entries
    /// (embedded mode) are removed in the same transaction, so an execution is always either
    /// pending or recorded, never neither.
    pub async fn insert_executions(
        &self,
        records: &[ExecutionRecord],
        settled: &[Uuid],
    ) -> Result<Vec<Uuid>, StorageError> {
        if records.is_empty() && settled.is_empty() {
            return Ok(Vec::new());
        }
        let _writing = self.write_lock().await;
        let txn = self.db.begin().await?;
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&ExecutionRecord> = records.iter().filter(|r| seen.insert(r.id)).collect();
        let mut inserted = std::collections::HashSet::new();
        for chunk in unique.chunks(INSERT_CHUNK) {
            let rows = chunk.iter().map(|r| execution_row(r)).collect::<Result<Vec<_>, _>>()?;
            let keys = execution::Entity::insert_many(rows)
                .on_conflict(OnConflict::column(execution::Column::Id).do_nothing().to_owned())
                .do_nothing()
                .exec_with_returning_keys(&txn)
                .await?;
            if let TryInsertResult::Inserted(keys) = keys {
                inserted.extend(keys);
            }
        }
        let (fresh, stored_before): (Vec<&ExecutionRecord>, Vec<&ExecutionRecord>) =
            unique.into_iter().partition(|r| inserted.contains(&r.id));
        let jobs: Vec<job::ActiveModel> = fresh
            .iter()
            .flat_map(|r| r.jobs.iter().enumerate().map(move |(i, j)| job_row(r.id, i, j)))
            .collect();
        let mut jobs = jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            let chunk: Vec<job::ActiveModel> = jobs.by_ref().take(INSERT_CHUNK).collect();
            job::Entity::insert_many(chunk).exec_without_returning(&txn).await?;
        }
        for chunk in settled.chunks(INSERT_CHUNK) {
            pending_execution::Entity::delete_many()
                .filter(pending_execution::Column::Id.is_in(chunk.to_vec()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(stored_before.into_iter().map(|r| r.id).collect())
    }

    /// Journals accepted async executions `(id, queue message)` in one transaction.
    pub async fn append_pending(&self, entries: &[(Uuid, String)]) -> Result<(), StorageError> {
        if entries.is_empty() {
            return Ok(());
        }
        let _writing = self.write_lock().await;
        let txn = self.db.begin().await?;
        let now = Utc::now();
        for chunk in entries.chunks(INSERT_CHUNK) {
            let rows = chunk.iter().map(|(id, message)| pending_execution::ActiveModel {
                id: Set(*id),
                message: Set(message.clone()),
                created_at: Set(now),
                recoveries: Set(0),
            });
            pending_execution::Entity::insert_many(rows)
                .on_conflict(OnConflict::column(pending_execution::Column::Id).do_nothing().to_owned())
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Every journaled execution not yet recorded, oldest first.
    pub async fn pending(&self) -> Result<Vec<String>, StorageError> {
        Ok(self.pending_entries().await?.into_iter().map(|entry| entry.message).collect())
    }

    /// Every journaled execution not yet recorded, oldest first, with its recovery count.
    pub async fn pending_entries(&self) -> Result<Vec<PendingEntry>, StorageError> {
        let rows = pending_execution::Entity::find()
            .order_by_asc(pending_execution::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| PendingEntry { id: row.id, message: row.message, recoveries: row.recoveries })
            .collect())
    }

    /// Counts one more recovery of these journal entries; written before they run again, so
    /// a run that takes the process down still counts.
    pub async fn count_recovery(&self, ids: &[Uuid]) -> Result<(), StorageError> {
        let _writing = self.write_lock().await;
        for chunk in ids.chunks(INSERT_CHUNK) {
            pending_execution::Entity::update_many()
                .col_expr(
                    pending_execution::Column::Recoveries,
                    Expr::col(pending_execution::Column::Recoveries).add(1),
                )
                .filter(pending_execution::Column::Id.is_in(chunk.to_vec()))
                .exec(&self.db)
                .await?;
        }
        Ok(())
    }

    /// Whether an execution is recorded.
    pub async fn execution_exists(&self, id: Uuid) -> Result<bool, StorageError> {
        let found: Option<Uuid> = execution::Entity::find_by_id(id)
            .select_only()
            .column(execution::Column::Id)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// An execution with its jobs.
    pub async fn get_execution(&self, id: Uuid) -> Result<Option<ExecutionRecord>, StorageError> {
        let Some(row) = execution::Entity::find_by_id(id).one(&self.db).await? else { return Ok(None) };
        let jobs = job::Entity::find()
            .filter(job::Column::ExecutionId.eq(id))
            .order_by_asc(job::Column::Position)
            .all(&self.db)
            .await?;
        let mut record = record_from_row(row)?;
        record.jobs = jobs.into_iter().map(job_from_row).collect::<Result<_, _>>()?;
        Ok(Some(record))
    }

    /// A page of a workflow's executions, newest first, without jobs. The cursor is the last
    /// id of the previous page (ids are time-ordered UUIDv7).
    pub async fn list_executions(
        &self,
        workflow_key: &str,
        status: Option<ExecutionStatus>,
        limit: u64,
        cursor: Option<Uuid>,
    ) -> Result<(Vec<ExecutionRecord>, Option<Uuid>), StorageError> {
        let mut query =
            execution::Entity::find().filter(execution::Column::WorkflowKey.eq(workflow_key.to_owned()));
        if let Some(status) = status {
            query = query.filter(execution::Column::Status.eq(status.as_str()));
        }
        if let Some(cursor) = cursor {
            query = query.filter(execution::Column::Id.lt(cursor));
        }
        let rows = query.order_by_desc(execution::Column::Id).limit(limit + 1).all(&self.db).await?;
        let more = rows.len() as u64 > limit;
        let records: Vec<ExecutionRecord> =
            rows.into_iter().take(limit as usize).map(record_from_row).collect::<Result<_, _>>()?;
        let next = if more { records.last().map(|r| r.id) } else { None };
        Ok((records, next))
    }

    /// Deletes executions (and their jobs) created before `before`; returns how many.
    pub async fn prune_executions(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        let _writing = self.write_lock().await;
        let txn = self.db.begin().await?;
        let old = execution::Entity::find()
            .select_only()
            .column(execution::Column::Id)
            .filter(execution::Column::CreatedAt.lt(before));
        job::Entity::delete_many()
            .filter(job::Column::ExecutionId.in_subquery(sea_orm::QueryTrait::into_query(old)))
            .exec(&txn)
            .await?;
        let result = execution::Entity::delete_many()
            .filter(Expr::col(execution::Column::CreatedAt).lt(before))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(result.rows_affected)
    }
}

/// A journaled execution (embedded mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    pub id: Uuid,
    /// The queue message, as published.
    pub message: String,
    /// Times it was queued again after a restart.
    pub recoveries: i32,
}

/// Runs pending migrations. Replicas starting together race to create the same tables; the
/// loser fails on a duplicate and, trying again after the winner committed, finds nothing left
/// to do.
async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    crate::retry::retry(
        crate::retry::Policy::STARTUP_RACE,
        "a migration",
        || Migrator::up(db, None),
        |_| true,
    )
    .await
}

fn conflict_or(error: DbErr, key: &str) -> StorageError {
    let text = error.to_string().to_ascii_lowercase();
    if text.contains("unique") || text.contains("duplicate") || text.contains("primary key") {
        StorageError::Conflict(key.to_owned())
    } else {
        StorageError::Database(error)
    }
}

fn definition_from_json(json: String) -> Result<WorkflowDefinition, StorageError> {
    serde_json::from_str(&json).map_err(|e| StorageError::Corrupt(format!("workflow definition: {e}")))
}

fn json_text(value: &Value) -> String {
    value.to_string()
}

fn json_value(text: &str, what: &str) -> Result<Value, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::Corrupt(format!("{what}: {e}")))
}

fn stored_from_row(row: workflow::Model) -> Result<StoredWorkflow, StorageError> {
    Ok(StoredWorkflow {
        definition: definition_from_json(row.definition)?,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn execution_row(record: &ExecutionRecord) -> Result<execution::ActiveModel, StorageError> {
    Ok(execution::ActiveModel {
        id: Set(record.id),
        workflow_key: Set(record.workflow_key.clone()),
        version: Set(record.version),
        mode: Set(record.mode.as_str().to_owned()),
        status: Set(record.status.as_str().to_owned()),
        reason: Set(record.reason.clone()),
        context: Set(json_text(&record.context)),
        response: Set(record.response.as_ref().map(json_text)),
        attempts: Set(record.attempts),
        created_at: Set(record.created_at),
        started_at: Set(record.started_at),
        finished_at: Set(record.finished_at),
        idempotency_key: Set(record.idempotency_key.clone()),
        replay_of: Set(record.replay_of),
    })
}

fn job_row(execution_id: Uuid, position: usize, job: &JobRecord) -> job::ActiveModel {
    job::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        execution_id: Set(execution_id),
        position: Set(position as i32),
        node_key: Set(job.node_key.clone()),
        node_type: Set(job.node_type.clone()),
        status: Set(job.status.as_str().to_owned()),
        result: Set(json_text(&job.result)),
        started_at: Set(job.started_at),
        finished_at: Set(job.finished_at),
    }
}

fn status_from(text: &str) -> Result<ExecutionStatus, StorageError> {
    ExecutionStatus::from_name(text).ok_or_else(|| StorageError::Corrupt(format!("unknown status {text:?}")))
}

fn record_from_row(row: execution::Model) -> Result<ExecutionRecord, StorageError> {
    let mode = match row.mode.as_str() {
        "sync" => Mode::Sync,
        "async" => Mode::Async,
        other => return Err(StorageError::Corrupt(format!("unknown mode {other:?}"))),
    };
    Ok(ExecutionRecord {
        id: row.id,
        workflow_key: row.workflow_key,
        version: row.version,
        mode,
        status: status_from(&row.status)?,
        reason: row.reason,
        context: json_value(&row.context, "execution context")?,
        response: row.response.as_deref().map(|text| json_value(text, "execution response")).transpose()?,
        attempts: row.attempts,
        created_at: row.created_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        idempotency_key: row.idempotency_key,
        replay_of: row.replay_of,
        jobs: Vec::new(),
    })
}

fn job_from_row(row: job::Model) -> Result<JobRecord, StorageError> {
    Ok(JobRecord {
        node_key: row.node_key,
        node_type: row.node_type,
        status: status_from(&row.status)?,
        result: json_value(&row.result, "job result")?,
        started_at: row.started_at,
        finished_at: row.finished_at,
    })
}
