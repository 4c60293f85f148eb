//! The immutable snapshot every request reads: compiled APIs, routing, policies and
//! per-key grants.
//!
//! A snapshot is built off the request path from raw documents, then published whole
//! through an `ArcSwap` (see `crate::state`). Requests load it once and use that one
//! generation from start to end, so they never see half of an old policy set.
//!
//! Tyk re-applies a key's policies on every request; we apply them once per
//! (key revision, snapshot) and cache the compiled result in the snapshot itself, so a
//! reload or a key update invalidates it naturally and the hot path only does lookups.

pub mod acl;
pub mod api;
pub mod grant;
pub mod policies;
pub mod regexes;

use crate::policy::read::{check_duplicate_policies, Issue, Issues, RawSet};
use crate::tyk::ApiDefinition;
use crate::util::KeyMap;
use acl::Matching;
pub use api::{Api, AuthSpec, RateSpec, Route, Target, VersionLocation, VersionRule};
use dashmap::DashMap;
pub use grant::{ApiGrant, Grant, Limits, QuotaSpec};
pub use policies::Policies;
use regexes::Regexes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// Settings that shape compilation and matching (from tyk.conf; not hot-reloaded).
#[derive(Debug, Clone, Copy, Default)]
pub struct CompileSettings {
    pub matching: Matching,
    pub strict_routes: bool,
}

/// Cached result of applying policies to one key for one API org.
#[derive(Debug)]
pub struct GrantEntry {
    pub revision: u64,
    pub org: Arc<str>,
    pub grant: Result<Arc<Grant>, GrantError>,
    /// Set by the first request that reports a `GrantError::Session`, so that a broken
    /// key does not flood the log.
    reported: AtomicBool,
}

impl GrantEntry {
    /// True for the first caller only.
    pub fn first_report(&self) -> bool {
        !self.reported.swap(true, Ordering::Relaxed)
    }
}

/// Why a key has no grant. Either way the key is refused.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(transparent)]
    Policy(#[from] crate::policy::apply::ApplyError),
    /// The stored session does not decode. The store checks every session it loads
    /// or stores, so this is a last line of defence: the key is refused, never
    /// treated as having no limits.
    #[error("the stored session cannot be decoded ({0})")]
    Session(crate::tyk::json::DecodeError),
}

/// Everything compiled from one consistent set of files.
#[derive(Debug)]
pub struct Snapshot {
    pub generation: u64,
    pub loaded_at: SystemTime,
    pub settings: CompileSettings,
    pub apis: Vec<Arc<Api>>,
    pub routes: Vec<Route>,
    pub policies: Policies,
    /// API definitions as written, for `GET /tyk/apis`.
    pub api_defs: Vec<(Arc<str>, serde_json::Value, ApiDefinition)>,
    /// Hex digest of the files' bytes, for logs and `/hello`.
    pub digest: String,
    /// Which file each policy id was loaded from (directory mode writes back there).
    pub policy_files: HashMap<String, String>,
    /// Fields of the loaded files this build does not act on (BEH/OPS), by file.
    pub warnings: Vec<Issue>,
    regexes: Regexes,
    grants: KeyMap<Box<str>, Arc<GrantEntry>>,
}

impl Snapshot {
    /// An empty snapshot (no APIs, no policies).
    pub fn empty(settings: CompileSettings) -> Snapshot {
        Snapshot {
            generation: 0,
            loaded_at: SystemTime::now(),
            settings,
            apis: Vec::new(),
            routes: Vec::new(),
            policies: Policies::default(),
            api_defs: Vec::new(),
            digest: String::new(),
            policy_files: HashMap::new(),
            warnings: Vec::new(),
            regexes: Regexes::default(),
            grants: KeyMap::default(),
        }
    }

    /// Compiles raw documents; every problem is reported, and nothing is published on error.
    pub fn compile(
        raw: RawSet,
        settings: CompileSettings,
        generation: u64,
    ) -> Result<Snapshot, Issues> {
        let mut issues: Vec<Issue> = Vec::new();
        let mut apis = Vec::new();
        let mut api_defs = Vec::new();
        let mut ids: HashMap<String, String> = HashMap::new();
        for loaded in &raw.apis {
            if let Some(first) = ids.get(&loaded.def.api_id) {
                issues.push(Issue::new(
                    loaded.file.clone(),
                    "api_id",
                    format!(
                        "duplicate api_id {:?} (also defined in {first})",
                        loaded.def.api_id
                    ),
                ));
                continue;
            }
            match api::compile_api(loaded) {
                Ok(a) => {
                    ids.insert(loaded.def.api_id.clone(), loaded.file.clone());
                    api_defs.push((a.id.clone(), loaded.raw.clone(), loaded.def.clone()));
                    apis.push(Arc::new(a));
                }
                Err(mut e) => issues.append(&mut e),
            }
        }

        issues.extend(check_duplicate_policies(&raw.policies));
        let regexes = DashMap::new();
        for lp in &raw.policies {
            for (api_id, ad) in &lp.policy.access_rights {
                for (i, spec) in ad.allowed_urls.iter().enumerate() {
                    let pattern = acl::tyk_pattern(&spec.url, settings.matching);
                    if regexes.contains_key(&pattern) {
                        continue;
                    }
                    match acl::compile(&pattern) {
                        Ok(re) => {
                            regexes.insert(pattern, Some(Arc::new(re)));
                        }
                        Err(e) => issues.push(Issue::new(
                            lp.file.clone(),
                            crate::tyk::json::join_path(
                                &lp.path,
                                &format!("access_rights.{api_id}.allowed_urls[{i}].url"),
                            ),
                            format!(
                                "invalid regular expression {:?}: {}",
                                spec.url,
                                acl::error_reason(&e)
                            ),
                        )),
                    }
                }
            }
        }
        if !issues.is_empty() {
            return Err(Issues(issues));
        }
        let policy_files = raw
            .policies
            .iter()
            .map(|p| (p.policy.effective_id().to_string(), p.file.clone()))
            .collect();
        let policies = Policies::from_list(
            raw.policies
                .into_iter()
                .filter(|p| p.policy.is_loaded())
                .map(|p| p.policy),
        );
        let routes = api::build_routes(&apis);
        Ok(Snapshot {
            generation,
            loaded_at: SystemTime::now(),
            settings,
            apis,
            routes,
            policies,
            api_defs,
            digest: format!("{:016x}", raw.digest),
            policy_files,
            warnings: raw.warnings,
            regexes: Regexes::new(regexes),
            grants: KeyMap::default(),
        })
    }

    /// The API serving `path`, and the prefix it matched.
    pub fn route(&self, path: &str) -> Option<(&Arc<Api>, &str)> {
        let r = api::route(&self.routes, path, self.settings.strict_routes)?;
        Some((&self.apis[r.api], r.prefix.as_str()))
    }

    pub fn api_by_id(&self, id: &str) -> Option<&Arc<Api>> {
        self.apis.iter().find(|a| &*a.id == id)
    }

    /// The key's grant for an API of `org`: cached per (key revision, org) in this
    /// snapshot. The session is decoded only on a miss.
    pub fn grant(
        &self,
        storage_key: &str,
        stored: &crate::store::StoredKey,
        org: &Arc<str>,
    ) -> Arc<GrantEntry> {
        let revision = stored.revision;
        if let Some(e) = self.grants.get(storage_key) {
            if e.revision == revision && e.org == *org {
                return e.clone();
            }
        }
        let grant = match stored.session() {
            Ok(session) => grant::build(
                &self.policies,
                &self.regexes,
                self.settings.matching,
                session,
                Some(org),
            )
            .map(Arc::new)
            .map_err(GrantError::Policy),
            Err(e) => Err(GrantError::Session(e)),
        };
        let entry = Arc::new(GrantEntry {
            revision,
            org: org.clone(),
            grant,
            reported: AtomicBool::new(false),
        });
        self.grants.insert(Box::from(storage_key), entry.clone());
        entry
    }

    /// Drops a cached grant (key deleted or replaced).
    pub fn forget_grant(&self, storage_key: &str) {
        self.grants.remove(storage_key);
    }

    pub fn cached_grants(&self) -> usize {
        self.grants.len()
    }
}
