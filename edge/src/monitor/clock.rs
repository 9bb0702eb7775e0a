//! The loop's clock for turns that have no frame to take a time from (a trait, so tests
//! drive time by hand).

use std::time::Instant;

/// Monotonic milliseconds, for turns of the loop that have no frame to take a time from.
pub trait Clock {
    /// Milliseconds since some fixed start.
    fn now_ms(&self) -> u64;
}

/// The system's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock(Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock(Instant::now())
    }
}

impl Clock for MonotonicClock {
    fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis().min(u64::MAX as u128) as u64
    }
}
