//! The request side of the admin API: the secret check and bounded body reading.

use super::respond::AdminError;
use bytes::Bytes;
use http::header::HeaderValue;
use http::Request;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use subtle::ConstantTimeEq;

/// Admin bodies larger than this are refused with 413.
pub const MAX_ADMIN_BODY: usize = 1 << 20;

/// Constant-time check of `X-Tyk-Authorization` against the configured secret.
pub fn authorized(secret: &str, header: Option<&HeaderValue>) -> bool {
    let Some(given) = header else { return false };
    !secret.is_empty() && bool::from(given.as_bytes().ct_eq(secret.as_bytes()))
}

/// The body, or the error to answer instead (too large, unreadable).
pub type BodyResult = Result<Bytes, AdminError>;

pub async fn read_body(req: Request<Incoming>) -> BodyResult {
    match Limited::new(req.into_body(), MAX_ADMIN_BODY)
        .collect()
        .await
    {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(AdminError::TooLarge)
        }
        Err(_) => Err(AdminError::Malformed),
    }
}

pub(super) fn query_flag(query: Option<&str>, name: &str) -> Option<String> {
    query
        .and_then(|q| crate::pipeline::authn::query_param(q, name))
        .map(|v| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_comparison() {
        let h = HeaderValue::from_static("s3cret");
        assert!(authorized("s3cret", Some(&h)));
        assert!(!authorized("s3cret!", Some(&h)));
        assert!(!authorized("s3cret", None));
        assert!(
            !authorized("", Some(&HeaderValue::from_static(""))),
            "an empty secret never authorises"
        );
    }
}
