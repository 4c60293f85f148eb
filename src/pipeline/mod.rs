//! The request pipeline: the only place that knows the order of the stages.
//!
//! route → version ([`route`]) → authenticate: key, store, policies ([`authn`]) →
//! inactive / expired → API access → `allowed_urls`, minting the permit ([`authz`]) →
//! key rate → API rate ([`limit`]) → quota ([`quota`]) → forward ([`forward`]).
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
pub mod limit;
pub mod path;
pub mod quota;
pub mod route;

use crate::policy::snapshot::{Api, Snapshot};
use crate::respond::body::GwBody;
use crate::respond::refusal::{self, GatewayError, RateHeaders};
use crate::state::AppState;
use http::{HeaderMap, Method, Request, Response, Version};
use hyper::body::Incoming;
use quota::QuotaFollowUp;
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

/// The outcome of every stage before forwarding.
#[derive(Debug)]
pub struct Decision<'s> {
    pub api: &'s Arc<Api>,
    /// The listen path prefix that matched.
    pub prefix: &'s str,
    pub headers: Option<RateHeaders>,
    pub quota: Option<QuotaFollowUp>,
}

/// Runs route → authenticate → authorize → rate → API rate → quota for one request
/// against `snap`: a plain sequence of stage calls, each failing with its refusal.
pub fn decide<'s>(
    state: &AppState,
    snap: &'s Snapshot,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    canon: &path::CanonPath<'_>,
) -> Result<Decision<'s>, GatewayError> {
    let from_rate = state.config.rate_headers_from_rate();
    let routed = route::route(snap, &canon.path, headers, query)?;
    let (api, prefix) = (routed.api, routed.prefix);
    let now = state.limits.clock().unix();
    if api.keyless {
        limit::api_rate(&state.limits, api, now)?;
        let headers = (!from_rate).then_some(RateHeaders {
            limit: 0,
            remaining: 0,
            reset: 0,
        });
        return Ok(Decision {
            api,
            prefix,
            headers,
            quota: None,
        });
    }
    let who = authn::authenticate(state, snap, api, headers, query)?;
    let to = authz::Target {
        api,
        version: &routed.version,
        method: method.as_str(),
        decoded: &canon.decoded,
        stripped_decoded: route::strip_prefix(&canon.decoded, prefix),
    };
    let permit = authz::authorize(
        who.name.as_str(),
        &who.grant,
        to,
        snap.settings.matching,
        now,
    )?;
    let rate_headers = limit::key_rate(&state.limits, &permit, now, from_rate)?;
    limit::api_rate(&state.limits, api, now)?;
    let (quota_headers, quota) = quota::check(&state.limits, &permit, now, from_rate)?;
    Ok(Decision {
        api,
        prefix,
        headers: rate_headers.or(quota_headers),
        quota,
    })
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
        quota::follow_up(state, f, &mut headers).await?;
    }

    let send_path = if api.strip_listen_path {
        route::strip_prefix(&canon.path, prefix)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::snapshot::GrantError;
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
}
