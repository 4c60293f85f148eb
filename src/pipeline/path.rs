//! One canonical request path for routing, ACL matching and forwarding.
//!
//! Path-confusion bypasses come from a proxy deciding on one spelling of a path while
//! the upstream acts on another (encoded slashes, dot segments, double encoding). So the
//! path is normalised once, ambiguous spellings are refused with 400, and every later
//! stage, including the forwarded request, uses the result.

use std::borrow::Cow;

/// The normalised path (`path`, percent-encoding kept for reserved bytes) and its fully
/// decoded form (`decoded`, what `allowed_urls` regexes see, as in Tyk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonPath<'a> {
    pub path: Cow<'a, str>,
    pub decoded: Cow<'a, str>,
}

/// Why a path was refused.
pub type PathError = &'static str;

/// Whether `p` needs more than a borrow: one pass over the bytes (substring searches
/// cost more than the whole check on typical short paths).
fn needs_work(p: &str) -> bool {
    let b = p.as_bytes();
    if b.first() != Some(&b'/') {
        return true;
    }
    let mut prev_slash = false;
    for &c in b {
        if c == b'%'
            || c == b'\\'
            || c < 0x20
            || c == 0x7f
            || (prev_slash && (c == b'/' || c == b'.'))
        {
            return true;
        }
        prev_slash = c == b'/';
    }
    false
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// Canonicalises `raw` (the request-target path, without the query).
pub fn canonical(raw: &str) -> Result<CanonPath<'_>, PathError> {
    if !needs_work(raw) {
        return Ok(CanonPath {
            path: Cow::Borrowed(raw),
            decoded: Cow::Borrowed(raw),
        });
    }
    if !raw.starts_with('/') {
        return Err("path must start with /");
    }
    // Pass 1: validate escapes, decode unreserved bytes, uppercase the rest.
    let b = raw.as_bytes();
    let mut norm = String::with_capacity(raw.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            return Err("backslash in path");
        }
        if c < 0x20 || c == 0x7f {
            return Err("control character in path");
        }
        if c == b'%' {
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) else {
                return Err("invalid percent-encoding in path");
            };
            let v = h * 16 + l;
            if v == b'/' || v == b'\\' {
                return Err("encoded slash in path");
            }
            if v < 0x20 || v == 0x7f {
                return Err("encoded control character in path");
            }
            if v == b'%'
                && b.get(i + 3).copied().and_then(hex).is_some()
                && b.get(i + 4).copied().and_then(hex).is_some()
            {
                return Err("double percent-encoding in path");
            }
            if unreserved(v) {
                norm.push(v as char);
            } else {
                norm.push('%');
                norm.push(char::from(b"0123456789ABCDEF"[(v >> 4) as usize]));
                norm.push(char::from(b"0123456789ABCDEF"[(v & 15) as usize]));
            }
            i += 3;
            continue;
        }
        // `c` is ASCII or part of a UTF-8 sequence of the (valid UTF-8) input.
        let ch_len = utf8_len(c);
        norm.push_str(&raw[i..i + ch_len]);
        i += ch_len;
    }
    // Pass 2: merge slashes and remove dot segments.
    let trailing = norm.ends_with('/') || norm.ends_with("/.") || norm.ends_with("/..");
    let mut segs: Vec<&str> = Vec::new();
    for seg in norm.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if segs.pop().is_none() {
                    return Err("path climbs above the root");
                }
            }
            s if s.starts_with("..;") || s.starts_with(".;") => {
                return Err("dot segment with parameters")
            }
            s => segs.push(s),
        }
    }
    let mut path = String::with_capacity(norm.len());
    for s in &segs {
        path.push('/');
        path.push_str(s);
    }
    if path.is_empty() || trailing {
        path.push('/');
    }
    let decoded = percent_decode(&path)?;
    Ok(CanonPath {
        decoded: Cow::Owned(decoded),
        path: Cow::Owned(path),
    })
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn percent_decode(s: &str) -> Result<String, PathError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "path is not valid UTF-8 once decoded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_work_table() {
        for (p, want) in [
            ("/api/users/1", false),
            ("/", false),
            ("/a.b/c.d", false),
            ("/a//b", true),
            ("//", true),
            ("/a/./b", true),
            ("/a/../b", true),
            ("/a/.hidden", true),
            ("/.", true),
            ("a/b", true),
            ("", true),
            ("/%41", true),
            ("/a\\b", true),
            ("/a\tb", true),
            ("/a\x7fb", true),
        ] {
            assert_eq!(needs_work(p), want, "{p:?}");
        }
    }

    #[test]
    fn clean_paths_are_borrowed() {
        let c = canonical("/api/users/1").unwrap();
        assert!(matches!(c.path, Cow::Borrowed(_)));
        assert_eq!(c.decoded, "/api/users/1");
    }

    #[test]
    fn normalisation_table() {
        let ok: &[(&str, &str, &str)] = &[
            ("/a//b", "/a/b", "/a/b"),
            ("/a/./b", "/a/b", "/a/b"),
            ("/a/x/../b", "/a/b", "/a/b"),
            ("/a/b/", "/a/b/", "/a/b/"),
            ("/a/b/..", "/a/", "/a/"),
            ("/%61pi/users", "/api/users", "/api/users"),
            ("/a%2e%2e/b", "/a../b", "/a../b"),
            ("/a%20b", "/a%20b", "/a b"),
            ("/a%3a", "/a%3A", "/a:"),
            ("/%c3%a9", "/%C3%A9", "/é"),
            ("/é", "/é", "/é"),
        ];
        for (raw, path, decoded) in ok {
            let c = canonical(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(
                (c.path.as_ref(), c.decoded.as_ref()),
                (*path, *decoded),
                "{raw}"
            );
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for raw in [
            "/a%2fb",
            "/a%2Fb",
            "/a%5cb",
            "/a\\b",
            "/a%00",
            "/a%G1",
            "/a%",
            "/a%2",
            "/%252e",
            "/..",
            "/a/../..",
            "/a/..;x/b",
            "/a\tb",
            "/a%7f",
            "/%ff",
        ] {
            assert!(canonical(raw).is_err(), "{raw} should be refused");
        }
    }
}
