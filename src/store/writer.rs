//! The writer thread: group commit of log appends, and compaction.

use super::files;
use super::format::{self, Header};
use super::load::Loaded;
use super::{Encoded, Shared, StoreError, StoreOptions, StoredKey};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

/// Requests handled per commit at most (bounds the batch buffer).
const MAX_BATCH: usize = 4096;

/// One mutation.
pub(super) enum Op {
    /// Encoded by the caller; its revision is assigned here.
    Put(Encoded),
    Del {
        key: Box<str>,
    },
    Quota {
        key: Box<str>,
        scope: Box<str>,
        used: u64,
        window_end: i64,
    },
    QuotaDel {
        key: Box<str>,
    },
}

/// Result of a request: the revision of its (last) put, whether its (last) delete found the key.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Ack {
    pub revision: u64,
    pub existed: bool,
}

pub(super) enum Msg {
    Write {
        ops: Vec<Op>,
        reply: mpsc::SyncSender<Result<Ack, StoreError>>,
    },
    Shutdown,
}

/// Test-only fault injection: stop compaction at this point as if the process had
/// been killed there (the writer then refuses all further writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(super) enum CrashPoint {
    SnapshotTmpWritten,
    LogTmpWritten,
    SnapshotInstalled,
    LogInstalled,
}

pub(super) struct Writer {
    dir: PathBuf,
    shared: Arc<Shared>,
    log: File,
    log_len: u64,
    log_records: u64,
    generation: u64,
    /// Last revision assigned (and made visible).
    revision: u64,
    compact_after: u64,
    /// Do not retry a failed compaction before the log holds this many records.
    retry_compaction_at: u64,
    /// Set after an I/O failure that leaves the on-disk state unknown.
    failed: Option<String>,
    crash_at: Option<CrashPoint>,
    buf: Vec<u8>,
}

type Request = (Vec<Op>, mpsc::SyncSender<Result<Ack, StoreError>>);

pub(super) fn spawn(writer: Writer, rx: mpsc::Receiver<Msg>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tollgate-store".into())
        .spawn(move || writer.run(rx))
}

impl Writer {
    pub(super) fn new(
        dir: PathBuf,
        shared: Arc<Shared>,
        loaded: Loaded,
        options: StoreOptions,
        crash_at: Option<CrashPoint>,
    ) -> Writer {
        Writer {
            dir,
            shared,
            log: loaded.log,
            log_len: loaded.log_len,
            log_records: loaded.log_records,
            generation: loaded.generation,
            revision: loaded.revision,
            compact_after: options.compact_after as u64,
            retry_compaction_at: 0,
            failed: None,
            crash_at,
            buf: Vec::with_capacity(1 << 16),
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        self.maybe_compact();
        let mut batch: Vec<Request> = Vec::new();
        loop {
            let mut shutdown = false;
            match rx.recv() {
                Ok(Msg::Write { ops, reply }) => batch.push((ops, reply)),
                Ok(Msg::Shutdown) | Err(_) => return,
            }
            // Group commit: take everything that queued up during the last sync.
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(Msg::Write { ops, reply }) => batch.push((ops, reply)),
                    Ok(Msg::Shutdown) => {
                        shutdown = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.commit(&mut batch);
            if shutdown {
                // Requests still queued are dropped with the receiver: their
                // callers see `Closed`.
                return;
            }
            self.maybe_compact();
        }
    }

    fn fail(&mut self, reason: String) {
        tracing::error!(dir = %self.dir.display(), reason, "key store stops accepting writes");
        self.failed = Some(reason);
    }

    fn failed_error(&self, reason: &str) -> StoreError {
        StoreError::Failed {
            dir: self.dir.clone(),
            reason: reason.to_string(),
        }
    }

    /// Appends and syncs one batch, then applies it to memory and answers its callers.
    fn commit(&mut self, batch: &mut Vec<Request>) {
        if let Some(reason) = &self.failed {
            let err = self.failed_error(reason);
            for (_, reply) in batch.drain(..) {
                let _ = reply.send(Err(err.duplicate()));
            }
            return;
        }

        // Encode. Deletes of absent keys write nothing; existence accounts for
        // earlier ops of the same batch, which are not applied yet.
        self.buf.clear();
        let mut lines = 0u64;
        let mut rev = self.revision;
        let mut acks = Vec::with_capacity(batch.len());
        {
            let mut exists: HashMap<&str, bool> = HashMap::new();
            let mut quotas: HashMap<&str, bool> = HashMap::new();
            let shared = &*self.shared;
            let buf = &mut self.buf;
            for (ops, _) in batch.iter() {
                let mut ack = Ack::default();
                for op in ops {
                    match op {
                        Op::Put(encoded) => {
                            rev += 1;
                            format::push_put(buf, encoded.key(), rev, encoded.json().as_bytes());
                            lines += 1;
                            exists.insert(encoded.key(), true);
                            ack.revision = rev;
                        }
                        Op::Del { key } => {
                            let existed = *exists.entry(key).or_insert_with(|| shared.has_key(key));
                            let has_quota =
                                *quotas.entry(key).or_insert_with(|| shared.has_quota(key));
                            if existed || has_quota {
                                format::push_del(buf, key);
                                lines += 1;
                            }
                            exists.insert(key, false);
                            quotas.insert(key, false);
                            ack.existed = existed;
                        }
                        Op::Quota {
                            key,
                            scope,
                            used,
                            window_end,
                        } => {
                            format::push_quota(buf, key, scope, *used, *window_end);
                            lines += 1;
                            quotas.insert(key, true);
                        }
                        Op::QuotaDel { key } => {
                            if *quotas.entry(key).or_insert_with(|| shared.has_quota(key)) {
                                format::push_quota_del(buf, key);
                                lines += 1;
                            }
                            quotas.insert(key, false);
                        }
                    }
                }
                acks.push(ack);
            }
        }

        if let Err(e) = self.append() {
            for (_, reply) in batch.drain(..) {
                let _ = reply.send(Err(e.duplicate()));
            }
            return;
        }
        self.log_records += lines;

        // Durable: make it visible, then acknowledge.
        for ((ops, reply), ack) in batch.drain(..).zip(acks) {
            for op in ops {
                match op {
                    Op::Put(encoded) => {
                        self.revision += 1;
                        self.shared.put(StoredKey::stored(&encoded, self.revision));
                    }
                    Op::Del { key } => {
                        self.shared.del(&key);
                    }
                    Op::Quota {
                        key,
                        scope,
                        used,
                        window_end,
                    } => self.shared.set_quota(&key, &scope, used, window_end),
                    Op::QuotaDel { key } => self.shared.del_quota(&key),
                }
            }
            self.shared.revision.store(self.revision, Ordering::Release);
            let _ = reply.send(Ok(ack));
        }
        debug_assert_eq!(self.revision, rev);
    }

    /// Writes `self.buf` at the end of the log and fdatasyncs it.
    fn append(&mut self) -> Result<(), StoreError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(format::LOG);
        if let Err(e) = self.log.write_all(&self.buf) {
            let err = StoreError::io("append to", &path, e);
            // Cut off whatever part was written so the log stays well-formed.
            let rollback = self
                .log
                .set_len(self.log_len)
                .and_then(|()| self.log.seek(SeekFrom::Start(self.log_len)));
            if let Err(e2) = rollback {
                self.fail(format!(
                    "{err}; then cannot truncate the partial append: {e2}"
                ));
            }
            return Err(err);
        }
        if let Err(e) = self.log.sync_data() {
            // After a failed fsync the kernel may have dropped the dirty pages:
            // the log's content is unknown, so stop writing.
            let err = StoreError::io("fdatasync", &path, e);
            self.fail(err.to_string());
            return Err(err);
        }
        self.log_len += self.buf.len() as u64;
        Ok(())
    }

    fn maybe_compact(&mut self) {
        if self.failed.is_some() || self.log_records < self.retry_compaction_at {
            return;
        }
        let threshold = self
            .compact_after
            .max(2u64.saturating_mul(self.shared.live() as u64));
        if self.log_records <= threshold {
            return;
        }
        if let Err(e) = self.compact() {
            tracing::error!(error = %e, "key store compaction failed; will retry later");
            self.retry_compaction_at = self.log_records.saturating_add(self.compact_after.max(1));
        }
    }

    /// Returns true (after marking the writer failed) when a test asked to "crash" here.
    fn crash_here(&mut self, point: CrashPoint) -> bool {
        if self.crash_at == Some(point) {
            self.failed = Some(format!("simulated crash at {point:?}"));
            return true;
        }
        false
    }

    /// Folds the log into a new snapshot and starts an empty log. An error before
    /// the snapshot is installed leaves the old files in charge; one after it
    /// marks the writer failed (the old log must not receive more records).
    fn compact(&mut self) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let header = Header {
            generation: self.generation + 1,
            revision: self.revision,
        };
        let prepared = files::write_snapshot_tmp(&self.dir, header, &self.shared).and_then(|()| {
            if self.crash_here(CrashPoint::SnapshotTmpWritten) {
                return Ok(None);
            }
            files::create_log_tmp(&self.dir, header).map(Some)
        });
        let (log, log_len) = match prepared {
            Ok(Some(new_log)) => new_log,
            Ok(None) => return Ok(()),
            Err(e) => {
                let _ = files::remove_temp_files(&self.dir);
                return Err(e);
            }
        };
        if self.crash_here(CrashPoint::LogTmpWritten) {
            return Ok(());
        }
        if let Err(e) = std::fs::rename(
            self.dir.join(format::SNAPSHOT_TMP),
            self.dir.join(format::SNAPSHOT),
        ) {
            let _ = files::remove_temp_files(&self.dir);
            return Err(StoreError::io(
                "rename into place",
                &self.dir.join(format::SNAPSHOT_TMP),
                e,
            ));
        }
        // From here on the old log is stale: any failure stops the writer.
        let installed = files::sync_dir(&self.dir).and_then(|()| {
            if self.crash_here(CrashPoint::SnapshotInstalled) {
                return Ok(false);
            }
            files::install(&self.dir, format::LOG_TMP, format::LOG).map(|()| true)
        });
        match installed {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => {
                self.fail(format!("compaction could not complete: {e}"));
                return Err(e);
            }
        }
        if self.crash_here(CrashPoint::LogInstalled) {
            return Ok(());
        }
        let folded = self.log_records;
        self.log = log;
        self.log_len = log_len;
        self.log_records = 0;
        self.generation = header.generation;
        self.retry_compaction_at = 0;
        tracing::info!(
            dir = %self.dir.display(),
            generation = self.generation,
            live_records = self.shared.live(),
            folded_log_records = folded,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "key store compacted"
        );
        Ok(())
    }
}
