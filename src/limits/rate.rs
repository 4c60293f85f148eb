//! Per-key rate limiting with governor (GCRA): `rate` requests per `per` seconds,
//! bursting up to `rate` (PRODUCT.md decision 8).

use super::clock::Clock;
use crate::policy::snapshot::RateSpec;
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

pub type Limiter = RateLimiter<NotKeyed, InMemoryState, Clock, StateInformationMiddleware>;

/// The outcome of one rate check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed {
        limit: u32,
        remaining: u32,
        reset: i64,
    },
    Limited {
        limit: u32,
        retry_after: u64,
        reset: i64,
    },
}

/// Requests allowed at once: `rate`, at least 1 (fractional rates allow one).
pub fn burst(spec: RateSpec) -> u32 {
    spec.rate.floor().clamp(1.0, u32::MAX as f64) as u32
}

/// governor parameters for a Tyk rate: one cell every `per / rate` seconds, burst `rate`.
pub fn quota_for(spec: RateSpec) -> Option<Quota> {
    let period = Duration::from_secs_f64((spec.per / spec.rate).clamp(1e-9, 1e9));
    let burst = NonZeroU32::new(burst(spec))?;
    Some(Quota::with_period(period)?.allow_burst(burst))
}

pub fn new_limiter(spec: RateSpec, clock: &Clock) -> Option<Limiter> {
    Some(
        RateLimiter::direct_with_clock(quota_for(spec)?, clock.clone())
            .with_middleware::<StateInformationMiddleware>(),
    )
}

/// Seconds for an empty bucket to refill completely: burst × (per / rate).
pub fn refill_seconds(spec: RateSpec) -> f64 {
    f64::from(burst(spec)) * (spec.per / spec.rate)
}

/// `now + secs`, saturating (huge configured periods must not wrap).
fn later(now: i64, secs: f64) -> i64 {
    now.saturating_add(secs.ceil().clamp(0.0, i64::MAX as f64) as i64)
}

/// Checks one request against `limiter`.
pub fn check(limiter: &Limiter, spec: RateSpec, clock: &Clock, now_unix: i64) -> RateDecision {
    let limit = burst(spec);
    match limiter.check() {
        Ok(snapshot) => {
            let remaining = snapshot.remaining_burst_capacity();
            // The bucket is full again after (limit - remaining) periods.
            let per_cell = spec.per / spec.rate;
            let reset = later(now_unix, (limit - remaining.min(limit)) as f64 * per_cell);
            RateDecision::Allowed {
                limit,
                remaining,
                reset,
            }
        }
        Err(not_until) => {
            let now: Instant = clock.instant();
            let wait = not_until.wait_time_from(now);
            let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            RateDecision::Limited {
                limit,
                retry_after: retry_after.max(1),
                reset: later(now_unix, retry_after as f64),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rate: f64, per: f64) -> RateSpec {
        RateSpec { rate, per }
    }

    #[test]
    fn burst_of_rate_then_limited_until_a_cell_frees() {
        let (clock, manual) = Clock::manual(1_000);
        let s = spec(3.0, 3.0);
        let l = new_limiter(s, &clock).unwrap();
        for want_remaining in [2, 1, 0] {
            match check(&l, s, &clock, clock.unix()) {
                RateDecision::Allowed {
                    remaining, limit, ..
                } => {
                    assert_eq!((limit, remaining), (3, want_remaining))
                }
                d => panic!("{d:?}"),
            }
        }
        assert_eq!(
            check(&l, s, &clock, clock.unix()),
            RateDecision::Limited {
                limit: 3,
                retry_after: 1,
                reset: 1_001
            }
        );
        manual.advance(Duration::from_millis(1000));
        assert!(matches!(
            check(&l, s, &clock, clock.unix()),
            RateDecision::Allowed { .. }
        ));
        assert!(matches!(
            check(&l, s, &clock, clock.unix()),
            RateDecision::Limited { .. }
        ));
    }

    #[test]
    fn slow_rates_report_long_retry_after() {
        let (clock, _) = Clock::manual(0);
        let s = spec(1.0, 60.0);
        let l = new_limiter(s, &clock).unwrap();
        assert!(matches!(
            check(&l, s, &clock, clock.unix()),
            RateDecision::Allowed { remaining: 0, .. }
        ));
        match check(&l, s, &clock, clock.unix()) {
            RateDecision::Limited { retry_after, .. } => assert_eq!(retry_after, 60),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn fractional_rates_allow_one() {
        let (clock, manual) = Clock::manual(0);
        let s = spec(0.5, 1.0);
        let l = new_limiter(s, &clock).unwrap();
        assert!(matches!(
            check(&l, s, &clock, clock.unix()),
            RateDecision::Allowed { .. }
        ));
        assert!(matches!(
            check(&l, s, &clock, clock.unix()),
            RateDecision::Limited { retry_after: 2, .. }
        ));
        manual.advance(Duration::from_secs(2));
        assert!(matches!(
            check(&l, s, &clock, clock.unix()),
            RateDecision::Allowed { .. }
        ));
    }
}
