//! NocoBase's `math.js` and `formula.js` engines in real workflows (SPEC §6): a calculation and
//! a condition run by the real libraries, and an expression that never ends stopped with its job
//! in `error`.

use hookflow_tests::{execution_id, spawn_app, workflow};
use serde_json::{json, Value};

#[tokio::test]
async fn math_js_calculation_and_formula_js_condition() {
    let app = spawn_app().await;
    app.create_workflow(workflow(
        "engines",
        true,
        json!([
            {"key": "total", "type": "calculation",
             "config": {"engine": "math.js", "expression": "round({{$context.body.amount}} * 1.2, 2)"}},
            {"key": "big", "type": "condition",
             "config": {"engine": "formula.js", "expression": "AND({{$jobsMapByNodeKey.total}} > 100, {{$context.body.status}} == 'paid')"},
             "branches": {
                "true": [{"key": "ok", "type": "response", "config": {"statusCode": 200, "body": {"total": "{{$jobsMapByNodeKey.total}}"}}}],
                "false": [{"key": "no", "type": "response", "config": {"statusCode": 422, "body": {"total": "{{$jobsMapByNodeKey.total}}"}}}]}}
        ]),
    ))
    .await;
    let paid = app.post_json("engines", &json!({"amount": 99.99, "status": "paid"})).await;
    assert_eq!(paid.status(), 200);
    assert_eq!(paid.json::<Value>().await.unwrap(), json!({"total": 119.99}));
    let small = app.post_json("engines", &json!({"amount": 50, "status": "paid"})).await;
    assert_eq!(small.status(), 422);
    assert_eq!(small.json::<Value>().await.unwrap(), json!({"total": 60}));
}

#[tokio::test]
async fn an_expression_that_never_ends_is_stopped_and_its_job_is_an_error() {
    let app = spawn_app().await;
    app.create_workflow(workflow(
        "forever",
        true,
        json!([{"key": "spin", "type": "calculation",
                "config": {"engine": "formula.js", "expression": "(() => { for (;;) {} })()"}}]),
    ))
    .await;
    let response = app.post_json("forever", &json!({})).await;
    assert_eq!(response.status(), 500);
    let id = execution_id(&response);
    let execution = app.execution(&id).await;
    assert_eq!(execution["status"], "error", "{execution}");
    let job = &execution["jobs"][0];
    assert_eq!(job["status"], "error");
    assert!(job["result"]["error"].as_str().is_some_and(|m| m.contains("stopped")), "{job}");
    // The engines still answer afterwards.
    let mut quick = workflow(
        "quick",
        true,
        json!([{"key": "c", "type": "calculation",
        "config": {"engine": "math.js", "expression": "2 + 2"}}]),
    );
    quick["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "r", "type": "response", "config": {"body": "{{$jobsMapByNodeKey.c}}"}}));
    app.create_workflow(quick).await;
    let answer = app.post_json("quick", &json!({})).await;
    assert_eq!(answer.json::<Value>().await.unwrap(), json!(4));
}
