//! Idempotency keys on the webhook path (SPEC §3.1): the first call with a key claims it in the
//! database (the durable authority, shared by every ingress replica) and runs; a duplicate
//! within the key's TTL starts nothing and gets the first's answer: the trigger's response
//! (async), the first's recorded answer (sync, once answered), or 409 `duplicate_in_progress`
//! while the first is still running. A first sync call not answered 2xx gives its key up, so
//! the provider's retry runs; a first call never answered at all (its ingress died) is taken
//! over once its answer is overdue.
//!
//! Distributed, answered keys are also cached in Redis ([`KeyCache`]): a provider's retries,
//! the common case, are answered from there without a database read. Only answered keys are
//! cached, and an answered key never changes, so the cache cannot disagree with the database;
//! a Redis without the entry (flushed, restarted) only sends the lookup to the database.

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::HttpResponse;
use chrono::{DateTime, Utc};
use hookflow_shared::catalog::LiveWorkflow;
use hookflow_shared::idempotency::{key_hash, IdempotencyRule};
use hookflow_shared::message_auth::MessageKey;
use hookflow_shared::model::{ExecutionStatus, Mode};
use hookflow_shared::redis_link::RedisLink;
use hookflow_shared::reply::Reply;
use hookflow_shared::storage::{Claim, ClaimedKey, KeyState, NewClaim, Storage};
use hookflow_worker::pool::default_reply;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{answer, set_execution_header, Failure};
use crate::error::{ApiError, Unavailable};
use crate::state::AppState;

/// Marks a duplicate's answer.
pub const DUPLICATE_HEADER: &str = "x-hookflow-duplicate";

/// How long past its deadline a first call's answer may still be on its way before its key is
/// taken over by a retry.
const OVERDUE_AFTER: Duration = Duration::from_secs(5);

/// A key this call owns, to settle once its answer is known.
pub struct OwnedKey {
    hash: String,
    execution_id: Uuid,
    mode: Mode,
    expires_at: DateTime<Utc>,
}

/// Answered keys in Redis, the fast path of duplicates (distributed mode). Entries are sealed
/// with the internal reply key, bound to their key hash: whoever can write to Redis cannot
/// plant an answer (and so stop a callback from running), as with replies.
#[derive(Clone)]
pub struct KeyCache {
    redis: RedisLink,
    prefix: String,
    seal: MessageKey,
}

/// What the cache keeps of an answered key.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CachedKey {
    execution_id: Uuid,
    mode: Mode,
    answer: Option<Value>,
}

impl KeyCache {
    pub fn new(redis: RedisLink, namespace: &str, seal: MessageKey) -> Self {
        Self { redis, prefix: format!("{namespace}:idem:"), seal }
    }

    /// What the MAC of an entry covers: its key and its content.
    fn signed(&self, hash: &str, json: &str) -> Vec<u8> {
        format!("{}{hash}\n{json}", self.prefix).into_bytes()
    }

    /// The answered key, if cached; any failure is a miss (the database decides then), and
    /// an entry whose seal does not verify is one too.
    async fn get(&self, hash: &str) -> Option<ClaimedKey> {
        let text = self.redis.get(&format!("{}{hash}", self.prefix)).await.ok()??;
        let (mac, json) = text.split_once(' ')?;
        if self.seal.verify(&self.signed(hash, json), Some(mac.as_bytes())).is_err() {
            tracing::warn!("an idempotency cache entry failed its seal; ignored");
            return None;
        }
        let cached: CachedKey = serde_json::from_str(json).ok()?;
        let now = Utc::now();
        Some(ClaimedKey {
            execution_id: cached.execution_id,
            mode: cached.mode,
            state: KeyState::Answered,
            answer: cached.answer,
            answer_by: now,
            expires_at: now,
        })
    }

    /// Caches an answered key until it expires; best effort.
    async fn put(
        &self,
        hash: &str,
        execution_id: Uuid,
        mode: Mode,
        answer: Option<&Value>,
        expires_at: DateTime<Utc>,
    ) {
        let ttl = u64::try_from((expires_at - Utc::now()).num_milliseconds()).unwrap_or(0);
        if ttl == 0 {
            return;
        }
        let cached = CachedKey { execution_id, mode, answer: answer.cloned() };
        let Ok(json) = serde_json::to_string(&cached) else { return };
        let text = format!("{} {json}", self.seal.sign(&self.signed(hash, &json)));
        if let Err(error) = self.redis.set_px(&format!("{}{hash}", self.prefix), &text, ttl).await {
            tracing::debug!(%error, "caching an answered idempotency key failed");
        }
    }
}

/// What a call with a key does.
pub(crate) enum Decision {
    /// Run it; settle the key with [`OwnedKey::settle`].
    Run(OwnedKey),
    /// A duplicate: answered without running.
    Answer(HttpResponse),
}

/// A call with a key, about to run as `execution_id`.
pub struct KeyedCall<'a> {
    pub rule: &'a IdempotencyRule,
    pub key: &'a str,
    pub execution_id: Uuid,
    pub mode: Mode,
    /// When the call will have been answered at the latest.
    pub answer_by: DateTime<Utc>,
    pub context: &'a Value,
}

/// Claims the call's key for its execution, answering a duplicate.
pub(crate) async fn claim(
    state: &AppState,
    workflow: &LiveWorkflow,
    call: KeyedCall<'_>,
) -> Result<Decision, Failure> {
    let KeyedCall { rule, key, execution_id, mode, answer_by, context } = call;
    let (storage, cache) = (&state.storage, state.key_cache.as_ref());
    let definition = &workflow.definition;
    let hash = key_hash(&definition.key, key);
    if let Some(cache) = cache {
        if let Some(held) = cache.get(&hash).await {
            return duplicate_answer(workflow, &held, context).map(Decision::Answer);
        }
    }
    let ttl = chrono::Duration::seconds(i64::try_from(rule.ttl).unwrap_or(i64::MAX));
    let overdue = chrono::Duration::from_std(OVERDUE_AFTER).unwrap_or_default();
    let answer_by = answer_by + overdue;
    // A key is kept at least until its first call's answer is due, however short its TTL: a
    // retry must not find it expired while the first still runs.
    let expires_at = (Utc::now() + ttl).max(answer_by);
    let claim = NewClaim {
        key_hash: &hash,
        workflow_key: &definition.key,
        execution_id,
        mode,
        answer_by,
        expires_at,
    };
    let unavailable = |error: hookflow_shared::storage::StorageError| {
        tracing::warn!(%error, workflow = %definition.key, "idempotency key could not be claimed");
        Failure::from(ApiError::Unavailable(Unavailable::Idempotency))
    };
    match storage.claim_key(&claim).await.map_err(unavailable)? {
        Claim::First => {}
        Claim::Duplicate(held) if held.state == KeyState::Pending && held.answer_by < Utc::now() => {
            // Its answer was never stored: its caller went away, or its ingress stopped. What
            // the execution's record says decides: a run that answered 2xx keeps the key (and
            // its answer becomes the duplicates'); otherwise the key is free for this retry,
            // unless another retry took it first.
            match recorded(storage, &held).await.map_err(unavailable)? {
                Recorded::Answered(answer) => {
                    storage
                        .answer_key(&hash, held.execution_id, answer.as_ref())
                        .await
                        .map_err(unavailable)?;
                    let answered = ClaimedKey { state: KeyState::Answered, answer, ..held };
                    return duplicate_answer(workflow, &answered, context).map(Decision::Answer);
                }
                // It ran and its caller would have been told to retry: the key is free.
                Recorded::NotAnswered => {
                    storage.release_key(&hash, held.execution_id).await.map_err(unavailable)?;
                    if let Claim::Duplicate(other) = storage.claim_key(&claim).await.map_err(unavailable)? {
                        return duplicate_answer(workflow, &other, context).map(Decision::Answer);
                    }
                }
                // Not recorded: taken over unless its run has started (then it is still
                // running, or will be redelivered and recorded).
                Recorded::Missing => {
                    if !storage.take_over_key(held.execution_id, &claim).await.map_err(unavailable)? {
                        return Err(in_progress(held.execution_id));
                    }
                }
            }
            tracing::info!(workflow = %definition.key, stale = %held.execution_id, "idempotency key taken over from a call never answered");
        }
        Claim::Duplicate(held) => {
            if let (Some(cache), KeyState::Answered) = (cache, held.state) {
                cache.put(&hash, held.execution_id, held.mode, held.answer.as_ref(), held.expires_at).await;
            }
            return duplicate_answer(workflow, &held, context).map(Decision::Answer);
        }
    }
    let expires_at = claim.expires_at;
    Ok(Decision::Run(OwnedKey { hash, execution_id, mode, expires_at }))
}

impl OwnedKey {
    /// Settles the key once the call's answer is known: kept (with the answer duplicates will
    /// get) when it was 2xx, given up otherwise. Best effort: a failure is logged, and a key
    /// left pending is taken over once its answer is overdue.
    pub async fn settle(self, storage: &Storage, cache: Option<&KeyCache>, answered: Settled<'_>) {
        let answer = match answered {
            Settled::Queued => None,
            Settled::Replied(reply) if (200..300).contains(&reply.status_code) => {
                Some(serde_json::to_value(reply).unwrap_or(Value::Null))
            }
            Settled::Replied(_) | Settled::Failed => {
                if let Err(error) = storage.release_key(&self.hash, self.execution_id).await {
                    tracing::warn!(%error, execution = %self.execution_id, "giving up an idempotency key failed");
                }
                return;
            }
        };
        match storage.answer_key(&self.hash, self.execution_id, answer.as_ref()).await {
            // Cached only when the database holds this answer for the key.
            Ok(true) => {
                if let Some(cache) = cache {
                    cache
                        .put(&self.hash, self.execution_id, self.mode, answer.as_ref(), self.expires_at)
                        .await;
                }
            }
            Ok(false) => {
                tracing::warn!(execution = %self.execution_id, "idempotency key was taken over before its answer was stored")
            }
            Err(error) => {
                tracing::warn!(%error, execution = %self.execution_id, "settling an idempotency key failed")
            }
        }
    }
}

/// [`OwnedKey::settle`] for a call that may own a key.
pub(crate) async fn settle(state: &AppState, owned: Option<OwnedKey>, how: Settled<'_>) {
    if let Some(owned) = owned {
        owned.settle(&state.storage, state.key_cache.as_ref(), how).await;
    }
}
/// How a call that owns a key ended.
pub enum Settled<'a> {
    /// Async: queued, answered with the trigger's response.
    Queued,
    /// Sync: answered with this reply.
    Replied(&'a Reply),
    /// Not answered 2xx (refused, timed out, failed): the provider will retry.
    Failed,
}

/// What the record of a first call whose answer was never stored says.
enum Recorded {
    /// It ran and its caller was (or would have been) answered 2xx: `None` for an async run,
    /// the reply for a sync one.
    Answered(Option<Value>),
    /// It ended without a 2xx answer (failed, aborted).
    NotAnswered,
    /// No record (yet).
    Missing,
}

async fn recorded(
    storage: &Storage,
    held: &ClaimedKey,
) -> Result<Recorded, hookflow_shared::storage::StorageError> {
    let Some(record) = storage.get_execution(held.execution_id).await? else { return Ok(Recorded::Missing) };
    if held.mode == Mode::Async {
        return Ok(Recorded::Answered(None));
    }
    // Records before the reply sent was kept for the defaults hold none for them.
    let reply = match &record.response {
        Some(reply) => reply.clone(),
        None if record.status == ExecutionStatus::Aborted => return Ok(Recorded::NotAnswered),
        None => serde_json::to_value(default_reply(&record)).unwrap_or(Value::Null),
    };
    let code = reply.get("statusCode").and_then(Value::as_u64).unwrap_or(0);
    Ok(if (200..300).contains(&code) { Recorded::Answered(Some(reply)) } else { Recorded::NotAnswered })
}

/// The answer a duplicate gets.
fn duplicate_answer(
    workflow: &LiveWorkflow,
    held: &ClaimedKey,
    context: &Value,
) -> Result<HttpResponse, Failure> {
    let mut response = match (held.mode, held.state, &held.answer) {
        (_, KeyState::Pending, _) => return Err(in_progress(held.execution_id)),
        (Mode::Async, KeyState::Answered, _) => {
            let configured = &workflow.definition.trigger.response;
            let (headers, body) = answer::render_trigger_response(workflow, context);
            answer::build(configured.status_code, &headers, &body)
        }
        (Mode::Sync, KeyState::Answered, Some(stored)) => {
            match serde_json::from_value::<Reply>(stored.clone()) {
                Ok(reply) => answer::build(reply.status_code, &reply.headers, &reply.body),
                Err(error) => {
                    tracing::warn!(%error, execution = %held.execution_id, "stored idempotent answer is unreadable");
                    return Err(in_progress(held.execution_id));
                }
            }
        }
        (Mode::Sync, KeyState::Answered, None) => return Err(in_progress(held.execution_id)),
    };
    set_execution_header(&mut response, held.execution_id);
    response
        .headers_mut()
        .insert(HeaderName::from_static(DUPLICATE_HEADER), HeaderValue::from_static("true"));
    Ok(response)
}

fn in_progress(first: Uuid) -> Failure {
    Failure { error: ApiError::DuplicateInProgress, execution_id: Some(first) }
}
