//! Writing policies to the policy source tollgate reads, for both REST APIs.
//!
//! Single-file mode rewrites the file (other policies and their order kept); directory
//! mode writes the file the policy was loaded from, or `<id>.json`. Every write is atomic
//! (temp file + fsync + rename), writes are serialised, and the gateway reloads before
//! the call returns, so a successful answer means the change is enforced.

use crate::policy::read::PolicySource;
use crate::policy::snapshot::acl;
use crate::state::AppState;
use crate::tyk::{json, Policy};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a write did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteFailure {
    /// No `policy_record_name` and no `policy_path`.
    NoSource,
    /// Delete of a policy that is not in the source.
    NotFound,
    /// Create of a friendly id that is already taken.
    Exists,
    /// The source could not be read or written (message names the file).
    Io(String),
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteFailure::NoSource => f.write_str("no policy source is configured"),
            WriteFailure::NotFound => f.write_str("policy not found"),
            WriteFailure::Exists => f.write_str("a policy with this id already exists"),
            WriteFailure::Io(m) => f.write_str(m),
        }
    }
}

/// Tyk's policy id charset (`allow_unsafe_policy_ids` lifts it).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'~'))
}

/// Problems that would make the policy set fail to load, found before anything is written.
pub fn validate(policy: &Policy, matching: acl::Matching) -> Vec<String> {
    let mut problems = Vec::new();
    for (api, ad) in &policy.access_rights {
        for (i, spec) in ad.allowed_urls.iter().enumerate() {
            if let Err(e) = acl::compile(&acl::tyk_pattern(&spec.url, matching)) {
                problems.push(format!(
                    "access_rights.{api}.allowed_urls[{i}].url: invalid regular expression {:?}: {}",
                    spec.url,
                    acl::error_reason(&e)
                ));
            }
        }
    }
    problems
}

fn file_for(state: &AppState, dir: &Path, id: &str) -> PathBuf {
    state
        .snapshot
        .load()
        .policy_files
        .get(id)
        .map(PathBuf::from)
        .filter(|p| p.parent() == Some(dir))
        .unwrap_or_else(|| dir.join(format!("{id}.json")))
}

fn pretty(v: &impl serde::Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Reads the single policies file as an ordered map (missing file = empty).
fn read_policy_map(path: &Path) -> Result<serde_json::Map<String, Value>, WriteFailure> {
    match std::fs::read(path) {
        Ok(bytes) => match json::parse_value(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            // Never overwrite a file someone broke by hand: their edit would be lost.
            Ok(_) => Err(WriteFailure::Io(format!(
                "{}: expected a JSON object mapping policy id to policy; fix the file first",
                path.display()
            ))),
            Err(e) => Err(WriteFailure::Io(format!(
                "{}: {e}; fix the file first",
                path.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(WriteFailure::Io(format!("{}: {e}", path.display()))),
    }
}

fn io(path: &Path, e: std::io::Error) -> WriteFailure {
    WriteFailure::Io(format!("{}: {e}", path.display()))
}

/// Runs `change` under the write lock off the async workers, then reloads.
async fn commit(
    state: &Arc<AppState>,
    precheck: impl FnOnce(&AppState) -> Result<(), WriteFailure>,
    change: impl FnOnce(&PolicySource) -> Result<(), WriteFailure> + Send + 'static,
) -> Result<(), WriteFailure> {
    let _guard = state.policy_write_lock.lock().await;
    // Under the lock the snapshot reflects every earlier API write (each reloads first).
    precheck(state)?;
    let src = PolicySource::from_config(&state.config);
    if src == PolicySource::None {
        return Err(WriteFailure::NoSource);
    }
    tokio::task::spawn_blocking(move || change(&src))
        .await
        .unwrap_or_else(|e| Err(WriteFailure::Io(format!("policy write task failed: {e}"))))?;
    if let Err(issues) = state.reload("policy api").await {
        tracing::warn!(problems = %issues, "policy written, but the policy set does not load; the last good set stays live");
    }
    Ok(())
}

/// Can `id` name a file `<id>.json` inside the policy directory? Even with
/// `allow_unsafe_policy_ids`, an id must never reach outside it.
pub fn usable_as_file_name(id: &str) -> bool {
    !id.is_empty() && !id.starts_with('.') && !id.contains(['/', '\\', '\0'])
}

/// Creates or replaces `policy` (by its effective id) in the policy source.
pub async fn save(state: &Arc<AppState>, policy: Policy) -> Result<(), WriteFailure> {
    write(state, policy, false).await
}

/// Creates `policy`; `Exists` if its friendly id is already taken (checked atomically).
pub async fn create(state: &Arc<AppState>, policy: Policy) -> Result<(), WriteFailure> {
    write(state, policy, true).await
}

async fn write(
    state: &Arc<AppState>,
    policy: Policy,
    create_only: bool,
) -> Result<(), WriteFailure> {
    let id = policy.effective_id().to_string();
    if matches!(
        PolicySource::from_config(&state.config),
        PolicySource::Dir(_)
    ) && !usable_as_file_name(&id)
    {
        return Err(WriteFailure::Io(format!(
            "policy id {id:?} cannot be used as a file name in policy_path"
        )));
    }
    let target = match PolicySource::from_config(&state.config) {
        PolicySource::Dir(d) => Some(file_for(state, &d, &id)),
        _ => None,
    };
    let friendly = policy.id.clone();
    let precheck = move |st: &AppState| {
        let taken = create_only
            && !friendly.is_empty()
            && st
                .snapshot
                .load()
                .policies
                .all()
                .iter()
                .any(|p| p.id == friendly);
        if taken {
            Err(WriteFailure::Exists)
        } else {
            Ok(())
        }
    };
    commit(state, precheck, move |src| match src {
        PolicySource::File(path) => {
            let mut map = read_policy_map(path)?;
            let value =
                serde_json::to_value(&policy).map_err(|e| WriteFailure::Io(e.to_string()))?;
            map.insert(id, value);
            crate::util::atomic_write(path, &pretty(&map)).map_err(|e| io(path, e))
        }
        PolicySource::Dir(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            let path = target.unwrap_or_else(|| dir.join(format!("{id}.json")));
            crate::util::atomic_write(&path, &pretty(&policy)).map_err(|e| io(&path, e))
        }
        PolicySource::None => Err(WriteFailure::NoSource),
    })
    .await
}

/// Removes the policy `id` from the policy source.
pub async fn remove(state: &Arc<AppState>, id: &str) -> Result<(), WriteFailure> {
    let target = match PolicySource::from_config(&state.config) {
        PolicySource::Dir(_) if !usable_as_file_name(id) => return Err(WriteFailure::NotFound),
        PolicySource::Dir(d) => Some(file_for(state, &d, id)),
        _ => None,
    };
    let id = id.to_string();
    commit(
        state,
        |_| Ok(()),
        move |src| match src {
            PolicySource::File(path) => {
                let mut map = read_policy_map(path)?;
                if map.shift_remove(&id).is_none() {
                    return Err(WriteFailure::NotFound);
                }
                crate::util::atomic_write(path, &pretty(&map)).map_err(|e| io(path, e))
            }
            PolicySource::Dir(_) => {
                let path = target.ok_or(WriteFailure::NotFound)?;
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(WriteFailure::NotFound)
                    }
                    Err(e) => return Err(io(&path, e)),
                }
                if let Some(dir) = path.parent() {
                    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
                }
                Ok(())
            }
            PolicySource::None => Err(WriteFailure::NoSource),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_charset() {
        for ok in ["gold", "a.b_c-d~1", "5ead7120575961000181867e"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "ä", "a:b"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn ids_never_escape_the_policy_directory() {
        for ok in ["gold", "a.b", "x~1"] {
            assert!(usable_as_file_name(ok), "{ok}");
        }
        for bad in ["", "../x", "..", ".hidden", "a/b", "a\\b", "/etc/passwd"] {
            assert!(!usable_as_file_name(bad), "{bad}");
        }
    }

    #[test]
    fn validation_names_the_bad_regex() {
        let p: Policy = json::decode(
            br#"{"access_rights": {"api": {"allowed_urls": [{"url": "/ok", "methods": ["GET"]}, {"url": "/bad(", "methods": ["GET"]}]}}}"#,
        )
        .unwrap();
        let problems = validate(&p, acl::Matching::default());
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("access_rights.api.allowed_urls[1].url"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn a_hand_broken_file_is_never_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("policies.json");
        std::fs::write(&p, b"{broken").unwrap();
        assert!(
            matches!(read_policy_map(&p), Err(WriteFailure::Io(m)) if m.contains("fix the file first"))
        );
        assert!(read_policy_map(&d.path().join("missing.json"))
            .unwrap()
            .is_empty());
    }
}
