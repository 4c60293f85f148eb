//! Stage: authorize — key state (inactive, expired), API access and version,
//! `allowed_urls` — and mint the [`Permit`] that rate limiting and quota require.

use crate::policy::snapshot::acl::Matching;
use crate::policy::snapshot::{Api, Grant, Limits, QuotaSpec, RateSpec, VersionRule};
use crate::respond::refusal::GatewayError;
use std::borrow::Cow;
use std::sync::Arc;

/// What authorization allows one request: whose counters (the stored key name), and
/// the rate and quota that apply to it on this API. Its fields are private and this
/// module is the only one that makes one, so a limit can only ever be checked for a
/// request that passed every access check (linkerd2-proxy's `Permitted<T>` in spirit).
#[derive(Debug, Clone)]
pub struct Permit<'a> {
    key: Cow<'a, str>,
    scope: Cow<'a, Arc<str>>,
    rate: Option<RateSpec>,
    quota: Option<QuotaSpec>,
    /// The key's raw quota values, for `X-RateLimit-*` when no quota is enforced.
    shown: (i64, i64, i64),
}

impl Permit<'_> {
    /// The stored key name the counters belong to.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// Counter identity (tyk-compat §6.3): "" = shared by every API of the key.
    pub fn scope(&self) -> &Arc<str> {
        &self.scope
    }
    /// The key's rate limit here; `None` when none applies (or the API disables it).
    pub fn rate(&self) -> Option<RateSpec> {
        self.rate
    }
    /// The enforced quota here; `None` when none applies (or the API disables it).
    pub fn quota(&self) -> Option<QuotaSpec> {
        self.quota
    }
    /// `(quota_max, quota_remaining, quota_renews)` as stored, for the headers.
    pub fn shown_quota(&self) -> (i64, i64, i64) {
        self.shown
    }
    /// The same permit, owning its key name: for the rare checks that finish after the
    /// request's synchronous decision (a durable quota reservation, a refill).
    pub fn into_owned(self) -> Permit<'static> {
        Permit {
            key: Cow::Owned(self.key.into_owned()),
            scope: Cow::Owned(self.scope.into_owned()),
            rate: self.rate,
            quota: self.quota,
            shown: self.shown,
        }
    }
}

/// Where the request is going, as authorization needs it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'r> {
    pub api: &'r Api,
    pub version: &'r str,
    pub method: &'r str,
    /// The percent-decoded path, and the same with the listen path removed.
    pub decoded: &'r str,
    pub stripped_decoded: &'r str,
}

/// Runs the access checks in Tyk's order and mints the permit for the key stored as
/// `key` (authentication's answer: its stored name and compiled grant).
pub fn authorize<'a>(
    key: &'a str,
    grant: &'a Grant,
    to: Target<'_>,
    m: Matching,
    now_unix: i64,
) -> Result<Permit<'a>, GatewayError> {
    check_key_state(grant, now_unix)?;
    let limits = check_access(grant, to.api, to.version)?;
    check_urls(grant, to.api, to.method, to.decoded, to.stripped_decoded, m)?;
    Ok(Permit {
        key: Cow::Borrowed(key),
        scope: Cow::Borrowed(limits.scope()),
        rate: limits.rate().filter(|_| !to.api.disable_rate_limit),
        quota: limits.quota().filter(|_| !to.api.disable_quota),
        shown: limits.shown_quota(),
    })
}

/// Inactive before expired, as Tyk checks them (tyk-compat §4.2).
pub fn check_key_state(grant: &Grant, now_unix: i64) -> Result<(), GatewayError> {
    if grant.inactive {
        return Err(GatewayError::KeyInactive);
    }
    if grant.expires >= 1 && now_unix > grant.expires {
        return Err(GatewayError::KeyExpired);
    }
    Ok(())
}

/// API membership and version access (tyk-compat §5.1, §5.2); returns the key's limits for the API.
pub fn check_access<'g>(
    grant: &'g Grant,
    api: &Api,
    version: &str,
) -> Result<&'g Limits, GatewayError> {
    if grant.all_apis {
        return Ok(&grant.root);
    }
    let entry = grant.apis.get(&*api.id).ok_or(GatewayError::ApiDenied)?;
    if let VersionRule::Versioned {
        default,
        fallback_to_default,
        ..
    } = &api.version
    {
        let allowed = entry.versions.iter().any(|v| v == version)
            || (*fallback_to_default
                && version != default
                && entry.versions.iter().any(|v| v == default));
        if !allowed {
            return Err(GatewayError::ApiDenied);
        }
    }
    Ok(&entry.limits)
}

/// `allowed_urls` (tyk-compat §5.3): only when the key's entry for the API lists some.
pub fn check_urls(
    grant: &Grant,
    api: &Api,
    method: &str,
    full: &str,
    stripped: &str,
    m: Matching,
) -> Result<(), GatewayError> {
    let Some(entry) = grant.apis.get(&*api.id) else {
        return Ok(());
    };
    if entry.urls.allows(method, full, stripped, m) {
        Ok(())
    } else {
        Err(GatewayError::UrlDenied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::read::LoadedApi;
    use crate::policy::snapshot::acl::UrlRule;
    use crate::policy::snapshot::api::compile_api;
    use crate::policy::snapshot::ApiGrant;
    use crate::tyk::json::decode;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn api(extra: &str) -> Api {
        let def = decode(
            format!(r#"{{"api_id": "a", "proxy": {{"listen_path": "/a/", "target_url": "http://h"}}, {extra}}}"#).as_bytes(),
        )
        .unwrap();
        compile_api(&LoadedApi {
            file: "a.json".into(),
            def,
            raw: serde_json::Value::Null,
        })
        .unwrap()
    }

    fn limits() -> Limits {
        Limits::unlimited()
    }

    fn grant(apis: &[(&str, &[&str], Vec<UrlRule>)]) -> Grant {
        let mut m = HashMap::new();
        for (id, versions, urls) in apis {
            m.insert(
                id.to_string(),
                ApiGrant {
                    versions: versions.iter().map(|s| s.to_string()).collect(),
                    urls: crate::policy::snapshot::acl::UrlAcl::build(urls, |p| {
                        crate::policy::snapshot::acl::compile_set(p).map(Arc::new)
                    }),
                    limits: limits(),
                },
            );
        }
        Grant {
            inactive: false,
            expires: 0,
            all_apis: apis.is_empty(),
            apis: m,
            root: limits(),
        }
    }

    #[test]
    fn key_state_table() {
        let mut g = grant(&[]);
        assert_eq!(check_key_state(&g, 100), Ok(()));
        g.expires = 50;
        assert_eq!(check_key_state(&g, 100), Err(GatewayError::KeyExpired));
        assert_eq!(check_key_state(&g, 50), Ok(()));
        g.inactive = true;
        assert_eq!(
            check_key_state(&g, 100),
            Err(GatewayError::KeyInactive),
            "inactive wins over expired"
        );
        g.inactive = false;
        g.expires = -1;
        assert_eq!(check_key_state(&g, 100), Ok(()));
    }

    #[test]
    fn access_table() {
        let nv = api(r#""version_data": {"not_versioned": true, "versions": {"Default": {}}}"#);
        assert!(
            check_access(&grant(&[]), &nv, "Default").is_ok(),
            "master key"
        );
        assert!(check_access(&grant(&[("a", &[], vec![])]), &nv, "Default").is_ok());
        assert_eq!(
            check_access(&grant(&[("b", &[], vec![])]), &nv, "Default").err(),
            Some(GatewayError::ApiDenied)
        );

        let v = api(
            r#""version_data": {"not_versioned": false, "default_version": "v1", "versions": {"v1": {}, "v2": {}}}, "definition": {"location": "header", "key": "x-api-version", "fallback_to_default": true}"#,
        );
        let g = grant(&[("a", &["v1"], vec![])]);
        assert!(check_access(&g, &v, "v1").is_ok());
        assert!(
            check_access(&g, &v, "v2").is_ok(),
            "falls back to the default version"
        );
        let g2 = grant(&[("a", &["v2"], vec![])]);
        assert_eq!(
            check_access(&g2, &v, "v1").err(),
            Some(GatewayError::ApiDenied)
        );
    }

    #[test]
    fn requested_version_table() {
        use crate::pipeline::route::requested_version;
        use http::HeaderMap;
        let v = api(
            r#""version_data": {"not_versioned": false, "default_version": "v1", "versions": {"v1": {}, "v2": {}}}, "definition": {"location": "url-param", "key": "version"}"#,
        );
        let h = HeaderMap::new();
        assert_eq!(
            requested_version(&v, &h, Some("version=v2"), "/x").unwrap(),
            "v2"
        );
        assert_eq!(requested_version(&v, &h, None, "/x").unwrap(), "v1");
        assert_eq!(
            requested_version(&v, &h, Some("version=v9"), "/x").unwrap_err(),
            GatewayError::Version("This API version does not seem to exist")
        );
        let nv = api(r#""version_data": {"not_versioned": true, "versions": {}}"#);
        assert_eq!(
            requested_version(&nv, &h, None, "/").unwrap_err(),
            GatewayError::Version("No default API version for this non-versioned API found")
        );
    }

    #[test]
    fn urls_table() {
        let a = api(r#""version_data": {"not_versioned": true, "versions": {"Default": {}}}"#);
        let rule = UrlRule {
            methods: vec!["GET".into()],
            re: Some(Arc::new(regex::Regex::new("^/a/users/[0-9]+$").unwrap())),
        };
        let g = grant(&[("a", &[], vec![rule])]);
        let m = Matching::default();
        assert_eq!(
            check_urls(&g, &a, "GET", "/a/users/1", "/users/1", m),
            Ok(())
        );
        assert_eq!(
            check_urls(&g, &a, "POST", "/a/users/1", "/users/1", m),
            Err(GatewayError::UrlDenied)
        );
        assert_eq!(
            check_urls(&g, &a, "GET", "/a/admin", "/admin", m),
            Err(GatewayError::UrlDenied)
        );
        assert_eq!(
            check_urls(&grant(&[("a", &[], vec![])]), &a, "DELETE", "/a/x", "/x", m),
            Ok(())
        );
    }
}
