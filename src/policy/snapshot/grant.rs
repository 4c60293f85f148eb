//! A key's effective rights after its policies are applied, compiled for the request path.

use super::acl::{self, UrlAcl, UrlRule};
use super::api::RateSpec;
use super::policies::Policies;
use super::regexes::Regexes;
use crate::policy::apply::{self as policy, ApplyError};
use crate::tyk::{ApiLimit, Session};
use std::collections::HashMap;
use std::sync::Arc;

/// An enforced quota: `max` requests per `renewal` seconds (renewal ≤ 0: never renews).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSpec {
    pub max: u64,
    pub renewal: i64,
}

/// The limits that apply to one API for one key, and the counter scope they use. Read
/// only: built here from the merged session, enforced through an authorization permit.
#[derive(Debug, Clone)]
pub struct Limits {
    rate: Option<RateSpec>,
    quota: Option<QuotaSpec>,
    /// Counter identity (tyk-compat §6.3): "" = shared by every API of the key.
    scope: Arc<str>,
    /// Raw values for `X-RateLimit-*` when the quota is not enforced.
    quota_max: i64,
    quota_remaining: i64,
    quota_renews: i64,
}

impl Limits {
    pub fn rate(&self) -> Option<RateSpec> {
        self.rate
    }
    pub fn quota(&self) -> Option<QuotaSpec> {
        self.quota
    }
    pub fn scope(&self) -> &Arc<str> {
        &self.scope
    }
    /// `(quota_max, quota_remaining, quota_renews)` as stored.
    pub fn shown_quota(&self) -> (i64, i64, i64) {
        (self.quota_max, self.quota_remaining, self.quota_renews)
    }

    /// No limits, shared scope: what a table test of the access stages needs.
    #[cfg(test)]
    pub(crate) fn unlimited() -> Limits {
        Limits::from_api_limit(&ApiLimit::default(), "")
    }

    fn from_api_limit(l: &ApiLimit, scope: &str) -> Limits {
        Limits {
            rate: RateSpec::from_limit(l.rate_limit()),
            quota: (l.quota_max > 0).then_some(QuotaSpec {
                max: l.quota_max as u64,
                renewal: l.quota_renewal_rate,
            }),
            scope: Arc::from(scope),
            quota_max: l.quota_max,
            quota_remaining: l.quota_remaining,
            quota_renews: l.quota_renews,
        }
    }
}

/// What one key may do on one API.
#[derive(Debug, Clone)]
pub struct ApiGrant {
    pub versions: Vec<String>,
    /// `allowed_urls`, compiled (unrestricted when the entry lists none).
    pub urls: UrlAcl,
    pub limits: Limits,
}

/// A key's compiled grant.
#[derive(Debug, Clone)]
pub struct Grant {
    pub inactive: bool,
    /// Unix seconds; ≤ 0 = never.
    pub expires: i64,
    /// No access rights at all: a master key, allowed on every API.
    pub all_apis: bool,
    pub apis: HashMap<String, ApiGrant>,
    /// Root limits, used for master keys.
    pub root: Limits,
}

impl Grant {
    /// Limits for `api_id` (root limits for master keys).
    pub fn limits(&self, api_id: &str) -> Option<&Limits> {
        if self.all_apis {
            Some(&self.root)
        } else {
            self.apis.get(api_id).map(|a| &a.limits)
        }
    }
}

/// Applies the key's policies (tyk-compat §2) to its (freshly decoded) session and
/// compiles the result.
pub fn build(
    policies: &Policies,
    rx: &Regexes,
    m: acl::Matching,
    mut s: Session,
    context_org: Option<&Arc<str>>,
) -> Result<Grant, ApplyError> {
    policy::apply_policies(&mut s, policies, context_org.map(|o| &**o))?;
    Ok(compile(rx, m, &s))
}

/// Compiles an already merged session.
pub fn compile(rx: &Regexes, m: acl::Matching, s: &Session) -> Grant {
    let mut apis = HashMap::with_capacity(s.access_rights.len());
    for (api_id, ad) in &s.access_rights {
        let (limit, scope) = policy::limit_for_api(s, api_id);
        let rules: Vec<UrlRule> = ad
            .allowed_urls
            .iter()
            .map(|spec| UrlRule {
                methods: spec.methods.clone(),
                re: rx.regex(&acl::tyk_pattern(&spec.url, m)),
            })
            .collect();
        let urls = UrlAcl::build(&rules, |patterns| rx.regex_set(patterns));
        apis.insert(
            api_id.clone(),
            ApiGrant {
                versions: ad.versions.clone(),
                urls,
                limits: Limits::from_api_limit(&limit, &scope),
            },
        );
    }
    let root = ApiLimit {
        rate: s.rate,
        per: s.per,
        quota_max: s.quota_max,
        quota_renewal_rate: s.quota_renewal_rate,
        quota_remaining: s.quota_remaining,
        quota_renews: s.quota_renews,
        ..Default::default()
    };
    Grant {
        inactive: s.is_inactive,
        expires: s.expires,
        all_apis: s.access_rights.is_empty(),
        apis,
        root: Limits::from_api_limit(&root, ""),
    }
}
