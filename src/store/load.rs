//! Open-time recovery: read the snapshot, replay the log, repair a torn tail.

use super::files;
use super::format::{self, FileKind, Header, HeaderError, Line, Record};
use super::{Shared, StoreError};
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::Ordering;

/// What the writer thread needs to continue where the files left off.
pub(super) struct Loaded {
    pub generation: u64,
    /// Last revision assigned.
    pub revision: u64,
    /// The log, positioned at its end.
    pub log: File,
    pub log_len: u64,
    /// Records in the log (header excluded).
    pub log_records: u64,
}

fn corrupt(path: &Path, line: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

fn header(path: &Path, lines: &[Line<'_>], kind: FileKind) -> Result<Header, StoreError> {
    let Some(first) = lines.first().filter(|l| l.terminated) else {
        return Err(corrupt(path, 1, "missing or incomplete header line"));
    };
    format::parse_header(first.text, kind).map_err(|e| match e {
        HeaderError::Version(found) => StoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: format::VERSION,
        },
        HeaderError::Invalid(reason) => corrupt(path, 1, reason),
    })
}

/// Applies a put/del/quota/quota_del record; `rev` tracks the last revision.
fn apply(shared: &Shared, record: Record, rev: &mut u64) {
    match record {
        Record::Put {
            key,
            rev: r,
            session,
        } => {
            let r = r.unwrap_or(rev.saturating_add(1));
            *rev = (*rev).max(r);
            shared.put(&key, *session, r);
        }
        Record::Del { key } => {
            shared.del(&key);
        }
        Record::Quota {
            key,
            scope,
            used,
            window_end,
        } => shared.set_quota(&key, &scope, used, window_end),
        Record::QuotaDel { key } => shared.del_quota(&key),
        Record::End { .. } => {}
    }
}

/// Loads `snapshot.jsonl` into `shared`; returns its header.
fn load_snapshot(
    path: &Path,
    data: &[u8],
    shared: &Shared,
    rev: &mut u64,
) -> Result<Header, StoreError> {
    let lines = format::lines(data);
    let h = header(path, &lines, FileKind::Snapshot)?;
    *rev = h.revision;
    let mut records = 0u64;
    let mut ended = false;
    for line in &lines[1..] {
        if !line.terminated {
            return Err(corrupt(
                path,
                line.no,
                "incomplete final line: snapshots are written atomically, so this file was truncated or damaged after it was written",
            ));
        }
        if line.is_blank() {
            continue;
        }
        if ended {
            return Err(corrupt(path, line.no, "data after the end record"));
        }
        if let Some(record) = format::fast_put(line.text) {
            apply(shared, record, rev);
            records += 1;
            continue;
        }
        let value: Value = serde_json::from_slice(line.text)
            .map_err(|e| corrupt(path, line.no, format!("invalid JSON: {e}")))?;
        match format::parse_record(value).map_err(|reason| corrupt(path, line.no, reason))? {
            Record::End { records: n } => {
                if n != records {
                    return Err(corrupt(
                        path,
                        line.no,
                        format!("end record counts {n} records but the snapshot holds {records}"),
                    ));
                }
                ended = true;
            }
            Record::Del { .. } | Record::QuotaDel { .. } => {
                return Err(corrupt(
                    path,
                    line.no,
                    "delete records are not allowed in a snapshot",
                ));
            }
            record => {
                apply(shared, record, rev);
                records += 1;
            }
        }
    }
    if !ended {
        return Err(corrupt(
            path,
            lines.last().map_or(1, |l| l.no) + 1,
            "missing end record: the snapshot is truncated",
        ));
    }
    Ok(h)
}

/// Replays log records after the header. Returns (records applied, byte length
/// of the good prefix if a torn tail must be cut off).
fn replay_log(
    path: &Path,
    lines: &[Line<'_>],
    shared: &Shared,
    rev: &mut u64,
) -> Result<(u64, Option<u64>), StoreError> {
    let mut records = 0;
    // Trailing blank lines do not count: the torn-write exemption is for the last record.
    let last = lines
        .iter()
        .rposition(|l| !l.terminated || !l.is_blank())
        .unwrap_or(0);
    for (i, line) in lines.iter().enumerate().skip(1) {
        let torn = |reason: String| {
            tracing::warn!(
                path = %path.display(),
                line = line.no,
                reason,
                "dropping torn final record of the key store log (an unacknowledged write interrupted by a crash)"
            );
            Ok((records, Some(line.start as u64)))
        };
        if !line.terminated {
            return torn("no trailing newline".into());
        }
        if line.is_blank() {
            continue;
        }
        if let Some(record) = format::fast_put(line.text) {
            apply(shared, record, rev);
            records += 1;
            continue;
        }
        let value: Value = match serde_json::from_slice(line.text) {
            Ok(v) => v,
            Err(e) if i == last => return torn(format!("invalid JSON: {e}")),
            Err(e) => {
                return Err(corrupt(
                    path,
                    line.no,
                    format!("invalid JSON ({e}) before the last line: the log is corrupt; refusing to start so that no keys are lost silently"),
                ))
            }
        };
        let record =
            format::parse_record(value).map_err(|reason| corrupt(path, line.no, reason))?;
        if let Record::End { .. } = record {
            return Err(corrupt(
                path,
                line.no,
                "end records are not allowed in a log",
            ));
        }
        apply(shared, record, rev);
        records += 1;
    }
    Ok((records, None))
}

/// Starts a fresh log for `header` (tmp file, fsync, rename, directory fsync).
fn fresh_log(dir: &Path, header: Header) -> Result<(File, u64), StoreError> {
    let (file, len) = files::create_log_tmp(dir, header)?;
    files::install(dir, format::LOG_TMP, format::LOG)?;
    Ok((file, len))
}

/// Recovers the state of `dir` into `shared`.
pub(super) fn load(dir: &Path, shared: &Shared) -> Result<Loaded, StoreError> {
    files::remove_temp_files(dir)?;
    let snap_path = dir.join(format::SNAPSHOT);
    let log_path = dir.join(format::LOG);
    let inconsistent = |reason: String| StoreError::Inconsistent {
        dir: dir.to_path_buf(),
        reason,
    };
    let mut rev = 0;

    let snap = match files::read_optional(&snap_path)? {
        Some(data) => load_snapshot(&snap_path, &data, shared, &mut rev)?,
        None => {
            if log_path.exists() {
                return Err(inconsistent(format!(
                    "{} exists but {} is missing; refusing to start without it (restore it from a backup)",
                    log_path.display(),
                    snap_path.display()
                )));
            }
            // A new store: an empty generation-0 snapshot, then its log.
            let h = Header {
                generation: 0,
                revision: 0,
            };
            files::write_snapshot_tmp(dir, h, shared)?;
            files::install(dir, format::SNAPSHOT_TMP, format::SNAPSHOT)?;
            h
        }
    };
    let fresh = |rev: u64| -> Result<Loaded, StoreError> {
        let header = Header {
            generation: snap.generation,
            revision: rev,
        };
        let (log, log_len) = fresh_log(dir, header)?;
        Ok(Loaded {
            generation: snap.generation,
            revision: rev,
            log,
            log_len,
            log_records: 0,
        })
    };

    let mut log = match OpenOptions::new().read(true).write(true).open(&log_path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Only legitimate after a crash while creating a new store.
            if snap.generation == 0 && shared.keys.is_empty() && shared.quotas.is_empty() {
                shared.revision.store(rev, Ordering::Release);
                return fresh(rev);
            }
            return Err(inconsistent(format!(
                "{} is missing although {} has data; refusing to start (restore it from a backup)",
                log_path.display(),
                snap_path.display()
            )));
        }
        Err(e) => return Err(StoreError::io("open", &log_path, e)),
    };
    let mut data = Vec::new();
    log.read_to_end(&mut data)
        .map_err(|e| StoreError::io("read", &log_path, e))?;
    let lines = format::lines(&data);
    let log_header = header(&log_path, &lines, FileKind::Log)?;
    if log_header.generation < snap.generation {
        // Compaction got as far as installing the snapshot: this log's records are
        // all contained in it.
        tracing::warn!(
            path = %log_path.display(),
            log_generation = log_header.generation,
            snapshot_generation = snap.generation,
            "discarding a log already folded into the snapshot (interrupted compaction)"
        );
        drop(log);
        shared.revision.store(rev, Ordering::Release);
        return fresh(rev);
    }
    if log_header.generation > snap.generation {
        return Err(inconsistent(format!(
            "{} follows snapshot generation {} but {} is generation {}; the snapshot is older than its log (was an old backup restored?)",
            log_path.display(),
            log_header.generation,
            snap_path.display(),
            snap.generation
        )));
    }
    rev = rev.max(log_header.revision);
    let (log_records, cut) = replay_log(&log_path, &lines, shared, &mut rev)?;
    let mut log_len = data.len() as u64;
    if let Some(len) = cut {
        log.set_len(len)
            .and_then(|()| log.sync_all())
            .map_err(|e| StoreError::io("truncate torn tail of", &log_path, e))?;
        log_len = len;
    }
    log.seek(SeekFrom::Start(log_len))
        .map_err(|e| StoreError::io("seek", &log_path, e))?;
    shared.revision.store(rev, Ordering::Release);
    Ok(Loaded {
        generation: snap.generation,
        revision: rev,
        log,
        log_len,
        log_records,
    })
}
