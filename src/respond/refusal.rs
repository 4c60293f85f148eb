//! Every way a proxied request can be refused, and the one place that renders them.
//!
//! Status codes and messages are Tyk's, to the letter (tyk-compat §0.1, §4–§7): clients
//! and tests written against Tyk match on them.

use crate::respond::body::GwBody;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};

/// A refusal decided by the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    NoRoute,
    BadRequest(&'static str),
    Version(&'static str),
    AuthMissing,
    KeyDenied,
    KeyInactive,
    KeyExpired,
    ApiDenied,
    UrlDenied,
    RateLimited {
        retry_after: u64,
        headers: Option<RateHeaders>,
    },
    ApiRateLimited {
        retry_after: u64,
    },
    QuotaExceeded {
        retry_after: u64,
    },
    UpstreamUnavailable,
    UpstreamTimeout,
    StorageUnavailable,
}

/// `X-RateLimit-*` values (rate mode sends them on 429 too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: i64,
    pub remaining: i64,
    pub reset: i64,
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        use GatewayError::*;
        match self {
            NoRoute => StatusCode::NOT_FOUND,
            BadRequest(_) => StatusCode::BAD_REQUEST,
            AuthMissing | KeyExpired => StatusCode::UNAUTHORIZED,
            Version(_) | KeyDenied | KeyInactive | ApiDenied | UrlDenied | QuotaExceeded { .. } => {
                StatusCode::FORBIDDEN
            }
            RateLimited { .. } | ApiRateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn message(&self) -> &'static str {
        use GatewayError::*;
        match self {
            NoRoute => "Not Found",
            BadRequest(m) | Version(m) => m,
            AuthMissing => "Authorization field missing",
            KeyDenied | ApiDenied => "Access to this API has been disallowed",
            KeyInactive => "Key is inactive, please renew",
            KeyExpired => "Key has expired, please renew",
            UrlDenied => "Access to this resource has been disallowed",
            RateLimited { .. } => "Rate Limit Exceeded",
            ApiRateLimited { .. } => "API Rate Limit Exceeded",
            QuotaExceeded { .. } => "Quota exceeded",
            UpstreamUnavailable => "There was a problem proxying the request",
            UpstreamTimeout => "Upstream service reached hard timeout.",
            StorageUnavailable => "Service temporarily unavailable.",
        }
    }

    /// A stable machine-readable name, used in logs and metrics.
    pub fn code(&self) -> &'static str {
        use GatewayError::*;
        match self {
            NoRoute => "route.not_found",
            BadRequest(_) => "request.bad",
            Version(_) => "version.denied",
            AuthMissing => "auth.auth_field_missing",
            KeyDenied => "auth.key_not_found",
            KeyInactive => "auth.key_inactive",
            KeyExpired => "auth.key_expired",
            ApiDenied => "access.api_denied",
            UrlDenied => "access.url_denied",
            RateLimited { .. } => "limit.rate",
            ApiRateLimited { .. } => "limit.api_rate",
            QuotaExceeded { .. } => "limit.quota",
            UpstreamUnavailable => "upstream.unavailable",
            UpstreamTimeout => "upstream.timeout",
            StorageUnavailable => "storage.unavailable",
        }
    }
}

/// Tyk's `error.json` template: `{`, LF, four spaces, `"error": "<msg>"`, LF, `}`.
pub fn tyk_error_body(message: &str) -> String {
    let escaped = serde_json::to_string(message).unwrap_or_else(|_| "\"\"".into());
    format!("{{\n    \"error\": {escaped}\n}}")
}

/// Renders a refusal. `generator`: add `X-Generator: tyk.io` (off with `hide_generator_header`).
pub fn render(err: &GatewayError, generator: bool) -> Response<GwBody> {
    let mut resp = if *err == GatewayError::NoRoute {
        // Tyk answers unmatched paths from its router with a bare text body.
        let mut r = Response::new(GwBody::full("Not Found"));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    } else {
        let mut r = Response::new(GwBody::full(tyk_error_body(err.message())));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if generator {
            r.headers_mut()
                .insert(X_GENERATOR.clone(), HeaderValue::from_static("tyk.io"));
        }
        r
    };
    *resp.status_mut() = err.status();
    let h = resp.headers_mut();
    match err {
        GatewayError::RateLimited {
            retry_after,
            headers,
        } => {
            h.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
            if let Some(rh) = headers {
                set_rate_headers(h, *rh);
            }
        }
        GatewayError::ApiRateLimited { retry_after } => {
            h.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        GatewayError::QuotaExceeded { retry_after } if *retry_after > 0 => {
            h.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        GatewayError::StorageUnavailable => {
            h.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    resp
}

pub static X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
pub static X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
pub static X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
static X_GENERATOR: HeaderName = HeaderName::from_static("x-generator");

pub fn set_rate_headers(h: &mut http::HeaderMap, rh: RateHeaders) {
    h.insert(X_RATELIMIT_LIMIT.clone(), HeaderValue::from(rh.limit));
    h.insert(
        X_RATELIMIT_REMAINING.clone(),
        HeaderValue::from(rh.remaining),
    );
    h.insert(X_RATELIMIT_RESET.clone(), HeaderValue::from(rh.reset));
}

/// Removes upstream `X-RateLimit-*` headers (rate mode: only the gateway sets them).
pub fn remove_rate_headers(h: &mut http::HeaderMap) {
    h.remove(&X_RATELIMIT_LIMIT);
    h.remove(&X_RATELIMIT_REMAINING);
    h.remove(&X_RATELIMIT_RESET);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_message_table() {
        use GatewayError::*;
        let table: &[(GatewayError, u16, &str)] = &[
            (NoRoute, 404, "Not Found"),
            (AuthMissing, 401, "Authorization field missing"),
            (KeyDenied, 403, "Access to this API has been disallowed"),
            (KeyInactive, 403, "Key is inactive, please renew"),
            (KeyExpired, 401, "Key has expired, please renew"),
            (ApiDenied, 403, "Access to this API has been disallowed"),
            (
                UrlDenied,
                403,
                "Access to this resource has been disallowed",
            ),
            (
                RateLimited {
                    retry_after: 1,
                    headers: None,
                },
                429,
                "Rate Limit Exceeded",
            ),
            (
                ApiRateLimited { retry_after: 1 },
                429,
                "API Rate Limit Exceeded",
            ),
            (QuotaExceeded { retry_after: 5 }, 403, "Quota exceeded"),
            (
                UpstreamUnavailable,
                502,
                "There was a problem proxying the request",
            ),
            (
                UpstreamTimeout,
                504,
                "Upstream service reached hard timeout.",
            ),
            (StorageUnavailable, 503, "Service temporarily unavailable."),
        ];
        for (e, status, msg) in table {
            assert_eq!(e.status().as_u16(), *status, "{e:?}");
            assert_eq!(e.message(), *msg);
        }
    }

    #[test]
    fn body_matches_tyk_template_bytes() {
        assert_eq!(
            tyk_error_body("Quota exceeded"),
            "{\n    \"error\": \"Quota exceeded\"\n}"
        );
        assert_eq!(tyk_error_body("a\"b"), "{\n    \"error\": \"a\\\"b\"\n}");
    }

    #[test]
    fn headers_on_limits() {
        let r = render(&GatewayError::QuotaExceeded { retry_after: 30 }, true);
        assert_eq!(r.headers()["retry-after"], "30");
        assert_eq!(r.headers()["x-generator"], "tyk.io");
        assert_eq!(r.headers()["content-type"], "application/json");
        let r = render(&GatewayError::KeyDenied, false);
        assert!(r.headers().get("x-generator").is_none());
        let r = render(&GatewayError::NoRoute, true);
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
        // The store is down: 503 in Tyk's template, and a retry in a second.
        let r = render(&GatewayError::StorageUnavailable, false);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "1");
        match r.into_body() {
            GwBody::Full { data } => assert_eq!(
                &data.unwrap()[..],
                b"{\n    \"error\": \"Service temporarily unavailable.\"\n}"
            ),
            _ => panic!("expected a full body"),
        }
    }
}
