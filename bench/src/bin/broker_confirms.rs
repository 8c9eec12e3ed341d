//! RabbitMQ's own confirmed-publish rate on this machine, the ceiling of Hookflow's
//! distributed async path: persistent messages of a given size into a quorum queue, with
//! publisher confirms and a fixed number in flight, for a fixed time.
//!
//! Usage: broker-confirms <amqp-url> <message-bytes> <in-flight> <seconds>
//! Prints one line: `confirmed <n> in <s> s: <rate> msg/s`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio::sync::Semaphore;

const QUEUE: &str = "hookflow-bench.confirms";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(600);
    let in_flight: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(256);
    let seconds: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10);

    let connection = Connection::connect(&url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(QUEUE.into(), durable, arguments).await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;

    let payload = Arc::new(vec![b'x'; size]);
    let slots = Arc::new(Semaphore::new(in_flight));
    let confirmed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    while Instant::now() < until {
        let permit = slots.clone().acquire_owned().await?;
        let confirm = channel
            .basic_publish(
                "".into(),
                QUEUE.into(),
                BasicPublishOptions::default(),
                &payload,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await?;
        let confirmed = confirmed.clone();
        tokio::spawn(async move {
            if confirm.await.is_ok_and(|c| c.is_ack()) {
                confirmed.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
        });
    }
    let _ = slots.acquire_many(in_flight as u32).await?;
    let took = started.elapsed().as_secs_f64();
    let count = confirmed.load(Ordering::Relaxed);
    println!("confirmed {count} in {took:.1} s: {:.0} msg/s", count as f64 / took);
    channel.queue_delete(QUEUE.into(), QueueDeleteOptions::default()).await?;
    Ok(())
}
