//! SCIM provisioning scenarios (part of the one integration binary, `tests/gateway.rs`): the
//! requests Entra ID, Okta, JumpCloud and OneLogin send, replayed in their shapes, and what
//! provisioning does to sessions, seats and the groups policies see.

use std::time::Duration;

use portcullis_store::ScimLogQuery;
use portcullis_testkit::{APP, Options, TEAM, TestGateway};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::echo_with;

const SECRET: &str = "scim-test-secret-0123456789";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn scim_options(settings: &str) -> Options {
    Options {
        scim: Some(format!("enabled = true, secret = \"{SECRET}\"{settings}")),
        ..Options::default()
    }
}

/// A SCIM client of the test gateway's first login method.
struct Client<'a> {
    gw: &'a TestGateway,
    http: reqwest::Client,
    base: String,
    auth: String,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl<'a> Client<'a> {
    fn new(gw: &'a TestGateway) -> Self {
        let idp = gw.gateway().snapshot.load().login_methods[0].id.0;
        Client {
            gw,
            http: gw.raw_client(),
            base: gw.url(TEAM, &format!("/scim/{idp}/v2")),
            auth: format!("Bearer {SECRET}"),
        }
    }

    fn with_auth(mut self, auth: &str) -> Self {
        self.auth = auth.to_owned();
        self
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", &self.auth);
        if let Some(body) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send("POST", path, Some(body)).await
    }

    async fn patch(&self, path: &str, operations: Value) -> Answer {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations,
        });
        self.send("PATCH", path, Some(body)).await
    }

    /// Creates a user the way Entra does and returns its id.
    async fn create_user(&self, email: &str) -> String {
        let created = self
            .post(
                "/Users",
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "externalId": format!("ext-{email}"),
                    "userName": email,
                    "active": true,
                    "emails": [{"primary": true, "type": "work", "value": email}],
                    "name": {"givenName": "Test", "familyName": "User"},
                }),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        created.body["id"].as_str().unwrap().to_owned()
    }

    async fn create_group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let created = self
            .post(
                "/Groups",
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name,
                    "members": members,
                }),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        created.body["id"].as_str().unwrap().to_owned()
    }

    async fn member_ids(&self, group: &str) -> Vec<String> {
        let got = self.get(&format!("/Groups/{group}")).await;
        assert_eq!(got.status, 200, "{}", got.body);
        let mut ids: Vec<String> = got.body["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|m| m["value"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    async fn registry_user(&self, email: &str) -> Option<portcullis_store::UserRecord> {
        self.gw
            .gateway()
            .store
            .find_user_by_email(email)
            .await
            .unwrap()
    }
}

fn total(answer: &Answer) -> u64 {
    answer.body["totalResults"].as_u64().unwrap()
}

// ---- the endpoint ------------------------------------------------------------------------------

#[tokio::test]
async fn discovery_auth_and_errors_speak_scim() {
    let gw = TestGateway::start(scim_options("")).await;
    let scim = Client::new(&gw);
    let config = scim.get("/ServiceProviderConfig").await;
    assert_eq!(config.status, 200);
    assert_eq!(
        config.headers["content-type"].to_str().unwrap(),
        "application/scim+json"
    );
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(total(&scim.get("/ResourceTypes").await), 2);
    assert_eq!(total(&scim.get("/Schemas").await), 3);
    assert_eq!(scim.get("/ResourceTypes/User").await.status, 200);

    // The bare secret (Okta header auth) works; a wrong or missing one does not.
    let bare = Client::new(&gw).with_auth(SECRET);
    assert_eq!(bare.get("/Users").await.status, 200);
    let wrong = Client::new(&gw).with_auth("Bearer not-the-secret-at-all");
    let refused = wrong.get("/Users").await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["status"], "401");
    assert_eq!(
        refused.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    // A login method without SCIM has no endpoint.
    let other = gw.raw_client();
    let missing = other
        .get(gw.url(TEAM, &format!("/scim/{}/v2/Users", uuid::Uuid::new_v4())))
        .header("authorization", format!("Bearer {SECRET}"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let bad_filter = scim.get("/Users?filter=userName%20zz%20%22x%22").await;
    assert_eq!(bad_filter.status, 400);
    assert_eq!(bad_filter.body["scimType"], "invalidFilter");
    assert_eq!(scim.get("/Users/nope").await.status, 404);
    let put_missing = scim
        .send(
            "PUT",
            "/Users/nope",
            Some(json!({"userName": "x@example.com"})),
        )
        .await;
    assert_eq!(put_missing.status, 404, "PUT never creates");
    let huge = "x".repeat(2 * 1024 * 1024);
    let too_big = scim
        .post(
            "/Users",
            json!({"userName": "big@example.com", "nickName": huge}),
        )
        .await;
    assert_eq!(too_big.status, 413);
    assert_eq!(
        scim.send("POST", "/Bulk", Some(json!({}))).await.status,
        501
    );

    let id = scim.create_user("ann@example.com").await;
    let clash = scim
        .post("/Users", json!({"userName": "ANN@example.com"}))
        .await;
    assert_eq!(clash.status, 409);
    assert_eq!(clash.body["scimType"], "uniqueness");
    scim.create_group("Eng", &[]).await;
    assert_eq!(
        scim.post("/Groups", json!({"displayName": "eng"}))
            .await
            .status,
        409
    );

    // ETags and If-Match.
    let got = scim.get(&format!("/Users/{id}")).await;
    let etag = got.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(got.body["meta"]["version"], etag);
    let stale = scim
        .http
        .patch(format!("{}/Users/{id}", scim.base))
        .header("authorization", &scim.auth)
        .header("if-match", "W/\"99\"")
        .body(
            json!({"Operations": [{"op": "replace", "path": "displayName", "value": "A"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let fresh = scim
        .http
        .patch(format!("{}/Users/{id}", scim.base))
        .header("authorization", &scim.auth)
        .header("if-match", etag)
        .body(
            json!({"Operations": [{"op": "replace", "path": "displayName", "value": "A"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
}

#[tokio::test]
async fn search_by_post_answers_like_a_get_and_is_not_logged() {
    let gw = TestGateway::start(scim_options("")).await;
    let scim = Client::new(&gw);
    for name in ["ann", "abe", "bob"] {
        scim.create_user(&format!("{name}@example.com")).await;
    }
    let group = scim.create_group("Sales", &[]).await;
    let found = scim
        .post(
            "/Users/.search",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "userName sw \"a\"",
                "attributes": ["userName"],
                "sortBy": "userName",
                "sortOrder": "descending",
                "startIndex": 1,
                "count": 10
            }),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(
        found.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    assert_eq!(total(&found), 2);
    let names: Vec<&str> = found.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ann@example.com", "abe@example.com"]);
    assert!(found.body["Resources"][0].get("emails").is_none());
    let groups = scim
        .post(
            "/Groups/.search",
            json!({"filter": "displayName eq \"Sales\"", "excludedAttributes": ["members"]}),
        )
        .await;
    assert_eq!(groups.status, 200, "{}", groups.body);
    assert_eq!(groups.body["Resources"][0]["id"], group.as_str());
    let bad = scim
        .post("/Users/.search", json!({"filter": "userName zz 1"}))
        .await;
    assert_eq!(
        (bad.status, bad.body["scimType"].as_str()),
        (400, Some("invalidFilter"))
    );
    let across = scim.post("/.search", json!({})).await;
    assert_eq!(across.status, 501, "{}", across.body);
    let logged = gw
        .gateway()
        .store
        .list_scim_logs(&ScimLogQuery::default())
        .await
        .unwrap();
    assert_eq!(
        logged.len(),
        4,
        "three user and one group creation; searches are reads"
    );
}

#[tokio::test]
async fn the_provisioning_log_records_writes_without_passwords() {
    let gw = TestGateway::start(scim_options("")).await;
    let scim = Client::new(&gw);
    let created = scim
        .post(
            "/Users",
            json!({"userName": "pat@example.com", "password": "hunter2-secret", "externalId": "okta-1"}),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        scim.post("/Users", json!({"nickName": "x"})).await.status,
        400
    );
    let logs = gw
        .gateway()
        .store
        .list_scim_logs(&ScimLogQuery {
            descending: false,
            ..ScimLogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(logs.len(), 2);
    let ok = &logs[0];
    assert!(ok.success);
    assert_eq!(ok.request_method, "POST");
    assert_eq!(ok.resource_type, "USER");
    assert_eq!(ok.user_email.as_deref(), Some("pat@example.com"));
    assert_eq!(ok.resource_id.as_deref(), Some(id));
    assert_eq!(ok.external_id.as_deref(), Some("okta-1"));
    let body = ok.request_body.as_ref().unwrap().to_string();
    assert!(!body.contains("hunter2"), "{body}");
    assert!(!logs[1].success);
    assert!(
        logs[1]
            .error_description
            .as_deref()
            .unwrap()
            .contains("userName")
    );
}

// ---- replays -----------------------------------------------------------------------------------

#[tokio::test]
async fn entra_without_the_2020_flag() {
    let gw = TestGateway::start(scim_options("")).await;
    let scim = Client::new(&gw);
    let probe = scim
        .get("/Users?filter=userName+eq+%22ann%40example.com%22")
        .await;
    assert_eq!((probe.status, total(&probe)), (200, 0));
    let created = scim
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "externalId": "aad-ann",
                "userName": "Ann@Example.com",
                "active": true,
                "displayName": "Ann Example",
                "emails": [{"primary": true, "type": "work", "value": "Ann@Example.com"}],
                "name": {"givenName": "Ann", "familyName": "Example"},
                ENTERPRISE: {"employeeNumber": "1001", "department": "R&D"},
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let uid = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.headers["location"].to_str().unwrap(),
        created.body["meta"]["location"].as_str().unwrap()
    );
    assert!(created.headers.contains_key("etag"));
    // The registry has her before her first login, without a seat.
    let registered = scim.registry_user("ann@example.com").await.unwrap();
    assert!(!registered.seat);
    assert_eq!(registered.last_login_at, None);

    let by_external = scim.get("/Users?filter=externalId+eq+%22aad-ann%22").await;
    assert_eq!(total(&by_external), 1);
    let by_mail = scim
        .get("/Users?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22ann%40example.com%22")
        .await;
    assert_eq!(total(&by_mail), 1);

    let group_probe = scim
        .get("/Groups?excludedAttributes=members&filter=displayName+eq+%22Eng%22")
        .await;
    assert_eq!(total(&group_probe), 0);
    let gid = scim.create_group("Eng", &[]).await;
    let bob = scim.create_user("bob@example.com").await;
    let add = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "Add", "path": "members", "value": [{"value": uid}, {"value": bob}]}]),
        )
        .await;
    assert_eq!(add.status, 200, "{}", add.body);
    let updated = scim
        .patch(
            &format!("/Users/{uid}"),
            json!([
                {"op": "Replace", "path": "name.givenName", "value": "Annie"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "Ann@Example.com"},
                {"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Ops"},
            ]),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["name"]["givenName"], "Annie");
    assert_eq!(updated.body[ENTERPRISE]["department"], "Ops");
    // Removal by value list removes only the listed member.
    let removed = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "Remove", "path": "members", "value": [{"value": uid}]}]),
        )
        .await;
    assert_eq!(removed.status, 200);
    assert_eq!(scim.member_ids(&gid).await, [bob]);
    let disabled = scim
        .patch(
            &format!("/Users/{uid}"),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(disabled.status, 200);
    assert_eq!(disabled.body["active"], false);
    let still_there = scim.get(&format!("/Users/{uid}")).await;
    assert_eq!(
        (still_there.status, &still_there.body["active"]),
        (200, &json!(false))
    );
    assert_eq!(
        scim.send("DELETE", &format!("/Users/{uid}"), None)
            .await
            .status,
        204
    );
    assert_eq!(scim.get(&format!("/Users/{uid}")).await.status, 404);
    assert!(scim.registry_user("ann@example.com").await.is_some());
}

#[tokio::test]
async fn entra_with_the_2020_flag() {
    let gw = TestGateway::start(scim_options("")).await;
    let scim = Client::new(&gw);
    let uid = scim.create_user("cy@example.com").await;
    let other = scim.create_user("dee@example.com").await;
    let replaced = scim
        .patch(
            &format!("/Users/{uid}"),
            json!([{"op": "replace", "value": {
                "name.givenName": "Cyril",
                "displayName": "Cyril C",
                format!("{ENTERPRISE}:employeeNumber"): "42",
            }}]),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.body["name"]["givenName"], "Cyril");
    assert_eq!(replaced.body[ENTERPRISE]["employeeNumber"], "42");
    let gid = scim.create_group("Sales", &[&uid, &other]).await;
    let removed = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{uid}\"]")}]),
        )
        .await;
    assert_eq!(removed.status, 200);
    assert_eq!(scim.member_ids(&gid).await, [other]);
    let disabled = scim
        .patch(
            &format!("/Users/{uid}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(disabled.body["active"], false);
    let listed = scim
        .get("/Groups?excludedAttributes=members&filter=displayName+eq+%22sales%22")
        .await;
    assert_eq!(total(&listed), 1);
    assert!(listed.body["Resources"][0].get("members").is_none());
}

#[tokio::test]
async fn okta_wizard_app_puts_and_pushes_groups() {
    let gw = TestGateway::start(scim_options("")).await;
    let scim = Client::new(&gw);
    let test_connection = scim.get("/Users?startIndex=1&count=2").await;
    assert_eq!(test_connection.status, 200);
    assert_eq!(test_connection.body["itemsPerPage"], 0);
    assert_eq!(scim.get("/Groups?startIndex=1&count=100").await.status, 200);
    let created = scim
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "eve@example.com",
                "name": {"givenName": "Eve", "familyName": "Adams"},
                "emails": [{"primary": true, "value": "eve@example.com", "type": "work"}],
                "displayName": "Eve Adams",
                "locale": "en-US",
                "externalId": "00u1",
                "groups": [],
                "password": "Okta-sends-this-1",
                "active": true,
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let uid = created.body["id"].as_str().unwrap().to_owned();
    let mut full = created.body.clone();
    full["name"]["familyName"] = json!("Baker");
    let put = scim
        .send("PUT", &format!("/Users/{uid}"), Some(full.clone()))
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["name"]["familyName"], "Baker");
    assert_eq!(put.body["meta"]["version"], "W/\"2\"");
    full["active"] = json!(false);
    let suspended = scim.send("PUT", &format!("/Users/{uid}"), Some(full)).await;
    assert_eq!(suspended.body["active"], false);

    // Group push: create, add without type, rename, "push now" of an empty group, full PUT.
    let gid = scim.create_group("Okta Everyone", &[]).await;
    let added = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": [{"value": uid, "display": "eve@example.com"}]}]),
        )
        .await;
    assert_eq!(added.status, 200);
    assert_eq!(added.body["members"][0]["display"], "eve@example.com");
    let renamed = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "value": {"id": gid, "displayName": "Okta All"}}]),
        )
        .await;
    assert_eq!(renamed.body["displayName"], "Okta All");
    let emptied = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "path": "members", "value": []}]),
        )
        .await;
    assert_eq!(emptied.status, 200);
    assert!(scim.member_ids(&gid).await.is_empty());
    let put = scim
        .send(
            "PUT",
            &format!("/Groups/{gid}"),
            Some(json!({"displayName": "Okta All", "members": [{"value": uid}]})),
        )
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(scim.member_ids(&gid).await, [uid]);
    assert_eq!(
        scim.send("DELETE", &format!("/Groups/{gid}"), None)
            .await
            .status,
        204
    );
    assert_eq!(scim.get(&format!("/Groups/{gid}")).await.status, 404);
}

#[tokio::test]
async fn okta_catalogue_app_patches_and_deactivates_without_a_path() {
    let gw = TestGateway::start(scim_options("")).await;
    let scim = Client::new(&gw);
    let uid = scim.create_user("fay@example.com").await;
    let found = scim
        .get("/Users?filter=userName%20eq%20%22FAY%40example.com%22")
        .await;
    assert_eq!(total(&found), 1, "userName is matched case-insensitively");
    let off = scim
        .patch(
            &format!("/Users/{uid}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(off.body["active"], false);
    let on = scim
        .patch(
            &format!("/Users/{uid}"),
            json!([{"op": "replace", "value": {"active": true}}]),
        )
        .await;
    assert_eq!(on.body["active"], true);
}

#[tokio::test]
async fn jumpcloud_repeats_member_adds() {
    let gw = TestGateway::start(scim_options("")).await;
    let scim = Client::new(&gw);
    let uid = scim.create_user("gil@example.com").await;
    let gid = scim.create_group("jc-group", &[]).await;
    for _ in 0..3 {
        let add = scim
            .patch(
                &format!("/Groups/{gid}"),
                json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]),
            )
            .await;
        assert_eq!(add.status, 200);
    }
    assert_eq!(scim.member_ids(&gid).await, [uid]);
}

#[tokio::test]
async fn onelogin_patches_membership() {
    let gw = TestGateway::start(scim_options("")).await;
    let scim = Client::new(&gw);
    let a = scim.create_user("hal@example.com").await;
    let b = scim.create_user("ivy@example.com").await;
    let gid = scim.create_group("OneLogin Role", &[]).await;
    scim.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]}]),
    )
    .await;
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(scim.member_ids(&gid).await, both);
    scim.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "remove", "path": "members", "value": [{"value": a}]}]),
    )
    .await;
    assert_eq!(scim.member_ids(&gid).await, [b]);
    // Deleting a user removes them from their groups.
    scim.send(
        "DELETE",
        &format!("/Users/{}", scim.member_ids(&gid).await[0]),
        None,
    )
    .await;
    assert!(scim.member_ids(&gid).await.is_empty());
}

#[tokio::test]
async fn concurrent_member_adds_to_one_group_lose_nothing() {
    let gw = TestGateway::start(scim_options("")).await;
    let scim = Client::new(&gw);
    let gid = scim.create_group("Busy", &[]).await;
    let path = format!("/Groups/{gid}");
    let adds = (0..10).map(|i| {
        scim.patch(
            &path,
            json!([{"op": "add", "path": "members", "value": [{"value": format!("m{i}")}]}]),
        )
    });
    for answer in futures_util::future::join_all(adds).await {
        assert_eq!(answer.status, 200);
    }
    assert_eq!(scim.member_ids(&gid).await.len(), 10);
}

// ---- what provisioning does to sessions and identities -----------------------------------------

async fn echo_status(gw: &TestGateway, token: &str) -> u16 {
    echo_with(gw, &[("cf-access-token", token)], "/echo/x")
        .await
        .0
        .as_u16()
}

#[tokio::test]
async fn deprovisioning_ends_sessions_frees_the_seat_and_refuses_login() {
    let gw = TestGateway::start(scim_options(
        ", user_deprovision = true, seat_deprovision = true",
    ))
    .await;
    let scim = Client::new(&gw);
    let uid = scim.create_user("alice@example.com").await;
    let token = gw.app_token().await;
    assert_eq!(echo_status(&gw, &token).await, 200);
    assert!(scim.registry_user("alice@example.com").await.unwrap().seat);
    let off = scim
        .patch(
            &format!("/Users/{uid}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(off.status, 200);
    assert_eq!(
        echo_status(&gw, &token).await,
        401,
        "refused on the next request"
    );
    assert!(!scim.registry_user("alice@example.com").await.unwrap().seat);
    let again = gw.login(&gw.browser(), "/").await;
    assert_eq!(again.status(), 403);
    let page = again.text().await.unwrap();
    assert!(page.contains("deactivated your account"), "{page}");
}

#[tokio::test]
async fn removing_active_reads_back_absent_and_does_not_reactivate() {
    let gw = TestGateway::start(scim_options(", user_deprovision = true")).await;
    let scim = Client::new(&gw);
    let uid = scim.create_user("alice@example.com").await;
    let path = format!("/Users/{uid}");
    let off = scim
        .patch(
            &path,
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(off.body["active"], false);
    let removed = scim
        .patch(&path, json!([{"op": "remove", "path": "active"}]))
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(removed.body.get("active").is_none(), "{}", removed.body);
    assert!(scim.get(&path).await.body.get("active").is_none());
    let login = gw.login(&gw.browser(), "/").await;
    assert_eq!(
        login.status(),
        403,
        "still deactivated: a removal decides nothing"
    );
    let on = scim
        .patch(
            &path,
            json!([{"op": "add", "path": "active", "value": true}]),
        )
        .await;
    assert_eq!(on.body["active"], true);
    assert_eq!(gw.login(&gw.browser(), "/").await.status(), 200);
}

#[tokio::test]
async fn deleting_a_user_deprovisions_them() {
    let gw = TestGateway::start(scim_options(", user_deprovision = true")).await;
    let scim = Client::new(&gw);
    let uid = scim.create_user("alice@example.com").await;
    let token = gw.app_token().await;
    assert_eq!(echo_status(&gw, &token).await, 200);
    assert_eq!(
        scim.send("DELETE", &format!("/Users/{uid}"), None)
            .await
            .status,
        204
    );
    assert_eq!(echo_status(&gw, &token).await, 401);
    assert!(
        scim.registry_user("alice@example.com").await.unwrap().seat,
        "the seat stays without seat_deprovision"
    );
}

#[tokio::test]
async fn reauth_ends_sessions_when_group_membership_changes() {
    let gw = TestGateway::start(scim_options(", identity_update_behavior = \"reauth\"")).await;
    let scim = Client::new(&gw);
    let uid = scim.create_user("alice@example.com").await;
    let gid = scim.create_group("Eng", &[]).await;
    let token = gw.app_token().await;
    assert_eq!(echo_status(&gw, &token).await, 200);
    // A rename is not a membership change.
    scim.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "replace", "path": "displayName", "value": "Engineering"}]),
    )
    .await;
    assert_eq!(echo_status(&gw, &token).await, 200);
    scim.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]),
    )
    .await;
    assert_eq!(echo_status(&gw, &token).await, 401, "must sign in again");
    let fresh = gw.app_token().await;
    assert_eq!(echo_status(&gw, &fresh).await, 200);
}

const ENG_ONLY: &str = r#"[{ name = "eng", decision = "allow", include = [{ oidc = { claim_name = "groups", claim_value = "eng" } }] }]"#;

#[tokio::test]
async fn automatic_updates_give_the_next_login_the_scim_groups() {
    let gw = TestGateway::start(Options {
        policies: ENG_ONLY.into(),
        ..scim_options(", identity_update_behavior = \"automatic\"")
    })
    .await;
    let scim = Client::new(&gw);
    let uid = scim.create_user("alice@example.com").await;
    assert_eq!(
        gw.login(&gw.browser(), "/").await.status(),
        403,
        "the ID token says staff and admins, not eng"
    );
    scim.create_group("eng", &[&uid]).await;
    let resp = gw.login(&gw.browser(), "/echo/x").await;
    assert_eq!(resp.status(), 200, "SCIM membership in eng grants access");
    assert_eq!(resp.url().as_str(), gw.url(APP, "/echo/x"));
}

#[tokio::test]
async fn no_action_changes_neither_sessions_nor_groups() {
    let gw = TestGateway::start(Options {
        policies: ENG_ONLY.into(),
        ..scim_options("")
    })
    .await;
    let scim = Client::new(&gw);
    let uid = scim.create_user("alice@example.com").await;
    scim.create_group("eng", &[&uid]).await;
    assert_eq!(
        gw.login(&gw.browser(), "/").await.status(),
        403,
        "the ID token's groups decide"
    );
    // Deactivation without user_deprovision keeps the sessions (but refuses new logins).
    let gw2 = TestGateway::start(scim_options("")).await;
    let scim2 = Client::new(&gw2);
    let uid2 = scim2.create_user("alice@example.com").await;
    let token = gw2.app_token().await;
    scim2
        .patch(
            &format!("/Users/{uid2}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    gw2.gateway().clock.advance(Duration::from_secs(1));
    assert_eq!(echo_status(&gw2, &token).await, 200);
    assert_eq!(gw2.login(&gw2.browser(), "/").await.status(), 403);
}

#[tokio::test]
async fn a_database_outage_is_a_503_not_a_wrong_secret() {
    let gw = TestGateway::start(scim_options("")).await;
    let client = Client::new(&gw);
    assert_eq!(client.get("/Users").await.status, 200);
    gw.gateway().store.close().await;
    let answer = client.get("/Users").await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["status"], "503");
}
