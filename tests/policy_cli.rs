//! `tollgate policy` and `tollgate config`: the real binary against a real gateway on
//! loopback (issue 4 items 2–7, seed 002).
//!
//! The binary runs synchronously, so every run goes through `spawn_blocking` and the
//! in-process gateway keeps serving on the other worker.

use crate::common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A workspace for CLI runs: the working directory and an isolated config directory,
/// so a developer's own `~/.config/tollgate` never leaks in.
struct Ws {
    dir: tempfile::TempDir,
}

impl Ws {
    fn new() -> Ws {
        Ws {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }
}

/// Runs `tollgate args...` in `cwd` with only the given `TOLLGATE_*` variables (plus
/// `TOLLGATE_CONFIG_DIR` = `config_dir`), feeding `stdin`.
fn run_sync(
    args: Vec<String>,
    cwd: PathBuf,
    config_dir: PathBuf,
    env: Vec<(String, String)>,
    stdin: Option<String>,
) -> BinRun {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cfg = config_dir.display().to_string();
    let mut vars: Vec<(&str, &str)> = vec![("TOLLGATE_CONFIG_DIR", cfg.as_str())];
    vars.extend(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    run_bin_input(&args, &cwd, &vars, stdin.as_deref())
}

async fn tg_full(ws: &Ws, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> BinRun {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (cwd, cfg, stdin) = (
        ws.path().to_path_buf(),
        ws.config_dir(),
        stdin.map(str::to_string),
    );
    tokio::task::spawn_blocking(move || run_sync(args, cwd, cfg, env, stdin))
        .await
        .expect("CLI run panicked")
}

/// A run against `gw` with the right secret.
async fn tg(ws: &Ws, gw: &TestGateway, args: &[&str]) -> BinRun {
    let url = format!("http://{}", gw.addr);
    tg_full(
        ws,
        args,
        &[("TOLLGATE_URL", &url), ("TOLLGATE_SECRET", SECRET)],
        None,
    )
    .await
}

#[track_caller]
fn assert_code(r: &BinRun, want: i32, what: &str) {
    assert_eq!(
        r.code,
        Some(want),
        "{what}: exit code\n--- stdout\n{}\n--- stderr\n{}",
        r.stdout,
        r.stderr
    );
}

/// Three APIs of org `default`, named and tagged for selectors.
async fn gateway(up: &MockUpstream) -> TestGateway {
    TestGateway::start(Opts::apis(vec![
        with(
            api("users", "/users/", &up.url()),
            json!({"name": "users-api", "tags": ["public", "v1"]}),
        ),
        with(
            api("orders", "/orders/", &up.url()),
            json!({"name": "orders-api", "tags": ["public"]}),
        ),
        with(
            api("admin", "/admin/", &up.url()),
            json!({"name": "admin-api", "tags": ["internal"]}),
        ),
    ]))
    .await
}

/// `GET /api/portal/policies/{id}` with the secret: (status, body).
async fn portal_get(gw: &TestGateway, id: &str) -> (u16, Value) {
    let r = gw
        .request(
            "GET",
            &format!("/api/portal/policies/{id}"),
            &[("authorization", SECRET)],
            bytes::Bytes::new(),
        )
        .await;
    let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitops_lifecycle_init_apply_update_list_get_delete() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let ws = Ws::new();

    // init: a scaffold under policies/, never overwritten.
    let r = tg(
        &ws,
        &gw,
        &["policy", "init", "--id", "gold", "--name", "Gold Plan"],
    )
    .await;
    assert_code(&r, 0, "init");
    let file = ws.path().join("policies/gold.yaml");
    let scaffold = std::fs::read_to_string(&file).expect("scaffold written");
    assert!(
        scaffold.contains("id: gold\nname: Gold Plan\n"),
        "{scaffold}"
    );
    let again = tg(
        &ws,
        &gw,
        &["policy", "init", "--id", "gold", "--name", "Other"],
    )
    .await;
    assert_code(&again, 2, "init over an existing file");
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), scaffold);

    // Edit: point it at users-api, a generous rate, no quota.
    let v1 = scaffold
        .replace(
            "  - name: my-api\n    versions: [Default]\n",
            "  - name: users-api\n",
        )
        .replace("tags: []", "tags: [paid, gold]")
        .replace(
            "quota:\n  limit: 10000\n  period: 30d\n",
            "quota:\n  limit: 1000\n  period: 30d\n",
        );
    std::fs::write(&file, &v1).unwrap();

    // apply: create.
    let r = tg(&ws, &gw, &["policy", "apply", "-f", "policies/gold.yaml"]).await;
    assert_code(&r, 0, "first apply");
    assert!(r.stderr.contains("created policy gold"), "{}", r.stderr);
    assert_eq!(r.stdout, "", "humans on stderr only");
    let (status, created) = portal_get(&gw, "gold").await;
    assert_eq!(status, 200, "{created}");
    let object_id = created["_id"].as_str().expect("_id").to_string();
    assert_eq!(created["rate"], json!(100));
    assert_eq!(created["per"], json!(60));
    assert_eq!(created["quota_max"], json!(1000));
    assert_eq!(created["quota_renewal_rate"], json!(2_592_000));
    assert_eq!(created["tags"], json!(["paid", "gold"]));
    assert_eq!(
        created["access_rights"]["users"]["versions"],
        json!(["Default"])
    );

    // apply again (from stdin this time): nothing changes, same _id.
    let r = tg_full(
        &ws,
        &["policy", "apply", "-f", "-", "--json"],
        &[
            ("TOLLGATE_URL", &format!("http://{}", gw.addr)),
            ("TOLLGATE_SECRET", SECRET),
        ],
        Some(&v1),
    )
    .await;
    assert_code(&r, 0, "second apply");
    assert!(r.stderr.contains("policy gold unchanged"), "{}", r.stderr);
    let answer: Value = serde_json::from_str(&r.stdout).expect("--json answer");
    assert_eq!(answer["Message"], "unchanged");
    let (_, same) = portal_get(&gw, "gold").await;
    assert_eq!(same["_id"], json!(object_id));
    assert_eq!(same, created, "an unchanged apply writes nothing");

    // A key using the policy: users-api yes, orders-api no.
    let key = gw.create_key(key_with_policies(&["gold"])).await;
    assert_eq!(gw.get_with("/users/1", &key).await.status, 200);
    assert_eq!(gw.get_with("/orders/1", &key).await.status, 403);

    // Edit: add orders-api by tag-free name, and tighten the rate to 2 per minute.
    let v2 = v1
        .replace(
            "  - name: users-api\n",
            "  - name: users-api\n  - listenPath: /orders/\n",
        )
        .replace("requests: 100", "requests: 2");
    std::fs::write(&file, &v2).unwrap();
    let r = tg(
        &ws,
        &gw,
        &["policy", "apply", "-f", "policies/gold.yaml", "--json"],
    )
    .await;
    assert_code(&r, 0, "update apply");
    assert!(r.stderr.contains("updated policy gold"), "{}", r.stderr);
    let answer: Value = serde_json::from_str(&r.stdout).expect("--json answer");
    assert_eq!(
        answer,
        json!({"Status": "OK", "Message": "Data updated", "Meta": null})
    );
    let (_, updated) = portal_get(&gw, "gold").await;
    assert_eq!(updated["_id"], json!(object_id), "an update keeps the _id");

    // Enforcement follows at once: orders-api is allowed now, and the new rate bites.
    let statuses = {
        let mut s = Vec::new();
        for _ in 0..4 {
            s.push(gw.get_with("/orders/1", &key).await.status);
        }
        s
    };
    assert_eq!(
        statuses[0], 200,
        "orders-api after the update: {statuses:?}"
    );
    assert!(
        statuses.contains(&429),
        "rate 2/min must limit 4 quick requests: {statuses:?}"
    );

    // list: a table on stdout, JSON with --json.
    let r = tg(&ws, &gw, &["policy", "list"]).await;
    assert_code(&r, 0, "list");
    let mut lines = r.stdout.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, vec!["ID", "Name", "APIs", "Tags"], "{}", r.stdout);
    assert!(lines.next().unwrap_or_default().starts_with("---"));
    let row = lines.next().unwrap_or_default();
    assert!(row.starts_with("gold "), "{}", r.stdout);
    assert!(
        row.contains("Gold Plan") && row.contains(" 2 ") && row.ends_with("paid, gold"),
        "{row}"
    );
    let r = tg(&ws, &gw, &["policy", "list", "--json"]).await;
    assert_code(&r, 0, "list --json");
    let listed: Value = serde_json::from_str(&r.stdout).expect("list JSON");
    assert_eq!(
        listed,
        json!([{"id": "gold", "name": "Gold Plan", "api_count": 2, "tags": ["paid", "gold"]}])
    );
    let r = tg(&ws, &gw, &["policy", "list", "--page", "2"]).await;
    assert_code(&r, 0, "list page 2");
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains("No policies found on page 2."),
        "{}",
        r.stderr
    );

    // get: the schema back, YAML on stdout, a summary on stderr...
    let r = tg(&ws, &gw, &["policy", "get", "gold"]).await;
    assert_code(&r, 0, "get");
    assert_eq!(
        r.stdout,
        "\
id: gold
name: Gold Plan
tags:
- paid
- gold
rateLimit:
  requests: 2
  per: 1m
quota:
  limit: 1000
  period: 30d
keyTTL: \"0\"
access:
- name: orders-api
  versions: [Default]
- name: users-api
  versions: [Default]
"
    );
    assert!(
        r.stderr.contains(
            "policy gold (Gold Plan): rate 2 / 1m, quota 1000 / 30d, keys never expire, 2 APIs"
        ),
        "{}",
        r.stderr
    );
    // ...which is equivalent to the file: applying it changes nothing.
    std::fs::write(ws.path().join("exported.yaml"), &r.stdout).unwrap();
    let r = tg(&ws, &gw, &["policy", "apply", "-f", "exported.yaml"]).await;
    assert_code(&r, 0, "apply of the exported YAML");
    assert!(r.stderr.contains("unchanged"), "{}", r.stderr);
    let r = tg(&ws, &gw, &["policy", "get", "gold", "--json"]).await;
    assert_code(&r, 0, "get --json");
    let got: Value = serde_json::from_str(&r.stdout).expect("get JSON");
    assert_eq!(got["id"], "gold");
    assert_eq!(got["rateLimit"], json!({"requests": 2, "per": "1m"}));
    assert_eq!(got["quota"], json!({"limit": 1000, "period": "30d"}));

    // delete: a "no" cancels (exit 0), --yes deletes.
    let url = format!("http://{}", gw.addr);
    let env = [("TOLLGATE_URL", url.as_str()), ("TOLLGATE_SECRET", SECRET)];
    let r = tg_full(&ws, &["policy", "delete", "gold"], &env, Some("n\n")).await;
    assert_code(&r, 0, "cancelled delete");
    assert!(
        r.stderr.contains("Delete policy gold (Gold Plan)? [y/N]")
            && r.stderr.contains("cancelled"),
        "{}",
        r.stderr
    );
    assert_eq!(portal_get(&gw, "gold").await.0, 200, "still there");
    let r = tg(&ws, &gw, &["policy", "delete", "gold", "--yes", "--json"]).await;
    assert_code(&r, 0, "delete --yes");
    assert!(r.stderr.contains("deleted policy gold"), "{}", r.stderr);
    let answer: Value = serde_json::from_str(&r.stdout).expect("delete JSON");
    assert_eq!(answer["Message"], "Data deleted");

    // Gone: get and delete say "not found" (3), and the key loses access.
    let r = tg(&ws, &gw, &["policy", "get", "gold"]).await;
    assert_code(&r, 3, "get after delete");
    assert!(
        r.stderr.contains("policy \"gold\" not found"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    let r = tg(&ws, &gw, &["policy", "delete", "gold", "--yes"]).await;
    assert_code(&r, 3, "delete after delete");
    assert_eq!(gw.get_with("/users/1", &key).await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_yes_deletes_and_tags_expand_to_every_matching_api() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let ws = Ws::new();
    std::fs::write(
        ws.path().join("pub.yaml"),
        "id: public\nname: Public\naccess:\n  - tags: [public]\n    versions: [Default]\n",
    )
    .unwrap();
    let r = tg(&ws, &gw, &["policy", "apply", "-f", "pub.yaml"]).await;
    assert_code(&r, 0, "apply");
    let (_, p) = portal_get(&gw, "public").await;
    let mut apis: Vec<&String> = p["access_rights"].as_object().unwrap().keys().collect();
    apis.sort();
    assert_eq!(apis, vec!["orders", "users"]);
    assert_eq!(p["quota_max"], json!(-1), "no quota block: unlimited");
    assert_eq!(p["org_id"], json!("default"));
    assert_eq!(p["active"], json!(true));

    let url = format!("http://{}", gw.addr);
    let env = [("TOLLGATE_URL", url.as_str()), ("TOLLGATE_SECRET", SECRET)];
    let r = tg_full(&ws, &["policy", "delete", "public"], &env, Some("yes\n")).await;
    assert_code(&r, 0, "confirmed delete");
    assert!(r.stderr.contains("deleted policy public"), "{}", r.stderr);
    assert_eq!(portal_get(&gw, "public").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolvable_selectors_exit_2_with_suggestions_and_nothing_is_written() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let ws = Ws::new();
    std::fs::write(
        ws.path().join("typo.yaml"),
        "id: typo\nname: Typo\naccess:\n  - name: user-api\n  - tags: [public, internal]\n  - listenPath: /users/\n    versions: [v9]\n",
    )
    .unwrap();
    let r = tg(&ws, &gw, &["policy", "apply", "-f", "typo.yaml"]).await;
    assert_code(&r, 2, "unresolved selectors");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines,
        vec![
            "typo.yaml:4:5: access[0].name: no API found for name \"user-api\". Did you mean: users-api (users), orders-api (orders), admin-api (admin)?",
            "typo.yaml:5:5: access[1].tags: no API has all of the tags \"public\", \"internal\"",
            "2 problems found; nothing was applied",
        ],
        "{}",
        r.stderr
    );
    assert_eq!(portal_get(&gw, "typo").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_files_exit_2_before_any_network_call() {
    let ws = Ws::new();
    std::fs::write(
        ws.path().join("bad.yaml"),
        "id: Bad\nname: Bad\nrateLimit: {requests: 10, per: 1h30m}\nquota: {limit: 5, period: 10w}\nkeyTTL: -1\naccess:\n  - {name: a, id: b}\n",
    )
    .unwrap();
    // An unreachable URL, and no well-formed selector to resolve: every problem is
    // listed without a network call.
    let url = format!("http://{}", refused_addr());
    let r = tg_full(
        &ws,
        &["policy", "apply", "-f", "bad.yaml", "--url", &url],
        &[],
        None,
    )
    .await;
    assert_code(&r, 2, "invalid file");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 6, "{}", r.stderr);
    assert!(lines[0].starts_with("bad.yaml:1:5: id: "), "{}", r.stderr);
    assert!(
        lines[1].starts_with("bad.yaml:3:32: rateLimit.per: invalid duration \"1h30m\""),
        "{}",
        r.stderr
    );
    assert!(
        lines[2].starts_with("bad.yaml:4:27: quota.period: invalid duration \"10w\""),
        "{}",
        r.stderr
    );
    assert!(
        lines[3].starts_with("bad.yaml:5:9: keyTTL: invalid duration -1"),
        "{}",
        r.stderr
    );
    assert!(
        lines[4].starts_with("bad.yaml:7:5: access[0]: exactly one of"),
        "{}",
        r.stderr
    );
    assert_eq!(lines[5], "5 problems found; nothing was applied");

    // A missing file and bad usage are exit 2 as well.
    let r = tg_full(&ws, &["policy", "apply", "-f", "nope.yaml"], &[], None).await;
    assert_code(&r, 2, "missing file");
    let r = tg_full(&ws, &["policy", "apply"], &[], None).await;
    assert_code(&r, 2, "apply without -f");
    let r = tg_full(&ws, &["policy", "frobnicate"], &[], None).await;
    assert_code(&r, 2, "unknown subcommand");
}

/// `GET /api/portal/policies` with the secret: the policies on page 1.
async fn portal_list(gw: &TestGateway) -> Vec<Value> {
    let r = gw
        .request(
            "GET",
            "/api/portal/policies",
            &[("authorization", SECRET)],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["Data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_id_duration_and_selector_problems_are_reported_in_one_run() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let ws = Ws::new();
    // Three independent problems: an invalid id, a bad duration, an unresolved name
    // (next to a selector that resolves).
    std::fs::write(
        ws.path().join("three.yaml"),
        "id: Gold-Plan\nname: Gold\nquota:\n  limit: 10\n  period: 1h30m\naccess:\n  - name: user-api\n  - name: admin-api\n",
    )
    .unwrap();
    let r = tg(&ws, &gw, &["policy", "apply", "-f", "three.yaml", "--json"]).await;
    assert_code(&r, 2, "three problems");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines,
        vec![
            "three.yaml:1:5: id: uppercase letters are not allowed in \"Gold-Plan\"; use lowercase letters, digits, '.', '-' and '_'",
            "three.yaml:5:11: quota.period: invalid duration \"1h30m\": mixed units are not allowed; use a single unit (e.g. 90m)",
            "three.yaml:7:5: access[0].name: no API found for name \"user-api\". Did you mean: users-api (users), orders-api (orders), admin-api (admin)?",
            "3 problems found; nothing was applied",
        ],
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "", "problems go to stderr, even with --json");
    assert_eq!(
        portal_list(&gw).await,
        Vec::<Value>::new(),
        "nothing written"
    );

    // Schema problems inside access entries sit beside the resolution problems of
    // the entries that are well-formed, with their own indices.
    std::fs::write(
        ws.path().join("mixed.yaml"),
        "id: mixed\nname: Mixed\nkeyTTL: 10w\naccess:\n  - {name: users-api, id: users}\n  - listenPath: /order/\n    versoins: [v1]\n  - tags: [internal]\n",
    )
    .unwrap();
    let r = tg(&ws, &gw, &["policy", "apply", "-f", "mixed.yaml"]).await;
    assert_code(&r, 2, "mixed problems");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 5, "{}", r.stderr);
    assert!(
        lines[0].starts_with("mixed.yaml:3:9: keyTTL: invalid duration \"10w\""),
        "{}",
        r.stderr
    );
    assert!(
        lines[1].starts_with("mixed.yaml:5:5: access[0]: exactly one of"),
        "{}",
        r.stderr
    );
    assert_eq!(
        lines[2],
        "mixed.yaml:7:5: access[1].versoins: unknown field; did you mean `versions`?"
    );
    assert!(
        lines[3].starts_with("mixed.yaml:6:5: access[1].listenPath: no API found for listen path \"/order/\". Did you mean: /orders/ (orders)"),
        "{}",
        r.stderr
    );
    assert_eq!(lines[4], "4 problems found; nothing was applied");
    assert_eq!(portal_get(&gw, "mixed").await.0, 404, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_problems_are_still_reported_when_the_gateway_is_out_of_reach() {
    let ws = Ws::new();
    std::fs::write(
        ws.path().join("bad.yaml"),
        "id: Bad\nname: Bad\nquota: {limit: 5, period: 10w}\naccess:\n  - name: users-api\n",
    )
    .unwrap();
    let problems = [
        "bad.yaml:1:5: id: uppercase letters are not allowed in \"Bad\"; use lowercase letters, digits, '.', '-' and '_'",
        "bad.yaml:3:27: quota.period: invalid duration \"10w\": unknown unit \"w\"; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)",
    ];
    // Unreachable: the file's own problems (exit 2), and a line saying the selectors
    // were not checked, and why.
    let dead = format!("http://{}", refused_addr());
    let r = tg_full(
        &ws,
        &["policy", "apply", "-f", "bad.yaml", "--url", &dead],
        &[("TOLLGATE_SECRET", SECRET)],
        None,
    )
    .await;
    assert_code(&r, 2, "local problems, unreachable gateway");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{}", r.stderr);
    assert_eq!(lines[..2], problems, "{}", r.stderr);
    assert!(
        lines[2].starts_with(&format!(
            "bad.yaml: access selectors were not checked against the gateway: cannot reach {dead}"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(lines[3], "2 problems found; nothing was applied");

    // No gateway configured at all: the same, with the reason.
    let r = tg_full(&ws, &["policy", "apply", "-f", "bad.yaml"], &[], None).await;
    assert_code(&r, 2, "local problems, no gateway configured");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{}", r.stderr);
    assert_eq!(lines[..2], problems, "{}", r.stderr);
    assert!(
        lines[2].starts_with(
            "bad.yaml: access selectors were not checked against the gateway: no gateway URL"
        ),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_durations_mean_a_quota_that_never_renews_and_keys_that_never_expire() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let ws = Ws::new();
    // `period: 0` (and `per: 0`, which disables the rate limit), then `period: "0"`.
    std::fs::write(
        ws.path().join("never.yaml"),
        "id: never\nname: Never\nrateLimit: {requests: 1, per: 0}\nquota: {limit: 10, period: 0}\nkeyTTL: \"0\"\naccess: [{name: users-api}]\n",
    )
    .unwrap();
    std::fs::write(
        ws.path().join("never-str.yaml"),
        "id: never-str\nname: Never (string)\nquota:\n  limit: 10\n  period: \"0\"\nkeyTTL: \"0\"\naccess: [{name: users-api}]\n",
    )
    .unwrap();
    for (file, id) in [("never.yaml", "never"), ("never-str.yaml", "never-str")] {
        let r = tg(&ws, &gw, &["policy", "apply", "-f", file]).await;
        assert_code(&r, 0, file);
        assert!(
            r.stderr.contains(&format!("created policy {id}")),
            "{}",
            r.stderr
        );
        let (status, p) = portal_get(&gw, id).await;
        assert_eq!(status, 200, "{p}");
        assert_eq!(p["quota_max"], json!(10), "{id}");
        assert_eq!(p["quota_renewal_rate"], json!(0), "{id}");
        assert_eq!(p["key_expires_in"], json!(0), "{id}");
        assert_eq!((&p["rate"], &p["per"]), (&json!(0), &json!(0)), "{id}");

        // get shows the zero period, and its output re-applies unchanged.
        let r = tg(&ws, &gw, &["policy", "get", id]).await;
        assert_code(&r, 0, "get");
        assert!(
            r.stdout
                .contains("quota:\n  limit: 10\n  period: \"0\"\nkeyTTL: \"0\"\n"),
            "{}",
            r.stdout
        );
        assert!(
            r.stderr
                .contains("no rate limit, quota 10 / 0, keys never expire"),
            "{}",
            r.stderr
        );
        std::fs::write(ws.path().join("exported.yaml"), &r.stdout).unwrap();
        let r = tg(&ws, &gw, &["policy", "apply", "-f", "exported.yaml"]).await;
        assert_code(&r, 0, "re-apply of the export");
        assert!(
            r.stderr.contains(&format!("policy {id} unchanged")),
            "{}",
            r.stderr
        );
    }

    // Enforced as written: ten requests (no rate limit in the way), then the quota is
    // spent for good; a key of the other policy has no expiry and outlives a year.
    let spent = gw.create_key(key_with_policies(&["never"])).await;
    let fresh = gw.create_key(key_with_policies(&["never-str"])).await;
    for i in 0..10 {
        assert_eq!(
            gw.get_with("/users/1", &spent).await.status,
            200,
            "request {i}"
        );
    }
    assert_tyk_error(
        &gw.get_with("/users/1", &spent).await,
        403,
        "Quota exceeded",
    );
    let (status, session) = gw.admin("GET", &format!("/tyk/keys/{fresh}"), None).await;
    assert_eq!(status, 200, "{session}");
    // Zero fields are left out of the session JSON; absent or 0, `expires` is "never".
    assert!(
        session.get("expires").is_none_or(|e| *e == json!(0)),
        "{session}"
    );
    gw.advance(400 * 86_400);
    assert_tyk_error(
        &gw.get_with("/users/1", &spent).await,
        403,
        "Quota exceeded",
    );
    assert_eq!(gw.get_with("/users/1", &fresh).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_and_unreachable_gateway_exit_1() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let ws = Ws::new();
    let url = format!("http://{}", gw.addr);
    let r = tg_full(
        &ws,
        &["policy", "list"],
        &[("TOLLGATE_URL", &url), ("TOLLGATE_SECRET", "wrong-secret")],
        None,
    )
    .await;
    assert_code(&r, 1, "wrong secret");
    assert!(
        r.stderr.contains("authentication failed") && r.stderr.contains("TOLLGATE_SECRET"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("wrong-secret"),
        "the secret is never printed"
    );
    let r = tg_full(
        &ws,
        &["policy", "get", "x"],
        &[("TOLLGATE_URL", &url)],
        None,
    )
    .await;
    assert_code(&r, 1, "no secret");
    assert!(r.stderr.contains("authentication failed"), "{}", r.stderr);

    let dead = format!("http://{}", refused_addr());
    for args in [
        vec!["policy", "list", "--url", &dead],
        vec!["policy", "get", "gold", "--url", &dead],
        vec!["policy", "delete", "gold", "--yes", "--url", &dead],
    ] {
        let r = tg_full(&ws, &args, &[("TOLLGATE_SECRET", SECRET)], None).await;
        assert_code(&r, 1, "unreachable");
        assert!(r.stderr.contains("cannot reach"), "{}", r.stderr);
    }
    std::fs::write(
        ws.path().join("ok.yaml"),
        "id: ok\nname: OK\naccess: [{name: users-api}]\n",
    )
    .unwrap();
    let r = tg_full(
        &ws,
        &["policy", "apply", "-f", "ok.yaml", "--url", &dead],
        &[("TOLLGATE_SECRET", SECRET)],
        None,
    )
    .await;
    assert_code(&r, 1, "apply to an unreachable gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_environments_with_the_secret_from_the_named_variable() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let ws = Ws::new();
    let url = format!("http://{}", gw.addr);
    let dead = format!("http://{}", refused_addr());
    let secret_var = [("TG_TEST_DEV_SECRET", SECRET)];

    let r = tg_full(&ws, &["config", "list"], &[], None).await;
    assert_code(&r, 0, "empty list");
    assert!(r.stderr.contains("no environments"), "{}", r.stderr);

    let r = tg_full(
        &ws,
        &[
            "config",
            "add",
            "dev",
            "--url",
            &url,
            "--secret-env",
            "TG_TEST_DEV_SECRET",
        ],
        &secret_var,
        None,
    )
    .await;
    assert_code(&r, 0, "add dev");
    assert!(r.stderr.contains("(now current)"), "{}", r.stderr);
    let r = tg_full(
        &ws,
        &[
            "config",
            "add",
            "staging",
            "--url",
            &dead,
            "--secret-env",
            "TG_TEST_STAGING_SECRET",
        ],
        &[],
        None,
    )
    .await;
    assert_code(&r, 0, "add staging");
    let r = tg_full(
        &ws,
        &[
            "config",
            "add",
            "bad",
            "--url",
            &url,
            "--secret-env",
            "not a var",
        ],
        &[],
        None,
    )
    .await;
    assert_code(&r, 2, "invalid variable name");

    // The file holds variable names, never secrets.
    let stored = std::fs::read_to_string(ws.config_dir().join("config.json")).unwrap();
    let cfg: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(cfg["current"], "dev");
    assert_eq!(
        cfg["environments"]["dev"],
        json!({"url": url, "secret_env": "TG_TEST_DEV_SECRET"})
    );
    assert!(!stored.contains(SECRET));

    // The current environment supplies URL and secret.
    std::fs::write(
        ws.path().join("env.yaml"),
        "id: envpol\nname: Env\naccess: [{name: admin-api}]\n",
    )
    .unwrap();
    let r = tg_full(
        &ws,
        &["policy", "apply", "-f", "env.yaml"],
        &secret_var,
        None,
    )
    .await;
    assert_code(&r, 0, "apply through the dev environment");
    assert_eq!(portal_get(&gw, "envpol").await.0, 200);
    let r = tg_full(&ws, &["policy", "list"], &secret_var, None).await;
    assert_code(&r, 0, "list through dev");
    assert!(r.stdout.contains("envpol"), "{}", r.stdout);

    let r = tg_full(&ws, &["config", "list"], &secret_var, None).await;
    assert_code(&r, 0, "config list");
    let dev_row = r
        .stdout
        .lines()
        .find(|l| l.contains(" dev "))
        .unwrap_or_default();
    assert!(
        dev_row.starts_with('*'),
        "the current environment is starred: {}",
        r.stdout
    );
    assert!(
        r.stdout.contains("TG_TEST_DEV_SECRET (set)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("TG_TEST_STAGING_SECRET (not set)"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(SECRET) && !r.stderr.contains(SECRET));
    let r = tg_full(&ws, &["config", "list", "--json"], &secret_var, None).await;
    let listed: Value = serde_json::from_str(&r.stdout).expect("config list JSON");
    assert_eq!(listed[0]["name"], "dev");
    assert_eq!(listed[0]["secret_set"], true);
    assert_eq!(listed[0]["current"], true);

    // Without the variable the gateway refuses us, and says where the secret comes from.
    let r = tg_full(&ws, &["policy", "list"], &[], None).await;
    assert_code(&r, 1, "dev without its secret");
    assert!(r.stderr.contains("TG_TEST_DEV_SECRET"), "{}", r.stderr);

    // `--url` and TOLLGATE_URL override the environment; its secret does not follow
    // them to another address.
    let r = tg_full(&ws, &["policy", "list", "--url", &dead], &secret_var, None).await;
    assert_code(&r, 1, "--url override");
    assert!(r.stderr.contains("cannot reach"), "{}", r.stderr);

    // Switching environments.
    let r = tg_full(&ws, &["config", "use", "staging"], &[], None).await;
    assert_code(&r, 0, "use staging");
    let r = tg_full(&ws, &["policy", "list"], &secret_var, None).await;
    assert_code(&r, 1, "staging is unreachable");
    let r = tg_full(
        &ws,
        &["policy", "list"],
        &[("TOLLGATE_URL", &url), ("TOLLGATE_SECRET", SECRET)],
        None,
    )
    .await;
    assert_code(&r, 0, "env variables override the current environment");
    let r = tg_full(&ws, &["config", "use", "nope"], &[], None).await;
    assert_code(&r, 3, "unknown environment");
    assert!(r.stderr.contains("known: dev, staging"), "{}", r.stderr);
    let r = tg_full(&ws, &["config", "use", "dev"], &[], None).await;
    assert_code(&r, 0, "back to dev");
    let r = tg_full(&ws, &["policy", "get", "envpol"], &secret_var, None).await;
    assert_code(&r, 0, "get through dev");
    assert!(r.stdout.contains("- name: admin-api"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_without_a_friendly_id_are_listed_by_object_id_and_pages_are_reported() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let ws = Ws::new();
    // Eleven policies created straight through the API: one without a friendly id.
    let post = |body: Value| {
        let gw = &gw;
        async move {
            let r = gw
                .request(
                    "POST",
                    "/api/portal/policies",
                    &[("authorization", SECRET)],
                    serde_json::to_vec(&body).unwrap(),
                )
                .await;
            assert_eq!(r.status, 200, "create: {}", r.text());
            r.json()["Message"].as_str().unwrap_or_default().to_string()
        }
    };
    let rights =
        json!({"users": {"api_id": "users", "api_name": "users-api", "versions": ["Default"]}});
    let object_id =
        post(json!({"name": "Legacy", "org_id": "default", "access_rights": rights})).await;
    assert_eq!(object_id.len(), 24, "a generated _id: {object_id}");
    for i in 0..10 {
        post(json!({"id": format!("p{i:02}"), "name": format!("P{i}"), "org_id": "default", "access_rights": rights})).await;
    }

    let r = tg(&ws, &gw, &["policy", "list"]).await;
    assert_code(&r, 0, "list page 1");
    assert_eq!(
        r.stdout.lines().count(),
        12,
        "header, rule, 10 rows:\n{}",
        r.stdout
    );
    assert!(r.stderr.contains("page 1 of 2"), "{}", r.stderr);
    let r2 = tg(&ws, &gw, &["policy", "list", "--page", "2"]).await;
    assert_code(&r2, 0, "list page 2");
    assert_eq!(r2.stdout.lines().count(), 3, "{}", r2.stdout);
    let all = format!("{}{}", r.stdout, r2.stdout);
    let legacy_row = all
        .lines()
        .find(|l| l.contains("Legacy"))
        .unwrap_or_else(|| panic!("no Legacy row in\n{all}"));
    assert!(legacy_row.starts_with(&object_id), "{legacy_row}");

    // get by _id: the id falls back to the _id, the API reverse-resolves to its name.
    let r = tg(&ws, &gw, &["policy", "get", &object_id]).await;
    assert_code(&r, 0, "get by _id");
    assert!(
        r.stdout
            .starts_with(&format!("id: {object_id}\nname: Legacy\n")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("- name: users-api"), "{}", r.stdout);
    assert!(r.stderr.contains("no rate limit, no quota"), "{}", r.stderr);
}
