//! Timeouts that mean what they say (SPEC §3 `options.timeout`, §4): many sync calls whose run
//! time straddles the workflow's timeout, and every caller's answer compared with its record:
//! 408 exactly when the record is `aborted` / `timeout`, otherwise exactly the recorded response.

use futures_util::StreamExt;
use hookflow_tests::{spawn_app, workflow};
use serde_json::{json, Value};

const CALLS: usize = 300;

#[tokio::test]
async fn every_answer_agrees_with_its_record() {
    let app = spawn_app().await;
    // A few nodes of work and a Response node; with many calls at once, queueing makes some
    // finish inside the 30 ms and some not, many right at the edge.
    let mut definition = workflow(
        "straddle",
        true,
        json!([
            {"key": "a", "type": "calculation", "config": {"expression": "{{$context.body.n}} * 2"}},
            {"key": "b", "type": "calculation", "config": {"expression": "{{$jobsMapByNodeKey.a}} + 1"}},
            {"key": "reply", "type": "response",
             "config": {"statusCode": 201, "body": {"n": "{{$context.body.n}}", "b": "{{$jobsMapByNodeKey.b}}"}}}
        ]),
    );
    definition["options"] = json!({"timeout": 30});
    app.create_workflow(definition).await;

    let url = app.webhook_url("straddle");
    let answers: Vec<(String, u16, Value)> = futures_util::stream::iter(0..CALLS)
        .map(|n| {
            let (client, url) = (app.client.clone(), url.clone());
            async move {
                let response = client.post(url).json(&json!({"n": n})).send().await.unwrap();
                let id = response.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned();
                let status = response.status().as_u16();
                (id, status, response.json::<Value>().await.unwrap_or(Value::Null))
            }
        })
        .buffer_unordered(48)
        .collect()
        .await;

    let (mut timed_out, mut answered) = (0, 0);
    for (id, status, body) in &answers {
        let record = app.execution(id).await;
        if *status == 408 {
            timed_out += 1;
            assert_eq!(record["status"], "aborted", "{id}: 408 but recorded {record}");
            assert_eq!(record["reason"], "timeout", "{id}");
            assert_eq!(record["response"], Value::Null, "{id}: no response was sent");
        } else {
            answered += 1;
            assert_eq!(*status, 201, "{id}: {body}");
            assert_ne!(record["status"], "aborted", "{id}: answered {status} but recorded aborted");
            assert_eq!(record["response"]["statusCode"], 201, "{id}: {record}");
            assert_eq!(&record["response"]["body"], body, "{id}: the caller got what the record says");
        }
    }
    println!("figure: {CALLS} sync calls with a 30 ms timeout: {answered} answered 201, {timed_out} answered 408; all agree with their records");
    assert_eq!(answered + timed_out, CALLS);
}

/// Distributed: the worker's decision carries its sealed reply, so an ingress whose reply
/// message was lost still answers with it; a planted decision is not believed.
#[tokio::test]
async fn decisions_can_be_read_back() {
    use hookflow_shared::message_auth::MessageKeys;
    use hookflow_shared::redis_link::RedisLink;
    use hookflow_shared::reply::{Answer, RedisReplyBus, Reply, ReplyBus};

    let mut app = spawn_app().await;
    let Some(cluster) = app.cluster() else {
        // Embedded: the in-process bus is covered by its unit tests.
        return;
    };
    let (redis_url, namespace, key) =
        (cluster.redis_url().to_owned(), cluster.namespace().to_owned(), cluster.internal_key().to_owned());
    let link = RedisLink::start(&redis_url, tokio_util::sync::CancellationToken::new()).unwrap();
    let bus = RedisReplyBus::publisher(link.clone(), &namespace, MessageKeys::derive(&key).reply);
    for _ in 0..100 {
        if link.ping().await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
    let id = uuid::Uuid::now_v7();
    let reply = Reply { execution_id: id, status_code: 201, headers: vec![], body: json!({"ok": true}) };
    assert!(bus.decide(id, &Answer::Reply(reply.clone()), until).await.unwrap());
    assert!(!bus.decide(id, &Answer::Timeout, until).await.unwrap(), "the worker decided first");
    assert_eq!(bus.decision(id).await.unwrap(), Some(Answer::Reply(reply)));

    let timed_out = uuid::Uuid::now_v7();
    assert!(bus.decide(timed_out, &Answer::Timeout, until).await.unwrap());
    assert_eq!(bus.decision(timed_out).await.unwrap(), Some(Answer::Timeout));
    assert_eq!(bus.decision(uuid::Uuid::now_v7()).await.unwrap(), None);

    let planted = uuid::Uuid::now_v7();
    let forged = format!(
        "reply {}.{}",
        "0".repeat(64),
        json!({"executionId": planted, "statusCode": 200, "body": "x"})
    );
    link.set_px(&format!("{namespace}:answer:{}", planted.simple()), &forged, 60_000).await.unwrap();
    assert_eq!(bus.decision(planted).await.unwrap(), None, "a planted reply is not believed");
}
