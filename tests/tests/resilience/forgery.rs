//! Messages forged by whoever can write to Redis or RabbitMQ: a reply published on an ingress's
//! reply channel, an envelope published straight to an execution queue. Neither carries a MAC
//! under the cluster's `HOOKFLOW_INTERNAL_KEY`, so neither may answer a caller or start an
//! execution; both are counted.

use std::time::{Duration, Instant};

use hookflow_shared::execution::QueueMessage;
use hookflow_shared::message_auth::{MessageKey, MessageKeys, Purpose};
use hookflow_shared::queue::MAC_HEADER;
use hookflow_shared::reply::{reply_channel, sealed, Reply};
use hookflow_tests::{workflow, Options, TestApp};
use lapin::options::{
    BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::fleet::{distributed_app, distributed_app_with};

/// A key of the right length that is not the cluster's.
const WRONG_KEY: &str = "not-the-cluster-key-0123456789abcdef";

/// The sum of a counter's series (one per process) in a `/metrics` text.
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix(series))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum()
}

async fn metrics_of(app: &TestApp, base: &str) -> String {
    app.client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap()
}

async fn amqp_channel(url: &str) -> (lapin::Connection, lapin::Channel) {
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    (connection, channel)
}

/// The execution id and `replyTo` of the message waiting in `queue`, which is put back.
async fn peek_envelope(amqp_url: &str, queue: &str) -> (Uuid, String) {
    let (connection, channel) = amqp_channel(amqp_url).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        if let Some(message) = channel.basic_get(queue.into(), BasicGetOptions::default()).await.unwrap() {
            break message;
        }
        assert!(Instant::now() < deadline, "nothing was queued in {queue}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let envelope: Value = serde_json::from_slice(&message.delivery.data).unwrap();
    message.delivery.acker.nack(BasicNackOptions { requeue: true, multiple: false }).await.unwrap();
    let _ = connection.close(200, "done".into()).await;
    let id = envelope["executionId"].as_str().unwrap().parse().unwrap();
    (id, envelope["replyTo"].as_str().unwrap().to_owned())
}

#[tokio::test]
#[ignore = "needs RabbitMQ, Redis and PostgreSQL; scripts/test.sh runs it"]
async fn a_forged_reply_never_reaches_the_waiting_caller() {
    let mut app = distributed_app_with(Options { hold_workers: true, ..Default::default() }).await;
    app.create_workflow(workflow(
        "answered",
        true,
        json!([{"key": "r", "type": "response", "config": {"statusCode": 201, "body": {"from": "workflow"}}}]),
    ))
    .await;
    let (amqp_url, sync_queue, redis_url, namespace, metrics_base) = {
        let cluster = app.cluster().unwrap();
        let ingress_metrics = cluster.ingress[0].metrics.clone();
        let namespace = cluster.namespace().to_owned();
        (
            cluster.amqp_url().to_owned(),
            cluster.queue_names().sync,
            cluster.redis_url().to_owned(),
            namespace,
            ingress_metrics,
        )
    };
    // The caller waits on the first ingress: the workers are held.
    let (client, url) = (app.client.clone(), app.webhook_url("answered"));
    let caller = tokio::spawn(async move { client.post(url).json(&json!({})).send().await });
    let (execution_id, reply_to) = peek_envelope(&amqp_url, &sync_queue).await;

    let forged =
        Reply { execution_id, status_code: 200, headers: Vec::new(), body: json!({"from": "forger"}) };
    let bare = serde_json::to_vec(&forged).unwrap();
    let under_wrong_key = sealed::seal(&MessageKey::derive(WRONG_KEY, Purpose::Reply), &forged).unwrap();
    let redis = redis::Client::open(redis_url.as_str()).unwrap();
    let mut connection = redis.get_multiplexed_async_connection().await.unwrap();
    let channel = reply_channel(&namespace, &reply_to);
    for message in [bare, under_wrong_key] {
        let receivers: i64 =
            redis::cmd("PUBLISH").arg(&channel).arg(message).query_async(&mut connection).await.unwrap();
        assert_eq!(receivers, 1, "the waiting ingress listens on {channel}");
    }

    let series = r#"hookflow_messages_rejected_total{kind="reply"} "#;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rejected = counter(&metrics_of(&app, &metrics_base).await, series);
        if rejected == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the ingress counted {rejected} rejected replies, not 2");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Time for a forged reply to reach the caller, had it been taken.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!caller.is_finished(), "the caller was answered by a forged reply");

    app.start_workers().await;
    let response = caller.await.unwrap().unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-hookflow-execution-id"].to_str().unwrap(), execution_id.to_string());
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"from": "workflow"}));
    assert_eq!(counter(&metrics_of(&app, &metrics_base).await, series), 2, "the real reply was accepted");
}

#[tokio::test]
#[ignore = "needs RabbitMQ, Redis and PostgreSQL; scripts/test.sh runs it"]
async fn a_forged_envelope_is_dead_lettered_and_never_run() {
    let mut app = distributed_app().await;
    app.create_workflow(workflow(
        "target",
        false,
        json!([{"key": "double", "type": "calculation", "config": {"expression": "{{$context.body.n}} * 2"}}]),
    ))
    .await;
    let (amqp_url, names, internal_key) = {
        let cluster = app.cluster().unwrap();
        (cluster.amqp_url().to_owned(), cluster.queue_names(), cluster.internal_key().to_owned())
    };
    let (_connection, channel) = amqp_channel(&amqp_url).await;
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();

    // Three well-formed envelopes: no MAC, a MAC under another key, and a MAC under the
    // cluster's own reply key (a key for another purpose).
    let macs = [
        None,
        Some(MessageKey::derive(WRONG_KEY, Purpose::Envelope)),
        Some(MessageKeys::derive(&internal_key).reply),
    ];
    let mut forged_ids = Vec::new();
    for key in macs {
        let id = Uuid::now_v7();
        let payload = serde_json::to_vec(&json!({
            "type": "execute.v1", "executionId": id, "workflowKey": "target", "version": 1, "mode": "async",
            "context": {"headers": {}, "query": {}, "body": {"n": 21}}, "createdAt": "2030-01-01T00:00:00Z"
        }))
        .unwrap();
        assert!(serde_json::from_slice::<QueueMessage>(&payload).is_ok(), "a well-formed envelope");
        let mut properties = lapin::BasicProperties::default().with_delivery_mode(2);
        if let Some(key) = key {
            let mut headers = FieldTable::default();
            headers.insert(MAC_HEADER.into(), AMQPValue::LongString(key.sign(&payload).into()));
            properties = properties.with_headers(headers);
        }
        let confirm = channel
            .basic_publish(
                "".into(),
                names.asynchronous.as_str().into(),
                BasicPublishOptions::default(),
                &payload,
                properties,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack());
        forged_ids.push(id);
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        let dead =
            channel.queue_declare(names.dead.as_str().into(), passive, FieldTable::default()).await.unwrap();
        let metrics = app.metrics().await;
        let rejected = counter(&metrics, r#"hookflow_messages_rejected_total{kind="envelope"} "#);
        let dead_lettered = counter(&metrics, "hookflow_executions_dead_lettered_total ");
        if dead.message_count() == 3 && rejected == 3 && dead_lettered == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dead letters {}, rejected {rejected}, dead-lettered {dead_lettered}; 3 each expected",
            dead.message_count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The workers go on with genuine work, and what was forged before it left no record.
    let genuine = app.post_json("target", &json!({"n": 1})).await;
    assert_eq!(genuine.status(), 200);
    let genuine = app.execution(&hookflow_tests::execution_id(&genuine)).await;
    assert_eq!(genuine["jobs"][0]["result"], 2);
    for id in forged_ids {
        let record = app.admin(Method::GET, &format!("/api/executions/{id}")).send().await.unwrap();
        assert_eq!(record.status(), 404, "forged execution {id} was recorded");
    }
}
