//! Open-time recovery: read the snapshot, replay the log, repair a torn tail.
//!
//! Opening a store of a million keys must take well under a second, and nearly all of
//! that is parsing lines and filling the index, so both run on every core:
//!
//! 1. A file's body is cut into jobs of whole lines. A job parses its lines, hashes
//!    each record's key and routes the change to that key's index shard. What the
//!    in-order checks need is kept as a short list of events per job (a run of
//!    ordinary records is one event).
//! 2. The events are checked in file order on one thread, exactly as a sequential
//!    reader would: the first bad line is the one reported, the torn-tail exemption
//!    applies to the log's last record only, and a `put` without `rev` gets the
//!    revision after the highest one before it.
//! 3. Each shard's tables are filled by one thread from that shard's changes in file
//!    order, snapshot first: every change of a key is applied in file order, so the
//!    result is the same as applying every line in turn.
//!
//! Nothing is applied before both files are known to be good.

use super::files;
use super::format::{self, FileKind, Header, HeaderError, Record};
use super::index::{self, Hasher, Index, Table, SHARDS};
use super::{QuotaEntry, Scopes, Shared, StoreError, StoredKey};
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Mutex;

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

/// Bytes below which a file is not worth a second thread. Tiny in tests, so that every
/// store test also runs the split into jobs and their in-order checks.
const MIN_BYTES_PER_THREAD: usize = if cfg!(test) { 64 } else { 1 << 20 };
/// Jobs per thread: finer jobs keep every core busy when one of them is slowed down.
const JOBS_PER_THREAD: usize = 4;
const MAX_THREADS: usize = 8;

fn corrupt(path: &Path, line: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// Bytes read at a time by a job (a longer line grows its buffer; tests use lines
/// longer than this).
const BLOCK: usize = if cfg!(test) { 48 } else { 1 << 20 };

/// Reads into `buf` from `offset` until it is full or `len` (the file's length at open)
/// is reached; returns the bytes read.
fn read_full(file: &File, buf: &mut [u8], offset: u64, len: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let want = buf
        .len()
        .min(usize::try_from(len.saturating_sub(offset)).unwrap_or(usize::MAX));
    let mut done = 0;
    while done < want {
        match file.read_at(&mut buf[done..want], offset + done as u64) {
            // Shorter than at open: nothing else writes while the lock is held, but
            // a short file is then simply read to its end.
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Calls `each(text, start, terminated)` for every line of `file` that starts in
/// `from..until` (`text` without its newline, `start` its offset) until it returns
/// false, reading `block` bytes at a time. Unless `from` is known to start a line, the
/// line that runs into it is skipped: it belongs to the range before.
fn for_each_line(
    file: &File,
    len: u64,
    (from, until): (u64, u64),
    from_is_line_start: bool,
    block: usize,
    mut each: impl FnMut(&[u8], u64, bool) -> bool,
) -> std::io::Result<()> {
    let mut skipping = !from_is_line_start;
    // File offset of `buf[0]`; reading one byte early finds a line starting at `from`.
    let mut at = if skipping {
        from.saturating_sub(1)
    } else {
        from
    };
    let left = usize::try_from(len.saturating_sub(at)).unwrap_or(usize::MAX);
    let mut buf = vec![0u8; block.min(left).max(1)];
    let mut filled = 0;
    loop {
        let got = read_full(file, &mut buf[filled..], at + filled as u64, len)?;
        let eof = filled + got < buf.len();
        filled += got;
        let mut p = 0;
        while p < filled {
            let start = at + p as u64;
            let (text, terminated) = match memchr::memchr(b'\n', &buf[p..filled]) {
                Some(n) => (&buf[p..p + n], true),
                None if eof => (&buf[p..filled], false),
                None => break,
            };
            p += text.len() + usize::from(terminated);
            if skipping {
                skipping = false;
                continue;
            }
            if start >= until || !each(text, start, terminated) {
                return Ok(());
            }
        }
        if eof {
            return Ok(());
        }
        // Keep the partial line; a line longer than the buffer grows it.
        buf.copy_within(p..filled, 0);
        at += p as u64;
        filled -= p;
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
    }
}

/// Reads and parses the header line; returns it and where the body starts.
fn header(path: &Path, file: &File, len: u64, kind: FileKind) -> Result<(Header, u64), StoreError> {
    let mut first = None;
    // Headers are about a hundred bytes.
    for_each_line(file, len, (0, 1), true, 256, |text, _, terminated| {
        first = terminated.then(|| text.to_vec());
        false
    })
    .map_err(|e| StoreError::io("read", path, e))?;
    let Some(text) = first else {
        return Err(corrupt(path, 1, "missing or incomplete header line"));
    };
    let h = format::parse_header(&text, kind).map_err(|e| match e {
        HeaderError::Version(found) => StoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: format::VERSION,
        },
        HeaderError::Invalid(reason) => corrupt(path, 1, reason),
    })?;
    Ok((h, text.len() as u64 + 1))
}

fn cores() -> usize {
    if cfg!(test) {
        // The same splits on every machine, single-core ones included.
        return 4;
    }
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_THREADS)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A job that panicked has already failed the open (the scope re-raises it).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `work` on every job on up to `threads` threads (the caller's included) and
/// returns the results in job order. A thread that cannot be started leaves its share
/// to the others.
fn parallel<T: Send, R: Send>(
    jobs: Vec<T>,
    threads: usize,
    work: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let count = jobs.len();
    // Popped from the end: the first job is taken first.
    let queue = Mutex::new(jobs.into_iter().enumerate().rev().collect::<Vec<_>>());
    let results = Mutex::new((0..count).map(|_| None).collect::<Vec<Option<R>>>());
    let run = || loop {
        let Some((i, job)) = lock(&queue).pop() else {
            break;
        };
        let result = work(job);
        lock(&results)[i] = Some(result);
    };
    std::thread::scope(|s| {
        for _ in 1..threads.min(count) {
            let spawned = std::thread::Builder::new()
                .name("tollgate-store-load".into())
                .spawn_scoped(s, run);
            if spawned.is_err() {
                break;
            }
        }
        run();
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// A quota record on its way to the index.
struct QuotaRecord {
    key: Box<str>,
    scope: Box<str>,
    used: u64,
    window_end: i64,
}

/// One change to the index, with its key's hash.
enum Change {
    Put(u64, StoredKey),
    /// A put without `rev`: the `n`th of its job, numbered by the in-order checks.
    Unnumbered(u64, Box<StoredKey>, usize),
    Del(u64, Box<str>),
    Quota(u64, Box<QuotaRecord>),
    QuotaDel(u64, Box<str>),
}

/// What the in-order checks need to know about a job's lines (`line`: its index in
/// the job; `start`: its byte offset in the file).
enum Event {
    /// Ordinary records: puts with a revision, quota records, and in a log deletes.
    Records {
        first: usize,
        count: u64,
        max_rev: u64,
    },
    /// A put without `rev`.
    Unnumbered {
        line: usize,
    },
    /// A `del` or `quota_del` in a snapshot.
    Delete {
        line: usize,
    },
    End {
        line: usize,
        records: u64,
    },
    BadJson {
        line: usize,
        start: u64,
        reason: String,
    },
    Invalid {
        line: usize,
        reason: String,
    },
    /// The file's last line lacks its newline.
    Unterminated {
        line: usize,
        start: u64,
    },
    /// A line after a log's bad-JSON line, which therefore is not a torn final record.
    More,
}

/// One job's share of a file.
struct Job {
    lines: usize,
    events: Vec<Event>,
    unnumbered: usize,
    /// Changes by shard, each in file order.
    shards: Vec<Vec<Change>>,
    scratch: String,
}

impl Job {
    fn push(&mut self, hash: u64, change: Change) {
        self.shards[index::shard_of(hash)].push(change);
    }

    /// Routes a put; returns its revision, or `None` if it needs numbering.
    fn put(&mut self, hasher: &Hasher, key: &str, json: &str, rev: Option<u64>) -> Option<u64> {
        let hash = hasher.hash(key);
        let change = match rev {
            Some(r) => Change::Put(hash, StoredKey::build(&mut self.scratch, key, json, r)),
            None => {
                self.unnumbered += 1;
                let stored = StoredKey::build(&mut self.scratch, key, json, 0);
                Change::Unnumbered(hash, Box::new(stored), self.unnumbered - 1)
            }
        };
        self.push(hash, change);
        rev
    }
}

/// What one non-blank line is, for its job.
enum Parsed {
    /// An ordinary record (with its revision, 0 if it has none to count).
    Record(u64),
    Event(Event),
}

fn parse_line(
    job: &mut Job,
    kind: FileKind,
    hasher: &Hasher,
    text: &[u8],
    line: usize,
    start: u64,
) -> Parsed {
    if let Some(p) = format::fast_put(text).or_else(|| format::loose_put(text)) {
        return match job.put(hasher, &p.key, p.session, p.rev) {
            Some(r) => Parsed::Record(r),
            None => Parsed::Event(Event::Unnumbered { line }),
        };
    }
    let value: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            return Parsed::Event(Event::BadJson {
                line,
                start,
                reason: e.to_string(),
            })
        }
    };
    let record = match format::parse_record(value) {
        Ok(r) => r,
        Err(reason) => return Parsed::Event(Event::Invalid { line, reason }),
    };
    match record {
        Record::Put { key, rev, session } => match job.put(hasher, &key, &session, rev) {
            Some(r) => Parsed::Record(r),
            None => Parsed::Event(Event::Unnumbered { line }),
        },
        Record::Del { .. } | Record::QuotaDel { .. } if kind == FileKind::Snapshot => {
            Parsed::Event(Event::Delete { line })
        }
        Record::Del { key } => {
            let hash = hasher.hash(&key);
            job.push(hash, Change::Del(hash, key));
            Parsed::Record(0)
        }
        Record::QuotaDel { key } => {
            let hash = hasher.hash(&key);
            job.push(hash, Change::QuotaDel(hash, key));
            Parsed::Record(0)
        }
        Record::Quota {
            key,
            scope,
            used,
            window_end,
        } => {
            let hash = hasher.hash(&key);
            let record = QuotaRecord {
                key,
                scope,
                used,
                window_end,
            };
            job.push(hash, Change::Quota(hash, Box::new(record)));
            Parsed::Record(0)
        }
        Record::End { records } => Parsed::Event(Event::End { line, records }),
    }
}

/// Parses the lines that start in `range`.
fn parse_job(
    kind: FileKind,
    file: &File,
    len: u64,
    range: Range<u64>,
    from_is_line_start: bool,
    hasher: &Hasher,
) -> std::io::Result<Job> {
    let mut job = Job {
        lines: 0,
        events: Vec::new(),
        unnumbered: 0,
        shards: (0..SHARDS).map(|_| Vec::new()).collect(),
        scratch: String::new(),
    };
    // The current run of ordinary records: (first line, count, highest revision).
    let mut run: Option<(usize, u64, u64)> = None;
    let mut after_bad_json = false;
    let range = (range.start, range.end);
    for_each_line(
        file,
        len,
        range,
        from_is_line_start,
        BLOCK,
        |text, start, terminated| {
            let line = job.lines;
            job.lines += 1;
            let parsed = if !terminated {
                Parsed::Event(Event::Unterminated { line, start })
            } else if text.iter().all(u8::is_ascii_whitespace) {
                return true;
            } else if after_bad_json {
                Parsed::Event(Event::More)
            } else {
                parse_line(&mut job, kind, hasher, text, line, start)
            };
            let event = match parsed {
                Parsed::Record(rev) => {
                    let (_, count, max_rev) = run.get_or_insert((line, 0, 0));
                    *count += 1;
                    *max_rev = (*max_rev).max(rev);
                    return true;
                }
                Parsed::Event(event) => event,
            };
            if let Some((first, count, max_rev)) = run.take() {
                job.events.push(Event::Records {
                    first,
                    count,
                    max_rev,
                });
            }
            // Whether this line certainly ends the load (the lines after it do not matter).
            let last = match &event {
                Event::BadJson { .. } if kind == FileKind::Log => {
                    after_bad_json = true;
                    false
                }
                Event::Records { .. } | Event::Unnumbered { .. } => false,
                Event::End { .. } => kind == FileKind::Log,
                _ => true,
            };
            job.events.push(event);
            !last
        },
    )?;
    if let Some((first, count, max_rev)) = run {
        job.events.push(Event::Records {
            first,
            count,
            max_rev,
        });
    }
    Ok(job)
}

/// Parses a file's body (from `body` to `len`) on all cores.
fn parse_body(
    kind: FileKind,
    path: &Path,
    file: &File,
    len: u64,
    body: u64,
    hasher: &Hasher,
) -> Result<Vec<Job>, StoreError> {
    let size = usize::try_from(len.saturating_sub(body)).unwrap_or(usize::MAX);
    let threads = cores().min(size.div_ceil(MIN_BYTES_PER_THREAD)).max(1);
    let count = if threads == 1 {
        1
    } else {
        threads * JOBS_PER_THREAD
    };
    let per_job = (size.div_ceil(count).max(1)) as u64;
    let ranges: Vec<Range<u64>> = (0..count as u64)
        .map(|i| (body + i * per_job).min(len)..(body + (i + 1) * per_job).min(len))
        .collect();
    parallel(ranges, threads, |range| {
        let aligned = range.start == body;
        parse_job(kind, file, len, range, aligned, hasher)
    })
    .into_iter()
    .collect::<std::io::Result<Vec<Job>>>()
    .map_err(|e| StoreError::io("read", path, e))
}

/// The in-order checks: revisions and record counts so far.
struct Checker {
    /// Last revision assigned.
    revision: u64,
    /// Per job (snapshot's, then log's), the revisions given to its puts without
    /// `rev`, in order.
    numbers: Vec<Vec<u64>>,
}

impl Checker {
    /// Counts an event's records; returns how many.
    fn count(&mut self, job: usize, event: &Event) -> u64 {
        match *event {
            Event::Records { count, max_rev, .. } => {
                self.revision = self.revision.max(max_rev);
                count
            }
            Event::Unnumbered { .. } => {
                self.revision = self.revision.saturating_add(1);
                self.numbers[job].push(self.revision);
                1
            }
            _ => 0,
        }
    }
}

/// Line number of a job's first line (the header is line 1).
fn line_bases(jobs: &[Job]) -> Vec<u64> {
    jobs.iter()
        .scan(2u64, |next, job| {
            let base = *next;
            *next += job.lines as u64;
            Some(base)
        })
        .collect()
}

/// Checks a snapshot's events in order.
fn check_snapshot(path: &Path, jobs: &[Job], checker: &mut Checker) -> Result<(), StoreError> {
    let bases = line_bases(jobs);
    let mut records = 0u64;
    let mut ended = false;
    for (j, job) in jobs.iter().enumerate() {
        let no = |line: usize| bases[j] + line as u64;
        for event in &job.events {
            let at = match *event {
                Event::Records { first, .. } => first,
                Event::Unnumbered { line }
                | Event::Delete { line }
                | Event::End { line, .. }
                | Event::BadJson { line, .. }
                | Event::Invalid { line, .. }
                | Event::Unterminated { line, .. } => line,
                Event::More => continue,
            };
            if let Event::Unterminated { .. } = event {
                return Err(corrupt(
                    path,
                    no(at),
                    "incomplete final line: snapshots are written atomically, so this file was truncated or damaged after it was written",
                ));
            }
            if ended {
                return Err(corrupt(path, no(at), "data after the end record"));
            }
            match event {
                Event::Delete { .. } => {
                    return Err(corrupt(
                        path,
                        no(at),
                        "delete records are not allowed in a snapshot",
                    ))
                }
                Event::End { records: n, .. } => {
                    if *n != records {
                        return Err(corrupt(
                            path,
                            no(at),
                            format!(
                                "end record counts {n} records but the snapshot holds {records}"
                            ),
                        ));
                    }
                    ended = true;
                }
                Event::BadJson { reason, .. } => {
                    return Err(corrupt(path, no(at), format!("invalid JSON: {reason}")))
                }
                Event::Invalid { reason, .. } => {
                    return Err(corrupt(path, no(at), reason.as_str()))
                }
                _ => records += checker.count(j, event),
            }
        }
    }
    if !ended {
        let lines = 1 + jobs.iter().map(|j| j.lines as u64).sum::<u64>();
        return Err(corrupt(
            path,
            lines + 1,
            "missing end record: the snapshot is truncated",
        ));
    }
    Ok(())
}

/// Checks a log's events in order (`first`: the index of its first job among all
/// jobs). Returns (records, byte length of the good prefix if a torn final record
/// must be cut off).
fn check_log(
    path: &Path,
    jobs: &[Job],
    first: usize,
    checker: &mut Checker,
) -> Result<(u64, Option<u64>), StoreError> {
    let bases = line_bases(jobs);
    let mut records = 0u64;
    for (j, job) in jobs.iter().enumerate() {
        let no = |line: usize| bases[j] + line as u64;
        for (e, event) in job.events.iter().enumerate() {
            let torn = |line: usize, start: u64, reason: String| {
                tracing::warn!(
                    path = %path.display(),
                    line = no(line),
                    reason,
                    "dropping torn final record of the key store log (an unacknowledged write interrupted by a crash)"
                );
                Ok((records, Some(start)))
            };
            match event {
                Event::Unterminated { line, start } => {
                    return torn(*line, *start, "no trailing newline".into())
                }
                Event::BadJson {
                    line,
                    start,
                    reason,
                } => {
                    // Blank lines make no events: any later event is a later record.
                    let last = e + 1 == job.events.len()
                        && jobs[j + 1..].iter().all(|later| later.events.is_empty());
                    if last {
                        return torn(*line, *start, format!("invalid JSON: {reason}"));
                    }
                    return Err(corrupt(
                        path,
                        no(*line),
                        format!("invalid JSON ({reason}) before the last line: the log is corrupt; refusing to start so that no keys are lost silently"),
                    ));
                }
                Event::Invalid { line, reason } => {
                    return Err(corrupt(path, no(*line), reason.as_str()))
                }
                Event::End { line, .. } => {
                    return Err(corrupt(
                        path,
                        no(*line),
                        "end records are not allowed in a log",
                    ))
                }
                _ => records += checker.count(first + j, event),
            }
        }
    }
    Ok((records, None))
}

/// Fills the index from the changes of `jobs` (snapshot jobs first), one shard per task.
fn build(hasher: Hasher, jobs: Vec<Job>, checker: Checker) -> Shared {
    let mut per_shard: Vec<Vec<(usize, Vec<Change>)>> = (0..SHARDS).map(|_| Vec::new()).collect();
    let mut changes = 0;
    for (j, job) in jobs.into_iter().enumerate() {
        for (shard, list) in job.shards.into_iter().enumerate() {
            if !list.is_empty() {
                changes += list.len();
                per_shard[shard].push((j, list));
            }
        }
    }
    let threads = cores().min(changes.div_ceil(16_384)).max(1);
    let numbers = &checker.numbers;
    let hasher_ref = &hasher;
    let tables = parallel(per_shard, threads, |lists| {
        fill_shard(hasher_ref, lists, numbers)
    });
    let quota_count = tables.iter().map(|t| t.2).sum();
    let (keys, quotas): (Vec<_>, Vec<_>) = tables.into_iter().map(|(k, q, _)| (k, q)).unzip();
    Shared {
        hasher,
        keys: Index::from_tables(keys),
        quotas: Index::from_tables(quotas),
        quota_count: AtomicUsize::new(quota_count),
        revision: AtomicU64::new(checker.revision),
    }
}

/// Applies one shard's changes in order; returns its key and quota tables and its
/// number of quota records.
fn fill_shard(
    hasher: &Hasher,
    lists: Vec<(usize, Vec<Change>)>,
    numbers: &[Vec<u64>],
) -> (Table<StoredKey>, Table<QuotaEntry>, usize) {
    let puts = lists
        .iter()
        .flat_map(|(_, list)| list)
        .filter(|c| matches!(c, Change::Put(..) | Change::Unnumbered(..)))
        .count();
    let mut keys = Table::with_capacity(puts);
    let mut quotas: Table<QuotaEntry> = Table::new();
    for (job, list) in lists {
        for change in list {
            match change {
                Change::Put(hash, stored) => {
                    index::table_insert(&mut keys, hasher, hash, stored);
                }
                Change::Unnumbered(hash, mut stored, n) => {
                    stored.revision = numbers[job][n];
                    index::table_insert(&mut keys, hasher, hash, *stored);
                }
                Change::Del(hash, key) => {
                    index::table_remove(&mut keys, hash, &key);
                    index::table_remove(&mut quotas, hash, &key);
                }
                Change::QuotaDel(hash, key) => {
                    index::table_remove(&mut quotas, hash, &key);
                }
                Change::Quota(hash, q) => {
                    use hashbrown::hash_table::Entry;
                    let value = (q.used, q.window_end);
                    match quotas.entry(hash, |e| e.key == q.key, |e| hasher.hash(&e.key)) {
                        Entry::Occupied(mut e) => {
                            e.get_mut().scopes.insert(q.scope, value);
                        }
                        Entry::Vacant(e) => {
                            e.insert(QuotaEntry {
                                key: q.key,
                                scopes: Scopes::from([(q.scope, value)]),
                            });
                        }
                    }
                }
            }
        }
    }
    // Sized for every put: a log full of overwrites would leave it mostly empty.
    if keys.capacity() > 2 * keys.len() + 1024 {
        keys.shrink_to_fit(|e| hasher.hash(e.key()));
    }
    let quota_count = quotas.iter().map(|e| e.scopes.len()).sum();
    (keys, quotas, quota_count)
}

/// Opens a file for reading; `None` when it does not exist. Returns it with its length.
fn open_optional(path: &Path) -> Result<Option<(File, u64)>, StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("open", path, e)),
    };
    let len = file
        .metadata()
        .map_err(|e| StoreError::io("read", path, e))?
        .len();
    Ok(Some((file, len)))
}

/// Starts a fresh log for `header` (tmp file, fsync, rename, directory fsync).
fn fresh_log(dir: &Path, header: Header) -> Result<(File, u64), StoreError> {
    let (file, len) = files::create_log_tmp(dir, header)?;
    files::install(dir, format::LOG_TMP, format::LOG)?;
    Ok((file, len))
}

/// Recovers the state of `dir`.
pub(super) fn load(dir: &Path) -> Result<(Shared, Loaded), StoreError> {
    files::remove_temp_files(dir)?;
    let snap_path = dir.join(format::SNAPSHOT);
    let log_path = dir.join(format::LOG);
    let inconsistent = |reason: String| StoreError::Inconsistent {
        dir: dir.to_path_buf(),
        reason,
    };
    let hasher = Hasher::default();
    let mut checker = Checker {
        revision: 0,
        numbers: Vec::new(),
    };
    let mut jobs = Vec::new();

    let snap = match open_optional(&snap_path)? {
        Some((file, len)) => {
            let (h, body) = header(&snap_path, &file, len, FileKind::Snapshot)?;
            jobs = parse_body(FileKind::Snapshot, &snap_path, &file, len, body, &hasher)?;
            checker.revision = h.revision;
            checker.numbers = vec![Vec::new(); jobs.len()];
            check_snapshot(&snap_path, &jobs, &mut checker)?;
            h
        }
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
            files::write_snapshot_tmp(dir, h, &Shared::default())?;
            files::install(dir, format::SNAPSHOT_TMP, format::SNAPSHOT)?;
            h
        }
    };
    let fresh = |jobs: Vec<Job>, checker: Checker| -> Result<(Shared, Loaded), StoreError> {
        let header = Header {
            generation: snap.generation,
            revision: checker.revision,
        };
        let (log, log_len) = fresh_log(dir, header)?;
        let loaded = Loaded {
            generation: snap.generation,
            revision: checker.revision,
            log,
            log_len,
            log_records: 0,
        };
        Ok((build(hasher.clone(), jobs, checker), loaded))
    };

    let mut log = match OpenOptions::new().read(true).write(true).open(&log_path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Only legitimate after a crash while creating a new store.
            let empty = jobs.iter().flat_map(|j| &j.shards).all(Vec::is_empty);
            if snap.generation == 0 && empty {
                return fresh(jobs, checker);
            }
            return Err(inconsistent(format!(
                "{} is missing although {} has data; refusing to start (restore it from a backup)",
                log_path.display(),
                snap_path.display()
            )));
        }
        Err(e) => return Err(StoreError::io("open", &log_path, e)),
    };
    let len = log
        .metadata()
        .map_err(|e| StoreError::io("read", &log_path, e))?
        .len();
    let (log_header, body) = header(&log_path, &log, len, FileKind::Log)?;
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
        return fresh(jobs, checker);
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
    checker.revision = checker.revision.max(log_header.revision);
    let log_jobs = parse_body(FileKind::Log, &log_path, &log, len, body, &hasher)?;
    let first_log_job = jobs.len();
    checker
        .numbers
        .resize(first_log_job + log_jobs.len(), Vec::new());
    let (log_records, cut) = check_log(&log_path, &log_jobs, first_log_job, &mut checker)?;
    jobs.extend(log_jobs);
    let mut log_len = len;
    if let Some(len) = cut {
        log.set_len(len)
            .and_then(|()| log.sync_all())
            .map_err(|e| StoreError::io("truncate torn tail of", &log_path, e))?;
        log_len = len;
    }
    log.seek(SeekFrom::Start(log_len))
        .map_err(|e| StoreError::io("seek", &log_path, e))?;
    let loaded = Loaded {
        generation: snap.generation,
        revision: checker.revision,
        log,
        log_len,
        log_records,
    };
    Ok((build(hasher, jobs, checker), loaded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Lines as `(text, start, terminated)`.
    type Lines = Vec<(Vec<u8>, u64, bool)>;

    fn lines_in(file: &File, len: u64, from: u64, until: u64, aligned: bool) -> Lines {
        let mut out = Vec::new();
        for_each_line(
            file,
            len,
            (from, until),
            aligned,
            BLOCK,
            |text, start, terminated| {
                out.push((text.to_vec(), start, terminated));
                true
            },
        )
        .unwrap();
        out
    }

    #[test]
    fn ranges_split_a_file_into_each_line_exactly_once() {
        let long = "x".repeat(3 * BLOCK + 5);
        for content in [
            format!("a\n\nbb\n{long}\nccc\n\n"),
            format!("{long}\n\n\nd"),
            "\n".to_string(),
            "no newline".to_string(),
            String::new(),
        ] {
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(content.as_bytes()).unwrap();
            let len = content.len() as u64;
            let all = lines_in(&file, len, 0, len, true);
            let mut at = 0;
            let want: Lines = content
                .split_inclusive('\n')
                .map(|l| {
                    let start = at;
                    at += l.len() as u64;
                    let text = l.strip_suffix('\n').unwrap_or(l);
                    (text.as_bytes().to_vec(), start, l.ends_with('\n'))
                })
                .collect();
            assert_eq!(all, want, "{content:?}");
            // Every way of cutting it in two (and three) gives the same lines.
            for a in 0..=len {
                for b in (a..=len).step_by(7) {
                    let mut got = lines_in(&file, len, 0, a, true);
                    got.extend(lines_in(&file, len, a, b, a == 0));
                    got.extend(lines_in(&file, len, b, len, b == 0));
                    assert_eq!(got, want, "cuts at {a} and {b} of {content:?}");
                }
            }
        }
    }
}
