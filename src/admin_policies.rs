//! `/tyk/policies` (Gateway REST API, tyk-compat §8.2), with one difference from Tyk:
//! writes go to the policy source tollgate actually reads (the single file, or
//! `<policy_path>/<id>.json`), atomically, and are live when the call returns
//! (PRODUCT.md decision 6). Tyk writes a file that only a later reload in directory
//! mode would read.

use crate::admin::{error, json_response, read_body};
use crate::body::GwBody;
use crate::load::PolicySource;
use crate::model::{json, Policy};
use crate::snapshot::acl;
use crate::state::AppState;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
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
        (["policies"], &Method::PUT) => {
            error(StatusCode::BAD_REQUEST, "Must specify an apiID to update")
        }
        (["policies", id], &Method::PUT) => write(state, Some(id), req, Write::Update).await,
        (["policies"], &Method::DELETE) => {
            error(StatusCode::BAD_REQUEST, "Must specify an apiID to delete")
        }
        (["policies", id], &Method::DELETE) => delete(state, id).await,
        (["policies"] | ["policies", _], _) => {
            error(StatusCode::METHOD_NOT_ALLOWED, "Method not supported")
        }
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
        None => error(StatusCode::NOT_FOUND, "Policy not found"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Create,
    Update,
}

/// Tyk's policy id charset (`allow_unsafe_policy_ids` lifts it).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'~'))
}

/// Problems that would make the policy set fail to load, found before anything is written.
pub fn validate(policy: &Policy, matching: acl::Matching) -> Vec<String> {
    let mut problems = Vec::new();
    for (api, ad) in &policy.access_rights {
        for (i, spec) in ad.allowed_urls.iter().enumerate() {
            if let Err(e) = acl::compile(&acl::tyk_pattern(&spec.url, matching)) {
                let reason = acl::error_reason(&e);
                problems.push(format!(
                    "access_rights.{api}.allowed_urls[{i}].url: invalid regular expression {:?}: {reason}",
                    spec.url
                ));
            }
        }
    }
    problems
}

/// Where a policy is written.
fn source(state: &AppState) -> PolicySource {
    PolicySource::from_config(&state.config)
}

fn file_for(state: &AppState, dir: &Path, id: &str) -> PathBuf {
    state
        .snapshot
        .load()
        .policy_files
        .get(id)
        .map(PathBuf::from)
        .filter(|p| p.parent() == Some(dir))
        .unwrap_or_else(|| dir.join(format!("{id}.json")))
}

fn pretty(v: &impl serde::Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Reads the single policies file as an ordered map (missing file = empty).
fn read_policy_map(path: &Path) -> Result<serde_json::Map<String, Value>, String> {
    match std::fs::read(path) {
        Ok(bytes) => match json::parse_value(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(format!(
                "{}: expected a JSON object mapping policy id to policy",
                path.display()
            )),
            Err(e) => Err(format!("{}: {e}", path.display())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Applies `change` to the policy source under the write lock, then reloads so the
/// change is enforced when the caller gets the answer.
async fn commit(
    state: &Arc<AppState>,
    change: impl FnOnce(&PolicySource) -> Result<(), (StatusCode, String)> + Send + 'static,
) -> Result<(), Response<GwBody>> {
    let _guard = state.policy_write_lock.lock().await;
    let src = source(state);
    let done = tokio::task::spawn_blocking(move || change(&src))
        .await
        .unwrap_or_else(|e| {
            Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("policy write task failed: {e}"),
            ))
        });
    if let Err((status, msg)) = done {
        tracing::error!(reason = %msg, "policy write refused");
        return Err(error(status, &msg));
    }
    if let Err(issues) = state.reload("policy api").await {
        tracing::warn!(problems = %issues, "policy written, but the policy set does not load; the last good set stays live");
    }
    Ok(())
}

async fn write(
    state: &Arc<AppState>,
    url_id: Option<&str>,
    req: Request<Incoming>,
    mode: Write,
) -> Response<GwBody> {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut policy: Policy = match json::decode(&body) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "policy body rejected");
            return error(StatusCode::BAD_REQUEST, "Request malformed");
        }
    };
    if mode == Write::Update {
        if let Some(uid) = url_id {
            if !policy.effective_id().is_empty() && policy.effective_id() != uid {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Request ID does not match that in policy! For Update operations these must match.",
                );
            }
        }
    }
    if policy.id.is_empty() {
        if let Some(uid) = url_id {
            policy.id = uid.to_string();
        }
    }
    let id = policy.effective_id().to_string();
    if id.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "Unable to create policy without id.",
        );
    }
    if !state.config.allow_unsafe_policy_ids && !valid_id(&id) {
        return error(
            StatusCode::BAD_REQUEST,
            "Invalid Policy ID: Allowed characters: a-z, A-Z, 0-9, ., _, -, ~",
        );
    }
    let problems = validate(
        &policy,
        crate::state::compile_settings(&state.config).matching,
    );
    if !problems.is_empty() {
        return error(StatusCode::BAD_REQUEST, &problems.join("; "));
    }
    if matches!(source(state), PolicySource::None) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unable to access policy storage.",
        );
    }
    let target = match source(state) {
        PolicySource::Dir(d) => Some(file_for(state, &d, &id)),
        _ => None,
    };
    let pid = id.clone();
    let result = commit(state, move |src| match src {
        PolicySource::File(path) => {
            let mut map = read_policy_map(path).map_err(|e| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Unable to access policy storage: {e}"),
                )
            })?;
            let value = serde_json::to_value(&policy)
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            map.insert(pid, value);
            crate::util::atomic_write(path, &pretty(&map)).map_err(|e| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Failed to create file! {e}"),
                )
            })
        }
        PolicySource::Dir(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Failed to create file! {e}"),
                )
            })?;
            let path = target.unwrap_or_else(|| dir.join(format!("{pid}.json")));
            crate::util::atomic_write(&path, &pretty(&policy)).map_err(|e| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Failed to create file! {e}"),
                )
            })
        }
        PolicySource::None => Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unable to access policy storage.".into(),
        )),
    })
    .await;
    if let Err(r) = result {
        return r;
    }
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

async fn delete(state: &Arc<AppState>, id: &str) -> Response<GwBody> {
    let target = match source(state) {
        PolicySource::Dir(d) => Some(file_for(state, &d, id)),
        _ => None,
    };
    let pid = id.to_string();
    let result = commit(state, move |src| match src {
        PolicySource::File(path) => {
            let mut map = read_policy_map(path).map_err(|e| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Delete failed: {e}"),
                )
            })?;
            if map.shift_remove(&pid).is_none() {
                return Err((StatusCode::INTERNAL_SERVER_ERROR, "Delete failed".into()));
            }
            crate::util::atomic_write(path, &pretty(&map)).map_err(|e| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Delete failed: {e}"),
                )
            })
        }
        PolicySource::Dir(_) => {
            let path = target.ok_or((
                StatusCode::INTERNAL_SERVER_ERROR,
                "Delete failed".to_string(),
            ))?;
            std::fs::remove_file(&path).map_err(|_| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Delete failed".to_string(),
                )
            })?;
            if let Some(dir) = path.parent() {
                let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
            }
            Ok(())
        }
        PolicySource::None => Err((StatusCode::INTERNAL_SERVER_ERROR, "Delete failed".into())),
    })
    .await;
    match result {
        Ok(()) => json_response(
            StatusCode::OK,
            &json!({"key": id, "status": "ok", "action": "deleted"}),
        ),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_charset() {
        for ok in ["gold", "a.b_c-d~1", "5ead7120575961000181867e"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "ä", "a:b"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn validation_names_the_bad_regex() {
        let p: Policy = json::decode(br#"{"access_rights": {"api": {"allowed_urls": [{"url": "/ok", "methods": ["GET"]}, {"url": "/bad(", "methods": ["GET"]}]}}}"#).unwrap();
        let problems = validate(&p, acl::Matching::default());
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("access_rights.api.allowed_urls[1].url"),
            "{}",
            problems[0]
        );
    }
}
