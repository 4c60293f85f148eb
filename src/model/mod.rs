//! Raw types: serde mirrors of Tyk's JSON documents exactly as users write them.
//!
//! These types are what files and REST bodies decode into and what the REST API
//! returns. They never reach the request path: `crate::snapshot` compiles them.
//! Unknown fields are kept in `extra` so a document read and written back by
//! tollgate loses nothing Tyk (or a Dashboard) put there.

pub mod apidef;
pub mod json;
pub mod policy;
pub mod session;

pub use apidef::ApiDefinition;
pub use policy::{Partitions, Policy};
pub use session::{
    AccessDefinition, AccessSpec, ApiLimit, Endpoint, EndpointMethod, RateLimit, Session,
};

pub(crate) fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}
pub(crate) fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
pub(crate) fn is_false(v: &bool) -> bool {
    !*v
}
