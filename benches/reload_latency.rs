//! Latency from a policy file rename-over to enforcement, through the real watcher.
//!
//! Starts the gateway in-process (watcher on, default 50 ms debounce), then 40 times:
//! rename a new `policies.json` over the old one and poll (every 1 ms) until a request
//! sees the new `allowed_urls` rule. Prints min / median / p95 / max. A bench, not a
//! test: the figure depends on the machine and goes in the README with its conditions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use std::time::{Duration, Instant};
use tollgate::limits::Clock;
use tollgate::state::AppState;
use tollgate::tyk::config::Config;

fn policies(url: &str) -> serde_json::Value {
    json!({"p": {"id": "p", "org_id": "default", "rate": -1, "quota_max": -1,
        "access_rights": {"a": {"versions": ["Default"], "allowed_urls": [{"url": url, "methods": ["GET"]}]}}}})
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("apps")).unwrap();
    std::fs::create_dir_all(d.join("policies")).unwrap();
    // The upstream is a closed port: an allowed request answers 502, a denied one 403.
    std::fs::write(
        d.join("apps/a.json"),
        json!({"api_id": "a", "org_id": "default", "proxy": {"listen_path": "/a/", "target_url": "http://127.0.0.1:9"},
               "version_data": {"not_versioned": true, "versions": {"Default": {}}}})
        .to_string(),
    )
    .unwrap();
    let file = d.join("policies/policies.json");
    std::fs::write(&file, policies("^/a/r0$").to_string()).unwrap();
    let mut cfg = Config {
        listen_address: "127.0.0.1".into(),
        listen_port: 0,
        secret: "bench".into(),
        app_path: d.join("apps").display().to_string(),
        ..Default::default()
    };
    cfg.policies.policy_record_name = file.display().to_string();
    cfg.storage.path = d.join("data").display().to_string();
    let debounce = cfg.reload.debounce_ms;
    let state = AppState::new(cfg, Clock::System).unwrap();
    let running = tollgate::server::start(state.clone()).await.unwrap();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let base = format!("http://{}", running.addr);
    let key_resp = client
        .request(
            http::Request::post(format!("{base}/tyk/keys/create"))
                .header("x-tyk-authorization", "bench")
                .body(Full::new(Bytes::from(
                    json!({"org_id": "default", "apply_policies": ["p"]}).to_string(),
                )))
                .unwrap(),
        )
        .await
        .unwrap();
    let body = http_body_util::BodyExt::collect(key_resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let key = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();

    let status = |path: String| {
        let (client, key) = (client.clone(), key.clone());
        async move {
            let req = http::Request::get(path)
                .header("authorization", key)
                .body(Full::new(Bytes::new()))
                .unwrap();
            client
                .request(req)
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let mut samples = Vec::new();
    for i in 1..=40 {
        let tmp = d.join("policies/policies.json.new");
        std::fs::write(&tmp, policies(&format!("^/a/r{i}$")).to_string()).unwrap();
        let t0 = Instant::now();
        std::fs::rename(&tmp, &file).unwrap();
        let deadline = t0 + Duration::from_secs(5);
        while status(format!("{base}/a/r{i}")).await == 403 {
            assert!(
                Instant::now() < deadline,
                "change {i} not enforced within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        samples.push(t0.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "rename → enforced ({} changes, debounce {debounce} ms): min {:.1} ms, median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        samples.len(),
        ms(samples[0]),
        ms(pick(0.5)),
        ms(pick(0.95)),
        ms(samples[samples.len() - 1])
    );
    running.stop().await;
}
