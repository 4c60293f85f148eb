//! The idle timeout of a streamed upstream body, shared by both body types.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

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
