//! Key names: generation, Tyk's org-prefixed custom keys, hashing and log fingerprints.

use sha2::{Digest, Sha256};
use std::fmt::Write;

/// Lowercase hex SHA-256 of `key` (what is stored with `hash_keys`).
pub fn hash_key(key: &str) -> String {
    let mut buf = [0u8; 64];
    hash_key_into(key, &mut buf);
    buf.iter().map(|&b| char::from(b)).collect()
}

/// Writes the SHA-256 hex of `key` into `buf` without allocating.
pub fn hash_key_into(key: &str, buf: &mut [u8; 64]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(key.as_bytes());
    for (i, b) in digest.iter().enumerate() {
        buf[i * 2] = HEX[(b >> 4) as usize];
        buf[i * 2 + 1] = HEX[(b & 15) as usize];
    }
}

/// A short, non-reversible fingerprint for logs: raw keys never appear in logs.
pub fn fingerprint(key: &str) -> String {
    hash_key(key)[..12].to_string()
}

/// Tyk's legacy key format: `<org_id><32 hex>`.
pub fn generate(org_id: &str) -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    let mut s = String::with_capacity(org_id.len() + 32);
    s.push_str(org_id);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The stored name of a custom key (`POST /tyk/keys/{key}`): Tyk re-generates it for the
/// body's org, i.e. prefixes the org id (legacy key format).
pub fn custom_name(org_id: &str, key: &str) -> String {
    if org_id.is_empty() || key.starts_with(org_id) {
        key.to_string()
    } else {
        format!("{org_id}{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_and_fingerprints() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut buf = [0u8; 64];
        hash_key_into("abc", &mut buf);
        assert_eq!(std::str::from_utf8(&buf).unwrap(), hash_key("abc"));
        assert_eq!(fingerprint("abc").len(), 12);
        assert!(!fingerprint("secret-key").contains("secret"));
    }

    #[test]
    fn generated_and_custom_names() {
        let k = generate("org1");
        assert!(k.starts_with("org1") && k.len() == 36);
        assert_ne!(generate(""), generate(""));
        assert_eq!(custom_name("default", "abc"), "defaultabc");
        assert_eq!(custom_name("default", "defaultabc"), "defaultabc");
        assert_eq!(custom_name("", "abc"), "abc");
    }
}
