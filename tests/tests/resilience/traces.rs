//! `HOOKFLOW_OTLP_ENDPOINT`: one trace per webhook, from the ingress through the queue to the
//! worker's nodes, received by a collector of the test's own (OTLP/HTTP, protobuf).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use hookflow_tests::{execution_id, workflow, Options};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use serde_json::json;

use crate::fleet::distributed_app_with;

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: Vec<(String, String)>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn text_of(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

async fn collect(body: web::Bytes, spans: web::Data<Mutex<Vec<Received>>>) -> HttpResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut spans = spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.map(|r| text_of(&r.attributes)).unwrap_or_default();
        let service =
            resource.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.clone()).unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|scope| scope.spans) {
            spans.push(Received {
                service: service.clone(),
                name: span.name.clone(),
                trace_id: span.trace_id.clone(),
                span_id: span.span_id.clone(),
                parent_span_id: span.parent_span_id.clone(),
                attributes: text_of(&span.attributes),
            });
        }
    }
    HttpResponse::Ok().content_type("application/x-protobuf").body(Vec::new())
}

#[tokio::test]
#[ignore = "needs RabbitMQ, Redis and PostgreSQL; scripts/test.sh runs it"]
async fn one_trace_per_webhook_from_the_ingress_to_the_nodes() {
    let spans = web::Data::new(Mutex::new(Vec::<Received>::new()));
    let collector = {
        let spans = spans.clone();
        HttpServer::new(move || {
            App::new().app_data(spans.clone()).route("/v1/traces", web::post().to(collect))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap()
    };
    let endpoint = format!("http://{}", collector.addrs()[0]);
    let server = collector.run();
    let stop = server.handle();
    tokio::spawn(server);

    let app =
        distributed_app_with(Options { settings: vec![("otlp_endpoint", endpoint)], ..Default::default() })
            .await;
    app.create_workflow(workflow(
        "traced",
        true,
        json!([
            {"key": "double", "type": "calculation", "config": {"expression": "{{$context.body.n}} * 2"}},
            {"key": "reply", "type": "response", "config": {"statusCode": 201, "body": "{{$jobsMapByNodeKey.double}}"}}
        ]),
    ))
    .await;
    let response = app.post_json("traced", &json!({"n": 21})).await;
    assert_eq!(response.status(), 201);
    let id = execution_id(&response);

    // Spans are exported in batches (every 5 s by default).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (webhook, execution, nodes) = loop {
        let received: Vec<Received> = spans.lock().unwrap().clone();
        let webhook =
            received.iter().find(|s| s.name == "webhook" && s.attribute("execution_id") == Some(&id));
        let execution =
            received.iter().find(|s| s.name == "execution" && s.attribute("execution_id") == Some(&id));
        if let (Some(webhook), Some(execution)) = (webhook, execution) {
            let nodes: Vec<Received> = received
                .iter()
                .filter(|s| s.name == "node" && s.parent_span_id == execution.span_id)
                .cloned()
                .collect();
            if nodes.len() == 2 {
                break (webhook.clone(), execution.clone(), nodes);
            }
        }
        assert!(Instant::now() < deadline, "the trace of {id} was not received within 30 s: {received:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop.stop(false).await;

    assert_eq!(webhook.service, "hookflow-ingress");
    assert_eq!(webhook.attribute("workflow"), Some("traced"));
    assert_eq!(webhook.attribute("http.status_code"), Some("201"));
    assert_eq!(execution.service, "hookflow-worker");
    assert_eq!(execution.trace_id, webhook.trace_id, "the worker continues the webhook's trace");
    assert_eq!(execution.parent_span_id, webhook.span_id, "through the queue, as the webhook's child");
    assert_eq!(execution.attribute("workflow"), Some("traced"));
    let mut names: Vec<(&str, &str)> = nodes
        .iter()
        .map(|n| (n.attribute("node").unwrap_or(""), n.attribute("type").unwrap_or("")))
        .collect();
    names.sort();
    assert_eq!(names, vec![("double", "calculation"), ("reply", "response")]);
    assert!(nodes.iter().all(|n| n.trace_id == webhook.trace_id));
}
