//! The Gateway REST API under `/tyk/`, the Dashboard-style policy API and the health
//! checks (tyk-compat §8). This file only routes; each resource has its own file, every
//! answer is built by [`respond`].

mod apis;
pub mod dashboard;
mod health;
mod keys;
pub mod policies;
mod reload;
pub mod request;
pub mod respond;

pub use health::{hello, ready};
pub use request::{authorized, read_body, BodyResult, MAX_ADMIN_BODY};
pub use respond::{error, json_response, AdminError};

use keys::Mode;

use crate::respond::body::GwBody;
use crate::state::AppState;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

/// The first two segments of an admin path (`/tyk/keys`): key names in deeper segments
/// must not reach the logs.
fn route_shape(path: &str) -> String {
    path.split('/').take(3).collect::<Vec<_>>().join("/")
}

/// Does this path belong to the control API (rather than a proxied API)?
pub fn is_control_path(cfg: &crate::tyk::config::Config, path: &str) -> bool {
    path.starts_with("/tyk/")
        || dashboard::is_dashboard_path(path)
        || path.strip_prefix('/').is_some_and(|p| {
            p == cfg.health_check_endpoint_name || p == cfg.readiness_check_endpoint_name
        })
}

pub async fn handle(state: &Arc<AppState>, req: Request<Incoming>) -> Response<GwBody> {
    let path = req.uri().path().to_string();
    if path == format!("/{}", state.config.health_check_endpoint_name) {
        return if req.method() == Method::GET || req.method() == Method::HEAD {
            health::hello(state)
        } else {
            AdminError::HealthMethodNotAllowed.response()
        };
    }
    if path.strip_prefix('/') == Some(state.config.readiness_check_endpoint_name.as_str()) {
        return if req.method() == Method::GET || req.method() == Method::HEAD {
            health::ready(state)
        } else {
            AdminError::HealthMethodNotAllowed.response()
        };
    }
    if dashboard::is_dashboard_path(&path) {
        return dashboard::handle(state, req).await;
    }
    if !state.config.admin_enabled() {
        return AdminError::Forbidden.response();
    }
    if !authorized(
        &state.config.secret,
        req.headers().get("x-tyk-authorization"),
    ) {
        tracing::info!(route = %route_shape(&path), "admin request with a missing or wrong secret");
        return AdminError::Forbidden.response();
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
            Method::GET => keys::list_keys(state),
            Method::POST => {
                let body = read_body(req).await;
                keys::add_key(state, None, body, query.as_deref(), Mode::Add).await
            }
            _ => AdminError::MethodNotAllowed.response(),
        },
        ["keys", "create"] => match method {
            Method::POST => {
                let body = read_body(req).await;
                keys::add_key(state, None, body, query.as_deref(), Mode::Create).await
            }
            _ => AdminError::MethodNotAllowed.response(),
        },
        ["keys", key] => {
            let key = key.to_string();
            match method {
                Method::GET => keys::get_key(state, &key, query.as_deref()),
                Method::POST => {
                    let body = read_body(req).await;
                    keys::add_key(state, Some(&key), body, query.as_deref(), Mode::Add).await
                }
                Method::PUT => {
                    let body = read_body(req).await;
                    keys::update_key(state, &key, body, query.as_deref()).await
                }
                Method::DELETE => keys::delete_key(state, &key, query.as_deref()).await,
                _ => AdminError::MethodNotAllowed.response(),
            }
        }
        ["reload"] | ["reload", "group"] => match method {
            Method::GET => reload::reload(state, query.as_deref()).await,
            _ => AdminError::MethodNotAllowed.response(),
        },
        ["apis"] => match method {
            Method::GET => apis::list(state),
            _ => AdminError::MethodNotAllowed.response(),
        },
        ["apis", id] => match method {
            Method::GET => apis::get(state, id),
            _ => AdminError::MethodNotAllowed.response(),
        },
        _ => policies::route(state, &method, &segs, req)
            .await
            .unwrap_or_else(|| AdminError::PageNotFound.response()),
    }
}
