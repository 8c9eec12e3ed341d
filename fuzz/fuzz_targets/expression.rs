//! Fuzzes the `expression` engine of condition and calculation nodes: `expression::check`
//! (compile) and `expression::evaluate` against variables built from the input.
//!
//! Input (at most 4096 bytes): `EXPRESSION\0S\0I\0F`. `S` (any text, non-ASCII included) is
//! bound at `$context.s`, `I` (an integer as text) at `$context.i`, `F` (a float as text) at
//! `$context.f`, and they reappear in lists, objects, `$jobsMapByNodeKey` and `$scopes`.
#![no_main]

use hookflow_shared::expression;
use hookflow_shared::template::{self, TemplateError, Variables};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Mutex, OnceLock};

/// Longer expressions are not what workflows hold, and deep ones are a known stack limit.
const MAX_INPUT: usize = 4096;

/// Workflows run on tokio's worker threads, whose stacks are 2 MiB, not the main thread's 8.
const WORKER_STACK: usize = 2 << 20;

/// One long-lived thread with a worker's stack runs every input; starting a thread per input
/// would cost more than most inputs.
struct Worker {
    inputs: SyncSender<Vec<u8>>,
    done: Receiver<()>,
}

fn worker() -> &'static Mutex<Worker> {
    static WORKER: OnceLock<Mutex<Worker>> = OnceLock::new();
    WORKER.get_or_init(|| {
        let (inputs, receive_input) = mpsc::sync_channel::<Vec<u8>>(0);
        let (send_done, done) = mpsc::sync_channel(0);
        std::thread::Builder::new()
            .stack_size(WORKER_STACK)
            .spawn(move || {
                for data in receive_input {
                    run(&data);
                    // A panic in `run` aborts the process (libfuzzer-sys' hook): still a crash.
                    let _ = send_done.send(());
                }
            })
            .expect("the fuzzing thread starts");
        Mutex::new(Worker { inputs, done })
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let worker = worker().lock().expect("no earlier run panicked");
    worker.inputs.send(data.to_vec()).expect("the fuzzing thread runs");
    worker.done.recv().expect("the fuzzing thread answers");
});

fn run(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0);
    let text = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let s = String::from_utf8_lossy(parts.next().unwrap_or(b"Zo\xc3\xab \xe2\x9c\x93")).into_owned();
    let i: i64 = number(parts.next()).unwrap_or(42);
    let f: f64 = number(parts.next()).unwrap_or(2.5);
    let f = serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number);

    let context = json!({
        "s": s, "i": i, "f": f, "n": null, "b": i % 2 == 0,
        "u": "Zoë ✓ 日本語", "list": [i, s, f], "obj": {"s": s, "i": i},
    });
    let jobs: Map<String, Value> = json!({"calc": i, "text": s}).as_object().cloned().unwrap_or_default();
    let scopes: Map<String, Value> =
        json!({"loop": {"item": s, "index": i, "length": 3}}).as_object().cloned().unwrap_or_default();
    let variables = Variables { context: &context, jobs: &jobs, scopes: &scopes };

    let checked = expression::check(&text);
    let evaluated = expression::evaluate(&text, &variables);
    if checked.is_err() && !matches!(template::check(&text), Err(TemplateError::UnknownRoot(_))) {
        // Only an unknown variable root is left for evaluation to find (it reads as null);
        // anything else that does not compile cannot evaluate either.
        assert!(evaluated.is_err(), "{text:?} does not compile ({checked:?}) but evaluated to {evaluated:?}");
    }

    // Placeholder data is bound, never pasted into the expression: it comes back as it is.
    assert_eq!(expression::evaluate("{{$context.s}}", &variables), Ok(Value::String(s.clone())));
    assert_eq!(expression::evaluate("{{$context.i}}", &variables), Ok(json!(i)));
    assert_eq!(expression::evaluate("{{ $context.f }}", &variables), Ok(f));
}

/// A number written as text, when it reads as one.
fn number<T: std::str::FromStr>(bytes: Option<&[u8]>) -> Option<T> {
    std::str::from_utf8(bytes?).ok()?.trim().parse().ok()
}
