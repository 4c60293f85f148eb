//! The TLS listener (`http_server_options.use_ssl`): SNI selection, requests through the
//! pipeline over TLS, bad certificate files at startup, plaintext on the TLS port.
//! Certificates are made in the test (rcgen); the client is rustls.

use crate::common::*;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A self-signed certificate for `names`, written as `<stem>.crt` / `<stem>.key`.
fn cert(dir: &Path, stem: &str, names: &[&str]) -> (String, String, Vec<u8>) {
    let c =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let (crt, key) = (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&crt, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    (
        crt.display().to_string(),
        key.display().to_string(),
        c.cert.der().to_vec(),
    )
}

/// Accepts whatever the server presents: these tests look at *which* certificate it is.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn connector() -> tokio_rustls::TlsConnector {
    connector_alpn(&[])
}

fn connector_alpn(alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

async fn handshake(
    gw: &TestGateway,
    sni: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    connector()
        .connect(ServerName::try_from(sni.to_string()).unwrap(), tcp)
        .await
        .unwrap()
}

/// The leaf the gateway presented for `sni`.
async fn presented(gw: &TestGateway, sni: &str) -> Vec<u8> {
    let s = handshake(gw, sni).await;
    s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// One request over TLS with `Connection: close`; the raw response.
async fn https_get(gw: &TestGateway, path: &str, headers: &str) -> String {
    let mut s = handshake(gw, "a.test").await;
    let req = format!("GET {path} HTTP/1.1\r\nHost: a.test\r\n{headers}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// An upstream answering `ok` to every request.
async fn ok_upstream() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.clear();
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
    format!("http://{addr}")
}

struct Certs {
    dir: tempfile::TempDir,
    a: Vec<u8>,
    wild: Vec<u8>,
    named: Vec<u8>,
    conf: Value,
}

/// Three certificates: `a.test` (first, the default), `*.wild.test`, and one for
/// `other.test` that `domain_name` also gives `c.test`; the last as one combined PEM.
fn three_certs() -> Certs {
    let dir = tempfile::tempdir().unwrap();
    let (a_crt, a_key, a) = cert(dir.path(), "a", &["a.test"]);
    let (w_crt, w_key, wild) = cert(dir.path(), "wild", &["*.wild.test"]);
    let (n_crt, n_key, named) = cert(dir.path(), "named", &["other.test"]);
    let combined = dir.path().join("named.pem");
    let mut pem = std::fs::read(&n_crt).unwrap();
    pem.extend(std::fs::read(&n_key).unwrap());
    std::fs::write(&combined, pem).unwrap();
    let conf = json!({"http_server_options": {
        "use_ssl": true,
        "certificates": [
            {"domain_name": "", "cert_file": a_crt, "key_file": a_key},
            {"domain_name": "", "cert_file": w_crt, "key_file": w_key},
            {"domain_name": "c.test", "cert_file": n_crt, "key_file": n_key}
        ],
        "ssl_certificates": [combined.display().to_string()]
    }});
    Certs {
        dir,
        a,
        wild,
        named,
        conf,
    }
}

#[tokio::test]
async fn the_certificate_is_chosen_by_sni_with_wildcards_and_a_default() {
    let c = three_certs();
    let gw = TestGateway::start(Opts::default().conf(c.conf.clone())).await;
    assert_eq!(presented(&gw, "a.test").await, c.a);
    assert_eq!(
        presented(&gw, "A.Test").await,
        c.a,
        "names are case-insensitive"
    );
    assert_eq!(presented(&gw, "x.wild.test").await, c.wild);
    assert_eq!(
        presented(&gw, "c.test").await,
        c.named,
        "domain_name adds a name"
    );
    assert_eq!(presented(&gw, "other.test").await, c.named);
    assert_eq!(
        presented(&gw, "y.x.wild.test").await,
        c.a,
        "a wildcard is one label"
    );
    assert_eq!(
        presented(&gw, "unknown.test").await,
        c.a,
        "the first is the default"
    );
    drop(c.dir);
}

#[tokio::test]
async fn requests_over_tls_go_through_the_pipeline() {
    let c = three_certs();
    let up = ok_upstream().await;
    let open = with(api("open", "/open/", &up), json!({"use_keyless": true}));
    let keyed = api("keyed", "/keyed/", &up);
    let gw = TestGateway::start(Opts::apis(vec![open, keyed]).conf(c.conf.clone())).await;
    let r = https_get(&gw, "/open/x", "").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.ends_with("ok"), "{r}");
    let r = https_get(&gw, "/keyed/x", "").await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    assert!(r.ends_with(&tyk_body("Authorization field missing")), "{r}");
    let r = https_get(
        &gw,
        "/tyk/apis",
        &format!("X-Tyk-Authorization: {SECRET}\r\n"),
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 200"),
        "the control API shares the TLS port: {r}"
    );
}

#[tokio::test]
async fn plaintext_on_the_tls_port_gets_no_http_answer_and_the_port_keeps_serving() {
    let c = three_certs();
    let gw = TestGateway::start(Opts::default().conf(c.conf.clone())).await;
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    assert!(
        !String::from_utf8_lossy(&out).contains("HTTP/1.1"),
        "{out:?}"
    );
    assert_eq!(presented(&gw, "a.test").await, c.a);
}

fn problems(opts: Value) -> Vec<String> {
    let o: tollgate::tyk::config::HttpServerOptions = serde_json::from_value(opts).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    match tollgate::tls::server(&o, now) {
        Ok(_) => Vec::new(),
        Err(p) => p.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn bad_certificate_files_are_every_one_named() {
    let dir = tempfile::tempdir().unwrap();
    let (a_crt, _, _) = cert(dir.path(), "a", &["a.test"]);
    let (_, b_key, _) = cert(dir.path(), "b", &["b.test"]);
    let mut params = rcgen::CertificateParams::new(vec!["old.test".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let kp = rcgen::KeyPair::generate().unwrap();
    let old = params.self_signed(&kp).unwrap();
    let (old_crt, old_key) = (dir.path().join("old.crt"), dir.path().join("old.key"));
    std::fs::write(&old_crt, old.pem()).unwrap();
    std::fs::write(&old_key, kp.serialize_pem()).unwrap();
    let missing = dir.path().join("missing.crt").display().to_string();
    let p = problems(json!({
        "use_ssl": true,
        "certificates": [
            {"cert_file": a_crt, "key_file": b_key},
            {"cert_file": old_crt, "key_file": old_key},
            {"cert_file": missing, "key_file": b_key}
        ],
        "min_version": 770, "max_version": 770
    }));
    let all = p.join("\n");
    assert!(
        all.contains(&format!(
            "{b_key}: private key does not match the certificate in {a_crt}"
        )),
        "{all}"
    );
    assert!(
        all.contains(&format!(
            "{}: certificate expired at 2001-01-01",
            old_crt.display()
        )),
        "{all}"
    );
    assert!(all.contains(&format!("{missing}: cannot read")), "{all}");
    assert!(
        all.contains("http_server_options.max_version: 770 allows only TLS 1.0/1.1"),
        "{all}"
    );
    assert_eq!(p.len(), 4, "{all}");
    let none = problems(json!({"use_ssl": true}));
    assert_eq!(none.len(), 1);
    assert!(none[0].contains("no certificate is configured"), "{none:?}");
    assert!(problems(
        json!({"use_ssl": false, "certificates": [{"cert_file": "x", "key_file": "y"}]})
    )
    .is_empty());
}

#[test]
fn serve_refuses_an_expired_certificate_that_check_warns_about() {
    let dir = tempfile::tempdir().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["old.test".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let kp = rcgen::KeyPair::generate().unwrap();
    let old = params.self_signed(&kp).unwrap();
    let (crt, key) = (dir.path().join("old.crt"), dir.path().join("old.key"));
    std::fs::write(&crt, old.pem()).unwrap();
    std::fs::write(&key, kp.serialize_pem()).unwrap();
    let opts = Opts::default().conf(json!({"http_server_options": {"use_ssl": true,
        "certificates": [{"cert_file": crt.display().to_string(), "key_file": key.display().to_string()}]}}));
    let conf = write_files(dir.path(), &opts).display().to_string();
    let check = run_bin(&["check", "--config", &conf], dir.path());
    assert_eq!(check.code, Some(0), "{}", check.stderr);
    assert!(
        check.stderr.contains("warning:") && check.stderr.contains("certificate expired"),
        "{}",
        check.stderr
    );
    let serve = run_bin(&["serve", "--config", &conf], dir.path());
    assert_eq!(serve.code, Some(2), "{}", serve.stderr);
    assert!(
        serve
            .stderr
            .contains(&format!("{}: certificate expired", crt.display())),
        "{}",
        serve.stderr
    );
}

/// A new certificate renamed over the old one (as cert-manager and certbot do) is served
/// to new handshakes after a reload; a key that does not match keeps the current one and
/// `/hello` says why, until a good pair arrives.
#[tokio::test]
async fn certificates_reload_by_rename_and_a_bad_pair_keeps_the_current_one() {
    let c = three_certs();
    let gw = TestGateway::start(Opts::default().conf(c.conf.clone())).await;
    assert_eq!(presented(&gw, "a.test").await, c.a);
    let dir = c.dir.path();
    let (new_crt, new_key, fresh) = cert(dir, "a-next", &["a.test"]);
    std::fs::rename(&new_crt, dir.join("a.crt")).unwrap();
    std::fs::rename(&new_key, dir.join("a.key")).unwrap();
    let _ = gw.state().reload("test").await;
    assert!(gw.state().status().tls_error.is_none());
    assert_eq!(
        presented(&gw, "a.test").await,
        fresh,
        "the new certificate is served"
    );

    // Only the certificate replaced: its key no longer matches.
    let (other_crt, _, _) = cert(dir, "a-wrong", &["a.test"]);
    std::fs::rename(&other_crt, dir.join("a.crt")).unwrap();
    let _ = gw.state().reload("test").await;
    let err = gw.state().status().tls_error.clone().expect("reported");
    assert!(err[0].contains("private key does not match"), "{err:?}");
    assert_eq!(
        presented(&gw, "a.test").await,
        fresh,
        "the last good one stays"
    );
    assert_eq!(presented(&gw, "x.wild.test").await, c.wild);
    let hello = https_get(&gw, "/hello", "").await;
    assert!(hello.contains("\"certificates\""), "{hello}");
    assert!(hello.contains("private key does not match"), "{hello}");

    let (good_crt, good_key, good) = cert(dir, "a-good", &["a.test"]);
    std::fs::rename(&good_key, dir.join("a.key")).unwrap();
    std::fs::rename(&good_crt, dir.join("a.crt")).unwrap();
    let _ = gw.state().reload("test").await;
    assert!(gw.state().status().tls_error.is_none());
    assert_eq!(presented(&gw, "a.test").await, good);
}

/// With the file watcher on, renaming a new certificate over the old one is enough.
#[tokio::test]
async fn the_watcher_picks_up_a_renamed_certificate() {
    let c = three_certs();
    let conf = with(
        c.conf.clone(),
        json!({"reload": {"watch": true, "debounce_ms": 20}}),
    );
    let gw = TestGateway::start(Opts::default().conf(conf)).await;
    assert_eq!(presented(&gw, "a.test").await, c.a);
    let dir = c.dir.path();
    let (new_crt, new_key, fresh) = cert(dir, "a-next", &["a.test"]);
    // The key first: a moment with the new key and the old certificate is a mismatch,
    // which keeps the old pair until the certificate arrives.
    std::fs::rename(&new_key, dir.join("a.key")).unwrap();
    std::fs::rename(&new_crt, dir.join("a.crt")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while presented(&gw, "a.test").await != fresh {
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// One HTTP/2 request on `io` (already TLS-wrapped, or plain for h2c).
async fn h2_request<IO>(io: IO, path: &str, key: Option<&str>) -> (http::Version, u16, String)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt;
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(io),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::get(format!("https://a.test{path}"));
    if let Some(k) = key {
        req = req.header("authorization", k);
    }
    let resp = send
        .send_request(
            req.body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let (version, status) = (resp.version(), resp.status().as_u16());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (version, status, String::from_utf8_lossy(&body).into_owned())
}

/// HTTP/2 by ALPN on the TLS port (with `enable_http2`), and h2c by prior knowledge on a
/// plain one: the same answers as over HTTP/1.1, refusals included.
#[tokio::test]
async fn http2_by_alpn_and_h2c_give_the_same_answers() {
    let c = three_certs();
    let up = ok_upstream().await;
    let apis = || {
        vec![
            with(api("open", "/open/", &up), json!({"use_keyless": true})),
            api("keyed", "/keyed/", &up),
        ]
    };
    let tls_conf = with(
        c.conf.clone(),
        json!({"http_server_options": {"enable_http2": true}}),
    );
    let gw = TestGateway::start(Opts::apis(apis()).conf(tls_conf)).await;
    for (path, k, status, body) in [
        ("/open/x", None, 200, "ok".to_string()),
        (
            "/keyed/x",
            None,
            401,
            tyk_body("Authorization field missing"),
        ),
        (
            "/keyed/x",
            Some("nope"),
            403,
            tyk_body("Access to this API has been disallowed"),
        ),
        ("/nowhere", None, 404, "Not Found".to_string()),
    ] {
        let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        let tls = connector_alpn(&[b"h2", b"http/1.1"])
            .connect(ServerName::try_from("a.test").unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let got = h2_request(tls, path, k).await;
        assert_eq!(
            got,
            (http::Version::HTTP_2, status, body.clone()),
            "h2 {path} {k:?}"
        );
        let r = https_get(
            &gw,
            path,
            &k.map(|k| format!("Authorization: {k}\r\n"))
                .unwrap_or_default(),
        )
        .await;
        assert!(
            r.starts_with(&format!("HTTP/1.1 {status}")),
            "http/1.1 {path}: {r}"
        );
        assert!(r.ends_with(&body), "http/1.1 {path}: {r}");
    }
    // Without enable_http2 the TLS port offers only http/1.1.
    let plain_tls = TestGateway::start(Opts::apis(apis()).conf(c.conf.clone())).await;
    let tcp = tokio::net::TcpStream::connect(plain_tls.addr)
        .await
        .unwrap();
    let tls = connector_alpn(&[b"h2", b"http/1.1"])
        .connect(ServerName::try_from("a.test").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    let h2c = TestGateway::start(
        Opts::apis(apis()).conf(json!({"http_server_options": {"enable_http2": true}})),
    )
    .await;
    let tcp = tokio::net::TcpStream::connect(h2c.addr).await.unwrap();
    assert_eq!(
        h2_request(tcp, "/open/x", None).await,
        (http::Version::HTTP_2, 200, "ok".to_string())
    );
    let r = h2c.get("/keyed/x", &[]).await;
    assert_eq!(r.status, 401, "HTTP/1.1 still served next to h2c");
    // A key (made over HTTP/1.1 on the same port) works over h2c.
    let key = h2c.create_key(key_for(&["keyed"])).await;
    let tcp = tokio::net::TcpStream::connect(h2c.addr).await.unwrap();
    assert_eq!(
        h2_request(tcp, "/keyed/x", Some(&key)).await,
        (http::Version::HTTP_2, 200, "ok".to_string())
    );
}
