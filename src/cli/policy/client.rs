//! A small JSON client for the gateway's Dashboard-style API.

use super::env::Target;
use super::failure::Failure;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::time::Duration;

/// Upper bound for one request, connect to last body byte.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Answers bigger than this are refused rather than buffered.
const MAX_BODY: usize = 64 * 1024 * 1024;

pub struct Client {
    http: HyperClient<HttpConnector, Full<Bytes>>,
    target: Target,
}

/// A status and a parsed JSON body (`Value::Null` when the body is empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The server's error message (`Message`, else the raw body), for humans.
    pub fn message(&self) -> String {
        match self.body.get("Message").and_then(Value::as_str) {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => match &self.body {
                Value::Null => self
                    .status
                    .canonical_reason()
                    .unwrap_or("no message")
                    .to_string(),
                other => {
                    // A JSON answer without `Message` can be large: show enough
                    // of it to recognise, not a screenful.
                    let text = other.to_string();
                    match text.char_indices().nth(300) {
                        Some((cut, _)) => format!("{}…", &text[..cut]),
                        None => text,
                    }
                }
            },
        }
    }

    /// Every problem a 400 lists (`Errors`), else its `Message`.
    pub fn errors(&self) -> Vec<String> {
        let listed = crate::util::json_strings(self.body.get("Errors"));
        if listed.is_empty() {
            vec![self.message()]
        } else {
            listed
        }
    }
}

impl Client {
    pub fn new(target: Target) -> Client {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(TIMEOUT));
        Client {
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
            target,
        }
    }

    pub fn url(&self) -> &str {
        &self.target.url
    }

    /// Sends one request. Transport failures, timeouts, 401/403 and 5xx become
    /// `Failure`s; every other status is returned for the caller to interpret.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, Failure> {
        let url = format!("{}{path}", self.target.url);
        let mut req = Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("tollgate/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(s) = &self.target.secret {
            req = req.header(http::header::AUTHORIZATION, s.as_str());
        }
        let payload = match body {
            Some(b) => {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
                Bytes::from(
                    serde_json::to_vec(b)
                        .map_err(|e| Failure::Io(format!("cannot encode the request: {e}")))?,
                )
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(payload))
            .map_err(|e| Failure::Usage(format!("invalid request to {url}: {e}")))?;
        let exchange = async {
            let resp = self.http.request(req).await.map_err(|e| {
                Failure::Network(format!("cannot reach {}: {}", self.target.url, chain(&e)))
            })?;
            let status = resp.status();
            let limited = http_body_util::Limited::new(resp.into_body(), MAX_BODY);
            let bytes = limited
                .collect()
                .await
                .map_err(|e| {
                    Failure::Network(format!("{method} {path}: reading the answer failed: {e}"))
                })?
                .to_bytes();
            Ok::<_, Failure>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| {
                Failure::Network(format!(
                    "{method} {url}: no answer within {} s",
                    TIMEOUT.as_secs()
                ))
            })??;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let reply = Reply { status, body };
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let why = if self.target.secret.is_some() {
                format!("the secret from {} was rejected", self.target.secret_source)
            } else {
                format!(
                    "no secret was sent ({} is not set)",
                    self.target.secret_source
                )
            };
            return Err(Failure::Auth(format!(
                "authentication failed ({why}): check TOLLGATE_SECRET / --secret-env"
            )));
        }
        if status.is_server_error() {
            return Err(Failure::Server(format!(
                "{method} {path}: server error {}: {}",
                status.as_u16(),
                reply.message()
            )));
        }
        Ok(reply)
    }
}

/// An error and its causes on one line ("client error (Connect): tcp connect error:
/// Connection refused"), since hyper's top-level message alone says little.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Percent-encodes one path segment (ids may come from users or servers).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("gold"), "gold");
        assert_eq!(segment("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(segment("ö"), "%C3%B6");
    }

    #[test]
    fn reply_messages() {
        let r = Reply {
            status: StatusCode::BAD_REQUEST,
            body: serde_json::json!({"Status": "Error", "Message": "a; b", "Errors": ["a", "b"]}),
        };
        assert_eq!(r.errors(), vec!["a", "b"]);
        let r = Reply {
            status: StatusCode::NOT_FOUND,
            body: Value::Null,
        };
        assert_eq!(r.message(), "Not Found");
    }
}
