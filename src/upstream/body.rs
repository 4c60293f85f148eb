//! Upstream response bodies streamed through to the client: never buffered whole, ended
//! when the upstream stalls, and their connection returned to the pool only when the
//! body finished cleanly.

pub use super::error::BodyError;
use super::idle::IdleTimer;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Gives a connection back for reuse once its body ended cleanly (the pool's lease).
pub trait Release {
    fn release(self);
}

pin_project_lite::pin_project! {
    /// Streams an upstream body; fails if no frame arrives within `idle`, so a stalled
    /// upstream ends the client's response instead of hanging it. The timer is armed
    /// only when the body actually has to wait: most small bodies arrive with the
    /// headers, and registering a timer per response is measurable under load.
    pub struct Streamed<L: Release> {
        #[pin]
        inner: Incoming,
        timer: IdleTimer,
        // The upstream connection: back to the pool once the body has ended, closed
        // (dropped) if the body is abandoned or fails.
        lease: Option<L>,
    }
    impl<L: Release> PinnedDrop for Streamed<L> {
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

impl<L: Release> Streamed<L> {
    pub fn new(inner: Incoming, idle: Duration, lease: Option<L>) -> Self {
        Streamed {
            inner,
            timer: IdleTimer::new(idle),
            lease,
        }
    }
}

impl<L: Release> Body for Streamed<L> {
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
