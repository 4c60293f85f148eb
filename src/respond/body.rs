//! The one response body type: a small buffer for gateway-made answers, or the
//! upstream's body streamed through with an idle timeout (never buffered whole).

use crate::upstream::h1::WireBody;
use crate::upstream::Lease;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pin_project_lite::pin_project! {
    /// Streams an upstream body; fails if no frame arrives within `idle`, so a stalled
    /// upstream ends the client's response instead of hanging it. The timer is armed
    /// only when the body actually has to wait: most small bodies arrive with the
    /// headers, and registering a timer per response is measurable under load.
    pub struct Streamed {
        #[pin]
        inner: Incoming,
        timer: IdleTimer,
        // The upstream connection: back to the pool once the body has ended, closed
        // (dropped) if the body is abandoned or fails.
        lease: Option<Lease>,
    }
    impl PinnedDrop for Streamed {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(lease) = this.lease.take() {
                if this.inner.is_end_stream() {
                    lease.release();
                }
            }
        }
    }
}

impl Streamed {
    pub fn new(inner: Incoming, idle: Duration, lease: Option<Lease>) -> Self {
        Streamed {
            inner,
            timer: IdleTimer::new(idle),
            lease,
        }
    }
}

/// The idle timeout of a streamed upstream body. Armed only when the body actually has
/// to wait: most small bodies arrive with the headers, and registering a timer per
/// response is measurable under load.
pub struct IdleTimer {
    timer: Option<Pin<Box<Sleep>>>,
    idle: Duration,
}

impl IdleTimer {
    pub fn new(idle: Duration) -> Self {
        IdleTimer { timer: None, idle }
    }

    /// A frame arrived: the wait starts over.
    pub fn progressed(&mut self) {
        if let Some(t) = self.timer.as_mut() {
            t.as_mut().reset(Instant::now() + self.idle);
        }
    }

    /// The body is waiting: ready (with the timeout) once it has waited too long.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Duration> {
        let idle = self.idle;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        timer.as_mut().poll(cx).map(|()| idle)
    }
}

/// Why a streamed body ended early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("upstream body: {0}")]
    Upstream(#[from] hyper::Error),
    #[error("upstream body stalled for {0:?}")]
    Idle(Duration),
    #[error("upstream body: {0}")]
    Wire(#[from] crate::upstream::h1::WireError),
}

pin_project_lite::pin_project! {
    #[project = GwBodyProj]
    pub enum GwBody {
        Full { data: Option<Bytes> },
        Stream { #[pin] inner: Streamed },
        Wire { #[pin] inner: WireBody },
    }
}

impl GwBody {
    pub fn full(data: impl Into<Bytes>) -> Self {
        GwBody::Full {
            data: Some(data.into()),
        }
    }
    pub fn empty() -> Self {
        GwBody::Full { data: None }
    }
    pub fn stream(inner: Incoming, idle: Duration) -> Self {
        GwBody::Stream {
            inner: Streamed::new(inner, idle, None),
        }
    }
    /// Streams an upstream body whose connection goes back to the pool at its end.
    pub fn stream_leased(inner: Incoming, idle: Duration, lease: Lease) -> Self {
        GwBody::Stream {
            inner: Streamed::new(inner, idle, Some(lease)),
        }
    }
}

impl Body for GwBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.project() {
            GwBodyProj::Full { data } => Poll::Ready(
                data.take()
                    .filter(|d| !d.is_empty())
                    .map(|d| Ok(Frame::data(d))),
            ),
            GwBodyProj::Wire { inner } => inner.poll_frame(cx),
            GwBodyProj::Stream { inner } => {
                let s = inner.project();
                match s.inner.poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        s.timer.progressed();
                        Poll::Ready(Some(Ok(frame)))
                    }
                    Poll::Ready(Some(Err(e))) => {
                        // A broken connection is never reused.
                        s.lease.take();
                        Poll::Ready(Some(Err(BodyError::Upstream(e))))
                    }
                    Poll::Ready(None) => {
                        if let Some(lease) = s.lease.take() {
                            lease.release();
                        }
                        Poll::Ready(None)
                    }
                    Poll::Pending => s.timer.poll_expired(cx).map(|idle| {
                        s.lease.take();
                        Some(Err(BodyError::Idle(idle)))
                    }),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GwBody::Full { data } => data.as_ref().is_none_or(|d| d.is_empty()),
            GwBody::Stream { inner } => inner.inner.is_end_stream(),
            GwBody::Wire { inner } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GwBody::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            GwBody::Stream { inner } => inner.inner.size_hint(),
            GwBody::Wire { inner } => inner.size_hint(),
        }
    }
}
