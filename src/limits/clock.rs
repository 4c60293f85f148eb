//! The time source for limiters and quotas, injectable so tests never sleep.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Real time, or a manual clock that only moves when a test advances it.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    Manual(Arc<ManualClock>),
}

#[derive(Debug)]
pub struct ManualClock {
    base: Instant,
    base_unix: i64,
    offset_nanos: AtomicU64,
}

impl Clock {
    /// A manual clock starting at `unix` seconds.
    pub fn manual(unix: i64) -> (Clock, Arc<ManualClock>) {
        let m = Arc::new(ManualClock {
            base: Instant::now(),
            base_unix: unix,
            offset_nanos: AtomicU64::new(0),
        });
        (Clock::Manual(m.clone()), m)
    }

    pub fn instant(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            Clock::Manual(m) => {
                m.base + Duration::from_nanos(m.offset_nanos.load(Ordering::Acquire))
            }
        }
    }

    /// Wall-clock seconds since the Unix epoch.
    pub fn unix(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            Clock::Manual(m) => {
                m.base_unix + (m.offset_nanos.load(Ordering::Acquire) / 1_000_000_000) as i64
            }
        }
    }
}

impl ManualClock {
    pub fn advance(&self, d: Duration) {
        self.offset_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::AcqRel);
    }
}

impl governor::clock::Clock for Clock {
    type Instant = Instant;
    fn now(&self) -> Instant {
        self.instant()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let (c, m) = Clock::manual(1_000);
        let t0 = c.instant();
        assert_eq!(c.unix(), 1_000);
        m.advance(Duration::from_millis(1500));
        assert_eq!(c.unix(), 1_001);
        assert_eq!(c.instant() - t0, Duration::from_millis(1500));
    }
}
