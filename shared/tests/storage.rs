//! Storage behaviour, run on SQLite always and on PostgreSQL as well when
//! `HOOKFLOW_TEST_DATABASE_URL` is set (each test in a schema of its own).

use chrono::{Duration, Utc};
use hookflow_shared::execution::{ExecutionRecord, JobRecord};
use hookflow_shared::model::{decode_workflow, ExecutionStatus, Mode, WorkflowDefinition};
use hookflow_shared::storage::{Claim, KeyState, NewClaim, SaveOutcome, Storage};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;
use uuid::Uuid;

/// A fresh storage per backend: SQLite in a temp dir, and PostgreSQL when configured.
async fn backends() -> Vec<(String, Storage, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    let mut all = vec![("sqlite".to_owned(), Storage::connect(&sqlite_url).await.unwrap(), Some(dir))];
    if let Ok(url) = std::env::var("HOOKFLOW_TEST_DATABASE_URL") {
        let schema = format!("t_{}", Uuid::now_v7().simple());
        let admin = Database::connect(&url).await.expect("HOOKFLOW_TEST_DATABASE_URL must be reachable");
        admin.execute_unprepared(&format!("CREATE SCHEMA {schema}")).await.unwrap();
        let storage = Storage::connect_in_schema(&url, Some(&schema)).await.unwrap();
        all.push(("postgres".to_owned(), storage, None));
    }
    all
}

fn definition(key: &str, body: &str) -> WorkflowDefinition {
    decode_workflow(json!({"key": key, "sync": true, "trigger": {"type": "webhook"},
        "nodes": [{"key": "r", "type": "response", "config": {"body": body}}]}))
    .unwrap()
}

fn guarded(key: &str, title: &str, password: &str) -> WorkflowDefinition {
    decode_workflow(json!({"key": key, "title": title, "trigger": {"type": "webhook",
        "basicAuthentication": {"username": "psp", "password": password}}}))
    .unwrap()
}

#[tokio::test]
async fn a_masked_password_keeps_the_stored_one() {
    use hookflow_shared::model::MASK;
    use hookflow_shared::storage::StorageError;
    let password =
        |stored: &WorkflowDefinition| stored.trigger.basic_authentication.clone().unwrap().password;
    for (backend, storage, _dir) in backends().await {
        storage.save_workflow(guarded("wf-secret", "one", "s3cret")).await.unwrap();
        let (same, outcome) = storage.save_workflow(guarded("wf-secret", "one", MASK)).await.unwrap();
        assert_eq!((same.version, outcome), (1, SaveOutcome::Unchanged), "{backend}");
        let (kept, outcome) = storage.save_workflow(guarded("wf-secret", "two", MASK)).await.unwrap();
        assert_eq!((kept.version, outcome), (2, SaveOutcome::Updated), "{backend}");
        assert_eq!(password(&kept.definition), "s3cret", "{backend}");
        let read = storage.get_workflow("wf-secret").await.unwrap().unwrap();
        assert_eq!(password(&read.definition), "s3cret", "{backend}");
        let (changed, _) = storage.save_workflow(guarded("wf-secret", "two", "n3w")).await.unwrap();
        assert_eq!(password(&changed.definition), "n3w", "{backend}");
        // Nothing stored to keep: never saved with the mask as the password.
        let refused = storage.save_workflow(guarded("wf-unknown", "one", MASK)).await;
        assert!(matches!(refused, Err(StorageError::Conflict(_))), "{backend}");
        assert!(storage.get_workflow("wf-unknown").await.unwrap().is_none(), "{backend}");
    }
}

fn record(key: &str, status: ExecutionStatus, created_at: chrono::DateTime<Utc>) -> ExecutionRecord {
    ExecutionRecord {
        id: Uuid::now_v7(),
        workflow_key: key.into(),
        version: 1,
        mode: Mode::Sync,
        status,
        reason: None,
        context: serde_json::from_str(r#"{"body": {"zeta": 1, "alpha": 2, "n": 1}}"#).unwrap(),
        response: Some(json!({"statusCode": 200})),
        attempts: 1,
        created_at,
        started_at: Some(created_at),
        finished_at: Some(created_at),
        idempotency_key: Some("evt_1".into()),
        replay_of: None,
        jobs: vec![
            JobRecord {
                node_key: "a".into(),
                node_type: "calculation".into(),
                status: ExecutionStatus::Resolved,
                result: json!(2),
                started_at: created_at,
                finished_at: created_at,
            },
            JobRecord {
                node_key: "r".into(),
                node_type: "response".into(),
                status: ExecutionStatus::Resolved,
                result: json!({"body": "x"}),
                started_at: created_at,
                finished_at: created_at,
            },
        ],
    }
}

#[tokio::test]
async fn versions_are_immutable_and_continue_after_delete() {
    for (backend, storage, _dir) in backends().await {
        let (first, outcome) = storage.save_workflow(definition("wf-a", "one")).await.unwrap();
        assert_eq!((first.version, outcome), (1, SaveOutcome::Created), "{backend}");
        let (same, outcome) = storage.save_workflow(definition("wf-a", "one")).await.unwrap();
        assert_eq!((same.version, outcome), (1, SaveOutcome::Unchanged), "{backend}");
        let (second, outcome) = storage.save_workflow(definition("wf-a", "two")).await.unwrap();
        assert_eq!((second.version, outcome), (2, SaveOutcome::Updated), "{backend}");
        assert_eq!(second.created_at, first.created_at, "{backend}");

        assert_eq!(storage.get_workflow("wf-a").await.unwrap().unwrap().version, 2, "{backend}");
        assert_eq!(
            storage.get_version("wf-a", 1).await.unwrap().unwrap(),
            definition("wf-a", "one"),
            "{backend}"
        );
        assert_eq!(storage.list_versions("wf-a").await.unwrap().len(), 2, "{backend}");

        assert!(storage.delete_workflow("wf-a").await.unwrap(), "{backend}");
        assert!(storage.get_workflow("wf-a").await.unwrap().is_none(), "{backend}");
        assert!(!storage.delete_workflow("wf-a").await.unwrap(), "{backend}");
        let (again, outcome) = storage.save_workflow(definition("wf-a", "three")).await.unwrap();
        assert_eq!((again.version, outcome), (3, SaveOutcome::Created), "{backend}");

        storage.save_workflow(definition("wf-b", "b")).await.unwrap();
        let keys: Vec<String> =
            storage.list_workflows().await.unwrap().into_iter().map(|w| w.definition.key).collect();
        assert_eq!(keys, vec!["wf-a", "wf-b"], "{backend}");
    }
}

#[tokio::test]
async fn executions_round_trip_once_with_their_jobs() {
    for (backend, storage, _dir) in backends().await {
        let now = Utc::now();
        let first = record("wf", ExecutionStatus::Resolved, now);
        let second = record("wf", ExecutionStatus::Failed, now);
        let skipped = storage.insert_executions(&[first.clone(), second.clone()], &[]).await.unwrap();
        assert!(skipped.is_empty(), "{backend}");
        // A redelivered execution is not stored twice, nor are its jobs; neither is one that ran
        // twice as a first delivery (two workers holding one message). The ids are reported.
        let redelivered = ExecutionRecord { attempts: 2, ..first.clone() };
        let skipped = storage.insert_executions(&[redelivered, first.clone()], &[]).await.unwrap();
        assert_eq!(skipped, vec![first.id], "{backend}");
        let loaded = storage.get_execution(first.id).await.unwrap().unwrap();
        assert_eq!(loaded.jobs.len(), 2, "{backend}");
        assert_eq!(loaded.jobs[0].node_key, "a", "{backend}");
        assert_eq!(loaded.jobs[1].result, json!({"body": "x"}), "{backend}");
        assert_eq!(loaded.context, first.context, "{backend}");
        assert_eq!(loaded.idempotency_key.as_deref(), Some("evt_1"), "{backend}");
        assert_eq!(
            loaded.context.to_string(),
            r#"{"body":{"zeta":1,"alpha":2,"n":1}}"#,
            "{backend}: keys keep the order they were written in"
        );
        assert_eq!(loaded.status, ExecutionStatus::Resolved, "{backend}");
        assert_eq!(loaded.created_at.timestamp_micros(), now.timestamp_micros(), "{backend}");
        assert!(storage.get_execution(Uuid::now_v7()).await.unwrap().is_none(), "{backend}");

        let (all, next) = storage.list_executions("wf", None, 10, None).await.unwrap();
        assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), vec![second.id, first.id], "{backend}");
        assert_eq!(next, None, "{backend}");
        let (page, next) = storage.list_executions("wf", None, 1, None).await.unwrap();
        assert_eq!((page.len(), next), (1, Some(second.id)), "{backend}");
        let (rest, _) = storage.list_executions("wf", None, 1, next).await.unwrap();
        assert_eq!(rest[0].id, first.id, "{backend}");
        let (failed, _) =
            storage.list_executions("wf", Some(ExecutionStatus::Failed), 10, None).await.unwrap();
        assert_eq!(failed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![second.id], "{backend}");
    }
}

#[tokio::test]
async fn large_batches_are_written_in_chunks() {
    for (backend, storage, _dir) in backends().await {
        let now = Utc::now();
        let batch: Vec<ExecutionRecord> =
            (0..1200).map(|_| record("bulk", ExecutionStatus::Resolved, now)).collect();
        storage.insert_executions(&batch, &[]).await.unwrap();
        let (page, _) = storage.list_executions("bulk", None, 100, None).await.unwrap();
        assert_eq!(page.len(), 100, "{backend}");
        assert_eq!(storage.get_execution(batch[1199].id).await.unwrap().unwrap().jobs.len(), 2, "{backend}");
    }
}

#[tokio::test]
async fn old_executions_are_pruned() {
    for (backend, storage, _dir) in backends().await {
        let old = record("p", ExecutionStatus::Resolved, Utc::now() - Duration::days(10));
        let fresh = record("p", ExecutionStatus::Resolved, Utc::now());
        storage.insert_executions(&[old.clone(), fresh.clone()], &[]).await.unwrap();
        let pruned = storage.prune_executions(Utc::now() - Duration::days(7)).await.unwrap();
        assert_eq!(pruned, 1, "{backend}");
        assert!(storage.get_execution(old.id).await.unwrap().is_none(), "{backend}");
        assert!(storage.get_execution(fresh.id).await.unwrap().is_some(), "{backend}");
        storage.ping().await.unwrap();
    }
}

#[tokio::test]
async fn journaled_executions_stay_until_recorded() {
    for (backend, storage, _dir) in backends().await {
        let done = record("j", ExecutionStatus::Resolved, Utc::now());
        let waiting = Uuid::now_v7();
        storage.append_pending(&[(done.id, "first".into()), (waiting, "second".into())]).await.unwrap();
        assert_eq!(storage.pending().await.unwrap(), vec!["first", "second"], "{backend}");
        storage.insert_executions(std::slice::from_ref(&done), &[done.id]).await.unwrap();
        assert_eq!(storage.pending().await.unwrap(), vec!["second"], "{backend}");
        // Settling without a record (a policy that keeps none) clears the journal too.
        storage.insert_executions(&[], &[waiting]).await.unwrap();
        assert!(storage.pending().await.unwrap().is_empty(), "{backend}");
    }
}

#[tokio::test]
async fn idempotency_keys_are_claimed_once() {
    for (backend, storage, _dir) in backends().await {
        let now = Utc::now();
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        let claim = |execution_id, expires_at| NewClaim {
            key_hash: "h-1",
            workflow_key: "wf",
            execution_id,
            mode: Mode::Sync,
            answer_by: now + Duration::seconds(30),
            expires_at,
        };
        let ttl = now + Duration::hours(1);
        assert_eq!(storage.claim_key(&claim(first, ttl)).await.unwrap(), Claim::First, "{backend}");
        let Claim::Duplicate(held) = storage.claim_key(&claim(second, ttl)).await.unwrap() else {
            panic!("{backend}: a second claim must find the first")
        };
        assert_eq!(
            (held.execution_id, held.state, held.answer.clone()),
            (first, KeyState::Pending, None),
            "{backend}"
        );

        // Answered: the answer is what duplicates get; settling someone else's claim does nothing.
        let answer = json!({"executionId": first, "statusCode": 201, "headers": [], "body": "ok"});
        assert!(!storage.answer_key("h-1", second, Some(&json!("wrong"))).await.unwrap(), "{backend}");
        assert!(storage.answer_key("h-1", first, Some(&answer)).await.unwrap(), "{backend}");
        let Claim::Duplicate(held) = storage.claim_key(&claim(second, ttl)).await.unwrap() else { panic!() };
        assert_eq!((held.state, held.answer), (KeyState::Answered, Some(answer)), "{backend}");
        // An answered key is not taken over.
        assert!(!storage.take_over_key(first, &claim(second, ttl)).await.unwrap(), "{backend}");

        // Released: the next claim is first again.
        storage.release_key("h-1", first).await.unwrap();
        assert_eq!(storage.claim_key(&claim(second, ttl)).await.unwrap(), Claim::First, "{backend}");
        // A pending key moves to a retry once, and only from the execution that held it.
        let third = Uuid::now_v7();
        assert!(storage.take_over_key(second, &claim(third, ttl)).await.unwrap(), "{backend}");
        assert!(!storage.take_over_key(second, &claim(Uuid::now_v7(), ttl)).await.unwrap(), "{backend}");
        // The execution that lost the key must not run; the one holding it may, and once it
        // has started the key is never taken over from it.
        assert!(!storage.mark_key_started("h-1", second).await.unwrap(), "{backend}");
        assert!(storage.mark_key_started("h-1", third).await.unwrap(), "{backend}");
        assert!(!storage.take_over_key(third, &claim(Uuid::now_v7(), ttl)).await.unwrap(), "{backend}");
        // A key that is gone (expired, pruned) belongs to nobody: its execution runs.
        assert!(storage.mark_key_started("h-never", first).await.unwrap(), "{backend}");

        // Expired keys are free, and pruned.
        let expired = now - Duration::seconds(1);
        let other = NewClaim { key_hash: "h-2", ..claim(first, expired) };
        assert_eq!(storage.claim_key(&other).await.unwrap(), Claim::First, "{backend}");
        let again = NewClaim { key_hash: "h-2", ..claim(second, ttl) };
        assert_eq!(
            storage.claim_key(&again).await.unwrap(),
            Claim::First,
            "{backend}: an expired key is free"
        );
        let gone = NewClaim { key_hash: "h-3", ..claim(first, expired) };
        storage.claim_key(&gone).await.unwrap();
        assert_eq!(storage.prune_keys(Utc::now()).await.unwrap(), 1, "{backend}");
    }
}
