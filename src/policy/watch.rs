//! Hot reload on file change: watch the directories, debounce, rebuild, swap.
//!
//! Directories are watched rather than files: editors and `mv` replace a file by
//! renaming over it, and a Kubernetes ConfigMap update swaps a `..data` symlink, and a
//! watch on the old file would see neither. Events for unrelated files in those
//! directories are ignored. Bursts of events (a save is several) are debounced into one
//! reload; a reload that reads the same bytes as the live snapshot swaps nothing.

use crate::policy::read::PolicySource;
use crate::state::AppState;
use notify::{Event, RecommendedWatcher, RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Stops watching when dropped.
pub struct Watcher {
    _inner: RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What to watch: a directory and which entries in it matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub dir: PathBuf,
    /// `Some(name)`: only that file; `None`: every `*.json` file.
    pub file: Option<String>,
}

impl Target {
    /// Is an event on `path` relevant to this target?
    pub fn matches(&self, path: &Path) -> bool {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        // A ConfigMap swap renames `..data_tmp` over `..data`.
        if name.starts_with("..data") {
            return true;
        }
        match &self.file {
            Some(f) => name == f,
            None => name.ends_with(".json") && !name.starts_with('.'),
        }
    }
}

fn dir_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The directories named by the config.
pub fn targets(cfg: &crate::tyk::config::Config) -> Vec<Target> {
    let mut t = vec![Target {
        dir: PathBuf::from(&cfg.app_path),
        file: None,
    }];
    match PolicySource::from_config(cfg) {
        PolicySource::File(f) => t.push(Target {
            dir: dir_of(&f),
            file: f.file_name().map(|n| n.to_string_lossy().into_owned()),
        }),
        PolicySource::Dir(d) => t.push(Target { dir: d, file: None }),
        PolicySource::None => {}
    }
    // The listener's certificate files: cert-manager and certbot rename new ones over.
    for f in crate::tls::cert_files(&cfg.http_server_options) {
        t.push(Target {
            dir: dir_of(&f),
            file: f.file_name().map(|n| n.to_string_lossy().into_owned()),
        });
    }
    t
}

/// Starts the watcher unless `reload.watch` is off. Must run inside the tokio runtime.
pub fn start(state: &Arc<AppState>) -> Option<Watcher> {
    if !state.config.reload.watch {
        tracing::info!(
            "file watching is off (reload.watch = false): reload with /tyk/reload or SIGHUP"
        );
        return None;
    }
    let targets = targets(&state.config);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let filter = targets.clone();
    let mut watcher = match notify::recommended_watcher(move |res: notify::Result<Event>| match res
    {
        Ok(ev) => {
            if ev.kind.is_access() {
                return;
            }
            if ev.paths.iter().any(|p| filter.iter().any(|t| t.matches(p))) {
                let _ = tx.send(());
            }
        }
        Err(e) => tracing::warn!(error = %e, "file watcher error"),
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the file watcher; reload with /tyk/reload or SIGHUP");
            return None;
        }
    };
    for t in &targets {
        match watcher.watch(&t.dir, RecursiveMode::NonRecursive) {
            Ok(()) => tracing::info!(dir = %t.dir.display(), "watching for changes"),
            Err(e) => {
                tracing::warn!(dir = %t.dir.display(), error = %e, "cannot watch directory; changes there need /tyk/reload or SIGHUP")
            }
        }
    }
    let debounce = Duration::from_millis(state.config.reload.debounce_ms);
    let st = state.clone();
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Wait for a quiet period so one save (often several events) is one reload.
            loop {
                match tokio::time::timeout(debounce, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let _ = st.reload("watch").await;
        }
    });
    Some(Watcher {
        _inner: watcher,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relevant_paths() {
        let single = Target {
            dir: "policies".into(),
            file: Some("policies.json".into()),
        };
        assert!(single.matches(Path::new("policies/policies.json")));
        assert!(single.matches(Path::new("policies/..data")));
        assert!(!single.matches(Path::new("policies/other.json")));
        assert!(!single.matches(Path::new("policies/.policies.json.swp")));
        let dir = Target {
            dir: "apps".into(),
            file: None,
        };
        assert!(dir.matches(Path::new("apps/a.json")));
        assert!(!dir.matches(Path::new("apps/a.json~")));
        assert!(!dir.matches(Path::new("apps/.a.json.tmp")));
        assert!(!dir.matches(Path::new("apps/README.md")));
    }

    #[test]
    fn targets_from_config() {
        let mut cfg = crate::tyk::config::Config::default();
        cfg.policies.policy_record_name = "policies.json".into();
        let t = targets(&cfg);
        assert_eq!(t[1].dir, PathBuf::from("."));
        // Certificate files are watched only with TLS on, each by its own name.
        cfg.http_server_options.certificates = vec![crate::tyk::config::CertificateEntry {
            domain_name: String::new(),
            cert_file: "/etc/tls/gw.crt".into(),
            key_file: "/etc/tls/gw.key".into(),
        }];
        assert_eq!(targets(&cfg).len(), 2);
        cfg.http_server_options.use_ssl = true;
        let t = targets(&cfg);
        assert_eq!(t.len(), 4);
        assert!(t[2].matches(Path::new("/etc/tls/gw.crt")));
        assert!(!t[2].matches(Path::new("/etc/tls/gw.key")));
        assert!(t[3].matches(Path::new("/etc/tls/gw.key")));
        cfg.http_server_options = Default::default();
        cfg.policies.policy_path = "/etc/pol".into();
        assert_eq!(
            targets(&cfg)[1],
            Target {
                dir: "/etc/pol".into(),
                file: None
            }
        );
    }
}
