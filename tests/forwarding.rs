//! What the upstream receives, and what the client gets back.

use crate::common::*;
use bytes::Bytes;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_for_is_appended_and_host_is_the_target() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())])).await;
    let key = gw.create_key(key_for(&["open"])).await;

    assert_eq!(gw.get_with("/open/a", &key).await.status, 200);
    let rec = up.last();
    assert_eq!(rec.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(rec.header("host"), Some(up.addr.to_string()));

    let r = gw
        .get(
            "/open/b",
            &[("Authorization", &key), ("X-Forwarded-For", "10.1.2.3")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        up.last().header("x-forwarded-for").as_deref(),
        Some("10.1.2.3, 127.0.0.1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_are_removed() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())])).await;
    let key = gw.create_key(key_for(&["open"])).await;
    // A raw request, so the client library cannot rewrite the Connection header.
    let req = format!(
        "GET /open/hop HTTP/1.1\r\nHost: gw\r\nAuthorization: {key}\r\n\
         Connection: close, X-Private-Hop\r\nX-Private-Hop: secret\r\n\
         Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n\
         Proxy-Authorization: Basic Zm9vOmJhcg==\r\nX-Keep: yes\r\n\r\n"
    );
    let resp = raw_exchange(gw.addr, req.as_bytes()).await;
    assert_eq!(
        raw_status(&resp),
        Some(200),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    let rec = up.last();
    assert_eq!(rec.uri, "/open/hop");
    for h in [
        "x-private-hop",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
    ] {
        assert!(
            rec.header(h).is_none(),
            "hop-by-hop header {h} reached the upstream: {:?}",
            rec.headers
        );
    }
    assert!(
        !rec.header("connection")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .contains("x-private-hop"),
        "the client's Connection header reached the upstream: {:?}",
        rec.headers
    );
    assert_eq!(rec.header("x-keep").as_deref(), Some("yes"));
    assert_eq!(rec.header("authorization"), Some(key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_path_stripped_or_kept_and_query_forwarded() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![
        with(
            api("strip", "/strip/", &up.url()),
            json!({"proxy": {"strip_listen_path": true}}),
        ),
        api("keep", "/keep/", &up.url()),
        with(
            api("base", "/base/", &format!("{}/upstream/v1/", up.url())),
            json!({"proxy": {"strip_listen_path": true}}),
        ),
    ]))
    .await;
    let key = gw.create_key(key_for(&["strip", "keep", "base"])).await;

    let r = gw.get_with("/strip/users/1?x=1&y=a%20b", &key).await;
    assert_eq!(r.status, 200);
    assert_eq!(up.last().uri, "/users/1?x=1&y=a%20b");

    let r = gw.get_with("/keep/users/1?q=%2F&z", &key).await;
    assert_eq!(r.status, 200);
    assert_eq!(up.last().uri, "/keep/users/1?q=%2F&z");

    let r = gw.get_with("/strip/", &key).await;
    assert_eq!(r.status, 200);
    assert_eq!(up.last().uri, "/");

    let r = gw.get_with("/base/items?page=2", &key).await;
    assert_eq!(r.status, 200);
    assert_eq!(up.last().uri, "/upstream/v1/items?page=2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strip_auth_data_removes_header_and_query_param() {
    let up = MockUpstream::start().await;
    let auth = json!({"auth": {"auth_header_name": "Authorization", "use_param": true, "param_name": "api_key"}});
    let gw = TestGateway::start(Opts::apis(vec![
        with(
            with(api("sa", "/sa/", &up.url()), auth.clone()),
            json!({"strip_auth_data": true}),
        ),
        with(api("plain", "/plain/", &up.url()), auth),
    ]))
    .await;
    let key = gw.create_key(key_for(&["sa", "plain"])).await;

    let r = gw.get_with("/sa/h?x=1", &key).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let rec = up.last();
    assert!(
        rec.header("authorization").is_none(),
        "strip_auth_data forwarded the Authorization header"
    );
    assert_eq!(rec.uri, "/sa/h?x=1");

    let r = gw.get(&format!("/sa/q?x=1&api_key={key}&y=2"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.last().uri, "/sa/q?x=1&y=2");

    let r = gw.get(&format!("/sa/only?api_key={key}"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.last().uri, "/sa/only");

    // Without strip_auth_data the credential is forwarded as sent.
    let r = gw.get_with("/plain/h", &key).await;
    assert_eq!(r.status, 200);
    assert_eq!(up.last().header("authorization"), Some(key.clone()));
    let r = gw.get(&format!("/plain/q?api_key={key}"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(up.last().uri, format!("/plain/q?api_key={key}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mib_post_body_arrives_intact() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())])).await;
    let key = gw.create_key(key_for(&["open"])).await;
    let body: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    let r = gw
        .request(
            "POST",
            "/open/upload",
            &[
                ("Authorization", &key),
                ("Content-Type", "application/octet-stream"),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "ok");
    let rec = up.last();
    assert_eq!(rec.method, "POST");
    assert_eq!(rec.body.len(), body.len());
    assert!(rec.body[..] == body[..], "the body was altered in transit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_default_to_quota_values() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())])).await;
    let key = gw
        .create_key(with(
            key_for(&["open"]),
            json!({"rate": 100, "per": 1, "quota_max": 10, "quota_renewal_rate": 3600}),
        ))
        .await;
    let reset = (START + 3600).to_string();
    for want in [9, 8, 7] {
        let r = gw.get_with("/open/x", &key).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("x-ratelimit-limit").as_deref(),
            Some("10"),
            "the quota max overwrites the upstream's value"
        );
        assert_eq!(r.remaining(), Some(want));
        assert_eq!(r.header("x-ratelimit-reset"), Some(reset.clone()));
        assert_eq!(r.header("x-upstream").as_deref(), Some("mock"));
    }

    // Unlimited quota: Limit is -1.
    let unl = gw
        .create_key(with(key_for(&["open"]), json!({"quota_max": -1})))
        .await;
    let r = gw.get_with("/open/x", &unl).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_in_rate_limits_mode() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(
        Opts::apis(vec![api("open", "/open/", &up.url())])
            .conf(json!({"rate_limit_response_headers": "rate_limits"})),
    )
    .await;
    // Tyk's TestRateLimitResponseHeaders shape: a per-API limit of 2 per 10 s.
    let key = gw
        .create_key(json!({"org_id": "default", "access_rights": {"open": {
            "api_id": "open", "versions": ["Default"],
            "limit": {"rate": 2, "per": 10, "quota_max": 100, "quota_renewal_rate": 3600},
            "allowance_scope": "open"
        }}}))
        .await;
    let now = gw.now();
    let r1 = gw.get_with("/open/x", &key).await;
    assert_eq!(r1.status, 200);
    assert_eq!(r1.header("x-ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(r1.remaining(), Some(1));
    let reset: i64 = r1
        .header("x-ratelimit-reset")
        .expect("X-RateLimit-Reset")
        .parse()
        .expect("unix seconds");
    assert!(
        (now..=now + 10).contains(&reset),
        "reset {reset} not within the 10 s window from {now}"
    );
    let r2 = gw.get_with("/open/x", &key).await;
    assert_eq!(r2.status, 200);
    assert_eq!(r2.header("x-ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(r2.remaining(), Some(0));
    let r3 = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r3, 429, "Rate Limit Exceeded");
    assert_eq!(r3.header("x-ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(r3.remaining(), Some(0));

    // A key without a rate limit: the upstream's (quota-looking) headers are removed.
    let norate = gw.create_key(key_for(&["open"])).await;
    let r = gw.get_with("/open/x", &norate).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("x-ratelimit-limit").is_none(),
        "upstream X-RateLimit-Limit leaked in rate_limits mode: {:?}",
        r.header("x-ratelimit-limit")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_reset_mid_body_ends_quickly_and_gateway_keeps_serving() {
    let broken = MockUpstream::reset_mid_body().await;
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![
        api("broken", "/broken/", &broken.url()),
        api("open", "/open/", &up.url()),
    ]))
    .await;
    let key = gw.create_key(key_for(&["broken", "open"])).await;

    for _ in 0..2 {
        let t0 = Instant::now();
        let client = client();
        let req = http::Request::get(gw.url("/broken/file"))
            .header("Authorization", &key)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(5), async {
            match client.request(req).await {
                Err(e) => Err(format!("request error: {e}")),
                Ok(resp) => {
                    use http_body_util::BodyExt;
                    let status = resp.status().as_u16();
                    match resp.into_body().collect().await {
                        Ok(b) => Ok((status, b.to_bytes().len())),
                        Err(e) => Err(format!("body error after {status}: {e}")),
                    }
                }
            }
        })
        .await
        .expect("the client hung on an upstream that reset mid-body");
        if let Ok((status, len)) = outcome {
            assert!(
                status >= 500 || len < 100_000,
                "a truncated upstream body was delivered as complete: {status}, {len} bytes"
            );
        }
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        assert!(broken.count() >= 1);

        let r = gw.get_with("/open/after", &key).await;
        assert_eq!(r.status, 200, "gateway stopped serving after a reset");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_api_and_api_id_alias() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![
        with(
            api("free", "/free/", &up.url()),
            json!({"use_keyless": true}),
        ),
        api("api-x", "/x-listen/", &up.url()),
    ]))
    .await;
    // Keyless: no key needed, quota headers 0/0/0.
    let r = gw.get("/free/x", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("0"));
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(r.header("x-ratelimit-reset").as_deref(), Some("0"));
    // Every API is also reachable under /<api_id>/.
    let key = gw.create_key(key_for(&["api-x"])).await;
    assert_eq!(gw.get_with("/x-listen/a", &key).await.status, 200);
    assert_eq!(gw.get_with("/api-x/a", &key).await.status, 200);
    assert_tyk_error(
        &gw.get("/api-x/a", &[]).await,
        401,
        "Authorization field missing",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_pass_through_with_quota_headers() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())])).await;
    let key = gw
        .create_key(with(
            key_for(&["open"]),
            json!({"quota_max": 10, "quota_renewal_rate": 3600}),
        ))
        .await;
    for (path, status, remaining) in [
        ("/open/status/404", 404, 9),
        ("/open/status/500", 500, 8),
        ("/open/status/201", 201, 7),
    ] {
        let r = gw.get_with(path, &key).await;
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.text(), "ok", "the upstream body passes through");
        assert_eq!(r.remaining(), Some(remaining), "{path}");
        assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("10"));
        assert!(
            r.header("x-generator").is_none(),
            "X-Generator on an upstream response"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_for_keeps_every_prior_header_line() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())])).await;
    let key = gw.create_key(key_for(&["open"])).await;
    // Two X-Forwarded-For lines are one comma-separated list (RFC 9110 §5.3); Go's
    // ReverseProxy (Tyk) joins them all before appending the client address.
    let req = format!(
        "GET /open/xff HTTP/1.1\r\nHost: gw\r\nAuthorization: {key}\r\n\
         X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\nConnection: close\r\n\r\n"
    );
    let resp = raw_exchange(gw.addr, req.as_bytes()).await;
    assert_eq!(raw_status(&resp), Some(200));
    let rec = up.last();
    let all: Vec<String> = rec
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(all.join(", "), "1.1.1.1, 2.2.2.2, 127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_response_headers_are_not_relayed() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())])).await;
    let key = gw.create_key(key_for(&["open"])).await;
    let r = gw.get_with("/open/hopresp", &key).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-upstream").as_deref(), Some("mock"));
    assert!(r.header("x-up-private").is_none(), "{:?}", r.headers);
    assert!(r.header("proxy-authenticate").is_none(), "{:?}", r.headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strip_auth_data_removes_the_auth_cookie() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![with(
        api("sc", "/sc/", &up.url()),
        json!({"strip_auth_data": true,
               "auth": {"auth_header_name": "Authorization", "use_cookie": true, "cookie_name": "session"}}),
    )]))
    .await;
    let key = gw.create_key(key_for(&["sc"])).await;
    let cookie = format!("a=1; session={key}; b=2");
    let r = gw.get("/sc/x", &[("Cookie", &cookie)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.last().header("cookie").as_deref(), Some("a=1; b=2"));
}

/// An upstream that answers once per connection and then closes it (without
/// `Connection: close`): the pool must notice and never hand out the dead connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_closing_idle_connections_never_fails_a_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let accepted2 = accepted.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            accepted2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                let _ = s.flush().await;
            });
        }
    });
    let gw = TestGateway::start(Opts::apis(vec![api(
        "closing",
        "/closing/",
        &format!("http://{addr}"),
    )]))
    .await;
    let key = gw.create_key(key_for(&["closing"])).await;
    for i in 0..5 {
        let r = gw.get_with("/closing/x", &key).await;
        assert_eq!(r.status, 200, "request {i}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // Back-to-back: a pooled connection may be closed while the request is handed over.
    // A request already written to a connection the upstream then closes may still
    // fail (502), as with any HTTP/1 client; it must stay rare.
    let mut ok = 0;
    for i in 0..50 {
        let r = gw.get_with("/closing/y", &key).await;
        assert!(
            r.status == 200 || r.status == 502,
            "request {i}: {}",
            r.status
        );
        ok += usize::from(r.status == 200);
    }
    assert!(ok >= 45, "only {ok} of 50 back-to-back requests succeeded");
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 5);
    task.abort();
}

/// Where a head (or a chunked body's last chunk and trailers) ends in `b`, if it does.
fn head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Reads from `s` into `buf` until `done` says where what is wanted ends; `None` when
/// the peer closes first.
async fn read_until(
    s: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> Option<usize>,
) -> Option<usize> {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 65536];
    loop {
        if let Some(end) = done(buf) {
            return Some(end);
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// An upstream speaking raw HTTP/1.1 on keep-alive connections, answering by path:
/// a HEAD with a length and no body, a chunked body with a trailer, a 1 MB body, a
/// response framed by both `Transfer-Encoding` and `Content-Length`, else `ok`.
async fn raw_upstream() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let Some(end) = read_until(&mut s, &mut buf, head_end).await else {
                        return;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end);
                    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                    let out: Vec<u8> = match path.as_str() {
                        "/head" => b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n".to_vec(),
                        "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n \r\n5;ext=1\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n".to_vec(),
                        "/big" => {
                            let mut v = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n".to_vec();
                            v.extend((0..1_000_000u32).map(|i| b'a' + (i % 26) as u8));
                            v
                        }
                        "/both" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(),
                        _ => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
                    };
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// The bodiless upstream path relays every response framing faithfully and keeps
/// reusing its connection across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_framings_are_relayed_faithfully() {
    let (addr, accepted) = raw_upstream().await;
    let mut a = api("raw", "/raw/", &format!("http://{addr}"));
    a["proxy"]["strip_listen_path"] = json!(true);
    let gw = TestGateway::start(Opts::apis(vec![a])).await;
    let key = gw.create_key(key_for(&["raw"])).await;
    let auth = [("Authorization", key.as_str())];

    let r = gw.request("HEAD", "/raw/head", &auth, Bytes::new()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length").as_deref(), Some("5"));
    assert!(r.body.is_empty());

    let r = gw.get("/raw/chunked", &auth).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello world");
    assert_eq!(r.header("content-length"), None);

    let r = gw.get("/raw/big", &auth).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 1_000_000);
    assert!(r
        .body
        .iter()
        .enumerate()
        .all(|(i, &b)| b == b'a' + (i % 26) as u8));

    // After all of the above on one connection, a plain answer is still the right one.
    let r = gw.get("/raw/x", &auth).await;
    assert_eq!(r.text(), "ok");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);

    // Chunked wins over a conflicting length, which is not relayed; that connection is
    // not reused.
    let r = gw.get("/raw/both", &auth).await;
    assert_eq!(r.text(), "hello");
    assert_ne!(r.header("content-length").as_deref(), Some("3"));
    let r = gw.get("/raw/x", &auth).await;
    assert_eq!(r.text(), "ok");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// One raw HTTP/1.1 exchange with the gateway: writes `request`, reads to the end of
/// the response (the gateway closes after `Connection: close`).
async fn raw_request_text(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// An upstream that records each request's raw bytes (head and body as they came on
/// the wire) and answers `ok`, on keep-alive connections; requests for `/rec/early` get a
/// 413 as soon as the head is in, and the body is never read.
async fn recording_upstream() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (log, count) = (seen.clone(), accepted.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let Some(end) = read_until(&mut s, &mut buf, head_end).await else {
                        return;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    if head.starts_with("post /rec/early ") {
                        // Keep-alive on its side, and the connection held open unread: only
                        // the gateway knows the request did not go out whole.
                        let _ = s
                            .write_all(
                                b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!",
                            )
                            .await;
                        std::future::pending::<()>().await;
                    }
                    // The body: by length, or chunked up to its last chunk and trailers.
                    let total = if let Some(l) = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                    {
                        let total = end + l.trim().parse::<usize>().unwrap();
                        read_until(&mut s, &mut buf, |b| (b.len() >= total).then_some(total)).await
                    } else if head.contains("transfer-encoding: chunked") {
                        read_until(&mut s, &mut buf, |b| {
                            let last = b[end..].windows(3).position(|w| w == b"0\r\n")? + end + 3;
                            head_end(&b[last - 2..]).map(|i| last - 2 + i)
                        })
                        .await
                    } else {
                        Some(end)
                    };
                    let Some(total) = total else { return };
                    log.lock().unwrap().push(buf.drain(..total).collect());
                    if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen, accepted)
}

/// A chunked request body (no `Content-Length`) goes upstream chunk-encoded, trailers
/// included, and its connection is reused afterwards, as after a body with a length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_stream_by_length_or_chunked_over_the_one_client_path() {
    let (addr, seen, accepted) = recording_upstream().await;
    let a = with(
        api("rec", "/rec/", &format!("http://{addr}")),
        json!({"use_keyless": true}),
    );
    let gw = TestGateway::start(Opts::apis(vec![a])).await;
    let chunked = raw_request_text(
        gw.addr,
        b"POST /rec/c HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n",
    )
    .await;
    assert!(chunked.starts_with("HTTP/1.1 200"), "{chunked}");
    let r = gw
        .request(
            "POST",
            "/rec/l",
            &[("Content-Type", "text/plain")],
            "twelve bytes",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let first = String::from_utf8_lossy(&seen[0]).into_owned();
    let lower = first.to_ascii_lowercase();
    assert!(
        lower.contains("\r\ntransfer-encoding: chunked\r\n"),
        "{first}"
    );
    assert!(!lower.contains("content-length"), "{first}");
    assert!(
        first.ends_with("\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 11\r\n\r\n"),
        "{first:?}"
    );
    let second = String::from_utf8_lossy(&seen[1]).into_owned();
    assert!(
        second
            .to_ascii_lowercase()
            .contains("\r\ncontent-length: 12\r\n"),
        "{second}"
    );
    assert!(second.ends_with("\r\n\r\ntwelve bytes"), "{second:?}");
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "both requests went over one upstream connection"
    );
}

/// An upstream that answers before reading the body (a 413) gets its answer relayed,
/// and that connection is never reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_answer_before_the_body_is_read_is_relayed() {
    let (addr, _seen, accepted) = recording_upstream().await;
    let a = with(
        api("rec", "/rec/", &format!("http://{addr}")),
        json!({"use_keyless": true}),
    );
    let gw = TestGateway::start(Opts::apis(vec![a])).await;
    // The client announces 8 MiB and sends 1 MiB: the upstream answers on the head.
    let mut req =
        b"POST /rec/early HTTP/1.1\r\nHost: gw\r\nContent-Length: 8388608\r\n\r\n".to_vec();
    req.extend(vec![b'x'; 1 << 20]);
    let answer = raw_request_text(gw.addr, &req).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nbig!"), "{answer:?}");
    let r = gw.request("POST", "/rec/after", &[], "x").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the cut-short connection was reused"
    );
}
