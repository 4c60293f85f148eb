//! Decision-path benches: route → key → policies → ACL → rate → quota, and each stage
//! alone, on a snapshot of 10k keys with 3 policies per key and 10 `allowed_urls` rules;
//! plus snapshot compilation for 10k policies.
//!
//! Motivation: the gateway's per-request CPU is what decides whether it keeps up with
//! nginx in wrk runs (issue "Performance"); these isolate the decision from the network.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use http::{HeaderMap, HeaderValue, Method};
use tollgate::pipeline::{self, path};
use tollgate::testkit::Fixture;

const KEYS: usize = 10_000;

fn bench(c: &mut Criterion) {
    let f = Fixture::new(KEYS);
    let snap = f.state.snapshot.load_full();
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_str(&f.key).unwrap());
    let method = Method::GET;
    let canon = path::canonical("/api/users/12345").unwrap();
    // Warm the grant cache and the limiter entries, as a steady-state request would find them.
    pipeline::decide(&f.state, &snap, &method, &headers, None, &canon).unwrap();

    c.bench_function("decide/allowed (route..quota)", |b| {
        b.iter(|| {
            pipeline::decide(&f.state, &snap, &method, &headers, None, black_box(&canon))
                .map(|d| d.headers)
        })
    });
    let denied = path::canonical("/admin/users").unwrap();
    c.bench_function("decide/denied by allowed_urls", |b| {
        b.iter(|| {
            pipeline::decide(&f.state, &snap, &method, &headers, None, black_box(&denied))
                .map(|d| d.headers)
        })
    });
    c.bench_function("stage/canonical path", |b| {
        b.iter(|| path::canonical(black_box("/api/users/12345")).map(|c| c.path.len()))
    });
    c.bench_function("stage/route", |b| {
        b.iter(|| {
            snap.route(black_box("/api/users/12345"))
                .map(|(a, _)| a.id.len())
        })
    });
    let api = snap.api_by_id("bench-api").unwrap().clone();
    c.bench_function("stage/extract key", |b| {
        b.iter(|| {
            pipeline::authn::extract_key(&api.auth, black_box(&headers), None).map(|k| k.len())
        })
    });
    c.bench_function("stage/key lookup (10k keys)", |b| {
        b.iter(|| {
            pipeline::authn::find_key(&f.state.store, false, black_box(&f.key), "default")
                .map(|(n, s)| n.as_str().len() as u64 + s.revision)
        })
    });
    let (key_name, stored) =
        pipeline::authn::find_key(&f.state.store, false, &f.key, "default").unwrap();
    let name = key_name.as_str().to_string();
    c.bench_function("stage/grant (cached policy merge)", |b| {
        b.iter(|| snap.grant(black_box(&name), &stored, &api.org_id).revision)
    });
    let entry = snap.grant(&name, &stored, &api.org_id);
    let grant = entry.grant.as_ref().unwrap().clone();
    c.bench_function("stage/allowed_urls (10 rules)", |b| {
        b.iter(|| {
            pipeline::authz::check_urls(
                &grant,
                &api,
                "GET",
                black_box("/api/users/12345"),
                "/api/users/12345",
                snap.settings.matching,
            )
        })
    });
    let route = snap.route("/api/users/12345").unwrap();
    let to = pipeline::authz::Target {
        api: route.0,
        version: "Default",
        method: "GET",
        decoded: "/api/users/12345",
        stripped_decoded: "/users/12345",
    };
    let permit =
        pipeline::authz::authorize(key_name.as_str(), &grant, to, snap.settings.matching, 0)
            .unwrap();
    c.bench_function("stage/rate limit", |b| {
        b.iter(|| f.state.limits.check_rate(black_box(&permit), 0))
    });
    c.bench_function("stage/quota", |b| {
        b.iter(|| f.state.limits.try_consume_quota(black_box(&permit), 0))
    });
    c.bench_function("policy merge (3 policies, uncached)", |b| {
        b.iter_batched(
            || stored.session().unwrap(),
            |mut s| {
                tollgate::policy::apply::apply_policies(&mut s, &snap.policies, Some("default"))
                    .is_ok()
            },
            BatchSize::SmallInput,
        )
    });
}

fn compile_10k_policies(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tollgate::testkit::many_policies(dir.path(), 10_000);
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    g.bench_function("read + compile 10k policies", |b| {
        b.iter(|| {
            tollgate::state::build_snapshot(&cfg, 2)
                .map(|s| s.policies.len())
                .unwrap()
        })
    });
    g.finish();
}

fn key_lookup_1m(c: &mut Criterion) {
    let n = 1_000_000usize;
    let dir = tempfile::tempdir().unwrap();
    let store = tollgate::store::KeyStore::open(dir.path()).unwrap();
    let session = tollgate::tyk::Session {
        org_id: "default".into(),
        apply_policies: vec!["tier-a".into()],
        ..Default::default()
    };
    let key = |i: usize| {
        format!(
            "default{:032x}",
            (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        )
    };
    for chunk in (0..n).collect::<Vec<_>>().chunks(50_000) {
        store
            .put_many(chunk.iter().map(|&i| (key(i), session.clone())).collect())
            .unwrap();
    }
    let probes: Vec<String> = (0..4096).map(|i| key((i * 7919) % n)).collect();
    let mut i = 0usize;
    let mut g = c.benchmark_group("store");
    g.bench_function("key lookup (1M keys, scattered)", |b| {
        b.iter(|| {
            i = (i + 1) % probes.len();
            store.get(black_box(&probes[i])).map(|s| s.revision)
        })
    });
    g.finish();
    store.close().unwrap();
}

criterion_group!(benches, bench, compile_10k_policies, key_lookup_1m);
criterion_main!(benches);
