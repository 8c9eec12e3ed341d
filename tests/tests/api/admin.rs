//! The admin API: auth, workflow CRUD with versions, validation, write-only passwords,
//! executions, parse.

use hookflow_tests::{execution_id, spawn_app, workflow, PUBLIC_URL};
use reqwest::Method;
use serde_json::{json, Value};

fn sync_reply(key: &str, text: &str) -> Value {
    workflow(key, true, json!([{"key": "r", "type": "response", "config": {"body": text}}]))
}

#[tokio::test]
async fn the_admin_api_needs_the_token() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/api/workflows"),
        (Method::POST, "/api/workflows"),
        (Method::GET, "/api/workflows/x"),
        (Method::GET, "/api/executions/x"),
        (Method::POST, "/api/webhook/parse"),
    ] {
        let response =
            app.client.request(method.clone(), format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
        assert!(response.headers().contains_key("www-authenticate"));
        let wrong = app
            .client
            .request(method.clone(), format!("{}{path}", app.base))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{method} {path}");
    }
}

#[tokio::test]
async fn create_list_get_patch_delete() {
    let app = spawn_app().await;
    let created = app.create_workflow(json!({"title": "No key", "trigger": {"type": "webhook"}})).await;
    let key = created["key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 11);
    assert!(key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    assert_eq!(created["version"], 1);
    assert_eq!(created["webhookUrl"], format!("{PUBLIC_URL}/api/webhook:trigger/{key}"));
    assert!(created["createdAt"].is_string() && created["updatedAt"].is_string());
    assert_eq!(created["enabled"], true);
    assert_eq!(created["sync"], false);

    let duplicate = app
        .admin(Method::POST, "/api/workflows")
        .json(&json!({"key": key, "trigger": {"type": "webhook"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 409);

    let list: Value = app.admin_json("/api/workflows").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["key"], key.as_str());

    let fetched: Value = app.admin_json(&format!("/api/workflows/{key}")).await;
    assert_eq!(fetched["title"], "No key");

    let patched = app
        .admin(Method::PATCH, &format!("/api/workflows/{key}"))
        .json(&json!({"enabled": false, "title": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        (patched["enabled"].clone(), patched["title"].clone(), patched["version"].clone()),
        (json!(false), json!("Renamed"), json!(2))
    );
    assert_eq!(app.post_json(&key, &json!({})).await.status(), 404, "a disabled workflow is not triggered");
    let bad_patch = app
        .admin(Method::PATCH, &format!("/api/workflows/{key}"))
        .json(&json!({"sync": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_patch.status(), 422);

    let deleted = app.admin(Method::DELETE, &format!("/api/workflows/{key}")).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.admin(Method::GET, &format!("/api/workflows/{key}")).send().await.unwrap().status(), 404);
    assert_eq!(
        app.admin(Method::DELETE, &format!("/api/workflows/{key}")).send().await.unwrap().status(),
        404
    );
    assert_eq!(app.post_json(&key, &json!({})).await.status(), 404);
}

#[tokio::test]
async fn webhook_url_uses_the_public_url() {
    let app = spawn_app().await;
    let created = app.create_workflow(workflow("public-url", false, json!([]))).await;
    assert_eq!(created["webhookUrl"], "https://hooks.example.test/api/webhook:trigger/public-url");
}

#[tokio::test]
async fn put_makes_a_new_version_that_the_next_call_uses_and_executions_keep_theirs() {
    let app = spawn_app().await;
    let put = app
        .admin(Method::PUT, "/api/workflows/versioned")
        .json(&sync_reply("versioned", "first"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201, "PUT of a new key creates it");
    let first = app.post_json("versioned", &json!({})).await;
    let first_id = execution_id(&first);
    assert_eq!(first.text().await.unwrap(), "first");

    let put = app
        .admin(Method::PUT, "/api/workflows/versioned")
        .json(&sync_reply("versioned", "second"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(put.json::<Value>().await.unwrap()["version"], 2);
    let second = app.post_json("versioned", &json!({})).await;
    let second_id = execution_id(&second);
    assert_eq!(second.text().await.unwrap(), "second");

    // Saving the same definition again makes no new version.
    let same = app
        .admin(Method::PUT, "/api/workflows/versioned")
        .json(&sync_reply("versioned", "second"))
        .send()
        .await
        .unwrap();
    assert_eq!(same.json::<Value>().await.unwrap()["version"], 2);

    assert_eq!(app.execution(&first_id).await["version"], 1);
    assert_eq!(app.execution(&second_id).await["version"], 2);
    let versions: Value = app.admin_json("/api/workflows/versioned/versions").await;
    let numbers: Vec<i64> =
        versions["data"].as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect();
    assert_eq!(numbers, vec![1, 2]);
    assert_eq!(versions["data"][0]["nodes"][0]["config"]["body"], "first");

    let mismatch = app
        .admin(Method::PUT, "/api/workflows/versioned")
        .json(&sync_reply("other-key", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), 422);
    assert_eq!(mismatch.json::<Value>().await.unwrap()["error"]["problems"][0]["path"], "key");
}

#[tokio::test]
async fn yaml_bodies_are_accepted() {
    let app = spawn_app().await;
    let yaml = "key: from-api-yaml\nsync: false\ntrigger:\n  type: webhook\n  response:\n    body: yaml-ok\n";
    let response = app
        .admin(Method::POST, "/api/workflows")
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(app.post_json("from-api-yaml", &json!({})).await.text().await.unwrap(), "yaml-ok");
}

#[tokio::test]
async fn every_problem_kind_gets_422_with_its_path() {
    let app = spawn_app().await;
    let cases: Vec<(Value, &str)> = vec![
        (workflow("v-type", true, json!([{"key": "a", "type": "teleport"}])), "nodes[0].type"),
        (
            workflow("v-field", true, json!([{"key": "a", "type": "end", "config": {"colour": 1}}])),
            "nodes[0].config.colour",
        ),
        (
            workflow("v-dup", true, json!([{"key": "a", "type": "end"}, {"key": "a", "type": "end"}])),
            "nodes[1].key",
        ),
        (workflow("v-async", false, json!([{"key": "a", "type": "response", "config": {}}])), "nodes[0]"),
        (
            workflow(
                "v-status",
                true,
                json!([{"key": "a", "type": "response", "config": {"statusCode": 99}}]),
            ),
            "nodes[0].config.statusCode",
        ),
        (
            workflow(
                "v-header",
                true,
                json!([{"key": "a", "type": "response", "config": {"headers": [{"name": "Bad Name", "value": "x"}]}}]),
            ),
            "nodes[0].config.headers[0].name",
        ),
        (
            workflow(
                "v-template",
                true,
                json!([{"key": "a", "type": "response", "config": {"body": {"x": "{{$context.body"}}}]),
            ),
            "nodes[0].config.body.x",
        ),
        (json!({"key": "v-top", "trigger": {"type": "webhook"}, "colour": "red"}), "colour"),
        (json!({"key": "Bad Key!", "trigger": {"type": "webhook"}}), "key"),
    ];
    for (definition, path) in cases {
        let response = app.admin(Method::POST, "/api/workflows").json(&definition).send().await.unwrap();
        assert_eq!(response.status(), 422, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_failed");
        let paths: Vec<&str> = body["error"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, vec![path], "{body}");
        assert!(body["error"]["problems"][0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let several = app
        .admin(Method::POST, "/api/workflows")
        .json(&workflow("v-many", false, json!([{"key": "a", "type": "response", "config": {"statusCode": 700}}, {"key": "a", "type": "end"}])))
        .send()
        .await
        .unwrap();
    let body: Value = several.json().await.unwrap();
    assert_eq!(body["error"]["problems"].as_array().unwrap().len(), 3, "every problem is reported: {body}");
    let malformed = app
        .admin(Method::POST, "/api/workflows")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
}

/// An async workflow behind basic authentication.
fn guarded(key: &str, title: &str, password: &str) -> Value {
    json!({"key": key, "title": title, "trigger": {"type": "webhook",
        "basicAuthentication": {"username": "psp", "password": password}}})
}

/// The status a webhook call with these credentials gets.
async fn call_with(app: &hookflow_tests::TestApp, key: &str, password: &str) -> u16 {
    let response =
        app.client.post(app.webhook_url(key)).basic_auth("psp", Some(password)).json(&json!({})).send().await;
    response.unwrap().status().as_u16()
}

#[tokio::test]
async fn passwords_are_write_only_and_the_mask_keeps_them() {
    let app = spawn_app().await;
    let mask = json!({"username": "psp", "password": "********"});
    let created = app.create_workflow(guarded("guarded", "First", "s3cret")).await;
    assert_eq!(created["trigger"]["basicAuthentication"], mask, "the answer of POST");
    let fetched: Value = app.admin_json("/api/workflows/guarded").await;
    assert_eq!(fetched["trigger"]["basicAuthentication"], mask, "GET");
    let listed: Value = app.admin_json("/api/workflows").await;
    assert_eq!(listed["data"][0]["trigger"]["basicAuthentication"], mask, "the list");
    assert_eq!(call_with(&app, "guarded", "s3cret").await, 200);

    // What a client read, edited and sent back keeps the password.
    let mut edited = fetched.clone();
    edited["title"] = json!("Second");
    let put = app.admin(Method::PUT, "/api/workflows/guarded").json(&edited).send().await.unwrap();
    assert_eq!(put.status(), 200);
    let put: Value = put.json().await.unwrap();
    assert_eq!((put["version"].clone(), put["title"].clone()), (json!(2), json!("Second")));
    assert_eq!(put["trigger"]["basicAuthentication"], mask, "the answer of PUT");
    assert_eq!(call_with(&app, "guarded", "s3cret").await, 200, "the old password still opens it");
    assert_eq!(call_with(&app, "guarded", "********").await, 401, "the mask is not the password");

    let patched = app
        .admin(Method::PATCH, "/api/workflows/guarded")
        .json(&json!({"title": "Third"}))
        .send()
        .await
        .unwrap();
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["trigger"]["basicAuthentication"], mask, "the answer of PATCH");
    assert_eq!(call_with(&app, "guarded", "s3cret").await, 200);

    // A new password replaces it.
    let put_new = app
        .admin(Method::PUT, "/api/workflows/guarded")
        .json(&guarded("guarded", "Fourth", "n3w-s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(put_new.status(), 200);
    let replaced: Value = put_new.json().await.unwrap();
    assert_eq!(replaced["trigger"]["basicAuthentication"], mask);
    assert_eq!(call_with(&app, "guarded", "n3w-s3cret").await, 200);
    assert_eq!(call_with(&app, "guarded", "s3cret").await, 401);

    let versions: Value = app.admin_json("/api/workflows/guarded/versions").await;
    let versions = versions["data"].as_array().unwrap();
    assert_eq!(versions.len(), 4);
    for version in versions {
        assert_eq!(version["trigger"]["basicAuthentication"], mask, "versions: {version}");
    }
    let everything =
        [fetched, listed, put, patched, replaced, json!(versions)].map(|v| v.to_string()).concat();
    assert!(!everything.contains("s3cret"), "a password was shown");
}

#[tokio::test]
async fn a_mask_with_no_stored_password_and_empty_credentials_are_refused() {
    let app = spawn_app().await;
    let post = app.admin(Method::POST, "/api/workflows").json(&guarded("masked-new", "", "********")).send();
    let put = app
        .admin(Method::PUT, "/api/workflows/masked-put")
        .json(&guarded("masked-put", "", "********"))
        .send();
    app.create_workflow(json!({"key": "open-one", "trigger": {"type": "webhook"}})).await;
    let put_open =
        app.admin(Method::PUT, "/api/workflows/open-one").json(&guarded("open-one", "", "********")).send();
    for response in [post.await.unwrap(), put.await.unwrap(), put_open.await.unwrap()] {
        assert_eq!(response.status(), 422);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["problems"][0]["path"], "trigger.basicAuthentication.password", "{body}");
    }
    assert_eq!(app.admin(Method::GET, "/api/workflows/masked-put").send().await.unwrap().status(), 404);

    for (credentials, path) in [
        (json!({"username": "", "password": "s3cret"}), "trigger.basicAuthentication.username"),
        (json!({"username": "psp", "password": "   "}), "trigger.basicAuthentication.password"),
    ] {
        let mut definition = guarded("empty-auth", "", "x");
        definition["trigger"]["basicAuthentication"] = credentials;
        let response = app.admin(Method::POST, "/api/workflows").json(&definition).send().await.unwrap();
        assert_eq!(response.status(), 422, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["problems"][0]["path"], path, "{body}");
    }
}

#[tokio::test]
async fn executions_are_listed_newest_first_with_a_cursor() {
    let app = spawn_app().await;
    app.create_workflow(workflow("listed", true, json!([
        {"key": "gate", "type": "condition", "config": {"rejectOnFalse": true, "engine": "expression", "expression": "{{$context.body.ok}}"}}
    ])))
    .await;
    let mut ids = Vec::new();
    for ok in [true, false, true, true, false] {
        ids.push(execution_id(&app.post_json("listed", &json!({"ok": ok})).await));
    }
    for id in &ids {
        app.execution(id).await;
    }
    let page: Value = app.admin_json("/api/workflows/listed/executions?limit=2").await;
    let got: Vec<&str> = page["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(got, vec![ids[4].as_str(), ids[3].as_str()]);
    let cursor = page["nextCursor"].as_str().unwrap();
    let next: Value =
        app.admin_json(&format!("/api/workflows/listed/executions?limit=2&cursor={cursor}")).await;
    let got: Vec<&str> = next["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(got, vec![ids[2].as_str(), ids[1].as_str()]);

    let failed: Value = app.admin_json("/api/workflows/listed/executions?status=failed").await;
    let got: Vec<&str> =
        failed["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(got, vec![ids[4].as_str(), ids[1].as_str()]);
    assert_eq!(failed["nextCursor"], Value::Null);

    for bad in ["status=done", "limit=0", "limit=1000", "cursor=zzz"] {
        let response =
            app.admin(Method::GET, &format!("/api/workflows/listed/executions?{bad}")).send().await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    let one: Value = app.admin_json(&format!("/api/executions/{}", ids[0])).await;
    assert_eq!(one["workflowKey"], "listed");
    assert_eq!(one["jobs"][0]["nodeKey"], "gate");
    assert_eq!(one["jobs"][0]["nodeType"], "condition");
    assert!(one["jobs"][0]["startedAt"].is_string() && one["jobs"][0]["finishedAt"].is_string());
    assert_eq!(app.admin(Method::GET, "/api/executions/not-an-id").send().await.unwrap().status(), 404);
    assert_eq!(
        app.admin(Method::GET, &format!("/api/executions/{}", uuid::Uuid::now_v7()))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn parse_lists_paths() {
    let app = spawn_app().await;
    let parse = |kind: &str, example: &str| {
        app.admin(Method::POST, "/api/webhook/parse").json(&json!({"kind": kind, "example": example})).send()
    };
    let body: Value = parse("body", r#"{"a":1,"b":{"c":2}}"#).await.unwrap().json().await.unwrap();
    assert_eq!(body, json!({"paths": [{"key": "a"}, {"key": "b"}, {"key": "b.c"}]}));
    let query: Value =
        parse("query", "https://x.test/hook?query[0][a]=1&z=2").await.unwrap().json().await.unwrap();
    assert_eq!(
        query,
        json!({"paths": [{"key": "query"}, {"key": "query[0]"}, {"key": "query[0].a"}, {"key": "z"}]})
    );
    let bad = parse("body", "{nope").await.unwrap();
    assert_eq!(bad.status(), 400);
    let bad_kind = parse("cookies", "x").await.unwrap();
    assert_eq!(bad_kind.status(), 400);
}
