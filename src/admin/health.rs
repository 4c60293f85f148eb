//! `/hello` (Tyk's health JSON, with the reload state and unsupported fields) and `/ready`.

use super::respond::json_response;
use crate::respond::body::GwBody;
use crate::state::AppState;
use http::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

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
    if let Some(problems) = &st.tls_error {
        status = "warn";
        config["status"] = json!("warn");
        config["certificates"] = json!({
            "status": "warn",
            "output": "certificate reload rejected; the previous certificates are served",
            "problems": problems,
        });
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
