//! The one retry policy of every process, on `backon`: exponential backoff with jitter, each
//! kind of operation with its own bounds ([`Policy`]). An operation that either succeeds soon
//! or fails for good goes through [`retry`]; a loop that keeps a connection alive keeps a
//! [`Backoff`], resets it when the connection proves itself, and waits with [`pause`], which
//! ends at once when the process stops.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder, Retryable};
use tokio_util::sync::CancellationToken;

/// How one kind of operation is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    first: Duration,
    longest: Duration,
    /// Retries after the first try; `None`: until it succeeds or the process stops.
    retries: Option<usize>,
    /// Whether each retry is logged as a warning (else at debug: its caller reports the end).
    loud: bool,
}

impl Policy {
    /// Reconnecting to a server that went away (RabbitMQ, Redis): 100 ms doubling to 1 s (each
    /// with up to as much again of jitter), for as long as it takes; short, so that service
    /// resumes within about two seconds of its return.
    pub const RECONNECT: Self = Self::new(100, 1_000, None, true);
    /// A command whose loss would cost a caller its answer (a Redis PUBLISH or SET): two more
    /// tries within about half a second, the time a broken connection takes to be replaced.
    /// Quiet: during an outage every command would log, and its caller reports the failure.
    pub const COMMAND: Self = Self::new(100, 200, Some(2), false);
    /// Replicas starting together race on the same rows (migrations, workflow files); the
    /// loser tries again after the winner committed.
    pub const STARTUP_RACE: Self = Self::new(20, 500, Some(5), true);
    /// A write that must not be dropped (execution records): 50 ms doubling to 5 s (with up to
    /// as much again of jitter), until it succeeds or its caller gives up.
    pub const DURABLE_WRITE: Self = Self::new(50, 5_000, None, true);

    const fn new(first_ms: u64, longest_ms: u64, retries: Option<usize>, loud: bool) -> Self {
        Self {
            first: Duration::from_millis(first_ms),
            longest: Duration::from_millis(longest_ms),
            retries,
            loud,
        }
    }

    fn builder(self) -> ExponentialBuilder {
        let builder = ExponentialBuilder::default()
            .with_min_delay(self.first)
            .with_max_delay(self.longest)
            .with_jitter();
        match self.retries {
            Some(retries) => builder.with_max_times(retries),
            None => builder.without_max_times(),
        }
    }
}

/// Runs `operation` until it succeeds, fails with an error `retryable` refuses, or `policy`'s
/// retries are spent (then its last error). Each retry is logged with `what`.
pub async fn retry<T, E, F, Fut>(
    policy: Policy,
    what: &'static str,
    operation: F,
    retryable: impl FnMut(&E) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    operation
        .retry(policy.builder())
        .sleep(tokio::time::sleep)
        .when(retryable)
        .notify(|error, wait| {
            if policy.loud {
                tracing::warn!(%error, retry_in = ?wait, "{what} failed");
            } else {
                tracing::debug!(%error, retry_in = ?wait, "{what} failed");
            }
        })
        .await
}

/// The delays of a reconnecting loop.
pub struct Backoff {
    policy: Policy,
    delays: ExponentialBackoff,
}

impl Backoff {
    pub fn new(policy: Policy) -> Self {
        Self { policy, delays: policy.builder().build() }
    }

    /// Back to the first, shortest delay: the connection has proved itself.
    pub fn reset(&mut self) {
        self.delays = self.policy.builder().build();
    }

    /// The delay before the next try (the longest one once a bounded policy is spent).
    pub fn next_delay(&mut self) -> Duration {
        self.delays.next().unwrap_or(self.policy.longest)
    }
}

/// Sleeps `delay`; `false` when `stop` fired first (the caller then ends its loop).
pub async fn pause(delay: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_bounded_policy_gives_up_with_the_last_error() {
        let tries = AtomicUsize::new(0);
        let result: Result<(), String> = retry(
            Policy::COMMAND,
            "a test command",
            || async {
                let n = tries.fetch_add(1, Ordering::SeqCst);
                Err(format!("failure {n}"))
            },
            |_| true,
        )
        .await;
        assert_eq!(result, Err("failure 2".to_owned()));
        assert_eq!(tries.load(Ordering::SeqCst), 3, "one try and two retries");
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_not_retryable_ends_at_once() {
        let tries = AtomicUsize::new(0);
        let result: Result<(), &str> = retry(
            Policy::STARTUP_RACE,
            "a test write",
            || async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err("invalid")
            },
            |error| *error != "invalid",
        )
        .await;
        assert_eq!(result, Err("invalid"));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn success_after_failures_is_returned() {
        let tries = AtomicUsize::new(0);
        let result: Result<usize, String> = retry(
            Policy::STARTUP_RACE,
            "a test race",
            || async {
                let n = tries.fetch_add(1, Ordering::SeqCst);
                if n < 3 {
                    Err("conflict".to_owned())
                } else {
                    Ok(n)
                }
            },
            |_| true,
        )
        .await;
        assert_eq!(result, Ok(3));
    }

    #[test]
    fn backoff_grows_to_its_bound_and_resets() {
        let mut backoff = Backoff::new(Policy::RECONNECT);
        let delays: Vec<Duration> = (0..8).map(|_| backoff.next_delay()).collect();
        // Jitter adds up to one more delay on top of each step.
        assert!(
            delays[0] >= Duration::from_millis(100) && delays[0] <= Duration::from_millis(200),
            "{delays:?}"
        );
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)), "{delays:?}");
        assert!(delays[7] >= Duration::from_secs(1), "{delays:?}");
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_ends_when_the_process_stops() {
        let stop = CancellationToken::new();
        assert!(pause(Duration::from_millis(10), &stop).await);
        stop.cancel();
        assert!(!pause(Duration::from_secs(3600), &stop).await);
    }
}
