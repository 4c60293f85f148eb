//! A purpose-built HTTP/1.1 client for the hot path: requests without a body (GET,
//! HEAD, DELETE, … — nearly all API traffic) over pooled keep-alive connections.
//!
//! Why: hyper's client connection runs as its own task and hands each request and
//! response across channels; with the header parsing and encoding around it that was
//! a third of the instructions of a proxied request. Here the request task writes the
//! head it built in one `write` and parses the response head in place (httparse, the
//! parser hyper uses), with header values sharing the read buffer. Requests with a body
//! still go through hyper (see the parent module).
//!
//! Response framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304;
//! `Transfer-Encoding` ending in `chunked` is decoded, any other transfer coding is
//! read to close; otherwise `Content-Length` (all values must agree); otherwise the
//! body runs to close. A connection is reused only when the response said nothing
//! against keep-alive, was framed by length or chunks, and left no stray bytes.

use crate::body::BodyError;
use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Largest response head accepted (as hyper's server side: `max_buf_size`).
pub const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
const READ_CHUNK: usize = 8 * 1024;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4 * 1024;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("upstream closed the connection before responding")]
    ClosedBeforeResponse,
    #[error("upstream closed the connection in the middle of the response")]
    ClosedEarly,
    #[error("invalid response from upstream: {0}")]
    Invalid(&'static str),
}

/// A connection to an upstream and the bytes read from it but not yet used.
#[derive(Debug)]
pub struct Conn {
    io: TcpStream,
    buf: BytesMut,
}

impl Conn {
    pub fn new(io: TcpStream) -> Self {
        Conn {
            io,
            buf: BytesMut::with_capacity(READ_CHUNK),
        }
    }

    /// Reads what is available into the buffer; `Ok(0)` at end of stream. Through
    /// `AsyncRead` rather than `try_read_buf`: tokio's `poll_read` clears the socket's
    /// readiness after a short read, which saves a read returning `EAGAIN` per response.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(READ_CHUNK);
        }
        // `read_buf` keeps no state between polls, so a fresh one per poll is fine.
        let read = tokio::io::AsyncReadExt::read_buf(&mut self.io, &mut self.buf);
        std::pin::pin!(read).poll(cx)
    }

    async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Whether an idle connection is unusable: the upstream closed it or sent bytes
    /// nobody asked for. One non-blocking read, so only worth it for connections idle
    /// long enough for the upstream to have timed them out.
    pub fn is_stale(&mut self) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        let mut probe = [0u8; 1];
        !matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

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
}

/// Where a failure happened: before any byte of a response (the request may not have
/// been acted on, so an idempotent one can go out again) or after.
#[derive(Debug)]
pub enum ExchangeError {
    BeforeResponse(WireError),
    InResponse(WireError),
}

impl ExchangeError {
    pub fn into_inner(self) -> WireError {
        match self {
            ExchangeError::BeforeResponse(e) | ExchangeError::InResponse(e) => e,
        }
    }
}

/// Writes `head` and reads the final (non-1xx) response head.
pub async fn exchange(
    conn: &mut Conn,
    head: &[u8],
    head_request: bool,
) -> Result<Head, ExchangeError> {
    conn.io
        .write_all(head)
        .await
        .map_err(|e| ExchangeError::BeforeResponse(e.into()))?;
    let mut received = false;
    loop {
        match parse_head(&mut conn.buf, head_request).map_err(ExchangeError::InResponse)? {
            // Interim responses (100 Continue, 103 Early Hints) are not relayed.
            Some(h) if h.status.is_informational() => continue,
            Some(h) => return Ok(h),
            None => {}
        }
        match conn.fill().await {
            Ok(0) if received => return Err(ExchangeError::InResponse(WireError::ClosedEarly)),
            Ok(0) => {
                return Err(ExchangeError::BeforeResponse(
                    WireError::ClosedBeforeResponse,
                ))
            }
            Ok(_) => received = true,
            Err(e) if received => return Err(ExchangeError::InResponse(e.into())),
            Err(e) => return Err(ExchangeError::BeforeResponse(e.into())),
        }
    }
}

/// Parses a complete response head off the front of `buf`; `Ok(None)` when more bytes
/// are needed. Header values share the buffer's memory instead of being copied.
pub fn parse_head(buf: &mut BytesMut, head_request: bool) -> Result<Option<Head>, WireError> {
    let mut spans = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
    let (len, code, minor, count) = {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut slots);
        let len = match resp.parse(buf) {
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
        let offset = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
        for (span, h) in spans.iter_mut().zip(resp.headers.iter()) {
            let (n, v) = (h.name.as_bytes(), h.value);
            *span = (
                offset(n),
                offset(n) + n.len() as u32,
                offset(v),
                offset(v) + v.len() as u32,
            );
        }
        (
            len,
            resp.code.unwrap_or(0),
            resp.version.unwrap_or(1),
            resp.headers.len(),
        )
    };
    let status =
        StatusCode::from_u16(code).map_err(|_| WireError::Invalid("invalid status code"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        // The gateway never asks for an upgrade (it strips `Upgrade`).
        return Err(WireError::Invalid("unrequested protocol switch"));
    }
    let raw = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(count);
    for &(ns, ne, vs, ve) in &spans[..count] {
        let name = HeaderName::from_bytes(&raw[ns as usize..ne as usize])
            .map_err(|_| WireError::Invalid("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(raw.slice(vs as usize..ve as usize))
            .map_err(|_| WireError::Invalid("invalid header value"))?;
        headers.append(name, value);
    }
    let version = if minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let (framing, keep_alive) = framing(&headers, status, version, head_request)?;
    Ok(Some(Head {
        status,
        version,
        headers,
        framing,
        keep_alive,
    }))
}

fn tokens<'h>(headers: &'h HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'h [u8]> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

fn framing(
    headers: &HeaderMap,
    status: StatusCode,
    version: Version,
    head_request: bool,
) -> Result<(Framing, bool), WireError> {
    let has = |token: &[u8]| tokens(headers, &CONNECTION).any(|t| t.eq_ignore_ascii_case(token));
    let mut keep_alive = if version == Version::HTTP_10 {
        has(b"keep-alive")
    } else {
        !has(b"close")
    };
    if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok((Framing::Empty, keep_alive));
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        // Both headers at once is how responses get smuggled: never reuse that connection.
        if headers.contains_key(CONTENT_LENGTH) || version == Version::HTTP_10 {
            keep_alive = false;
        }
        return Ok(
            match tokens(headers, &TRANSFER_ENCODING)
                .last()
                .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"))
            {
                true => (Framing::Chunked, keep_alive),
                false => (Framing::UntilClose, false),
            },
        );
    }
    let mut length = None;
    for t in tokens(headers, &CONTENT_LENGTH) {
        let n = std::str::from_utf8(t)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(WireError::Invalid("invalid Content-Length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(WireError::Invalid("conflicting Content-Length values"));
        }
        length = Some(n);
    }
    Ok(match length {
        Some(0) => (Framing::Empty, keep_alive),
        Some(n) => (Framing::Length(n), keep_alive),
        None => (Framing::UntilClose, false),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    UntilClose,
    Done,
}

/// A response body read straight off the upstream connection, with an idle timeout
/// (armed only when the body has to wait, as in [`crate::body`]). The connection goes
/// back through `release` at the end, or is closed if the body is abandoned or broken.
pub struct WireBody {
    conn: Option<Conn>,
    state: State,
    keep_alive: bool,
    release: Option<super::WireReturn>,
    timer: Option<Pin<Box<Sleep>>>,
    idle: Duration,
}

impl std::fmt::Debug for WireBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireBody")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl WireBody {
    /// The body of `head`, read from `conn` (whose buffer holds any bytes already read).
    pub fn new(conn: Conn, head: &Head, idle: Duration, release: super::WireReturn) -> Self {
        let state = match head.framing {
            Framing::Empty => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::UntilClose => State::UntilClose,
        };
        let mut body = WireBody {
            conn: Some(conn),
            state,
            keep_alive: head.keep_alive && head.framing != Framing::UntilClose,
            release: Some(release),
            timer: None,
            idle,
        };
        body.finish_if_done();
        body
    }

    /// At the end, hands the connection back if it can be reused. Done as soon as the
    /// end is known: the server stops polling a body that reports its end.
    fn finish_if_done(&mut self) {
        if self.state != State::Done {
            return;
        }
        if let (Some(conn), Some(release)) = (self.conn.take(), self.release.take()) {
            if self.keep_alive && conn.buf.is_empty() {
                release.put(conn);
            }
        }
    }

    fn fail(&mut self, e: WireError) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.conn = None;
        self.state = State::Done;
        Poll::Ready(Some(Err(BodyError::Wire(e))))
    }

    /// Takes one complete CRLF-terminated line off the buffer (without the CRLF).
    fn line(buf: &mut BytesMut) -> Result<Option<Bytes>, WireError> {
        match buf.windows(2).position(|w| w == b"\r\n") {
            Some(i) if i <= MAX_LINE => {
                let line = buf.split_to(i + 2).freeze();
                Ok(Some(line.slice(..i)))
            }
            Some(_) => Err(WireError::Invalid("chunk line too long")),
            None if buf.len() > MAX_LINE => Err(WireError::Invalid("chunk line too long")),
            None => Ok(None),
        }
    }

    fn chunk_size(line: &[u8]) -> Result<u64, WireError> {
        let hex_end = line
            .iter()
            .position(|b| !b.is_ascii_hexdigit())
            .unwrap_or(line.len());
        let rest = &line[hex_end..];
        if hex_end == 0
            || hex_end > 16
            || !(rest.is_empty() || matches!(rest[0], b';' | b' ' | b'\t'))
        {
            return Err(WireError::Invalid("invalid chunk size"));
        }
        let digits = std::str::from_utf8(&line[..hex_end]).unwrap_or("");
        u64::from_str_radix(digits, 16).map_err(|_| WireError::Invalid("invalid chunk size"))
    }

    /// Advances the state machine over buffered bytes: `Some` for a frame to yield,
    /// `None` when more input is needed (or the body is done).
    fn step(&mut self) -> Result<Option<Bytes>, WireError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let buf = &mut conn.buf;
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Length(0) => self.state = State::Done,
                State::Length(rem) | State::ChunkData(rem) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = rem.min(buf.len() as u64);
                    let data = buf.split_to(n as usize).freeze();
                    self.state = match self.state {
                        State::Length(_) if n == rem => State::Done,
                        State::Length(_) => State::Length(rem - n),
                        _ if n == rem => State::ChunkEnd,
                        _ => State::ChunkData(rem - n),
                    };
                    return Ok(Some(data));
                }
                State::ChunkSize => match Self::line(buf)? {
                    None => return Ok(None),
                    Some(line) => {
                        self.state = match Self::chunk_size(&line)? {
                            0 => State::Trailers,
                            n => State::ChunkData(n),
                        }
                    }
                },
                State::ChunkEnd => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(WireError::Invalid("chunk not followed by CRLF"));
                    }
                    let _ = buf.split_to(2);
                    self.state = State::ChunkSize;
                }
                // Trailer fields are dropped: few clients ask for them.
                State::Trailers => match Self::line(buf)? {
                    None => return Ok(None),
                    Some(line) if line.is_empty() => self.state = State::Done,
                    Some(_) => {}
                },
                State::UntilClose => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    return Ok(Some(buf.split().freeze()));
                }
            }
        }
    }
}

impl Body for WireBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        loop {
            match this.step() {
                Err(e) => return this.fail(e),
                Ok(Some(data)) => {
                    this.finish_if_done();
                    if let Some(t) = this.timer.as_mut() {
                        t.as_mut().reset(Instant::now() + this.idle);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(None) if this.state == State::Done => {
                    this.finish_if_done();
                    return Poll::Ready(None);
                }
                Ok(None) => {}
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match conn.poll_fill(cx) {
                Poll::Ready(Ok(0)) if this.state == State::UntilClose => {
                    this.state = State::Done;
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok(0)) => return this.fail(WireError::ClosedEarly),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return this.fail(e.into()),
                Poll::Pending => {
                    let idle = this.idle;
                    let timer = this
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                    return match timer.as_mut().poll(cx) {
                        Poll::Ready(()) => {
                            this.conn = None;
                            this.state = State::Done;
                            Poll::Ready(Some(Err(BodyError::Idle(idle))))
                        }
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Done => SizeHint::with_exact(0),
            State::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Pool;
    use http::uri::Authority;
    use http_body_util::BodyExt;
    use tokio::io::AsyncReadExt;

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
            ("1 x", Some(1)),
            ("-1", None),
            ("10000000000000000", None),
        ] {
            assert_eq!(WireBody::chunk_size(line.as_bytes()).ok(), want, "{line:?}");
        }
    }

    /// A one-connection upstream that reads the request head, then writes `pieces`
    /// one at a time (each in its own segment) and, with `close`, closes.
    async fn upstream(pieces: Vec<Vec<u8>>, close: bool) -> Authority {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            for p in pieces {
                if s.write_all(&p).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if !close {
                // Hold the connection open until the client goes away.
                let _ = s.read(&mut chunk).await;
            }
        });
        authority
    }

    fn bytes_of(s: &str, split_every: usize) -> Vec<Vec<u8>> {
        s.as_bytes()
            .chunks(split_every)
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// GETs from `up`; the body and whether the connection went back to the pool.
    async fn fetch(up: &Authority) -> (Result<Vec<u8>, String>, bool) {
        let pool = Pool::new();
        let mut head = Vec::new();
        encode_head(&mut head, &http::Method::GET, "/", &HeaderMap::new());
        let (_, body) = match pool
            .send_bodiless(up, &http::Method::GET, &head, Duration::from_secs(5))
            .await
        {
            Ok(r) => r,
            Err(e) => return (Err(e.to_string()), false),
        };
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes().to_vec())
            .map_err(|e| e.to_string());
        (body, pool.idle_wire_count(up) == 1)
    }

    #[tokio::test]
    async fn bodies_are_decoded_across_any_read_boundaries() {
        let cases: &[(&str, Result<&str, ()>, bool)] = &[
            ("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nWikipedia", Ok("Wikipedia"), true),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
                Ok("Wikipedia"),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n0\r\nX-Trailer: 1\r\n\r\n",
                Ok("Wiki"),
                true,
            ),
            (
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                Ok("ok"),
                true,
            ),
            ("HTTP/1.1 204 No Content\r\n\r\n", Ok(""), true),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", Ok("ok"), false),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", Err(()), false),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n", Err(()), false),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n", Err(()), false),
        ];
        for split in [1, 3, 1000] {
            for (raw, want, reused) in cases {
                let up = upstream(bytes_of(raw, split), false).await;
                let (got, back) = fetch(&up).await;
                match want {
                    Ok(w) => assert_eq!(got.as_deref(), Ok(w.as_bytes()), "{raw:?} split {split}"),
                    Err(()) => assert!(got.is_err(), "{raw:?} split {split}: {got:?}"),
                }
                assert_eq!(back, *reused, "{raw:?} split {split}: connection reuse");
            }
        }
    }

    #[tokio::test]
    async fn bodies_delimited_by_close_and_cut_short() {
        let up = upstream(bytes_of("HTTP/1.1 200 OK\r\n\r\nto the end", 4), true).await;
        let (got, back) = fetch(&up).await;
        assert_eq!(got.as_deref(), Ok(&b"to the end"[..]));
        assert!(!back, "a close-delimited connection is never reused");

        let up = upstream(
            bytes_of("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 4),
            true,
        )
        .await;
        let (got, back) = fetch(&up).await;
        assert!(got.is_err(), "{got:?}");
        assert!(!back);

        let up = upstream(
            bytes_of("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 100),
            false,
        )
        .await;
        let (got, back) = fetch(&up).await;
        assert_eq!(got.as_deref(), Ok(&b"ok"[..]));
        assert!(!back, "a connection with unasked-for bytes is never reused");

        let up = upstream(vec![], true).await;
        let (got, _) = fetch(&up).await;
        assert!(got.unwrap_err().contains("before responding"));
    }
}
