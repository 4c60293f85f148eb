//! Test harness: a real gateway on a loopback socket with a manual clock, mock
//! upstreams, an HTTP client with timeouts, and raw-socket helpers.
//!
//! Every network operation is bounded by a timeout so that a hang fails the test
//! instead of hanging CI.

#![allow(dead_code)]

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate::limits::{Clock, ManualClock};
use tollgate::server::{self, Running};
use tollgate::state::AppState;
use tollgate::tyk::config::Config;

/// The admin secret every test gateway uses (unless a test overrides it).
pub const SECRET: &str = "integration-secret";
/// The manual clock's start: 2026-01-01T00:00:00Z.
pub const START: i64 = 1_767_225_600;
/// Upper bound for one request/response exchange.
pub const REQ_TIMEOUT: Duration = Duration::from_secs(10);

pub type TestClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> TestClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(128)
        .build_http()
}

// ---------------------------------------------------------------------------
// JSON builders
// ---------------------------------------------------------------------------

/// Deep-merges `patch` into `base` (objects merge, `null` is a no-op, anything else replaces).
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (_, Value::Null) => {}
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// `base` with `patch` merged in.
pub fn with(mut base: Value, patch: Value) -> Value {
    merge(&mut base, &patch);
    base
}

/// A minimal keyed (non-keyless), non-versioned classic API definition of org `default`.
pub fn api(id: &str, listen_path: &str, target: &str) -> Value {
    json!({
        "api_id": id,
        "name": id,
        "org_id": "default",
        "use_keyless": false,
        "auth": {"auth_header_name": "Authorization"},
        "proxy": {
            "listen_path": listen_path,
            "target_url": target,
            "strip_listen_path": false
        },
        "version_data": {
            "not_versioned": true,
            "versions": {"Default": {"name": "Default"}}
        }
    })
}

/// A key session of org `default` with plain access to `apis`.
pub fn key_for(apis: &[&str]) -> Value {
    let mut rights = serde_json::Map::new();
    for a in apis {
        rights.insert(
            a.to_string(),
            json!({"api_id": a, "api_name": a, "versions": ["Default"]}),
        );
    }
    json!({"org_id": "default", "access_rights": rights})
}

/// A key session of org `default` that only lists policies.
pub fn key_with_policies(policies: &[&str]) -> Value {
    json!({"org_id": "default", "apply_policies": policies})
}

/// Tyk's error template bytes for `msg`.
pub fn tyk_body(msg: &str) -> String {
    format!("{{\n    \"error\": \"{msg}\"\n}}")
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {:?}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
    /// `X-RateLimit-Remaining` as a number.
    pub fn remaining(&self) -> Option<i64> {
        self.header("x-ratelimit-remaining")
            .and_then(|v| v.parse().ok())
    }
}

/// Asserts a gateway-generated error in Tyk's exact layout and headers.
#[track_caller]
pub fn assert_tyk_error(r: &Resp, status: u16, msg: &str) {
    assert_eq!(r.status, status, "status (body {:?})", r.text());
    assert_eq!(r.text(), tyk_body(msg), "error body");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json"),
        "content-type of a {status} error"
    );
    assert_eq!(
        r.header("x-generator").as_deref(),
        Some("tyk.io"),
        "X-Generator of a {status} error"
    );
}

/// Asserts a `/tyk/` error: `{"status":"error","message":msg}`.
#[track_caller]
pub fn assert_admin_error(status: u16, body: &Value, want_status: u16, msg: &str) {
    assert_eq!(status, want_status, "admin status (body {body})");
    assert_eq!(
        body,
        &json!({"status": "error", "message": msg}),
        "admin error body"
    );
}

pub async fn send(client: &TestClient, req: Request<Full<Bytes>>) -> Resp {
    let what = format!("{} {}", req.method(), req.uri());
    let fut = async {
        let resp = client
            .request(req)
            .await
            .unwrap_or_else(|e| panic!("{what}: request failed: {e:?}"));
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the body failed: {e:?}"))
            .to_bytes();
        Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    };
    tokio::time::timeout(REQ_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no complete response within {REQ_TIMEOUT:?}"))
}

// ---------------------------------------------------------------------------
// The gateway
// ---------------------------------------------------------------------------

/// What a test gateway is started with.
#[derive(Debug, Clone, Default)]
pub struct Opts {
    /// Merged over the harness's base `tyk.conf`.
    pub conf: Value,
    /// API definitions, written as `apps/<api_id>.json`.
    pub apis: Vec<Value>,
    /// Single-file policies (`policies/policies.json`); `None` writes `{}`.
    pub policies: Option<Value>,
    /// Directory mode: `(file name, policy)` written under `policies.d/`.
    pub policy_dir: Option<Vec<(String, Value)>>,
}

impl Opts {
    pub fn apis(apis: Vec<Value>) -> Opts {
        Opts {
            apis,
            ..Default::default()
        }
    }
    pub fn policies(mut self, p: Value) -> Opts {
        self.policies = Some(p);
        self
    }
    pub fn conf(mut self, c: Value) -> Opts {
        merge(&mut self.conf, &c);
        self
    }
}

/// Writes `tyk.conf`, `apps/`, policies under `dir`; returns the tyk.conf path.
pub fn write_files(dir: &Path, opts: &Opts) -> PathBuf {
    let apps = dir.join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    for a in &opts.apis {
        let id = a["api_id"].as_str().unwrap_or("api");
        std::fs::write(
            apps.join(format!("{id}.json")),
            serde_json::to_vec_pretty(a).unwrap(),
        )
        .unwrap();
    }
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let policy_file = dir.join("policies").join("policies.json");
    let policies = opts.policies.clone().unwrap_or_else(|| json!({}));
    std::fs::write(&policy_file, serde_json::to_vec_pretty(&policies).unwrap()).unwrap();
    let mut policies_conf = json!({
        "policy_source": "file",
        "policy_record_name": policy_file.display().to_string(),
    });
    if let Some(files) = &opts.policy_dir {
        let pd = dir.join("policies.d");
        std::fs::create_dir_all(&pd).unwrap();
        for (name, p) in files {
            std::fs::write(pd.join(name), serde_json::to_vec_pretty(p).unwrap()).unwrap();
        }
        policies_conf["policy_path"] = json!(pd.display().to_string());
    }
    let mut conf = json!({
        "listen_address": "127.0.0.1",
        "listen_port": 0,
        "secret": SECRET,
        "app_path": apps.display().to_string(),
        "policies": policies_conf,
        "storage": {"type": "embedded", "path": dir.join("data").display().to_string()},
        "proxy_default_timeout": 5,
        "reload": {"watch": false}
    });
    merge(&mut conf, &opts.conf);
    let path = dir.join("tyk.conf");
    std::fs::write(&path, serde_json::to_vec_pretty(&conf).unwrap()).unwrap();
    path
}

pub struct TestGateway {
    pub config: Config,
    pub clock: Clock,
    pub manual: Arc<ManualClock>,
    pub addr: SocketAddr,
    /// The separate control listener, when `control_api_port` is set.
    pub control_addr: Option<SocketAddr>,
    running: Option<Running>,
    client: TestClient,
    /// Last field: removed after everything above is dropped.
    pub dir: tempfile::TempDir,
}

impl TestGateway {
    pub async fn start(opts: Opts) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        let conf_path = write_files(dir.path(), &opts);
        let config = Config::load(Some(&conf_path), Vec::<(String, String)>::new())
            .unwrap_or_else(|e| panic!("test tyk.conf rejected: {e}"));
        let (clock, manual) = Clock::manual(START);
        let running = boot(&config, &clock).await;
        TestGateway {
            addr: running.addr,
            control_addr: running.control_addr,
            config,
            clock,
            manual,
            running: Some(running),
            client: client(),
            dir,
        }
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.running.as_ref().expect("gateway is running").state
    }

    /// Moves the manual clock forward.
    pub fn advance(&self, secs: u64) {
        self.manual.advance(Duration::from_secs(secs));
    }

    pub fn now(&self) -> i64 {
        self.clock.unix()
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.config.storage.path)
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        self.request_to(self.addr, method, path, headers, body)
            .await
    }

    /// A request to a given listener of this gateway.
    pub async fn request_to(
        &self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(format!("http://{addr}{path}"));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        send(&self.client, b.body(Full::new(body.into())).unwrap()).await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.request("GET", path, headers, Bytes::new()).await
    }

    /// `GET path` with `Authorization: key`.
    pub async fn get_with(&self, path: &str, key: &str) -> Resp {
        self.get(path, &[("Authorization", key)]).await
    }

    /// A `/tyk/` call with the secret; the body parsed as JSON (`Value::Null` if empty).
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| Bytes::from(serde_json::to_vec(&b).unwrap()));
        let r = self
            .admin_raw(
                method,
                path,
                &[("X-Tyk-Authorization", SECRET)],
                body.unwrap_or_default(),
            )
            .await;
        let v = if r.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&r.body).unwrap_or_else(|e| {
                panic!(
                    "{method} {path}: admin body is not JSON ({e}): {:?}",
                    r.text()
                )
            })
        };
        (r.status, v)
    }

    /// A `/tyk/` call (to the control listener if there is one) with exactly the given
    /// headers and raw body.
    pub async fn admin_raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        let addr = self.control_addr.unwrap_or(self.addr);
        self.request_to(addr, method, path, headers, body).await
    }

    /// `POST /tyk/keys/create`; panics unless 200. Returns the key.
    pub async fn create_key(&self, session: Value) -> String {
        let (status, body) = self.admin("POST", "/tyk/keys/create", Some(session)).await;
        assert_eq!(status, 200, "create key: {body}");
        body["key"].as_str().expect("key in response").to_string()
    }

    /// `POST /tyk/keys/{key}`; panics unless 200. Returns the key name answered.
    pub async fn add_key(&self, key: &str, session: Value) -> String {
        let (status, body) = self
            .admin("POST", &format!("/tyk/keys/{key}"), Some(session))
            .await;
        assert_eq!(status, 200, "add key {key}: {body}");
        body["key"].as_str().expect("key in response").to_string()
    }

    /// Rewrites the single policies file.
    pub fn write_policies(&self, policies: &Value) {
        std::fs::write(
            &self.config.policies.policy_record_name,
            serde_json::to_vec_pretty(policies).unwrap(),
        )
        .unwrap();
    }

    /// `GET /tyk/reload?block=true`.
    pub async fn reload(&self) {
        let (status, body) = self.admin("GET", "/tyk/reload?block=true", None).await;
        assert_eq!(status, 200, "reload: {body}");
    }

    /// Clean stop (flushes quota counters, closes the store) and a fresh start on the
    /// same files and data directory. The port may change.
    pub async fn restart(&mut self) {
        // Drop pooled keep-alive connections so the drain does not wait on them.
        self.client = client();
        let running = self.running.take().expect("gateway is running");
        tokio::time::timeout(Duration::from_secs(15), running.stop())
            .await
            .expect("gateway stop did not finish within 15 s");
        self.relaunch().await;
    }

    /// A stop without the clean-shutdown flush of quota counters (what a crash leaves
    /// behind: only the durable reservations), then a fresh start on the same files.
    pub async fn crash_restart(&mut self) {
        self.client = client();
        let running = self.running.take().expect("gateway is running");
        let state = Arc::downgrade(&running.state);
        // Dropping `Running` closes the listeners; the store closes (without a quota
        // flush) when the last reference to the state goes away.
        drop(running);
        let deadline = Instant::now() + Duration::from_secs(10);
        while state.strong_count() > 0 {
            assert!(
                Instant::now() < deadline,
                "the old gateway state was still referenced 10 s after its listeners closed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The last reference can go while the thread dropping it is still closing the
        // store: its lock file is released a moment later. Poll for that, bounded.
        let state = loop {
            match AppState::new(self.config.clone(), self.clock.clone()) {
                Ok(state) => break state,
                Err(tollgate::StartupError::Store(m))
                    if m.contains("in use") && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
                Err(e) => panic!("gateway state failed to restart: {e}"),
            }
        };
        let running = server::start(state)
            .await
            .unwrap_or_else(|e| panic!("gateway failed to listen: {e}"));
        self.addr = running.addr;
        self.control_addr = running.control_addr;
        self.running = Some(running);
    }

    /// A fresh gateway on the same files and data directory (the port may change).
    async fn relaunch(&mut self) {
        let running = boot(&self.config, &self.clock).await;
        self.addr = running.addr;
        self.control_addr = running.control_addr;
        self.running = Some(running);
    }

    /// Clean stop without restarting (the files stay until the gateway is dropped).
    pub async fn stop(&mut self) {
        self.client = client();
        if let Some(running) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(15), running.stop())
                .await
                .expect("gateway stop did not finish within 15 s");
        }
    }
}

async fn boot(config: &Config, clock: &Clock) -> Running {
    let state = AppState::new(config.clone(), clock.clone())
        .unwrap_or_else(|e| panic!("gateway state failed to start: {e}"));
    server::start(state)
        .await
        .unwrap_or_else(|e| panic!("gateway failed to listen: {e}"))
}

// ---------------------------------------------------------------------------
// Upstreams
// ---------------------------------------------------------------------------

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as on the request line.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Ok,
    Slow(Duration),
}

/// An in-process upstream that records every request and answers `200 ok`.
pub struct MockUpstream {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockUpstream {
    /// Answers `200 ok` (with an `X-RateLimit-Limit: 999` the gateway must overwrite).
    pub async fn start() -> MockUpstream {
        Self::with_mode(Mode::Ok).await
    }

    /// Sleeps `delay` before sending headers.
    pub async fn slow(delay: Duration) -> MockUpstream {
        Self::with_mode(Mode::Slow(delay)).await
    }

    async fn with_mode(mode: Mode) -> MockUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let log2 = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = log2.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let log = log.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let parts_uri = parts.uri.path().to_string();
                            let body = body
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            log.lock().unwrap().push(Recorded {
                                method: parts.method.to_string(),
                                uri: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers: parts.headers,
                                body,
                            });
                            if let Mode::Slow(d) = mode {
                                tokio::time::sleep(d).await;
                            }
                            // `/status/NNN` in the path selects the answer's status.
                            let status = path_status(&parts_uri);
                            let mut r = Response::new(Full::new(Bytes::from_static(b"ok")));
                            *r.status_mut() = status;
                            r.headers_mut()
                                .insert("x-ratelimit-limit", "999".parse().unwrap());
                            r.headers_mut()
                                .insert("x-upstream", "mock".parse().unwrap());
                            if parts_uri.contains("/hopresp") {
                                // Hop-by-hop response headers the gateway must not relay.
                                let h = r.headers_mut();
                                h.insert("connection", "x-up-private".parse().unwrap());
                                h.insert("x-up-private", "1".parse().unwrap());
                                h.insert("proxy-authenticate", "Basic".parse().unwrap());
                            }
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        MockUpstream { addr, log, task }
    }

    /// Announces `Content-Length: 100000`, sends 1000 bytes, then drops the connection.
    pub async fn reset_mid_body() -> MockUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let log2 = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = log2.clone();
                tokio::spawn(async move {
                    let head = tokio::time::timeout(Duration::from_secs(5), read_head(&mut stream))
                        .await
                        .ok()
                        .flatten();
                    let Some(head) = head else { return };
                    let line = head.lines().next().unwrap_or_default().to_string();
                    let mut it = line.split(' ');
                    log.lock().unwrap().push(Recorded {
                        method: it.next().unwrap_or_default().to_string(),
                        uri: it.next().unwrap_or_default().to_string(),
                        headers: HeaderMap::new(),
                        body: Bytes::new(),
                    });
                    let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n".to_vec();
                    out.extend(std::iter::repeat_n(b'x', 1000));
                    let _ = stream.write_all(&out).await;
                    let _ = stream.flush().await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    drop(stream);
                });
            }
        });
        MockUpstream { addr, log, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// The last recorded request (panics if none).
    pub fn last(&self) -> Recorded {
        self.log
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the upstream received no request")
    }
}

fn path_status(path: &str) -> http::StatusCode {
    path.split_once("/status/")
        .and_then(|(_, rest)| rest.get(..3))
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| http::StatusCode::from_u16(c).ok())
        .unwrap_or(http::StatusCode::OK)
}

async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < 64 * 1024 {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
    }
    None
}

/// A loopback address nothing listens on (bound, then released).
pub fn refused_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

// ---------------------------------------------------------------------------
// Raw sockets
// ---------------------------------------------------------------------------

/// Writes `request` and reads until the server closes (or 5 s pass). Returns the bytes
/// read; a reset connection just ends the read.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let _ = s.write_all(request).await;
        let _ = s.flush().await;
        let mut out = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
            }
        }
        out
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .expect("the gateway neither answered nor closed the connection within 5 s")
}

/// The status code of a raw HTTP/1.x response.
pub fn raw_status(resp: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(resp);
    let line = text.lines().next()?;
    let mut it = line.split(' ');
    let proto = it.next()?;
    if !proto.starts_with("HTTP/1.") {
        return None;
    }
    it.next()?.parse().ok()
}

// ---------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------

/// Output of one run of the `tollgate` binary.
#[derive(Debug)]
pub struct BinRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the real binary in `cwd` with `TYK_*` variables removed; killed after 20 s.
pub fn run_bin(args: &[&str], cwd: &Path) -> BinRun {
    run_bin_env(args, cwd, &[])
}

/// [`run_bin`] with extra environment variables.
pub fn run_bin_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> BinRun {
    run_bin_input(args, cwd, env, None)
}

static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs the real binary in `cwd` with the caller's `TYK_*`, `TOLLGATE_*`, `RUST_LOG` and
/// `XDG_CONFIG_HOME` removed (a developer's own settings never leak in), the given
/// variables set, and `stdin` fed to it; killed after 20 s.
pub fn run_bin_input(
    args: &[&str],
    cwd: &Path,
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> BinRun {
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path = cwd.join(format!(".stdout-{n}.txt"));
    let err_path = cwd.join(format!(".stderr-{n}.txt"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.args(args)
        .current_dir(cwd)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    for (k, _) in std::env::vars() {
        if k.starts_with("TYK_")
            || k.starts_with("TOLLGATE_")
            || k == "RUST_LOG"
            || k == "XDG_CONFIG_HOME"
        {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn tollgate");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // The process may exit before reading everything; that is its business.
        let _ = std::io::Write::write_all(&mut pipe, input.as_bytes());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let run = BinRun {
        code: status.and_then(|s| s.code()),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    };
    assert!(
        status.is_some(),
        "tollgate {args:?} did not exit within 20 s; stderr: {}",
        run.stderr
    );
    run
}
