//! A lean HTTP/1 connection pool for upstream requests, built directly on
//! `hyper::client::conn::http1`: one `SendRequest` per connection, idle senders kept
//! in a small LIFO per target authority. A sender goes back to the pool only once its
//! response body has been read to the end (see [`Lease`] and `body::Streamed`);
//! otherwise it is dropped and hyper closes the connection.

use http::uri::Authority;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Idle connections kept per authority.
const MAX_IDLE_PER_HOST: usize = 1024;
/// Idle connections older than this are closed on the next checkout.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

type Sender = SendRequest<Incoming>;

/// Why an upstream request failed (before a response head arrived).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("handshake: {0}")]
    Handshake(hyper::Error),
    #[error("{0}")]
    Http(hyper::Error),
}

impl UpstreamError {
    pub fn is_connect(&self) -> bool {
        matches!(self, UpstreamError::Connect(_))
    }
}

struct Idle {
    sender: Sender,
    since: Instant,
}

#[derive(Default)]
struct Inner {
    idle: Mutex<HashMap<Authority, VecDeque<Idle>>>,
}

/// The upstream connection pool (cheap to clone).
#[derive(Clone, Default)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

/// A connection in use; give it back with [`Lease::release`] once the response body has
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

impl Lease {
    /// Returns the connection to the pool for reuse.
    pub fn release(self) {
        self.pool.put(self.key, self.sender);
    }
}

impl Pool {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Authority, VecDeque<Idle>>> {
        self.inner.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `req` (origin-form URI) to `authority` over a pooled connection, or a new
    /// one. A request refused by a pooled connection that closed before it was sent is
    /// retried once on a fresh connection.
    pub async fn request(
        &self,
        authority: &Authority,
        req: Request<Incoming>,
    ) -> Result<(Response<Incoming>, Lease), UpstreamError> {
        let mut req = req;
        if let Some(mut sender) = self.checkout(authority) {
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok((resp, self.lease(authority, sender))),
                Err(mut e) => match e.take_message() {
                    Some(back) => {
                        tracing::debug!(error = %e.error(), "pooled upstream connection closed before sending; retrying on a new one");
                        req = back;
                    }
                    None => return Err(UpstreamError::Http(e.into_error())),
                },
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
    fn checkout(&self, key: &Authority) -> Option<Sender> {
        let mut dropped = Vec::new();
        let found = {
            let mut map = self.lock();
            let list = map.get_mut(key)?;
            if list
                .front()
                .is_some_and(|i| i.since.elapsed() > IDLE_TIMEOUT)
            {
                let now = Instant::now();
                while list
                    .front()
                    .is_some_and(|i| now.duration_since(i.since) > IDLE_TIMEOUT)
                {
                    dropped.extend(list.pop_front());
                }
            }
            let mut found = None;
            let mut i = list.len();
            while i > 0 {
                i -= 1;
                let Some(entry) = list.get(i) else { break };
                if entry.sender.is_ready() {
                    found = list.remove(i).map(|e| e.sender);
                    break;
                }
                if entry.sender.is_closed() {
                    dropped.extend(list.remove(i));
                }
            }
            found
        };
        drop(dropped);
        found
    }

    fn put(&self, key: Authority, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let idle = Idle {
            sender,
            since: Instant::now(),
        };
        let mut map = self.lock();
        match map.get_mut(&key) {
            Some(list) if list.len() >= MAX_IDLE_PER_HOST => {
                drop(map);
                drop(idle);
            }
            Some(list) => list.push_back(idle),
            None => {
                map.insert(key, VecDeque::from([idle]));
            }
        }
    }

    /// Idle connections held for `key` (for tests).
    pub fn idle_count(&self, key: &Authority) -> usize {
        self.lock().get(key).map_or(0, VecDeque::len)
    }
}

/// Opens a TCP connection (connect timeout, `TCP_NODELAY`, keepalive) and runs the
/// HTTP/1 handshake; the connection task runs on its own.
async fn connect(authority: &Authority) -> Result<Sender, UpstreamError> {
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
