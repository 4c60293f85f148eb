//! The Gateway REST API under `/tyk/` and the `/hello` health check (tyk-compat §8).
//!
//! Responses follow Tyk's encoder: compact JSON and a trailing newline,
//! `Content-Type: application/json`; errors are `{"status":"error","message":...}`.

pub mod dashboard;
pub mod policies;

use crate::respond::body::GwBody;
use crate::server::state::AppState;
use crate::tyk::fields::{Ctx, Doc};
use crate::tyk::keys;
use crate::tyk::{json, Session};
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Admin bodies larger than this are refused with 413.
pub const MAX_ADMIN_BODY: usize = 1 << 20;

pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<GwBody> {
    let mut text = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    text.push(b'\n');
    let mut r = Response::new(GwBody::full(text));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn error(status: StatusCode, message: &str) -> Response<GwBody> {
    json_response(status, &json!({"status": "error", "message": message}))
}

/// Tyk's error shape for a body with problems: all of them in `message` and, when there
/// are several, one per entry in `errors` for tools (one problem is Tyk's body exactly).
pub fn problems(status: StatusCode, list: &[String]) -> Response<GwBody> {
    if list.len() == 1 {
        return error(status, &list[0]);
    }
    json_response(
        status,
        &json!({"status": "error", "message": list.join("; "), "errors": list}),
    )
}

/// `path: reason` for each finding of the field table.
pub fn finding_lines(findings: &[crate::tyk::fields::Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            if f.path.is_empty() {
                f.reason.clone()
            } else {
                format!("{}: {}", f.path, f.reason)
            }
        })
        .collect()
}

/// Why a key body was not read.
enum BadSession {
    /// Not JSON: Tyk's own answer applies.
    Malformed,
    /// Every problem of the session (types, names given twice, refused fields).
    Problems(Vec<String>),
}

/// Reads a key body with the field table.
fn read_session(body: &[u8]) -> Result<Session, BadSession> {
    let value = json::parse_value(body).map_err(|e| {
        tracing::info!(error = %e, "key body rejected");
        BadSession::Malformed
    })?;
    let d = json::decode_doc_all::<Session>(Doc::Session, value, &Ctx::default());
    for w in &d.warnings {
        tracing::info!(field = %w.path, "key body: {}", w.reason);
    }
    match d.value {
        Some(s) if d.errors.is_empty() => Ok(s),
        _ => Err(BadSession::Problems(finding_lines(&d.errors))),
    }
}

fn ok_message() -> Response<GwBody> {
    json_response(StatusCode::OK, &json!({"status": "ok", "message": ""}))
}

fn not_found_text() -> Response<GwBody> {
    let mut r = Response::new(GwBody::full("404 page not found\n"));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn method_not_allowed() -> Response<GwBody> {
    error(StatusCode::METHOD_NOT_ALLOWED, "Method not supported")
}

/// Constant-time check of `X-Tyk-Authorization` against the configured secret.
pub fn authorized(secret: &str, header: Option<&HeaderValue>) -> bool {
    let Some(given) = header else { return false };
    !secret.is_empty() && bool::from(given.as_bytes().ct_eq(secret.as_bytes()))
}

/// The first two segments of an admin path (`/tyk/keys`): key names in deeper segments
/// must not reach the logs.
fn route_shape(path: &str) -> String {
    path.split('/').take(3).collect::<Vec<_>>().join("/")
}

/// Does this path belong to the control API (rather than a proxied API)?
pub fn is_control_path(cfg: &crate::tyk::config::Config, path: &str) -> bool {
    path.starts_with("/tyk/")
        || crate::admin::dashboard::is_dashboard_path(path)
        || path.strip_prefix('/').is_some_and(|p| {
            p == cfg.health_check_endpoint_name || p == cfg.readiness_check_endpoint_name
        })
}

pub async fn handle(state: &Arc<AppState>, req: Request<Incoming>) -> Response<GwBody> {
    let path = req.uri().path().to_string();
    if path == format!("/{}", state.config.health_check_endpoint_name) {
        return if req.method() == Method::GET || req.method() == Method::HEAD {
            hello(state)
        } else {
            error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        };
    }
    if path.strip_prefix('/') == Some(state.config.readiness_check_endpoint_name.as_str()) {
        return if req.method() == Method::GET || req.method() == Method::HEAD {
            ready(state)
        } else {
            error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        };
    }
    if crate::admin::dashboard::is_dashboard_path(&path) {
        return crate::admin::dashboard::handle(state, req).await;
    }
    if !state.config.admin_enabled() {
        return error(
            StatusCode::FORBIDDEN,
            "Attempted administrative access with invalid or missing key!",
        );
    }
    if !authorized(
        &state.config.secret,
        req.headers().get("x-tyk-authorization"),
    ) {
        tracing::info!(route = %route_shape(&path), "admin request with a missing or wrong secret");
        return error(
            StatusCode::FORBIDDEN,
            "Attempted administrative access with invalid or missing key!",
        );
    }
    // Tyk strips trailing slashes before routing.
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<&str> = trimmed
        .trim_start_matches("/tyk")
        .split('/')
        .skip(1)
        .collect();
    let query = req.uri().query().map(str::to_string);
    let method = req.method().clone();
    match segs.as_slice() {
        ["keys"] => match method {
            Method::GET => list_keys(state),
            Method::POST => {
                let body = read_body(req).await;
                add_key(state, None, body, query.as_deref(), Mode::Add).await
            }
            _ => method_not_allowed(),
        },
        ["keys", "create"] => match method {
            Method::POST => {
                let body = read_body(req).await;
                add_key(state, None, body, query.as_deref(), Mode::Create).await
            }
            _ => method_not_allowed(),
        },
        ["keys", key] => {
            let key = key.to_string();
            match method {
                Method::GET => get_key(state, &key, query.as_deref()),
                Method::POST => {
                    let body = read_body(req).await;
                    add_key(state, Some(&key), body, query.as_deref(), Mode::Add).await
                }
                Method::PUT => {
                    let body = read_body(req).await;
                    update_key(state, &key, body, query.as_deref()).await
                }
                Method::DELETE => delete_key(state, &key, query.as_deref()).await,
                _ => method_not_allowed(),
            }
        }
        ["reload"] | ["reload", "group"] => match method {
            Method::GET => reload(state, query.as_deref()).await,
            _ => method_not_allowed(),
        },
        ["apis"] => match method {
            Method::GET => {
                let snap = state.snapshot.load();
                let list: Vec<&Value> = snap.api_defs.iter().map(|(_, raw, _)| raw).collect();
                json_response(StatusCode::OK, &list)
            }
            _ => method_not_allowed(),
        },
        ["apis", id] => match method {
            Method::GET => {
                let snap = state.snapshot.load();
                match snap.api_defs.iter().find(|(aid, _, _)| &**aid == *id) {
                    Some((_, raw, _)) => json_response(StatusCode::OK, raw),
                    None => error(StatusCode::NOT_FOUND, "API not found"),
                }
            }
            _ => method_not_allowed(),
        },
        _ => crate::admin::policies::route(state, &method, &segs, req)
            .await
            .unwrap_or_else(not_found_text),
    }
}

/// The body, or the response to send instead (too large, unreadable).
pub type BodyResult = Result<Bytes, Response<GwBody>>;

pub async fn read_body(req: Request<Incoming>) -> BodyResult {
    match Limited::new(req.into_body(), MAX_ADMIN_BODY)
        .collect()
        .await
    {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
            ))
        }
        Err(_) => Err(error(StatusCode::BAD_REQUEST, "Request malformed")),
    }
}

fn query_flag(query: Option<&str>, name: &str) -> Option<String> {
    query
        .and_then(|q| crate::pipeline::authn::query_param(q, name))
        .map(|v| v.into_owned())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `POST /tyk/keys/create`.
    Create,
    /// `POST /tyk/keys[/{key}]`.
    Add,
}

fn now_unix(state: &AppState) -> i64 {
    state.limits.clock().unix()
}

/// Resolves `{key}` of a URL to the stored name: by hash with `?hashed=true`, else the
/// name as given, then the name re-generated for an org (`?org_id=`, then each API's org).
fn resolve(
    state: &AppState,
    key: &str,
    query: Option<&str>,
) -> Result<Option<(String, crate::store::StoredKey)>, HashingDisabled> {
    let hashed = query_flag(query, "hashed").is_some_and(|v| v == "true" || v == "1");
    if hashed {
        if !state.config.hash_keys {
            return Err(HashingDisabled);
        }
        return Ok(state.store.get(key).map(|s| (key.to_string(), s)));
    }
    let stored_name = |n: &str| {
        if state.config.hash_keys {
            keys::hash_key(n)
        } else {
            n.to_string()
        }
    };
    let direct = stored_name(key);
    if let Some(s) = state.store.get(&direct) {
        return Ok(Some((direct, s)));
    }
    let mut orgs: Vec<String> = query_flag(query, "org_id").into_iter().collect();
    orgs.extend(
        state
            .snapshot
            .load()
            .apis
            .iter()
            .map(|a| a.org_id.to_string()),
    );
    for org in orgs.iter().filter(|o| !o.is_empty()) {
        let n = stored_name(&keys::custom_name(org, key));
        if let Some(s) = state.store.get(&n) {
            return Ok(Some((n, s)));
        }
    }
    Ok(None)
}

const SAVE_FAILED: &str = "Failed to create key, ensure security settings are correct.";

/// A stored key's session. Sessions are checked when they are loaded or stored, so
/// this fails only if memory no longer matches that check; callers then refuse the
/// request (500) rather than act on a guess.
fn stored_session(stored: &crate::store::StoredKey) -> Option<Session> {
    stored
        .session()
        .inspect_err(
            |e| tracing::error!(reason = %e, "the stored session of a key cannot be decoded"),
        )
        .ok()
}

/// `?hashed=true` while `hash_keys` is off.
#[derive(Debug)]
struct HashingDisabled;

impl From<HashingDisabled> for Response<GwBody> {
    fn from(_: HashingDisabled) -> Self {
        error(
            StatusCode::BAD_REQUEST,
            "Key requested by hash but key hashing is not enabled",
        )
    }
}

/// Tyk's `checkAndApplyTrialPeriod`: `key_expires_in` of the key's policies (its own org).
fn apply_trial_period(state: &AppState, session: &mut Session, now: i64) {
    let snap = state.snapshot.load();
    for id in session
        .policy_ids()
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>()
    {
        if let Some(p) = crate::policy::PolicyLookup::policy(&snap.policies, &session.org_id, &id) {
            if p.key_expires_in > 0 {
                session.expires = now.saturating_add(p.key_expires_in);
            }
            if !p.post_expiry_action.is_empty() {
                session.post_expiry_action = p.post_expiry_action.clone();
            }
            if p.post_expiry_grace_period != 0 {
                session.post_expiry_grace_period = p.post_expiry_grace_period;
            }
        }
    }
}

/// Applies policies as a REST preview (no API context).
fn apply_for_save(
    state: &AppState,
    session: &mut Session,
) -> Result<(), crate::policy::ApplyError> {
    let snap = state.snapshot.load();
    crate::policy::apply_policies(session, &snap.policies, None)
}

async fn store_put(
    state: &Arc<AppState>,
    name: String,
    session: Session,
) -> Result<u64, Response<GwBody>> {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.put(&name, session)).await {
        Ok(Ok(rev)) => Ok(rev),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "key store write failed");
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Failed to create key, ensure security settings are correct.",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "key store task failed");
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Failed to create key, ensure security settings are correct.",
            ))
        }
    }
}

async fn reset_counters(state: &AppState, name: &str) {
    if let Err(e) = state.limits.reset_key(name).await {
        tracing::error!(error = %e, "resetting quota counters failed");
    }
}

fn dont_reset_on_create(state: &AppState, session: &Session) -> bool {
    let snap = state.snapshot.load();
    session.access_rights.keys().any(|id| {
        snap.api_by_id(id)
            .is_some_and(|a| a.dont_set_quota_on_create)
    })
}

fn short_key_message(state: &AppState) -> String {
    format!(
        "Failed to create key, custom keys must be at least {} characters long (min_token_length)",
        state.config.min_token_length()
    )
}

async fn add_key(
    state: &Arc<AppState>,
    key: Option<&str>,
    body: BodyResult,
    query: Option<&str>,
    mode: Mode,
) -> Response<GwBody> {
    let body = match body {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut session = match read_session(&body) {
        Ok(s) => s,
        Err(BadSession::Malformed) => {
            return match mode {
                Mode::Create => error(StatusCode::INTERNAL_SERVER_ERROR, "Unmarshalling failed"),
                Mode::Add => error(StatusCode::BAD_REQUEST, "Request malformed"),
            }
        }
        Err(BadSession::Problems(mut list)) => {
            if key.is_some_and(|k| k.len() < state.config.min_token_length()) {
                list.push(short_key_message(state));
            }
            return problems(StatusCode::BAD_REQUEST, &list);
        }
    };
    let name = match key {
        Some(k) => {
            if k.len() < state.config.min_token_length() {
                return error(StatusCode::BAD_REQUEST, &short_key_message(state));
            }
            keys::custom_name(&session.org_id, k)
        }
        None => keys::generate(&session.org_id),
    };
    let now = now_unix(state);
    let stored_name = if state.config.hash_keys {
        keys::hash_key(&name)
    } else {
        name.clone()
    };
    let previous = state.store.get(&stored_name);
    // A past expiry cannot be set through this route: keep the previous one (0 when new).
    if session.expires > 1 && session.expires < now {
        session.expires = match &previous {
            None => 0,
            Some(p) => match stored_session(p) {
                Some(p) => p.expires,
                None => return error(StatusCode::INTERNAL_SERVER_ERROR, SAVE_FAILED),
            },
        };
    }
    if previous.is_none() {
        apply_trial_period(state, &mut session, now);
    }
    // Policies are applied to a copy to validate the key; the session is stored as
    // submitted, so later policy changes (and its own flags) are applied afresh.
    let mut applied = session.clone();
    if let Err(e) = apply_for_save(state, &mut applied) {
        return match mode {
            Mode::Create => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("Failed to create key - {e}"),
            ),
            Mode::Add => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Failed to create key, ensure security settings are correct.",
            ),
        };
    }
    if applied.access_rights.is_empty() && !state.config.allow_master_keys {
        return match mode {
            Mode::Create => error(
                StatusCode::BAD_REQUEST,
                "Failed to create key, keys must have at least one Access Rights record set.",
            ),
            Mode::Add => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Failed to create key, ensure security settings are correct.",
            ),
        };
    }
    session.date_created = crate::util::rfc3339_secs(now);
    session.last_updated = now.to_string();
    let suppress = query_flag(query, "suppress_reset").is_some_and(|v| v == "1");
    let reset = !suppress && !dont_reset_on_create(state, &applied);
    if let Err(r) = store_put(state, stored_name.clone(), session).await {
        return r;
    }
    if reset {
        reset_counters(state, &stored_name).await;
    }
    tracing::info!(key = %keys::fingerprint(&name), "key added");
    let mut resp = json!({"key": name, "status": "ok", "action": "added"});
    if state.config.hash_keys {
        resp["key_hash"] = Value::String(stored_name);
    }
    json_response(StatusCode::OK, &resp)
}

async fn update_key(
    state: &Arc<AppState>,
    key: &str,
    body: BodyResult,
    query: Option<&str>,
) -> Response<GwBody> {
    let body = match body {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut session = match read_session(&body) {
        Ok(s) => s,
        Err(BadSession::Malformed) => return error(StatusCode::BAD_REQUEST, "Request malformed"),
        Err(BadSession::Problems(list)) => return problems(StatusCode::BAD_REQUEST, &list),
    };
    let (stored_name, previous) = match resolve(state, key, query) {
        Err(r) => return r.into(),
        Ok(None) => return error(StatusCode::NOT_FOUND, "Key is not found"),
        Ok(Some(found)) => found,
    };
    let Some(previous) = stored_session(&previous) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, SAVE_FAILED);
    };
    let now = now_unix(state);
    if session.expires > 1 && session.expires < now {
        session.expires = previous.expires;
    }
    let mut applied = session.clone();
    if let Err(e) = apply_for_save(state, &mut applied) {
        tracing::info!(reason = %e, "key update rejected");
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Failed to create key, ensure security settings are correct.",
        );
    }
    if applied.access_rights.is_empty() && !state.config.allow_master_keys {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Failed to create key, ensure security settings are correct.",
        );
    }
    session.date_created = previous.date_created;
    let suppress = query_flag(query, "suppress_reset").is_some_and(|v| v == "1");
    if suppress {
        session.last_updated = previous.last_updated;
        session.quota_renews = previous.quota_renews;
    } else {
        session.last_updated = now.to_string();
    }
    if let Err(r) = store_put(state, stored_name.clone(), session).await {
        return r;
    }
    if !suppress && !dont_reset_on_create(state, &applied) {
        reset_counters(state, &stored_name).await;
    }
    json_response(
        StatusCode::OK,
        &json!({"key": key, "status": "ok", "action": "modified"}),
    )
}

fn get_key(state: &Arc<AppState>, key: &str, query: Option<&str>) -> Response<GwBody> {
    let (stored_name, stored) = match resolve(state, key, query) {
        Err(r) => return r.into(),
        Ok(None) => return error(StatusCode::NOT_FOUND, "Key not found"),
        Ok(Some(found)) => found,
    };
    let Some(mut session) = stored_session(&stored) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "Failed to retrieve key");
    };
    let snap = state.snapshot.load();
    let context_org = query_flag(query, "api_id")
        .and_then(|id| snap.api_by_id(&id).map(|a| a.org_id.to_string()));
    if let Err(e) =
        crate::policy::apply_policies(&mut session, &snap.policies, context_org.as_deref())
    {
        tracing::info!(reason = %e, "policies could not be applied to the key for display");
    }
    live_quota(state, &stored_name, &mut session);
    json_response(StatusCode::OK, &session)
}

/// Fills `quota_remaining` from the live counters (tyk-compat §8.1 GET).
fn live_quota(state: &AppState, stored_name: &str, session: &mut Session) {
    use crate::policy::snapshot::QuotaSpec;
    if session.quota_max > 0 {
        let spec = QuotaSpec {
            max: session.quota_max as u64,
            renewal: session.quota_renewal_rate,
        };
        if let Some(r) = state.limits.quota_remaining(stored_name, "", spec) {
            session.quota_remaining = r as i64;
        }
    }
    for (api_id, ad) in session.access_rights.iter_mut() {
        let l = &mut ad.limit;
        if l.is_empty() || l.quota_max <= 0 {
            continue;
        }
        let spec = QuotaSpec {
            max: l.quota_max as u64,
            renewal: l.quota_renewal_rate,
        };
        let scope = if ad.allowance_scope.is_empty() {
            api_id.as_str()
        } else {
            ad.allowance_scope.as_str()
        };
        let scope = if state
            .limits
            .quota_remaining(stored_name, scope, spec)
            .is_some()
        {
            scope
        } else {
            ad.allowance_scope.as_str()
        };
        l.quota_remaining = state
            .limits
            .quota_remaining(stored_name, scope, spec)
            .map_or(l.quota_max, |r| r as i64);
    }
}

async fn delete_key(state: &Arc<AppState>, key: &str, query: Option<&str>) -> Response<GwBody> {
    if query_flag(query, "api_id").as_deref() == Some("-1") {
        return json_response(StatusCode::OK, &Value::Null);
    }
    let stored_name = match resolve(state, key, query) {
        Err(r) => return r.into(),
        Ok(None) => return error(StatusCode::NOT_FOUND, "There is no such key found"),
        Ok(Some((n, _))) => n,
    };
    let store = state.store.clone();
    let n = stored_name.clone();
    match tokio::task::spawn_blocking(move || store.delete(&n)).await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => return error(StatusCode::NOT_FOUND, "There is no such key found"),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "key store delete failed");
            return error(StatusCode::BAD_REQUEST, "Failed to remove the key");
        }
        Err(_) => return error(StatusCode::BAD_REQUEST, "Failed to remove the key"),
    }
    reset_counters(state, &stored_name).await;
    state.snapshot.load().forget_grant(&stored_name);
    tracing::info!(key = %keys::fingerprint(key), "key deleted");
    json_response(
        StatusCode::OK,
        &json!({"key": key, "status": "ok", "action": "deleted"}),
    )
}

fn list_keys(state: &Arc<AppState>) -> Response<GwBody> {
    if state.config.hash_keys && !state.config.enable_hashed_keys_listing {
        return error(
            StatusCode::NOT_FOUND,
            "Hashed key listing is disabled in config (enable_hashed_keys_listing)",
        );
    }
    json_response(StatusCode::OK, &json!({"keys": state.store.keys()}))
}

async fn reload(state: &Arc<AppState>, query: Option<&str>) -> Response<GwBody> {
    let block = query_flag(query, "block").is_some_and(|v| v == "true" || v == "1");
    if block {
        // The answer is Tyk's either way; a rejected file set shows on /hello.
        let _ = state.reload("api").await;
    } else {
        let st = state.clone();
        tokio::spawn(async move {
            let _ = st.reload("api").await;
        });
    }
    ok_message()
}

/// `GET /ready`: 200 once a configuration is loaded (always, after startup: the
/// gateway refuses to start without one), with Tyk's readiness description.
pub fn ready(state: &Arc<AppState>) -> Response<GwBody> {
    let snap = state.snapshot.load();
    json_response(
        StatusCode::OK,
        &json!({"status": "pass", "version": env!("CARGO_PKG_VERSION"), "description": "Tyk GW Ready",
                "details": {"config": {"status": "pass", "componentType": "system", "generation": snap.generation}}}),
    )
}

/// `GET /hello`: Tyk's health JSON, with tollgate's reload state in `details`.
pub fn hello(state: &Arc<AppState>) -> Response<GwBody> {
    let snap = state.snapshot.load();
    let st = state.status().clone();
    let now = crate::util::rfc3339(std::time::SystemTime::now());
    let mut config = json!({
        "status": "pass",
        "componentType": "system",
        "time": now,
        "generation": snap.generation,
        "digest": snap.digest,
        "apis": snap.apis.len(),
        "policies": snap.policies.len(),
        "reloads": st.reloads,
        "reload_failures": st.failures,
        "last_reload": st.last_success.map(crate::util::rfc3339),
    });
    if !snap.warnings.is_empty() {
        // Per API (by api_id), or per file for policies: fields read but not acted on.
        let mut by: serde_json::Map<String, Value> = serde_json::Map::new();
        for w in &snap.warnings {
            let owner = snap
                .apis
                .iter()
                .find(|a| a.file == w.file)
                .map_or_else(|| w.file.clone(), |a| a.id.to_string());
            let line = Value::String(format!("{}: {}", w.path, w.reason));
            match by.get_mut(&owner) {
                Some(Value::Array(list)) => list.push(line),
                _ => {
                    by.insert(owner, Value::Array(vec![line]));
                }
            }
        }
        config["unsupported_fields"] = Value::Object(by);
    }
    let mut status = "pass";
    if let Some(issues) = &st.last_error {
        status = "warn";
        config["status"] = json!("warn");
        config["output"] = json!(issues.to_string());
        config["failing_files"] = json!(issues
            .0
            .iter()
            .map(|i| i.file.clone())
            .collect::<std::collections::BTreeSet<_>>());
    }
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Tyk GW",
        "details": {
            "config": config,
            "store": {
                "status": "pass",
                "componentType": "datastore",
                "time": now,
                "keys": state.store.len(),
            },
        },
    });
    json_response(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_comparison() {
        let h = HeaderValue::from_static("s3cret");
        assert!(authorized("s3cret", Some(&h)));
        assert!(!authorized("s3cret!", Some(&h)));
        assert!(!authorized("s3cret", None));
        assert!(
            !authorized("", Some(&HeaderValue::from_static(""))),
            "an empty secret never authorises"
        );
    }

    #[test]
    fn a_stored_session_that_does_not_decode_is_not_shown_or_replaced() {
        let f = crate::testkit::Fixture::new(1);
        f.state.store.insert_unchecked(crate::store::StoredKey::new(
            "defaultbrokenkey000001",
            r#"{"org_id":"default","rate":"x"}"#,
            u64::MAX,
        ));
        let r = get_key(&f.state, "brokenkey000001", Some("org_id=default"));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        // A working key next to it is unaffected.
        let r = get_key(&f.state, &f.key, Some("org_id=default"));
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[test]
    fn responses_are_compact_json_with_newline() {
        let r = error(StatusCode::FORBIDDEN, "x");
        assert_eq!(r.headers()["content-type"], "application/json");
        match r.into_body() {
            GwBody::Full { data } => assert_eq!(
                &data.unwrap()[..],
                b"{\"status\":\"error\",\"message\":\"x\"}\n"
            ),
            _ => panic!("expected a full body"),
        }
    }
}
