//! Applying security policies to a key exactly as Tyk v5.12+ does (tyk-compat §2).

pub mod apply;

pub use apply::{apply_policies, ApplyError, PolicyLookup};
