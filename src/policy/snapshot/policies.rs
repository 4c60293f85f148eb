//! The loaded policies of a snapshot.

use crate::policy::apply::PolicyLookup;
use crate::tyk::Policy;
use std::collections::HashMap;

/// Loaded policies, stored per (org_id, id) as Tyk v5.12+ does.
#[derive(Debug, Default)]
pub struct Policies {
    by_org: HashMap<String, HashMap<String, Policy>>,
    count: usize,
}

impl Policies {
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// Every policy, ordered by (org, id) for stable listings.
    pub fn all(&self) -> Vec<&Policy> {
        let mut v: Vec<&Policy> = self.by_org.values().flat_map(|m| m.values()).collect();
        v.sort_by(|a, b| (&a.org_id, a.effective_id()).cmp(&(&b.org_id, b.effective_id())));
        v
    }
    /// By id across all orgs (the REST `GET /tyk/policies/{id}`).
    pub fn find_any_org(&self, id: &str) -> Option<&Policy> {
        self.all().into_iter().find(|p| p.effective_id() == id)
    }
    pub fn from_list(list: impl IntoIterator<Item = Policy>) -> Policies {
        let mut p = Policies::default();
        for pol in list {
            let id = pol.effective_id().to_string();
            if p.by_org
                .entry(pol.org_id.clone())
                .or_default()
                .insert(id, pol)
                .is_none()
            {
                p.count += 1;
            }
        }
        p
    }
}

impl PolicyLookup for Policies {
    fn policy(&self, org_id: &str, id: &str) -> Option<&Policy> {
        self.by_org.get(org_id)?.get(id)
    }
}
