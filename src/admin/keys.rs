//! `/tyk/keys`: create, add, update, read, delete and list keys (tyk-compat §8.1).

use super::request::{query_flag, BodyResult};
use super::respond::{finding_lines, json_response, AdminError};
use crate::respond::body::GwBody;
use crate::state::AppState;
use crate::tyk::fields::{Ctx, Doc};
use crate::tyk::keys;
use crate::tyk::{json, Session};
use http::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// Why a key body was not read.
pub(super) enum BadSession {
    /// Not JSON: Tyk's own answer applies.
    Malformed,
    /// Every problem of the session (types, names given twice, refused fields).
    Problems(Vec<String>),
}

/// Reads a key body with the field table.
pub(super) fn read_session(body: &[u8]) -> Result<Session, BadSession> {
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

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// `POST /tyk/keys/create`.
    Create,
    /// `POST /tyk/keys[/{key}]`.
    Add,
}

pub(super) fn now_unix(state: &AppState) -> i64 {
    state.limits.clock().unix()
}

/// Resolves `{key}` of a URL to the stored name: by hash with `?hashed=true`, else the
/// name as given, then the name re-generated for an org (`?org_id=`, then each API's org).
pub(super) fn resolve(
    state: &AppState,
    key: &str,
    query: Option<&str>,
) -> Result<Option<(String, crate::store::StoredKey)>, AdminError> {
    let hashed = query_flag(query, "hashed").is_some_and(|v| v == "true" || v == "1");
    if hashed {
        if !state.config.hash_keys {
            return Err(AdminError::HashedLookupDisabled);
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

/// A stored key's session. Sessions are checked when they are loaded or stored, so
/// this fails only if memory no longer matches that check; callers then refuse the
/// request (500) rather than act on a guess.
pub(super) fn stored_session(stored: &crate::store::StoredKey) -> Option<Session> {
    stored
        .session()
        .inspect_err(
            |e| tracing::error!(reason = %e, "the stored session of a key cannot be decoded"),
        )
        .ok()
}

/// Tyk's `checkAndApplyTrialPeriod`: `key_expires_in` of the key's policies (its own org).
pub(super) fn apply_trial_period(state: &AppState, session: &mut Session, now: i64) {
    let snap = state.snapshot.load();
    for id in session
        .policy_ids()
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>()
    {
        if let Some(p) =
            crate::policy::apply::PolicyLookup::policy(&snap.policies, &session.org_id, &id)
        {
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
pub(super) fn apply_for_save(
    state: &AppState,
    session: &mut Session,
) -> Result<(), crate::policy::apply::ApplyError> {
    let snap = state.snapshot.load();
    crate::policy::apply::apply_policies(session, &snap.policies, None)
}

pub(super) async fn store_put(
    state: &Arc<AppState>,
    name: String,
    session: Session,
) -> Result<u64, AdminError> {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.put(&name, session)).await {
        Ok(Ok(rev)) => Ok(rev),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "key store write failed");
            Err(AdminError::SaveFailed)
        }
        Err(e) => {
            tracing::error!(error = %e, "key store task failed");
            Err(AdminError::SaveFailed)
        }
    }
}

pub(super) async fn reset_counters(state: &AppState, name: &str) {
    if let Err(e) = state.limits.reset_key(name).await {
        tracing::error!(error = %e, "resetting quota counters failed");
    }
}

pub(super) fn dont_reset_on_create(state: &AppState, session: &Session) -> bool {
    let snap = state.snapshot.load();
    session.access_rights.keys().any(|id| {
        snap.api_by_id(id)
            .is_some_and(|a| a.dont_set_quota_on_create)
    })
}

pub(super) fn key_too_short(state: &AppState) -> AdminError {
    AdminError::KeyTooShort {
        min: state.config.min_token_length(),
    }
}

pub(super) async fn add_key(
    state: &Arc<AppState>,
    key: Option<&str>,
    body: BodyResult,
    query: Option<&str>,
    mode: Mode,
) -> Response<GwBody> {
    let body = match body {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    let mut session = match read_session(&body) {
        Ok(s) => s,
        Err(BadSession::Malformed) => {
            return match mode {
                Mode::Create => AdminError::Unmarshalling,
                Mode::Add => AdminError::Malformed,
            }
            .response()
        }
        Err(BadSession::Problems(mut list)) => {
            if key.is_some_and(|k| k.len() < state.config.min_token_length()) {
                list.push(key_too_short(state).message().into_owned());
            }
            return AdminError::Problems(list).response();
        }
    };
    let name = match key {
        Some(k) => {
            if k.len() < state.config.min_token_length() {
                return key_too_short(state).response();
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
                None => return AdminError::SaveFailed.response(),
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
            Mode::Create => AdminError::ApplyFailed(e.to_string()),
            Mode::Add => AdminError::SaveFailed,
        }
        .response();
    }
    if applied.access_rights.is_empty() && !state.config.allow_master_keys {
        return match mode {
            Mode::Create => AdminError::NoAccessRights,
            Mode::Add => AdminError::SaveFailed,
        }
        .response();
    }
    session.date_created = crate::util::rfc3339_secs(now);
    session.last_updated = now.to_string();
    let suppress = query_flag(query, "suppress_reset").is_some_and(|v| v == "1");
    let reset = !suppress && !dont_reset_on_create(state, &applied);
    if let Err(e) = store_put(state, stored_name.clone(), session).await {
        return e.response();
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

pub(super) async fn update_key(
    state: &Arc<AppState>,
    key: &str,
    body: BodyResult,
    query: Option<&str>,
) -> Response<GwBody> {
    let body = match body {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    let mut session = match read_session(&body) {
        Ok(s) => s,
        Err(BadSession::Malformed) => return AdminError::Malformed.response(),
        Err(BadSession::Problems(list)) => return AdminError::Problems(list).response(),
    };
    let (stored_name, previous) = match resolve(state, key, query) {
        Err(e) => return e.response(),
        Ok(None) => return AdminError::KeyNotFound.response(),
        Ok(Some(found)) => found,
    };
    let Some(previous) = stored_session(&previous) else {
        return AdminError::SaveFailed.response();
    };
    let now = now_unix(state);
    if session.expires > 1 && session.expires < now {
        session.expires = previous.expires;
    }
    let mut applied = session.clone();
    if let Err(e) = apply_for_save(state, &mut applied) {
        tracing::info!(reason = %e, "key update rejected");
        return AdminError::SaveFailed.response();
    }
    if applied.access_rights.is_empty() && !state.config.allow_master_keys {
        return AdminError::SaveFailed.response();
    }
    session.date_created = previous.date_created;
    let suppress = query_flag(query, "suppress_reset").is_some_and(|v| v == "1");
    if suppress {
        session.last_updated = previous.last_updated;
        session.quota_renews = previous.quota_renews;
    } else {
        session.last_updated = now.to_string();
    }
    if let Err(e) = store_put(state, stored_name.clone(), session).await {
        return e.response();
    }
    if !suppress && !dont_reset_on_create(state, &applied) {
        reset_counters(state, &stored_name).await;
    }
    json_response(
        StatusCode::OK,
        &json!({"key": key, "status": "ok", "action": "modified"}),
    )
}

pub(super) fn get_key(state: &Arc<AppState>, key: &str, query: Option<&str>) -> Response<GwBody> {
    let (stored_name, stored) = match resolve(state, key, query) {
        Err(e) => return e.response(),
        Ok(None) => return AdminError::KeyNotFoundOnGet.response(),
        Ok(Some(found)) => found,
    };
    let Some(mut session) = stored_session(&stored) else {
        return AdminError::RetrieveFailed.response();
    };
    let snap = state.snapshot.load();
    let context_org = query_flag(query, "api_id")
        .and_then(|id| snap.api_by_id(&id).map(|a| a.org_id.to_string()));
    if let Err(e) =
        crate::policy::apply::apply_policies(&mut session, &snap.policies, context_org.as_deref())
    {
        tracing::info!(reason = %e, "policies could not be applied to the key for display");
    }
    live_quota(state, &stored_name, &mut session);
    json_response(StatusCode::OK, &session)
}

/// Fills `quota_remaining` from the live counters (tyk-compat §8.1 GET).
pub(super) fn live_quota(state: &AppState, stored_name: &str, session: &mut Session) {
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

pub(super) async fn delete_key(
    state: &Arc<AppState>,
    key: &str,
    query: Option<&str>,
) -> Response<GwBody> {
    if query_flag(query, "api_id").as_deref() == Some("-1") {
        return json_response(StatusCode::OK, &Value::Null);
    }
    let stored_name = match resolve(state, key, query) {
        Err(e) => return e.response(),
        Ok(None) => return AdminError::NoSuchKey.response(),
        Ok(Some((n, _))) => n,
    };
    let store = state.store.clone();
    let n = stored_name.clone();
    match tokio::task::spawn_blocking(move || store.delete(&n)).await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => return AdminError::NoSuchKey.response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "key store delete failed");
            return AdminError::RemoveFailed.response();
        }
        Err(_) => return AdminError::RemoveFailed.response(),
    }
    reset_counters(state, &stored_name).await;
    state.snapshot.load().forget_grant(&stored_name);
    tracing::info!(key = %keys::fingerprint(key), "key deleted");
    json_response(
        StatusCode::OK,
        &json!({"key": key, "status": "ok", "action": "deleted"}),
    )
}

pub(super) fn list_keys(state: &Arc<AppState>) -> Response<GwBody> {
    if state.config.hash_keys && !state.config.enable_hashed_keys_listing {
        return AdminError::HashedListingDisabled.response();
    }
    json_response(StatusCode::OK, &json!({"keys": state.store.keys()}))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
