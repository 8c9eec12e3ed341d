//! Several ingress and worker processes serving as one.

use std::time::{Duration, Instant};

use hookflow_tests::workflow;
use reqwest::Method;
use serde_json::{json, Value};

fn reply(key: &str, text: &str) -> Value {
    workflow(key, true, json!([{"key": "r", "type": "response", "config": {"body": text}}]))
}

#[tokio::test]
#[ignore = "needs RabbitMQ, Redis and PostgreSQL; scripts/test.sh runs it"]
async fn sync_round_trip_through_either_ingress() {
    let app = distributed_app().await;
    app.create_workflow(workflow("echo-both", true, json!([
        {"key": "r", "type": "response", "config": {"statusCode": 201, "body": {"n": "{{$context.body.n}}"}}}
    ])))
    .await;
    for (i, base) in app.bases.iter().enumerate() {
        for n in 0..20 {
            let response = app
                .client
                .post(format!("{base}/api/webhook:trigger/echo-both"))
                .json(&json!({"n": n}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201, "ingress {i}");
            assert_eq!(response.json::<Value>().await.unwrap(), json!({"n": n}), "ingress {i}");
        }
    }
}

#[tokio::test]
#[ignore = "needs RabbitMQ, Redis and PostgreSQL; scripts/test.sh runs it"]
async fn a_workflow_updated_through_one_ingress_is_served_by_the_other_within_a_second() {
    let app = distributed_app().await;
    let created = Instant::now();
    app.create_workflow(reply("moving", "first")).await;
    let other = format!("{}/api/webhook:trigger/moving", app.bases[1]);
    while app.client.post(&other).send().await.unwrap().status() == 404 {
        assert!(
            created.elapsed() < Duration::from_secs(1),
            "a new workflow is unknown to the other ingress after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.client.post(&other).send().await.unwrap().text().await.unwrap(), "first");

    let changed = Instant::now();
    let put = app
        .admin(Method::PUT, "/api/workflows/moving")
        .json(&reply("moving", "second"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    loop {
        let text = app.client.post(&other).send().await.unwrap().text().await.unwrap();
        if text == "second" {
            break;
        }
        assert_eq!(text, "first");
        assert!(
            changed.elapsed() < Duration::from_secs(1),
            "the other ingress still serves version 1 after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("figure: other ingress served the new version after {:?}", changed.elapsed());

    // A deleted workflow disappears there too.
    let deleted = app.admin(Method::DELETE, "/api/workflows/moving").send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = Instant::now();
    while app.client.post(&other).send().await.unwrap().status() != 404 {
        assert!(gone.elapsed() < Duration::from_secs(1), "the other ingress still serves a deleted workflow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn distributed_app() -> hookflow_tests::TestApp {
    distributed_app_with(hookflow_tests::Options::default()).await
}

pub async fn distributed_app_with(options: hookflow_tests::Options) -> hookflow_tests::TestApp {
    assert!(
        hookflow_tests::distributed(),
        "these tests need HOOKFLOW_TEST_MODE=distributed and running servers: run scripts/test.sh"
    );
    hookflow_tests::spawn_app_with(options).await
}
