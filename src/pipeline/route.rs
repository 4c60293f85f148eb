//! Stage: route by listen path, then find the version the request asks for.

use crate::policy::snapshot::{Api, Snapshot, VersionLocation, VersionRule};
use crate::respond::refusal::GatewayError;
use http::HeaderMap;
use std::borrow::Cow;
use std::sync::Arc;

/// The API a request is for (from the snapshot), the listen path that matched and the
/// version asked for (from the request).
#[derive(Debug)]
pub struct Routed<'s, 'q> {
    pub api: &'s Arc<Api>,
    pub prefix: &'s str,
    pub version: Cow<'q, str>,
}

/// Routes `path` (canonical) and reads the version, before authentication as in Tyk.
pub fn route<'s: 'q, 'q>(
    snap: &'s Snapshot,
    path: &'q str,
    headers: &'q HeaderMap,
    query: Option<&'q str>,
) -> Result<Routed<'s, 'q>, GatewayError> {
    let (api, prefix) = snap.route(path).ok_or(GatewayError::NoRoute)?;
    let version = requested_version(api, headers, query, strip_prefix(path, prefix))?;
    Ok(Routed {
        api,
        prefix,
        version,
    })
}

/// The path with the listen path removed (always starting with `/`).
pub fn strip_prefix<'p>(path: &'p str, prefix: &str) -> &'p str {
    let p = prefix.trim_end_matches('/');
    match path.strip_prefix(p) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        // Non-strict routes match mid-segment (`/app` serves `/apple`): keep the rest as is.
        Some(_) | None => path,
    }
}

/// The version a request asks for (or the API's only version). Runs before
/// authentication, as Tyk's version check does.
pub fn requested_version<'a>(
    api: &'a Api,
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    after_prefix: &'a str,
) -> Result<std::borrow::Cow<'a, str>, GatewayError> {
    match &api.version {
        VersionRule::NotVersioned(Ok(v)) => Ok(Cow::Borrowed(v.as_str())),
        VersionRule::NotVersioned(Err(msg)) => Err(GatewayError::Version(msg)),
        VersionRule::Versioned {
            location,
            key,
            default,
            names,
            ..
        } => {
            let asked: Option<Cow<'a, str>> = match location {
                VersionLocation::Header => headers
                    .get(key.as_str())
                    .and_then(|v| v.to_str().ok())
                    .map(Cow::Borrowed),
                VersionLocation::UrlParam => query.and_then(|q| super::authn::query_param(q, key)),
                VersionLocation::Url => after_prefix
                    .split('/')
                    .find(|s| !s.is_empty())
                    .map(Cow::Borrowed),
            }
            .filter(|v| !v.is_empty());
            let v = match asked {
                Some(v) => v,
                None if !default.is_empty() => Cow::Borrowed(default.as_str()),
                None => return Err(GatewayError::Version("Version information not found")),
            };
            if names.iter().any(|n| *n == v) {
                Ok(v)
            } else {
                Err(GatewayError::Version(
                    "This API version does not seem to exist",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_path_stripping() {
        for (path, prefix, want) in [
            ("/api/users", "/api/", "/users"),
            ("/api/users", "/api", "/users"),
            ("/api", "/api", "/"),
            ("/api/", "/api/", "/"),
            ("/x/y", "/", "/x/y"),
            ("/apple", "/app", "/apple"),
        ] {
            assert_eq!(strip_prefix(path, prefix), want, "{path} - {prefix}");
        }
    }
}
