//! `/tyk/policies` (Gateway REST API, tyk-compat §8.2), with one difference from Tyk:
//! writes go to the policy source tollgate actually reads and are live when the call
//! returns (PRODUCT.md decision 6; see `crate::policy::write`). Tyk writes a file that
//! only a later reload in directory mode would read.

use super::request::read_body;
use super::respond::{json_response, AdminError};
use crate::policy::write::{self, WriteFailure};
use crate::respond::body::GwBody;
use crate::state::AppState;
use crate::tyk::fields::{Ctx, Doc};
use crate::tyk::{json, Policy};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use std::sync::Arc;

/// Routes `/tyk/policies[/{id}]`; `None` when the path is not a policy route.
pub async fn route(
    state: &Arc<AppState>,
    method: &Method,
    segs: &[&str],
    req: Request<Incoming>,
) -> Option<Response<GwBody>> {
    let resp = match (segs, method) {
        (["policies"], &Method::GET) => list(state),
        (["policies", id], &Method::GET) => get(state, id),
        (["policies"], &Method::POST) => write(state, None, req, Write::Create).await,
        (["policies", id], &Method::POST) => write(state, Some(id), req, Write::Create).await,
        (["policies"], &Method::PUT) => AdminError::PolicyIdRequiredForUpdate.response(),
        (["policies", id], &Method::PUT) => write(state, Some(id), req, Write::Update).await,
        (["policies"], &Method::DELETE) => AdminError::PolicyIdRequiredForDelete.response(),
        (["policies", id], &Method::DELETE) => delete(state, id).await,
        (["policies"] | ["policies", _], _) => AdminError::MethodNotAllowed.response(),
        _ => return None,
    };
    Some(resp)
}

fn list(state: &Arc<AppState>) -> Response<GwBody> {
    let snap = state.snapshot.load();
    json_response(StatusCode::OK, &snap.policies.all())
}

fn get(state: &Arc<AppState>, id: &str) -> Response<GwBody> {
    let snap = state.snapshot.load();
    match snap.policies.find_any_org(id) {
        Some(p) => json_response(StatusCode::OK, p),
        None => AdminError::PolicyNotFound.response(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Create,
    Update,
}

async fn write(
    state: &Arc<AppState>,
    url_id: Option<&str>,
    req: Request<Incoming>,
    mode: Write,
) -> Response<GwBody> {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    let value = match json::parse_value(&body) {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(error = %e, "policy body rejected");
            return AdminError::Malformed.response();
        }
    };
    // Every problem at once: the field table's, then Tyk's own checks on what decoded.
    // A single problem keeps Tyk's exact message.
    let d = json::decode_doc_all::<Policy>(Doc::Policy, value, &Ctx::default());
    let mut list = super::respond::finding_lines(&d.errors);
    let Some(mut policy) = d.value else {
        return AdminError::Problems(list).response();
    };
    if let (Write::Update, Some(uid)) = (mode, url_id) {
        if !policy.effective_id().is_empty() && policy.effective_id() != uid {
            list.push(
                "Request ID does not match that in policy! For Update operations these must match."
                    .into(),
            );
        }
    }
    if policy.id.is_empty() {
        if let Some(uid) = url_id {
            policy.id = uid.to_string();
        }
    }
    let id = policy.effective_id().to_string();
    if id.is_empty() {
        list.push("Unable to create policy without id.".into());
    } else if !state.config.allow_unsafe_policy_ids && !write::valid_id(&id) {
        list.push("Invalid Policy ID: Allowed characters: a-z, A-Z, 0-9, ., _, -, ~".into());
    }
    list.extend(write::validate(
        &policy,
        crate::state::compile_settings(&state.config).matching,
    ));
    if !list.is_empty() {
        return AdminError::Problems(list).response();
    }
    match write::save(state, policy).await {
        Ok(()) => {
            let action = if mode == Write::Create {
                "added"
            } else {
                "modified"
            };
            json_response(
                StatusCode::OK,
                &json!({"key": id, "status": "ok", "action": action}),
            )
        }
        Err(WriteFailure::NoSource) => AdminError::PolicyStorageUnavailable.response(),
        Err(e) => {
            tracing::error!(reason = %e, "policy write failed");
            AdminError::PolicyWriteFailed(e.to_string()).response()
        }
    }
}

async fn delete(state: &Arc<AppState>, id: &str) -> Response<GwBody> {
    match write::remove(state, id).await {
        Ok(()) => json_response(
            StatusCode::OK,
            &json!({"key": id, "status": "ok", "action": "deleted"}),
        ),
        Err(e) => {
            tracing::info!(reason = %e, "policy delete failed");
            AdminError::PolicyDeleteFailed.response()
        }
    }
}
