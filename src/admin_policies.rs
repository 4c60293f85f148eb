//! `/tyk/policies` (Gateway REST API, tyk-compat §8.2).

use crate::body::GwBody;
use crate::state::AppState;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

/// Routes `/tyk/policies[...]`; `None` when the path is not a policy route.
pub async fn route(
    _state: &Arc<AppState>,
    _method: &Method,
    segs: &[&str],
    _req: Request<Incoming>,
) -> Option<Response<GwBody>> {
    match segs.first() {
        Some(&"policies") => None,
        _ => None,
    }
}
