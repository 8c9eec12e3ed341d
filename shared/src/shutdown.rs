//! The process's end, owned in code: SIGTERM and SIGINT become one [`CancellationToken`] that
//! `main` hands to whatever must stop. Servers run with actix's own signal handling disabled,
//! so the order of the drain (stop accepting, answer the callers held, finish executions,
//! write their records) is decided here and not by a signal reaching each server at once.

use tokio_util::sync::CancellationToken;

/// A token cancelled by the first SIGTERM or SIGINT. The drain that follows is bounded by the
/// process's own timeouts; a second signal ends the process at once (exit status 130), for an
/// operator who will not wait for it.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let signal = wait_for_signal().await;
        tracing::info!(signal, "stopping");
        cancel.cancel();
        let again = wait_for_signal().await;
        tracing::warn!(signal = again, "second signal: exiting without finishing the drain");
        std::process::exit(130);
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut terminate), Ok(mut interrupt)) => tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        },
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the process");
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}
