//! Embedded key store: durable, crash-safe persistence of API-key sessions and
//! quota counters in a local directory (`storage.path`, e.g. `./data`).
//!
//! # On-disk format (version 1)
//!
//! The directory holds three files, all plain text so operators can read, diff
//! and back them up:
//!
//! * `LOCK` — held with an exclusive `flock` while a gateway has the store open
//!   (it contains that process's pid). A second open fails with
//!   [`StoreError::Locked`].
//! * `snapshot.jsonl` — the full state as of its generation. Line 1 is a header,
//!   then one record per line (sorted by key; a key's `put` before its `quota`
//!   records), then an `end` trailer carrying the record count:
//!   ```text
//!   {"format":"tollgate-keystore","version":1,"kind":"snapshot","generation":3,"revision":1207}
//!   {"op":"put","key":"abc","rev":1180,"session":{"rate":100.0,"per":1.0,...}}
//!   {"op":"quota","key":"abc","scope":"api1","used":42,"window_end":1767225600}
//!   {"op":"end","records":2}
//!   ```
//! * `log.jsonl` — append-only changes made after that snapshot. Line 1 is a
//!   header naming the snapshot generation it follows, then one record per line:
//!   ```text
//!   {"format":"tollgate-keystore","version":1,"kind":"log","generation":3,"revision":1207}
//!   {"op":"put","key":"abc","rev":1208,"session":{...}}
//!   {"op":"del","key":"abc"}                       (removes the key and all its quota records)
//!   {"op":"quota","key":"k","scope":"s","used":7,"window_end":1767225600}
//!   {"op":"quota_del","key":"k"}                   (removes all quota records of the key)
//!   ```
//!
//! A delete of a key with neither a session nor quota records writes nothing.
//! `rev` is the key's revision (a store-wide counter, persisted so it keeps
//! increasing across restarts; optional when hand-editing). `window_end` is in
//! Unix seconds. Blank lines and unknown members are ignored; an unknown `op`,
//! `kind`, or a `version` other than 1 is an error. Temporary files
//! (`*.tmp`) are leftovers of an interrupted compaction and are deleted on open.
//!
//! # Durability and recovery
//!
//! Every mutation is appended to the log and `fdatasync`ed before the call
//! returns, by a single writer thread doing group commit (concurrent callers share
//! one sync). The in-memory index is updated only after the sync, so a reader never
//! sees a change that a crash could take back.
//!
//! On open, the log's final line is dropped (with a warning, and the file
//! truncated) when it lacks its newline or is not valid JSON: that is a torn
//! append whose caller was never acknowledged. Any other bad line is corruption and
//! `open` fails naming the file and line rather than silently losing keys.
//!
//! Compaction (on the writer thread, once the log holds more than
//! `max(compact_after, 2 × live records)` records): write `snapshot.jsonl.tmp`
//! (generation G+1) and `log.jsonl.tmp` (header G+1), fsync both; rename the
//! snapshot into place and fsync the directory; rename the log into place and fsync
//! the directory. On open a log whose generation is older than the snapshot's is
//! already contained in it and is discarded; a newer one is an error. So a crash at
//! any step opens to the same content.
//!
//! If an append fails the partial write is cut off and that batch's callers get
//! the error; if an fsync (or a compaction rename after the snapshot is installed)
//! fails, the on-disk state is unknown and the writer refuses every later write
//! with [`StoreError::Failed`] until restart. Reads keep working.
//!
//! To back up a live store, copy `log.jsonl` first and `snapshot.jsonl` second:
//! if a compaction runs in between, the copied log is simply older than the
//! snapshot and is discarded on restore (the other order can pair an old snapshot
//! with a newer log, which `open` refuses).

mod files;
mod format;
mod load;
mod writer;

#[cfg(test)]
mod tests;

use crate::model::Session;
use dashmap::DashMap;
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use writer::{Ack, CrashPoint, Msg, Op};

/// A stored key's session and the revision of the `put` that stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub session: Session,
    /// Store-wide, strictly increasing across puts (and across restarts).
    pub revision: u64,
}

/// Tuning knobs of [`KeyStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Compact once the log holds more than `max(compact_after, 2 × live records)`
    /// records. Default 10 000.
    pub compact_after: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            compact_after: 10_000,
        }
    }
}

/// Key store failures. Every message names the file or directory concerned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key store: cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "key store {} is in use by another process (lock {} is held); is another gateway running with the same storage path?",
        dir.display(),
        lock.display()
    )]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("key store file {} line {line}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error(
        "key store file {} has format version {found}, but this build only reads version {supported}",
        path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("key store {}: {reason}", dir.display())]
    Inconsistent { dir: PathBuf, reason: String },
    #[error("key store {}: cannot encode record: {reason}", dir.display())]
    Encode { dir: PathBuf, reason: String },
    #[error("key store {} is closed", dir.display())]
    Closed { dir: PathBuf },
    #[error(
        "key store {} stopped accepting writes after a failure ({reason}); the outcome of writes in flight is unknown; restart the gateway",
        dir.display()
    )]
    Failed { dir: PathBuf, reason: String },
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        StoreError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// A copy of the error for every caller of a failed batch (`io::Error` is not `Clone`).
    fn duplicate(&self) -> Self {
        match self {
            StoreError::Io {
                action,
                path,
                source,
            } => StoreError::Io {
                action,
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            StoreError::Locked { dir, lock } => StoreError::Locked {
                dir: dir.clone(),
                lock: lock.clone(),
            },
            StoreError::Corrupt { path, line, reason } => StoreError::Corrupt {
                path: path.clone(),
                line: *line,
                reason: reason.clone(),
            },
            StoreError::UnsupportedVersion {
                path,
                found,
                supported,
            } => StoreError::UnsupportedVersion {
                path: path.clone(),
                found: *found,
                supported: *supported,
            },
            StoreError::Inconsistent { dir, reason } => StoreError::Inconsistent {
                dir: dir.clone(),
                reason: reason.clone(),
            },
            StoreError::Encode { dir, reason } => StoreError::Encode {
                dir: dir.clone(),
                reason: reason.clone(),
            },
            StoreError::Closed { dir } => StoreError::Closed { dir: dir.clone() },
            StoreError::Failed { dir, reason } => StoreError::Failed {
                dir: dir.clone(),
                reason: reason.clone(),
            },
        }
    }
}

/// A key's quota records: scope → (used, window_end).
type Scopes = BTreeMap<Box<str>, (u64, i64)>;

/// The in-memory index, shared by readers and the writer thread (its only mutator
/// after open).
#[derive(Default)]
pub(crate) struct Shared {
    keys: DashMap<Box<str>, Arc<StoredKey>>,
    quotas: DashMap<Box<str>, Scopes>,
    quota_count: AtomicUsize,
    /// Last revision made visible.
    revision: AtomicU64,
}

impl Shared {
    fn put(&self, key: &str, session: Session, revision: u64) {
        let stored = Arc::new(StoredKey { session, revision });
        if let Some(mut slot) = self.keys.get_mut(key) {
            *slot = stored;
        } else {
            self.keys.insert(key.into(), stored);
        }
    }

    /// Removes the key and its quota records; returns whether the key existed.
    fn del(&self, key: &str) -> bool {
        self.del_quota(key);
        self.keys.remove(key).is_some()
    }

    fn set_quota(&self, key: &str, scope: &str, used: u64, window_end: i64) {
        let inserted = match self.quotas.get_mut(key) {
            Some(mut scopes) => match scopes.get_mut(scope) {
                Some(v) => {
                    *v = (used, window_end);
                    false
                }
                None => {
                    scopes.insert(scope.into(), (used, window_end));
                    true
                }
            },
            None => {
                self.quotas.insert(
                    key.into(),
                    BTreeMap::from([(Box::<str>::from(scope), (used, window_end))]),
                );
                true
            }
        };
        if inserted {
            self.quota_count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn del_quota(&self, key: &str) {
        if let Some((_, scopes)) = self.quotas.remove(key) {
            self.quota_count.fetch_sub(scopes.len(), Ordering::Relaxed);
        }
    }

    fn has_quota(&self, key: &str) -> bool {
        self.quotas.contains_key(key)
    }

    /// Live records: keys plus quota records (what a snapshot would hold).
    fn live(&self) -> usize {
        self.keys.len() + self.quota_count.load(Ordering::Relaxed)
    }

    /// All key names (of sessions or quota records), sorted and deduplicated.
    fn all_names(&self) -> Vec<Box<str>> {
        let mut names: Vec<Box<str>> = self.keys.iter().map(|e| e.key().clone()).collect();
        names.extend(self.quotas.iter().map(|e| e.key().clone()));
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// The embedded key store. Reads are served from memory; writes are durable
/// before they return. All methods are synchronous (wrap writes in
/// `spawn_blocking` from async code).
pub struct KeyStore {
    dir: PathBuf,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Msg>,
    closed: AtomicBool,
    writer: Mutex<Option<JoinHandle<()>>>,
    lock: Mutex<Option<File>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("dir", &self.dir)
            .field("keys", &self.shared.keys.len())
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Opens (creating if missing) the store in `dir` with default options.
    pub fn open(dir: &Path) -> Result<KeyStore, StoreError> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// Opens (creating if missing) the store in `dir`.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<KeyStore, StoreError> {
        Self::open_inner(dir, options, None)
    }

    fn open_inner(
        dir: &Path,
        options: StoreOptions,
        crash_at: Option<CrashPoint>,
    ) -> Result<KeyStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
        let dir = dir.to_path_buf();
        let lock = files::acquire_lock(&dir)?;
        let shared = Arc::new(Shared::default());
        let loaded = load::load(&dir, &shared)?;
        let (tx, rx) = mpsc::channel();
        let handle = writer::spawn(
            writer::Writer::new(dir.clone(), Arc::clone(&shared), loaded, options, crash_at),
            rx,
        )
        .map_err(|e| StoreError::io("start writer thread for", &dir, e))?;
        Ok(KeyStore {
            dir,
            shared,
            tx,
            closed: AtomicBool::new(false),
            writer: Mutex::new(Some(handle)),
            lock: Mutex::new(Some(lock)),
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The key's session, if stored. Does not allocate.
    pub fn get(&self, key: &str) -> Option<Arc<StoredKey>> {
        self.shared.keys.get(key).map(|e| Arc::clone(e.value()))
    }

    /// Stores (or replaces) the key's session; durable on return. Returns the new revision.
    /// Stores many keys in one durable batch (one sync); returns the last revision.
    /// For bulk imports: a million keys load in seconds instead of one sync each.
    pub fn put_many(&self, items: Vec<(String, Session)>) -> Result<u64, StoreError> {
        if items.is_empty() {
            return Ok(self.revision());
        }
        let mut ops = Vec::with_capacity(items.len());
        for (key, session) in items {
            let session_json = serde_json::to_vec(&session).map_err(|e| StoreError::Encode {
                dir: self.dir.clone(),
                reason: e.to_string(),
            })?;
            ops.push(Op::Put {
                key: key.into(),
                session: Box::new(session),
                session_json,
            });
        }
        Ok(self.submit(ops)?.revision)
    }

    pub fn put(&self, key: &str, session: Session) -> Result<u64, StoreError> {
        let session_json = serde_json::to_vec(&session).map_err(|e| StoreError::Encode {
            dir: self.dir.clone(),
            reason: e.to_string(),
        })?;
        let ack = self.submit(vec![Op::Put {
            key: key.into(),
            session: Box::new(session),
            session_json,
        }])?;
        Ok(ack.revision)
    }

    /// Removes the key and all its quota records; durable on return. Returns whether the key existed.
    pub fn delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.submit(vec![Op::Del { key: key.into() }])?.existed)
    }

    /// Stored key names, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .shared
            .keys
            .iter()
            .map(|e| e.key().to_string())
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Number of stored keys.
    pub fn len(&self) -> usize {
        self.shared.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shared.keys.is_empty()
    }

    /// The last revision assigned (0 for a store never written to).
    pub fn revision(&self) -> u64 {
        self.shared.revision.load(Ordering::Acquire)
    }

    /// Records a quota counter; durable on return.
    pub fn put_quota(
        &self,
        key: &str,
        scope: &str,
        used: u64,
        window_end: i64,
    ) -> Result<(), StoreError> {
        self.submit(vec![Op::Quota {
            key: key.into(),
            scope: scope.into(),
            used,
            window_end,
        }])
        .map(drop)
    }

    /// The `(used, window_end)` of a key's quota scope.
    pub fn quota(&self, key: &str, scope: &str) -> Option<(u64, i64)> {
        self.shared
            .quotas
            .get(key)
            .and_then(|s| s.get(scope).copied())
    }

    /// All `(scope, used, window_end)` of a key, sorted by scope.
    pub fn quota_records_for(&self, key: &str) -> Vec<(String, u64, i64)> {
        self.shared
            .quotas
            .get(key)
            .map(|s| {
                s.iter()
                    .map(|(scope, &(u, w))| (scope.to_string(), u, w))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes all quota records of the key; durable on return.
    pub fn delete_quota(&self, key: &str) -> Result<(), StoreError> {
        self.submit(vec![Op::QuotaDel { key: key.into() }])
            .map(drop)
    }

    /// Records many `(key, scope, used, window_end)` quota counters in one durable batch.
    pub fn flush_quotas(&self, records: &[(String, String, u64, i64)]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let ops = records
            .iter()
            .map(|(key, scope, used, window_end)| Op::Quota {
                key: key.as_str().into(),
                scope: scope.as_str().into(),
                used: *used,
                window_end: *window_end,
            })
            .collect();
        self.submit(ops).map(drop)
    }

    /// Stops the writer thread (every acknowledged write is already durable) and
    /// releases the directory lock. Later writes fail with [`StoreError::Closed`];
    /// reads keep working. Idempotent; also run on drop.
    pub fn close(&self) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // A send error means the writer already exited; join reports why.
        let _ = self.tx.send(Msg::Shutdown);
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        let result = match handle.map(JoinHandle::join) {
            Some(Err(_)) => Err(StoreError::Failed {
                dir: self.dir.clone(),
                reason: "the writer thread panicked".into(),
            }),
            _ => Ok(()),
        };
        drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()).take());
        result
    }

    /// Sends ops to the writer and waits until they are durable (or failed).
    fn submit(&self, ops: Vec<Op>) -> Result<Ack, StoreError> {
        let closed = || StoreError::Closed {
            dir: self.dir.clone(),
        };
        if self.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        let (reply, rx) = mpsc::sync_channel(1);
        self.tx
            .send(Msg::Write { ops, reply })
            .map_err(|_| closed())?;
        // A dropped reply sender means the writer exited before handling the request.
        rx.recv().map_err(|_| closed())?
    }
}

impl Drop for KeyStore {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing key store");
        }
    }
}
