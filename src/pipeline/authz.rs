//! Stages: key state (inactive, expired), API access and version, `allowed_urls`.

use crate::policy::snapshot::acl::Matching;
use crate::policy::snapshot::{Api, Grant, Limits, VersionLocation, VersionRule};
use crate::respond::refusal::GatewayError;
use http::HeaderMap;

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

/// The version a request asks for (or the API's only version). Runs before
/// authentication, as Tyk's version check does.
pub fn requested_version<'a>(
    api: &'a Api,
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    after_prefix: &'a str,
) -> Result<std::borrow::Cow<'a, str>, GatewayError> {
    use std::borrow::Cow;
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
        Limits {
            rate: None,
            quota: None,
            scope: Arc::from(""),
            quota_max: 0,
            quota_remaining: 0,
            quota_renews: 0,
        }
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
