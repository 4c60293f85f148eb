//! Compiled API definitions and the routing table.

use crate::policy::read::{Issue, LoadedApi};
use crate::tyk::RateLimit;
use http::uri::{Authority, Scheme};
use http::HeaderName;
use std::sync::Arc;

/// Where the key is read from, resolved once (tyk-compat §4.1).
#[derive(Debug, Clone)]
pub struct AuthSpec {
    /// `None` when `disable_header` is set.
    pub header: Option<HeaderName>,
    pub param: Option<String>,
    pub cookie: Option<String>,
}

/// How the requested version is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRule {
    /// Non-versioned: the single version, or the error Tyk answers with (403).
    NotVersioned(Result<String, &'static str>),
    Versioned {
        location: VersionLocation,
        key: String,
        default: String,
        fallback_to_default: bool,
        names: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionLocation {
    Header,
    UrlParam,
    Url,
}

/// A rate of `rate` per `per` seconds that is actually enforced (rate > 0, per > 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSpec {
    pub rate: f64,
    pub per: f64,
}

impl RateSpec {
    pub fn from_limit(l: RateLimit) -> Option<RateSpec> {
        (l.rate > 0.0 && l.per > 0.0).then_some(RateSpec {
            rate: l.rate,
            per: l.per,
        })
    }
}

/// Where requests are forwarded.
#[derive(Debug, Clone)]
pub struct Target {
    pub scheme: Scheme,
    pub authority: Authority,
    /// `Host` for upstream requests (the authority), made once at compile time.
    pub host: http::HeaderValue,
    /// Path prefix of `target_url` without a trailing `/` (may be empty).
    pub base_path: String,
}

/// One API, compiled.
#[derive(Debug)]
pub struct Api {
    pub id: Arc<str>,
    pub name: String,
    pub org_id: Arc<str>,
    pub listen_path: String,
    pub strip_listen_path: bool,
    pub keyless: bool,
    pub auth: AuthSpec,
    pub target: Target,
    pub version: VersionRule,
    pub strip_auth_data: bool,
    pub disable_rate_limit: bool,
    pub disable_quota: bool,
    pub dont_set_quota_on_create: bool,
    pub global_rate: Option<RateSpec>,
    pub file: String,
}

/// A listen-path prefix pointing at an API.
#[derive(Debug, Clone)]
pub struct Route {
    pub prefix: String,
    pub api: usize,
}

/// Compiles one API definition; problems are reported with file and field.
pub fn compile_api(loaded: &LoadedApi) -> Result<Api, Vec<Issue>> {
    let d = &loaded.def;
    let file = loaded.file.clone();
    let mut issues = Vec::new();
    let mut bad = |path: &str, reason: String| issues.push(Issue::new(file.clone(), path, reason));

    if d.api_id.is_empty() {
        bad("api_id", "must not be empty".into());
    } else if d.api_id.contains('/') || d.api_id.chars().any(char::is_whitespace) {
        bad("api_id", "must not contain '/' or spaces".into());
    }
    let mut listen_path = d.proxy.listen_path.clone();
    if listen_path.is_empty() {
        bad("proxy.listen_path", "must not be empty".into());
    } else if listen_path.chars().any(char::is_whitespace) {
        bad("proxy.listen_path", "must not contain spaces".into());
    }
    if !listen_path.starts_with('/') {
        listen_path.insert(0, '/');
    }
    let target = match parse_target(&d.proxy.target_url) {
        Ok(t) => Some(t),
        Err(reason) => {
            bad("proxy.target_url", reason);
            None
        }
    };
    let auth_cfg = d.auth_config();
    let header_name = if auth_cfg.auth_header_name.is_empty() {
        "Authorization".to_string()
    } else {
        auth_cfg.auth_header_name.clone()
    };
    let header = if auth_cfg.disable_header {
        None
    } else {
        match HeaderName::from_bytes(header_name.as_bytes()) {
            Ok(h) => Some(h),
            Err(_) => {
                bad(
                    "auth.auth_header_name",
                    format!("{header_name:?} is not a valid header name"),
                );
                None
            }
        }
    };
    let param = auth_cfg.use_param.then(|| {
        if auth_cfg.param_name.is_empty() {
            header_name.clone()
        } else {
            auth_cfg.param_name.clone()
        }
    });
    let cookie = auth_cfg.use_cookie.then(|| {
        if auth_cfg.cookie_name.is_empty() {
            header_name.clone()
        } else {
            auth_cfg.cookie_name.clone()
        }
    });
    let version = compile_version(d);
    if let VersionRule::Versioned { location: _, .. } = &version {
        if !matches!(
            d.definition.location.as_str(),
            "header" | "url-param" | "url" | ""
        ) {
            bad(
                "definition.location",
                format!(
                    "must be \"header\", \"url-param\" or \"url\", got {:?}",
                    d.definition.location
                ),
            );
        }
    }
    // A target is missing only when an issue says why.
    let (Some(target), true) = (target, issues.is_empty()) else {
        return Err(issues);
    };
    Ok(Api {
        id: Arc::from(d.api_id.as_str()),
        name: d.name.clone(),
        org_id: Arc::from(d.org_id.as_str()),
        listen_path,
        strip_listen_path: d.proxy.strip_listen_path,
        keyless: d.use_keyless,
        auth: AuthSpec {
            header,
            param,
            cookie,
        },
        target,
        version,
        strip_auth_data: d.strip_auth_data,
        disable_rate_limit: d.disable_rate_limit,
        disable_quota: d.disable_quota,
        dont_set_quota_on_create: d.dont_set_quota_on_create,
        global_rate: RateSpec::from_limit(d.global_rate_limit.limit()),
        file: loaded.file.clone(),
    })
}

fn parse_target(url: &str) -> Result<Target, String> {
    if url.is_empty() {
        return Err("must not be empty".into());
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
    let scheme = uri
        .scheme()
        .cloned()
        .ok_or_else(|| format!("{url:?} has no scheme (http://...)"))?;
    if scheme != Scheme::HTTP {
        return Err(format!("{url:?}: only http:// upstreams are supported"));
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| format!("{url:?} has no host"))?;
    let base_path = uri.path().trim_end_matches('/').to_string();
    let host = http::HeaderValue::from_str(authority.as_str())
        .map_err(|_| format!("{url:?}: host is not a valid Host header"))?;
    Ok(Target {
        scheme,
        authority,
        host,
        base_path,
    })
}

fn compile_version(d: &crate::tyk::ApiDefinition) -> VersionRule {
    let vd = &d.version_data;
    if vd.not_versioned {
        let names: Vec<&String> = vd.versions.keys().collect();
        let rule = if names.len() == 1 {
            Ok(names[0].clone())
        } else {
            let defaults: Vec<&&String> = names
                .iter()
                .filter(|n| matches!(n.as_str(), "Default" | "default" | ""))
                .collect();
            match defaults.len() {
                0 => Err("No default API version for this non-versioned API found"),
                1 => Ok((*defaults[0]).clone()),
                _ => Err("Ambiguous default API version for this non-versioned API"),
            }
        };
        VersionRule::NotVersioned(rule)
    } else {
        let location = match d.definition.location.as_str() {
            "url-param" => VersionLocation::UrlParam,
            "url" => VersionLocation::Url,
            _ => VersionLocation::Header,
        };
        let key = if d.definition.key.is_empty() {
            "x-api-version".to_string()
        } else {
            d.definition.key.clone()
        };
        VersionRule::Versioned {
            location,
            key,
            default: vd.default_version.clone(),
            fallback_to_default: d.definition.fallback_to_default,
            names: vd.versions.keys().cloned().collect(),
        }
    }
}

/// Builds the routing table: listen paths longest first, then the `/<api_id>/` aliases.
pub fn build_routes(apis: &[Arc<Api>]) -> Vec<Route> {
    let mut routes: Vec<Route> = Vec::with_capacity(apis.len() * 2);
    for (i, api) in apis.iter().enumerate() {
        routes.push(Route {
            prefix: api.listen_path.clone(),
            api: i,
        });
        let alias = format!("/{}/", api.id);
        if alias != api.listen_path {
            routes.push(Route {
                prefix: alias,
                api: i,
            });
        }
    }
    // Longest prefix first; ties keep file order so the result is deterministic.
    routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    routes
}

/// Finds the API for `path`. With `strict`, `/app` matches `/app` and `/app/...` but not `/apple`.
pub fn route<'r>(routes: &'r [Route], path: &str, strict: bool) -> Option<&'r Route> {
    routes.iter().find(|r| {
        if !path.starts_with(r.prefix.as_str()) {
            return false;
        }
        if !strict || r.prefix.ends_with('/') {
            return true;
        }
        matches!(path.as_bytes().get(r.prefix.len()), None | Some(b'/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tyk::json::decode;

    fn api(json: &str) -> Result<Api, Vec<Issue>> {
        let def = decode(json.as_bytes()).unwrap();
        compile_api(&LoadedApi {
            file: "a.json".into(),
            def,
            raw: serde_json::Value::Null,
        })
    }

    #[test]
    fn compile_reports_every_field() {
        let e = api(r#"{"proxy": {"listen_path": "", "target_url": "ftp://x"}}"#).unwrap_err();
        let paths: Vec<&str> = e.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["api_id", "proxy.listen_path", "proxy.target_url"]);
    }

    #[test]
    fn compile_defaults() {
        let a = api(r#"{"api_id": "a", "proxy": {"listen_path": "x/", "target_url": "http://127.0.0.1:1/base/"}, "version_data": {"not_versioned": true, "versions": {"v1": {}}}}"#).unwrap();
        assert_eq!(a.listen_path, "/x/");
        assert_eq!(a.target.base_path, "/base");
        assert_eq!(a.auth.header.as_ref().unwrap().as_str(), "authorization");
        assert_eq!(a.version, VersionRule::NotVersioned(Ok("v1".into())));
    }

    #[test]
    fn non_versioned_default_resolution() {
        let v = |versions: &str| {
            api(&format!(r#"{{"api_id": "a", "proxy": {{"listen_path": "/x", "target_url": "http://h"}}, "version_data": {{"not_versioned": true, "versions": {versions}}}}}"#))
                .unwrap()
                .version
        };
        assert_eq!(
            v("{}"),
            VersionRule::NotVersioned(Err(
                "No default API version for this non-versioned API found"
            ))
        );
        assert_eq!(
            v(r#"{"a": {}, "Default": {}}"#),
            VersionRule::NotVersioned(Ok("Default".into()))
        );
        assert_eq!(
            v(r#"{"default": {}, "Default": {}}"#),
            VersionRule::NotVersioned(Err(
                "Ambiguous default API version for this non-versioned API"
            ))
        );
    }

    #[test]
    fn routing_table() {
        let mk = |id: &str, lp: &str| {
            Arc::new(api(&format!(r#"{{"api_id": "{id}", "proxy": {{"listen_path": "{lp}", "target_url": "http://h"}}}}"#)).unwrap())
        };
        let apis = vec![mk("a", "/app"), mk("b", "/app/v2/"), mk("c", "/")];
        let routes = build_routes(&apis);
        let cases: &[(&str, bool, Option<usize>)] = &[
            ("/app/x", false, Some(0)),
            ("/app/v2/x", false, Some(1)),
            ("/apple", false, Some(0)),
            ("/apple", true, Some(2)),
            ("/app", true, Some(0)),
            ("/b/thing", false, Some(1)),
            ("/zzz", false, Some(2)),
        ];
        for (path, strict, want) in cases {
            assert_eq!(
                route(&routes, path, *strict).map(|r| r.api),
                *want,
                "{path} strict={strict}"
            );
        }
        assert_eq!(
            route(&build_routes(&apis[..1]), "/nope", false).map(|r| r.api),
            None
        );
    }
}
