//! The request pipeline: the only place that knows the order of the stages.
//!
//! route → version → authenticate → policies (grant) → inactive / expired → API access
//! → `allowed_urls` → key rate → API rate → quota → forward.
//!
//! Why this order:
//! - Authentication comes before any counting, so unauthenticated traffic never
//!   creates limiter or quota state.
//! - Access checks come before limits, so a forbidden request burns no rate or quota.
//! - Rate (key, then API-wide) comes before quota, so a rate-limited request never
//!   consumes quota (PRODUCT.md decision 8).
//! - The snapshot is loaded once, here, and passed down: every stage sees one generation.

pub mod authn;
pub mod authz;
pub mod forward;
pub mod path;

use crate::body::GwBody;
use crate::error::{self, GatewayError, RateHeaders};
use crate::limits::{QuotaDecision, RateDecision};
use crate::snapshot::Snapshot;
use crate::state::AppState;
use http::{Request, Response, Version};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::Arc;

/// Serves one proxied request; every refusal is rendered here, never an `Err` to hyper.
pub async fn handle(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<GwBody> {
    let snap = state.snapshot.load_full();
    match run(state, &snap, req, peer).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::debug!(
                code = e.code(),
                status = e.status().as_u16(),
                "request refused"
            );
            error::render(&e, !state.config.hide_generator_header)
        }
    }
}

/// The path with the listen path removed (always starting with `/`).
fn strip_prefix<'p>(path: &'p str, prefix: &str) -> &'p str {
    let p = prefix.trim_end_matches('/');
    match path.strip_prefix(p) {
        Some(rest) if rest.is_empty() => "/",
        Some(rest) if rest.starts_with('/') => rest,
        // Non-strict routes match mid-segment (`/app` serves `/apple`): keep the rest as is.
        Some(_) | None => path,
    }
}

async fn run(
    state: &Arc<AppState>,
    snap: &Snapshot,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<GwBody>, GatewayError> {
    let cfg = &state.config;
    let (mut parts, body) = req.into_parts();
    let uri = parts.uri.clone();
    let query = uri.query();
    let canon = path::canonical(uri.path()).map_err(|_| GatewayError::BadRequest("Bad Request"))?;
    let (api, prefix) = snap.route(&canon.path).ok_or(GatewayError::NoRoute)?;
    let stripped = strip_prefix(&canon.path, prefix);
    let version = authz::requested_version(api, &parts.headers, query, stripped)?;

    let now = state.limits.clock().unix();
    let mut headers: Option<RateHeaders> = if api.keyless && !cfg.rate_headers_from_rate() {
        Some(RateHeaders {
            limit: 0,
            remaining: 0,
            reset: 0,
        })
    } else {
        None
    };

    if !api.keyless {
        let key = authn::extract_key(&api.auth, &parts.headers, query)
            .ok_or(GatewayError::AuthMissing)?;
        if key.len() < cfg.min_token_length() {
            return Err(GatewayError::KeyDenied);
        }
        let (name, stored) = state
            .find_key(&key, &api.org_id)
            .ok_or(GatewayError::KeyDenied)?;
        let entry = snap.grant(&name, stored.revision, &stored.session, &api.org_id);
        let grant = match &entry.grant {
            Ok(g) => g,
            Err(e) => {
                tracing::info!(key = %crate::keys::fingerprint(&key), api = %api.id, reason = %e, "policies could not be applied");
                return Err(GatewayError::KeyDenied);
            }
        };
        authz::check_key_state(grant, now)?;
        let limits = authz::check_access(grant, api, &version)?;
        let stripped_decoded = strip_prefix(&canon.decoded, prefix);
        authz::check_urls(
            grant,
            api,
            parts.method.as_str(),
            &canon.decoded,
            stripped_decoded,
            snap.settings.matching,
        )?;

        if !api.disable_rate_limit {
            if let Some(spec) = limits.rate {
                match state.limits.check_rate(&name, &limits.scope, spec) {
                    RateDecision::Allowed {
                        limit,
                        remaining,
                        reset,
                    } => {
                        if cfg.rate_headers_from_rate() {
                            headers = Some(RateHeaders {
                                limit: i64::from(limit),
                                remaining: i64::from(remaining),
                                reset,
                            });
                        }
                    }
                    RateDecision::Limited {
                        limit,
                        retry_after,
                        reset,
                    } => {
                        return Err(GatewayError::RateLimited {
                            retry_after,
                            headers: cfg.rate_headers_from_rate().then_some(RateHeaders {
                                limit: i64::from(limit),
                                remaining: 0,
                                reset,
                            }),
                        });
                    }
                }
            }
        }
        check_api_rate(state, api)?;

        let quota = limits.quota.filter(|_| !api.disable_quota);
        match quota {
            Some(spec) => match state.limits.consume_quota(&name, &limits.scope, spec).await {
                Ok(QuotaDecision::Allowed {
                    remaining, reset, ..
                }) => {
                    if !cfg.rate_headers_from_rate() {
                        headers = Some(RateHeaders {
                            limit: spec.max as i64,
                            remaining: remaining as i64,
                            reset,
                        });
                    }
                }
                Ok(QuotaDecision::Exceeded { retry_after, .. }) => {
                    return Err(GatewayError::QuotaExceeded { retry_after })
                }
                Ok(QuotaDecision::NeedReserve) => return Err(GatewayError::StorageUnavailable),
                Err(e) => {
                    tracing::error!(error = %e, "quota counter could not be made durable; refusing the request");
                    return Err(GatewayError::StorageUnavailable);
                }
            },
            None if !cfg.rate_headers_from_rate() => {
                headers = Some(RateHeaders {
                    limit: limits.quota_max,
                    remaining: limits.quota_remaining.max(0),
                    reset: limits.quota_renews,
                })
            }
            None => {}
        }
    } else {
        check_api_rate(state, api)?;
    }
    state.limits.sweep();

    // Forward.
    let send_path = if api.strip_listen_path {
        stripped
    } else {
        &canon.path
    };
    let query_out = if api.strip_auth_data {
        forward::strip_auth(api, &mut parts.headers, query)
    } else {
        query.map(str::to_string)
    };
    parts.uri = forward::upstream_uri(api, send_path, query_out.as_deref())?;
    parts.version = Version::HTTP_11;
    forward::prepare_headers(&mut parts.headers, api, peer.ip());
    let mut resp = forward::send(
        &state.client,
        Request::from_parts(parts, body),
        cfg.upstream_timeout(),
    )
    .await?;
    let h = resp.headers_mut();
    match headers {
        Some(rh) => error::set_rate_headers(h, rh),
        None if cfg.rate_headers_from_rate() => {
            h.remove("x-ratelimit-limit");
            h.remove("x-ratelimit-remaining");
            h.remove("x-ratelimit-reset");
        }
        None => {}
    }
    Ok(resp)
}

fn check_api_rate(state: &AppState, api: &crate::snapshot::Api) -> Result<(), GatewayError> {
    if let Some(spec) = api.global_rate {
        if let RateDecision::Limited { retry_after, .. } =
            state.limits.check_api_rate(&api.id, spec)
        {
            return Err(GatewayError::ApiRateLimited { retry_after });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::strip_prefix;

    #[test]
    fn listen_path_stripping() {
        for (path, prefix, want) in [
            ("/api/users", "/api/", "/users"),
            ("/api/users", "/api", "/users"),
            ("/api", "/api", "/"),
            ("/api/", "/api/", "/"),
            ("/x/y", "/", "/x/y"),
            ("/apple", "/app", "/apple"),
        ] {
            assert_eq!(strip_prefix(path, prefix), want, "{path} - {prefix}");
        }
    }
}
