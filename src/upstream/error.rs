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
}

/// Why a streamed body ended early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("upstream body: {0}")]
    Upstream(#[from] hyper::Error),
    #[error("upstream body stalled for {0:?}")]
    Idle(Duration),
    #[error("upstream body: {0}")]
    Wire(#[from] WireError),
}
