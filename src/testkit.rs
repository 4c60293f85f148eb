//! A ready-made gateway state for benches and allocation tests (not part of the API).
//!
//! Builds real files in a temporary directory (one API at `/`, one at `/other/`, three
//! tier policies with 10 `allowed_urls` rules between them, and policies for every
//! refusal), opens the real key store there and fills it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // fixtures for tests and benches

use crate::limits::Clock;
use crate::state::AppState;
use crate::tyk::config::Config;
use crate::tyk::Session;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A temporary gateway state; the directory is removed on drop.
pub struct Fixture {
    pub state: Arc<AppState>,
    pub dir: PathBuf,
    /// A key with the three tier policies (allowed on `/api/users/<n>`).
    pub key: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.state.store.close();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Special keys, stored under these names (org `default`).
pub const LIMITED: &str = "limitedkey0001";
pub const QUOTA: &str = "quotakey000001";
pub const EXPIRED: &str = "expiredkey0001";
pub const INACTIVE: &str = "inactivekey001";
pub const OTHER_ONLY: &str = "otheronlykey01";

fn policies() -> serde_json::Value {
    let mut urls: Vec<serde_json::Value> = (0..9)
        .map(|i| json!({"url": format!("^/api/thing{i}/[0-9]+$"), "methods": ["GET", "POST"]}))
        .collect();
    urls.push(json!({"url": "^/api/(users|orders)/[0-9]+$", "methods": ["GET", "POST"]}));
    let grant = |urls: &[serde_json::Value]| json!({"bench-api": {"api_id": "bench-api", "versions": ["Default"], "allowed_urls": urls}});
    let mut m = serde_json::Map::new();
    for (i, id) in ["tier-a", "tier-b", "tier-c"].iter().enumerate() {
        m.insert(
            id.to_string(),
            json!({"id": id, "org_id": "default", "rate": 1_000_000_000, "per": 1,
                   "quota_max": 1_000_000_000_000i64, "quota_renewal_rate": 3600, "access_rights": grant(&urls[i..])}),
        );
    }
    m.insert("limited".into(), json!({"id": "limited", "org_id": "default", "rate": 1, "per": 1000, "quota_max": -1, "access_rights": grant(&urls)}));
    m.insert("tiny-quota".into(), json!({"id": "tiny-quota", "org_id": "default", "rate": -1, "quota_max": 1, "quota_renewal_rate": 0, "access_rights": grant(&urls)}));
    m.insert("inactive".into(), json!({"id": "inactive", "org_id": "default", "is_inactive": true, "access_rights": grant(&urls)}));
    m.insert("other".into(), json!({"id": "other", "org_id": "default", "access_rights": {"other-api": {"api_id": "other-api", "versions": ["Default"]}}}));
    serde_json::Value::Object(m)
}

fn api(id: &str, listen_path: &str) -> String {
    json!({"api_id": id, "org_id": "default",
           "proxy": {"listen_path": listen_path, "target_url": "http://127.0.0.1:9", "strip_listen_path": false},
           "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}}})
    .to_string()
}

impl Fixture {
    /// A state with `keys` tier keys (named `default<32 hex>`) plus the special keys.
    pub fn new(keys: usize) -> Fixture {
        let dir = std::env::temp_dir().join(format!(
            "tollgate-fixture-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(dir.join("apps")).expect("fixture dir");
        std::fs::write(dir.join("apps/bench.json"), api("bench-api", "/")).expect("fixture api");
        std::fs::write(dir.join("apps/other.json"), api("other-api", "/other/"))
            .expect("fixture api");
        std::fs::write(dir.join("policies.json"), policies().to_string())
            .expect("fixture policies");
        let mut cfg = Config {
            app_path: dir.join("apps").display().to_string(),
            ..Default::default()
        };
        cfg.policies.policy_record_name = dir.join("policies.json").display().to_string();
        cfg.storage.path = dir.join("data").display().to_string();
        let state = AppState::new(cfg, Clock::System).expect("fixture state");
        let with = |policies: &[&str]| Session {
            org_id: "default".into(),
            apply_policies: policies.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let tier = with(&["tier-a", "tier-b", "tier-c"]);
        let threads = 8;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (st, s) = (state.clone(), tier.clone());
                std::thread::spawn(move || {
                    for i in (t..keys.max(1)).step_by(threads) {
                        st.store
                            .put(&format!("default{i:032x}"), s.clone())
                            .expect("fixture key");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("fixture writer");
        }
        let specials = [
            (LIMITED, with(&["limited"])),
            (QUOTA, with(&["tiny-quota"])),
            (
                EXPIRED,
                Session {
                    expires: 1,
                    ..with(&["tier-a"])
                },
            ),
            (INACTIVE, with(&["inactive"])),
            (OTHER_ONLY, with(&["other"])),
        ];
        for (name, s) in specials {
            state
                .store
                .put(&format!("default{name}"), s)
                .expect("fixture key");
        }
        Fixture {
            state,
            dir,
            key: format!("{:032x}", keys / 2),
        }
    }
}

/// Writes `n` policies (over 50 APIs, 200 distinct `allowed_urls` patterns) to
/// `dir/policies.json` and returns a config that reads them (for reload-time figures).
pub fn many_policies(dir: &Path, n: usize) -> Config {
    let mut m = serde_json::Map::new();
    for i in 0..n {
        m.insert(
            format!("p{i}"),
            json!({"org_id": "default", "rate": 10, "per": 1, "quota_max": 100, "quota_renewal_rate": 60,
                   "access_rights": {format!("api{}", i % 50): {"versions": ["Default"],
                       "allowed_urls": [{"url": format!("^/api/r{}/[0-9]+$", i % 200), "methods": ["GET"]}]}}}),
        );
    }
    let file = dir.join("policies.json");
    std::fs::write(&file, serde_json::Value::Object(m).to_string()).expect("fixture policies");
    let mut cfg = Config {
        app_path: dir.join("apps").display().to_string(),
        ..Default::default()
    };
    cfg.policies.policy_record_name = file.display().to_string();
    cfg
}
