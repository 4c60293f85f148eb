//! Hostile HTTP on a raw socket: ambiguous paths are refused, garbage never wedges
//! the gateway.

use crate::common::*;

async fn gateway(up: &MockUpstream) -> (TestGateway, String) {
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())])).await;
    let key = gw.create_key(key_for(&["open"])).await;
    (gw, key)
}

fn get(path: &str, key: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: {key}\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_paths_are_400() {
    let up = MockUpstream::start().await;
    let (gw, key) = gateway(&up).await;
    for path in [
        "/open/a%2Fb",
        "/open/a%2fb",
        "/open/a%5Cb",
        "/open/../../etc/passwd",
        "/open/x/../../../etc/passwd",
        "/open/%2e%2e/%2e%2e/etc/passwd",
        "/open/a%00b",
        "/open/%00",
        "/open/a%252Fb",
    ] {
        for k in [key.as_str(), "nokeyatall"] {
            let resp = raw_exchange(gw.addr, &get(path, k)).await;
            assert_eq!(
                raw_status(&resp),
                Some(400),
                "{path}: {}",
                String::from_utf8_lossy(&resp)
            );
        }
    }
    assert_eq!(up.count(), 0, "an ambiguous path reached the upstream");
    // Normalisable paths are served, with the normalised path forwarded.
    let resp = raw_exchange(gw.addr, &get("/open/a/./b//c/../d", &key)).await;
    assert_eq!(
        raw_status(&resp),
        Some(200),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    assert_eq!(up.last().uri, "/open/a/b/d");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_headers_close_or_400_and_the_gateway_keeps_serving() {
    let up = MockUpstream::start().await;
    let (gw, key) = gateway(&up).await;
    let garbage: Vec<Vec<u8>> = vec![
        b"GET /open/x HTTP/1.1\r\nHost: gw\r\nthis line has no colon\r\n\r\n".to_vec(),
        b"GET /open/x HTTP/1.1\r\nHost: gw\r\nBad Header Name: x\r\n\r\n".to_vec(),
        b"GET /open/x HTTP/1.1\r\nHost: gw\r\nX-Bin: \x00\x01\x02\r\n\r\n".to_vec(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage-tls-hello\r\n\r\n".to_vec(),
        b"NOT HTTP AT ALL\r\n\r\n".to_vec(),
        b"GET /open/x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\nHost: gw\r\n\r\nhello"
            .to_vec(),
        b"GET /open/x HTTP/1.1\r\nHost: gw\r\nContent-Length: -1\r\n\r\n".to_vec(),
        {
            let mut v = b"GET /open/x HTTP/1.1\r\nHost: gw\r\nX-Big: ".to_vec();
            v.extend(std::iter::repeat_n(b'a', 200 * 1024));
            v.extend_from_slice(b"\r\n\r\n");
            v
        },
    ];
    for (i, req) in garbage.iter().enumerate() {
        let resp = raw_exchange(gw.addr, req).await;
        match raw_status(&resp) {
            None if resp.is_empty() => {}
            Some(s) if (400..500).contains(&s) => {}
            other => panic!(
                "garbage #{i}: expected a closed connection or a 4xx, got {other:?}: {}",
                String::from_utf8_lossy(&resp)
            ),
        }
        let ok = raw_exchange(gw.addr, &get("/open/after", &key)).await;
        assert_eq!(
            raw_status(&ok),
            Some(200),
            "the gateway stopped serving after garbage #{i}"
        );
    }
    assert_eq!(
        up.requests()
            .iter()
            .filter(|r| r.uri != "/open/after")
            .count(),
        0,
        "a malformed request reached the upstream"
    );
}
