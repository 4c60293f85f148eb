//! Every admin and Dashboard answer is built here: Tyk's encoder (compact JSON and a
//! trailing newline, `Content-Type: application/json`), its error shape
//! `{"status":"error","message":...}`, and the Dashboard's
//! `{"Status":"Error","Message":...,"Meta":null}`.
//!
//! Handlers name the error ([`AdminError`]); its status, text and body shape are chosen
//! only in [`AdminError::response`]. Statuses and messages are Tyk's (and the
//! Dashboard's) to the letter: tools written against Tyk match on them.

use crate::respond::body::GwBody;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde::Serialize;
use serde_json::json;
use std::borrow::Cow;

/// Every error the admin API (`/tyk/...`, the health checks) and the Dashboard-style
/// API answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    // --- The Gateway REST API: Tyk's `{"status":"error","message":...}` ---
    /// 403: admin API disabled, or a missing or wrong `X-Tyk-Authorization`.
    Forbidden,
    /// 405 on a `/tyk/...` route.
    MethodNotAllowed,
    /// 405 on `/hello` or `/ready` (Go's `http.StatusText` spelling).
    HealthMethodNotAllowed,
    /// 404 for a `/tyk/...` path no route serves: Go's router text, not JSON.
    PageNotFound,
    /// 400: the body is not JSON (or could not be read).
    Malformed,
    /// 413: the body is larger than `MAX_ADMIN_BODY`.
    TooLarge,
    /// 400 with every problem of a key or policy body: one problem is Tyk's body exactly,
    /// several are joined in `message` and listed in `errors`.
    Problems(Vec<String>),
    /// 500: `POST /tyk/keys/create` with a body that is not JSON.
    Unmarshalling,
    /// 400: a custom key name shorter than `min_token_length`.
    KeyTooShort { min: usize },
    /// 400: `POST /tyk/keys/create` of a key without access rights (no master keys).
    NoAccessRights,
    /// 500: `POST /tyk/keys/create` whose policies cannot be applied (the reason).
    ApplyFailed(String),
    /// 500: a key could not be validated or stored (Tyk's catch-all for key writes).
    SaveFailed,
    /// 400: `?hashed=true` while `hash_keys` is off.
    HashedLookupDisabled,
    /// 404 on `PUT /tyk/keys/{key}`.
    KeyNotFound,
    /// 404 on `GET /tyk/keys/{key}` (Tyk words it differently from PUT).
    KeyNotFoundOnGet,
    /// 404 on `DELETE /tyk/keys/{key}`.
    NoSuchKey,
    /// 500: a stored session that no longer decodes, on `GET /tyk/keys/{key}`.
    RetrieveFailed,
    /// 400: the key store could not delete the key.
    RemoveFailed,
    /// 404 on `GET /tyk/keys` with `hash_keys` and no `enable_hashed_keys_listing`.
    HashedListingDisabled,
    /// 404 on `GET /tyk/apis/{id}`.
    ApiNotFound,
    /// 404 on `GET /tyk/policies/{id}`.
    PolicyNotFound,
    /// 400 on `PUT /tyk/policies` (no id).
    PolicyIdRequiredForUpdate,
    /// 400 on `DELETE /tyk/policies` (no id).
    PolicyIdRequiredForDelete,
    /// 500: no policy source to write to.
    PolicyStorageUnavailable,
    /// 500: the policy source could not be written (the reason).
    PolicyWriteFailed(String),
    /// 500 on `DELETE /tyk/policies/{id}`.
    PolicyDeleteFailed,

    // --- The Dashboard-style API: `{"Status":"Error","Message":...,"Meta":null}` ---
    /// 401: a missing or wrong `authorization` header.
    DashboardUnauthorised,
    /// 404 for a Dashboard path no route serves.
    DashboardNotFound,
    /// 404 on `GET /api/apis/{id}`.
    DashboardApiNotFound,
    /// 404 on `/api/portal/policies/{id}`.
    DashboardPolicyNotFound,
    /// 405 on a Dashboard route.
    DashboardMethodNotAllowed,
    /// 409: `POST /api/portal/policies` with a friendly id already in use (the id).
    DashboardPolicyExists(String),
    /// 500: the policy source could not be written (the reason).
    DashboardStoreFailed(String),
    /// 400 with every problem of a policy body, always listed in `Errors`.
    DashboardProblems(Vec<String>),
}

impl AdminError {
    pub fn status(&self) -> StatusCode {
        use AdminError::*;
        match self {
            Malformed
            | Problems(_)
            | KeyTooShort { .. }
            | NoAccessRights
            | HashedLookupDisabled
            | RemoveFailed
            | PolicyIdRequiredForUpdate
            | PolicyIdRequiredForDelete
            | DashboardProblems(_) => StatusCode::BAD_REQUEST,
            DashboardUnauthorised => StatusCode::UNAUTHORIZED,
            Forbidden => StatusCode::FORBIDDEN,
            PageNotFound
            | KeyNotFound
            | KeyNotFoundOnGet
            | NoSuchKey
            | HashedListingDisabled
            | ApiNotFound
            | PolicyNotFound
            | DashboardNotFound
            | DashboardApiNotFound
            | DashboardPolicyNotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed | HealthMethodNotAllowed | DashboardMethodNotAllowed => {
                StatusCode::METHOD_NOT_ALLOWED
            }
            DashboardPolicyExists(_) => StatusCode::CONFLICT,
            TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Unmarshalling
            | ApplyFailed(_)
            | SaveFailed
            | RetrieveFailed
            | PolicyStorageUnavailable
            | PolicyWriteFailed(_)
            | PolicyDeleteFailed
            | DashboardStoreFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message as it appears in the body (`message`, or the Dashboard's `Message`);
    /// problem lists are joined with `; `.
    pub fn message(&self) -> Cow<'static, str> {
        use AdminError::*;
        Cow::Borrowed(match self {
            Forbidden => "Attempted administrative access with invalid or missing key!",
            MethodNotAllowed | DashboardMethodNotAllowed => "Method not supported",
            HealthMethodNotAllowed => "Method Not Allowed",
            PageNotFound => "404 page not found",
            Malformed => "Request malformed",
            TooLarge => "Request body too large",
            Problems(list) | DashboardProblems(list) => return list.join("; ").into(),
            Unmarshalling => "Unmarshalling failed",
            KeyTooShort { min } => {
                return format!(
                    "Failed to create key, custom keys must be at least {min} characters long (min_token_length)"
                )
                .into()
            }
            NoAccessRights => {
                "Failed to create key, keys must have at least one Access Rights record set."
            }
            ApplyFailed(reason) => return format!("Failed to create key - {reason}").into(),
            SaveFailed => "Failed to create key, ensure security settings are correct.",
            HashedLookupDisabled => "Key requested by hash but key hashing is not enabled",
            KeyNotFound => "Key is not found",
            KeyNotFoundOnGet => "Key not found",
            NoSuchKey => "There is no such key found",
            RetrieveFailed => "Failed to retrieve key",
            RemoveFailed => "Failed to remove the key",
            HashedListingDisabled => {
                "Hashed key listing is disabled in config (enable_hashed_keys_listing)"
            }
            ApiNotFound | DashboardApiNotFound => "API not found",
            PolicyNotFound | DashboardPolicyNotFound => "Policy not found",
            PolicyIdRequiredForUpdate => "Must specify an apiID to update",
            PolicyIdRequiredForDelete => "Must specify an apiID to delete",
            PolicyStorageUnavailable => "Unable to access policy storage.",
            PolicyWriteFailed(reason) => return format!("Failed to create file! {reason}").into(),
            PolicyDeleteFailed => "Delete failed",
            DashboardUnauthorised => "Not authorised",
            DashboardNotFound => "Not found",
            DashboardPolicyExists(id) => {
                return format!("a policy with id {id:?} already exists: update it with PUT").into()
            }
            DashboardStoreFailed(reason) => {
                return format!("Unable to store the policy: {reason}").into()
            }
        })
    }

    /// The one place an admin or Dashboard error becomes a response.
    pub fn response(&self) -> Response<GwBody> {
        use AdminError::*;
        let status = self.status();
        match self {
            PageNotFound => {
                // Go's router: `404 page not found` as text.
                let mut r = Response::new(GwBody::full(format!("{}\n", self.message())));
                *r.status_mut() = status;
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                r
            }
            Problems(list) if list.len() != 1 => json_response(
                status,
                &json!({"status": "error", "message": self.message(), "errors": list}),
            ),
            DashboardProblems(list) => json_response(
                status,
                &json!({"Status": "Error", "Message": self.message(), "Meta": null, "Errors": list}),
            ),
            DashboardUnauthorised
            | DashboardNotFound
            | DashboardApiNotFound
            | DashboardPolicyNotFound
            | DashboardMethodNotAllowed
            | DashboardPolicyExists(_)
            | DashboardStoreFailed(_) => dashboard_reply(status, false, &self.message()),
            _ => error(status, &self.message()),
        }
    }
}

impl From<AdminError> for Response<GwBody> {
    fn from(e: AdminError) -> Self {
        e.response()
    }
}

pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<GwBody> {
    let mut text = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    text.push(b'\n');
    let mut r = Response::new(GwBody::full(text));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Tyk's error shape with any status and message. Admin handlers name their errors with
/// [`AdminError`] instead; this stays for the listener's own answers.
pub fn error(status: StatusCode, message: &str) -> Response<GwBody> {
    json_response(status, &json!({"status": "error", "message": message}))
}

/// The Dashboard's answer shape, for success and error alike.
fn dashboard_reply(status: StatusCode, ok: bool, message: &str) -> Response<GwBody> {
    json_response(
        status,
        &json!({"Status": if ok { "OK" } else { "Error" }, "Message": message, "Meta": null}),
    )
}

/// The Dashboard's success: `{"Status":"OK","Message":...,"Meta":null}`.
pub(super) fn dashboard_ok(message: &str) -> Response<GwBody> {
    dashboard_reply(StatusCode::OK, true, message)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn body_bytes(r: Response<GwBody>) -> Vec<u8> {
        match r.into_body() {
            GwBody::Full { data } => data.map(|d| d.to_vec()).unwrap_or_default(),
            _ => panic!("expected a full body"),
        }
    }

    #[test]
    fn responses_are_compact_json_with_newline() {
        let r = error(StatusCode::FORBIDDEN, "x");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(body_bytes(r), b"{\"status\":\"error\",\"message\":\"x\"}\n");
    }

    /// Which row of the table covers a variant: a new variant does not compile until it
    /// has an index here, and the table test fails until it has a row.
    fn variant_index(e: &AdminError) -> usize {
        use AdminError::*;
        match e {
            Forbidden => 0,
            MethodNotAllowed => 1,
            HealthMethodNotAllowed => 2,
            PageNotFound => 3,
            Malformed => 4,
            TooLarge => 5,
            Problems(_) => 6,
            Unmarshalling => 7,
            KeyTooShort { .. } => 8,
            NoAccessRights => 9,
            ApplyFailed(_) => 10,
            SaveFailed => 11,
            HashedLookupDisabled => 12,
            KeyNotFound => 13,
            KeyNotFoundOnGet => 14,
            NoSuchKey => 15,
            RetrieveFailed => 16,
            RemoveFailed => 17,
            HashedListingDisabled => 18,
            ApiNotFound => 19,
            PolicyNotFound => 20,
            PolicyIdRequiredForUpdate => 21,
            PolicyIdRequiredForDelete => 22,
            PolicyStorageUnavailable => 23,
            PolicyWriteFailed(_) => 24,
            PolicyDeleteFailed => 25,
            DashboardUnauthorised => 26,
            DashboardNotFound => 27,
            DashboardApiNotFound => 28,
            DashboardPolicyNotFound => 29,
            DashboardMethodNotAllowed => 30,
            DashboardPolicyExists(_) => 31,
            DashboardStoreFailed(_) => 32,
            DashboardProblems(_) => 33,
        }
    }
    const VARIANTS: usize = 34;

    #[test]
    fn status_and_body_table() {
        use AdminError::*;
        const JSON: &str = "application/json";
        const TEXT: &str = "text/plain; charset=utf-8";
        let two = || vec!["a: bad".to_string(), "b: \"worse\"".to_string()];
        let table: Vec<(AdminError, u16, &str, &str)> = vec![
            (
                Forbidden,
                403,
                JSON,
                r#"{"status":"error","message":"Attempted administrative access with invalid or missing key!"}"#,
            ),
            (
                MethodNotAllowed,
                405,
                JSON,
                r#"{"status":"error","message":"Method not supported"}"#,
            ),
            (
                HealthMethodNotAllowed,
                405,
                JSON,
                r#"{"status":"error","message":"Method Not Allowed"}"#,
            ),
            (PageNotFound, 404, TEXT, "404 page not found"),
            (
                Malformed,
                400,
                JSON,
                r#"{"status":"error","message":"Request malformed"}"#,
            ),
            (
                TooLarge,
                413,
                JSON,
                r#"{"status":"error","message":"Request body too large"}"#,
            ),
            // One problem is Tyk's body exactly.
            (
                Problems(vec!["rate: expected a number".into()]),
                400,
                JSON,
                r#"{"status":"error","message":"rate: expected a number"}"#,
            ),
            (
                Problems(two()),
                400,
                JSON,
                r#"{"status":"error","message":"a: bad; b: \"worse\"","errors":["a: bad","b: \"worse\""]}"#,
            ),
            (
                Unmarshalling,
                500,
                JSON,
                r#"{"status":"error","message":"Unmarshalling failed"}"#,
            ),
            (
                KeyTooShort { min: 3 },
                400,
                JSON,
                r#"{"status":"error","message":"Failed to create key, custom keys must be at least 3 characters long (min_token_length)"}"#,
            ),
            (
                NoAccessRights,
                400,
                JSON,
                r#"{"status":"error","message":"Failed to create key, keys must have at least one Access Rights record set."}"#,
            ),
            (
                ApplyFailed("policy not found: \"x\"".into()),
                500,
                JSON,
                r#"{"status":"error","message":"Failed to create key - policy not found: \"x\""}"#,
            ),
            (
                SaveFailed,
                500,
                JSON,
                r#"{"status":"error","message":"Failed to create key, ensure security settings are correct."}"#,
            ),
            (
                HashedLookupDisabled,
                400,
                JSON,
                r#"{"status":"error","message":"Key requested by hash but key hashing is not enabled"}"#,
            ),
            (
                KeyNotFound,
                404,
                JSON,
                r#"{"status":"error","message":"Key is not found"}"#,
            ),
            (
                KeyNotFoundOnGet,
                404,
                JSON,
                r#"{"status":"error","message":"Key not found"}"#,
            ),
            (
                NoSuchKey,
                404,
                JSON,
                r#"{"status":"error","message":"There is no such key found"}"#,
            ),
            (
                RetrieveFailed,
                500,
                JSON,
                r#"{"status":"error","message":"Failed to retrieve key"}"#,
            ),
            (
                RemoveFailed,
                400,
                JSON,
                r#"{"status":"error","message":"Failed to remove the key"}"#,
            ),
            (
                HashedListingDisabled,
                404,
                JSON,
                r#"{"status":"error","message":"Hashed key listing is disabled in config (enable_hashed_keys_listing)"}"#,
            ),
            (
                ApiNotFound,
                404,
                JSON,
                r#"{"status":"error","message":"API not found"}"#,
            ),
            (
                PolicyNotFound,
                404,
                JSON,
                r#"{"status":"error","message":"Policy not found"}"#,
            ),
            (
                PolicyIdRequiredForUpdate,
                400,
                JSON,
                r#"{"status":"error","message":"Must specify an apiID to update"}"#,
            ),
            (
                PolicyIdRequiredForDelete,
                400,
                JSON,
                r#"{"status":"error","message":"Must specify an apiID to delete"}"#,
            ),
            (
                PolicyStorageUnavailable,
                500,
                JSON,
                r#"{"status":"error","message":"Unable to access policy storage."}"#,
            ),
            (
                PolicyWriteFailed("disk full".into()),
                500,
                JSON,
                r#"{"status":"error","message":"Failed to create file! disk full"}"#,
            ),
            (
                PolicyDeleteFailed,
                500,
                JSON,
                r#"{"status":"error","message":"Delete failed"}"#,
            ),
            (
                DashboardUnauthorised,
                401,
                JSON,
                r#"{"Status":"Error","Message":"Not authorised","Meta":null}"#,
            ),
            (
                DashboardNotFound,
                404,
                JSON,
                r#"{"Status":"Error","Message":"Not found","Meta":null}"#,
            ),
            (
                DashboardApiNotFound,
                404,
                JSON,
                r#"{"Status":"Error","Message":"API not found","Meta":null}"#,
            ),
            (
                DashboardPolicyNotFound,
                404,
                JSON,
                r#"{"Status":"Error","Message":"Policy not found","Meta":null}"#,
            ),
            (
                DashboardMethodNotAllowed,
                405,
                JSON,
                r#"{"Status":"Error","Message":"Method not supported","Meta":null}"#,
            ),
            (
                DashboardPolicyExists("p\"1".into()),
                409,
                JSON,
                r#"{"Status":"Error","Message":"a policy with id \"p\\\"1\" already exists: update it with PUT","Meta":null}"#,
            ),
            (
                DashboardStoreFailed("disk full".into()),
                500,
                JSON,
                r#"{"Status":"Error","Message":"Unable to store the policy: disk full","Meta":null}"#,
            ),
            // The Dashboard lists even a single problem in `Errors`.
            (
                DashboardProblems(vec!["id: bad".into()]),
                400,
                JSON,
                r#"{"Status":"Error","Message":"id: bad","Meta":null,"Errors":["id: bad"]}"#,
            ),
            (
                DashboardProblems(two()),
                400,
                JSON,
                r#"{"Status":"Error","Message":"a: bad; b: \"worse\"","Meta":null,"Errors":["a: bad","b: \"worse\""]}"#,
            ),
        ];
        let mut covered = [false; VARIANTS];
        for (e, status, content_type, body) in table {
            covered[variant_index(&e)] = true;
            let r = Response::from(e.clone());
            assert_eq!(r.status().as_u16(), status, "{e:?}");
            assert_eq!(r.headers()["content-type"], content_type, "{e:?}");
            assert_eq!(r.headers().len(), 1, "{e:?}: only Content-Type");
            let got = body_bytes(r);
            assert_eq!(
                String::from_utf8_lossy(&got),
                format!("{body}\n"),
                "{e:?}: body bytes"
            );
        }
        let missing: Vec<usize> = (0..VARIANTS).filter(|i| !covered[*i]).collect();
        assert!(missing.is_empty(), "variants without a row: {missing:?}");
    }

    #[test]
    fn dashboard_success_shape() {
        let r = dashboard_ok("Data updated");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            body_bytes(r),
            b"{\"Status\":\"OK\",\"Message\":\"Data updated\",\"Meta\":null}\n"
        );
    }
}
