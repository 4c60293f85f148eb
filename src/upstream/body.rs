//! Upstream response bodies streamed through to the client: never buffered whole, ended
//! when the upstream stalls, and their connection returned to the pool only when the
//! body finished cleanly.

use super::Lease;
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
    Wire(#[from] super::h1::WireError),
}

impl Body for Streamed {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let s = self.project();
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

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
