//! The HTTP/1.1 wire format of the upstream exchange, as pure functions over bytes: the
//! request head written in one go, the response head parsed in place (zero-copy header
//! values; hop-by-hop headers read for framing and never relayed), the body framing of
//! RFC 9112 and chunk-size lines. No I/O, so each piece has a table test and is ready
//! for a fuzz target.

use crate::upstream::error::WireError;
use bytes::BytesMut;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};

/// Largest response head accepted (as hyper's server side: `max_buf_size`).
pub const MAX_HEAD: usize = 64 * 1024;

const MAX_HEADERS: usize = 100;

/// Longest chunk-size or trailer line accepted.
pub(super) const MAX_LINE: usize = 4 * 1024;

/// Largest trailer section accepted (it is read and dropped).
pub(super) const MAX_TRAILERS: usize = 16 * 1024;

/// Appends an HTTP/1.1 request head (no body) to `out`.
pub fn encode_head(out: &mut Vec<u8>, method: &http::Method, target: &str, headers: &HeaderMap) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
    /// `Connection` names other headers, so the map still holds hop-by-hop headers.
    pub names_others: bool,
}

/// What a response header means to the proxy.
enum Kind {
    /// Relayed to the client.
    Keep,
    /// Framing: relayed, and read for the body length.
    ContentLength,
    /// Hop-by-hop: read here, never relayed.
    Connection,
    TransferEncoding,
    OtherHopByHop,
}

/// Classifies a header name (any case) in one length switch.
fn classify(name: &[u8]) -> Kind {
    let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    match name.len() {
        2 if is("te") => Kind::OtherHopByHop,
        7 if is("trailer") || is("upgrade") => Kind::OtherHopByHop,
        10 if is("connection") => Kind::Connection,
        10 if is("keep-alive") => Kind::OtherHopByHop,
        14 if is("content-length") => Kind::ContentLength,
        16 if is("proxy-connection") => Kind::OtherHopByHop,
        17 if is("transfer-encoding") => Kind::TransferEncoding,
        18 if is("proxy-authenticate") => Kind::OtherHopByHop,
        19 if is("proxy-authorization") => Kind::OtherHopByHop,
        _ => Kind::Keep,
    }
}

fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// What the framing headers said, gathered in the one pass over the headers.
#[derive(Default)]
struct Facts {
    close: bool,
    keep_alive: bool,
    /// `Connection` names other headers: the map keeps it for a hop-by-hop pass.
    names_others: bool,
    transfer_encoding: bool,
    chunked_last: bool,
    length: Option<u64>,
    bad_length: Option<&'static str>,
}

impl Facts {
    fn read(&mut self, kind: &Kind, value: &[u8]) {
        match kind {
            Kind::Connection => {
                for t in tokens(value) {
                    if t.eq_ignore_ascii_case(b"close") {
                        self.close = true;
                    } else if t.eq_ignore_ascii_case(b"keep-alive") {
                        self.keep_alive = true;
                    } else {
                        self.names_others = true;
                    }
                }
            }
            Kind::TransferEncoding => {
                self.transfer_encoding = true;
                // Each line's last coding; the final line's is the message's last.
                if let Some(last) = tokens(value).last() {
                    self.chunked_last = last.eq_ignore_ascii_case(b"chunked");
                }
            }
            Kind::ContentLength => {
                if tokens(value).next().is_none() {
                    self.bad_length = Some("invalid Content-Length");
                }
                for t in tokens(value) {
                    let n = std::str::from_utf8(t)
                        .ok()
                        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|s| s.parse::<u64>().ok());
                    match (n, self.length) {
                        (None, _) => self.bad_length = Some("invalid Content-Length"),
                        (Some(n), Some(l)) if n != l => {
                            self.bad_length = Some("conflicting Content-Length values")
                        }
                        (Some(n), _) => self.length = Some(n),
                    }
                }
            }
            Kind::Keep | Kind::OtherHopByHop => {}
        }
    }

    fn framing(
        &self,
        status: StatusCode,
        version: Version,
        head_request: bool,
    ) -> Result<(Framing, bool), WireError> {
        let mut keep_alive = if version == Version::HTTP_10 {
            self.keep_alive
        } else {
            !self.close
        };
        if head_request
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Ok((Framing::Empty, keep_alive));
        }
        if self.transfer_encoding {
            // Both headers at once is how responses get smuggled: never reuse that connection.
            if self.length.is_some() || self.bad_length.is_some() || version == Version::HTTP_10 {
                keep_alive = false;
            }
            return Ok(match self.chunked_last {
                true => (Framing::Chunked, keep_alive),
                false => (Framing::UntilClose, false),
            });
        }
        if let Some(reason) = self.bad_length {
            return Err(WireError::Invalid(reason));
        }
        Ok(match self.length {
            Some(0) => (Framing::Empty, keep_alive),
            Some(n) => (Framing::Length(n), keep_alive),
            None => (Framing::UntilClose, false),
        })
    }
}

/// Room left in the relayed header map for the headers the gateway adds
/// (`X-RateLimit-*`), so adding them never regrows it.
const ADDED_HEADERS: usize = 4;

/// Parses a complete response head off the front of `buf`; `Ok(None)` when more bytes
/// are needed. Header values share the buffer's memory instead of being copied, and
/// hop-by-hop headers are read for framing but left out of the relayed map.
pub fn parse_head(buf: &mut BytesMut, head_request: bool) -> Result<Option<Head>, WireError> {
    // (name offset, name length, value offset, value length) within the head.
    let mut spans = [(0u16, 0u16, 0u16, 0u16); MAX_HEADERS];
    let mut kept = 0;
    let mut facts = Facts::default();
    let (len, code, minor) = {
        let mut slots =
            [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut resp, buf, &mut slots);
        let len = match parsed {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
                return Err(WireError::Invalid("response head too large"))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(WireError::Invalid("too many response headers"))
            }
            Err(_) => return Err(WireError::Invalid("malformed response head")),
        };
        if len > MAX_HEAD {
            return Err(WireError::Invalid("response head too large"));
        }
        let base = buf.as_ptr() as usize;
        for h in resp.headers.iter() {
            let kind = classify(h.name.as_bytes());
            facts.read(&kind, h.value);
            let relay = match kind {
                Kind::Keep | Kind::ContentLength => true,
                Kind::Connection => facts.names_others,
                Kind::TransferEncoding | Kind::OtherHopByHop => false,
            };
            if relay {
                let at = |s: &[u8]| u16::try_from(s.as_ptr() as usize - base);
                let len = |s: &[u8]| u16::try_from(s.len());
                let (Ok(n), Ok(nl), Ok(v), Ok(vl)) = (
                    at(h.name.as_bytes()),
                    len(h.name.as_bytes()),
                    at(h.value),
                    len(h.value),
                ) else {
                    return Err(WireError::Invalid("response head too large"));
                };
                spans[kept] = (n, nl, v, vl);
                kept += 1;
            }
        }
        (len, resp.code.unwrap_or(0), resp.version.unwrap_or(1))
    };
    let status =
        StatusCode::from_u16(code).map_err(|_| WireError::Invalid("invalid status code"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        // The gateway never asks for an upgrade (it strips `Upgrade`).
        return Err(WireError::Invalid("unrequested protocol switch"));
    }
    let version = if minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let (framing, keep_alive) = facts.framing(status, version, head_request)?;
    let raw = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(kept + ADDED_HEADERS);
    for &(n, nl, v, vl) in &spans[..kept] {
        let (n, v) = (usize::from(n), usize::from(v));
        let name = HeaderName::from_bytes(&raw[n..n + usize::from(nl)])
            .map_err(|_| WireError::Invalid("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(raw.slice(v..v + usize::from(vl)))
            .map_err(|_| WireError::Invalid("invalid header value"))?;
        headers.append(name, value);
    }
    if facts.transfer_encoding {
        // The body is relayed decoded, so the upstream's length no longer describes it.
        headers.remove(http::header::CONTENT_LENGTH);
    }
    Ok(Some(Head {
        status,
        version,
        headers,
        framing,
        keep_alive,
        names_others: facts.names_others,
    }))
}

/// The size of a chunk from its size line (RFC 9112 §7.1), extensions allowed.
pub(super) fn chunk_size(line: &[u8]) -> Result<u64, WireError> {
    let hex_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    // Only whitespace may come between the size and an extension.
    let rest = line[hex_end..].trim_ascii_start();
    if hex_end == 0 || hex_end > 16 || !(rest.is_empty() || rest[0] == b';') {
        return Err(WireError::Invalid("invalid chunk size"));
    }
    let digits = std::str::from_utf8(&line[..hex_end]).unwrap_or("");
    u64::from_str_radix(digits, 16).map_err(|_| WireError::Invalid("invalid chunk size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8], head_request: bool) -> Result<Option<(Head, BytesMut)>, WireError> {
        let mut buf = BytesMut::from(raw);
        Ok(parse_head(&mut buf, head_request)?.map(|h| (h, buf)))
    }

    #[test]
    fn response_framing_table() {
        use Framing::*;
        let ok: &[(&str, bool, u16, Framing, bool)] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
                false,
                200,
                Length(2),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\n\r\n",
                false,
                200,
                Length(2),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                false,
                200,
                Empty,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
                false,
                200,
                Length(2),
                false,
            ),
            (
                "HTTP/1.1 200 OK\r\nConnection: x, Close\r\nContent-Length: 2\r\n\r\n",
                false,
                200,
                Length(2),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
                false,
                200,
                Length(2),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n",
                false,
                200,
                Length(2),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                200,
                Chunked,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                false,
                200,
                Chunked,
                true,
            ),
            // Both framings: chunked wins and the connection is never reused.
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                false,
                200,
                Chunked,
                false,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                false,
                200,
                UntilClose,
                false,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", false, 200, UntilClose, false),
            (
                "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
                false,
                204,
                Empty,
                true,
            ),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
                false,
                304,
                Empty,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
                true,
                200,
                Empty,
                true,
            ),
            ("HTTP/1.1 100 Continue\r\n\r\n", false, 100, Empty, true),
            (
                "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n",
                false,
                404,
                Length(9),
                true,
            ),
        ];
        for (raw, head_req, status, framing, keep_alive) in ok {
            let (h, rest) = parse(raw.as_bytes(), *head_req).unwrap().unwrap();
            assert_eq!(h.status.as_u16(), *status, "{raw:?}");
            assert_eq!(h.framing, *framing, "{raw:?}");
            assert_eq!(h.keep_alive, *keep_alive, "{raw:?}");
            assert!(rest.is_empty(), "{raw:?}");
        }
        let bad = [
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            "HTTP/1.1 999x OK\r\n\r\n",
            "NOT HTTP\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        ];
        for raw in bad {
            assert!(parse(raw.as_bytes(), false).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn hop_by_hop_headers_are_read_but_not_relayed() {
        let raw = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\
                   Transfer-Encoding: chunked\r\nTrailer: x\r\nUpgrade: h2c\r\nProxy-Connection: k\r\n\
                   X-Kept: 1\r\nContent-Type: text/plain\r\n\r\n";
        let (h, _) = parse(raw.as_bytes(), false).unwrap().unwrap();
        let names: Vec<&str> = h.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-kept", "content-type"]);
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.keep_alive && !h.names_others);
        // `Connection` naming other headers stays for the caller's hop-by-hop pass.
        let raw =
            "HTTP/1.1 200 OK\r\nConnection: X-Private\r\nX-Private: 1\r\nContent-Length: 0\r\n\r\n";
        let (h, _) = parse(raw.as_bytes(), false).unwrap().unwrap();
        assert!(h.names_others);
        assert_eq!(h.headers["connection"], "X-Private");
        assert_eq!(h.headers["x-private"], "1");
        assert_eq!(h.headers["content-length"], "0");
    }

    #[test]
    fn heads_are_parsed_only_when_complete_and_within_limits() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Len", false)
            .unwrap()
            .is_none());
        let (h, rest) = parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nokNEXT",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.headers["x-a"], "b");
        assert_eq!(&rest[..], b"okNEXT");
        let mut huge = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        huge.resize(MAX_HEAD + 10, b'a');
        assert!(parse(&huge, false).is_err());
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert!(parse(&many, false).is_err());
    }

    #[test]
    fn request_heads_are_encoded_as_http11() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("up:80"));
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        let mut out = Vec::new();
        encode_head(&mut out, &http::Method::GET, "/p?q=1", &h);
        assert_eq!(
            out,
            b"GET /p?q=1 HTTP/1.1\r\nhost: up:80\r\nx-a: 1\r\nx-a: 2\r\n\r\n"
        );
    }

    #[test]
    fn chunk_size_lines() {
        for (line, want) in [
            ("0", Some(0)),
            ("1a", Some(26)),
            ("A;name=value", Some(10)),
            ("ffffffffffffffff", Some(u64::MAX)),
            ("", None),
            ("g", None),
            ("1 x", None),
            ("1 ;x", Some(1)),
            ("1\t", Some(1)),
            ("-1", None),
            ("10000000000000000", None),
        ] {
            assert_eq!(chunk_size(line.as_bytes()).ok(), want, "{line:?}");
        }
    }
}
