//! Warnings `tollgate check` prints about valid but risky configuration.

use crate::policy::snapshot::Snapshot;

/// Unanchored `allowed_urls` patterns match anywhere in the path (Tyk's default), which
/// is rarely what the author meant: `/user` also allows `/admin/user`.
pub fn warnings(snap: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    if snap.settings.matching.prefix {
        return out;
    }
    for p in snap.policies.all() {
        for (api, ad) in &p.access_rights {
            for spec in &ad.allowed_urls {
                if !spec.url.starts_with('^') {
                    out.push(format!(
                        "policy {:?}: access_rights.{api}.allowed_urls {:?} is not anchored: it matches anywhere in the path (start it with ^ or enable http_server_options.enable_path_prefix_matching)",
                        p.effective_id(),
                        spec.url
                    ));
                }
            }
        }
    }
    out
}
