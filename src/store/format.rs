//! Encoding and decoding of the JSON-lines records (see the module docs of `store`).

use crate::tyk::json::from_value;
use crate::tyk::{session_check, Session};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The `format` member of every file header.
pub(super) const FORMAT: &str = "tollgate-keystore";
/// The on-disk format version this build reads and writes.
pub(super) const VERSION: u64 = 1;
/// Largest revision accepted from disk, so that incrementing never overflows.
pub(super) const MAX_REVISION: u64 = i64::MAX as u64;

pub(super) const SNAPSHOT: &str = "snapshot.jsonl";
pub(super) const SNAPSHOT_TMP: &str = "snapshot.jsonl.tmp";
pub(super) const LOG: &str = "log.jsonl";
pub(super) const LOG_TMP: &str = "log.jsonl.tmp";
pub(super) const LOCK: &str = "LOCK";

/// Which of the two data files a header belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileKind {
    Snapshot,
    Log,
}

impl FileKind {
    fn name(self) -> &'static str {
        match self {
            FileKind::Snapshot => "snapshot",
            FileKind::Log => "log",
        }
    }
}

/// The first line of a snapshot or log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub generation: u64,
    /// The last revision assigned when the file was started.
    pub revision: u64,
}

/// Why a header line was rejected.
#[derive(Debug)]
pub(super) enum HeaderError {
    /// A tollgate key store header of a version this build does not know.
    Version(u64),
    Invalid(String),
}

/// One decoded record line.
#[derive(Debug)]
pub(super) enum Record {
    Put {
        key: Box<str>,
        rev: Option<u64>,
        /// The session re-encoded as this build writes it.
        session: String,
    },
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
    /// Snapshot trailer: the number of records before it.
    End {
        records: u64,
    },
}

/// Renders a header line, newline included.
pub(super) fn header_line(kind: FileKind, h: Header) -> String {
    format!(
        "{{\"format\":\"{FORMAT}\",\"version\":{VERSION},\"kind\":\"{}\",\"generation\":{},\"revision\":{}}}\n",
        kind.name(),
        h.generation,
        h.revision
    )
}

/// Parses a header line of a file of the given kind.
pub(super) fn parse_header(text: &[u8], kind: FileKind) -> Result<Header, HeaderError> {
    let v: Value = serde_json::from_slice(text)
        .map_err(|e| HeaderError::Invalid(format!("invalid header: {e}")))?;
    let Value::Object(obj) = v else {
        return Err(HeaderError::Invalid("header is not a JSON object".into()));
    };
    if obj.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(HeaderError::Invalid(format!(
            "not a tollgate key store file (header lacks \"format\":\"{FORMAT}\")"
        )));
    }
    let version = obj
        .get("version")
        .and_then(Value::as_u64)
        .ok_or_else(|| HeaderError::Invalid("header lacks a numeric \"version\"".into()))?;
    if version != VERSION {
        return Err(HeaderError::Version(version));
    }
    let found = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if found != kind.name() {
        return Err(HeaderError::Invalid(format!(
            "header has \"kind\":{found:?} but this file must be a {}",
            kind.name()
        )));
    }
    let num = |name: &str| {
        obj.get(name).and_then(Value::as_u64).ok_or_else(|| {
            HeaderError::Invalid(format!("header lacks a non-negative integer {name:?}"))
        })
    };
    let revision = num("revision")?;
    if revision > MAX_REVISION {
        return Err(HeaderError::Invalid(format!(
            "header revision {revision} is out of range"
        )));
    }
    Ok(Header {
        generation: num("generation")?,
        revision,
    })
}

fn take_string(obj: &mut Map<String, Value>, field: &str) -> Result<String, String> {
    match obj.remove(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("field {field:?} is not a string")),
        None => Err(format!("missing field {field:?}")),
    }
}

fn get_u64(obj: &Map<String, Value>, field: &str) -> Result<u64, String> {
    match obj.get(field) {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| format!("field {field:?} is not a non-negative integer")),
        None => Err(format!("missing field {field:?}")),
    }
}

fn get_i64(obj: &Map<String, Value>, field: &str) -> Result<i64, String> {
    match obj.get(field) {
        Some(v) => v
            .as_i64()
            .ok_or_else(|| format!("field {field:?} is not an integer")),
        None => Err(format!("missing field {field:?}")),
    }
}

/// A put record borrowed from its line.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct FastPut<'a> {
    pub key: Cow<'a, str>,
    pub rev: Option<u64>,
    /// The session's JSON text, known to decode into a `Session`.
    pub session: &'a str,
}

/// Fast path for put records exactly as [`push_put`] writes them (as every version of
/// this store has): `{"op":"put","key":K,"rev":R,"session":S}` with no whitespace and
/// no escapes in the key. The line is checked as strictly as a JSON parser would, and
/// the session is walked against `Session`'s schema ([`session_check`]) but not
/// decoded; its text is kept as is. Anything else, hand-written lines included, goes
/// through [`parse_record`], which decides and gives the error messages.
pub(super) fn fast_put(text: &[u8]) -> Option<FastPut<'_>> {
    let rest = text.strip_prefix(br#"{"op":"put","key":""#)?;
    // A quote, backslash or control character ends the fast path (the last two would
    // need unescaping or are invalid JSON).
    let key_len = rest
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    let (key, rest) = rest.split_at(key_len);
    let rest = rest.strip_prefix(br#"","rev":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (rev, rest) = rest.split_at(digits);
    // JSON has no leading zeros; the range check is `parse_record`'s to report.
    if rev.is_empty() || (rev.len() > 1 && rev[0] == b'0') || rev.len() > 19 {
        return None;
    }
    let rev = rev.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    if rev > MAX_REVISION {
        return None;
    }
    let session = rest.strip_prefix(br#","session":"#)?.strip_suffix(b"}")?;
    let session = std::str::from_utf8(session).ok()?;
    // Kept as the text of a JSON object, without the whitespace a parser would skip.
    let object = session.starts_with('{') && session.ends_with('}');
    if !(object && session_check::certainly_decodes(session)) {
        return None;
    }
    Some(FastPut {
        key: Cow::Borrowed(std::str::from_utf8(key).ok()?),
        rev: Some(rev),
        session,
    })
}

/// Put records that start like the store's own but differ after that (members
/// reordered, spaces, no `rev`, escapes in the key: edited by hand). They keep their
/// session text as the previous build's typed parse of such lines kept the decoded
/// session: an unknown member set to `null`, for one, stays. The session must still
/// certainly decode; anything else is for [`parse_record`].
pub(super) fn loose_put(text: &[u8]) -> Option<FastPut<'_>> {
    #[derive(serde::Deserialize)]
    struct Put<'a> {
        #[serde(borrow)]
        key: Cow<'a, str>,
        rev: Option<u64>,
        #[serde(borrow)]
        session: &'a RawValue,
    }
    if !text.starts_with(br#"{"op":"put","#) {
        return None;
    }
    let p: Put<'_> = serde_json::from_slice(text).ok()?;
    let session = p.session.get();
    if p.rev.is_some_and(|r| r > MAX_REVISION) || !session_check::certainly_decodes(session) {
        return None;
    }
    Some(FastPut {
        key: p.key,
        rev: p.rev,
        session,
    })
}

/// Decodes one parsed record line. Unknown members are ignored; unknown ops are errors.
pub(super) fn parse_record(v: Value) -> Result<Record, String> {
    let Value::Object(mut obj) = v else {
        return Err("record is not a JSON object".into());
    };
    let op = take_string(&mut obj, "op")?;
    match op.as_str() {
        "put" => {
            let key = take_string(&mut obj, "key")?;
            let rev = match obj.get("rev") {
                None => None,
                Some(_) => match get_u64(&obj, "rev")? {
                    r if r > MAX_REVISION => return Err(format!("rev {r} is out of range")),
                    r => Some(r),
                },
            };
            let session = match obj.remove("session") {
                Some(v @ Value::Object(_)) => {
                    from_value::<Session>(v).map_err(|e| format!("invalid session: {e}"))?
                }
                Some(_) => return Err("field \"session\" is not a JSON object".into()),
                None => return Err("missing field \"session\"".into()),
            };
            // Re-encoded (nulls dropped, members in order) so that the fast decode
            // of `StoredKey::session` applies from now on.
            let session = serde_json::to_string(&session)
                .map_err(|e| format!("cannot re-encode session: {e}"))?;
            Ok(Record::Put {
                key: key.into(),
                rev,
                session,
            })
        }
        "del" => Ok(Record::Del {
            key: take_string(&mut obj, "key")?.into(),
        }),
        "quota" => Ok(Record::Quota {
            key: take_string(&mut obj, "key")?.into(),
            scope: take_string(&mut obj, "scope")?.into(),
            used: get_u64(&obj, "used")?,
            window_end: get_i64(&obj, "window_end")?,
        }),
        "quota_del" => Ok(Record::QuotaDel {
            key: take_string(&mut obj, "key")?.into(),
        }),
        "end" => Ok(Record::End {
            records: get_u64(&obj, "records")?,
        }),
        other => Err(format!("unknown op {other:?}")),
    }
}

/// Appends `s` as a JSON string literal.
pub(super) fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            0..=0x1f => {
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[usize::from(b >> 4)]);
                buf.push(HEX[usize::from(b & 0xf)]);
            }
            _ => buf.push(b),
        }
    }
    buf.push(b'"');
}

fn push_num(buf: &mut Vec<u8>, n: impl std::fmt::Display) {
    buf.extend_from_slice(n.to_string().as_bytes());
}

/// `{"op":"put","key":K,"rev":R,"session":S}\n` where `session_json` is already-encoded JSON.
pub(super) fn push_put(buf: &mut Vec<u8>, key: &str, rev: u64, session_json: &[u8]) {
    buf.extend_from_slice(b"{\"op\":\"put\",\"key\":");
    push_json_str(buf, key);
    buf.extend_from_slice(b",\"rev\":");
    push_num(buf, rev);
    buf.extend_from_slice(b",\"session\":");
    buf.extend_from_slice(session_json);
    buf.extend_from_slice(b"}\n");
}

pub(super) fn push_del(buf: &mut Vec<u8>, key: &str) {
    buf.extend_from_slice(b"{\"op\":\"del\",\"key\":");
    push_json_str(buf, key);
    buf.extend_from_slice(b"}\n");
}

pub(super) fn push_quota(buf: &mut Vec<u8>, key: &str, scope: &str, used: u64, window_end: i64) {
    buf.extend_from_slice(b"{\"op\":\"quota\",\"key\":");
    push_json_str(buf, key);
    buf.extend_from_slice(b",\"scope\":");
    push_json_str(buf, scope);
    buf.extend_from_slice(b",\"used\":");
    push_num(buf, used);
    buf.extend_from_slice(b",\"window_end\":");
    push_num(buf, window_end);
    buf.extend_from_slice(b"}\n");
}

pub(super) fn push_quota_del(buf: &mut Vec<u8>, key: &str) {
    buf.extend_from_slice(b"{\"op\":\"quota_del\",\"key\":");
    push_json_str(buf, key);
    buf.extend_from_slice(b"}\n");
}

pub(super) fn push_end(buf: &mut Vec<u8>, records: u64) {
    buf.extend_from_slice(b"{\"op\":\"end\",\"records\":");
    push_num(buf, records);
    buf.extend_from_slice(b"}\n");
}
