//! Quotas: exact under concurrency, windows on the manual clock, persistence.

use crate::common::*;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

async fn gateway(up: &MockUpstream) -> TestGateway {
    TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())])).await
}

fn quota_key(max: i64, renewal: i64) -> serde_json::Value {
    with(
        key_for(&["open"]),
        json!({"quota_max": max, "quota_renewal_rate": renewal}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_quota_max_pass_under_concurrency() {
    const TOTAL: usize = 400;
    const TASKS: usize = 64;
    let up = MockUpstream::start().await;
    let gw = Arc::new(gateway(&up).await);
    let key = Arc::new(gw.create_key(quota_key(50, 3600)).await);
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let denied = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (gw, key, next, ok, denied) = (
            gw.clone(),
            key.clone(),
            next.clone(),
            ok.clone(),
            denied.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < TOTAL {
                let r = gw.get_with("/open/q", &key).await;
                match r.status {
                    200 => ok.fetch_add(1, Ordering::Relaxed),
                    403 => {
                        assert_eq!(r.text(), tyk_body("Quota exceeded"));
                        denied.fetch_add(1, Ordering::Relaxed)
                    }
                    s => panic!("unexpected status {s}: {}", r.text()),
                };
            }
        }));
    }
    for t in tasks {
        t.await.expect("a client task failed");
    }
    assert_eq!(ok.load(Ordering::Relaxed), 50, "requests granted");
    assert_eq!(
        denied.load(Ordering::Relaxed),
        TOTAL - 50,
        "requests denied"
    );
    assert_eq!(up.count(), 50, "requests that reached the upstream");
    let (_, s) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    // Zero fields are omitted from session JSON (Tyk v5.12+).
    assert_eq!(s["quota_remaining"].as_i64().unwrap_or(0), 0, "{s}");
    assert_eq!(s["quota_max"], 50, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_renews_after_quota_renewal_rate() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let key = gw.create_key(quota_key(3, 60)).await;
    for want in [2, 1, 0] {
        let r = gw.get_with("/open/x", &key).await;
        assert_eq!((r.status, r.remaining()), (200, Some(want)));
        assert_eq!(
            r.header("x-ratelimit-reset"),
            Some((START + 60).to_string())
        );
    }
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Quota exceeded");
    assert_eq!(r.header("retry-after").as_deref(), Some("60"));
    gw.advance(59);
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Quota exceeded");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    gw.advance(1);
    // A new window starts at the first request after the old one ended.
    gw.advance(30);
    let r = gw.get_with("/open/x", &key).await;
    assert_eq!((r.status, r.remaining()), (200, Some(2)), "{}", r.text());
    assert_eq!(
        r.header("x-ratelimit-reset"),
        Some((START + 90 + 60).to_string())
    );
    assert_eq!(up.count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_rate_zero_never_renews() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    // Tyk's TestNeverRenewQuota: a per-API limit of quota 1, renewal 0.
    let key = gw
        .create_key(json!({"org_id": "default", "access_rights": {"open": {
            "api_id": "open", "versions": ["Default"],
            "limit": {"quota_max": 1, "quota_renewal_rate": 0}}}}))
        .await;
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Quota exceeded");
    gw.advance(10_000_000);
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Quota exceeded");
    assert_eq!(up.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_requests_do_not_consume_quota() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let key = gw
        .create_key(with(
            key_for(&["open"]),
            json!({"rate": 2, "per": 60, "quota_max": 10, "quota_renewal_rate": 3600}),
        ))
        .await;
    for want in [9, 8] {
        let r = gw.get_with("/open/x", &key).await;
        assert_eq!((r.status, r.remaining()), (200, Some(want)));
    }
    for _ in 0..5 {
        let r = gw.get_with("/open/x", &key).await;
        assert_tyk_error(&r, 429, "Rate Limit Exceeded");
    }
    gw.advance(60);
    let r = gw.get_with("/open/x", &key).await;
    assert_eq!(
        (r.status, r.remaining()),
        (200, Some(7)),
        "429s consumed quota"
    );
    let (_, s) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(s["quota_remaining"], 7, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_requests_do_not_consume_quota() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let key = gw
        .create_key(
            json!({"org_id": "default", "quota_max": 5, "quota_renewal_rate": 3600,
            "access_rights": {"open": {"api_id": "open", "versions": ["Default"],
                "allowed_urls": [{"url": "/open/ok", "methods": ["GET"]}]}}}),
        )
        .await;
    for _ in 0..4 {
        let r = gw.get_with("/open/nope", &key).await;
        assert_tyk_error(&r, 403, "Access to this resource has been disallowed");
    }
    let r = gw.get_with("/open/ok", &key).await;
    assert_eq!((r.status, r.remaining()), (200, Some(4)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_counts_and_keys_survive_a_clean_restart() {
    let up = MockUpstream::start().await;
    let mut gw = gateway(&up).await;
    let key = gw.create_key(quota_key(20, 3600)).await;
    let mut reset = None;
    for i in 0..7 {
        let r = gw.get_with("/open/x", &key).await;
        assert_eq!((r.status, r.remaining()), (200, Some(19 - i)));
        reset = r.header("x-ratelimit-reset");
    }
    let other = gw.add_key("survivor", key_for(&["open"])).await;

    gw.restart().await;

    let (status, s) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(status, 200, "key lost across restart: {s}");
    assert_eq!(s["quota_remaining"], 13, "{s}");
    let r = gw.get_with("/open/x", &key).await;
    assert_eq!(
        (r.status, r.remaining()),
        (200, Some(12)),
        "the count must continue exactly after a clean restart"
    );
    assert_eq!(r.header("x-ratelimit-reset"), reset, "same window");
    assert_eq!(gw.get_with("/open/x", &other).await.status, 200);
    assert_eq!(gw.get_with("/open/x", "survivor").await.status, 200);

    // Twice in a row, and up to exhaustion.
    gw.advance(10);
    gw.restart().await;
    for i in 0..12 {
        let r = gw.get_with("/open/x", &key).await;
        assert_eq!((r.status, r.remaining()), (200, Some(11 - i)));
    }
    gw.restart().await;
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Quota exceeded");
    assert_eq!(r.header("retry-after").as_deref(), Some("3590"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_and_recreating_a_key_resets_its_quota() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let body = quota_key(1, -1);
    let name = gw.add_key("quotakey1", body.clone()).await;
    assert_eq!(gw.get_with("/open/x", &name).await.status, 200);
    let r = gw.get_with("/open/x", &name).await;
    assert_tyk_error(&r, 403, "Quota exceeded");
    let (status, _) = gw.admin("DELETE", "/tyk/keys/quotakey1", None).await;
    assert_eq!(status, 200);
    gw.add_key("quotakey1", body).await;
    assert_eq!(gw.get_with("/open/x", &name).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_quota_is_shared_by_the_keys_apis() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![
        api("open", "/open/", &up.url()),
        api("other", "/other/", &up.url()),
    ]))
    .await;
    let key = gw
        .create_key(with(
            key_for(&["open", "other"]),
            json!({"quota_max": 3, "quota_renewal_rate": 3600}),
        ))
        .await;
    assert_eq!(gw.get_with("/open/x", &key).await.remaining(), Some(2));
    assert_eq!(gw.get_with("/other/x", &key).await.remaining(), Some(1));
    assert_eq!(gw.get_with("/open/x", &key).await.remaining(), Some(0));
    assert_tyk_error(&gw.get_with("/other/x", &key).await, 403, "Quota exceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dont_set_quota_on_create_keeps_the_counter_on_update() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![with(
        api("open", "/open/", &up.url()),
        json!({"dont_set_quota_on_create": true}),
    )]))
    .await;
    let body = quota_key(5, 3600);
    let key = gw.create_key(body.clone()).await;
    for want in [4, 3] {
        assert_eq!(gw.get_with("/open/x", &key).await.remaining(), Some(want));
    }
    // tyk-compat §7: counters are reset on create/update "unless ?suppress_reset=1
    // or the API has dont_set_quota_on_create".
    let (status, _) = gw
        .admin("PUT", &format!("/tyk/keys/{key}"), Some(body))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        gw.get_with("/open/x", &key).await.remaining(),
        Some(2),
        "PUT reset the quota of a key on an API with dont_set_quota_on_create"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_never_grants_more_than_quota_max() {
    const MAX: i64 = 200;
    let up = MockUpstream::start().await;
    let mut gw = gateway(&up).await;
    let key = gw.create_key(quota_key(MAX, 3600)).await;
    let mut granted = 0;
    for _ in 0..37 {
        assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
        granted += 1;
    }
    // A background reservation the last requests started may still be writing its
    // ceiling. No wait for it here: the task holds the gateway's state (it is spawned
    // with a clone of it), and `crash_restart` polls, bounded, until nothing holds the
    // old state before it reopens the store, so the reservation has landed and the
    // durable ceiling the restart reads is the same as after any wait.
    gw.crash_restart().await;
    for _ in 0..MAX + 10 {
        let r = gw.get_with("/open/x", &key).await;
        match r.status {
            200 => granted += 1,
            403 => {
                assert_eq!(r.text(), tyk_body("Quota exceeded"));
                break;
            }
            s => panic!("unexpected {s}: {}", r.text()),
        }
    }
    assert!(
        granted <= MAX,
        "{granted} requests granted with quota_max {MAX}"
    );
    // src/limits/quota.rs: "a crash can under-grant by at most one reservation chunk"
    // (chunk = 5 % of the quota = 10 here).
    assert!(
        granted >= MAX - MAX / 20,
        "a crash lost {} grants, more than one reservation chunk ({})",
        MAX - granted,
        MAX / 20
    );
}
