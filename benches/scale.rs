//! Scale figures: memory per key and lookup time at 1M keys, store reopen time at 1M
//! keys, and snapshot build (read + compile) time at 10k policies. Prints one line each.
//!
//! `cargo bench --bench scale` (about a minute and ~2 GiB of memory at 1M keys).
//! `SCALE_KEYS=100000 cargo bench --bench scale` for a quicker run. `SCALE_RICH=1`
//! stores a fuller session (~500 bytes of JSON: access rights for two APIs, URL
//! rules, metadata, tags) instead of a key that only lists its policies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::time::Instant;
use tollgate::store::KeyStore;
use tollgate::tyk::Session;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn key(i: usize) -> String {
    format!(
        "default{:032x}",
        (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
}

fn main() {
    let n: usize = std::env::var("SCALE_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let session: Session = if std::env::var_os("SCALE_RICH").is_some() {
        serde_json::from_value(serde_json::json!({
            "rate": 100, "per": 1, "quota_max": 10000, "quota_renewal_rate": 3600,
            "org_id": "default", "apply_policies": ["pol-std"],
            "access_rights": {
                "api1": {"api_name": "One", "api_id": "api1", "versions": ["Default"],
                         "limit": {"rate": 10, "per": 1}},
                "api2": {"api_name": "Two", "api_id": "api2", "versions": ["Default"],
                         "allowed_urls": [{"url": "/x", "methods": ["GET"]}]}
            },
            "meta_data": {"user": "alice"}, "tags": ["a", "b"], "alias": "alice",
            "date_created": "2025-01-01T00:00:00Z", "last_updated": "1767225600",
            "basic_auth_data": {"password": ""}
        }))
        .unwrap()
    } else {
        Session {
            org_id: "default".into(),
            apply_policies: vec!["pol-std".into()],
            ..Default::default()
        }
    };

    let before = rss_bytes();
    let store = KeyStore::open(dir.path()).unwrap();
    let t = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        store
            .put_many(chunk.iter().map(|&i| (key(i), session.clone())).collect())
            .unwrap();
    }
    let insert = t.elapsed();
    let after = rss_bytes();
    println!(
        "keys: {n} stored (bulk, durable) in {:.1} s; resident memory {:.0} bytes/key",
        insert.as_secs_f64(),
        (after.saturating_sub(before)) as f64 / n as f64
    );

    // Lookups in a scattered order, as traffic with many keys would do.
    let probes: Vec<String> = (0..200_000).map(|i| key((i * 7919) % n)).collect();
    let t = Instant::now();
    let mut found = 0usize;
    for k in &probes {
        found += usize::from(store.get(k).is_some());
    }
    let per = t.elapsed().as_nanos() as f64 / probes.len() as f64;
    assert_eq!(found, probes.len());
    println!("key lookup with {n} keys: {per:.0} ns");

    store.close().unwrap();
    drop(store);
    let t = Instant::now();
    let reopened = KeyStore::open(dir.path()).unwrap();
    println!(
        "store reopen with {n} keys: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(reopened.len(), n);
    drop(reopened);

    // Snapshot build at 10k policies (what a reload does before the swap).
    let pdir = tempfile::tempdir().unwrap();
    let cfg = tollgate::testkit::many_policies(pdir.path(), 10_000);
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let snap = tollgate::state::build_snapshot(&cfg, 2).unwrap();
        times.push(t.elapsed());
        assert_eq!(snap.policies.len(), 10_000);
    }
    times.sort();
    println!(
        "snapshot build (read + compile) at 10k policies: median {:.0} ms",
        times[2].as_secs_f64() * 1000.0
    );
}
