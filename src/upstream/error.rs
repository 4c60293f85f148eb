//! Why an upstream exchange or body failed.

use std::io;
use std::time::Duration;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("upstream closed the connection before responding")]
    ClosedBeforeResponse,
    #[error("upstream closed the connection in the middle of the response")]
    ClosedEarly,
    #[error("invalid response from upstream: {0}")]
    Invalid(&'static str),
    #[error("the client's request body failed: {0}")]
    RequestBody(String),
}

/// Why an upstream body streamed to the client ended early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("upstream body stalled for {0:?}")]
    Idle(Duration),
    #[error("upstream body: {0}")]
    Wire(#[from] WireError),
}
