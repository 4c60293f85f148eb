//! Raw types: serde mirrors of Tyk's JSON documents exactly as users write them.
//!
//! These types are what files and REST bodies decode into and what the REST API
//! returns. They never reach the request path: `crate::policy::snapshot` compiles them.
//! Unknown fields are kept in `extra` so a document read and written back by
//! tollgate loses nothing Tyk (or a Dashboard) put there.

pub mod apidef;
pub mod config;
pub(crate) mod encode;
pub mod fields;
pub mod json;
pub mod keys;
pub mod policy;
pub mod session;
pub(crate) mod session_check;

pub use apidef::ApiDefinition;
pub use policy::{Partitions, Policy};
pub use session::{
    AccessDefinition, AccessSpec, ApiLimit, Endpoint, EndpointMethod, RateLimit, Session,
};
