//! The process-wide state shared by every connection.

use crate::limits::{Clock, Limits, QuotaSink};
use crate::policy::read::{self, Issues};
use crate::policy::snapshot::acl::Matching;
use crate::policy::snapshot::{CompileSettings, Snapshot};
use crate::store::KeyStore;
use crate::tyk::config::Config;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub type UpstreamClient = crate::upstream::Pool;

/// What `/hello` reports about reloads.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub reloads: u64,
    pub failures: u64,
    pub last_success: Option<SystemTime>,
    /// The problems of the last failed reload, until a good one arrives.
    pub last_error: Option<Issues>,
    /// The listener certificates' problems at the last reload (the previous
    /// certificates are still served), until they load again.
    pub tls_error: Option<Vec<String>>,
}

/// Everything a request or an admin call needs.
pub struct AppState {
    pub config: Arc<Config>,
    pub snapshot: ArcSwap<Snapshot>,
    pub store: Arc<KeyStore>,
    pub limits: Limits,
    pub client: UpstreamClient,
    pub reload_status: Mutex<ReloadStatus>,
    /// Serialises reloads so two triggers never interleave their swaps.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// Serialises writes to the policy source through the REST APIs.
    pub policy_write_lock: tokio::sync::Mutex<()>,
    /// The TLS listener's certificates, set by `server::start` when `use_ssl` is on;
    /// reloaded with the files.
    pub tls: std::sync::OnceLock<Arc<crate::tls::ServerTls>>,
    generation: AtomicU64,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("generation", &self.generation)
            .finish()
    }
}

/// Quota ceilings go to the key store.
struct StoreSink(Arc<KeyStore>);

impl QuotaSink for StoreSink {
    fn persist(&self, key: &str, scope: &str, used: u64, window_end: i64) -> Result<(), String> {
        self.0
            .put_quota(key, scope, used, window_end)
            .map_err(|e| e.to_string())
    }
    fn persist_many(&self, records: &[(String, String, u64, i64)]) -> Result<(), String> {
        self.0.flush_quotas(records).map_err(|e| e.to_string())
    }
    fn forget(&self, key: &str) -> Result<(), String> {
        self.0.delete_quota(key).map_err(|e| e.to_string())
    }
}

pub fn compile_settings(cfg: &Config) -> CompileSettings {
    CompileSettings {
        matching: Matching {
            prefix: cfg.http_server_options.enable_path_prefix_matching,
            suffix: cfg.http_server_options.enable_path_suffix_matching,
        },
        strict_routes: cfg.http_server_options.enable_strict_routes,
    }
}

/// Reads and compiles the files named by `cfg` (no side effects).
pub fn build_snapshot(cfg: &Config, generation: u64) -> Result<Snapshot, Issues> {
    let raw = read::read_all(cfg)?;
    Snapshot::compile(raw, compile_settings(cfg), generation)
}

/// Logs the unsupported-field warnings of a new snapshot that the previous one did not
/// have, so each is said once at load, not at every reload.
fn log_new_warnings(previous: &[read::Issue], current: &[read::Issue]) {
    for w in current.iter().filter(|w| !previous.contains(w)) {
        tracing::warn!(file = %w.file, field = %w.path, "{}", w.reason);
    }
}

impl AppState {
    /// Opens the store, restores quota counters and compiles the first snapshot.
    pub fn new(config: Config, clock: Clock) -> Result<Arc<AppState>, crate::StartupError> {
        let snapshot = build_snapshot(&config, 1).map_err(crate::StartupError::Files)?;
        for w in &config.warnings {
            tracing::warn!(file = "tyk.conf", field = %w.path, "{}", w.reason);
        }
        log_new_warnings(&[], &snapshot.warnings);
        let store = Arc::new(
            KeyStore::open(std::path::Path::new(&config.storage.path))
                .map_err(|e| crate::StartupError::Store(e.to_string()))?,
        );
        let limits = Limits::new(clock, Arc::new(StoreSink(store.clone())));
        for key in store.keys() {
            for (scope, used, window_end) in store.quota_records_for(&key) {
                limits.restore_quota(&key, &scope, used, window_end);
            }
        }
        // Connect timeout 5 s, TCP_NODELAY, keepalive 60 s, idle 90 s, 1024 idle per host.
        let client = crate::upstream::Pool::new();
        Ok(Arc::new(AppState {
            config: Arc::new(config),
            snapshot: ArcSwap::from_pointee(snapshot),
            store,
            limits,
            client,
            reload_status: Mutex::new(ReloadStatus {
                last_success: Some(SystemTime::now()),
                ..Default::default()
            }),
            reload_lock: tokio::sync::Mutex::new(()),
            policy_write_lock: tokio::sync::Mutex::new(()),
            tls: std::sync::OnceLock::new(),
            generation: AtomicU64::new(1),
        }))
    }

    pub fn status(&self) -> std::sync::MutexGuard<'_, ReloadStatus> {
        self.reload_status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-reads the files and swaps the snapshot; a bad set keeps the current one.
    pub async fn reload(self: &Arc<Self>, trigger: &str) -> Result<u64, Issues> {
        let _guard = self.reload_lock.lock().await;
        self.reload_certificates(trigger);
        let generation = self.generation.load(Ordering::Acquire) + 1;
        let cfg = self.config.clone();
        let started = std::time::Instant::now();
        // Parsing and regex compilation are CPU work: keep them off the async workers.
        let built = tokio::task::spawn_blocking(move || build_snapshot(&cfg, generation))
            .await
            .unwrap_or_else(|e| {
                Err(Issues(vec![read::Issue::new(
                    "<reload>",
                    "",
                    format!("reload task failed: {e}"),
                )]))
            });
        match built {
            Ok(snap)
                if snap.digest == self.snapshot.load().digest
                    && self.status().last_error.is_none() =>
            {
                // Same bytes as the live snapshot: keep it (and its warm grant cache).
                tracing::debug!(trigger, "reload: files unchanged");
                Ok(self.snapshot.load().generation)
            }
            Ok(snap) => {
                log_new_warnings(&self.snapshot.load().warnings, &snap.warnings);
                let (apis, policies, digest) =
                    (snap.apis.len(), snap.policies.len(), snap.digest.clone());
                self.snapshot.store(Arc::new(snap));
                self.generation.store(generation, Ordering::Release);
                let mut st = self.status();
                st.reloads += 1;
                st.last_success = Some(SystemTime::now());
                st.last_error = None;
                tracing::info!(trigger, generation, apis, policies, digest = %digest, took_ms = started.elapsed().as_millis() as u64, "reloaded");
                Ok(generation)
            }
            Err(issues) => {
                let mut st = self.status();
                st.failures += 1;
                let first_time = st.last_error.as_ref() != Some(&issues);
                if first_time {
                    tracing::error!(trigger, problems = %issues, "reload rejected; keeping the last good configuration");
                }
                st.last_error = Some(issues.clone());
                Err(issues)
            }
        }
    }

    /// Re-reads the listener's certificates (with every reload); a bad file keeps the
    /// current ones and is reported on `/hello`.
    fn reload_certificates(&self, trigger: &str) {
        let Some(tls) = self.tls.get() else { return };
        let now = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let outcome = tls.reload(&self.config.http_server_options, now);
        let mut st = self.status();
        match outcome {
            Ok(n) => {
                if st.tls_error.take().is_some() {
                    tracing::info!(trigger, certificates = n, "certificates reloaded");
                }
            }
            Err(problems) => {
                let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
                if st.tls_error.as_ref() != Some(&lines) {
                    tracing::error!(trigger, problems = %lines.join("; "), "certificate reload rejected; keeping the current certificates");
                }
                st.tls_error = Some(lines);
            }
        }
    }

    /// Writes exact quota counts and syncs the store (clean shutdown).
    pub fn shutdown(&self) {
        match self.limits.flush_quotas() {
            Ok(n) => tracing::info!(counters = n, "quota counters saved"),
            Err(e) => tracing::error!(error = %e, "saving quota counters failed"),
        }
        if let Err(e) = self.store.close() {
            tracing::error!(error = %e, "closing the key store failed");
        }
    }
}
