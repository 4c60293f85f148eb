//! tollgate: an API gateway that is a drop-in for the Tyk Gateway in file mode.
//!
//! Every proxied request runs the stages of [`pipeline`] in order over one immutable
//! [`policy::snapshot::Snapshot`], loaded once per request by [`server`]:
//!
//! ```text
//! route → version → authenticate → policies → inactive/expired → API access
//!       → allowed_urls → rate limit → API rate limit → quota → forward
//! ```
//!
//! Files (`tyk.conf`, `apps/*.json`, policies) are read into the raw types of [`tyk`],
//! compiled by [`policy`] into a snapshot, and swapped atomically on reload. Keys live in
//! the embedded [`store`]; limiter and quota state in [`limits`], outside the snapshot,
//! so reloads keep counters. `ARCHITECTURE.md` at the repository root is the map.

#![forbid(unsafe_code)]

pub mod admin;
pub mod cli;
pub mod limits;
pub mod pipeline;
pub mod policy;
pub mod respond;
pub mod server;
pub mod state;
pub mod store;
#[cfg(any(test, feature = "test-util"))]
pub mod testkit;
pub mod tls;
pub mod tyk;
pub mod upstream;
pub mod util;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid configuration:\n{0}")]
    Files(policy::read::Issues),
    #[error("key store: {0}")]
    Store(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, String),
    /// TLS settings or certificate files that cannot be served (every problem).
    #[error("invalid TLS configuration:\n{}", .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Tls(Vec<tls::certs::CertProblem>),
}

impl StartupError {
    /// 2 for bad files (fix the input), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartupError::Files(_) | StartupError::Tls(_) => 2,
            StartupError::Store(_) | StartupError::Bind(..) => 1,
        }
    }
}
