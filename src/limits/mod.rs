//! Rate-limiter and quota state, kept outside the snapshot so reloads keep counters.
//!
//! State exists only for keys that authenticated (the pipeline calls in here after
//! authentication and ACL), so unauthenticated traffic cannot grow these maps. Idle
//! rate limiters are swept: a limiter untouched for longer than its replenish period is
//! indistinguishable from a fresh one, so dropping it changes no decision.

pub mod clock;
pub mod quota;
pub mod rate;

pub use clock::{Clock, ManualClock};
pub use quota::{QuotaCell, QuotaDecision};
pub use rate::{Limiter, RateDecision};

use crate::pipeline::authz::Permit;
use crate::policy::snapshot::{QuotaSpec, RateSpec};
use crate::util::KeyMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// Makes quota ceilings durable (the key store in production).
pub trait QuotaSink: Send + Sync + 'static {
    fn persist(&self, key: &str, scope: &str, used: u64, window_end: i64) -> Result<(), String>;
    fn persist_many(&self, records: &[(String, String, u64, i64)]) -> Result<(), String>;
    fn forget(&self, key: &str) -> Result<(), String>;
}

struct RateSlot {
    scope: Arc<str>,
    spec: RateSpec,
    limiter: Arc<Limiter>,
    last_used: i64,
}

#[derive(Default)]
struct KeyState {
    rates: Mutex<Vec<RateSlot>>,
    quotas: Mutex<Vec<(Arc<str>, Arc<QuotaCell>)>>,
}

/// All limiter and quota state of the process.
pub struct Limits {
    clock: Clock,
    keys: KeyMap<Box<str>, Arc<KeyState>>,
    apis: KeyMap<Box<str>, (RateSpec, Arc<Limiter>)>,
    sink: Arc<dyn QuotaSink>,
    last_sweep: AtomicI64,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("keys", &self.keys.len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Limits {
    pub fn new(clock: Clock, sink: Arc<dyn QuotaSink>) -> Limits {
        Limits {
            clock,
            keys: KeyMap::default(),
            apis: KeyMap::default(),
            sink,
            last_sweep: AtomicI64::new(0),
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn key_state(&self, key: &str) -> Arc<KeyState> {
        if let Some(s) = self.keys.get(key) {
            return s.clone();
        }
        self.keys.entry(Box::from(key)).or_default().clone()
    }

    /// Checks the permit's rate limit; `None` when the permit carries none.
    /// `now`: the request's wall-clock seconds (read once per request by the caller).
    pub fn check_rate(&self, permit: &Permit<'_>, now: i64) -> Option<RateDecision> {
        let spec = permit.rate()?;
        Some(self.check_key_rate(permit.key(), permit.scope(), spec, now))
    }

    /// The key's rate for `scope`; a changed `spec` starts a fresh limiter.
    fn check_key_rate(
        &self,
        key: &str,
        scope: &Arc<str>,
        spec: RateSpec,
        now: i64,
    ) -> RateDecision {
        let state = self.key_state(key);
        // One limiter per (scope, rate): two APIs sharing a counter scope with different
        // rates must not keep replacing each other's bucket (each would start full).
        let limiter = {
            let mut rates = lock(&state.rates);
            match rates
                .iter_mut()
                .find(|s| s.scope == *scope && s.spec == spec)
            {
                Some(slot) => {
                    slot.last_used = now;
                    slot.limiter.clone()
                }
                None => {
                    let Some(l) = rate::new_limiter(spec, &self.clock) else {
                        return RateDecision::Allowed {
                            limit: 0,
                            remaining: 0,
                            reset: now,
                        };
                    };
                    let l = Arc::new(l);
                    rates.push(RateSlot {
                        scope: scope.clone(),
                        spec,
                        limiter: l.clone(),
                        last_used: now,
                    });
                    l
                }
            }
        };
        rate::check(&limiter, spec, &self.clock, now)
    }

    /// Checks an API's `global_rate_limit`.
    pub fn check_api_rate(&self, api_id: &str, spec: RateSpec, now: i64) -> RateDecision {
        let limiter = match self.apis.get(api_id) {
            Some(e) if e.0 == spec => e.1.clone(),
            _ => {
                let Some(l) = rate::new_limiter(spec, &self.clock) else {
                    return RateDecision::Allowed {
                        limit: 0,
                        remaining: 0,
                        reset: 0,
                    };
                };
                let l = Arc::new(l);
                self.apis.insert(Box::from(api_id), (spec, l.clone()));
                l
            }
        };
        rate::check(&limiter, spec, &self.clock, now)
    }

    fn cell(&self, key: &str, scope: &Arc<str>) -> Arc<QuotaCell> {
        let state = self.key_state(key);
        let mut quotas = lock(&state.quotas);
        if let Some((_, c)) = quotas.iter().find(|(s, _)| s == scope) {
            return c.clone();
        }
        let c = Arc::new(QuotaCell::default());
        quotas.push((scope.clone(), c.clone()));
        c
    }

    /// Restores a persisted counter (at startup).
    pub fn restore_quota(&self, key: &str, scope: &str, used: u64, window_end: i64) {
        let state = self.key_state(key);
        let mut quotas = lock(&state.quotas);
        quotas.retain(|(s, _)| &**s != scope);
        quotas.push((
            Arc::from(scope),
            Arc::new(QuotaCell::restored(used, window_end)),
        ));
    }

    /// Counts one request against the permit's quota without any I/O (`None` when the
    /// permit carries none); `NeedReserve` means call [`Limits::consume_quota`].
    /// `Allowed { refill: true }` asks the caller to run [`Limits::refill`] in the background.
    pub fn try_consume_quota(&self, permit: &Permit<'_>, now: i64) -> Option<QuotaDecision> {
        let spec = permit.quota()?;
        Some(self.cell(permit.key(), permit.scope()).consume(spec, now))
    }

    /// Extends a cell's durable ceiling (after `refill: true`).
    pub async fn refill(&self, permit: &Permit<'_>) {
        let Some(spec) = permit.quota() else { return };
        let (key, scope) = (permit.key(), permit.scope());
        let cell = self.cell(key, scope);
        if let Err(e) = reserve_with(&self.sink, &self.clock, key, scope, &cell, spec).await {
            tracing::warn!(error = %e, "background quota reservation failed");
        }
        cell.reservation_done();
    }

    /// Counts one request against the permit's quota, reserving durable headroom as
    /// needed; `None` when the permit carries no quota.
    pub async fn consume_quota(
        &self,
        permit: &Permit<'_>,
    ) -> Result<Option<QuotaDecision>, String> {
        let Some(spec) = permit.quota() else {
            return Ok(None);
        };
        let (key, scope) = (permit.key(), permit.scope());
        let cell = self.cell(key, scope);
        loop {
            match cell.consume(spec, self.clock.unix()) {
                QuotaDecision::NeedReserve => {
                    reserve_with(&self.sink, &self.clock, key, scope, &cell, spec).await?
                }
                // `refill: true` is passed on: the caller runs [`Limits::refill`] in the background.
                d => return Ok(Some(d)),
            }
        }
    }

    /// Remaining quota without counting (for `GET /tyk/keys/{key}`); `None` if never used.
    pub fn quota_remaining(&self, key: &str, scope: &str, spec: QuotaSpec) -> Option<u64> {
        let state = self.keys.get(key)?.clone();
        let quotas = lock(&state.quotas);
        let (_, cell) = quotas.iter().find(|(s, _)| &**s == scope)?;
        Some(cell.remaining(spec, self.clock.unix()))
    }

    /// Forgets every counter of a key (key created, replaced or deleted). Cells are
    /// retired first, under their reservation locks, so a background reservation still
    /// in flight cannot write a record for the old counter after it was forgotten.
    pub async fn reset_key(&self, key: &str) -> Result<(), String> {
        if let Some((_, state)) = self.keys.remove(key) {
            let cells: Vec<Arc<QuotaCell>> =
                lock(&state.quotas).iter().map(|(_, c)| c.clone()).collect();
            for cell in cells {
                let _guard = cell.reserve_lock.lock().await;
                cell.retire();
            }
        }
        let sink = self.sink.clone();
        let key = key.to_string();
        tokio::task::spawn_blocking(move || sink.forget(&key))
            .await
            .map_err(|e| format!("quota reset task failed: {e}"))?
    }

    /// Exact counts of every quota cell, for a clean shutdown.
    pub fn flush_quotas(&self) -> Result<usize, String> {
        let mut records = Vec::new();
        for e in self.keys.iter() {
            for (scope, cell) in lock(&e.value().quotas).iter() {
                let s = cell.state();
                if s.used > 0 || s.window_end > 0 {
                    records.push((e.key().to_string(), scope.to_string(), s.used, s.window_end));
                }
            }
        }
        self.sink.persist_many(&records)?;
        Ok(records.len())
    }

    /// Drops idle rate limiters and empty key entries; cheap to call often.
    pub fn sweep(&self, now: i64) {
        if now - self.last_sweep.swap(now, Ordering::AcqRel) < 10 {
            return;
        }
        self.keys.retain(|_, state| {
            let mut rates = lock(&state.rates);
            // Idle for longer than it takes the bucket to refill completely: a fresh
            // limiter would decide exactly the same.
            rates.retain(|s| ((now - s.last_used) as f64) <= rate::refill_seconds(s.spec) + 1.0);
            // A state someone holds right now may be about to get a quota cell: keep it.
            Arc::strong_count(state) > 1 || !rates.is_empty() || !lock(&state.quotas).is_empty()
        });
    }

    /// Number of keys with limiter or quota state (for metrics and tests).
    pub fn tracked_keys(&self) -> usize {
        self.keys.len()
    }

    pub fn rate_limiters(&self) -> usize {
        self.keys.iter().map(|e| lock(&e.value().rates).len()).sum()
    }
}

async fn reserve_with(
    sink: &Arc<dyn QuotaSink>,
    clock: &Clock,
    key: &str,
    scope: &Arc<str>,
    cell: &Arc<QuotaCell>,
    spec: QuotaSpec,
) -> Result<(), String> {
    // One reservation at a time per cell, so durable ceilings are written in increasing order.
    let _guard = cell.reserve_lock.lock().await;
    if cell.is_retired() {
        return Ok(());
    }
    let Some((target, window_end)) = cell.next_reservation(spec, clock.unix()) else {
        return Ok(());
    };
    // The write fsyncs: keep it off the async workers.
    let (sink, k, sc) = (sink.clone(), key.to_string(), scope.clone());
    tokio::task::spawn_blocking(move || sink.persist(&k, &sc, target, window_end))
        .await
        .map_err(|e| format!("quota reservation task failed: {e}"))??;
    cell.reserved(target, window_end);
    Ok(())
}

/// A sink that keeps nothing (tests, and stores without durability).
#[derive(Debug, Default)]
pub struct NullSink;

impl QuotaSink for NullSink {
    fn persist(&self, _: &str, _: &str, _: u64, _: i64) -> Result<(), String> {
        Ok(())
    }
    fn persist_many(&self, _: &[(String, String, u64, i64)]) -> Result<(), String> {
        Ok(())
    }
    fn forget(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn idle_limiters_are_evicted_and_active_ones_kept() {
        let (clock, manual) = Clock::manual(1_000);
        let limits = Limits::new(clock, Arc::new(NullSink));
        let spec = RateSpec {
            rate: 10.0,
            per: 5.0,
        };
        let scope: Arc<str> = Arc::from("");
        limits.check_key_rate("idle", &scope, spec, 1_000);
        limits.check_key_rate("busy", &scope, spec, 1_000);
        assert_eq!(limits.rate_limiters(), 2);
        manual.advance(Duration::from_secs(30));
        limits.check_key_rate("busy", &scope, spec, 1_030);
        limits.sweep(1_030);
        assert_eq!(
            limits.rate_limiters(),
            1,
            "only the limiter idle for longer than `per` goes"
        );
        assert_eq!(limits.tracked_keys(), 1);
    }

    #[test]
    fn a_changed_rate_starts_a_fresh_limiter() {
        let (clock, _) = Clock::manual(0);
        let limits = Limits::new(clock, Arc::new(NullSink));
        let scope: Arc<str> = Arc::from("s");
        let one = RateSpec {
            rate: 1.0,
            per: 60.0,
        };
        assert!(matches!(
            limits.check_key_rate("k", &scope, one, 0),
            RateDecision::Allowed { .. }
        ));
        assert!(matches!(
            limits.check_key_rate("k", &scope, one, 0),
            RateDecision::Limited { .. }
        ));
        let two = RateSpec {
            rate: 2.0,
            per: 60.0,
        };
        // A different rate on the same scope (a changed policy, or another API sharing
        // the counter scope) gets its own limiter instead of resetting this one.
        assert!(matches!(
            limits.check_key_rate("k", &scope, two, 0),
            RateDecision::Allowed { .. }
        ));
        assert_eq!(limits.rate_limiters(), 2);
        assert!(
            matches!(
                limits.check_key_rate("k", &scope, one, 0),
                RateDecision::Limited { .. }
            ),
            "the first limiter was not reset"
        );
    }
}
