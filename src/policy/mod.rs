//! From files to the snapshot a request reads: [`read`] Tyk's documents into raw types,
//! [`apply`] policies to a key as Tyk v5.12+ does (tyk-compat §2), compile everything
//! into one immutable [`snapshot`]; [`watch`] reloads it on file change, [`write`](mod@write) is the
//! policy source the REST APIs write, [`lint`] the warnings `check` prints.

pub mod apply;
pub mod lint;
pub mod read;
pub mod snapshot;
pub mod watch;
pub mod write;
