//! No silent downgrade: every field of a Tyk file is enforced, refused naming it, or
//! reported — with real files, the real binary and the REST API.

use crate::common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A directory with `tyk.conf` and the given API definitions (by file name).
fn files(apis: &[(&str, Value)], conf: Value) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Opts::default().conf(conf);
    opts.apis = Vec::new();
    let conf_path = write_files(dir.path(), &opts);
    for (name, def) in apis {
        std::fs::write(
            dir.path().join("apps").join(name),
            serde_json::to_vec_pretty(def).unwrap(),
        )
        .unwrap();
    }
    (dir, conf_path)
}

fn check(dir: &Path, conf: &Path) -> BinRun {
    run_bin(&["check", "--config", &conf.display().to_string()], dir)
}

const REFUSE: &str =
    "is not supported by this build; refusing to serve this API rather than weaken it";

#[test]
fn sec_fields_of_real_api_definitions_are_refused_naming_file_and_field() {
    let up = "http://127.0.0.1:9";
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "basic.json",
            json!({"use_basic_auth": true}),
            "use_basic_auth",
            "basic authentication",
        ),
        (
            "hmac.json",
            json!({"enable_signature_checking": true}),
            "enable_signature_checking",
            "HMAC request signing",
        ),
        (
            "jwt.json",
            json!({"enable_jwt": true, "jwt_signing_method": "hmac"}),
            "enable_jwt",
            "JWT authentication",
        ),
        (
            "oauth.json",
            json!({"use_oauth2": true}),
            "use_oauth2",
            "OAuth 2.0",
        ),
        (
            "plugin.json",
            json!({"enable_coprocess_auth": true}),
            "enable_coprocess_auth",
            "plugin authentication",
        ),
        (
            "mtls.json",
            json!({"use_mutual_tls_auth": true, "client_certificates": ["abc"]}),
            "use_mutual_tls_auth",
            "mutual TLS",
        ),
        (
            "ips.json",
            json!({"enable_ip_whitelisting": true, "allowed_ips": ["10.0.0.1"]}),
            "allowed_ips",
            "IP allow list",
        ),
        (
            "deny.json",
            json!({"blacklisted_ips": ["10.0.0.1"]}),
            "blacklisted_ips",
            "IP deny list",
        ),
        (
            "internal.json",
            json!({"internal": true}),
            "internal",
            "internal-only API",
        ),
        (
            "black.json",
            json!({"version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default", "use_extended_paths": true,
                "extended_paths": {"black_list": [{"path": "/admin", "method_actions": {"GET": {"action": "no_action"}}}]}}}}}),
            "version_data.versions.Default.extended_paths.black_list",
            "deny list",
        ),
        (
            "white.json",
            json!({"version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default",
                "extended_paths": {"white_list": [{"path": "/ok"}]}}}}}),
            "version_data.versions.Default.extended_paths.white_list",
            "allow list",
        ),
        (
            "size.json",
            json!({"version_data": {"not_versioned": true, "versions": {"Default": {"global_size_limit": 10}}}}),
            "version_data.versions.Default.global_size_limit",
            "request size limits",
        ),
        (
            "epl.json",
            json!({"version_data": {"not_versioned": true, "versions": {"Default": {"extended_paths": {"rate_limit": [{"path": "/x", "method": "GET", "rate": 1, "per": 1}]}}}}}),
            "version_data.versions.Default.extended_paths.rate_limit",
            "per-endpoint rate limiting",
        ),
        (
            "expired.json",
            json!({"definition": {"location": "header", "key": "v"}, "version_data": {"not_versioned": false, "default_version": "v1",
                "versions": {"v1": {"name": "v1", "expires": "2001-01-01 00:00"}}}}),
            "version_data.versions.v1.expires",
            "version expiry",
        ),
        (
            "expiration.json",
            json!({"expiration": "2001-01-01 00:00"}),
            "expiration",
            "API expiry",
        ),
        (
            "domain.json",
            json!({"domain": "a.example.com"}),
            "domain",
            "custom domain routing",
        ),
    ];
    for (name, patch, field, what) in cases {
        let id = name.trim_end_matches(".json");
        let def = with(api(id, &format!("/{id}/"), up), patch);
        let (dir, conf) = files(&[(name, def)], json!({"enable_custom_domains": true}));
        let run = check(dir.path(), &conf);
        assert_eq!(run.code, Some(2), "{name}: {}", run.stderr);
        let file = dir.path().join("apps").join(name).display().to_string();
        let want = format!("error: {file}: {field}: ");
        let line = run
            .stderr
            .lines()
            .find(|l| l.starts_with(&want))
            .unwrap_or_else(|| panic!("{name}: no line {want:?} in:\n{}", run.stderr));
        assert!(
            line.contains(what) && line.ends_with(REFUSE),
            "{name}: {line}"
        );
    }
}

#[test]
fn the_issue_s_example_message_and_serve_exits_2() {
    let def = with(
        api("basic", "/basic/", "http://127.0.0.1:9"),
        json!({"use_basic_auth": true}),
    );
    let (dir, conf) = files(&[("basic.json", def)], json!({}));
    let conf_s = conf.display().to_string();
    let serve = run_bin(&["serve", "--config", &conf_s], dir.path());
    assert_eq!(serve.code, Some(2), "{}", serve.stderr);
    let file = dir.path().join("apps/basic.json").display().to_string();
    assert!(
        serve.stderr.contains(&format!(
            "{file}: use_basic_auth: basic authentication is not supported by this build; refusing to serve this API rather than weaken it"
        )),
        "{}",
        serve.stderr
    );
}

#[test]
fn inert_values_of_sec_fields_load() {
    let def = with(
        api("inert", "/inert/", "http://127.0.0.1:9"),
        json!({"enable_jwt": false, "use_basic_auth": false, "internal": false, "allowed_ips": [],
               "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default",
                   "extended_paths": {"black_list": [], "white_list": [{"path": "/x", "disabled": true}]}}}}}),
    );
    let (dir, conf) = files(&[("inert.json", def)], json!({}));
    let run = check(dir.path(), &conf);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

#[test]
fn every_problem_of_every_file_in_one_run() {
    let a = with(
        api("a", "/a/", "http://127.0.0.1:9"),
        json!({"use_basic_auth": true, "enable_jwt": true, "proxy": {"strip_listen_path": "yes"}}),
    );
    let b = with(
        api("b", "/b/", "http://127.0.0.1:9"),
        json!({"internal": true}),
    );
    let (dir, conf) = files(&[("a.json", a), ("b.json", b)], json!({}));
    let run = check(dir.path(), &conf);
    assert_eq!(run.code, Some(2));
    for field in [
        "use_basic_auth",
        "enable_jwt",
        "proxy.strip_listen_path",
        "internal",
    ] {
        assert!(
            run.stderr.contains(&format!(": {field}: ")),
            "{field} missing:\n{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("4 problem(s) found"), "{}", run.stderr);
}

#[test]
fn sec_settings_of_tyk_conf_are_refused() {
    for (patch, field) in [
        (json!({"hostname": "gw.example.com"}), "hostname"),
        (json!({"enforce_org_quotas": true}), "enforce_org_quotas"),
        (
            json!({"http_server_options": {"max_request_body_size": 100}}),
            "http_server_options.max_request_body_size",
        ),
    ] {
        let (dir, conf) = files(&[], patch);
        let run = check(dir.path(), &conf);
        assert_eq!(run.code, Some(2), "{field}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("{}: {field}: ", conf.display()))
                && run
                    .stderr
                    .contains("refusing to start rather than weaken it"),
            "{field}: {}",
            run.stderr
        );
    }
    // Reported, not refused: an operational setting.
    let (dir, conf) = files(&[], json!({"max_idle_connections_per_host": 500}));
    let run = check(dir.path(), &conf);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("warning: ") && run.stderr.contains("max_idle_connections_per_host"),
        "{}",
        run.stderr
    );
}

#[test]
fn tyk_oas_definitions_are_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_files(dir.path(), &Opts::default());
    let oas = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tyk/oas");
    for entry in std::fs::read_dir(&oas).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.path().join("apps").join(p.file_name().unwrap())).unwrap();
    }
    let run = check(dir.path(), &conf);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("x-tyk-api-gateway: this is a Tyk OAS API definition"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("api_id: must not be empty"),
        "{}",
        run.stderr
    );
}

#[test]
fn names_given_twice_are_errors_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_files(dir.path(), &Opts::default());
    let pf = dir.path().join("policies/policies.json");
    // Two policies with one id: Go (and serde) would keep the last one silently.
    std::fs::write(
        &pf,
        r#"{"p1": {"rate": 1, "per": 1}, "p2": {}, "p1": {"rate": 1000, "per": 1}}"#,
    )
    .unwrap();
    let run = check(dir.path(), &conf);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("p1: field \"p1\" given twice in one object"),
        "{}",
        run.stderr
    );
    std::fs::write(&pf, r#"{"p1": {"rate": 1, "Rate": 1000, "per": 1}}"#).unwrap();
    let run = check(dir.path(), &conf);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("p1.rate: field given more than once, as \"rate\" and \"Rate\""),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_fields_are_matched_as_go_matches_them() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())]).policies(
        json!({
            "gold": {"Org_ID": "default", "QUOTA_MAX": 2, "Quota_Renewal_Rate": 3600,
                     "Access_Rights": {"open": {"API_ID": "open", "Versions": ["Default"]}},
                     "Meta_Data": {"Team": "A"}}
        }),
    ))
    .await;
    let key = gw.create_key(key_with_policies(&["gold"])).await;
    assert_eq!(gw.get_with("/open/1", &key).await.status, 200);
    assert_eq!(gw.get_with("/open/2", &key).await.status, 200);
    let r = gw.get_with("/open/3", &key).await;
    assert_tyk_error(&r, 403, "Quota exceeded");
    // The free-form map keeps its keys as written.
    let (_, p) = gw.admin("GET", "/tyk/policies/gold", None).await;
    assert_eq!(p["meta_data"], json!({"Team": "A"}), "{p}");
    assert!(p["access_rights"]["open"].is_object(), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_body_with_three_problems_gets_one_400_listing_them() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())])).await;
    let mut body = key_for(&["open"]);
    body["rate"] = json!("ten");
    body["hmac_enabled"] = json!(true);
    body["basic_auth_data"] = json!({"password": "hunter2", "hash_type": "plain"});
    for path in ["/tyk/keys/create", "/tyk/keys/mycustomkey1"] {
        let r = gw
            .admin_raw(
                "POST",
                path,
                &[("X-Tyk-Authorization", SECRET)],
                serde_json::to_vec(&body).unwrap(),
            )
            .await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        let v = r.json();
        assert_eq!(v["status"], "error");
        let errors: Vec<&str> = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(errors.len(), 4, "{v}");
        assert!(
            errors[0].starts_with("rate: expected a number, got a string"),
            "{v}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("hmac_enabled: HMAC request signing")),
            "{v}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("basic_auth_data.password: ")),
            "{v}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.ends_with("refusing this key rather than weaken it")),
            "{v}"
        );
        assert!(v["message"].as_str().unwrap().contains("; "), "{v}");
        assert!(
            !r.text().contains("hunter2"),
            "the password is never echoed: {}",
            r.text()
        );
    }
    // Inert values of the same fields are fine.
    let mut ok = key_for(&["open"]);
    ok["hmac_enabled"] = json!(false);
    ok["basic_auth_data"] = json!({"password": "", "hash_type": ""});
    let key = gw.create_key(ok).await;
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
    // A policy's per-endpoint limits on a key are refused, not shown and ignored.
    let mut epl = key_for(&["open"]);
    epl["access_rights"]["open"]["endpoints"] =
        json!([{"path": "/x", "methods": [{"name": "GET", "limit": {"rate": 1, "per": 60}}]}]);
    let (status, v) = gw.admin("POST", "/tyk/keys/create", Some(epl)).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("access_rights.open.endpoints: per-endpoint rate limiting"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_bodies_with_three_problems_get_one_400_listing_them() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())])).await;
    let body = json!({
        "id": "bad id!",
        "rate": "x",
        "access_rights": {"open": {"api_id": "open", "versions": ["Default"],
            "endpoints": [{"path": "/x", "methods": [{"name": "GET", "limit": {"rate": 1, "per": 1}}]}]}}
    });
    let (status, v) = gw.admin("POST", "/tyk/policies", Some(body.clone())).await;
    assert_eq!(status, 400, "{v}");
    let errors: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 3, "{v}");
    assert!(errors[0].starts_with("rate: "), "{v}");
    assert!(
        errors[1].starts_with("access_rights.open.endpoints: "),
        "{v}"
    );
    assert_eq!(
        errors[2],
        "Invalid Policy ID: Allowed characters: a-z, A-Z, 0-9, ., _, -, ~"
    );
    // One problem: Tyk's message exactly.
    let (status, v) = gw
        .admin("POST", "/tyk/policies", Some(json!({"rate": 1})))
        .await;
    assert_eq!(
        (status, v["message"].as_str()),
        (400, Some("Unable to create policy without id.")),
        "{v}"
    );

    let r = gw
        .admin_raw(
            "POST",
            "/api/portal/policies",
            &[("authorization", SECRET)],
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let v = r.json();
    let errors = v["Errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "{v}");
    // Nothing was written.
    let (status, _) = gw.admin("GET", "/tyk/policies/bad%20id!", None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_adds_a_refused_field_keeps_the_last_good_snapshot() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![with(
        api("open", "/open/", &up.url()),
        json!({"use_keyless": true}),
    )]))
    .await;
    assert_eq!(gw.get("/open/admin", &[]).await.status, 200);
    let file = gw.dir.path().join("apps/open.json");
    let mut def: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    def["version_data"]["versions"]["Default"]["extended_paths"] =
        json!({"black_list": [{"path": "/admin"}]});
    std::fs::write(&file, serde_json::to_vec(&def).unwrap()).unwrap();
    assert!(gw.state().reload("test").await.is_err());
    // Still served by the last good snapshot: the operator is told, never half-loaded.
    assert_eq!(gw.get("/open/other", &[]).await.status, 200);
    let (_, hello) = gw.admin("GET", "/hello", None).await;
    assert_eq!(hello["status"], "warn", "{hello}");
    let out = hello["details"]["config"]["output"].as_str().unwrap();
    assert!(
        out.contains(
            "extended_paths.black_list: extended_paths.black_list (deny list) is not supported"
        ),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_fields_are_listed_on_hello_per_api() {
    let up = MockUpstream::start().await;
    let cors = with(
        api("cors", "/cors/", &up.url()),
        json!({"use_keyless": true, "CORS": {"enable": true, "allowed_origins": ["*"]}}),
    );
    let gw = TestGateway::start(Opts::apis(vec![cors, api("plain", "/plain/", &up.url())])).await;
    assert_eq!(gw.get("/cors/x", &[]).await.status, 200);
    let (_, hello) = gw.admin("GET", "/hello", None).await;
    assert_eq!(hello["status"], "pass", "{hello}");
    let fields = &hello["details"]["config"]["unsupported_fields"];
    let cors = fields["cors"]
        .as_array()
        .unwrap_or_else(|| panic!("{hello}"));
    assert!(
        cors.iter().any(|l| l
            .as_str()
            .unwrap()
            .starts_with("CORS.enable: CORS is not supported")),
        "{hello}"
    );
    assert!(fields.get("plain").is_none(), "{hello}");
}

// ------------------------------------------------------------ Tyk's own files

fn fixture_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tyk")
        .join(sub)
}

fn fixture_apis() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir("apps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// `tollgate check` on each of Tyk's example and test API definitions, alone: every
/// one is served (with its warnings) or refused naming the field; the whole output is
/// pinned by a golden file (`UPDATE_GOLDEN=1` rewrites it).
#[test]
fn tyk_fixtures_are_served_or_refused_naming_the_field() {
    let mut golden = String::new();
    for file in fixture_apis() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let dir = tempfile::tempdir().unwrap();
        let conf = write_files(dir.path(), &Opts::default());
        std::fs::copy(&file, dir.path().join("apps").join(&name)).unwrap();
        let run = check(dir.path(), &conf);
        let shown = dir.path().join("apps").join(&name).display().to_string();
        golden.push_str(&format!("== {name} (exit {})\n", run.code.unwrap_or(-1)));
        for line in run
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: ") || l.starts_with("warning: "))
        {
            let line = line.replace(&shown, &name);
            // Every problem names the file and a field, never only "bad file".
            let rest = line
                .split_once(&format!("{name}: "))
                .map(|(_, r)| r)
                .unwrap_or_else(|| panic!("{line}"));
            assert!(rest.contains(": "), "{name}: no field named: {line}");
            golden.push_str(&line);
            golden.push('\n');
        }
        assert!(matches!(run.code, Some(0 | 2)), "{name}: {}", run.stderr);
    }
    // Tyk's policy files: one object of policies, or one policy per file (`policy-dir`).
    let mut policies: Vec<PathBuf> = std::fs::read_dir(fixture_dir("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    policies.sort();
    for file in policies {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let dir = tempfile::tempdir().unwrap();
        let mut opts = Opts::default();
        if name.contains("policy-dir") {
            opts.policy_dir = Some(vec![(
                name.clone(),
                serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap(),
            )]);
        }
        let conf = write_files(dir.path(), &opts);
        let shown = if name.contains("policy-dir") {
            dir.path().join("policies.d").join(&name)
        } else {
            std::fs::copy(&file, dir.path().join("policies/policies.json")).unwrap();
            dir.path().join("policies/policies.json")
        };
        let run = check(dir.path(), &conf);
        golden.push_str(&format!(
            "== policies/{name} (exit {})\n",
            run.code.unwrap_or(-1)
        ));
        for line in run
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: ") || l.starts_with("warning: "))
        {
            golden.push_str(&line.replace(&shown.display().to_string(), &name));
            golden.push('\n');
        }
        assert!(matches!(run.code, Some(0 | 2)), "{name}: {}", run.stderr);
    }
    let path = fixture_dir("check.golden");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &golden).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == golden,
        "check output differs from {} (UPDATE_GOLDEN=1 to accept):\n{golden}",
        path.display()
    );
}

/// The fixtures that load answer as Tyk does for their rules: a keyless API proxies, a
/// token API asks for a key (only the upstream address is changed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tyk_fixtures_that_load_answer_as_tyk() {
    let up = MockUpstream::start().await;
    let mut served = 0;
    for file in fixture_apis() {
        let mut def: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        def["proxy"]["target_url"] = json!(up.url());
        let dir = tempfile::tempdir().unwrap();
        let conf = write_files(dir.path(), &Opts::default());
        std::fs::write(
            dir.path().join("apps/x.json"),
            serde_json::to_vec(&def).unwrap(),
        )
        .unwrap();
        let Ok(cfg) =
            tollgate::tyk::config::Config::load(Some(&conf), Vec::<(String, String)>::new())
        else {
            continue;
        };
        let Ok(snap) = tollgate::state::build_snapshot(&cfg, 1) else {
            continue;
        };
        drop(snap);
        let mut opts = Opts::apis(vec![def.clone()]);
        opts.apis[0]["api_id"] = def["api_id"].clone();
        let gw = TestGateway::start(opts).await;
        let listen = def["proxy"]["listen_path"].as_str().unwrap().to_string();
        let path = format!(
            "{}probe",
            if listen.ends_with('/') {
                listen.clone()
            } else {
                format!("{listen}/")
            }
        );
        let before = up.count();
        let r = gw.get(&path, &[]).await;
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        if def["use_keyless"] == json!(true) {
            assert_eq!(r.status, 200, "{name}: {}", r.text());
            assert_eq!(up.count(), before + 1, "{name}: upstream not reached");
        } else {
            assert_tyk_error(&r, 401, "Authorization field missing");
            assert_eq!(
                up.count(),
                before,
                "{name}: reached the upstream without a key"
            );
        }
        served += 1;
    }
    assert!(served >= 10, "only {served} fixtures were served");
}

#[test]
fn environment_overrides_are_classified_like_the_file() {
    // A setting given through the environment is read like the file: TLS switched on
    // without a certificate refuses to start.
    let (dir, conf) = files(&[], json!({}));
    let c = conf.display().to_string();
    let run = run_bin_env(
        &["check", "--config", &c],
        dir.path(),
        &[("TYK_GW_HTTPSERVEROPTIONS_USESSL", "true")],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("http_server_options.use_ssl: is true but no certificate is configured"),
        "{}",
        run.stderr
    );
    // An override of a key the file spells in another case is the same key.
    let (dir, conf) = files(&[], json!({"Hide_Generator_Header": false}));
    let c = conf.display().to_string();
    let run = run_bin_env(
        &["check", "--config", &c],
        dir.path(),
        &[("TYK_GW_HIDEGENERATORHEADER", "true")],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}
