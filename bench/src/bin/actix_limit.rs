//! The limit Hookflow is measured against: a minimal actix-web program that parses the
//! reference payload, checks its status and answers, with no queue, no engine and no records.
//! Listens on the address given as its first argument (default 127.0.0.1:18080).

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Payment {
    #[serde(rename = "orderId")]
    order_id: String,
    status: String,
}

async fn callback(body: web::Bytes) -> HttpResponse {
    match serde_json::from_slice::<Payment>(&body) {
        Ok(payment) if payment.status == "paid" => {
            HttpResponse::Ok().json(json!({ "ok": true, "orderId": payment.order_id }))
        }
        Ok(_) => HttpResponse::BadRequest().json(json!({ "ok": false })),
        Err(error) => HttpResponse::BadRequest().json(json!({ "error": error.to_string() })),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18080".into());
    HttpServer::new(|| App::new().route("/{tail:.*}", web::post().to(callback))).bind(listen)?.run().await
}
