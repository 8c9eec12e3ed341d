//! What bounds the work one ingress takes on: a fixed number of webhook requests in flight
//! (`HOOKFLOW_MAX_INFLIGHT`, sync callers held included) and a memory budget for request
//! bodies being received and parsed (`HOOKFLOW_BODY_MEMORY_BYTES`). Both refuse at once
//! (503 + Retry-After) rather than queue callers: a caller told to come back costs nothing,
//! one kept waiting costs a connection and its buffers.

use std::sync::Arc;

use hookflow_shared::budget::{ByteBudget, Refusal, Share};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, Unavailable};

/// The limits shared by every webhook request.
pub struct Limits {
    inflight: Arc<Semaphore>,
    body_memory: ByteBudget,
}

/// A held place among the requests in flight; given back when dropped.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// Memory reserved for one request's body; given back when dropped.
pub struct BodyMemory {
    budget: ByteBudget,
    held: Option<Share>,
}

impl Limits {
    pub fn new(max_inflight: usize, body_memory_bytes: usize) -> Self {
        Self {
            inflight: Arc::new(Semaphore::new(max_inflight.min(Semaphore::MAX_PERMITS))),
            body_memory: ByteBudget::new(body_memory_bytes),
        }
    }

    /// A place among the requests in flight, or 503 when all are taken.
    pub fn admit(&self) -> Result<Slot, ApiError> {
        self.inflight
            .clone()
            .try_acquire_owned()
            .map(|permit| Slot { _permit: permit })
            .map_err(|_| ApiError::Unavailable(Unavailable::Overloaded))
    }

    /// An empty reservation against the body memory budget.
    pub fn body_memory(&self) -> BodyMemory {
        BodyMemory { budget: self.body_memory.clone(), held: None }
    }
}

impl BodyMemory {
    /// Reserves `bytes` more, or answers 503 when the budget is spent; 413 when this one
    /// request alone would need more than the whole budget.
    pub fn grow(&mut self, bytes: usize) -> Result<(), ApiError> {
        self.budget.grow(&mut self.held, bytes).map_err(|refusal| match refusal {
            Refusal::TooLarge => ApiError::TooComplex,
            Refusal::Exhausted => ApiError::Unavailable(Unavailable::Overloaded),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_refused_past_the_limit_and_come_back() {
        let limits = Limits::new(2, 1 << 20);
        let (a, _b) = (limits.admit().unwrap(), limits.admit().unwrap());
        assert!(matches!(limits.admit(), Err(ApiError::Unavailable(Unavailable::Overloaded))));
        drop(a);
        assert!(limits.admit().is_ok());
    }

    #[test]
    fn body_memory_is_shared_and_released() {
        let limits = Limits::new(10, 100 * 1024);
        let mut first = limits.body_memory();
        first.grow(60 * 1024).unwrap();
        let mut second = limits.body_memory();
        assert!(matches!(second.grow(60 * 1024), Err(ApiError::Unavailable(Unavailable::Overloaded))));
        assert!(matches!(second.grow(200 * 1024), Err(ApiError::TooComplex)));
        drop(first);
        second.grow(60 * 1024).unwrap();
        second.grow(30 * 1024).unwrap();
    }
}
