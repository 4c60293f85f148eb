//! Stage: authenticate — read the key from the request (tyk-compat §4.1), find it in
//! the store (§4.3) and fetch its compiled grant from the snapshot.

use crate::policy::snapshot::{Api, AuthSpec, Grant, GrantError, Snapshot};
use crate::respond::refusal::GatewayError;
use crate::state::AppState;
use crate::store::{KeyStore, StoredKey};
use http::HeaderMap;
use std::borrow::Cow;
use std::sync::Arc;

/// The longest stored name built in place: an org prefix plus a key.
const NAME_CAP: usize = 512;

/// A key's stored name, built on the stack: the key with its org prefix, the key as
/// presented, or (with `hash_keys`) the SHA-256 hex of either.
pub struct KeyName {
    buf: [u8; NAME_CAP],
    len: usize,
}

impl KeyName {
    fn new(name: &str) -> Option<KeyName> {
        let mut buf = [0u8; NAME_CAP];
        buf.get_mut(..name.len())?.copy_from_slice(name.as_bytes());
        Some(KeyName {
            buf,
            len: name.len(),
        })
    }

    pub fn as_str(&self) -> &str {
        // Built only from `&str`s, so always UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Debug for KeyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The name may be a raw key: never printed.
        f.write_str("KeyName(..)")
    }
}

/// Finds a key as Tyk does: the name re-generated for the API's org first, then as
/// presented (tyk-compat §4.3). No allocation.
pub fn find_key(
    store: &KeyStore,
    hash_keys: bool,
    key: &str,
    org: &str,
) -> Option<(KeyName, StoredKey)> {
    // Built only when the org prefix applies (keys made by `/tyk/keys/create` already
    // carry it), so the common lookup fills one name buffer, on a hit.
    let prefixed = (!org.is_empty() && !key.starts_with(org) && org.len() + key.len() <= NAME_CAP)
        .then(|| {
            let mut n = KeyName {
                buf: [0u8; NAME_CAP],
                len: org.len() + key.len(),
            };
            n.buf[..org.len()].copy_from_slice(org.as_bytes());
            n.buf[org.len()..n.len].copy_from_slice(key.as_bytes());
            n
        });
    for candidate in prefixed
        .iter()
        .map(KeyName::as_str)
        .chain(std::iter::once(key))
    {
        let mut hashed = [0u8; 64];
        let name = if hash_keys {
            crate::tyk::keys::hash_key_into(candidate, &mut hashed);
            std::str::from_utf8(&hashed).unwrap_or(candidate)
        } else {
            candidate
        };
        if let Some(stored) = store.get(name) {
            return KeyName::new(name).map(|n| (n, stored));
        }
    }
    None
}

/// A request whose key is known, with its compiled grant for the API's org.
#[derive(Debug)]
pub struct Authenticated {
    pub name: KeyName,
    pub grant: Arc<Grant>,
}

/// Reads, looks up and resolves the key of a request for `api`.
pub fn authenticate(
    state: &AppState,
    snap: &Snapshot,
    api: &Api,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Authenticated, GatewayError> {
    let key = extract_key(&api.auth, headers, query).ok_or(GatewayError::AuthMissing)?;
    if key.len() < state.config.min_token_length() {
        return Err(GatewayError::KeyDenied);
    }
    let (name, stored) = find_key(&state.store, state.config.hash_keys, &key, &api.org_id)
        .ok_or(GatewayError::KeyDenied)?;
    let entry = snap.grant(name.as_str(), &stored, &api.org_id);
    match &entry.grant {
        Ok(g) => Ok(Authenticated {
            name,
            grant: g.clone(),
        }),
        Err(GrantError::Policy(e)) => {
            tracing::info!(key = %crate::tyk::keys::fingerprint(&key), api = %api.id, reason = %e, "policies could not be applied");
            Err(GatewayError::KeyDenied)
        }
        Err(e @ GrantError::Session(_)) => {
            if entry.first_report() {
                tracing::error!(key = %crate::tyk::keys::fingerprint(&key), api = %api.id, reason = %e, "refusing a key whose stored session is unusable");
            }
            Err(GatewayError::KeyDenied)
        }
    }
}

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
