//! Stage: rate limits — the key's, through its permit, then the API's
//! `global_rate_limit` (tyk-compat §6). Rate comes before quota, so a rate-limited
//! request never consumes quota.

use super::authz::Permit;
use crate::limits::{Limits, RateDecision};
use crate::policy::snapshot::Api;
use crate::respond::refusal::{GatewayError, RateHeaders};

/// The key's rate limit; the `X-RateLimit-*` values when they come from the rate
/// (`rate_limit_response_headers: "rate_limits"`).
pub fn key_rate(
    limits: &Limits,
    permit: &Permit<'_>,
    now: i64,
    headers_from_rate: bool,
) -> Result<Option<RateHeaders>, GatewayError> {
    match limits.check_rate(permit, now) {
        None => Ok(None),
        Some(RateDecision::Allowed {
            limit,
            remaining,
            reset,
        }) => Ok(headers_from_rate.then_some(RateHeaders {
            limit: i64::from(limit),
            remaining: i64::from(remaining),
            reset,
        })),
        Some(RateDecision::Limited {
            limit,
            retry_after,
            reset,
        }) => Err(GatewayError::RateLimited {
            retry_after,
            headers: headers_from_rate.then_some(RateHeaders {
                limit: i64::from(limit),
                remaining: 0,
                reset,
            }),
        }),
    }
}

/// The API-wide limit, shared by every caller (keyless APIs too).
pub fn api_rate(limits: &Limits, api: &Api, now: i64) -> Result<(), GatewayError> {
    if let Some(spec) = api.global_rate {
        if let RateDecision::Limited { retry_after, .. } = limits.check_api_rate(&api.id, spec, now)
        {
            return Err(GatewayError::ApiRateLimited { retry_after });
        }
    }
    Ok(())
}
