//! The decision path (route → key → policies → ACL → rate → quota) allocates nothing
//! per request in steady state, for an allowed request and for every refusal.
//!
//! A counting global allocator counts the allocations made by the current thread, so
//! other test threads cannot disturb the count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// test code: a failed unwrap is a failed test

// A global allocator cannot be written without `unsafe`; this file only forwards to the
// system allocator. The library and binary keep `#![forbid(unsafe_code)]`.
#![allow(unsafe_code)]

use http::{HeaderMap, HeaderValue, Method};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tollgate::pipeline::{self, path};
use tollgate::testkit::{self, Fixture};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call forwards unchanged to `System`, which upholds the contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(|c| c.get())
}

/// Request headers carrying `key` (built once per case: building them allocates).
fn headers(key: Option<&HeaderValue>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(k) = key {
        headers.insert(http::header::AUTHORIZATION, k.clone());
    }
    headers
}

/// Runs one decision and returns its outcome as a status code.
fn decide(f: &Fixture, headers: &HeaderMap, raw_path: &str) -> u16 {
    let snap = f.state.snapshot.load_full();
    let canon = path::canonical(raw_path).unwrap();
    match pipeline::decide(&f.state, &snap, &Method::GET, headers, None, &canon) {
        Ok(d) => {
            assert!(
                d.quota.as_ref().is_none_or(|q| !q.pending),
                "no reservation should be pending in steady state"
            );
            200
        }
        Err(e) => e.status().as_u16(),
    }
}

#[test]
fn the_decision_path_does_not_allocate() {
    let f = Fixture::new(10_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Durable quota headroom for the allowed key, and the tiny quota used up, as a
    // running gateway would have them.
    let snap = f.state.snapshot.load_full();
    for key in [f.key.clone(), testkit::QUOTA.to_string()] {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&key).unwrap(),
        );
        let canon = path::canonical("/api/users/1").unwrap();
        let d =
            pipeline::decide(&f.state, &snap, &http::Method::GET, &headers, None, &canon).unwrap();
        if let Some(q) = d.quota {
            rt.block_on(pipeline::quota::follow_up(&f.state, q, &mut None))
                .unwrap();
        }
    }

    let hv = |k: &str| HeaderValue::from_str(k).unwrap();
    let cases: Vec<(&str, Option<HeaderValue>, &str, u16)> = vec![
        ("allowed", Some(hv(&f.key)), "/api/users/12345", 200),
        ("no key", None, "/api/users/1", 401),
        (
            "unknown key",
            Some(hv("no-such-key-at-all")),
            "/api/users/1",
            403,
        ),
        ("key too short", Some(hv("ab")), "/api/users/1", 403),
        ("url denied", Some(hv(&f.key)), "/admin/users", 403),
        ("method/path denied", Some(hv(&f.key)), "/api/other/1", 403),
        (
            "api not granted",
            Some(hv(testkit::OTHER_ONLY)),
            "/api/users/1",
            403,
        ),
        ("expired", Some(hv(testkit::EXPIRED)), "/api/users/1", 401),
        ("inactive", Some(hv(testkit::INACTIVE)), "/api/users/1", 403),
        (
            "rate limited",
            Some(hv(testkit::LIMITED)),
            "/api/users/1",
            429,
        ),
        (
            "quota exceeded",
            Some(hv(testkit::QUOTA)),
            "/api/users/1",
            403,
        ),
    ];
    for (name, key, path, want) in &cases {
        let h = headers(key.as_ref());
        // Warm-up: first use builds the key's grant, limiter and counters.
        for _ in 0..2 {
            decide(&f, &h, path);
        }
        let before = allocations();
        for _ in 0..100 {
            assert_eq!(decide(&f, &h, path), *want, "{name}");
        }
        let n = allocations() - before;
        assert_eq!(n, 0, "{name}: {n} allocations in 100 decisions");
    }
}
