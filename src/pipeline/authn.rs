//! Stage: read the key from the request (tyk-compat §4.1).

use crate::policy::snapshot::AuthSpec;
use http::HeaderMap;
use std::borrow::Cow;

/// Strips a leading `Bearer ` (any case) when followed by a space.
pub fn strip_bearer(v: &str) -> &str {
    if v.len() > 7 && v.as_bytes()[6] == b' ' && v[..6].eq_ignore_ascii_case("bearer") {
        &v[7..]
    } else {
        v
    }
}

/// The value of query parameter `name` (exact, case-sensitive name), percent-decoded.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == name).then(|| decode(v))
    })
}

fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hexval(b[i + 1]), hexval(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The value of cookie `name`, if present.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Header, then query parameter, then cookie: a later non-empty source wins (as in Tyk).
pub fn extract_key<'a>(
    auth: &AuthSpec,
    headers: &'a HeaderMap,
    query: Option<&'a str>,
) -> Option<Cow<'a, str>> {
    let mut key: Option<Cow<'a, str>> = auth
        .header
        .as_ref()
        .and_then(|h| headers.get(h))
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(Cow::Borrowed);
    if let (Some(name), Some(q)) = (&auth.param, query) {
        if let Some(v) = query_param(q, name).filter(|v| !v.is_empty()) {
            key = Some(v);
        }
    }
    if let Some(name) = &auth.cookie {
        if let Some(v) = cookie(headers, name).filter(|v| !v.is_empty()) {
            key = Some(Cow::Borrowed(v));
        }
    }
    match key? {
        Cow::Borrowed(k) => Some(Cow::Borrowed(strip_bearer(k))),
        Cow::Owned(k) => Some(Cow::Owned(strip_bearer(&k).to_string())),
    }
    .filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderName;

    fn spec(header: Option<&str>, param: Option<&str>, cookie: Option<&str>) -> AuthSpec {
        AuthSpec {
            header: header.map(|h| HeaderName::from_bytes(h.as_bytes()).unwrap()),
            param: param.map(str::to_string),
            cookie: cookie.map(str::to_string),
        }
    }

    #[test]
    fn bearer_stripping() {
        for (input, want) in [
            ("Bearer abc", "abc"),
            ("bearer abc", "abc"),
            ("bEaReR abc", "abc"),
            ("Bearer: abc", "Bearer: abc"),
            ("Basic abc", "Basic abc"),
            ("Bearer", "Bearer"),
        ] {
            assert_eq!(strip_bearer(input), want);
        }
    }

    #[test]
    fn sources_and_precedence() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer hdr".parse().unwrap());
        h.insert("cookie", "a=1; session=ck".parse().unwrap());
        let cases: &[(AuthSpec, Option<&str>, Option<&str>)] = &[
            (spec(Some("Authorization"), None, None), None, Some("hdr")),
            (spec(Some("x-api-key"), None, None), None, None),
            (
                spec(Some("Authorization"), Some("authorization"), None),
                Some("authorization=q%20k"),
                Some("q k"),
            ),
            (
                spec(Some("Authorization"), Some("authorization"), None),
                Some("authorization="),
                Some("hdr"),
            ),
            (
                spec(Some("Authorization"), Some("Authorization"), None),
                Some("authorization=q"),
                Some("hdr"),
            ),
            (
                spec(Some("Authorization"), Some("k"), Some("session")),
                Some("k=q"),
                Some("ck"),
            ),
            (spec(None, None, None), None, None),
        ];
        for (i, (s, q, want)) in cases.iter().enumerate() {
            assert_eq!(extract_key(s, &h, *q).as_deref(), *want, "case {i}");
        }
    }
}
