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
//! - The snapshot is loaded once, in [`handle`], and passed down: every stage sees one
//!   generation.
//!
//! [`decide`] runs every stage up to the quota synchronously and, in steady state,
//! without allocating; only the rare durable quota reservation and forwarding are async.

pub mod authn;
pub mod authz;
pub mod forward;
pub mod path;

use crate::limits::{QuotaDecision, RateDecision};
use crate::policy::snapshot::{Api, GrantError, QuotaSpec, Snapshot};
use crate::respond::body::GwBody;
use crate::respond::refusal::{self, GatewayError, RateHeaders};
use crate::server::state::AppState;
use http::{HeaderMap, Method, Request, Response, Version};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::Arc;

/// The client end of a connection, with what forwarding needs from it made once per
/// connection rather than once per request.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// The address as an `X-Forwarded-For` value.
    pub forwarded_for: http::HeaderValue,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Self {
        Peer {
            addr,
            forwarded_for: forward::peer_value(addr.ip()),
        }
    }
}

/// Serves one proxied request; every refusal is rendered here, never an `Err` to hyper.
pub async fn handle(state: &Arc<AppState>, req: Request<Incoming>, peer: Peer) -> Response<GwBody> {
    let snap = state.snapshot.load_full();
    match run(state, &snap, req, peer).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::debug!(
                code = e.code(),
                status = e.status().as_u16(),
                "request refused"
            );
            refusal::render(&e, !state.config.hide_generator_header)
        }
    }
}

/// The path with the listen path removed (always starting with `/`).
pub fn strip_prefix<'p>(path: &'p str, prefix: &str) -> &'p str {
    let p = prefix.trim_end_matches('/');
    match path.strip_prefix(p) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        // Non-strict routes match mid-segment (`/app` serves `/apple`): keep the rest as is.
        Some(_) | None => path,
    }
}

/// A quota check that needs a durable reservation (or a background refill) first.
#[derive(Debug, Clone)]
pub struct QuotaFollowUp {
    pub name: String,
    pub scope: Arc<str>,
    pub spec: QuotaSpec,
    /// `true`: the request is not yet counted (reserve, then count); `false`: counted,
    /// just extend the ceiling in the background.
    pub pending: bool,
}

/// The outcome of every stage before forwarding.
#[derive(Debug)]
pub struct Decision<'s> {
    pub api: &'s Arc<Api>,
    /// The listen path prefix that matched.
    pub prefix: &'s str,
    pub headers: Option<RateHeaders>,
    pub quota: Option<QuotaFollowUp>,
}

/// Runs route → … → quota for one request against `snap`.
pub fn decide<'s>(
    state: &AppState,
    snap: &'s Snapshot,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    canon: &path::CanonPath<'_>,
) -> Result<Decision<'s>, GatewayError> {
    let cfg = &state.config;
    let rate_mode = cfg.rate_headers_from_rate();
    let (api, prefix) = snap.route(&canon.path).ok_or(GatewayError::NoRoute)?;
    let stripped = strip_prefix(&canon.path, prefix);
    let version = authz::requested_version(api, headers, query, stripped)?;
    let now = state.limits.clock().unix();
    // Cheap unless due (every 10 s); kept here so every request's clock read is shared.
    state.limits.sweep(now);
    let mut decision = Decision {
        api,
        prefix,
        headers: None,
        quota: None,
    };
    if api.keyless {
        check_api_rate(state, api, now)?;
        if !rate_mode {
            decision.headers = Some(RateHeaders {
                limit: 0,
                remaining: 0,
                reset: 0,
            });
        }
        return Ok(decision);
    }

    let key = authn::extract_key(&api.auth, headers, query).ok_or(GatewayError::AuthMissing)?;
    if key.len() < cfg.min_token_length() {
        return Err(GatewayError::KeyDenied);
    }
    let outcome = state.with_key(&key, &api.org_id, |name, stored| -> Result<(), GatewayError> {
        let entry = snap.grant(name, stored, &api.org_id);
        let grant = match &entry.grant {
            Ok(g) => g,
            Err(GrantError::Policy(e)) => {
                tracing::info!(key = %crate::tyk::keys::fingerprint(&key), api = %api.id, reason = %e, "policies could not be applied");
                return Err(GatewayError::KeyDenied);
            }
            Err(e @ GrantError::Session(_)) => {
                if entry.first_report() {
                    tracing::error!(key = %crate::tyk::keys::fingerprint(&key), api = %api.id, reason = %e, "refusing a key whose stored session is unusable");
                }
                return Err(GatewayError::KeyDenied);
            }
        };
        authz::check_key_state(grant, now)?;
        let limits = authz::check_access(grant, api, &version)?;
        let stripped_decoded = strip_prefix(&canon.decoded, prefix);
        authz::check_urls(grant, api, method.as_str(), &canon.decoded, stripped_decoded, snap.settings.matching)?;

        if !api.disable_rate_limit {
            if let Some(spec) = limits.rate {
                match state.limits.check_rate(name, &limits.scope, spec, now) {
                    RateDecision::Allowed { limit, remaining, reset } => {
                        if rate_mode {
                            decision.headers = Some(RateHeaders {
                                limit: i64::from(limit),
                                remaining: i64::from(remaining),
                                reset,
                            });
                        }
                    }
                    RateDecision::Limited { limit, retry_after, reset } => {
                        return Err(GatewayError::RateLimited {
                            retry_after,
                            headers: rate_mode.then_some(RateHeaders {
                                limit: i64::from(limit),
                                remaining: 0,
                                reset,
                            }),
                        });
                    }
                }
            }
        }
        check_api_rate(state, api, now)?;

        match limits.quota.filter(|_| !api.disable_quota) {
            Some(spec) => match state.limits.try_consume_quota(name, &limits.scope, spec, now) {
                QuotaDecision::Allowed { remaining, reset, refill } => {
                    if !rate_mode {
                        decision.headers = Some(RateHeaders {
                            limit: spec.max as i64,
                            remaining: remaining as i64,
                            reset,
                        });
                    }
                    if refill {
                        decision.quota = Some(QuotaFollowUp {
                            name: name.to_string(),
                            scope: limits.scope.clone(),
                            spec,
                            pending: false,
                        });
                    }
                }
                QuotaDecision::Exceeded { retry_after, .. } => return Err(GatewayError::QuotaExceeded { retry_after }),
                QuotaDecision::NeedReserve => {
                    decision.quota = Some(QuotaFollowUp {
                        name: name.to_string(),
                        scope: limits.scope.clone(),
                        spec,
                        pending: true,
                    })
                }
            },
            None if !rate_mode => {
                decision.headers = Some(RateHeaders {
                    limit: limits.quota_max,
                    remaining: limits.quota_remaining.max(0),
                    reset: limits.quota_renews,
                })
            }
            None => {}
        }
        Ok(())
    });
    match outcome {
        None => Err(GatewayError::KeyDenied),
        Some(Err(e)) => Err(e),
        Some(Ok(())) => Ok(decision),
    }
}

/// Completes a quota check that needed a durable reservation.
async fn follow_up_quota(
    state: &Arc<AppState>,
    f: QuotaFollowUp,
    headers: &mut Option<RateHeaders>,
) -> Result<(), GatewayError> {
    if !f.pending {
        let st = state.clone();
        tokio::spawn(async move { st.limits.refill(&f.name, &f.scope, f.spec).await });
        return Ok(());
    }
    match state.limits.consume_quota(&f.name, &f.scope, f.spec).await {
        Ok(QuotaDecision::Allowed {
            remaining,
            reset,
            refill,
        }) => {
            if refill {
                let st = state.clone();
                tokio::spawn(async move { st.limits.refill(&f.name, &f.scope, f.spec).await });
            }
            if !state.config.rate_headers_from_rate() {
                *headers = Some(RateHeaders {
                    limit: f.spec.max as i64,
                    remaining: remaining as i64,
                    reset,
                });
            }
            Ok(())
        }
        Ok(QuotaDecision::Exceeded { retry_after, .. }) => {
            Err(GatewayError::QuotaExceeded { retry_after })
        }
        Ok(QuotaDecision::NeedReserve) => Err(GatewayError::StorageUnavailable),
        Err(e) => {
            // Deny by default: a count that cannot be made durable could be lost and over-granted.
            tracing::error!(error = %e, "quota counter could not be made durable; refusing the request");
            Err(GatewayError::StorageUnavailable)
        }
    }
}

async fn run(
    state: &Arc<AppState>,
    snap: &Snapshot,
    req: Request<Incoming>,
    peer: Peer,
) -> Result<Response<GwBody>, GatewayError> {
    let cfg = &state.config;
    let (mut parts, body) = req.into_parts();
    let uri = parts.uri.clone();
    let query = uri.query();
    let canon = path::canonical(uri.path()).map_err(|_| GatewayError::BadRequest("Bad Request"))?;
    let Decision {
        api,
        prefix,
        mut headers,
        quota,
    } = decide(state, snap, &parts.method, &parts.headers, query, &canon)?;
    if let Some(f) = quota {
        follow_up_quota(state, f, &mut headers).await?;
    }

    let send_path = if api.strip_listen_path {
        strip_prefix(&canon.path, prefix)
    } else {
        &canon.path
    };
    let query_out = if api.strip_auth_data {
        forward::strip_auth(api, &mut parts.headers, query)
    } else {
        query.map(str::to_string)
    };
    let target = forward::upstream_target(api, send_path, query_out.as_deref());
    parts.version = Version::HTTP_11;
    forward::prepare_headers(&mut parts.headers, api, &peer.forwarded_for);
    let mut resp = forward::send(
        &state.client,
        &api.target.authority,
        parts,
        body,
        target,
        cfg.upstream_timeout(),
    )
    .await?;
    let h = resp.headers_mut();
    match headers {
        Some(rh) => refusal::set_rate_headers(h, rh),
        None if cfg.rate_headers_from_rate() => refusal::remove_rate_headers(h),
        None => {}
    }
    Ok(resp)
}

fn check_api_rate(state: &AppState, api: &Api, now: i64) -> Result<(), GatewayError> {
    if let Some(spec) = api.global_rate {
        if let RateDecision::Limited { retry_after, .. } =
            state.limits.check_api_rate(&api.id, spec, now)
        {
            return Err(GatewayError::ApiRateLimited { retry_after });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredKey;

    #[test]
    fn a_key_whose_stored_session_does_not_decode_is_refused() {
        let f = crate::testkit::Fixture::new(1);
        let name = "defaultbrokenkey000001";
        // Valid JSON with every policy it needs, but a rate that is not a number.
        f.state.store.insert_unchecked(StoredKey::new(
            name,
            r#"{"org_id":"default","apply_policies":["tier-a"],"rate":"x"}"#,
            u64::MAX,
        ));
        let snap = f.state.snapshot.load_full();
        let canon = path::canonical("/api/users/1").unwrap();
        let decide_with = |key: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::AUTHORIZATION, key.parse().unwrap());
            decide(&f.state, &snap, &Method::GET, &headers, None, &canon).map(drop)
        };
        assert_eq!(decide_with(&f.key), Ok(()), "the fixture's own key works");
        for _ in 0..3 {
            let err = decide_with("brokenkey000001").unwrap_err();
            assert_eq!(err, GatewayError::KeyDenied);
            assert_eq!(err.status(), 403);
            assert_eq!(err.message(), "Access to this API has been disallowed");
        }
        // Decoded once, kept as a refusal in the grant cache, and already reported.
        let org = snap.api_by_id("bench-api").unwrap().org_id.clone();
        let entry = snap.grant(name, &f.state.store.get(name).unwrap(), &org);
        match &entry.grant {
            Err(GrantError::Session(e)) => assert!(e.to_string().contains("rate"), "{e}"),
            other => panic!("expected a session error, got {other:?}"),
        }
        assert!(!entry.first_report());
    }

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
