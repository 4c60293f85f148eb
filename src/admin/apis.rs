//! `/tyk/apis`: the loaded API definitions, as written.

use super::respond::{json_response, AdminError};
use crate::respond::body::GwBody;
use crate::state::AppState;
use http::{Response, StatusCode};
use serde_json::Value;
use std::sync::Arc;

pub(super) fn list(state: &Arc<AppState>) -> Response<GwBody> {
    let snap = state.snapshot.load();
    let list: Vec<&Value> = snap.api_defs.iter().map(|(_, raw, _)| raw).collect();
    json_response(StatusCode::OK, &list)
}

pub(super) fn get(state: &Arc<AppState>, id: &str) -> Response<GwBody> {
    let snap = state.snapshot.load();
    match snap.api_defs.iter().find(|(aid, _, _)| &**aid == id) {
        Some((_, raw, _)) => json_response(StatusCode::OK, raw),
        None => AdminError::ApiNotFound.response(),
    }
}
