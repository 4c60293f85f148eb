//! Listeners, connections and graceful shutdown: each request goes to the admin API or
//! the proxy pipeline with the snapshot loaded once.

use crate::admin;
use crate::pipeline;
use crate::respond::body::GwBody;
use crate::state::AppState;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Proxied APIs, plus `/tyk/` and `/hello` when there is no separate control port.
    Gateway { with_control: bool },
    /// `/tyk/` and `/hello` only.
    Control,
}

/// How long in-flight requests may take to finish after a shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// On a shared port the Dashboard paths (`/api/portal/policies`, `/api/apis`) yield to an
/// API whose listen path (other than `/`) claims them: a proxied `/api/` keeps its whole
/// path space. (`/tyk/` and the health checks stay reserved, as in Tyk.)
fn claimed_by_api(state: &AppState, path: &str) -> bool {
    crate::admin::dashboard::is_dashboard_path(path)
        && state
            .snapshot
            .load()
            .route(path)
            .is_some_and(|(_, prefix)| prefix.len() > 1)
}

async fn dispatch(
    state: Arc<AppState>,
    role: Role,
    req: Request<Incoming>,
    peer: pipeline::Peer,
) -> Response<GwBody> {
    let control = match role {
        Role::Control => admin::is_control_path(&state.config, req.uri().path()),
        Role::Gateway { with_control } => {
            with_control
                && admin::is_control_path(&state.config, req.uri().path())
                && !claimed_by_api(&state, req.uri().path())
        }
    };
    if control {
        admin::handle(&state, req).await
    } else if role == Role::Control {
        admin::error(http::StatusCode::NOT_FOUND, "Not Found")
    } else {
        pipeline::handle(&state, req, peer).await
    }
}

fn builder() -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        // Without a timer hyper's header timeout silently does nothing.
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    b
}

/// HTTP/2 connections (ALPN `h2` on TLS; h2c through [`auto_builder`]).
fn h2_builder() -> hyper::server::conn::http2::Builder<hyper_util::rt::TokioExecutor> {
    let mut b = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    b.timer(TokioTimer::new())
        // A client cannot hold more than this many requests open on one connection.
        .max_concurrent_streams(256)
        .max_header_list_size(64 * 1024);
    b
}

/// A plain listener with `enable_http2`: HTTP/1.1, or h2c when the connection opens with
/// the HTTP/2 preface (prior knowledge), with the same limits as either builder.
fn auto_builder() -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    let mut b = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .max_header_list_size(64 * 1024);
    b
}

/// How long a client may take to finish the TLS handshake (hyper's header timeout only
/// starts once it is done): a stalled handshake is closed, not held open.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` flips, then drains them. With `tls`, every
/// connection is a TLS one, its handshake done in the connection's own task.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    role: Role,
    tls: Option<Arc<crate::tls::ServerTls>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let builder = builder();
    let h2 = h2_builder();
    let h2c = state
        .config
        .http_server_options
        .enable_http2
        .then(|| Arc::new(auto_builder()));
    // Keeps the timer driver's next wake-up under a second away. Every request arms
    // timers (upstream timeout, hyper's header-read timeout) and cancels them; one
    // armed while no other is pending is earlier than "never", so tokio interrupts its
    // poll to re-arm: an eventfd write plus an extra epoll round per request.
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let st = state.clone();
                let peer_addr = peer;
                let peer = pipeline::Peer::new(peer);
                let svc = service_fn(move |req| {
                    let st = st.clone();
                    let peer = peer.clone();
                    async move { Ok::<_, Infallible>(dispatch(st, role, req, peer).await) }
                });
                if let Some(tls) = &tls {
                    let acceptor = tls.acceptor.clone();
                    let watcher = graceful.watcher();
                    let builder = builder.clone();
                    let h2 = h2.clone();
                    tokio::spawn(async move {
                        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(peer = %peer_addr, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(peer = %peer_addr, "TLS handshake timed out");
                                return;
                            }
                        };
                        let result = if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                            watcher.watch(h2.serve_connection(TokioIo::new(stream), svc)).await
                        } else {
                            watcher.watch(builder.serve_connection(TokioIo::new(stream), svc)).await
                        };
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    });
                    continue;
                }
                if let Some(auto) = &h2c {
                    let auto = auto.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let conn = watcher.watch(auto.serve_connection(TokioIo::new(stream), svc));
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    });
                    continue;
                }
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("drain timeout: closing remaining connections"),
    }
}

/// Drops idle rate limiters every few seconds, off the request path (a limiter idle for
/// longer than its refill is indistinguishable from a fresh one).
async fn sweep_limiters(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => state.limits.sweep(state.limits.clock().unix()),
            _ = shutdown.changed() => break,
        }
    }
}

/// How often idle limiters are swept (the sweep itself skips runs under 10 s apart).
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// A running gateway (used by `serve` and by the integration tests).
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub control_addr: Option<SocketAddr>,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    watcher: Option<crate::policy::watch::Watcher>,
}

impl Running {
    /// Stops accepting, drains, and saves counters.
    pub async fn stop(mut self) {
        self.watcher.take();
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let st = self.state.clone();
        let _ = tokio::task::spawn_blocking(move || st.shutdown()).await;
    }
}

/// Binds the listeners named by the config and starts serving.
pub async fn start(state: Arc<AppState>) -> Result<Running, crate::StartupError> {
    let cfg = state.config.clone();
    let host = if cfg.listen_address.is_empty() {
        "0.0.0.0"
    } else {
        cfg.listen_address.as_str()
    };
    let bind = |port: u16| {
        let addr = format!("{host}:{port}");
        async move {
            TcpListener::bind(&addr)
                .await
                .map_err(|e| crate::StartupError::Bind(addr.clone(), e.to_string()))
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let tls = match crate::tls::server(&cfg.http_server_options, now) {
        Ok(Some((tls, warnings))) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            let tls = Arc::new(tls);
            let _ = state.tls.set(tls.clone());
            Some(tls)
        }
        Ok(None) => None,
        Err(problems) => return Err(crate::StartupError::Tls(problems)),
    };
    let (tx, rx) = watch::channel(false);
    let main = bind(cfg.listen_port).await?;
    let addr = main
        .local_addr()
        .map_err(|e| crate::StartupError::Bind(host.to_string(), e.to_string()))?;
    let mut tasks = Vec::new();
    let mut control_addr = None;
    let separate = cfg.control_api_port != 0 && cfg.control_api_port != cfg.listen_port;
    if separate {
        let ctl = bind(cfg.control_api_port).await?;
        control_addr = ctl.local_addr().ok();
        tasks.push(tokio::spawn(serve(
            ctl,
            state.clone(),
            Role::Control,
            tls.clone(),
            rx.clone(),
        )));
    }
    tasks.push(tokio::spawn(serve(
        main,
        state.clone(),
        Role::Gateway {
            with_control: !separate,
        },
        tls,
        rx,
    )));
    tasks.push(tokio::spawn(sweep_limiters(state.clone(), tx.subscribe())));
    let watcher = crate::policy::watch::start(&state);
    Ok(Running {
        addr,
        control_addr,
        state,
        shutdown: tx,
        tasks,
        watcher,
    })
}
