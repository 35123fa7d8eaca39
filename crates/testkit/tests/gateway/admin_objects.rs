//! Login methods, applications, reusable policies and rule groups made, changed and removed
//! through the admin API: in force on the next request, validated with messages that name the
//! field, refused when the configuration file declares them or another object still uses them.

use reqwest::Method as M;
use serde_json::{Value, json};

use super::{ADMIN_TOKEN, api};
use portcullis_testkit::{Options, TEAM, TestGateway};

const NEW_APP: &str = "wiki.localhost";

async fn started() -> (TestGateway, String) {
    let gw = TestGateway::start(Options {
        server_extra: format!("admin_token = \"{ADMIN_TOKEN}\""),
        ..Options::default()
    })
    .await;
    let base = format!("/accounts/{}/access", gw.gateway().account_id);
    (gw, base)
}

/// A browser that also resolves the application made in these tests.
fn browser(gw: &TestGateway) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .resolve(TEAM, gw.addr())
        .resolve(NEW_APP, gw.addr())
        .default_headers(
            [(
                reqwest::header::ACCEPT,
                reqwest::header::HeaderValue::from_static("text/html"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap()
}

fn login_method(gw: &TestGateway, name: &str) -> Value {
    let issuer = gw.idp.issuer().to_owned();
    json!({
        "name": name,
        "type": "oidc",
        "config": {
            "client_id": gw.idp.client_id(),
            "client_secret": gw.idp.client_secret(),
            "discovery_url": format!("{issuer}/.well-known/openid-configuration"),
            "pkce_enabled": true,
        },
    })
}

async fn ok(gw: &TestGateway, method: M, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = api(gw, method.clone(), path, ADMIN_TOKEN, body).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {answer}"
    );
    assert_eq!(answer["success"], true);
    answer["result"].clone()
}

async fn refused(gw: &TestGateway, method: M, path: &str, body: Option<Value>) -> (u16, String) {
    let (status, answer) = api(gw, method, path, ADMIN_TOKEN, body).await;
    assert_eq!(answer["success"], false, "{answer}");
    (
        status,
        answer["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn a_login_method_policy_and_app_made_through_the_api_let_a_user_in_at_once() {
    let (gw, base) = started().await;
    let idp = ok(
        &gw,
        M::POST,
        &format!("{base}/identity_providers"),
        Some(login_method(&gw, "Wiki IdP")),
    )
    .await;
    let idp_id = idp["id"].as_str().unwrap().to_owned();
    assert_eq!(idp["read_only"], false);
    assert!(idp["config"].get("client_secret").is_none());

    let policy = ok(
        &gw,
        M::POST,
        &format!("{base}/policies"),
        Some(json!({
            "name": "alice only",
            "decision": "allow",
            "include": [{"email": {"email": "alice@example.com"}}],
        })),
    )
    .await;
    let policy_id = policy["id"].as_str().unwrap().to_owned();
    assert_eq!(policy["app_count"], 0);

    let app = ok(
        &gw,
        M::POST,
        &format!("{base}/apps"),
        Some(json!({
            "type": "self_hosted",
            "name": "wiki",
            "domain": NEW_APP,
            "origin": format!("http://{}", gw.origin_addr),
            "allowed_idps": [idp_id],
            "auto_redirect_to_identity": true,
            "policies": [{"id": policy_id, "precedence": 1}],
        })),
    )
    .await;
    let aud = app["aud"].as_str().unwrap().to_owned();
    assert_eq!(aud.len(), 64);
    assert_eq!(app["policies"][0]["id"], json!(policy_id));
    assert_eq!(app["policies"][0]["reusable"], true);

    // In force for the very next request: alice signs in through the new login method.
    let b = browser(&gw);
    let page = b.get(gw.url(NEW_APP, "/echo/hello")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let echoed: Value = page.json().await.unwrap();
    assert_eq!(echoed["path"], "/echo/hello", "{echoed}");

    // The AUD stays when the application is replaced; what GET returned can be sent back.
    let mut edited = ok(
        &gw,
        M::GET,
        &format!("{base}/apps/{}", app["id"].as_str().unwrap()),
        None,
    )
    .await;
    edited["session_duration"] = json!("2h");
    let replaced = ok(
        &gw,
        M::PUT,
        &format!("{base}/apps/{}", app["id"].as_str().unwrap()),
        Some(edited),
    )
    .await;
    assert_eq!(replaced["aud"], json!(aud));
    assert_eq!(replaced["session_duration"], "2h0m0s");
    assert_eq!(
        replaced["policies"][0]["id"],
        json!(policy_id),
        "still a reference"
    );
    let listed = ok(&gw, M::GET, &format!("{base}/policies/{policy_id}"), None).await;
    assert_eq!(listed["app_count"], 1);

    // A policy in use cannot go; a login method an app allows cannot go.
    let (status, message) = refused(
        &gw,
        M::DELETE,
        &format!("{base}/policies/{policy_id}"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        message.contains("still in use") && message.contains("wiki"),
        "{message}"
    );
    let (status, message) = refused(
        &gw,
        M::DELETE,
        &format!("{base}/identity_providers/{idp_id}"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("allowed_idps"), "{message}");

    // Changing the policy changes who gets in, for new sign-ins.
    ok(
        &gw,
        M::PUT,
        &format!("{base}/policies/{policy_id}"),
        Some(json!({
            "name": "bob only",
            "decision": "allow",
            "include": [{"email": {"email": "bob@example.com"}}],
        })),
    )
    .await;
    let refused_page = browser(&gw).get(gw.url(NEW_APP, "/")).send().await.unwrap();
    assert_eq!(refused_page.status(), 403);

    // Deleting the application stops routing its domain; then the policy and login method go.
    ok(
        &gw,
        M::DELETE,
        &format!("{base}/apps/{}", app["id"].as_str().unwrap()),
        None,
    )
    .await;
    let gone = b.get(gw.url(NEW_APP, "/echo/hello")).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    ok(
        &gw,
        M::DELETE,
        &format!("{base}/policies/{policy_id}"),
        None,
    )
    .await;
    ok(
        &gw,
        M::DELETE,
        &format!("{base}/identity_providers/{idp_id}"),
        None,
    )
    .await;
    let (status, _) = refused(
        &gw,
        M::GET,
        &format!("{base}/identity_providers/{idp_id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_objects_are_refused_with_the_field_named() {
    let (gw, base) = started().await;
    let origin = format!("http://{}", gw.origin_addr);
    let cases = [
        (
            "apps",
            json!({"name": "x", "domain": NEW_APP, "origin": "not a url", "policies": [{"name": "p", "decision": "allow", "include": [{"everyone": {}}]}]}),
            "origin",
        ),
        (
            "apps",
            json!({"name": "x", "domain": NEW_APP, "origin": origin, "policies": []}),
            "policies",
        ),
        (
            "apps",
            json!({"name": "x", "domain": NEW_APP, "origin": origin, "colour": "red", "policies": [{"name": "p", "decision": "allow", "include": [{"everyone": {}}]}]}),
            "colour",
        ),
        (
            "apps",
            json!({"name": "x", "domain": NEW_APP, "origin": origin, "policies": [{"id": "no-such-policy"}]}),
            "no-such-policy",
        ),
        (
            "apps",
            json!({"name": "x", "domain": portcullis_testkit::APP, "origin": origin, "policies": [{"name": "p", "decision": "allow", "include": [{"everyone": {}}]}]}),
            "domain",
        ),
        (
            "apps",
            json!({"type": "saas", "name": "x", "domain": NEW_APP}),
            "type",
        ),
        (
            "policies",
            json!({"name": "p", "decision": "maybe", "include": [{"everyone": {}}]}),
            "maybe",
        ),
        (
            "policies",
            json!({"decision": "allow", "include": [{"everyone": {}}]}),
            "name",
        ),
        (
            "policies",
            json!({"name": "p", "decision": "allow", "include": [{"group": {"id": "nope"}}]}),
            "nope",
        ),
        ("groups", json!({"name": "g", "include": []}), "include"),
        (
            "identity_providers",
            json!({"name": "n", "type": "oidc", "config": {"client_id": "c", "discovery_url": "http://127.0.0.1:9/x"}}),
            "config.client_secret",
        ),
        (
            "identity_providers",
            json!({"name": "n", "type": "saml", "config": {"client_id": "c", "client_secret": "s"}}),
            "type",
        ),
        (
            "identity_providers",
            json!({"name": "n", "type": "oidc", "config": {"client_id": "c", "client_secret": "s", "auth_url": "http://127.0.0.1:9/a"}}),
            "config.token_url",
        ),
    ];
    for (resource, body, field) in cases {
        let (status, message) = refused(
            &gw,
            M::POST,
            &format!("{base}/{resource}"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{resource} {body}: {message}");
        assert!(
            message.contains(field),
            "{resource} {body}: `{message}` should name {field}"
        );
    }
    // Nothing was written.
    let apps = ok(&gw, M::GET, &format!("{base}/apps"), None).await;
    assert_eq!(apps.as_array().unwrap().len(), 1);
    let policies = ok(&gw, M::GET, &format!("{base}/policies"), None).await;
    assert_eq!(policies.as_array().unwrap().len(), 0);

    // A second login method with a name already taken: 409.
    let taken = login_method(&gw, "Test IdP");
    let (status, message) = refused(
        &gw,
        M::POST,
        &format!("{base}/identity_providers"),
        Some(taken),
    )
    .await;
    assert_eq!(status, 409, "{message}");
}

#[tokio::test]
async fn configuration_file_objects_are_read_only() {
    let (gw, base) = started().await;
    let app = ok(&gw, M::GET, &format!("{base}/apps"), None).await[0].clone();
    assert_eq!(app["read_only"], true);
    let id = app["id"].as_str().unwrap();
    let (status, message) =
        refused(&gw, M::PUT, &format!("{base}/apps/{id}"), Some(app.clone())).await;
    assert_eq!(status, 403);
    assert!(message.contains("configuration file"), "{message}");
    let (status, _) = refused(&gw, M::DELETE, &format!("{base}/apps/{id}"), None).await;
    assert_eq!(status, 403);
    let idp = ok(&gw, M::GET, &format!("{base}/identity_providers"), None).await[0].clone();
    let (status, _) = refused(
        &gw,
        M::DELETE,
        &format!("{base}/identity_providers/{}", idp["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 403);

    // A read-scoped token may read but not write.
    let (_, reader) = portcullis::admin_api::create_api_token(
        gw.gateway().store.as_ref(),
        "reader",
        portcullis::admin_api::Scope::Read,
        gw.gateway().clock.now(),
    )
    .await
    .unwrap();
    let (status, _) = api(&gw, M::GET, &format!("{base}/policies"), &reader, None).await;
    assert_eq!(status, 200);
    let (status, _) = api(
        &gw,
        M::POST,
        &format!("{base}/policies"),
        &reader,
        Some(json!({"name": "p", "decision": "allow", "include": [{"everyone": {}}]})),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn rule_groups_and_scim_secrets_through_the_api() {
    let (gw, base) = started().await;
    let group = ok(
        &gw,
        M::POST,
        &format!("{base}/groups"),
        Some(json!({"name": "example staff", "include": [{"email_domain": {"domain": "example.com"}}]})),
    )
    .await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    assert_eq!(group["read_only"], false);
    let policy = ok(
        &gw,
        M::POST,
        &format!("{base}/policies"),
        Some(
            json!({"name": "staff", "decision": "allow", "include": [{"group": {"id": group_id}}]}),
        ),
    )
    .await;
    let (status, message) =
        refused(&gw, M::DELETE, &format!("{base}/groups/{group_id}"), None).await;
    assert_eq!(status, 400);
    assert!(message.contains("staff"), "{message}");
    ok(
        &gw,
        M::PUT,
        &format!("{base}/groups/{group_id}"),
        Some(json!({"name": "renamed", "include": [{"everyone": {}}]})),
    )
    .await;
    let got = ok(&gw, M::GET, &format!("{base}/groups/{group_id}"), None).await;
    assert_eq!(got["name"], "renamed");
    ok(
        &gw,
        M::DELETE,
        &format!("{base}/policies/{}", policy["id"].as_str().unwrap()),
        None,
    )
    .await;
    ok(&gw, M::DELETE, &format!("{base}/groups/{group_id}"), None).await;

    // SCIM enabled at creation: the secret is shown once and works; a replacement without it
    // keeps it; refresh makes a new one and the old stops.
    let mut method = login_method(&gw, "Provisioned");
    method["scim_config"] = json!({"enabled": true, "user_deprovision": true});
    let idp = ok(
        &gw,
        M::POST,
        &format!("{base}/identity_providers"),
        Some(method),
    )
    .await;
    let secret = idp["scim_config"]["secret"].as_str().unwrap().to_owned();
    let scim_url = idp["scim_config"]["scim_base_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = idp["id"].as_str().unwrap().to_owned();
    let scim_status = |secret: String| {
        let client = gw.raw_client();
        let url = format!("{scim_url}/Users");
        async move {
            client
                .get(url)
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(scim_status(secret.clone()).await, 200);
    let mut again = ok(
        &gw,
        M::GET,
        &format!("{base}/identity_providers/{id}"),
        None,
    )
    .await;
    assert!(again["scim_config"].get("secret").is_none());
    again["config"]["claims"] = json!(["employee_id"]);
    let replaced = ok(
        &gw,
        M::PUT,
        &format!("{base}/identity_providers/{id}"),
        Some(again),
    )
    .await;
    assert!(
        replaced["scim_config"].get("secret").is_none(),
        "not shown again"
    );
    assert_eq!(replaced["config"]["claims"], json!(["employee_id"]));
    assert_eq!(scim_status(secret.clone()).await, 200, "the secret is kept");
    let refreshed = ok(
        &gw,
        M::POST,
        &format!("{base}/identity_providers/{id}/refresh_scim_secret"),
        Some(json!({})),
    )
    .await;
    let new_secret = refreshed["scim_config"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(scim_status(secret).await, 401);
    assert_eq!(scim_status(new_secret.clone()).await, 200);
    let users = ok(
        &gw,
        M::GET,
        &format!("{base}/identity_providers/{id}/scim/users"),
        None,
    )
    .await;
    assert_eq!(users, json!([]));
    let made = gw
        .raw_client()
        .post(format!("{scim_url}/Users"))
        .bearer_auth(&new_secret)
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "carol@example.com",
            "externalId": "ext-carol",
            "emails": [{"value": "carol@example.com", "primary": true}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let scim_users = |query: &'static str| {
        let (gw, base, id) = (&gw, base.clone(), id.clone());
        async move {
            ok(
                gw,
                M::GET,
                &format!("{base}/identity_providers/{id}/scim/users{query}"),
                None,
            )
            .await
        }
    };
    let found = scim_users("?idp_resource_id=ext-carol").await;
    assert_eq!(found[0]["username"], "carol@example.com");
    assert_eq!(scim_users("?username=nobody@example.com").await, json!([]));
    assert_eq!(
        scim_users("?email=carol@example.com&page=2&per_page=1").await,
        json!([])
    );
}

#[tokio::test]
async fn a_snapshot_built_afresh_from_the_store_holds_the_api_objects() {
    let (gw, base) = started().await;
    let policy = ok(
        &gw,
        M::POST,
        &format!("{base}/policies"),
        Some(json!({"name": "everyone", "decision": "allow", "include": [{"everyone": {}}]})),
    )
    .await;
    let id = policy["id"].as_str().unwrap().to_owned();
    // Another gateway on the same database (as after a restart) builds the same objects.
    let gateway = gw.gateway();
    let records = portcullis::objects::fetch(gateway.store.as_ref())
        .await
        .unwrap();
    let built = portcullis::objects::build(
        &records,
        &portcullis::objects::BuildContext {
            server: &gateway.server,
            sealer: &gateway.sealer,
            http: &gateway.http,
        },
        None,
    );
    assert!(built.problems.is_empty(), "{:?}", built.problems);
    assert!(built.snapshot.policy(&id).is_some());
    assert_eq!(built.snapshot.login_methods.len(), 1);
}

#[tokio::test]
async fn the_admin_api_can_have_its_own_listener_and_a_fixed_account_id() {
    const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
    let gw = TestGateway::start(Options {
        server_extra: format!(
            "admin_token = \"{ADMIN_TOKEN}\"\naccount_id = \"{ACCOUNT}\"\nadmin_listen = \"127.0.0.1:0\""
        ),
        ..Options::default()
    })
    .await;
    let admin = gw.running.admin_addr.expect("the admin listener is bound");
    let client = reqwest::Client::new();
    let accounts: Value = client
        .get(format!("http://{admin}/client/v4/accounts"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accounts["result"][0]["id"], ACCOUNT);
    let elsewhere = client
        .get(format!("http://{admin}/cdn-cgi/access/certs"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        elsewhere.status(),
        404,
        "the admin listener serves the API only"
    );
    let on_team = gw
        .raw_client()
        .get(gw.url(TEAM, "/client/v4/accounts"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(on_team.status(), 404, "not on the team domain any more");
}

#[tokio::test]
async fn lists_page_as_cloudflares_do_and_name_clashes_are_not_retried() {
    let (gw, base) = started().await;
    for name in ["a", "b", "c"] {
        ok(
            &gw,
            M::POST,
            &format!("{base}/policies"),
            Some(json!({"name": name, "decision": "allow", "include": [{"everyone": {}}]})),
        )
        .await;
    }
    let page = |query: &'static str| {
        let gw = &gw;
        let base = base.clone();
        async move {
            let (status, body) = api(
                gw,
                M::GET,
                &format!("{base}/policies{query}"),
                ADMIN_TOKEN,
                None,
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let all = page("").await;
    assert_eq!(all["result"].as_array().unwrap().len(), 3);
    assert_eq!(all["result_info"]["total_count"], 3);
    let second = page("?page=2&per_page=2").await;
    assert_eq!(second["result"].as_array().unwrap().len(), 1);
    assert_eq!(second["result_info"]["page"], 2);
    assert_eq!(second["result_info"]["total_pages"], 2);
    let past = page("?page=2").await;
    assert_eq!(
        past["result"],
        json!([]),
        "a page past the end is empty, so walks stop"
    );
    let (status, body) = api(
        &gw,
        M::GET,
        &format!("{base}/policies?page=0"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let clash = gw
        .raw_client()
        .post(gw.url(TEAM, &format!("/client/v4{base}/identity_providers")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&login_method(&gw, "Test IdP"))
        .send()
        .await
        .unwrap();
    assert_eq!(clash.status(), 409);
    assert_eq!(clash.headers()["x-should-retry"], "false");
}

#[tokio::test]
async fn the_key_rotation_interval_is_set_through_the_api_unless_the_file_sets_it() {
    let (gw, base) = started().await;
    let keys = ok(
        &gw,
        M::PUT,
        &format!("{base}/keys"),
        Some(json!({"key_rotation_interval_days": 30})),
    )
    .await;
    assert_eq!(keys["key_rotation_interval_days"], 30);
    assert_eq!(
        gw.gateway().rotation_interval(),
        std::time::Duration::from_secs(30 * 86_400)
    );
    let (status, message) = refused(
        &gw,
        M::PUT,
        &format!("{base}/keys"),
        Some(json!({"key_rotation_interval_days": 0})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        message.starts_with("key_rotation_interval_days"),
        "{message}"
    );

    let declared = TestGateway::start(Options {
        server_extra: format!("admin_token = \"{ADMIN_TOKEN}\"\nkey_rotation_interval = \"720h\""),
        ..Options::default()
    })
    .await;
    let base = format!("/accounts/{}/access", declared.gateway().account_id);
    let (status, _) = refused(
        &declared,
        M::PUT,
        &format!("{base}/keys"),
        Some(json!({"key_rotation_interval_days": 30})),
    )
    .await;
    assert_eq!(status, 403, "the configuration file's value is read-only");
}
