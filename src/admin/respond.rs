//! Every admin and Dashboard answer is built here: Tyk's encoder (compact JSON and a
//! trailing newline, `Content-Type: application/json`) and its error shape
//! `{"status":"error","message":...}`.

use crate::respond::body::GwBody;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde::Serialize;
use serde_json::json;

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

pub(super) fn ok_message() -> Response<GwBody> {
    json_response(StatusCode::OK, &json!({"status": "ok", "message": ""}))
}

pub(super) fn not_found_text() -> Response<GwBody> {
    let mut r = Response::new(GwBody::full("404 page not found\n"));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub(super) fn method_not_allowed() -> Response<GwBody> {
    error(StatusCode::METHOD_NOT_ALLOWED, "Method not supported")
}

#[cfg(test)]
mod tests {
    use super::*;

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
