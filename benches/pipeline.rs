//! Decision-path benches: route → key → policies → ACL → rate → quota, and each stage
//! alone, on a snapshot of 10k keys with 3 policies per key and 10 `allowed_urls` rules;
//! plus snapshot compilation for 10k policies.
//!
//! Motivation: the gateway's per-request CPU is what decides whether it keeps up with
//! nginx in wrk runs (issue "Performance"); these isolate the decision from the network.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::json;
use std::sync::Arc;
use tollgate::config::Config;
use tollgate::limits::Clock;
use tollgate::model::Session;
use tollgate::pipeline::{self, path};
use tollgate::state::AppState;

const KEYS: usize = 10_000;

fn policies_json() -> serde_json::Value {
    let mut urls: Vec<serde_json::Value> = (0..9)
        .map(|i| json!({"url": format!("^/api/thing{i}/[0-9]+$"), "methods": ["GET", "POST"]}))
        .collect();
    urls.push(json!({"url": "^/api/(users|orders)/[0-9]+$", "methods": ["GET", "POST"]}));
    let mut m = serde_json::Map::new();
    for (i, id) in ["tier-a", "tier-b", "tier-c"].iter().enumerate() {
        let part: Vec<serde_json::Value> = urls.iter().skip(i).step_by(1).cloned().collect();
        m.insert(
            id.to_string(),
            json!({
                "id": id, "org_id": "default", "rate": 1_000_000_000, "per": 1,
                "quota_max": 1_000_000_000_000i64, "quota_renewal_rate": 3600,
                "access_rights": {"bench-api": {"api_id": "bench-api", "versions": ["Default"], "allowed_urls": part}}
            }),
        );
    }
    serde_json::Value::Object(m)
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: Arc<AppState>,
    key: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("apps")).unwrap();
    std::fs::write(
        d.join("apps/bench.json"),
        json!({
            "api_id": "bench-api", "org_id": "default",
            "proxy": {"listen_path": "/", "target_url": "http://127.0.0.1:9", "strip_listen_path": false},
            "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}}
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(d.join("policies.json"), policies_json().to_string()).unwrap();
    let mut cfg = Config {
        app_path: d.join("apps").display().to_string(),
        ..Default::default()
    };
    cfg.policies.policy_record_name = d.join("policies.json").display().to_string();
    cfg.storage.path = d.join("data").display().to_string();
    let state = AppState::new(cfg, Clock::System).unwrap();
    let session = Session {
        org_id: "default".into(),
        apply_policies: vec!["tier-a".into(), "tier-b".into(), "tier-c".into()],
        ..Default::default()
    };
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let st = state.clone();
            let s = session.clone();
            std::thread::spawn(move || {
                for i in (t..KEYS).step_by(8) {
                    st.store
                        .put(&format!("default{i:032x}"), s.clone())
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    Fixture {
        _dir: dir,
        state,
        key: format!("{:032x}", 4242),
    }
}

fn bench(c: &mut Criterion) {
    let f = fixture();
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
            f.state.with_key(black_box(&f.key), "default", |n, s| {
                n.len() as u64 + s.revision
            })
        })
    });
    let (name, stored) = f
        .state
        .with_key(&f.key, "default", |n, s| (n.to_string(), s.clone()))
        .unwrap();
    c.bench_function("stage/grant (cached policy merge)", |b| {
        b.iter(|| {
            snap.grant(
                black_box(&name),
                stored.revision,
                &stored.session,
                &api.org_id,
            )
            .revision
        })
    });
    let entry = snap.grant(&name, stored.revision, &stored.session, &api.org_id);
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
    let limits = grant.limits("bench-api").unwrap().clone();
    let rate = limits.rate.unwrap();
    c.bench_function("stage/rate limit", |b| {
        b.iter(|| {
            f.state
                .limits
                .check_rate(black_box(&name), &limits.scope, rate)
        })
    });
    let quota = limits.quota.unwrap();
    c.bench_function("stage/quota", |b| {
        b.iter(|| {
            f.state
                .limits
                .try_consume_quota(black_box(&name), &limits.scope, quota)
        })
    });
    c.bench_function("policy merge (3 policies, uncached)", |b| {
        b.iter_batched(
            || stored.session.clone(),
            |mut s| {
                tollgate::policy::apply_policies(&mut s, &snap.policies, Some("default")).is_ok()
            },
            BatchSize::SmallInput,
        )
    });
}

fn compile_10k_policies(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut m = serde_json::Map::new();
    for i in 0..10_000 {
        m.insert(
            format!("p{i}"),
            json!({"org_id": "default", "rate": 10, "per": 1, "quota_max": 100, "quota_renewal_rate": 60,
                   "access_rights": {format!("api{}", i % 50): {"versions": ["Default"],
                       "allowed_urls": [{"url": format!("^/api/r{}/[0-9]+$", i % 200), "methods": ["GET"]}]}}}),
        );
    }
    let file = dir.path().join("policies.json");
    std::fs::write(&file, serde_json::Value::Object(m).to_string()).unwrap();
    let mut cfg = Config {
        app_path: dir.path().join("apps").display().to_string(),
        ..Default::default()
    };
    cfg.policies.policy_record_name = file.display().to_string();
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

criterion_group!(benches, bench, compile_10k_policies);
criterion_main!(benches);
