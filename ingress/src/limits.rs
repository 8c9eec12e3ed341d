//! What bounds the work one ingress takes on: a fixed number of webhook requests in flight
//! (`HOOKFLOW_MAX_INFLIGHT`, sync callers held included) and a memory budget for request
//! bodies being received and parsed (`HOOKFLOW_BODY_MEMORY_BYTES`). Both refuse at once
//! (503 + Retry-After) rather than queue callers: a caller told to come back costs nothing,
//! one kept waiting costs a connection and its buffers.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, Unavailable};

/// Budget units: permits count KiB so large budgets fit a semaphore's `u32` requests.
const UNIT: usize = 1024;

/// The limits shared by every webhook request.
pub struct Limits {
    inflight: Arc<Semaphore>,
    body_memory: Arc<Semaphore>,
    body_units: u32,
}

/// A held place among the requests in flight; given back when dropped.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// Memory reserved for one request's body; given back when dropped.
pub struct BodyMemory {
    budget: Arc<Semaphore>,
    units: u32,
    held: Option<OwnedSemaphorePermit>,
}

impl Limits {
    pub fn new(max_inflight: usize, body_memory_bytes: usize) -> Self {
        let body_units = u32::try_from(body_memory_bytes / UNIT)
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        Self {
            inflight: Arc::new(Semaphore::new(max_inflight.min(Semaphore::MAX_PERMITS))),
            body_memory: Arc::new(Semaphore::new(body_units as usize)),
            body_units,
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
        BodyMemory { budget: self.body_memory.clone(), units: self.body_units, held: None }
    }
}

impl BodyMemory {
    /// Reserves `bytes` more, or answers 503 when the budget is spent; 413 when this one
    /// request alone would need more than the whole budget.
    pub fn grow(&mut self, bytes: usize) -> Result<(), ApiError> {
        let held = self.held.as_ref().map_or(0, |p| p.num_permits());
        let wanted = bytes.div_ceil(UNIT);
        if held + wanted > self.units as usize {
            return Err(ApiError::TooComplex);
        }
        let units = u32::try_from(wanted).unwrap_or(u32::MAX);
        if units == 0 {
            return Ok(());
        }
        let permit = self
            .budget
            .clone()
            .try_acquire_many_owned(units)
            .map_err(|_| ApiError::Unavailable(Unavailable::Overloaded))?;
        match &mut self.held {
            Some(held) => held.merge(permit),
            None => self.held = Some(permit),
        }
        Ok(())
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
