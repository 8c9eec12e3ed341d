//! Claimed idempotency keys (SPEC §3.1), the durable authority on which execution a key
//! started: the primary key decides between concurrent claims, in PostgreSQL across ingress
//! replicas as in SQLite, and survives restarts of everything else (Redis included).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait, TryInsertResult};
use serde_json::Value;
use uuid::Uuid;

use super::entities::idempotency_key;
use super::{json_text, json_value, Storage, StorageError};
use crate::model::Mode;

/// Where a claimed key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// The first call has not been answered yet.
    Pending,
    /// The first call was answered (sync: with `answer`; async: queued).
    Answered,
}

impl KeyState {
    fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Answered => "answered",
        }
    }
}

/// A key as stored: the execution it started and how far that got.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedKey {
    pub execution_id: Uuid,
    pub mode: Mode,
    pub state: KeyState,
    /// The first call's answer, `{statusCode, headers, body}` (sync, once answered).
    pub answer: Option<Value>,
    pub answer_by: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The key was free (or expired): this call owns it.
    First,
    /// Another call owns it.
    Duplicate(ClaimedKey),
}

/// A new claim.
#[derive(Debug, Clone)]
pub struct NewClaim<'a> {
    pub key_hash: &'a str,
    pub workflow_key: &'a str,
    pub execution_id: Uuid,
    pub mode: Mode,
    pub answer_by: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Storage {
    /// Claims a key for `claim.execution_id` unless an unexpired claim holds it.
    pub async fn claim_key(&self, claim: &NewClaim<'_>) -> Result<Claim, StorageError> {
        // A claim released between this insert and its read (PostgreSQL commits the other
        // transaction in between) is simply claimed again.
        for _ in 0..3 {
            if let Some(claim) = self.try_claim_key(claim).await? {
                return Ok(claim);
            }
        }
        Err(StorageError::Corrupt("idempotency key kept changing during its claim".into()))
    }

    async fn try_claim_key(&self, claim: &NewClaim<'_>) -> Result<Option<Claim>, StorageError> {
        let _writing = self.write_lock().await;
        let txn = self.db.begin().await?;
        let now = Utc::now();
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::KeyHash.eq(claim.key_hash))
            .filter(idempotency_key::Column::ExpiresAt.lte(now))
            .exec(&txn)
            .await?;
        let row = idempotency_key::ActiveModel {
            key_hash: Set(claim.key_hash.to_owned()),
            workflow_key: Set(claim.workflow_key.to_owned()),
            execution_id: Set(claim.execution_id),
            mode: Set(claim.mode.as_str().to_owned()),
            state: Set(KeyState::Pending.as_str().to_owned()),
            answer: Set(None),
            answer_by: Set(claim.answer_by),
            expires_at: Set(claim.expires_at),
            started: Set(false),
        };
        let inserted = idempotency_key::Entity::insert(row)
            .on_conflict(OnConflict::column(idempotency_key::Column::KeyHash).do_nothing().to_owned())
            .do_nothing()
            .exec_without_returning(&txn)
            .await?;
        let claim = match inserted {
            TryInsertResult::Inserted(n) if n > 0 => Claim::First,
            _ => {
                let row = idempotency_key::Entity::find_by_id(claim.key_hash.to_owned()).one(&txn).await?;
                match row {
                    Some(row) => Claim::Duplicate(claimed_from_row(row)?),
                    None => return Ok(None),
                }
            }
        };
        txn.commit().await?;
        Ok(Some(claim))
    }

    /// Marks the key of `execution_id` answered, with the sync answer to give duplicates;
    /// `false` when the key is no longer this execution's (taken over).
    pub async fn answer_key(
        &self,
        key_hash: &str,
        execution_id: Uuid,
        answer: Option<&Value>,
    ) -> Result<bool, StorageError> {
        let _writing = self.write_lock().await;
        let result = idempotency_key::Entity::update_many()
            .col_expr(idempotency_key::Column::State, Expr::value(KeyState::Answered.as_str()))
            .col_expr(idempotency_key::Column::Answer, Expr::value(answer.map(json_text)))
            .filter(idempotency_key::Column::KeyHash.eq(key_hash))
            .filter(idempotency_key::Column::ExecutionId.eq(execution_id))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Gives up the key of `execution_id` (its call was not answered 2xx), so a retry runs.
    pub async fn release_key(&self, key_hash: &str, execution_id: Uuid) -> Result<(), StorageError> {
        let _writing = self.write_lock().await;
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::KeyHash.eq(key_hash))
            .filter(idempotency_key::Column::ExecutionId.eq(execution_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Moves a key still pending for `stale` (a first call that was never answered: its
    /// process died) to `claim.execution_id`; `false` when it is not pending for `stale`.
    pub async fn take_over_key(&self, stale: Uuid, claim: &NewClaim<'_>) -> Result<bool, StorageError> {
        let _writing = self.write_lock().await;
        let result = idempotency_key::Entity::update_many()
            .col_expr(idempotency_key::Column::ExecutionId, Expr::value(claim.execution_id))
            .col_expr(idempotency_key::Column::Mode, Expr::value(claim.mode.as_str()))
            .col_expr(idempotency_key::Column::AnswerBy, Expr::value(claim.answer_by))
            .col_expr(idempotency_key::Column::ExpiresAt, Expr::value(claim.expires_at))
            .filter(idempotency_key::Column::KeyHash.eq(claim.key_hash))
            .filter(idempotency_key::Column::ExecutionId.eq(stale))
            .filter(idempotency_key::Column::State.eq(KeyState::Pending.as_str()))
            // Its execution has not started: it never will (the worker checks this mark).
            .filter(idempotency_key::Column::Started.eq(false))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Marks the key of `execution_id` started, before the worker runs it. `false` when the
    /// key now belongs to another execution (a retry took it over): this one must not run. A
    /// key that is gone (expired and pruned while the execution waited) belongs to nobody, and
    /// the execution runs.
    pub async fn mark_key_started(&self, key_hash: &str, execution_id: Uuid) -> Result<bool, StorageError> {
        let _writing = self.write_lock().await;
        let marked = idempotency_key::Entity::update_many()
            .col_expr(idempotency_key::Column::Started, Expr::value(true))
            .filter(idempotency_key::Column::KeyHash.eq(key_hash))
            .filter(idempotency_key::Column::ExecutionId.eq(execution_id))
            .exec(&self.db)
            .await?;
        if marked.rows_affected == 1 {
            return Ok(true);
        }
        let held = idempotency_key::Entity::find_by_id(key_hash.to_owned()).one(&self.db).await?;
        Ok(held.is_none())
    }

    /// Forgets expired keys; returns how many.
    pub async fn prune_keys(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        let _writing = self.write_lock().await;
        let result = idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}

fn claimed_from_row(row: idempotency_key::Model) -> Result<ClaimedKey, StorageError> {
    let mode = match row.mode.as_str() {
        "sync" => Mode::Sync,
        "async" => Mode::Async,
        other => return Err(StorageError::Corrupt(format!("unknown mode {other:?}"))),
    };
    let state = match row.state.as_str() {
        "pending" => KeyState::Pending,
        "answered" => KeyState::Answered,
        other => return Err(StorageError::Corrupt(format!("unknown idempotency key state {other:?}"))),
    };
    Ok(ClaimedKey {
        execution_id: row.execution_id,
        mode,
        state,
        answer: row.answer.as_deref().map(|text| json_value(text, "idempotency answer")).transpose()?,
        answer_by: row.answer_by,
        expires_at: row.expires_at,
    })
}
