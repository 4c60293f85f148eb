//! A lean HTTP/1 connection pool for upstream requests, built directly on
//! `hyper::client::conn::http1`: one `SendRequest` per connection, idle senders kept
//! in a small LIFO per target authority. A sender goes back to the pool only once its
//! response body has been read to the end (see [`Lease`] and `body::Streamed`);
//! otherwise it is dropped and hyper closes the connection.
//!
//! Why not hyper-util's pooled client: it was ~18 % of the instructions of a proxied
//! request (a waiter queue, a per-checkout future, boxed connect futures and a SipHash
//! map), and the gateway needs none of that: one target per API, plain HTTP/1.
//!
//! Requests without a body — nearly all API traffic — skip hyper's client entirely and
//! go over [`h1`], a minimal HTTP/1.1 exchange on a pooled socket; requests with a body
//! keep hyper's client for its request-body streaming.
//!
//! Idle connections are dropped once older than `IDLE_TIMEOUT` or closed by the
//! upstream: on checkout for that authority, and for every authority by a sweep that
//! runs on a return at most every `SWEEP_EVERY`, so an upstream no API uses any more
//! does not keep sockets open for long.
//!
//! Every age the pool measures (idle expiry, the replay-if-idle and probe-if-idle rules,
//! sweeps) is read from its [`Clock`], once per checkout or return: the system clock in
//! the gateway, a manual one in tests ([`Pool::with_clock`]), which advance it instead
//! of sleeping to let a connection age.

use crate::limits::clock::Clock;
use bytes::Bytes;
use http::uri::Authority;
use http::{Method, Request, Response};
use http_body::Body as _;
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Idle connections kept per authority.
const MAX_IDLE_PER_HOST: usize = 1024;
/// Idle connections older than this are closed on the next checkout.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a return may sweep every authority's idle list.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// What goes upstream: the client's body, or nothing for a replayed bodiless request.
type UpBody = Either<Incoming, Empty<Bytes>>;
type Sender = SendRequest<UpBody>;

/// A pooled connection idle at least this long may be closed by the upstream just as a
/// request goes out on it, so a replayable request keeps a copy of its head.
const REPLAY_IF_IDLE_FOR: Duration = Duration::from_millis(100);
/// A [`h1`] socket idle at least this long is probed with a read before reuse even if
/// the reactor has not reported it readable (an upstream's keep-alive timeout).
const PROBE_IF_IDLE_FOR: Duration = REPLAY_IF_IDLE_FOR;

/// A copy of the head of a request that can be sent twice safely: a replayable method
/// ([`is_replayable`]) and no body.
fn replayable_head(req: &Request<UpBody>) -> Option<http::request::Parts> {
    if !is_replayable(req.method()) || !req.body().is_end_stream() {
        return None;
    }
    let mut head = Request::new(());
    *head.method_mut() = req.method().clone();
    *head.uri_mut() = req.uri().clone();
    *head.version_mut() = req.version();
    *head.headers_mut() = req.headers().clone();
    Some(head.into_parts().0)
}

/// Why an upstream request failed (before a response head arrived).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("handshake: {0}")]
    Handshake(hyper::Error),
    #[error("{0}")]
    Http(hyper::Error),
    #[error("{0}")]
    Wire(h1::WireError),
}

impl UpstreamError {
    pub fn is_connect(&self) -> bool {
        matches!(self, UpstreamError::Connect(_))
    }
}

pub mod body;
pub mod error;
pub mod h1;
pub mod idle;

struct Idle<C = Sender> {
    conn: C,
    since: Instant,
}

type IdleMap<C> = HashMap<Box<str>, VecDeque<Idle<C>>, foldhash::fast::RandomState>;

/// Moves the entries of `list` idle longer than `timeout` (the oldest, at the front)
/// into `out`, to be closed once the pool's lock is released.
fn pop_expired<C>(
    list: &mut VecDeque<Idle<C>>,
    now: Instant,
    timeout: Duration,
    out: &mut Vec<Idle<C>>,
) {
    while list
        .front()
        .is_some_and(|i| now.duration_since(i.since) > timeout)
    {
        out.extend(list.pop_front());
    }
}

/// Adds a returned connection to its authority's list; hands it back (to be closed)
/// when the list is full.
fn push_idle<C>(map: &mut IdleMap<C>, key: &Authority, idle: Idle<C>) -> Option<Idle<C>> {
    match map.get_mut(key.as_str()) {
        Some(list) if list.len() >= MAX_IDLE_PER_HOST => Some(idle),
        Some(list) => {
            list.push_back(idle);
            None
        }
        None => {
            map.insert(key.as_str().into(), VecDeque::from([idle]));
            None
        }
    }
}

struct Idles {
    /// Keyed by the authority's text: hashing an `Authority` lowercases it byte by byte
    /// with SipHash, a measurable share of a proxied request.
    by_authority: IdleMap<Sender>,
    /// Sockets for [`h1`] exchanges, most recently returned last.
    wire: IdleMap<h1::Conn>,
    last_sweep: Instant,
}

struct Inner {
    idle: Mutex<Idles>,
    /// Requests re-sent on a fresh connection because a pooled one had closed.
    retried: AtomicU64,
    idle_timeout: Duration,
    sweep_every: Duration,
    /// The source of every `Instant` the pool compares.
    clock: Clock,
}

/// The upstream connection pool (cheap to clone).
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

/// A connection in use; give it back with [`Release::release`](body::Release::release) once the response body has
/// ended, or drop it to close the connection.
pub struct Lease {
    pool: Pool,
    key: Authority,
    sender: Sender,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("key", &self.key).finish()
    }
}

impl body::Release for Lease {
    /// Returns the connection to the pool for reuse.
    fn release(self) {
        self.pool.put(self.key, self.sender);
    }
}

impl Default for Pool {
    fn default() -> Self {
        Self::with_clock(Clock::System)
    }
}

impl Pool {
    /// A pool on the system clock. The gateway's pool stays on it even when the
    /// limiters run on a manual clock (the integration tests): the ages it measures
    /// race the upstream's own keep-alive timers, which run in real time, and a frozen
    /// clock would turn the replay and probe rules off there.
    pub fn new() -> Self {
        Self::default()
    }

    /// A pool whose idle connections expire after `idle_timeout`, swept at most every
    /// `sweep_every` (the defaults are 90 s and 30 s), on the system clock.
    pub fn with_timeouts(idle_timeout: Duration, sweep_every: Duration) -> Self {
        Self::build(idle_timeout, sweep_every, Clock::System)
    }

    /// A pool with the default timeouts that reads the time from `clock` (tests pass
    /// [`Clock::manual`] and advance it instead of sleeping).
    pub fn with_clock(clock: Clock) -> Self {
        Self::build(IDLE_TIMEOUT, SWEEP_EVERY, clock)
    }

    fn build(idle_timeout: Duration, sweep_every: Duration, clock: Clock) -> Self {
        Pool {
            inner: Arc::new(Inner {
                idle: Mutex::new(Idles {
                    by_authority: HashMap::default(),
                    wire: HashMap::default(),
                    last_sweep: clock.instant(),
                }),
                retried: AtomicU64::new(0),
                idle_timeout,
                sweep_every,
                clock,
            }),
        }
    }

    fn now(&self) -> Instant {
        self.inner.clock.instant()
    }

    fn lock(&self) -> MutexGuard<'_, Idles> {
        self.inner.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `req` (origin-form URI) to `authority` over a pooled connection, or a new
    /// one. The request goes out again, once, on a fresh connection when the pooled one
    /// turns out to be closed: always if hyper hands it back unsent, and, as Go's
    /// transport does, for a bodiless GET/HEAD/OPTIONS/TRACE whose pooled connection had
    /// been idle long enough that the upstream may have closed it as the request went
    /// out (a keep-alive timeout race, e.g. Node's 5 s default).
    pub async fn request(
        &self,
        authority: &Authority,
        req: Request<Incoming>,
    ) -> Result<(Response<Incoming>, Lease), UpstreamError> {
        let mut req = req.map(Either::Left);
        if let Some((mut sender, idle_for)) = self.checkout(authority) {
            // Cloning the head costs allocations, so only where the race is possible.
            let replay = (idle_for >= REPLAY_IF_IDLE_FOR)
                .then(|| replayable_head(&req))
                .flatten();
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok((resp, self.lease(authority, sender))),
                Err(mut e) => {
                    req = match (e.take_message(), replay) {
                        (Some(back), _) => back,
                        (None, Some(head)) => {
                            Request::from_parts(head, Either::Right(Empty::new()))
                        }
                        (None, None) => return Err(UpstreamError::Http(e.into_error())),
                    };
                    self.inner.retried.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e.error(), "pooled upstream connection was closed; sending the request again on a new one");
                }
            }
        }
        let mut sender = connect(authority).await?;
        match sender.try_send_request(req).await {
            Ok(resp) => Ok((resp, self.lease(authority, sender))),
            Err(e) => Err(UpstreamError::Http(e.into_error())),
        }
    }

    fn lease(&self, key: &Authority, sender: Sender) -> Lease {
        Lease {
            pool: self.clone(),
            key: key.clone(),
            sender,
        }
    }

    /// The most recently returned ready connection; closed and expired ones are dropped,
    /// ones not yet ready (still finishing their last exchange) stay for later.
    fn checkout(&self, key: &Authority) -> Option<(Sender, Duration)> {
        let now = self.now();
        let mut dropped = Vec::new();
        let found = {
            let mut idles = self.lock();
            let list = idles.by_authority.get_mut(key.as_str())?;
            pop_expired(list, now, self.inner.idle_timeout, &mut dropped);
            let mut found = None;
            let mut i = list.len();
            while i > 0 {
                i -= 1;
                let Some(entry) = list.get(i) else { break };
                if entry.conn.is_ready() {
                    found = list
                        .remove(i)
                        .map(|e| (e.conn, now.duration_since(e.since)));
                    break;
                }
                if entry.conn.is_closed() {
                    dropped.extend(list.remove(i));
                }
            }
            found
        };
        drop(dropped);
        found
    }

    /// Drops expired and closed idle connections of every authority, at most every
    /// `sweep_every` (called on each return of a connection).
    fn sweep(&self, idles: &mut Idles, now: Instant) {
        if now.duration_since(idles.last_sweep) < self.inner.sweep_every {
            return;
        }
        idles.last_sweep = now;
        let timeout = self.inner.idle_timeout;
        idles.by_authority.retain(|_, list| {
            list.retain(|i| !i.conn.is_closed() && now.duration_since(i.since) <= timeout);
            !list.is_empty()
        });
        idles.wire.retain(|_, list| {
            list.retain(|i| now.duration_since(i.since) <= timeout);
            !list.is_empty()
        });
    }

    fn put(&self, key: Authority, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let now = self.now();
        let idle = Idle {
            conn: sender,
            since: now,
        };
        let refused = {
            let mut idles = self.lock();
            self.sweep(&mut idles, now);
            push_idle(&mut idles.by_authority, &key, idle)
        };
        // Closing a connection (dropping its sender) happens outside the lock.
        drop(refused);
    }

    /// Sends a request without a body (`head` from [`h1::encode_head`]) over a pooled
    /// or new socket and reads the response head; the body streams from the returned
    /// [`h1::WireBody`], which gives the socket back at its end. If a pooled socket
    /// fails before any byte of a response, a GET/HEAD/OPTIONS/TRACE goes out again on a
    /// new one (Go's transport rule); other methods may have been acted on, so they fail.
    pub async fn send_bodiless(
        &self,
        authority: &Authority,
        method: &Method,
        head: &[u8],
        body_idle: Duration,
    ) -> Result<(h1::Head, h1::WireBody<WireReturn>), UpstreamError> {
        let head_request = *method == Method::HEAD;
        if let Some(mut conn) = self.checkout_wire(authority) {
            match h1::exchange(&mut conn, head, head_request).await {
                Ok(h) => return Ok(self.wire_response(authority, conn, h, body_idle)),
                Err(h1::ExchangeError::BeforeResponse(e)) if is_replayable(method) => {
                    self.inner.retried.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "pooled upstream connection was closed; sending the request again on a new one");
                }
                Err(e) => return Err(UpstreamError::Wire(e.into_inner())),
            }
        }
        let mut conn = h1::Conn::new(tcp_connect(authority).await?);
        match h1::exchange(&mut conn, head, head_request).await {
            Ok(h) => Ok(self.wire_response(authority, conn, h, body_idle)),
            Err(e) => Err(UpstreamError::Wire(e.into_inner())),
        }
    }

    fn wire_response(
        &self,
        authority: &Authority,
        conn: h1::Conn,
        head: h1::Head,
        body_idle: Duration,
    ) -> (h1::Head, h1::WireBody<WireReturn>) {
        let back = WireReturn {
            pool: self.clone(),
            key: authority.clone(),
        };
        let body = h1::WireBody::new(conn, &head, body_idle, back);
        (head, body)
    }

    /// The most recently returned socket that is still clean (see
    /// [`h1::Conn::is_reusable`]); expired and unusable ones are dropped. Checks run
    /// outside the pool's lock.
    fn checkout_wire(&self, key: &Authority) -> Option<h1::Conn> {
        let now = self.now();
        let mut expired = Vec::new();
        let found = loop {
            let candidate = {
                let mut idles = self.lock();
                let list = idles.wire.get_mut(key.as_str())?;
                pop_expired(list, now, self.inner.idle_timeout, &mut expired);
                list.pop_back()
            };
            let Some(mut idle) = candidate else {
                break None;
            };
            if idle
                .conn
                .is_reusable(now.duration_since(idle.since) >= PROBE_IF_IDLE_FOR)
            {
                break Some(idle.conn);
            }
        };
        drop(expired);
        found
    }

    fn put_wire(&self, key: Authority, conn: h1::Conn) {
        let now = self.now();
        let idle = Idle { conn, since: now };
        let refused = {
            let mut idles = self.lock();
            self.sweep(&mut idles, now);
            push_idle(&mut idles.wire, &key, idle)
        };
        drop(refused);
    }

    /// Idle [`h1`] sockets held for `key` (for tests).
    pub fn idle_wire_count(&self, key: &Authority) -> usize {
        self.lock().wire.get(key.as_str()).map_or(0, VecDeque::len)
    }

    /// Idle connections held for `key` (for tests).
    pub fn idle_count(&self, key: &Authority) -> usize {
        self.lock()
            .by_authority
            .get(key.as_str())
            .map_or(0, VecDeque::len)
    }

    /// Requests re-sent on a fresh connection because the pooled one they were given
    /// had been closed by the upstream before the request went out.
    pub fn retried(&self) -> u64 {
        self.inner.retried.load(Ordering::Relaxed)
    }
}

/// Gives a [`h1`] socket back to its pool once its response has been read.
pub struct WireReturn {
    pool: Pool,
    key: Authority,
}

impl h1::Recycle for WireReturn {
    fn recycle(self, conn: h1::Conn) {
        self.pool.put_wire(self.key, conn);
    }
}

/// Safe to send twice (RFC 9110 §9.2.2; the methods Go's transport replays).
fn is_replayable(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Opens a TCP connection (connect timeout, `TCP_NODELAY`, keepalive) and runs the
/// HTTP/1 handshake; the connection task runs on its own.
async fn connect(authority: &Authority) -> Result<Sender, UpstreamError> {
    let stream = tcp_connect(authority).await?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(UpstreamError::Handshake)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// Opens a TCP connection with a connect timeout, `TCP_NODELAY` and keepalive.
async fn tcp_connect(authority: &Authority) -> Result<TcpStream, UpstreamError> {
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(UpstreamError::Connect(e)),
        Err(_) => {
            return Err(UpstreamError::Connect(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            )))
        }
    };
    stream.set_nodelay(true).map_err(UpstreamError::Connect)?;
    socket2::SockRef::from(&stream)
        .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE))
        .map_err(UpstreamError::Connect)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::body::Release as _;
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An upstream answering `ok` to each request on a keep-alive connection.
    async fn upstream() -> (Authority, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
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
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (authority, accepted)
    }

    /// A request whose body is the (empty) body of a real incoming request, as the
    /// gateway forwards: produced by a one-shot local server.
    async fn empty_incoming() -> Incoming {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = Arc::new(Mutex::new(Some(tx)));
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let tx = tx.clone();
                async move {
                    if let Some(tx) = tx.lock().unwrap().take() {
                        let _ = tx.send(req.into_body());
                    }
                    Ok::<_, std::convert::Infallible>(Response::new(String::new()))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(s), svc)
                .await;
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        let body = rx.await.unwrap();
        std::mem::forget(c);
        body
    }

    async fn get(pool: &Pool, authority: &Authority) -> String {
        let req = Request::builder()
            .uri("/x")
            .header("host", authority.as_str())
            .body(empty_incoming().await)
            .unwrap();
        let (resp, lease) = pool.request(authority, req).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        lease.release();
        String::from_utf8_lossy(&body).into_owned()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_released_connection_is_reused() {
        let (up, accepted) = upstream().await;
        let pool = Pool::new();
        assert_eq!(get(&pool, &up).await, "ok");
        assert_eq!(get(&pool, &up).await, "ok");
        assert_eq!(get(&pool, &up).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(&up), 1);
        assert_eq!(pool.retried(), 0);
    }

    /// GETs `/x` from `up` over the bodiless ([`h1`]) path.
    async fn get_bodiless(pool: &Pool, up: &Authority) -> Result<(), String> {
        let mut head = Vec::new();
        let mut h = http::HeaderMap::new();
        h.insert("host", up.as_str().parse().unwrap());
        h1::encode_head(&mut head, &Method::GET, "/x", &h);
        let (_, body) = pool
            .send_bodiless(up, &Method::GET, &head, Duration::from_secs(5))
            .await
            .map_err(|e| e.to_string())?;
        body.collect().await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// A connection idle exactly `IDLE_TIMEOUT` is still reused; one idle longer is
    /// closed on checkout and the request goes out on a new one, on both paths (a pool
    /// each, so neither path's return sweeps the other's connection first).
    #[tokio::test(flavor = "current_thread")]
    async fn idle_connections_expire_on_checkout() {
        let (clock, time) = Clock::manual(0);
        let (pool, wire_pool) = (Pool::with_clock(clock.clone()), Pool::with_clock(clock));
        let (up, accepted) = upstream().await;
        let (wire_up, wire_accepted) = upstream().await;
        let accepted = || {
            (
                accepted.load(Ordering::SeqCst),
                wire_accepted.load(Ordering::SeqCst),
            )
        };
        assert_eq!(get(&pool, &up).await, "ok");
        get_bodiless(&wire_pool, &wire_up).await.unwrap();
        time.advance(IDLE_TIMEOUT);
        assert_eq!(get(&pool, &up).await, "ok");
        get_bodiless(&wire_pool, &wire_up).await.unwrap();
        assert_eq!(accepted(), (1, 1), "not reused at exactly the timeout");
        time.advance(IDLE_TIMEOUT + Duration::from_millis(1));
        assert_eq!(get(&pool, &up).await, "ok");
        get_bodiless(&wire_pool, &wire_up).await.unwrap();
        assert_eq!(accepted(), (2, 2), "an expired connection was reused");
        assert_eq!(pool.idle_count(&up), 1);
        assert_eq!(wire_pool.idle_wire_count(&wire_up), 1);
        assert_eq!(pool.retried() + wire_pool.retried(), 0);
    }

    /// An upstream on its own thread (so it runs while the test's runtime thread is
    /// blocked): answers each connection's first request and closes that connection; the
    /// first connection only when told to ([`ClosingUpstream::close_first`]).
    struct ClosingUpstream {
        authority: Authority,
        close: std::sync::mpsc::Sender<()>,
        closed: std::sync::mpsc::Receiver<()>,
        accepted: Arc<AtomicUsize>,
    }

    impl ClosingUpstream {
        /// Has the upstream close its first connection and returns once it has. The
        /// caller (the runtime's one thread) is blocked meanwhile, so no task runs.
        fn close_first(&self) {
            self.close.send(()).unwrap();
            self.closed
                .recv_timeout(Duration::from_secs(10))
                .expect("the upstream did not close its first connection");
        }

        fn accepted(&self) -> usize {
            self.accepted.load(Ordering::SeqCst)
        }
    }

    fn closing_upstream() -> ClosingUpstream {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let authority: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let (close, close_rx) = std::sync::mpsc::channel::<()>();
        let (closed_tx, closed) = std::sync::mpsc::channel::<()>();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut s) = stream else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                if n == 0 {
                    let _ = close_rx.recv();
                    drop(s);
                    let _ = closed_tx.send(());
                }
            }
        });
        ClosingUpstream {
            authority,
            close,
            closed,
            accepted,
        }
    }

    /// The upstream closes a pooled connection that has been idle `idle` on the pool's
    /// clock; the gateway hands that connection out before its task has seen the close
    /// (the runtime's one thread is blocked from the close to the request, so the
    /// connection task cannot run), and the request goes out on a dead socket.
    /// Returns the outcome of that request and how many connections the upstream saw.
    async fn send_on_a_connection_closed_underneath(
        method: Method,
        idle: Duration,
    ) -> (Result<String, UpstreamError>, Pool, usize) {
        let up = closing_upstream();
        let (clock, time) = Clock::manual(0);
        let pool = Pool::with_clock(clock);
        assert_eq!(get(&pool, &up.authority).await, "ok");
        assert_eq!(pool.idle_count(&up.authority), 1);
        let req = Request::builder()
            .method(method)
            .uri("/x")
            .header("host", up.authority.as_str())
            .body(empty_incoming().await)
            .unwrap();
        up.close_first();
        time.advance(idle);
        let outcome = match pool.request(&up.authority, req).await {
            Ok((resp, lease)) => {
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                lease.release();
                Ok(String::from_utf8_lossy(&body).into_owned())
            }
            Err(e) => Err(e),
        };
        (outcome, pool, up.accepted())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_idempotent_request_sent_on_a_connection_closed_underneath_goes_out_again() {
        let (outcome, pool, accepted) =
            send_on_a_connection_closed_underneath(Method::GET, REPLAY_IF_IDLE_FOR).await;
        assert_eq!(outcome.unwrap(), "ok");
        assert_eq!(pool.retried(), 1, "the retry path was not taken");
        assert_eq!(accepted, 2);
    }

    /// Idle too briefly for an upstream's keep-alive timeout to be racing it, a
    /// connection carries no copy of the head, so a request lost on it fails.
    #[tokio::test(flavor = "current_thread")]
    async fn a_request_on_a_connection_idle_only_briefly_is_not_replayed() {
        let idle = REPLAY_IF_IDLE_FOR - Duration::from_millis(1);
        let (outcome, pool, accepted) =
            send_on_a_connection_closed_underneath(Method::GET, idle).await;
        assert!(
            matches!(outcome, Err(UpstreamError::Http(_))),
            "{outcome:?}"
        );
        assert_eq!(pool.retried(), 0);
        assert_eq!(accepted, 1);
    }

    /// A POST may have been acted on before the connection broke: never sent twice.
    #[tokio::test(flavor = "current_thread")]
    async fn a_non_idempotent_request_is_never_sent_twice() {
        let (outcome, pool, accepted) =
            send_on_a_connection_closed_underneath(Method::POST, REPLAY_IF_IDLE_FOR).await;
        assert!(
            matches!(outcome, Err(UpstreamError::Http(_))),
            "{outcome:?}"
        );
        assert_eq!(pool.retried(), 0);
        assert_eq!(accepted, 1);
    }

    /// Whether a checkout would hand out the idle [`h1`] socket the pool holds for
    /// `up`, probing it or not (`false` when none is held).
    fn idle_wire_looks_reusable(pool: &Pool, up: &Authority, probe: bool) -> bool {
        pool.lock()
            .wire
            .get_mut(up.as_str())
            .and_then(VecDeque::back_mut)
            .is_some_and(|i| i.conn.is_reusable(probe))
    }

    /// The bodiless path: the upstream closes the pooled socket, which has then been idle
    /// `idle` on the pool's clock. With `blocking`, the runtime's one thread stays
    /// blocked from the close to the request, so the reactor cannot see the close;
    /// without, the runtime runs until the reactor has reported it.
    async fn bodiless_after_close(
        method: Method,
        idle: Duration,
        blocking: bool,
    ) -> (Result<(), String>, Pool, usize) {
        let up = closing_upstream();
        let (clock, time) = Clock::manual(0);
        let pool = Pool::with_clock(clock);
        let mut head = Vec::new();
        let mut h = http::HeaderMap::new();
        h.insert("host", up.authority.as_str().parse().unwrap());
        h1::encode_head(&mut head, &Method::GET, "/x", &h);
        let t = Duration::from_secs(5);
        let (_, body) = pool
            .send_bodiless(&up.authority, &Method::GET, &head, t)
            .await
            .unwrap();
        body.collect().await.unwrap();
        assert_eq!(pool.idle_wire_count(&up.authority), 1);
        up.close_first();
        // A bound on waiting for the network, in real time; the pool's time stands still.
        let deadline = Instant::now() + Duration::from_secs(10);
        if blocking {
            // Until the upstream's FIN is in the kernel (a peek sees it). The sleep blocks
            // the runtime's thread on purpose, so the reactor reports nothing.
            while idle_wire_looks_reusable(&pool, &up.authority, true) {
                assert!(
                    Instant::now() < deadline,
                    "the upstream's FIN never arrived"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        } else {
            // Until the reactor has reported the close: the runtime must run for that.
            while idle_wire_looks_reusable(&pool, &up.authority, false) {
                assert!(Instant::now() < deadline, "the reactor never saw the close");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        time.advance(idle);
        head.clear();
        h1::encode_head(&mut head, &method, "/x", &h);
        let outcome = match pool.send_bodiless(&up.authority, &method, &head, t).await {
            Ok((_, body)) => body.collect().await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        (outcome, pool, up.accepted())
    }

    /// A socket the upstream closed is not used once the reactor has seen the close, nor
    /// one idle long enough to be probed: even a POST survives (an upstream closing idle
    /// keep-alive connections, Node's 5 s timeout say, or right after answering).
    #[tokio::test(flavor = "current_thread")]
    async fn a_socket_closed_by_the_upstream_is_not_used() {
        for (idle, blocking) in [(Duration::ZERO, false), (PROBE_IF_IDLE_FOR, true)] {
            let (outcome, pool, accepted) =
                bodiless_after_close(Method::POST, idle, blocking).await;
            assert_eq!(outcome, Ok(()), "{idle:?} {blocking}");
            assert_eq!(pool.retried(), 0);
            assert_eq!(accepted, 2);
        }
    }

    /// Closed just before reuse, before the reactor could see it (the runtime's one
    /// thread is blocked), on a socket idle too briefly to be probed: a GET goes out
    /// again on a new socket; a POST is never sent twice.
    #[tokio::test(flavor = "current_thread")]
    async fn a_socket_closed_just_before_reuse_replays_only_idempotent_requests() {
        let idle = PROBE_IF_IDLE_FOR - Duration::from_millis(1);
        let (outcome, pool, accepted) = bodiless_after_close(Method::GET, idle, true).await;
        assert_eq!(outcome, Ok(()));
        assert_eq!(pool.retried(), 1, "the replay path was not taken");
        assert_eq!(accepted, 2);
        let (outcome, pool, accepted) = bodiless_after_close(Method::POST, idle, true).await;
        assert!(outcome.is_err(), "{outcome:?}");
        assert_eq!(pool.retried(), 0);
        assert_eq!(accepted, 1);
    }

    /// A return sweeps every authority's expired connections, at most every
    /// `SWEEP_EVERY`.
    #[tokio::test(flavor = "current_thread")]
    async fn expired_idle_connections_are_swept() {
        let (a, _) = upstream().await;
        let (b, _) = upstream().await;
        let (clock, time) = Clock::manual(0);
        let pool = Pool::with_clock(clock);
        assert_eq!(get(&pool, &a).await, "ok");
        time.advance(IDLE_TIMEOUT - Duration::from_secs(1));
        // Sweeps (none yet since the pool began), but `a`'s connection is still fresh.
        assert_eq!(get(&pool, &b).await, "ok");
        assert_eq!(pool.idle_count(&a), 1);
        time.advance(Duration::from_secs(2));
        // `a`'s connection has expired, but the last sweep was 2 s ago.
        assert_eq!(get(&pool, &b).await, "ok");
        assert_eq!(pool.idle_count(&a), 1);
        time.advance(SWEEP_EVERY);
        // A return for another authority sweeps `a`'s expired connection.
        assert_eq!(get(&pool, &b).await, "ok");
        assert_eq!(pool.idle_count(&a), 0);
        assert_eq!(pool.idle_count(&b), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_unreachable_upstream_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let up: Authority = addr.to_string().parse().unwrap();
        let req = Request::builder()
            .uri("/x")
            .body(empty_incoming().await)
            .unwrap();
        let err = Pool::new().request(&up, req).await.unwrap_err();
        assert!(err.is_connect(), "{err}");
    }
}
