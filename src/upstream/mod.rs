//! The upstream connection pool and the one client path every request takes: a lean
//! HTTP/1.1 exchange ([`h1`]) on pooled keep-alive sockets, kept in a small LIFO per
//! target authority. A socket goes back to the pool only once its response body has
//! been read to the end (see [`h1::WireBody`]); otherwise it is closed.
//!
//! Why not hyper's client (or hyper-util's pool): it runs each connection as its own
//! task and hands requests and responses across channels; with the header work around
//! it that was a third of the instructions of a proxied request. Here the request task
//! writes the head it built in one `write`, streams a request body (by its length, or
//! chunk-encoded) while it waits for the answer, and parses the response head in place.
//!
//! Idle sockets are dropped once older than `IDLE_TIMEOUT`, or when they hold anything
//! (see [`h1::Conn::is_reusable`]): on checkout for that authority, and for every
//! authority by a sweep that runs on a return at most every `SWEEP_EVERY`, so an
//! upstream no API uses any more does not keep sockets open for long. A pooled socket
//! that refuses the request head took nothing of the request, which then goes out on a
//! new one; if it fails after the head and before any byte of a response, a bodiless
//! GET/HEAD/OPTIONS/TRACE goes out again (Go's transport rule), anything else may have
//! been acted on and fails.
//!
//! Every age the pool measures (idle expiry, the probe-if-idle rule, sweeps) is read
//! from its [`Clock`], once per checkout or return: the system clock in the gateway, a
//! manual one in tests ([`Pool::with_clock`]), which advance it instead of sleeping.

use crate::limits::clock::Clock;
use bytes::Bytes;
use http::uri::Authority;
use http::Method;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

pub mod error;
pub mod h1;
pub mod idle;

/// Idle connections kept per authority.
const MAX_IDLE_PER_HOST: usize = 1024;
/// Idle connections older than this are closed on the next checkout.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a return may sweep every authority's idle list.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// A socket idle at least this long is probed with a read before reuse even if the
/// reactor has not reported it readable (an upstream's keep-alive timeout may just have
/// closed it).
const PROBE_IF_IDLE_FOR: Duration = Duration::from_millis(100);

/// Why an upstream request failed (before a response head arrived).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("{0}")]
    Wire(h1::WireError),
}

impl UpstreamError {
    pub fn is_connect(&self) -> bool {
        matches!(self, UpstreamError::Connect(_))
    }
}

struct Idle {
    conn: h1::Conn,
    since: Instant,
}

/// Keyed by the authority's text: hashing an `Authority` lowercases it byte by byte with
/// SipHash, a measurable share of a proxied request.
type IdleMap = HashMap<Box<str>, VecDeque<Idle>, foldhash::fast::RandomState>;

/// Moves the entries of `list` idle longer than `timeout` (the oldest, at the front)
/// into `out`, to be closed once the pool's lock is released.
fn pop_expired(list: &mut VecDeque<Idle>, now: Instant, timeout: Duration, out: &mut Vec<Idle>) {
    while list
        .front()
        .is_some_and(|i| now.duration_since(i.since) > timeout)
    {
        out.extend(list.pop_front());
    }
}

/// Adds a returned connection to its authority's list; hands it back (to be closed)
/// when the list is full.
fn push_idle(map: &mut IdleMap, key: &Authority, idle: Idle) -> Option<Idle> {
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
    /// Most recently returned last.
    wire: IdleMap,
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

impl Default for Pool {
    fn default() -> Self {
        Self::with_clock(Clock::System)
    }
}

impl Pool {
    /// A pool on the system clock. The gateway's pool stays on it even when the
    /// limiters run on a manual clock (the integration tests): the ages it measures
    /// race the upstream's own keep-alive timers, which run in real time.
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

    /// Sends a request (`head` from [`h1::encode_head`], and its body if it has one)
    /// over a pooled or new socket and reads the response head; the body streams from
    /// the returned [`h1::WireBody`], which gives the socket back at its end. If a pooled
    /// socket fails before any byte of a response, a bodiless GET/HEAD/OPTIONS/TRACE goes
    /// out again on a new one (Go's transport rule); other requests may have been acted
    /// on, and a body cannot be read twice, so they fail.
    pub async fn send<B>(
        &self,
        authority: &Authority,
        method: &Method,
        head: &[u8],
        body: Option<h1::Outgoing<B>>,
        body_idle: Duration,
    ) -> Result<(h1::Head, h1::WireBody<WireReturn>), UpstreamError>
    where
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let head_request = *method == Method::HEAD;
        let bodiless = body.is_none();
        // A pooled socket that refuses the head took nothing of the request: any request
        // can go out on a new one (its body is not read yet).
        let (mut conn, pooled) = match self.checkout_wire(authority) {
            Some(mut c) => match h1::write_head(&mut c, head).await {
                Ok(()) => (c, true),
                Err(e) => {
                    self.count_retry(&e);
                    (self.fresh(authority, head).await?, false)
                }
            },
            None => (self.fresh(authority, head).await?, false),
        };
        match h1::exchange(&mut conn, body, head_request).await {
            Ok((h, whole)) => Ok(self.wire_response(authority, conn, h, body_idle, whole)),
            Err(h1::ExchangeError::BeforeResponse(e))
                if pooled && bodiless && is_replayable(method) =>
            {
                self.count_retry(&e);
                let mut conn = self.fresh(authority, head).await?;
                match h1::exchange(&mut conn, None::<h1::Outgoing<B>>, head_request).await {
                    Ok((h, whole)) => Ok(self.wire_response(authority, conn, h, body_idle, whole)),
                    Err(e) => Err(UpstreamError::Wire(e.into_inner())),
                }
            }
            Err(e) => Err(UpstreamError::Wire(e.into_inner())),
        }
    }

    /// A new connection with `head` written on it.
    async fn fresh(&self, authority: &Authority, head: &[u8]) -> Result<h1::Conn, UpstreamError> {
        let mut conn = h1::Conn::new(tcp_connect(authority).await?);
        h1::write_head(&mut conn, head)
            .await
            .map_err(UpstreamError::Wire)?;
        Ok(conn)
    }

    fn count_retry(&self, e: &h1::WireError) {
        self.inner.retried.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(error = %e, "pooled upstream connection was closed; sending the request again on a new one");
    }

    fn wire_response(
        &self,
        authority: &Authority,
        conn: h1::Conn,
        head: h1::Head,
        body_idle: Duration,
        reusable: bool,
    ) -> (h1::Head, h1::WireBody<WireReturn>) {
        let back = WireReturn {
            pool: self.clone(),
            key: authority.clone(),
        };
        let body = h1::WireBody::new(conn, &head, body_idle, back, reusable);
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

    /// [`Pool::send`] without a body (for tests).
    #[cfg(test)]
    pub(crate) async fn send_bodiless(
        &self,
        authority: &Authority,
        method: &Method,
        head: &[u8],
        body_idle: Duration,
    ) -> Result<(h1::Head, h1::WireBody<WireReturn>), UpstreamError> {
        let none: Option<h1::Outgoing<http_body_util::Empty<Bytes>>> = None;
        self.send(authority, method, head, none, body_idle).await
    }

    /// Idle sockets held for `key` (for tests).
    pub fn idle_wire_count(&self, key: &Authority) -> usize {
        self.lock().wire.get(key.as_str()).map_or(0, VecDeque::len)
    }

    /// Drops expired idle sockets of every authority, at most every `sweep_every`
    /// (called on each return of a socket).
    fn sweep(&self, idles: &mut Idles, now: Instant) {
        if now.duration_since(idles.last_sweep) < self.inner.sweep_every {
            return;
        }
        idles.last_sweep = now;
        let timeout = self.inner.idle_timeout;
        idles.wire.retain(|_, list| {
            list.retain(|i| now.duration_since(i.since) <= timeout);
            !list.is_empty()
        });
    }

    /// Requests re-sent on a fresh connection because the pooled one they were given
    /// had been closed by the upstream before the request went out.
    pub fn retried(&self) -> u64 {
        self.inner.retried.load(Ordering::Relaxed)
    }
}

/// Gives an [`h1`] socket back to its pool once its response has been read.
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
        let pool = Pool::with_clock(clock);
        let (up, accepted) = upstream().await;
        get_bodiless(&pool, &up).await.unwrap();
        time.advance(IDLE_TIMEOUT);
        get_bodiless(&pool, &up).await.unwrap();
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "not reused at exactly the timeout"
        );
        time.advance(IDLE_TIMEOUT + Duration::from_millis(1));
        get_bodiless(&pool, &up).await.unwrap();
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "an expired connection was reused"
        );
        assert_eq!(pool.idle_wire_count(&up), 1);
        assert_eq!(pool.retried(), 0);
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
        get_bodiless(&pool, &a).await.unwrap();
        time.advance(IDLE_TIMEOUT - Duration::from_secs(1));
        // Sweeps (none yet since the pool began), but `a`'s connection is still fresh.
        get_bodiless(&pool, &b).await.unwrap();
        assert_eq!(pool.idle_wire_count(&a), 1);
        time.advance(Duration::from_secs(2));
        // `a`'s connection has expired, but the last sweep was 2 s ago.
        get_bodiless(&pool, &b).await.unwrap();
        assert_eq!(pool.idle_wire_count(&a), 1);
        time.advance(SWEEP_EVERY);
        // A return for another authority sweeps `a`'s expired connection.
        get_bodiless(&pool, &b).await.unwrap();
        assert_eq!(pool.idle_wire_count(&a), 0);
        assert_eq!(pool.idle_wire_count(&b), 1);
    }

    /// A pooled socket the upstream has reset refuses the request head: nothing of the
    /// request went out, so even a POST with a body goes out on a new connection.
    #[tokio::test(flavor = "current_thread")]
    async fn a_request_refused_at_its_head_goes_out_on_a_new_connection_whatever_its_method() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let up: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let (reset, reset_rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, done) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut s) = stream else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n")
                    || (n > 0 && !buf.ends_with(b"body"))
                {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                if n == 0 {
                    let _ = reset_rx.recv();
                    // Linger 0: the close is a reset, so the next write fails at once.
                    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                    drop(s);
                    let _ = done_tx.send(());
                }
            }
        });
        let pool = Pool::new();
        get_bodiless(&pool, &up).await.unwrap();
        assert_eq!(pool.idle_wire_count(&up), 1);
        // The runtime's one thread is blocked from the reset to the request: the
        // reactor cannot see it, and the socket looks reusable.
        reset.send(()).unwrap();
        done.recv_timeout(Duration::from_secs(10)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while socket_alive(&pool, &up) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut head = Vec::new();
        let mut h = http::HeaderMap::new();
        h.insert("host", up.as_str().parse().unwrap());
        h.insert("content-length", "4".parse().unwrap());
        h1::encode_head(&mut head, &Method::POST, "/x", &h);
        let out = h1::Outgoing {
            body: http_body_util::Full::new(Bytes::from_static(b"body")),
            chunked: false,
        };
        let (resp, body) = pool
            .send(&up, &Method::POST, &head, Some(out), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(&body.collect().await.unwrap().to_bytes()[..], b"ok");
        assert_eq!(pool.retried(), 1, "the new-connection path was not taken");
    }

    /// Whether the kernel still has the pooled socket open from our side (a reset has
    /// not been received yet): a zero-length peek errors once it has.
    fn socket_alive(pool: &Pool, up: &Authority) -> bool {
        let mut idles = pool.lock();
        let Some(i) = idles.wire.get_mut(up.as_str()).and_then(VecDeque::back_mut) else {
            return false;
        };
        i.conn.reset_pending()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_unreachable_upstream_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let up: Authority = addr.to_string().parse().unwrap();
        let err = get_bodiless(&Pool::new(), &up).await.unwrap_err();
        assert!(err.starts_with("connect:"), "{err}");
    }
}
