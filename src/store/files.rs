//! File-level helpers: the lock, atomic file replacement, snapshot writing.

use super::format::{self, FileKind, Header};
use super::{Shared, StoreError};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Takes the exclusive lock on `dir/LOCK` (held until the returned file is dropped).
pub(super) fn acquire_lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(format::LOCK);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StoreError::io("open lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StoreError::Locked {
                dir: dir.to_path_buf(),
                lock: path,
            })
        }
        Err(TryLockError::Error(e)) => return Err(StoreError::io("lock", &path, e)),
    }
    // Informational only: which process holds the lock.
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(|e| StoreError::io("write lock file", &path, e))?;
    Ok(file)
}

/// Makes renames and creations in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

/// Renames `dir/from` over `dir/to`, then fsyncs the directory.
pub(super) fn install(dir: &Path, from: &str, to: &str) -> Result<(), StoreError> {
    let (src, dst) = (dir.join(from), dir.join(to));
    fs::rename(&src, &dst).map_err(|e| StoreError::io("rename into place", &src, e))?;
    sync_dir(dir)
}

/// Deletes leftover temporary files of an interrupted compaction.
pub(super) fn remove_temp_files(dir: &Path) -> Result<(), StoreError> {
    for name in [format::SNAPSHOT_TMP, format::LOG_TMP] {
        let path = dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => {
                tracing::warn!(path = %path.display(), "removed leftover temporary file of an interrupted compaction")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("remove", &path, e)),
        }
    }
    Ok(())
}

/// Writes the complete state in `shared` to `dir/snapshot.jsonl.tmp` and fsyncs it.
pub(super) fn write_snapshot_tmp(
    dir: &Path,
    header: Header,
    shared: &Shared,
) -> Result<(), StoreError> {
    let path = dir.join(format::SNAPSHOT_TMP);
    let file = File::create(&path).map_err(|e| StoreError::io("create", &path, e))?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let werr = |e| StoreError::io("write", &path, e);
    out.write_all(format::header_line(FileKind::Snapshot, header).as_bytes())
        .map_err(werr)?;
    let mut records = 0u64;
    let mut line = Vec::with_capacity(1024);
    for name in shared.all_names() {
        line.clear();
        if let Some(stored) = shared.get(&name) {
            // Already JSON, and already checked to decode: copied, not re-encoded.
            format::push_put(&mut line, &name, stored.revision, stored.json().as_bytes());
            records += 1;
        }
        shared.with_quotas(&name, |scopes| {
            for (scope, &(used, window_end)) in scopes {
                format::push_quota(&mut line, &name, scope, used, window_end);
                records += 1;
            }
        });
        out.write_all(&line).map_err(werr)?;
    }
    line.clear();
    format::push_end(&mut line, records);
    out.write_all(&line).map_err(werr)?;
    let file = out
        .into_inner()
        .map_err(|e| StoreError::io("write", &path, e.into_error()))?;
    file.sync_all()
        .map_err(|e| StoreError::io("fsync", &path, e))
}

/// Creates `dir/log.jsonl.tmp` holding only a header, fsynced. Returns the open
/// file (positioned at its end) and its length.
pub(super) fn create_log_tmp(dir: &Path, header: Header) -> Result<(File, u64), StoreError> {
    let path = dir.join(format::LOG_TMP);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| StoreError::io("create", &path, e))?;
    let text = format::header_line(FileKind::Log, header);
    file.write_all(text.as_bytes())
        .map_err(|e| StoreError::io("write", &path, e))?;
    file.sync_all()
        .map_err(|e| StoreError::io("fsync", &path, e))?;
    Ok((file, text.len() as u64))
}
