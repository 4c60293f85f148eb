//! The Dashboard-style policy API (`/api/portal/policies`, seed 003) and the API list
//! the policy CLI resolves selectors against (`/api/apis`).
//!
//! Authenticated by the `authorization` header (the gateway `secret`, compared in
//! constant time). Served on the control listener; on a shared port the prefixes
//! `/api/portal/policies` and `/api/apis` are reserved, like `/tyk/`.
//! Writes go through `crate::policy::write`: atomic, and live when the call returns.

use super::request::{authorized, read_body};
use super::respond::{dashboard_ok, json_response, AdminError};
use crate::policy::write::{self, WriteFailure};
use crate::respond::body::GwBody;
use crate::state::AppState;
use crate::tyk::fields::{Ctx, Doc};
use crate::tyk::policy::ObjectId;
use crate::tyk::{json, Policy};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};
use std::sync::Arc;

/// Policies per page of `GET /api/portal/policies?p=N` (pages count from 1).
pub const PAGE_SIZE: usize = 10;

/// Is `path` one of the Dashboard routes?
pub fn is_dashboard_path(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    p == "/api/portal/policies"
        || p.starts_with("/api/portal/policies/")
        || p == "/api/apis"
        || p.starts_with("/api/apis/")
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query
        .and_then(|q| crate::pipeline::authn::query_param(q, name))
        .map(|v| v.into_owned())
}

pub async fn handle(state: &Arc<AppState>, req: Request<Incoming>) -> Response<GwBody> {
    if !authorized(&state.config.secret, req.headers().get("authorization")) {
        tracing::info!("dashboard API request with a missing or wrong authorization header");
        return AdminError::DashboardUnauthorised.response();
    }
    let path = req.uri().path().trim_end_matches('/').to_string();
    let query = req.uri().query().map(str::to_string);
    let segs: Vec<&str> = path.split('/').skip(2).collect();
    let method = req.method().clone();
    match (segs.as_slice(), &method) {
        (["apis"], &Method::GET) => list_apis(state),
        (["apis", id], &Method::GET) => {
            let snap = state.snapshot.load();
            match snap.api_defs.iter().find(|(aid, _, _)| &**aid == *id) {
                Some((_, raw, _)) => json_response(StatusCode::OK, &json!({"api_definition": raw})),
                None => AdminError::DashboardApiNotFound.response(),
            }
        }
        (["portal", "policies"], &Method::GET) => list(state, query.as_deref()),
        (["portal", "policies", "search"], &Method::GET) => search(state, query.as_deref()),
        (["portal", "policies", id], &Method::GET) => match find(state, id) {
            Some(p) => json_response(StatusCode::OK, &p),
            None => AdminError::DashboardPolicyNotFound.response(),
        },
        (["portal", "policies"], &Method::POST) => create(state, req).await,
        (["portal", "policies", id], &Method::PUT) => {
            let id = id.to_string();
            update(state, &id, req).await
        }
        (["portal", "policies", id], &Method::DELETE) => {
            let id = id.to_string();
            delete(state, &id).await
        }
        (["apis"] | ["apis", _] | ["portal", "policies"] | ["portal", "policies", _], _) => {
            AdminError::DashboardMethodNotAllowed.response()
        }
        _ => AdminError::DashboardNotFound.response(),
    }
}

fn list_apis(state: &Arc<AppState>) -> Response<GwBody> {
    let snap = state.snapshot.load();
    let apis: Vec<Value> = snap
        .api_defs
        .iter()
        .map(|(_, raw, _)| json!({"api_definition": raw}))
        .collect();
    json_response(StatusCode::OK, &json!({"apis": apis, "pages": 1}))
}

/// `{id}` is the friendly `id` first, then the `_id`.
fn find(state: &AppState, id: &str) -> Option<Policy> {
    let snap = state.snapshot.load();
    let all = snap.policies.all();
    all.iter()
        .find(|p| p.id == id)
        .or_else(|| all.iter().find(|p| p.object_id.0 == id))
        .map(|p| (*p).clone())
}

fn page(items: Vec<Policy>, p: usize) -> Response<GwBody> {
    let pages = items.len().div_ceil(PAGE_SIZE);
    let data: Vec<Policy> = items
        .into_iter()
        .skip((p.max(1) - 1).saturating_mul(PAGE_SIZE))
        .take(PAGE_SIZE)
        .collect();
    json_response(StatusCode::OK, &json!({"Data": data, "Pages": pages}))
}

fn page_number(query: Option<&str>) -> usize {
    query_param(query, "p")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn list(state: &Arc<AppState>, query: Option<&str>) -> Response<GwBody> {
    let snap = state.snapshot.load();
    page(
        snap.policies.all().into_iter().cloned().collect(),
        page_number(query),
    )
}

fn search(state: &Arc<AppState>, query: Option<&str>) -> Response<GwBody> {
    let snap = state.snapshot.load();
    let q = query_param(query, "q").unwrap_or_default().to_lowercase();
    let ids: Option<Vec<String>> = query_param(query, "policy_ids").map(|v| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let found = snap
        .policies
        .all()
        .into_iter()
        .filter(|p| q.is_empty() || p.name.to_lowercase().contains(&q))
        .filter(|p| {
            ids.as_ref()
                .is_none_or(|ids| ids.iter().any(|i| *i == p.id || *i == p.object_id.0))
        })
        .cloned()
        .collect();
    page(found, page_number(query))
}

/// Decodes and validates a policy body, listing every problem found.
fn parse(state: &AppState, body: &[u8]) -> Result<Policy, Vec<String>> {
    let value = json::parse_value(body).map_err(|e| vec![e.to_string()])?;
    let d = json::decode_doc_all::<Policy>(Doc::Policy, value, &Ctx::default());
    let mut list = super::respond::finding_lines(&d.errors);
    let Some(policy) = d.value else {
        return Err(list);
    };
    // `/api/portal/policies/search` is the search route: such a policy could never be read back.
    if policy.id == "search" {
        list.push("id: \"search\" is reserved (it is the search route)".into());
    }
    if !policy.id.is_empty()
        && !state.config.allow_unsafe_policy_ids
        && !write::valid_id(&policy.id)
    {
        list.push(format!(
            "id: {:?} has characters outside a-z, A-Z, 0-9, ., _, -, ~",
            policy.id
        ));
    }
    if policy.quota_renewal_rate < 0 && policy.quota_max > 0 {
        list.push("quota_renewal_rate: must not be negative when quota_max is set".into());
    }
    for (api, ad) in &policy.access_rights {
        if api.is_empty() {
            list.push("access_rights: an API id must not be empty".into());
        }
        if !ad.api_id.is_empty() && ad.api_id != *api {
            list.push(format!(
                "access_rights.{api}.api_id: {:?} does not match its key {api:?}",
                ad.api_id
            ));
        }
    }
    list.extend(write::validate(
        &policy,
        crate::state::compile_settings(&state.config).matching,
    ));
    if list.is_empty() {
        Ok(policy)
    } else {
        Err(list)
    }
}

fn write_failed(e: WriteFailure) -> Response<GwBody> {
    tracing::error!(reason = %e, "dashboard policy write failed");
    match e {
        WriteFailure::NotFound => AdminError::DashboardPolicyNotFound,
        e => AdminError::DashboardStoreFailed(e.to_string()),
    }
    .response()
}

/// The request body as a validated policy, or the error to answer instead. A body that
/// is too large or unreadable gets the Gateway REST API's answer, like `/tyk/`.
async fn read_policy(state: &AppState, req: Request<Incoming>) -> Result<Policy, AdminError> {
    let body = read_body(req).await?;
    parse(state, &body).map_err(AdminError::DashboardProblems)
}

async fn create(state: &Arc<AppState>, req: Request<Incoming>) -> Response<GwBody> {
    let mut policy = match read_policy(state, req).await {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    if policy.object_id.is_empty() {
        policy.object_id = ObjectId::generate();
    }
    let id = policy.effective_id().to_string();
    match write::create(state, policy).await {
        Ok(()) => dashboard_ok(&id),
        Err(WriteFailure::Exists) => AdminError::DashboardPolicyExists(id).response(),
        Err(e) => write_failed(e),
    }
}

async fn update(state: &Arc<AppState>, id: &str, req: Request<Incoming>) -> Response<GwBody> {
    let mut policy = match read_policy(state, req).await {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    let Some(existing) = find(state, id) else {
        return AdminError::DashboardPolicyNotFound.response();
    };
    // The stored identity wins: an update never moves a policy to another id.
    if !policy.id.is_empty() && policy.id != existing.id {
        return AdminError::DashboardProblems(vec![format!(
            "id: {:?} does not match the policy being updated ({:?})",
            policy.id,
            existing.effective_id()
        )])
        .response();
    }
    policy.id = existing.id.clone();
    if policy.object_id.is_empty() || existing.id.is_empty() {
        policy.object_id = existing.object_id.clone();
    }
    match write::save(state, policy).await {
        Ok(()) => dashboard_ok("Data updated"),
        Err(e) => write_failed(e),
    }
}

async fn delete(state: &Arc<AppState>, id: &str) -> Response<GwBody> {
    let Some(existing) = find(state, id) else {
        return AdminError::DashboardPolicyNotFound.response();
    };
    match write::remove(state, existing.effective_id()).await {
        Ok(()) => dashboard_ok("Data deleted"),
        Err(e) => write_failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_paths() {
        for p in [
            "/api/portal/policies",
            "/api/portal/policies/",
            "/api/portal/policies/x",
            "/api/apis",
            "/api/apis/a",
        ] {
            assert!(is_dashboard_path(p), "{p}");
        }
        for p in [
            "/api/users/1",
            "/api/portal",
            "/api/apisx",
            "/api/portal/policiesx",
        ] {
            assert!(!is_dashboard_path(p), "{p}");
        }
    }
}
