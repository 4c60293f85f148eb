//! Stage: build the upstream request and send it. The only stage that does I/O.

use crate::policy::snapshot::Api;
use crate::respond::body::GwBody;
use crate::respond::refusal::GatewayError;
use crate::state::UpstreamClient;
use crate::upstream::{h1, UpstreamError};
use http::header::{
    HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, COOKIE, HOST, PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::uri::Authority;
use http::{HeaderMap, Response};
use http_body::Body as _;
use hyper::body::Incoming;
use std::net::IpAddr;
use std::time::Duration;

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy ones Tyk and Go also drop, then
/// `te` (dropped unless it is `trailers`), then the method-override headers (see
/// [`prepare_headers`]). Static names: parsing a header name per request shows up in
/// profiles.
static DROPPABLE: [HeaderName; 12] = [
    CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
    TE,
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];
const HOP_BY_HOP: u16 = 0b0000_1111_1111;
const TE_BIT: u16 = 1 << 8;
const METHOD_OVERRIDES: u16 = 0b1110_0000_0000;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Which of [`DROPPABLE`] are present, as a bit set: one pass over the names is far
/// cheaper than a hash lookup per candidate, and almost every message has none or
/// only `Connection: keep-alive`.
fn present(h: &HeaderMap) -> u16 {
    let mut bits = 0;
    for name in h.keys() {
        // A string match compiles to a length switch; comparing `HeaderName`s one by
        // one costs more than the rest of the header handling.
        let i = match name.as_str() {
            "connection" => 0,
            "proxy-connection" => 1,
            "keep-alive" => 2,
            "proxy-authenticate" => 3,
            "proxy-authorization" => 4,
            "trailer" => 5,
            "transfer-encoding" => 6,
            "upgrade" => 7,
            "te" => 8,
            "x-http-method-override" => 9,
            "x-http-method" => 10,
            "x-method-override" => 11,
            _ => continue,
        };
        bits |= 1 << i;
    }
    bits
}

/// Removes the headers of `which` (bits of [`DROPPABLE`]) that are present, including
/// those named in `Connection`.
fn drop_headers(h: &mut HeaderMap, which: u16) {
    let bits = present(h) & which;
    if bits == 0 {
        return;
    }
    if bits & 1 != 0 {
        // `keep-alive` / `close` (nearly every message) name nothing else to drop.
        let named: Vec<HeaderName> = h
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|n| !n.eq_ignore_ascii_case("keep-alive") && !n.eq_ignore_ascii_case("close"))
            .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .collect();
        for n in named {
            h.remove(n);
        }
    }
    for (i, name) in DROPPABLE.iter().enumerate() {
        if bits & (1 << i) == 0 {
            continue;
        }
        if i == 8
            && h.get(TE)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"))
        {
            continue;
        }
        h.remove(name);
    }
}

/// Removes hop-by-hop headers, including those named in `Connection`.
pub fn remove_hop_by_hop(h: &mut HeaderMap) {
    drop_headers(h, HOP_BY_HOP | TE_BIT);
}

/// The client's address as an `X-Forwarded-For` value, made once per connection.
pub fn peer_value(peer: IpAddr) -> HeaderValue {
    // An IP address always formats to a valid header value.
    HeaderValue::from_str(&peer.to_string()).unwrap_or(HeaderValue::from_static("unknown"))
}

/// Appends the client address (`peer`, from [`peer_value`]) to `X-Forwarded-For`.
pub fn append_forwarded_for(h: &mut HeaderMap, peer: &HeaderValue) {
    let mut prior = h.get_all(&X_FORWARDED_FOR).iter().peekable();
    if prior.peek().is_none() {
        h.insert(X_FORWARDED_FOR.clone(), peer.clone());
        return;
    }
    // Every prior line counts (a header may legally be split over several), as in Go's proxy.
    let mut value: Vec<u8> = Vec::with_capacity(64);
    for v in prior {
        let v = v.as_bytes().trim_ascii();
        if !v.is_empty() {
            value.extend_from_slice(v);
            value.extend_from_slice(b", ");
        }
    }
    value.extend_from_slice(peer.as_bytes());
    if let Ok(v) = HeaderValue::from_bytes(&value) {
        h.insert(X_FORWARDED_FOR.clone(), v);
    }
}

/// `strip_auth_data`: drop the credential from header, query and cookie (Tyk's StripAuth).
pub fn strip_auth(api: &Api, h: &mut HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(name) = &api.auth.header {
        h.remove(name);
    }
    let cookie_name = api
        .auth
        .cookie
        .clone()
        .or_else(|| api.auth.header.as_ref().map(|n| n.as_str().to_string()));
    if let Some(cname) = cookie_name {
        let kept: Vec<String> = h
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|c| !c.is_empty() && c.split_once('=').map(|(k, _)| k) != Some(cname.as_str()))
            .map(str::to_string)
            .collect();
        h.remove(COOKIE);
        if !kept.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
                h.insert(COOKIE, v);
            }
        }
    }
    match (query, &api.auth.param) {
        (Some(q), Some(p)) => {
            let kept: Vec<&str> = q
                .split('&')
                .filter(|pair| super::authn::query_param(pair, p).is_none() && !pair.is_empty())
                .collect();
            (!kept.is_empty()).then(|| kept.join("&"))
        }
        (q, _) => q.map(str::to_string),
    }
}

/// The upstream request target, in origin-form (HTTP/1): target base path + (stripped)
/// request path + query. The target authority travels in `Host` and picks the connection.
pub fn upstream_target(api: &Api, path: &str, query: Option<&str>) -> String {
    let mut pq = String::with_capacity(
        api.target.base_path.len() + path.len() + query.map_or(0, |q| q.len() + 1),
    );
    pq.push_str(&api.target.base_path);
    if !path.starts_with('/') {
        pq.push('/');
    }
    pq.push_str(path);
    if let Some(q) = query {
        pq.push('?');
        pq.push_str(q);
    }
    pq
}

/// Sends the request and classifies failures: connect → 502, no response in time → 504.
/// `target` is from [`upstream_target`]; `authority` is `api.target.authority`. Every
/// request takes the pool's one HTTP/1.1 path; a body streams by its `Content-Length`,
/// or chunk-encoded when the client sent none (its own framing is hop-by-hop).
pub async fn send(
    client: &UpstreamClient,
    authority: &Authority,
    mut parts: http::request::Parts,
    body: Incoming,
    target: String,
    timeout: Duration,
) -> Result<Response<GwBody>, GatewayError> {
    // Every part of the target comes from an already-parsed URI; checked anyway, since
    // it is written to the upstream as is.
    if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(GatewayError::BadRequest("Bad Request"));
    }
    let body = (!body.is_end_stream()).then(|| {
        let chunked = !parts.headers.contains_key(CONTENT_LENGTH);
        if chunked {
            parts
                .headers
                .insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        }
        h1::Outgoing { body, chunked }
    });
    let mut head = Vec::with_capacity(256 + target.len());
    h1::encode_head(&mut head, &parts.method, &target, &parts.headers);
    let sent = client.send(authority, &parts.method, &head, body, timeout);
    match tokio::time::timeout(timeout, sent).await {
        Err(_) => Err(GatewayError::UpstreamTimeout),
        Ok(Err(e)) => Err(upstream_failed(&e)),
        Ok(Ok((head, body))) => {
            let mut resp = Response::new(GwBody::Wire { inner: body });
            *resp.status_mut() = head.status;
            *resp.headers_mut() = head.headers;
            // The wire path leaves hop-by-hop headers out of the map, except where
            // `Connection` names other headers to drop.
            if head.names_others {
                remove_hop_by_hop(resp.headers_mut());
            }
            Ok(resp)
        }
    }
}

fn upstream_failed(e: &UpstreamError) -> GatewayError {
    tracing::warn!(error = %e, connect = e.is_connect(), "upstream request failed");
    GatewayError::UpstreamUnavailable
}

/// Prepares headers for the upstream: hop-by-hop removed, `Host` set to the target,
/// `X-Forwarded-For` appended, and the headers some frameworks read to replace the
/// request method removed: `allowed_urls` decided on the real method, so the upstream
/// must not see another one (reliability.md §1.3).
pub fn prepare_headers(h: &mut HeaderMap, api: &Api, peer: &HeaderValue) {
    drop_headers(h, HOP_BY_HOP | TE_BIT | METHOD_OVERRIDES);
    h.insert(HOST, api.target.host.clone());
    append_forwarded_for(h, peer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_removal() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-secret".parse().unwrap());
        h.insert("x-secret", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("te", "trailers".parse().unwrap());
        h.insert("upgrade", "h2c".parse().unwrap());
        h.insert("x-keep", "1".parse().unwrap());
        remove_hop_by_hop(&mut h);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["te", "x-keep"]);
    }

    #[test]
    fn present_matches_the_droppable_table() {
        for (i, name) in DROPPABLE.iter().enumerate() {
            let mut h = HeaderMap::new();
            h.insert(name.clone(), HeaderValue::from_static("x"));
            h.insert("x-other", HeaderValue::from_static("x"));
            assert_eq!(present(&h), 1 << i, "{name}");
        }
    }

    #[test]
    fn hop_by_hop_table() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let table: &[Case<'_>] = &[
            (&[("x-a", "1")], &["x-a"]),
            (&[("connection", "close"), ("x-a", "1")], &["x-a"]),
            (
                &[("connection", "Keep-Alive"), ("keep-alive", "timeout=5")],
                &[],
            ),
            (&[("te", "gzip"), ("x-a", "1")], &["x-a"]),
            (&[("te", "Trailers")], &["te"]),
            (
                &[
                    ("connection", "x-one"),
                    ("connection", " X-Two ,close"),
                    ("x-one", "1"),
                    ("x-two", "2"),
                    ("x-three", "3"),
                ],
                &["x-three"],
            ),
            (
                &[
                    ("transfer-encoding", "chunked"),
                    ("trailer", "x"),
                    ("upgrade", "websocket"),
                ],
                &[],
            ),
            (
                &[
                    ("proxy-authorization", "b"),
                    ("proxy-connection", "k"),
                    ("proxy-authenticate", "c"),
                ],
                &[],
            ),
            // Method overrides only go in the request direction (prepare_headers).
            (
                &[("x-http-method-override", "DELETE")],
                &["x-http-method-override"],
            ),
        ];
        for (headers, kept) in table {
            let mut h = HeaderMap::new();
            for (n, v) in *headers {
                h.append(
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            remove_hop_by_hop(&mut h);
            let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
            assert_eq!(&names, kept, "{headers:?}");
        }
    }

    #[test]
    fn method_overrides_never_reach_the_upstream() {
        let api = crate::policy::snapshot::api::compile_api(&crate::policy::read::LoadedApi {
            file: "a.json".into(),
            def: crate::tyk::json::decode(
                br#"{"api_id": "a", "proxy": {"listen_path": "/a/", "target_url": "http://h:1"}}"#,
            )
            .unwrap(),
            raw: serde_json::Value::Null,
        })
        .unwrap();
        let mut h = HeaderMap::new();
        for n in [
            "X-HTTP-Method-Override",
            "X-HTTP-Method",
            "X-Method-Override",
        ] {
            h.insert(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                "DELETE".parse().unwrap(),
            );
        }
        prepare_headers(&mut h, &api, &peer_value("127.0.0.1".parse().unwrap()));
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["host", "x-forwarded-for"]);
    }

    #[test]
    fn forwarded_for_appends() {
        let mut h = HeaderMap::new();
        let peer = |ip: &str| peer_value(ip.parse().unwrap());
        append_forwarded_for(&mut h, &peer("10.0.0.1"));
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
        append_forwarded_for(&mut h, &peer("127.0.0.1"));
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        h.append("x-forwarded-for", " 2.2.2.2 ".parse().unwrap());
        h.append("x-forwarded-for", "".parse().unwrap());
        append_forwarded_for(&mut h, &peer("::1"));
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1, 2.2.2.2, ::1");
        append_forwarded_for(&mut h, &peer("127.0.0.2"));
        assert_eq!(
            h["x-forwarded-for"],
            "10.0.0.1, 127.0.0.1, 2.2.2.2, ::1, 127.0.0.2"
        );
    }
}
