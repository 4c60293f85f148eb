//! Applying security policies to a key session, as Tyk v5.12+ does (tyk-compat §2).
//!
//! The result must match Tyk field for field, including its quirks: a key's own
//! rate/quota are wiped for every partition a policy covers, "higher allowance
//! wins" comparisons use per/rate durations, `-1` means unlimited for quotas and
//! query depth, and APIs granted by different ACL policies get separate counters.
//!
//! Where Tyk iterates a Go map (random order) but the outcome can depend on it,
//! this module iterates `BTreeMap`s in key order so results are reproducible.
//!
//! On error the session may already be partially modified (Tyk mutates in place
//! too); callers must treat it as rejected and discard the modified copy.

use crate::tyk::session::GraphqlType;
use crate::tyk::{
    AccessDefinition, AccessSpec, ApiLimit, Endpoint, EndpointMethod, Policy, RateLimit, Session,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Where policies are looked up. Implemented by the compiled snapshot (policies stored per (org_id, id)).
pub trait PolicyLookup {
    /// The policy with this id stored under this org (exact match on org_id), if any.
    fn policy(&self, org_id: &str, id: &str) -> Option<&Policy>;
}

/// Why policies could not be applied. The `Display` strings are Tyk's own (tyk-compat §2.5),
/// because they surface verbatim in REST responses such as `Failed to create key - <error>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The key lists exactly one policy and it does not exist (under the lookup org).
    #[error("policy not found: {}", go_quote(.0))]
    PolicyNotFound(String),
    /// A found policy belongs to another organisation than the API being accessed.
    #[error("attempting to apply policy from different organisation to key, skipping")]
    OrgMismatch { policy_id: String },
    /// A policy sets `per_api` together with a quota/rate_limit/acl/complexity partition.
    #[error("cannot apply policy {0} which has per_api and any of partitions set")]
    PerApiWithPartitions(String),
    /// A per_api policy follows a partitioned one, or a partitioned one follows a per_api one.
    #[error("cannot apply multiple policies when some have per_api set and some are partitioned")]
    MixedPerApiAndPartitioned,
    /// Policies were listed but none of them granted access to any API.
    #[error("key has no valid policies to be applied")]
    NoValidPolicies,
    /// `meta_data.policies` is an array but its entries are not valid policy objects.
    /// (Tyk silently falls back to `apply_policies` here; tollgate rejects the key instead.)
    #[error("invalid custom policies in meta_data.policies: {0}")]
    InvalidCustomPolicies(String),
}

/// Formats a string the way Go's `%q` does, so `policy not found: "<id>"` is byte-identical.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            // Go's IsPrint rejects controls and every space except U+0020.
            c if !c.is_ascii() && (c.is_control() || c.is_whitespace()) => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Applies the key's policies to `session` in place (tyk-compat §2.1–2.4).
/// `context_org`: Some(api org) when applied for a request to a specific API; None for REST previews.
/// Lookup: under the key's org_id, or — if the key's org_id is empty — under the context org (v5.12+ §2.2).
/// After finding a policy, if context_org is Some(o) and policy.org_id != o → org-mismatch error.
pub fn apply_policies(
    session: &mut Session,
    store: &dyn PolicyLookup,
    context_org: Option<&str>,
) -> Result<(), ApplyError> {
    let lookup_org = if session.org_id.is_empty() {
        context_org.unwrap_or("").to_string()
    } else {
        session.org_id.clone()
    };

    // Tyk clears from the store-listed policies even when custom policies end up being
    // applied, so this runs before (and independently of) the custom-policy decision.
    clear_session(session, store, &lookup_org);

    let custom = match Policy::custom_from_session(session) {
        None => None,
        Some(Ok(list)) => Some(list),
        Some(Err(e)) => return Err(ApplyError::InvalidCustomPolicies(e)),
    };
    let ids: Vec<String> = match &custom {
        Some(list) => list.iter().map(|p| p.id.clone()).collect(),
        None => session
            .policy_ids()
            .into_iter()
            .map(str::to_string)
            .collect(),
    };

    // PRODUCT.md §4: a key is inactive when its own flag is set or any applied policy's
    // is. (Tyk v5.8.10+ drops the key's own flag once it has policies; an operator who
    // deactivates a key expects it to stay off, so tollgate keeps it: deny by default.)
    let mut inactive = session.is_inactive;
    let mut run = Run::default();
    let mut policy_tags: Vec<String> = Vec::new();

    for id in &ids {
        let found = match &custom {
            // Tyk's in-memory store for custom policies returns the first policy with that id.
            Some(list) => list
                .iter()
                .find(|p| &p.id == id)
                .map(|p| (p, p.id.as_str())),
            None => store.policy(&lookup_org, id).map(|p| (p, p.effective_id())),
        };
        let Some((policy, policy_id)) = found else {
            if ids.len() > 1 {
                continue;
            }
            return Err(ApplyError::PolicyNotFound(id.clone()));
        };
        if let Some(org) = context_org {
            if policy.org_id != org {
                return Err(ApplyError::OrgMismatch {
                    policy_id: policy_id.to_string(),
                });
            }
        }
        if policy.partitions.per_api && policy.partitions.enabled() {
            return Err(ApplyError::PerApiWithPartitions(policy_id.to_string()));
        }
        if policy.partitions.per_api {
            run.apply_per_api(session, policy, policy_id)?;
        } else {
            run.apply_partitions(session, policy, policy_id)?;
        }

        inactive = inactive || policy.is_inactive;
        append_if_missing(&mut policy_tags, &policy.tags);
        for (k, v) in &policy.meta_data {
            session.meta_data.insert(k.clone(), v.clone());
        }
        // Tyk compares the unix-seconds strings as strings, not numbers.
        if policy.last_updated > session.last_updated {
            session.last_updated = policy.last_updated.clone();
        }
        if !policy.post_expiry_action.is_empty() {
            session.post_expiry_action = policy.post_expiry_action.clone();
        }
        if policy.post_expiry_grace_period != 0 {
            session.post_expiry_grace_period = policy.post_expiry_grace_period;
        }
    }

    session.is_inactive = inactive;

    // Tyk rebuilds tags from a hash set (unordered); the key's own tags first, then new
    // ones in policy order, is one of its possible outcomes and is stable.
    let mut tags = Vec::new();
    append_if_missing(&mut tags, &session.tags);
    append_if_missing(&mut tags, &policy_tags);
    session.tags = tags;

    if ids.is_empty() {
        // Hand-made per-API limits on a key without policies count per API.
        for (api_id, ad) in session.access_rights.iter_mut() {
            if !ad.limit.is_empty() {
                ad.allowance_scope = api_id.clone();
            }
        }
    }

    run.finish(session);

    if !ids.is_empty() && run.rights.is_empty() {
        return Err(ApplyError::NoValidPolicies);
    }
    Ok(())
}

/// ClearSession (§2.3): wipes the key's own values for every partition a listed policy
/// covers, so the policy values replace them instead of competing in a "max" merge.
fn clear_session(session: &mut Session, store: &dyn PolicyLookup, lookup_org: &str) {
    let ids: Vec<String> = session
        .policy_ids()
        .into_iter()
        .map(str::to_string)
        .collect();
    for id in &ids {
        // Tyk stops clearing at the first missing policy.
        let Some(policy) = store.policy(lookup_org, id) else {
            return;
        };
        if policy.does_quota() {
            session.quota_max = 0;
            session.quota_remaining = 0;
        }
        if policy.does_rate_limit() {
            session.rate = 0.0;
            session.per = 0.0;
            session.smoothing = None;
            session.throttle_retry_limit = 0;
            session.throttle_interval = 0.0;
        }
        if policy.does_complexity() {
            session.max_query_depth = 0;
        }
    }
}

/// An access-rights entry being built, plus the id of the policy whose limits it carries
/// (Tyk's internal `Limit.SetBy`, never serialised; empty = unset).
#[derive(Debug, Clone, Default)]
struct Working {
    def: AccessDefinition,
    set_by: String,
}

/// Which partitions some policy has applied to one API (Tyk's `didAcl`/`didQuota`/... sets).
#[derive(Debug, Clone, Copy, Default)]
struct Applied {
    acl: bool,
    quota: bool,
    rate_limit: bool,
    complexity: bool,
}

/// State accumulated across the policies of one application.
#[derive(Debug, Default)]
struct Run {
    rights: BTreeMap<String, Working>,
    applied: BTreeMap<String, Applied>,
    did_per_api: bool,
    did_partition: bool,
}

impl Run {
    fn mark(&mut self, api: &str, f: impl FnOnce(&mut Applied)) {
        f(self.applied.entry(api.to_string()).or_default());
    }

    /// §2.4.1: the policy's entries are taken whole, with their own or the policy-level limit.
    fn apply_per_api(
        &mut self,
        session: &Session,
        policy: &Policy,
        policy_id: &str,
    ) -> Result<(), ApplyError> {
        if self.did_partition {
            return Err(ApplyError::MixedPerApiAndPartitioned);
        }
        for (api_id, entry) in &policy.access_rights {
            let mut def = entry.clone();
            let scope = if def.limit.is_empty() {
                def.limit = policy_api_limit(policy);
                policy_id.to_string()
            } else {
                api_id.clone()
            };
            def.allowance_scope = scope.clone();
            if let Some(existing) = session.access_rights.get(api_id) {
                // Keeps the running quota window of a key that already had per-API limits.
                if !existing.limit.is_empty() {
                    def.limit.quota_renews = existing.limit.quota_renews;
                }
                if existing.disable_introspection {
                    def.disable_introspection = true;
                }
            }
            let mut working = Working { def, set_by: scope };
            if let Some(current) = self.rights.get(api_id) {
                working = merge_api_level_limits(working, current);
            }
            self.rights.insert(api_id.clone(), working);
            self.mark(api_id, |a| {
                a.acl = true;
                a.quota = true;
                a.rate_limit = true;
                a.complexity = true;
            });
        }
        if !policy.access_rights.is_empty() {
            self.did_per_api = true;
        }
        Ok(())
    }

    /// §2.4.2: partitioned and non-partitioned policies merge into the accumulated entries.
    fn apply_partitions(
        &mut self,
        session: &mut Session,
        policy: &Policy,
        policy_id: &str,
    ) -> Result<(), ApplyError> {
        let use_partitions = policy.partitions.enabled();
        if use_partitions && self.did_per_api {
            return Err(ApplyError::MixedPerApiAndPartitioned);
        }

        // Pre-filling lets an ACL policy that comes after a rate/quota policy still merge
        // into (rather than replace) what the earlier policy put there.
        for api_id in policy.access_rights.keys() {
            self.rights.entry(api_id.clone()).or_default();
        }

        for (api_id, v) in &policy.access_rights {
            let previous = self.rights.get(api_id).cloned().unwrap_or_default();
            let mut ar = previous.clone();

            if policy.does_acl() {
                self.mark(api_id, |a| a.acl = true);
                merge_acl(&mut ar.def, v);
                ar.set_by = policy_id.to_string();
            }

            if policy.does_quota() {
                self.mark(api_id, |a| a.quota = true);
                if greater_than(policy.quota_max, ar.def.limit.quota_max) {
                    ar.def.limit.quota_max = policy.quota_max;
                    if greater_than(policy.quota_max, session.quota_max) {
                        session.quota_max = policy.quota_max;
                    }
                }
                if policy.quota_renewal_rate > ar.def.limit.quota_renewal_rate {
                    ar.def.limit.quota_renewal_rate = policy.quota_renewal_rate;
                    if policy.quota_renewal_rate > session.quota_renewal_rate {
                        session.quota_renewal_rate = policy.quota_renewal_rate;
                    }
                }
            }

            if policy.does_rate_limit() {
                self.mark(api_id, |a| a.rate_limit = true);
                apply_rate_limits(session, policy, &mut ar.def.limit);
                ar.def.endpoints = merge_endpoint_limits(&v.endpoints, &previous.def.endpoints);
                if policy.throttle_retry_limit > ar.def.limit.throttle_retry_limit {
                    ar.def.limit.throttle_retry_limit = policy.throttle_retry_limit;
                    if policy.throttle_retry_limit > session.throttle_retry_limit {
                        session.throttle_retry_limit = policy.throttle_retry_limit;
                    }
                }
                if policy.throttle_interval > ar.def.limit.throttle_interval {
                    ar.def.limit.throttle_interval = policy.throttle_interval;
                    if policy.throttle_interval > session.throttle_interval {
                        session.throttle_interval = policy.throttle_interval;
                    }
                }
            }

            if policy.does_complexity() {
                self.mark(api_id, |a| a.complexity = true);
                if greater_than(policy.max_query_depth, ar.def.limit.max_query_depth) {
                    ar.def.limit.max_query_depth = policy.max_query_depth;
                    if greater_than(policy.max_query_depth, session.max_query_depth) {
                        session.max_query_depth = policy.max_query_depth;
                    }
                }
            }

            if let Some(existing) = session.access_rights.get(api_id) {
                if !existing.limit.is_empty() {
                    ar.def.limit.quota_renews = existing.limit.quota_renews;
                }
            }

            self.rights.insert(api_id.clone(), ar);
        }

        // A "master" policy grants nothing and sets the key's root limits outright.
        if policy.access_rights.is_empty() {
            if policy.does_rate_limit() {
                session.rate = policy.rate;
                session.per = policy.per;
                session.smoothing = policy.smoothing.clone();
                session.throttle_interval = policy.throttle_interval;
                session.throttle_retry_limit = policy.throttle_retry_limit;
            }
            if policy.does_complexity() {
                session.max_query_depth = policy.max_query_depth;
            }
            if policy.does_quota() {
                session.quota_max = policy.quota_max;
                session.quota_renewal_rate = policy.quota_renewal_rate;
            }
        }

        // Tyk only merges these flags on this path, not for per_api policies.
        session.hmac_enabled = session.hmac_enabled || policy.hmac_enabled;
        session.enable_http_signature_validation =
            session.enable_http_signature_validation || policy.enable_http_signature_validation;

        // Overwritten by every non-per_api policy: a non-partitioned policy in between
        // lets a later per_api policy through.
        self.did_partition = use_partitions;
        Ok(())
    }

    /// §2.4.4: drop APIs no policy granted, fill unapplied partitions from the key root,
    /// scope counters per policy when several ACL policies are involved, then install.
    fn finish(&mut self, session: &mut Session) {
        let set_by: BTreeSet<&str> = self
            .rights
            .values()
            .map(|w| w.set_by.as_str())
            .filter(|s| !s.is_empty())
            .collect();
        let multiple_acl = set_by.len() > 1;

        let applied = &self.applied;
        self.rights
            .retain(|api_id, _| applied.get(api_id).is_some_and(|a| a.acl));
        for (api_id, w) in self.rights.iter_mut() {
            let a = applied.get(api_id).copied().unwrap_or_default();
            let limit = &mut w.def.limit;
            if !a.rate_limit {
                limit.rate = session.rate;
                limit.per = session.per;
                limit.smoothing = session.smoothing.clone();
                limit.throttle_interval = session.throttle_interval;
                limit.throttle_retry_limit = session.throttle_retry_limit;
                w.def.endpoints = Vec::new();
            }
            if !a.complexity {
                limit.max_query_depth = session.max_query_depth;
            }
            if !a.quota {
                limit.quota_max = session.quota_max;
                limit.quota_renewal_rate = session.quota_renewal_rate;
                limit.quota_renews = session.quota_renews;
            }
            if multiple_acl && w.def.allowance_scope.is_empty() && !w.set_by.is_empty() {
                w.def.allowance_scope = w.set_by.clone();
            }
        }

        self.update_session_root_vars(session);

        if self.applied.values().any(|a| a.acl) {
            session.access_rights = self
                .rights
                .iter()
                .map(|(k, w)| (k.clone(), w.def.clone()))
                .collect();
        }
    }

    /// Legacy single-API behaviour: when exactly one API got quota, rate and complexity
    /// from policies, the key root mirrors that API's limit.
    fn update_session_root_vars(&self, session: &mut Session) {
        let count = |f: fn(&Applied) -> bool| self.applied.values().filter(|a| f(a)).count();
        if count(|a| a.quota) != 1 || count(|a| a.rate_limit) != 1 || count(|a| a.complexity) != 1 {
            return;
        }
        // Tyk takes whichever granted API its map iteration visits last. With one granted
        // API that is exact; otherwise prefer the API the rate partition was applied to.
        let rate_api = self
            .applied
            .iter()
            .find(|(_, a)| a.rate_limit)
            .map(|(k, _)| k);
        let chosen = rate_api
            .and_then(|k| self.rights.get(k))
            .or_else(|| self.rights.values().next_back());
        let Some(w) = chosen else {
            return;
        };
        let limit = &w.def.limit;
        session.rate = limit.rate;
        session.per = limit.per;
        session.smoothing = limit.smoothing.clone();
        session.quota_max = limit.quota_max;
        session.quota_renews = limit.quota_renews;
        session.quota_renewal_rate = limit.quota_renewal_rate;
        session.max_query_depth = limit.max_query_depth;
    }
}

/// The policy-level values as a per-API limit (Tyk's `Policy.APILimit`).
fn policy_api_limit(policy: &Policy) -> ApiLimit {
    ApiLimit {
        rate: policy.rate,
        per: policy.per,
        throttle_interval: policy.throttle_interval,
        throttle_retry_limit: policy.throttle_retry_limit,
        max_query_depth: policy.max_query_depth,
        quota_max: policy.quota_max,
        quota_renewal_rate: policy.quota_renewal_rate,
        smoothing: policy.smoothing.clone(),
        ..ApiLimit::default()
    }
}

/// "Greater-than with -1 as infinity" (§1.5).
fn greater_than(a: i64, b: i64) -> bool {
    if a == -1 {
        true
    } else if b == -1 {
        false
    } else {
        a > b
    }
}

/// Appends the items `dest` lacks, in order; duplicates already in `dest` stay (Tyk's `appendIfMissing`).
fn append_if_missing(dest: &mut Vec<String>, items: &[String]) {
    let mut seen: BTreeSet<String> = dest.iter().cloned().collect();
    for item in items {
        if seen.insert(item.clone()) {
            dest.push(item.clone());
        }
    }
}

/// Raises the API limit and the key root to the policy's rate where the policy allows more
/// requests (smaller duration); an "empty" policy rate (rate or per 0) changes nothing.
pub(crate) fn apply_rate_limits(session: &mut Session, policy: &Policy, api_limit: &mut ApiLimit) {
    let policy_rate = RateLimit {
        rate: policy.rate,
        per: policy.per,
    };
    if policy_rate.is_empty() {
        return;
    }
    let current = api_limit.rate_limit();
    if current.is_empty() || current.duration() > policy_rate.duration() {
        api_limit.rate = policy.rate;
        api_limit.per = policy.per;
        api_limit.smoothing = policy.smoothing.clone();
    }
    let root = RateLimit {
        rate: session.rate,
        per: session.per,
    };
    if root.is_empty() || root.duration() > policy_rate.duration() {
        session.rate = policy.rate;
        session.per = policy.per;
        session.smoothing = policy.smoothing.clone();
    }
}

/// Merges a per_api entry (`new`) with the one an earlier per_api policy produced (`current`):
/// higher allowance wins, and the counter scope follows whichever side supplied the limit.
fn merge_api_level_limits(mut new: Working, current: &Working) -> Working {
    let cur = &current.def.limit;
    let limit = &mut new.def.limit;
    let mut took_current = false;
    // An empty rate has duration 0, i.e. counts as unlimited and wins.
    if limit.rate_limit().duration() > cur.rate_limit().duration() {
        limit.rate = cur.rate;
        limit.per = cur.per;
        limit.smoothing = cur.smoothing.clone();
        took_current = true;
    }
    // Equal quotas (notably both -1) must not move the scope to the earlier policy.
    if cur.quota_max != limit.quota_max && greater_than(cur.quota_max, limit.quota_max) {
        limit.quota_max = cur.quota_max;
        took_current = true;
    }
    if greater_than(cur.quota_renewal_rate, limit.quota_renewal_rate) {
        limit.quota_renewal_rate = cur.quota_renewal_rate;
    }
    if limit.quota_max == -1 {
        limit.quota_renewal_rate = 0;
    }
    if took_current {
        new.set_by = current.set_by.clone();
        new.def.allowance_scope = current.def.allowance_scope.clone();
    }
    new.def.endpoints = merge_endpoint_limits(&new.def.endpoints, &current.def.endpoints);
    new
}

/// The ACL part of one policy entry merged into the accumulated entry (§2.4.2 "ACL").
/// `api_id`, `api_name`, `limit` and anything else of the policy entry are deliberately not copied.
fn merge_acl(ar: &mut AccessDefinition, v: &AccessDefinition) {
    if v.disable_introspection {
        ar.disable_introspection = true;
    }
    append_if_missing(&mut ar.versions, &v.versions);
    ar.allowed_urls = merge_allowed_urls(&ar.allowed_urls, &v.allowed_urls);
    merge_graphql_types(&mut ar.restricted_types, &v.restricted_types);
    merge_graphql_types(&mut ar.allowed_types, &v.allowed_types);
    merge_field_access_rights(&mut ar.field_access_rights, &v.field_access_rights);
}

/// Union of type names and, per type, of field names (v5.9+; older versions intersected).
fn merge_graphql_types(dest: &mut Vec<GraphqlType>, src: &[GraphqlType]) {
    if dest.is_empty() {
        *dest = src.to_vec();
        return;
    }
    for t in src {
        match dest.iter_mut().find(|d| d.name == t.name) {
            Some(d) => append_if_missing(&mut d.fields, &t.fields),
            None => dest.push(t.clone()),
        }
    }
}

/// Field-level depth limits keyed by (type_name, field_name); the larger depth wins (-1 = ∞).
fn merge_field_access_rights(dest: &mut Vec<Value>, src: &[Value]) {
    fn key(v: &Value) -> (&str, &str) {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
        (s("type_name"), s("field_name"))
    }
    fn depth(v: &Value) -> i64 {
        v.get("limits")
            .and_then(|l| l.get("max_query_depth"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }
    if dest.is_empty() {
        *dest = src.to_vec();
        return;
    }
    for far in src {
        let mut exists = false;
        for existing in dest.iter_mut() {
            if key(existing) != key(far) {
                continue;
            }
            exists = true;
            let new_depth = depth(far);
            if greater_than(new_depth, depth(existing)) {
                if let Some(obj) = existing.as_object_mut() {
                    let limits = obj
                        .entry("limits")
                        .or_insert_with(|| Value::Object(serde_json::Map::new()));
                    if !limits.is_object() {
                        *limits = Value::Object(serde_json::Map::new());
                    }
                    if let Some(l) = limits.as_object_mut() {
                        l.insert("max_query_depth".to_string(), Value::from(new_depth));
                    }
                }
            }
        }
        if !exists {
            dest.push(far.clone());
        }
    }
}

/// §2.4.5: union of allowed_urls keyed by exact url, first-seen order, methods unioned.
pub fn merge_allowed_urls(a: &[AccessSpec], b: &[AccessSpec]) -> Vec<AccessSpec> {
    let mut merged: Vec<AccessSpec> = Vec::new();
    for spec in a.iter().chain(b) {
        match merged.iter_mut().find(|m| m.url == spec.url) {
            Some(m) => append_if_missing(&mut m.methods, &spec.methods),
            None => merged.push(spec.clone()),
        }
    }
    merged
}

/// Endpoint limits flattened to (path, method) → limit; a later duplicate overwrites an earlier one.
fn flatten_endpoints(endpoints: &[Endpoint]) -> BTreeMap<(String, String), RateLimit> {
    let mut out = BTreeMap::new();
    for e in endpoints {
        for m in &e.methods {
            out.insert((e.path.clone(), m.name.clone()), m.limit);
        }
    }
    out
}

/// Regroups flattened limits by path, paths and methods sorted (as Tyk's `EndpointsMap.Endpoints`).
fn group_endpoints(map: BTreeMap<(String, String), RateLimit>) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    for ((path, name), limit) in map {
        let method = EndpointMethod { name, limit };
        match out.last_mut() {
            Some(last) if last.path == path => last.methods.push(method),
            _ => out.push(Endpoint {
                path,
                methods: vec![method],
            }),
        }
    }
    out
}

/// §2.4.6 endpoint rate-limit merge.
pub fn merge_endpoint_limits(policy: &[Endpoint], current: &[Endpoint]) -> Vec<Endpoint> {
    let current_map = flatten_endpoints(current);
    if current_map.is_empty() {
        return policy.to_vec();
    }
    let mut result = flatten_endpoints(policy);
    if result.is_empty() {
        return group_endpoints(current_map);
    }
    for (key, cur) in current_map {
        match result.get(&key) {
            None => {
                result.insert(key, cur);
            }
            Some(pol) => {
                let (pd, cd) = (pol.duration(), cur.duration());
                // Duration 0 (e.g. rate -1) is unlimited and so the most generous; on a tie
                // the higher rate wins (10/60 beats 5/30).
                if pd > cd || (pd == cd && cur.rate > pol.rate) {
                    result.insert(key, cur);
                }
            }
        }
    }
    group_endpoints(result)
}

/// §6.1 "which limit applies": the API entry's limit if non-empty (with its allowance_scope), else the key root
/// values (rate, per, throttle_*, max_query_depth, quota_max, quota_renewal_rate, quota_renews, quota_remaining).
///
/// As in Tyk (`GetAccessDefinitionByAPIIDOrSession`), the scope is the entry's `allowance_scope` whenever
/// the key has an entry for the API, even if the root values are used; it is `""` when there is no entry.
pub fn limit_for_api(session: &Session, api_id: &str) -> (ApiLimit, String) {
    let entry = session.access_rights.get(api_id);
    let scope = entry.map(|e| e.allowance_scope.clone()).unwrap_or_default();
    match entry {
        Some(e) if !e.limit.is_empty() => (e.limit.clone(), scope),
        _ => (
            ApiLimit {
                rate: session.rate,
                per: session.per,
                throttle_interval: session.throttle_interval,
                throttle_retry_limit: session.throttle_retry_limit,
                max_query_depth: session.max_query_depth,
                quota_max: session.quota_max,
                quota_renews: session.quota_renews,
                quota_remaining: session.quota_remaining,
                quota_renewal_rate: session.quota_renewal_rate,
                smoothing: session.smoothing.clone(),
            },
            scope,
        ),
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
