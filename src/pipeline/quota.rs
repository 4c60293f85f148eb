//! Stage: quota, through the permit (tyk-compat §7). Counting is synchronous and
//! allocation-free in steady state; the rare durable reservation finishes after the
//! decision ([`follow_up`]).

use super::authz::Permit;
use crate::limits::{Limits, QuotaDecision};
use crate::respond::refusal::{GatewayError, RateHeaders};
use crate::state::AppState;
use std::sync::Arc;

/// A quota check that needs a durable reservation (or a background refill) first.
#[derive(Debug, Clone)]
pub struct QuotaFollowUp {
    pub permit: Permit<'static>,
    /// `true`: the request is not yet counted (reserve, then count); `false`: counted,
    /// just extend the ceiling in the background.
    pub pending: bool,
}

/// Counts the request; the `X-RateLimit-*` values when they come from the quota (the
/// default), and what must still happen before forwarding.
pub fn check(
    limits: &Limits,
    permit: &Permit<'_>,
    now: i64,
    headers_from_rate: bool,
) -> Result<(Option<RateHeaders>, Option<QuotaFollowUp>), GatewayError> {
    let follow = |pending| QuotaFollowUp {
        permit: permit.clone().into_owned(),
        pending,
    };
    match limits.try_consume_quota(permit, now) {
        Some(QuotaDecision::Allowed {
            remaining,
            reset,
            refill,
        }) => {
            let headers = permit
                .quota()
                .filter(|_| !headers_from_rate)
                .map(|spec| RateHeaders {
                    limit: spec.max as i64,
                    remaining: remaining as i64,
                    reset,
                });
            Ok((headers, refill.then(|| follow(false))))
        }
        Some(QuotaDecision::Exceeded { retry_after, .. }) => {
            Err(GatewayError::QuotaExceeded { retry_after })
        }
        Some(QuotaDecision::NeedReserve) => Ok((None, Some(follow(true)))),
        None if !headers_from_rate => {
            let (max, remaining, renews) = permit.shown_quota();
            Ok((
                Some(RateHeaders {
                    limit: max,
                    remaining: remaining.max(0),
                    reset: renews,
                }),
                None,
            ))
        }
        None => Ok((None, None)),
    }
}

/// Completes a quota check that needed a durable reservation, or starts the refill.
pub async fn follow_up(
    state: &Arc<AppState>,
    f: QuotaFollowUp,
    headers: &mut Option<RateHeaders>,
) -> Result<(), GatewayError> {
    if !f.pending {
        let st = state.clone();
        tokio::spawn(async move { st.limits.refill(&f.permit).await });
        return Ok(());
    }
    match state.limits.consume_quota(&f.permit).await {
        Ok(Some(QuotaDecision::Allowed {
            remaining,
            reset,
            refill,
        })) => {
            if !state.config.rate_headers_from_rate() {
                if let Some(spec) = f.permit.quota() {
                    *headers = Some(RateHeaders {
                        limit: spec.max as i64,
                        remaining: remaining as i64,
                        reset,
                    });
                }
            }
            if refill {
                let st = state.clone();
                tokio::spawn(async move { st.limits.refill(&f.permit).await });
            }
            Ok(())
        }
        Ok(None) => Ok(()),
        Ok(Some(QuotaDecision::Exceeded { retry_after, .. })) => {
            Err(GatewayError::QuotaExceeded { retry_after })
        }
        Ok(Some(QuotaDecision::NeedReserve)) => Err(GatewayError::StorageUnavailable),
        Err(e) => {
            // Deny by default: a count that cannot be made durable could be lost and over-granted.
            tracing::error!(error = %e, "quota counter could not be made durable; refusing the request");
            Err(GatewayError::StorageUnavailable)
        }
    }
}
