//! Exact quotas: `max` requests per window of `renewal` seconds, starting at the first
//! request of a window (tyk-compat §7).
//!
//! Exactness: each (key, scope) has one cell whose count only changes under its mutex,
//! so with any number of concurrent clients exactly `max` requests pass per window.
//!
//! Durability without a write per request: a cell may only grant up to `reserved`, a
//! ceiling that has already been made durable. When the count nears the ceiling a
//! larger one is written in the background; if it is reached first, the request waits
//! for the write. After a crash the count restarts at the last durable ceiling, so a
//! crash can under-grant by at most one reservation chunk but never grant more than
//! `max`. A clean shutdown writes exact counts, so nothing is lost.

use crate::policy::snapshot::QuotaSpec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The outcome of one quota check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaDecision {
    /// Granted. `refill` asks the caller to extend the durable ceiling in the background.
    Allowed {
        remaining: u64,
        reset: i64,
        refill: bool,
    },
    Exceeded {
        retry_after: u64,
        reset: i64,
    },
    /// The durable ceiling is used up: reserve more, then check again.
    NeedReserve,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CellState {
    pub used: u64,
    /// Unix seconds when the window ends; 0 = no window yet / never renews.
    pub window_end: i64,
    pub reserved: u64,
}

#[derive(Debug, Default)]
pub struct QuotaCell {
    state: Mutex<CellState>,
    reserving: AtomicBool,
    /// Set when the key's counters were reset: no more reservations for this cell.
    retired: AtomicBool,
    /// Serialises reservations of this cell so durable ceilings only ever grow.
    pub(crate) reserve_lock: tokio::sync::Mutex<()>,
}

/// How far ahead a reservation reaches: 5 % of the quota, between 1 and 10,000.
pub fn chunk(max: u64) -> u64 {
    (max / 20).clamp(1, 10_000)
}

impl QuotaCell {
    pub fn restored(used: u64, window_end: i64) -> QuotaCell {
        QuotaCell {
            state: Mutex::new(CellState {
                used,
                window_end,
                reserved: used,
            }),
            ..Default::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CellState> {
        // A poisoned cell only means another request panicked mid-update of plain
        // integers; the values are still meaningful.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> CellState {
        *self.lock()
    }

    /// Starts a new window when the old one has ended.
    fn roll(s: &mut CellState, spec: QuotaSpec, now: i64) {
        if spec.renewal > 0 && (s.window_end == 0 || now >= s.window_end) {
            s.used = 0;
            s.reserved = 0;
            s.window_end = now.saturating_add(spec.renewal);
        }
    }

    /// Counts one request if the quota allows it.
    pub fn consume(&self, spec: QuotaSpec, now: i64) -> QuotaDecision {
        let mut s = self.lock();
        Self::roll(&mut s, spec, now);
        if s.used >= spec.max {
            let retry_after = if s.window_end > 0 {
                (s.window_end - now).max(1) as u64
            } else {
                0
            };
            return QuotaDecision::Exceeded {
                retry_after,
                reset: s.window_end,
            };
        }
        if s.used >= s.reserved {
            return QuotaDecision::NeedReserve;
        }
        s.used += 1;
        let headroom = s.reserved - s.used;
        let refill = s.reserved < spec.max
            && headroom <= chunk(spec.max) / 2
            && !self.reserving.swap(true, Ordering::AcqRel);
        QuotaDecision::Allowed {
            remaining: spec.max - s.used,
            reset: s.window_end,
            refill,
        }
    }

    /// The next durable ceiling to write, or `None` if the current one suffices.
    pub fn next_reservation(&self, spec: QuotaSpec, now: i64) -> Option<(u64, i64)> {
        let mut s = self.lock();
        Self::roll(&mut s, spec, now);
        if s.reserved >= spec.max || s.reserved - s.used.min(s.reserved) > chunk(spec.max) / 2 {
            return None;
        }
        // Never more than one chunk ahead of the count: that bounds what a crash can lose.
        let target = (s.used + chunk(spec.max)).min(spec.max);
        (target > s.reserved).then_some((target, s.window_end))
    }

    /// Records that `target` for the window ending at `window_end` is durable.
    pub fn reserved(&self, target: u64, window_end: i64) {
        let mut s = self.lock();
        if s.window_end == window_end && target > s.reserved {
            s.reserved = target;
        }
    }

    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    pub fn reservation_done(&self) {
        self.reserving.store(false, Ordering::Release);
    }

    /// Remaining requests in the current window, without counting one.
    pub fn remaining(&self, spec: QuotaSpec, now: i64) -> u64 {
        let s = self.lock();
        if spec.renewal > 0 && s.window_end != 0 && now >= s.window_end {
            return spec.max;
        }
        spec.max.saturating_sub(s.used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant_all(cell: &QuotaCell, spec: QuotaSpec, now: i64) -> QuotaDecision {
        loop {
            match cell.consume(spec, now) {
                QuotaDecision::NeedReserve => {
                    // `None`: another thread reserved since this one was refused.
                    if let Some((t, w)) = cell.next_reservation(spec, now) {
                        cell.reserved(t, w);
                    }
                }
                d => return d,
            }
        }
    }

    #[test]
    fn exactly_max_per_window_then_renews() {
        let cell = QuotaCell::default();
        let spec = QuotaSpec {
            max: 3,
            renewal: 60,
        };
        for want in [2, 1, 0] {
            assert!(
                matches!(grant_all(&cell, spec, 100), QuotaDecision::Allowed { remaining, reset: 160, .. } if remaining == want)
            );
        }
        assert_eq!(
            grant_all(&cell, spec, 130),
            QuotaDecision::Exceeded {
                retry_after: 30,
                reset: 160
            }
        );
        assert!(matches!(
            grant_all(&cell, spec, 160),
            QuotaDecision::Allowed {
                remaining: 2,
                reset: 220,
                ..
            }
        ));
    }

    #[test]
    fn never_renews_when_renewal_is_not_positive() {
        let cell = QuotaCell::default();
        let spec = QuotaSpec { max: 1, renewal: 0 };
        assert!(matches!(
            grant_all(&cell, spec, 0),
            QuotaDecision::Allowed { .. }
        ));
        assert_eq!(
            grant_all(&cell, spec, 1_000_000),
            QuotaDecision::Exceeded {
                retry_after: 0,
                reset: 0
            }
        );
    }

    #[test]
    fn never_grants_past_the_durable_ceiling() {
        let cell = QuotaCell::default();
        let spec = QuotaSpec {
            max: 100,
            renewal: 0,
        };
        assert_eq!(cell.consume(spec, 0), QuotaDecision::NeedReserve);
        let (t, w) = cell.next_reservation(spec, 0).unwrap();
        assert_eq!((t, w), (5, 0));
        cell.reserved(t, w);
        for _ in 0..5 {
            assert!(matches!(
                cell.consume(spec, 0),
                QuotaDecision::Allowed { .. }
            ));
        }
        assert_eq!(cell.consume(spec, 0), QuotaDecision::NeedReserve);
    }

    #[test]
    fn restored_counts_continue() {
        let cell = QuotaCell::restored(2, 500);
        let spec = QuotaSpec {
            max: 3,
            renewal: 600,
        };
        assert!(matches!(
            grant_all(&cell, spec, 100),
            QuotaDecision::Allowed { remaining: 0, .. }
        ));
        assert!(matches!(
            grant_all(&cell, spec, 100),
            QuotaDecision::Exceeded { .. }
        ));
    }

    #[test]
    fn lowering_max_below_used_blocks() {
        let cell = QuotaCell::restored(10, 0);
        assert!(matches!(
            cell.consume(QuotaSpec { max: 5, renewal: 0 }, 0),
            QuotaDecision::Exceeded { .. }
        ));
    }

    #[test]
    fn concurrent_consumers_get_exactly_max() {
        use std::sync::atomic::AtomicU64;
        use std::sync::Arc;
        let cell = Arc::new(QuotaCell::default());
        let granted = Arc::new(AtomicU64::new(0));
        let spec = QuotaSpec {
            max: 500,
            renewal: 0,
        };
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (cell, granted) = (cell.clone(), granted.clone());
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        if let QuotaDecision::Allowed { .. } = grant_all(&cell, spec, 0) {
                            granted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(granted.load(Ordering::Relaxed), 500);
    }
}
