//! Hot reload: file changes enforced without a restart, bad files never replacing the
//! last good configuration, `/tyk/policies` writes, reload triggers and state kept
//! across reloads. The watcher runs for real (debounce 20 ms); every wait is a bounded
//! poll, never a fixed sleep standing in for "long enough".

use crate::common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn watching() -> Value {
    json!({"reload": {"watch": true, "debounce_ms": 20}})
}

/// A policy for api `a` allowing GET on `url` only.
fn policy(id: &str, url: &str) -> Value {
    json!({
        "id": id, "org_id": "default", "rate": 1000, "per": 1, "quota_max": -1,
        "access_rights": {"a": {"api_id": "a", "versions": ["Default"],
            "allowed_urls": [{"url": url, "methods": ["GET"]}]}}
    })
}

fn policies(url: &str) -> Value {
    json!({"p": policy("p", url)})
}

/// Writes `v` next to `path` and renames it over `path`, as editors and `mv` do.
fn rename_over(path: &Path, v: &Value) {
    let tmp = path.with_extension("json.new");
    std::fs::write(&tmp, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Polls `check` until it holds or `WAIT` passes.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what}: not true within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn status_of(gw: &TestGateway, path: &str, key: &str) -> u16 {
    gw.get_with(path, key).await.status
}

async fn hello(gw: &TestGateway) -> Value {
    gw.get("/hello", &[]).await.json()
}

async fn start_with_key(up: &MockUpstream, url: &str) -> (TestGateway, String) {
    let gw = TestGateway::start(
        Opts::apis(vec![api("a", "/a/", &up.url())])
            .policies(policies(url))
            .conf(watching()),
    )
    .await;
    let key = gw.create_key(key_with_policies(&["p"])).await;
    (gw, key)
}

#[tokio::test]
async fn rename_over_save_is_enforced() {
    let up = MockUpstream::start().await;
    let (gw, key) = start_with_key(&up, "^/a/old$").await;
    assert_eq!(status_of(&gw, "/a/old", &key).await, 200);
    assert_eq!(status_of(&gw, "/a/new", &key).await, 403);

    rename_over(
        Path::new(&gw.config.policies.policy_record_name),
        &policies("^/a/new$"),
    );
    eventually("new allowed_urls enforced", || async {
        status_of(&gw, "/a/new", &key).await == 200
    })
    .await;
    assert_eq!(status_of(&gw, "/a/old", &key).await, 403);
    let h = hello(&gw).await;
    assert_eq!(h["status"], "pass");
    assert!(
        h["details"]["config"]["reloads"].as_u64().unwrap() >= 1,
        "{h}"
    );
}

#[tokio::test]
async fn in_place_write_is_enforced() {
    let up = MockUpstream::start().await;
    let (gw, key) = start_with_key(&up, "^/a/old$").await;
    gw.write_policies(&policies("^/a/new$"));
    eventually("in-place write enforced", || async {
        status_of(&gw, "/a/new", &key).await == 200
    })
    .await;
}

#[tokio::test]
async fn garbage_keeps_the_last_good_set_and_hello_warns_until_fixed() {
    let up = MockUpstream::start().await;
    let (gw, key) = start_with_key(&up, "^/a/old$").await;
    let file = gw.config.policies.policy_record_name.clone();

    std::fs::write(&file, b"{\"p\": {\"id\": \"p\", \"rate\": ").unwrap();
    eventually("hello warns about the bad file", || async {
        hello(&gw).await["status"] == "warn"
    })
    .await;
    let h = hello(&gw).await;
    let cfg = &h["details"]["config"];
    assert!(
        cfg["output"].as_str().unwrap().contains("invalid JSON"),
        "{h}"
    );
    assert_eq!(cfg["failing_files"], json!([file]), "{h}");
    // The old rules are still enforced.
    assert_eq!(status_of(&gw, "/a/old", &key).await, 200);
    assert_eq!(status_of(&gw, "/a/new", &key).await, 403);

    // A type error and an invalid regex are rejected too, with their JSON paths.
    rename_over(
        Path::new(&file),
        &json!({"p": {"id": "p", "quota_max": 1.5}}),
    );
    eventually("wrong type reported", || async {
        hello(&gw).await["details"]["config"]["output"]
            .as_str()
            .is_some_and(|o| o.contains("p.quota_max"))
    })
    .await;
    rename_over(Path::new(&file), &policies("^/a/(unclosed$"));
    eventually("bad regex reported", || async {
        hello(&gw).await["details"]["config"]["output"]
            .as_str()
            .is_some_and(|o| o.contains("p.access_rights.a.allowed_urls[0].url"))
    })
    .await;
    assert_eq!(status_of(&gw, "/a/old", &key).await, 200);

    rename_over(Path::new(&file), &policies("^/a/new$"));
    eventually("fixed file enforced", || async {
        status_of(&gw, "/a/new", &key).await == 200
    })
    .await;
    let h = hello(&gw).await;
    assert_eq!(h["status"], "pass", "{h}");
    assert!(h["details"]["config"].get("output").is_none(), "{h}");
    assert!(
        h["details"]["config"]["reload_failures"].as_u64().unwrap() >= 3,
        "{h}"
    );
}

#[tokio::test]
async fn delete_and_recreate() {
    let up = MockUpstream::start().await;
    let (gw, key) = start_with_key(&up, "^/a/old$").await;
    let file = gw.config.policies.policy_record_name.clone();
    std::fs::remove_file(&file).unwrap();
    eventually("missing file reported", || async {
        hello(&gw).await["status"] == "warn"
    })
    .await;
    assert_eq!(
        status_of(&gw, "/a/old", &key).await,
        200,
        "a missing file never removes the live policies"
    );
    std::fs::write(&file, serde_json::to_vec(&policies("^/a/new$")).unwrap()).unwrap();
    eventually("recreated file enforced", || async {
        status_of(&gw, "/a/new", &key).await == 200
    })
    .await;
    assert_eq!(hello(&gw).await["status"], "pass");
}

#[cfg(unix)]
#[tokio::test]
async fn configmap_symlink_swap() {
    use std::os::unix::fs::symlink;
    let up = MockUpstream::start().await;
    // A Kubernetes ConfigMap volume: policies.json -> ..data/policies.json, ..data -> ..v1.
    let cm = tempfile::tempdir().unwrap();
    let d = cm.path();
    std::fs::create_dir(d.join("..v1")).unwrap();
    std::fs::write(
        d.join("..v1/policies.json"),
        serde_json::to_vec(&policies("^/a/old$")).unwrap(),
    )
    .unwrap();
    symlink("..v1", d.join("..data")).unwrap();
    symlink("..data/policies.json", d.join("policies.json")).unwrap();
    let record = d.join("policies.json").display().to_string();
    let gw = TestGateway::start(
        Opts::apis(vec![api("a", "/a/", &up.url())])
            .conf(watching())
            .conf(json!({"policies": {"policy_record_name": record}})),
    )
    .await;
    let key = gw.create_key(key_with_policies(&["p"])).await;
    assert_eq!(status_of(&gw, "/a/old", &key).await, 200);

    // The kubelet's atomic update: new timestamped dir, new symlink, rename over ..data.
    std::fs::create_dir(d.join("..v2")).unwrap();
    std::fs::write(
        d.join("..v2/policies.json"),
        serde_json::to_vec(&policies("^/a/new$")).unwrap(),
    )
    .unwrap();
    symlink("..v2", d.join("..data_tmp")).unwrap();
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
    std::fs::remove_dir_all(d.join("..v1")).unwrap();
    eventually("swapped ConfigMap enforced", || async {
        status_of(&gw, "/a/new", &key).await == 200
    })
    .await;
    assert_eq!(status_of(&gw, "/a/old", &key).await, 403);
}

#[tokio::test]
async fn new_api_definition_is_routed_and_unrelated_files_are_ignored() {
    let up = MockUpstream::start().await;
    let gw =
        TestGateway::start(Opts::apis(vec![api("a", "/a/", &up.url())]).conf(watching())).await;
    let key = gw.create_key(key_for(&["a", "b"])).await;
    assert_eq!(gw.get_with("/b/x", &key).await.status, 404);

    let apps = Path::new(&gw.config.app_path);
    rename_over(&apps.join("b.json"), &api("b", "/b/", &up.url()));
    eventually("new API routed", || async {
        status_of(&gw, "/b/x", &key).await == 200
    })
    .await;

    let before = hello(&gw).await["details"]["config"]["generation"].clone();
    std::fs::write(apps.join("README.md"), b"notes").unwrap();
    std::fs::write(apps.join(".b.json.swp"), b"garbage").unwrap();
    // Give the watcher time to (not) react, bounded; then the generation must be unchanged.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let h = hello(&gw).await;
    assert_eq!(h["details"]["config"]["generation"], before, "{h}");
    assert_eq!(h["status"], "pass", "{h}");

    // A broken API definition never takes the gateway's routes down.
    std::fs::write(
        apps.join("b.json"),
        b"{\"api_id\": \"b\", \"proxy\": {\"listen_path\": \"\"}}",
    )
    .unwrap();
    eventually("bad definition reported", || async {
        hello(&gw).await["details"]["config"]["output"]
            .as_str()
            .is_some_and(|o| o.contains("proxy.listen_path"))
    })
    .await;
    assert_eq!(status_of(&gw, "/b/x", &key).await, 200);
    assert_eq!(status_of(&gw, "/a/x", &key).await, 200);
}

#[tokio::test]
async fn counters_survive_a_reload_and_changed_limits_apply_on_next_request() {
    let up = MockUpstream::start().await;
    let quota = |max: i64| {
        json!({"q": {"id": "q", "org_id": "default", "rate": 1000, "per": 1, "quota_max": max, "quota_renewal_rate": 3600,
                     "access_rights": {"a": {"api_id": "a", "versions": ["Default"]}}}})
    };
    let gw = TestGateway::start(
        Opts::apis(vec![api("a", "/a/", &up.url())])
            .policies(quota(10))
            .conf(watching()),
    )
    .await;
    let key = gw.create_key(key_with_policies(&["q"])).await;
    for want in [9, 8, 7] {
        assert_eq!(gw.get_with("/a/x", &key).await.remaining(), Some(want));
    }
    // Raise the quota: the count so far (3) is kept, the new maximum applies at once.
    rename_over(
        Path::new(&gw.config.policies.policy_record_name),
        &quota(20),
    );
    let probes = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    eventually("new quota_max applied", || {
        let probes = probes.clone();
        let gw = &gw;
        let key = &key;
        async move {
            let r = gw.get_with("/a/x", key).await;
            probes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            r.header("x-ratelimit-limit").as_deref() == Some("20")
        }
    })
    .await;
    let used = 3 + probes.load(std::sync::atomic::Ordering::Relaxed) + 1;
    let r = gw.get_with("/a/x", &key).await;
    assert_eq!(
        r.remaining(),
        Some(20 - used),
        "the count survived the reload"
    );
}

#[tokio::test]
async fn watcher_off_needs_an_explicit_reload() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(
        Opts::apis(vec![api("a", "/a/", &up.url())]).policies(policies("^/a/old$")),
    )
    .await;
    let key = gw.create_key(key_with_policies(&["p"])).await;
    gw.write_policies(&policies("^/a/new$"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        status_of(&gw, "/a/new", &key).await,
        403,
        "no watcher: nothing reloads by itself"
    );
    let (status, body) = gw.admin("GET", "/tyk/reload", None).await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "ok", "message": ""}))
    );
    eventually("/tyk/reload applied", || async {
        status_of(&gw, "/a/new", &key).await == 200
    })
    .await;
    gw.write_policies(&policies("^/a/newer$"));
    let (status, _) = gw.admin("GET", "/tyk/reload/group?block=true", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        status_of(&gw, "/a/newer", &key).await,
        200,
        "block=true returns after the swap"
    );
}

#[tokio::test]
async fn rewrites_under_load_fail_no_request() {
    let up = MockUpstream::start().await;
    let (gw, key) = start_with_key(&up, "^/a/(x|y)$").await;
    // The manual clock stands still: make the rate unlimited so only reloads can fail requests.
    let unlimited = |url: &str| with(policies(url), json!({"p": {"rate": -1}}));
    gw.write_policies(&unlimited("^/a/(x|y)$"));
    gw.reload().await;
    let gw = std::sync::Arc::new(gw);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (gw, key, stop) = (gw.clone(), key.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let (mut ok, mut bad) = (0u32, Vec::new());
            // Bounded: at most 2,000 requests per client.
            for _ in 0..2_000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let r = gw.get_with("/a/x", &key).await;
                if r.status == 200 {
                    ok += 1;
                } else {
                    bad.push((r.status, r.text()));
                }
            }
            (ok, bad)
        }));
    }
    let file = std::path::PathBuf::from(&gw.config.policies.policy_record_name);
    for i in 0..100 {
        // Valid content every time; alternate the rename-over and in-place styles.
        let p = policies(if i % 2 == 0 {
            "^/a/(x|y)$"
        } else {
            "^/a/(x|z)$"
        });
        if i % 3 == 0 {
            std::fs::write(&file, serde_json::to_vec_pretty(&p).unwrap()).unwrap();
        } else {
            rename_over(&file, &p);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        let (ok, bad) = c.await.unwrap();
        assert!(
            bad.is_empty(),
            "non-2xx responses during reloads: {:?}",
            &bad[..bad.len().min(5)]
        );
        total += ok;
    }
    assert!(total > 100, "the load loop ran ({total} requests)");
    let h = hello(&gw).await;
    assert!(
        h["details"]["config"]["reloads"].as_u64().unwrap() >= 1,
        "{h}"
    );
}

mod policies_api {
    use super::*;

    #[tokio::test]
    async fn crud_in_single_file_mode_takes_effect_immediately() {
        let up = MockUpstream::start().await;
        let (gw, key) = start_with_key(&up, "^/a/old$").await;
        let (status, list) = gw.admin("GET", "/tyk/policies", None).await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["_id"], "", "full objects, _id included");

        // Update through the API: enforced when the call returns.
        let (status, body) = gw
            .admin("PUT", "/tyk/policies/p", Some(policy("p", "^/a/new$")))
            .await;
        assert_eq!(
            (status, body),
            (
                200,
                json!({"key": "p", "status": "ok", "action": "modified"})
            )
        );
        assert_eq!(status_of(&gw, "/a/new", &key).await, 200);
        let on_disk: Value =
            serde_json::from_slice(&std::fs::read(&gw.config.policies.policy_record_name).unwrap())
                .unwrap();
        assert_eq!(
            on_disk["p"]["access_rights"]["a"]["allowed_urls"][0]["url"],
            "^/a/new$"
        );

        // Create a second policy and a key using it.
        let (status, body) = gw
            .admin("POST", "/tyk/policies", Some(policy("p2", "^/a/two$")))
            .await;
        assert_eq!(
            (status, body),
            (200, json!({"key": "p2", "status": "ok", "action": "added"}))
        );
        let (status, got) = gw.admin("GET", "/tyk/policies/p2", None).await;
        assert_eq!(status, 200);
        assert_eq!(got["id"], "p2");
        let key2 = gw.create_key(key_with_policies(&["p2"])).await;
        assert_eq!(status_of(&gw, "/a/two", &key2).await, 200);

        // Delete: the key loses its only policy.
        let (status, body) = gw.admin("DELETE", "/tyk/policies/p2", None).await;
        assert_eq!(
            (status, body),
            (
                200,
                json!({"key": "p2", "status": "ok", "action": "deleted"})
            )
        );
        assert_eq!(status_of(&gw, "/a/two", &key2).await, 403);
        let (status, body) = gw.admin("GET", "/tyk/policies/p2", None).await;
        assert_admin_error(status, &body, 404, "Policy not found");
        let (status, body) = gw.admin("DELETE", "/tyk/policies/p2", None).await;
        assert_admin_error(status, &body, 500, "Delete failed");
    }

    #[tokio::test]
    async fn directory_mode_writes_id_files() {
        let up = MockUpstream::start().await;
        let mut opts = Opts::apis(vec![api("a", "/a/", &up.url())]);
        opts.policy_dir = Some(vec![("hand-written.json".into(), policy("p", "^/a/old$"))]);
        let gw = TestGateway::start(opts).await;
        let key = gw.create_key(key_with_policies(&["p"])).await;
        let dir = std::path::PathBuf::from(&gw.config.policies.policy_path);

        let (status, _) = gw
            .admin("POST", "/tyk/policies/n", Some(policy("", "^/a/n$")))
            .await;
        assert_eq!(status, 200);
        assert!(dir.join("n.json").exists());
        let keyn = gw.create_key(key_with_policies(&["n"])).await;
        assert_eq!(status_of(&gw, "/a/n", &keyn).await, 200);

        // Updating a hand-written policy rewrites the file it came from.
        let (status, _) = gw
            .admin("PUT", "/tyk/policies/p", Some(policy("p", "^/a/new$")))
            .await;
        assert_eq!(status, 200);
        assert!(!dir.join("p.json").exists());
        let v: Value =
            serde_json::from_slice(&std::fs::read(dir.join("hand-written.json")).unwrap()).unwrap();
        assert_eq!(
            v["access_rights"]["a"]["allowed_urls"][0]["url"],
            "^/a/new$"
        );
        assert_eq!(status_of(&gw, "/a/new", &key).await, 200);

        let (status, _) = gw.admin("DELETE", "/tyk/policies/p", None).await;
        assert_eq!(status, 200);
        assert!(!dir.join("hand-written.json").exists());
        assert_eq!(status_of(&gw, "/a/new", &key).await, 403);
        // No temp files are left behind.
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["n.json".to_string()]);
    }

    #[tokio::test]
    async fn bad_bodies_get_tyks_errors_and_write_nothing() {
        let up = MockUpstream::start().await;
        let (gw, _key) = start_with_key(&up, "^/a/old$").await;
        let file = gw.config.policies.policy_record_name.clone();
        let before = std::fs::read(&file).unwrap();

        let r = gw
            .admin_raw(
                "POST",
                "/tyk/policies",
                &[("X-Tyk-Authorization", SECRET)],
                "{not json",
            )
            .await;
        assert_admin_error(r.status, &r.json(), 400, "Request malformed");
        let (s, b) = gw
            .admin("POST", "/tyk/policies", Some(json!({"name": "no id"})))
            .await;
        assert_admin_error(s, &b, 400, "Unable to create policy without id.");
        let (s, b) = gw
            .admin("POST", "/tyk/policies", Some(json!({"id": "bad id/x"})))
            .await;
        assert_admin_error(
            s,
            &b,
            400,
            "Invalid Policy ID: Allowed characters: a-z, A-Z, 0-9, ., _, -, ~",
        );
        let (s, b) = gw
            .admin("PUT", "/tyk/policies/p", Some(policy("other", "^/x$")))
            .await;
        assert_admin_error(
            s,
            &b,
            400,
            "Request ID does not match that in policy! For Update operations these must match.",
        );
        let (s, b) = gw
            .admin("PUT", "/tyk/policies", Some(policy("p", "^/x$")))
            .await;
        assert_admin_error(s, &b, 400, "Must specify an apiID to update");
        let (s, b) = gw.admin("DELETE", "/tyk/policies", None).await;
        assert_admin_error(s, &b, 400, "Must specify an apiID to delete");
        let (s, b) = gw
            .admin("POST", "/tyk/policies", Some(policy("r", "^/a/(unclosed$")))
            .await;
        assert_eq!(s, 400, "{b}");
        assert!(
            b["message"]
                .as_str()
                .unwrap()
                .contains("access_rights.a.allowed_urls[0].url"),
            "{b}"
        );
        let r = gw
            .admin_raw(
                "GET",
                "/tyk/policies",
                &[("X-Tyk-Authorization", "wrong")],
                "",
            )
            .await;
        assert_admin_error(
            r.status,
            &r.json(),
            403,
            "Attempted administrative access with invalid or missing key!",
        );

        assert_eq!(std::fs::read(&file).unwrap(), before, "nothing was written");
    }

    #[tokio::test]
    async fn apis_are_listed() {
        let up = MockUpstream::start().await;
        let gw = TestGateway::start(Opts::apis(vec![
            api("a", "/a/", &up.url()),
            api("b", "/b/", &up.url()),
        ]))
        .await;
        let (status, list) = gw.admin("GET", "/tyk/apis", None).await;
        assert_eq!(status, 200);
        let ids: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["api_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        let (status, one) = gw.admin("GET", "/tyk/apis/b", None).await;
        assert_eq!(
            (status, one["proxy"]["listen_path"].clone()),
            (200, json!("/b/"))
        );
        let (status, body) = gw.admin("GET", "/tyk/apis/zzz", None).await;
        assert_admin_error(status, &body, 404, "API not found");
    }
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_real_binary() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A free port for the child (bound then released; loopback only).
    let port = refused_addr().port();
    let opts = Opts::apis(vec![api("a", "/a/", "http://127.0.0.1:9")])
        .policies(policies("^/a/old$"))
        .conf(json!({"listen_port": port}));
    let conf = write_files(d, &opts);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config", conf.to_str().unwrap()])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let c = client();
            let base = format!("http://127.0.0.1:{port}");
            let get = |path: String, hdrs: Vec<(&'static str, String)>| {
                let c = c.clone();
                async move {
                    let mut b = http::Request::builder().uri(path);
                    for (k, v) in hdrs {
                        b = b.header(k, v);
                    }
                    tokio::time::timeout(
                        Duration::from_secs(5),
                        c.request(
                            b.body(http_body_util::Full::new(bytes::Bytes::new()))
                                .unwrap(),
                        ),
                    )
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                }
            };
            let deadline = Instant::now() + WAIT;
            while get(format!("{base}/hello"), vec![]).await.is_none() {
                assert!(Instant::now() < deadline, "child gateway did not come up");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let gen = |v: Value| v["details"]["config"]["generation"].as_u64().unwrap();
            let read_hello = || async {
                let r = get(format!("{base}/hello"), vec![]).await.unwrap();
                let b = http_body_util::BodyExt::collect(r.into_body())
                    .await
                    .unwrap()
                    .to_bytes();
                serde_json::from_slice::<Value>(&b).unwrap()
            };
            assert_eq!(gen(read_hello().await), 1);
            std::fs::write(
                d.join("policies/policies.json"),
                serde_json::to_vec(&policies("^/a/new$")).unwrap(),
            )
            .unwrap();
            let status = Command::new("kill")
                .args(["-HUP", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            let deadline = Instant::now() + WAIT;
            while gen(read_hello().await) != 2 {
                assert!(Instant::now() < deadline, "SIGHUP did not reload");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = get(
                format!("{base}/tyk/keys"),
                vec![("x-tyk-authorization", SECRET.to_string())],
            )
            .await;
        })
    }));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the gateway did not exit within 15 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

#[tokio::test]
async fn ready_and_hello_are_public_and_control_only() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("a", "/", &up.url())])).await;
    let r = gw.get("/ready", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["description"], "Tyk GW Ready");
    let r = gw.get("/hello", &[]).await;
    assert_eq!(
        (r.status, r.json()["description"].clone()),
        (200, json!("Tyk GW"))
    );
    assert_eq!(
        up.count(),
        0,
        "health checks never reach the upstream, even under a '/' listen path"
    );
}
