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
//!
//! # In memory
//!
//! A key's session is kept as its JSON text, exactly as in the files (a
//! [`StoredKey`]), not as a decoded [`Session`]: a decoded session is several hundred
//! bytes of struct plus its strings and maps, and decoding a million of them (through
//! `#[serde(flatten)]`, which buffers every member) made opening take seconds. A
//! session is decoded when it is needed: on a grant-cache miss on the request path
//! (`Snapshot::grant`, once per key revision and policy snapshot) and by the REST
//! API. Compaction copies the text into the new snapshot without re-encoding it.
//!
//! Keys are indexed by name in a sharded table (`index.rs`); opening fills it on all
//! cores (`load.rs`), with the same outcome as applying every line in turn.
//!
//! # Sessions that do not decode
//!
//! Opening still refuses a session that is valid JSON but not a valid `Session` (a
//! hand edit such as `"rate":"x"`), naming the file and line, as when every session
//! was decoded at open. The session of a put record is syntax-checked and walked
//! against `Session`'s schema without building anything (`model::session_check`,
//! which never accepts what the decoder would refuse) and kept as written; one it
//! cannot vouch for (nulls, say, in a hand-written line) is decoded in full as
//! before (nulls read as zero values) and kept re-encoded, or refused with the
//! decoder's message. `put` stores what `serde_json` encoded from a `Session`. So
//! every session in memory decodes.
//!
//! Should one not decode anyway (memory no longer matching that check), nothing
//! falls back to "no limits": the request path refuses the key as an unknown key
//! is refused (403 `Access to this API has been disallowed`) and logs the reason
//! once per cached grant; the REST API answers 500 rather than show or overwrite it.

mod files;
mod format;
mod index;
mod load;
mod writer;

#[cfg(test)]
mod tests;

use crate::tyk::json::DecodeError;
use crate::tyk::Session;
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use writer::{Ack, CrashPoint, Msg, Op};

/// A stored key: its name, its session (kept as JSON text) and the revision of the
/// `put` that stored it. Cloning it is cheap (one shared allocation) and never
/// allocates.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Store-wide, strictly increasing across puts (and across restarts).
    pub revision: u64,
    key_len: usize,
    /// The key name, then the session exactly as in the files: what
    /// `serde_json::to_vec(&session)` gave when it was stored, or the text read at
    /// open. Held by the index itself (not behind a second pointer), so a lookup
    /// reaches the key's bytes, and the count it increments, in one step.
    data: Arc<str>,
}

impl StoredKey {
    #[cfg(test)]
    pub(crate) fn new(key: &str, json: &str, revision: u64) -> StoredKey {
        Self::build(&mut String::new(), key, json, revision)
    }

    /// Builds a stored key with a buffer kept across calls (one allocation per key).
    fn build(scratch: &mut String, key: &str, json: &str, revision: u64) -> StoredKey {
        scratch.clear();
        scratch.push_str(key);
        scratch.push_str(json);
        StoredKey {
            revision,
            key_len: key.len(),
            data: Arc::from(scratch.as_str()),
        }
    }

    /// The writer's copy of an encoded put. Index entries live as long as their key,
    /// so they are allocated here, on the writer thread, next to each other rather
    /// than among the short-lived allocations of whichever thread called `put`:
    /// scattered entries made lookups among a million keys a quarter slower.
    fn stored(encoded: &Encoded, revision: u64) -> StoredKey {
        StoredKey {
            revision,
            key_len: encoded.key_len,
            data: Arc::from(encoded.data.as_str()),
        }
    }

    /// The key's (stored) name.
    pub fn key(&self) -> &str {
        // `key_len` is the length of the key this was built from: always a boundary.
        self.data.get(..self.key_len).unwrap_or_default()
    }

    /// The session's JSON text.
    pub fn json(&self) -> &str {
        self.data.get(self.key_len..).unwrap_or_default()
    }

    /// Decodes the session. Every session loaded or stored is known to decode (see
    /// the module docs), so an error here means memory no longer matches what was
    /// checked; callers refuse the key rather than guess.
    pub fn session(&self) -> Result<Session, DecodeError> {
        let json = self.json();
        // The direct decode is the common case; the `Value` route also accepts nulls
        // (as the load path does) and names the failing field.
        serde_json::from_str(json).or_else(|_| crate::tyk::json::decode(json.as_bytes()))
    }
}

/// A put encoded by its caller (off the writer thread): the key name, then the
/// session's JSON.
pub(super) struct Encoded {
    key_len: usize,
    data: String,
}

impl Encoded {
    fn new(key: &str, session: &Session) -> Result<Encoded, serde_json::Error> {
        let mut data = Vec::with_capacity(key.len() + 128);
        data.extend_from_slice(key.as_bytes());
        serde_json::to_writer(&mut data, session)?;
        let data = String::from_utf8(data).map_err(serde::ser::Error::custom)?;
        Ok(Encoded {
            key_len: key.len(),
            data,
        })
    }

    fn key(&self) -> &str {
        self.data.get(..self.key_len).unwrap_or_default()
    }

    fn json(&self) -> &str {
        self.data.get(self.key_len..).unwrap_or_default()
    }
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("key", &self.key())
            .field("revision", &self.revision)
            .field("json", &self.json())
            .finish()
    }
}

impl index::Keyed for StoredKey {
    fn key(&self) -> &str {
        StoredKey::key(self)
    }
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

/// The quota records of one key.
struct QuotaEntry {
    key: Box<str>,
    scopes: Scopes,
}

impl index::Keyed for QuotaEntry {
    fn key(&self) -> &str {
        &self.key
    }
}

/// The in-memory index, shared by readers and the writer thread (its only mutator
/// after open).
#[derive(Default)]
pub(crate) struct Shared {
    hasher: index::Hasher,
    keys: index::Index<StoredKey>,
    quotas: index::Index<QuotaEntry>,
    quota_count: AtomicUsize,
    /// Last revision made visible.
    revision: AtomicU64,
}

impl Shared {
    fn get(&self, key: &str) -> Option<StoredKey> {
        self.keys.with(&self.hasher, key, StoredKey::clone)
    }

    fn has_key(&self, key: &str) -> bool {
        self.keys.contains_key(&self.hasher, key)
    }

    fn put(&self, stored: StoredKey) {
        self.keys.insert(&self.hasher, stored);
    }

    /// Removes the key and its quota records; returns whether the key existed.
    fn del(&self, key: &str) -> bool {
        self.del_quota(key);
        self.keys.remove(&self.hasher, key).is_some()
    }

    fn set_quota(&self, key: &str, scope: &str, used: u64, window_end: i64) {
        let new = || QuotaEntry {
            key: key.into(),
            scopes: Scopes::new(),
        };
        let inserted = self.quotas.upsert(&self.hasher, key, new, |e| {
            e.scopes.insert(scope.into(), (used, window_end)).is_none()
        });
        if inserted {
            self.quota_count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn del_quota(&self, key: &str) {
        if let Some(e) = self.quotas.remove(&self.hasher, key) {
            self.quota_count
                .fetch_sub(e.scopes.len(), Ordering::Relaxed);
        }
    }

    fn has_quota(&self, key: &str) -> bool {
        self.quotas.contains_key(&self.hasher, key)
    }

    /// Calls `f` with the key's quota records, if it has any.
    fn with_quotas<R>(&self, key: &str, f: impl FnOnce(&Scopes) -> R) -> Option<R> {
        self.quotas.with(&self.hasher, key, |e| f(&e.scopes))
    }

    /// Live records: keys plus quota records (what a snapshot would hold).
    fn live(&self) -> usize {
        self.keys.len() + self.quota_count.load(Ordering::Relaxed)
    }

    /// All key names (of sessions or quota records), sorted and deduplicated.
    fn all_names(&self) -> Vec<Box<str>> {
        let mut names: Vec<Box<str>> = Vec::with_capacity(self.keys.len());
        self.keys.for_each(|e| names.push(e.key().into()));
        self.quotas.for_each(|e| names.push(e.key.clone()));
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
            .field("keys", &self.len())
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
        let (shared, loaded) = load::load(&dir)?;
        let shared = Arc::new(shared);
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
    pub fn get(&self, key: &str) -> Option<StoredKey> {
        self.shared.get(key)
    }

    /// Puts `stored` into memory only, unchecked: how tests get a session that does
    /// not decode past the checks of `put` and `open`.
    #[cfg(test)]
    pub(crate) fn insert_unchecked(&self, stored: StoredKey) {
        self.shared.put(stored);
    }

    /// Stores many keys in one durable batch (one sync); returns the last revision.
    /// For bulk imports: a million keys load in seconds instead of one sync each.
    pub fn put_many(&self, items: Vec<(String, Session)>) -> Result<u64, StoreError> {
        if items.is_empty() {
            return Ok(self.revision());
        }
        let mut ops = Vec::with_capacity(items.len());
        for (key, session) in items {
            ops.push(Op::Put(self.encode(&key, &session)?));
        }
        Ok(self.submit(ops)?.revision)
    }

    /// Stores (or replaces) the key's session; durable on return. Returns the new revision.
    pub fn put(&self, key: &str, session: Session) -> Result<u64, StoreError> {
        let ack = self.submit(vec![Op::Put(self.encode(key, &session)?)])?;
        Ok(ack.revision)
    }

    /// Encodes off the writer thread.
    fn encode(&self, key: &str, session: &Session) -> Result<Encoded, StoreError> {
        Encoded::new(key, session).map_err(|e| StoreError::Encode {
            dir: self.dir.clone(),
            reason: e.to_string(),
        })
    }

    /// Removes the key and all its quota records; durable on return. Returns whether the key existed.
    pub fn delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.submit(vec![Op::Del { key: key.into() }])?.existed)
    }

    /// Stored key names, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys = Vec::with_capacity(self.len());
        self.shared
            .keys
            .for_each(|e| keys.push(e.key().to_string()));
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
            .with_quotas(key, |s| s.get(scope).copied())
            .flatten()
    }

    /// All `(scope, used, window_end)` of a key, sorted by scope.
    pub fn quota_records_for(&self, key: &str) -> Vec<(String, u64, i64)> {
        self.shared
            .with_quotas(key, |s| {
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
