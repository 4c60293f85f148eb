//! Startup errors and `tollgate check`, through the real binary.

use crate::common::*;
use serde_json::json;
use std::path::{Path, PathBuf};

/// A valid file set in a fresh directory; returns (dir, tyk.conf path).
fn valid_set() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Opts::apis(vec![api("api1", "/api1/", "http://127.0.0.1:9")]).policies(json!({
        "p1": {"org_id": "default", "quota_max": 10, "quota_renewal_rate": 60,
               "access_rights": {"api1": {"api_id": "api1", "versions": ["Default"],
                   "allowed_urls": [{"url": "^/api1/x", "methods": ["GET"]}]}}}
    }));
    let conf = write_files(dir.path(), &opts);
    (dir, conf)
}

fn policies_file(dir: &Path) -> PathBuf {
    dir.join("policies").join("policies.json")
}

/// Runs `serve` and `check` on `conf`; both must exit 2 and mention every `needles` item.
fn assert_rejected(dir: &Path, conf: &Path, needles: &[&str]) -> (BinRun, BinRun) {
    let conf_s = conf.display().to_string();
    let serve = run_bin(&["serve", "--config", &conf_s], dir);
    let check = run_bin(&["check", "--config", &conf_s], dir);
    for (what, run) in [("serve", &serve), ("check", &check)] {
        assert_eq!(
            run.code,
            Some(2),
            "tollgate {what}: exit code; stderr:\n{}",
            run.stderr
        );
        for n in needles {
            assert!(
                run.stderr.contains(n),
                "tollgate {what}: stderr does not mention {n:?}:\n{}",
                run.stderr
            );
        }
    }
    (serve, check)
}

#[test]
fn check_accepts_a_valid_set() {
    let (dir, conf) = valid_set();
    let run = run_bin(
        &["check", "--config", &conf.display().to_string()],
        dir.path(),
    );
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert!(run.stdout.starts_with("ok:"), "stdout: {}", run.stdout);
}

#[test]
fn tyk_conf_with_bad_json() {
    let (dir, conf) = valid_set();
    std::fs::write(&conf, "{\"listen_port\": 8080,\n  \"secret\": ").unwrap();
    assert_rejected(
        dir.path(),
        &conf,
        &[&conf.display().to_string(), "invalid JSON"],
    );
}

#[test]
fn tyk_conf_with_a_wrong_type() {
    let (dir, conf) = valid_set();
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&conf).unwrap()).unwrap();
    v["listen_port"] = json!("x");
    std::fs::write(&conf, serde_json::to_vec(&v).unwrap()).unwrap();
    assert_rejected(
        dir.path(),
        &conf,
        &[
            &conf.display().to_string(),
            "listen_port",
            "expected an integer, got a string",
        ],
    );
}

#[test]
fn malformed_api_definition() {
    let (dir, conf) = valid_set();
    let bad = dir.path().join("apps").join("bad.json");
    std::fs::write(
        &bad,
        r#"{"api_id": "bad", "org_id": "default", "proxy": {"listen_path": 5, "target_url": "http://127.0.0.1:9"}}"#,
    )
    .unwrap();
    assert_rejected(
        dir.path(),
        &conf,
        &[
            &bad.display().to_string(),
            "proxy.listen_path",
            "expected a string, got 5",
        ],
    );
    std::fs::write(&bad, "{\"api_id\": ").unwrap();
    assert_rejected(
        dir.path(),
        &conf,
        &[&bad.display().to_string(), "invalid JSON"],
    );
}

#[test]
fn policies_file_with_bad_json() {
    let (dir, conf) = valid_set();
    let pf = policies_file(dir.path());
    std::fs::write(&pf, "{\"p1\": {\"rate\": 1,").unwrap();
    assert_rejected(
        dir.path(),
        &conf,
        &[&pf.display().to_string(), "invalid JSON"],
    );
}

#[test]
fn policies_file_with_a_float_quota_max() {
    let (dir, conf) = valid_set();
    let pf = policies_file(dir.path());
    std::fs::write(
        &pf,
        r#"{"p1": {"org_id": "default", "quota_max": 10.5, "access_rights": {}}}"#,
    )
    .unwrap();
    assert_rejected(
        dir.path(),
        &conf,
        &[&pf.display().to_string(), "p1.quota_max", "10.5"],
    );
}

#[test]
fn policies_file_with_an_invalid_regex() {
    let (dir, conf) = valid_set();
    let pf = policies_file(dir.path());
    std::fs::write(
        &pf,
        r#"{"p1": {"org_id": "default", "access_rights": {"api1": {"allowed_urls": [{"url": "/ok", "methods": ["GET"]}, {"url": "/users/(", "methods": ["GET"]}]}}}}"#,
    )
    .unwrap();
    assert_rejected(
        dir.path(),
        &conf,
        &[
            &pf.display().to_string(),
            "p1.access_rights.api1.allowed_urls[1].url",
            "invalid regular expression",
        ],
    );
}

#[test]
fn duplicate_policy_id_in_directory_mode() {
    let (dir, conf) = valid_set();
    let pd = dir.path().join("policies.d");
    std::fs::create_dir_all(&pd).unwrap();
    std::fs::write(
        pd.join("a.json"),
        r#"{"id": "dup", "org_id": "default", "access_rights": {}}"#,
    )
    .unwrap();
    std::fs::write(
        pd.join("b.json"),
        r#"{"id": "dup", "org_id": "default", "access_rights": {}}"#,
    )
    .unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&conf).unwrap()).unwrap();
    v["policies"]["policy_path"] = json!(pd.display().to_string());
    std::fs::write(&conf, serde_json::to_vec(&v).unwrap()).unwrap();
    assert_rejected(
        dir.path(),
        &conf,
        &[
            &pd.join("b.json").display().to_string(),
            "duplicate policy id",
            "dup",
        ],
    );
}

#[test]
fn check_lists_every_problem() {
    let (dir, conf) = valid_set();
    let pf = policies_file(dir.path());
    std::fs::write(
        &pf,
        r#"{
  "p1": {"quota_max": 1.5},
  "p2": {"_id": "not-an-object-id"},
  "p3": {"rate": "fast"}
}"#,
    )
    .unwrap();
    let (_, check) = assert_rejected(
        dir.path(),
        &conf,
        &[
            &pf.display().to_string(),
            "p1.quota_max",
            "p2._id",
            "p3.rate",
        ],
    );
    let errors = check
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .count();
    assert_eq!(errors, 3, "one line per problem:\n{}", check.stderr);
    assert!(
        check.stderr.contains("3 problem(s) found"),
        "{}",
        check.stderr
    );
}

#[test]
fn bad_environment_override_names_the_variable() {
    let (dir, conf) = valid_set();
    let conf_s = conf.display().to_string();
    for args in [
        ["check", "--config", &conf_s],
        ["serve", "--config", &conf_s],
    ] {
        let run = run_bin_env(&args, dir.path(), &[("TYK_GW_HASHKEYS", "maybe")]);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("TYK_GW_HASHKEYS"), "{}", run.stderr);
    }
}

/// The real binary serving: raw keys never appear in its logs (PRODUCT.md decision 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_never_logs_raw_keys() {
    let up = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = refused_addr().port();
    let conf = write_files(
        dir.path(),
        &Opts::apis(vec![api("api1", "/api1/", &up.url())]).conf(json!({"listen_port": port})),
    );
    let err_path = dir.path().join("serve.stderr");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.args(["serve", "--config", &conf.display().to_string()])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap());
    for (k, _) in std::env::vars() {
        if k.starts_with("TYK_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("TYK_LOGLEVEL", "debug");
    let child = cmd.spawn().expect("spawn tollgate serve");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = Kill(child);

    let base = format!("http://127.0.0.1:{port}");
    let c = client();
    let req =
        |path: &str, headers: Vec<(&'static str, String)>, method: &'static str, body: String| {
            let mut b = http::Request::builder()
                .method(method)
                .uri(format!("{base}{path}"));
            for (k, v) in headers {
                b = b.header(k, v);
            }
            b.body(http_body_util::Full::new(bytes::Bytes::from(body)))
                .unwrap()
        };
    // Wait (bounded) for the listener.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Ok(Ok(r)) = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            c.request(req("/hello", vec![], "GET", String::new())),
        )
        .await
        {
            if r.status() == 200 {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tollgate serve did not answer /hello within 10 s: {}",
            std::fs::read_to_string(&err_path).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let admin = vec![("X-Tyk-Authorization", SECRET.to_string())];
    let body = serde_json::to_string(&key_for(&["api1"])).unwrap();
    let r = send(
        &c,
        req("/tyk/keys/create", admin.clone(), "POST", body.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let key = r.json()["key"].as_str().unwrap().to_string();
    let custom = "customrawkey777";
    let r = send(
        &c,
        req(
            &format!("/tyk/keys/{custom}"),
            admin.clone(),
            "POST",
            body.clone(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    for k in [key.as_str(), custom, "unknownrawkey999"] {
        send(
            &c,
            req(
                "/api1/x",
                vec![("Authorization", k.to_string())],
                "GET",
                String::new(),
            ),
        )
        .await;
    }
    send(
        &c,
        req(&format!("/tyk/keys/{key}"), admin.clone(), "PUT", body),
    )
    .await;
    send(
        &c,
        req(
            &format!("/tyk/keys/{key}"),
            admin.clone(),
            "DELETE",
            String::new(),
        ),
    )
    .await;
    send(
        &c,
        req(
            &format!("/tyk/keys/{custom}"),
            admin,
            "DELETE",
            String::new(),
        ),
    )
    .await;
    drop(child);

    let log = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        log.contains("tollgate listening"),
        "no startup log line:\n{log}"
    );
    for secret in [key.as_str(), custom, "unknownrawkey999"] {
        assert!(!log.contains(secret), "raw key {secret:?} logged:\n{log}");
    }
}

#[test]
fn a_stored_session_that_does_not_decode_stops_serve_naming_file_and_line() {
    // A hand edit that is valid JSON but not a valid session (a rate that is not a
    // number) must stop the gateway, not be discovered by a request.
    let (dir, conf) = valid_set();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let header = |kind: &str| {
        format!("{{\"format\":\"tollgate-keystore\",\"version\":1,\"kind\":\"{kind}\",\"generation\":0,\"revision\":0}}\n")
    };
    std::fs::write(
        data.join("snapshot.jsonl"),
        header("snapshot") + "{\"op\":\"end\",\"records\":0}\n",
    )
    .unwrap();
    let log = data.join("log.jsonl");
    std::fs::write(
        &log,
        header("log")
            + "{\"op\":\"put\",\"key\":\"defaultk1\",\"rev\":1,\"session\":{\"org_id\":\"default\"}}\n"
            + "{\"op\":\"put\",\"key\":\"defaultk2\",\"rev\":2,\"session\":{\"org_id\":\"default\",\"rate\":\"x\"}}\n",
    )
    .unwrap();
    let run = run_bin(
        &["serve", "--config", &conf.display().to_string()],
        dir.path(),
    );
    assert_ne!(run.code, Some(0), "stderr:\n{}", run.stderr);
    for needle in [
        &log.display().to_string(),
        "line 3",
        "invalid session",
        "rate",
    ] {
        assert!(
            run.stderr.contains(needle),
            "stderr does not mention {needle:?}:\n{}",
            run.stderr
        );
    }
}
