//! The snapshot's compiled `allowed_urls` regexes and regex sets, shared by every key
//! with the same patterns.

use super::acl;
use dashmap::DashMap;
use regex::Regex;
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct Regexes {
    /// One pattern each (compiled and checked at load).
    single: DashMap<String, Option<Arc<Regex>>>,
    /// Sets, compiled on first use.
    sets: DashMap<String, Option<Arc<regex::RegexSet>>>,
}

impl Regexes {
    pub fn new(single: DashMap<String, Option<Arc<Regex>>>) -> Regexes {
        Regexes {
            single,
            sets: DashMap::new(),
        }
    }

    /// A compiled regex for an already rewritten pattern (compiled and cached on first use).
    pub(crate) fn regex(&self, pattern: &str) -> Option<Arc<Regex>> {
        if let Some(r) = self.single.get(pattern) {
            return r.clone();
        }
        let compiled = acl::compile(pattern).ok().map(Arc::new);
        self.single.insert(pattern.to_string(), compiled.clone());
        compiled
    }

    /// A compiled set for these patterns (compiled and cached on first use).
    pub(crate) fn regex_set(&self, patterns: &[&str]) -> Option<Arc<regex::RegexSet>> {
        let key = patterns.join("\u{0}");
        if let Some(s) = self.sets.get(&key) {
            return s.clone();
        }
        let compiled = acl::compile_set(patterns).map(Arc::new);
        self.sets.insert(key, compiled.clone());
        compiled
    }
}
