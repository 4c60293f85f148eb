//! The Dashboard-style policy API (`/api/portal/policies`) and `/api/apis`.

use crate::common::*;
use bytes::Bytes;
use serde_json::{json, Value};

async fn dash(gw: &TestGateway, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body
        .map(|b| Bytes::from(serde_json::to_vec(&b).unwrap()))
        .unwrap_or_default();
    let r = gw
        .admin_raw(method, path, &[("authorization", SECRET)], body)
        .await;
    (
        r.status,
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        },
    )
}

fn pol(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "org_id": "default", "rate": 100, "per": 1, "quota_max": -1,
           "access_rights": {"a": {"api_id": "a", "versions": ["Default"]}}})
}

async fn gateway(n: usize) -> (TestGateway, MockUpstream) {
    let up = MockUpstream::start().await;
    let mut policies = serde_json::Map::new();
    for i in 0..n {
        policies.insert(
            format!("p{i:02}"),
            pol(&format!("p{i:02}"), &format!("Plan {i:02}")),
        );
    }
    let gw = TestGateway::start(
        Opts::apis(vec![api("a", "/a/", &up.url())]).policies(Value::Object(policies)),
    )
    .await;
    (gw, up)
}

#[tokio::test]
async fn pagination_edges() {
    let (gw, _up) = gateway(21).await;
    let (s, b) = dash(&gw, "GET", "/api/portal/policies", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["Pages"], 3);
    assert_eq!(b["Data"].as_array().unwrap().len(), 10);
    assert_eq!(b["Data"][0]["id"], "p00");
    let (_, b) = dash(&gw, "GET", "/api/portal/policies?p=3", None).await;
    assert_eq!(b["Data"].as_array().unwrap().len(), 1);
    assert_eq!(b["Data"][0]["id"], "p20");
    let (_, b) = dash(&gw, "GET", "/api/portal/policies?p=4", None).await;
    assert_eq!(
        (b["Data"].as_array().unwrap().len(), b["Pages"].clone()),
        (0, json!(3))
    );
    let (_, b) = dash(&gw, "GET", "/api/portal/policies?p=0", None).await;
    assert_eq!(b["Data"][0]["id"], "p00", "p=0 is the first page");
    let (_, b) = dash(&gw, "GET", "/api/portal/policies?p=x", None).await;
    assert_eq!(b["Data"][0]["id"], "p00");

    let (empty, _up) = gateway(0).await;
    let (_, b) = dash(&empty, "GET", "/api/portal/policies", None).await;
    assert_eq!(b, json!({"Data": [], "Pages": 0}));
    let (_, b) = dash(&gw, "GET", "/api/portal/policies?p=2", None).await;
    assert_eq!(b["Data"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn search_by_name_and_ids() {
    let (gw, _up) = gateway(12).await;
    let (_, b) = dash(&gw, "GET", "/api/portal/policies/search?q=plan+1", None).await;
    let ids: Vec<&str> = b["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["p10", "p11"], "case-insensitive name substring");
    let (_, b) = dash(
        &gw,
        "GET",
        "/api/portal/policies/search?policy_ids=p03,p07,nope",
        None,
    )
    .await;
    assert_eq!(b["Data"].as_array().unwrap().len(), 2);
    let (_, b) = dash(&gw, "GET", "/api/portal/policies/search?q=zzz", None).await;
    assert_eq!(b, json!({"Data": [], "Pages": 0}));
}

#[tokio::test]
async fn create_get_update_delete_with_friendly_id_and_object_id() {
    let (gw, _up) = gateway(0).await;
    let key = gw.create_key(key_for(&["a"])).await;
    let _ = key;
    // Create with a friendly id: the answer names it; an _id is generated.
    let (s, b) = dash(
        &gw,
        "POST",
        "/api/portal/policies",
        Some(pol("gold", "Gold")),
    )
    .await;
    assert_eq!(
        (s, b),
        (
            200,
            json!({"Status": "OK", "Message": "gold", "Meta": null})
        )
    );
    let (_, got) = dash(&gw, "GET", "/api/portal/policies/gold", None).await;
    let oid = got["_id"].as_str().unwrap().to_string();
    assert_eq!(oid.len(), 24);
    assert!(oid.bytes().all(|c| c.is_ascii_hexdigit()));
    let (s, by_oid) = dash(&gw, "GET", &format!("/api/portal/policies/{oid}"), None).await;
    assert_eq!(
        (s, by_oid["id"].clone()),
        (200, json!("gold")),
        "_id resolves too"
    );

    // The policy is live: a key using it works.
    let k = gw.create_key(key_with_policies(&["gold"])).await;
    assert_eq!(gw.get_with("/a/x", &k).await.status, 200);

    // Create without a friendly id: the generated _id is the handle.
    let mut anon = pol("", "Anonymous");
    anon.as_object_mut().unwrap().remove("id");
    let (s, b) = dash(&gw, "POST", "/api/portal/policies", Some(anon)).await;
    assert_eq!(s, 200);
    let anon_id = b["Message"].as_str().unwrap().to_string();
    assert_eq!(anon_id.len(), 24);
    let (s, _) = dash(&gw, "GET", &format!("/api/portal/policies/{anon_id}"), None).await;
    assert_eq!(s, 200);

    // Same friendly id again: conflict, nothing changed.
    let (s, b) = dash(
        &gw,
        "POST",
        "/api/portal/policies",
        Some(pol("gold", "Other")),
    )
    .await;
    assert_eq!((s, b["Status"].clone()), (409, json!("Error")));

    // Update by _id keeps both ids; the change is enforced at once.
    let mut upd = pol("gold", "Gold v2");
    upd["access_rights"] = json!({"b": {"api_id": "b", "versions": ["Default"]}});
    let (s, b) = dash(
        &gw,
        "PUT",
        &format!("/api/portal/policies/{oid}"),
        Some(upd),
    )
    .await;
    assert_eq!(
        (s, b),
        (
            200,
            json!({"Status": "OK", "Message": "Data updated", "Meta": null})
        )
    );
    let (_, got) = dash(&gw, "GET", "/api/portal/policies/gold", None).await;
    assert_eq!(
        (got["name"].clone(), got["_id"].clone()),
        (json!("Gold v2"), json!(oid))
    );
    assert_eq!(
        gw.get_with("/a/x", &k).await.status,
        403,
        "gold no longer grants api a"
    );

    let (s, b) = dash(
        &gw,
        "PUT",
        "/api/portal/policies/gold",
        Some(pol("silver", "x")),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = dash(&gw, "PUT", "/api/portal/policies/nope", Some(pol("", "x"))).await;
    assert_eq!(
        (s, b),
        (
            404,
            json!({"Status": "Error", "Message": "Policy not found", "Meta": null})
        )
    );

    let (s, b) = dash(&gw, "DELETE", "/api/portal/policies/gold", None).await;
    assert_eq!(
        (s, b),
        (
            200,
            json!({"Status": "OK", "Message": "Data deleted", "Meta": null})
        )
    );
    let (s, _) = dash(&gw, "GET", "/api/portal/policies/gold", None).await;
    assert_eq!(s, 404);
    let (s, _) = dash(&gw, "DELETE", "/api/portal/policies/gold", None).await;
    assert_eq!(s, 404);
    assert_eq!(gw.get_with("/a/x", &k).await.status, 403);
}

#[tokio::test]
async fn bad_bodies_list_every_problem_and_write_nothing() {
    let (gw, _up) = gateway(1).await;
    let file = gw.config.policies.policy_record_name.clone();
    let before = std::fs::read(&file).unwrap();
    let body = json!({"id": "bad id", "quota_max": 5, "quota_renewal_rate": -1,
        "access_rights": {"a": {"api_id": "b", "allowed_urls": [{"url": "^/(x", "methods": ["GET"]}]}}});
    let (s, b) = dash(&gw, "POST", "/api/portal/policies", Some(body)).await;
    assert_eq!(s, 400, "{b}");
    let errors = b["Errors"].as_array().unwrap();
    assert_eq!(errors.len(), 4, "{b}");
    assert!(
        b["Message"]
            .as_str()
            .unwrap()
            .contains("allowed_urls[0].url"),
        "{b}"
    );
    let r = gw
        .admin_raw(
            "POST",
            "/api/portal/policies",
            &[("authorization", SECRET)],
            "{nope",
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["Message"]
        .as_str()
        .unwrap()
        .contains("invalid JSON"));
    let (s, b) = dash(
        &gw,
        "POST",
        "/api/portal/policies",
        Some(pol("search", "Shadowed")),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(b["Message"].as_str().unwrap().contains("reserved"), "{b}");
    let (s, b) = dash(
        &gw,
        "POST",
        "/api/portal/policies",
        Some(json!({"quota_max": "many"})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b["Message"].as_str().unwrap().contains("quota_max"), "{b}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[tokio::test]
async fn authentication() {
    let (gw, _up) = gateway(1).await;
    let unauth = json!({"Status": "Error", "Message": "Not authorised", "Meta": null});
    for headers in [
        vec![],
        vec![("authorization", "wrong")],
        vec![("X-Tyk-Authorization", SECRET)],
    ] {
        let r = gw
            .admin_raw("GET", "/api/portal/policies", &headers, "")
            .await;
        assert_eq!((r.status, r.json()), (401, unauth.clone()), "{headers:?}");
        let r = gw
            .admin_raw("DELETE", "/api/portal/policies/p00", &headers, "")
            .await;
        assert_eq!(r.status, 401);
    }
    let (s, _) = dash(&gw, "GET", "/api/portal/policies/p00", None).await;
    assert_eq!(s, 200, "nothing was deleted");
}

#[tokio::test]
async fn api_list_for_selectors() {
    let up = MockUpstream::start().await;
    let tagged = with(
        api("b", "/b/", &up.url()),
        json!({"tags": ["public", "v1"]}),
    );
    let gw = TestGateway::start(Opts::apis(vec![api("a", "/a/", &up.url()), tagged])).await;
    let (s, b) = dash(&gw, "GET", "/api/apis", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["pages"], 1);
    let apis = b["apis"].as_array().unwrap();
    assert_eq!(apis.len(), 2);
    assert_eq!(apis[1]["api_definition"]["tags"], json!(["public", "v1"]));
    let (s, one) = dash(&gw, "GET", "/api/apis/a", None).await;
    assert_eq!(
        (s, one["api_definition"]["api_id"].clone()),
        (200, json!("a"))
    );
}

#[tokio::test]
async fn separate_control_port_serves_the_dashboard_api() {
    let up = MockUpstream::start().await;
    let port = refused_addr().port();
    let gw = TestGateway::start(
        Opts::apis(vec![api("a", "/", &up.url())]).conf(json!({"control_api_port": port})),
    )
    .await;
    let (s, _) = dash(&gw, "GET", "/api/portal/policies", None).await;
    assert_eq!(s, 200);
    // On the proxy port the path belongs to the proxied API.
    let k = gw.create_key(key_for(&["a"])).await;
    assert_eq!(gw.get_with("/api/portal/policies", &k).await.status, 200);
    assert_eq!(up.last().uri, "/api/portal/policies");
}

#[tokio::test]
async fn an_api_listening_on_api_keeps_its_paths_on_a_shared_port() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("a", "/api/", &up.url())])).await;
    let k = gw.create_key(key_for(&["a"])).await;
    let r = gw.get_with("/api/apis/1", &k).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.last().uri, "/api/apis/1");
    // Without such an API the Dashboard paths are served as usual.
    let gw2 = TestGateway::start(Opts::apis(vec![api("b", "/", &up.url())])).await;
    let (s, _) = dash(&gw2, "GET", "/api/apis", None).await;
    assert_eq!(s, 200);
}
