//! Encoding and decoding of the JSON-lines records (see the module docs of `store`).

use crate::model::json::from_value;
use crate::model::Session;
use serde_json::{Map, Value};

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
        key: String,
        rev: Option<u64>,
        session: Box<Session>,
    },
    Del {
        key: String,
    },
    Quota {
        key: String,
        scope: String,
        used: u64,
        window_end: i64,
    },
    QuotaDel {
        key: String,
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

/// Fast path for the records the store writes itself (`{"op":"put",...}` with no nulls):
/// one typed parse instead of a `Value` tree plus a second, path-tracking decode. Any
/// line it does not accept goes through [`parse_record`], which gives the error messages.
pub(super) fn fast_put(text: &[u8]) -> Option<Record> {
    #[derive(serde::Deserialize)]
    struct Put {
        key: String,
        rev: Option<u64>,
        session: Session,
    }
    if !text.starts_with(br#"{"op":"put","#) {
        return None;
    }
    let p: Put = serde_json::from_slice(text).ok()?;
    if p.rev.is_some_and(|r| r > MAX_REVISION) {
        return None;
    }
    Some(Record::Put {
        key: p.key,
        rev: p.rev,
        session: Box::new(p.session),
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
            Ok(Record::Put {
                key,
                rev,
                session: Box::new(session),
            })
        }
        "del" => Ok(Record::Del {
            key: take_string(&mut obj, "key")?,
        }),
        "quota" => Ok(Record::Quota {
            key: take_string(&mut obj, "key")?,
            scope: take_string(&mut obj, "scope")?,
            used: get_u64(&obj, "used")?,
            window_end: get_i64(&obj, "window_end")?,
        }),
        "quota_del" => Ok(Record::QuotaDel {
            key: take_string(&mut obj, "key")?,
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

/// One line of a file: 1-based number, byte offset, text without the newline.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line<'a> {
    pub no: u64,
    pub start: usize,
    pub text: &'a [u8],
    /// Whether the line ends with `\n` (a final line without one is a torn write).
    pub terminated: bool,
}

impl Line<'_> {
    pub fn is_blank(&self) -> bool {
        self.text.iter().all(u8::is_ascii_whitespace)
    }
}

/// Splits file contents into lines.
pub(super) fn lines(data: &[u8]) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut no = 1;
    while start < data.len() {
        let rest = &data[start..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(n) => {
                out.push(Line {
                    no,
                    start,
                    text: &rest[..n],
                    terminated: true,
                });
                start += n + 1;
            }
            None => {
                out.push(Line {
                    no,
                    start,
                    text: rest,
                    terminated: false,
                });
                start = data.len();
            }
        }
        no += 1;
    }
    out
}
