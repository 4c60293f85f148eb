//! Raw types: serde mirrors of Tyk's JSON documents exactly as users write them.
//!
//! These types are what files and REST bodies decode into and what the REST API
//! returns. They never reach the request path: `crate::policy::snapshot` compiles them.
//! Unknown fields are kept in `extra` so a document read and written back by
//! tollgate loses nothing Tyk (or a Dashboard) put there.

pub mod apidef;
pub mod config;
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

pub(crate) fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}
pub(crate) fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
pub(crate) fn is_false(v: &bool) -> bool {
    !*v
}

/// Go's encoder writes an integral float64 as `5`, not `5.0`; match it so documents
/// round-trip byte-for-byte through tools that compare text.
pub(crate) fn ser_num<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}
