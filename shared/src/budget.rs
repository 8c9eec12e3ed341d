//! A memory budget in bytes, shared by whatever holds a share of it: request bodies in the
//! ingress, queued executions in embedded mode, prefetched messages in a worker. Shares are
//! counted in KiB so that large budgets fit a semaphore's `u32` requests; a share is given back
//! when dropped.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budget units.
const UNIT: usize = 1024;

/// A budget of estimated bytes. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct ByteBudget {
    semaphore: Arc<Semaphore>,
    units: u32,
}

/// Part of a budget, held until dropped.
pub struct Share(OwnedSemaphorePermit);

/// Why a share could not be had at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// More than the whole budget: it would never fit.
    TooLarge,
    /// Not now: others hold the rest.
    Exhausted,
}

impl ByteBudget {
    pub fn new(bytes: usize) -> Self {
        let units = u32::try_from(bytes / UNIT).unwrap_or(u32::MAX).clamp(1, Semaphore::MAX_PERMITS as u32);
        Self { semaphore: Arc::new(Semaphore::new(units as usize)), units }
    }

    /// Waits for a share of `bytes`. One larger than the whole budget waits for all of it, so
    /// it runs alone instead of never.
    pub async fn take(&self, bytes: usize) -> Share {
        let units = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX).clamp(1, self.units);
        // The semaphore is never closed, so acquiring can only wait, not fail.
        match self.semaphore.clone().acquire_many_owned(units).await {
            Ok(permit) => Share(permit),
            Err(_) => unreachable!("a budget's semaphore is never closed"),
        }
    }

    /// Adds `bytes` to `held` at once, or says why not.
    pub fn grow(&self, held: &mut Option<Share>, bytes: usize) -> Result<(), Refusal> {
        let already = held.as_ref().map_or(0, |share| share.0.num_permits());
        let wanted = bytes.div_ceil(UNIT);
        if already + wanted > self.units as usize {
            return Err(Refusal::TooLarge);
        }
        if wanted == 0 {
            return Ok(());
        }
        let units = u32::try_from(wanted).unwrap_or(u32::MAX);
        let permit = self.semaphore.clone().try_acquire_many_owned(units).map_err(|_| Refusal::Exhausted)?;
        match held {
            Some(share) => share.0.merge(permit),
            None => *held = Some(Share(permit)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shares_are_bounded_and_given_back() {
        let budget = ByteBudget::new(100 * 1024);
        let mut first = None;
        budget.grow(&mut first, 60 * 1024).unwrap();
        let mut second = None;
        assert_eq!(budget.grow(&mut second, 60 * 1024), Err(Refusal::Exhausted));
        assert_eq!(budget.grow(&mut second, 200 * 1024), Err(Refusal::TooLarge));
        drop(first);
        budget.grow(&mut second, 60 * 1024).unwrap();
        budget.grow(&mut second, 30 * 1024).unwrap();
        drop(second);
        // Larger than the budget: waits for all of it rather than never.
        let whole = budget.take(10 << 20).await;
        assert_eq!(budget.grow(&mut None, 1), Err(Refusal::Exhausted));
        drop(whole);
    }
}
