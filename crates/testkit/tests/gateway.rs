//! The integration suite: whole gateways on random ports against the in-process demo IdP and
//! the echo origin. This is the ONE integration-test binary of the workspace (each extra one
//! costs link time): add scenarios here as short functions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// SCIM scenarios live in their own file of the same binary.
#[path = "gateway/scim.rs"]
mod scim;

// Web admin UI scenarios, likewise.
#[path = "gateway/admin_ui.rs"]
mod admin_ui;

// Login methods, applications, policies and rule groups through the admin API, likewise.
#[path = "gateway/admin_objects.rs"]
mod admin_objects;

// The CLI against a running gateway's admin API (`--url`), likewise.
#[path = "gateway/cli_remote.rs"]
mod cli_remote;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use portcullis_jose::{KeySet, SigningKey, verify};
use portcullis_testkit::{APP, Algorithm, IdTokenHook, Options, TEAM, TestGateway};
use serde_json::{Value, json};

fn aud(gw: &TestGateway) -> String {
    gw.gateway()
        .snapshot
        .load()
        .apps_by_aud
        .keys()
        .next()
        .unwrap()
        .clone()
}

async fn certs(gw: &TestGateway) -> Value {
    gw.raw_client()
        .get(gw.url(TEAM, "/cdn-cgi/access/certs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Logs in and returns what the echo origin received.
async fn login_and_echo(gw: &TestGateway) -> Value {
    let browser = gw.browser();
    let resp = gw.login(&browser, "/echo/hello?x=1").await;
    assert_eq!(resp.status(), 200, "final URL {}", resp.url());
    assert_eq!(resp.url().as_str(), gw.url(APP, "/echo/hello?x=1"));
    resp.json().await.unwrap()
}

/// Verifies the assertion an origin received the way Cloudflare documents it for origins.
async fn verify_assertion(gw: &TestGateway, echo: &Value) -> serde_json::Map<String, Value> {
    let token = echo["headers"]["cf-access-jwt-assertion"].as_str().unwrap();
    let keys = KeySet::from_json(certs(gw).await.to_string().as_bytes()).unwrap();
    let claims = verify(token, &keys, &[Algorithm::Rs256]).unwrap().claims;
    assert_eq!(claims["iss"], json!(gw.url(TEAM, "")));
    assert_eq!(claims["aud"], json!([aud(gw)]));
    assert_eq!(claims["type"], "app");
    claims
}

#[tokio::test]
async fn login_works_for_every_idp_algorithm() {
    for alg in Algorithm::ALL {
        let gw = TestGateway::start(Options {
            alg,
            ..Options::default()
        })
        .await;
        let echo = login_and_echo(&gw).await;
        assert_eq!(
            echo["headers"]["cf-access-authenticated-user-email"], "alice@example.com",
            "{alg}"
        );
        let claims = verify_assertion(&gw, &echo).await;
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["custom"]["employee_id"], "E1001", "{alg}");
        assert_eq!(
            claims["custom"]["roles"],
            json!(["admin", "dev"]),
            "multi-record claim stays an array"
        );
        assert_eq!(echo["query"], "x=1");
    }
}

#[tokio::test]
async fn login_without_pkce_with_explicit_urls_and_client_secret_post() {
    let gw = TestGateway::start(Options {
        pkce: false,
        discovery: false,
        token_endpoint_auth_method: Some("client_secret_post".into()),
        ..Options::default()
    })
    .await;
    let echo = login_and_echo(&gw).await;
    verify_assertion(&gw, &echo).await;
}

#[tokio::test]
async fn get_identity_on_both_domains_and_logout_everywhere() {
    let gw = TestGateway::start(Options::default()).await;
    let browser = gw.browser();
    assert_eq!(gw.login(&browser, "/").await.status(), 200);
    for host in [APP, TEAM] {
        let id: Value = browser
            .get(gw.url(host, "/cdn-cgi/access/get-identity"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(id["email"], "alice@example.com", "{host}: {id}");
        assert_eq!(id["oidc_fields"]["roles"], json!(["admin", "dev"]));
        assert_eq!(id["oidc_fields"]["employee_id"], "E1001");
        assert!(
            id["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "staff"),
            "{id}"
        );
        assert_eq!(id["idp"]["type"], "oidc");
        assert!(id["user_uuid"].as_str().unwrap().len() == 36);
        assert_eq!(id["version"], 2);
    }
    // Log out on the app domain: the session ends on every app and on the team domain.
    let token = gw.app_token().await;
    let out = browser
        .get(gw.url(APP, "/cdn-cgi/access/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let again = gw
        .raw_client()
        .get(gw.url(APP, "/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);
    let id = browser
        .get(gw.url(TEAM, "/cdn-cgi/access/get-identity"))
        .send()
        .await
        .unwrap();
    assert_eq!(id.status(), 401, "the global session is revoked too");
    // A token minted from another login still works: logout ends one session, not all users.
    let other = gw
        .raw_client()
        .get(gw.url(APP, "/echo"))
        .header("cf-access-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn logout_on_team_domain_revokes_app_tokens_of_that_session() {
    let gw = TestGateway::start(Options::default()).await;
    let browser = gw.browser();
    assert_eq!(gw.login(&browser, "/").await.status(), 200);
    assert_eq!(
        browser
            .get(gw.url(TEAM, "/cdn-cgi/access/logout"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = browser
        .get(gw.url(APP, "/echo"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

fn hook(
    f: impl Fn(&mut serde_json::Map<String, Value>, &mut serde_json::Map<String, Value>)
    + Send
    + Sync
    + 'static,
) -> Option<IdTokenHook> {
    Some(Arc::new(f))
}

#[tokio::test]
async fn email_claim_fallbacks() {
    // Configured claim absent -> `email`.
    let gw = TestGateway::start(Options {
        email_claim_name: Some("mail".into()),
        ..Options::default()
    })
    .await;
    assert_eq!(
        login_and_echo(&gw).await["headers"]["cf-access-authenticated-user-email"],
        "alice@example.com"
    );
    // Configured claim present wins.
    gw.idp.set_id_token_hook(hook(|_, c| {
        c.insert("mail".into(), json!("Alice.Mail@Example.com"));
    }));
    assert_eq!(
        login_and_echo(&gw).await["headers"]["cf-access-authenticated-user-email"],
        "alice.mail@example.com"
    );
    // Neither configured nor `email` -> `upn`.
    gw.idp.set_id_token_hook(hook(|_, c| {
        c.remove("email");
        c.insert("upn".into(), json!("alice.upn@example.com"));
    }));
    assert_eq!(
        login_and_echo(&gw).await["headers"]["cf-access-authenticated-user-email"],
        "alice.upn@example.com"
    );
}

#[tokio::test]
async fn missing_email_names_the_claims_not_their_values() {
    let gw = TestGateway::start(Options::default()).await;
    gw.idp.set_id_token_hook(hook(|_, c| {
        c.remove("email");
    }));
    let resp = gw.login(&gw.browser(), "/").await;
    assert_eq!(resp.status(), 403);
    let page = resp.text().await.unwrap();
    assert!(page.contains("`email`") && page.contains("`upn`"), "{page}");
    assert!(
        page.contains("employee_id") && page.contains("sub"),
        "claim names are listed: {page}"
    );
    assert!(
        !page.contains("E1001") && !page.contains("Alice Example"),
        "claim values are never shown"
    );
    let logs = gw
        .gateway()
        .store
        .list_auth_logs(&Default::default())
        .await
        .unwrap();
    assert!(
        logs.iter()
            .any(|l| !l.allowed && l.reason.as_deref().unwrap_or("").contains("email"))
    );
}

#[tokio::test]
async fn id_tokens_are_refused_for_every_reason() {
    let gw = TestGateway::start(Options::default()).await;
    type Hook = Box<
        dyn Fn(&mut serde_json::Map<String, Value>, &mut serde_json::Map<String, Value>)
            + Send
            + Sync,
    >;
    let cases: Vec<(&str, Hook)> = vec![
        (
            "wrong audience",
            Box::new(|_, c| {
                c.insert("aud".into(), json!("someone-else"));
            }),
        ),
        (
            "audience list without us",
            Box::new(|_, c| {
                c.insert("aud".into(), json!(["a", "b"]));
            }),
        ),
        (
            "azp of another client",
            Box::new(|_, c| {
                let a = c["aud"].clone();
                c.insert("aud".into(), json!([a, "other"]));
                c.insert("azp".into(), json!("other"));
            }),
        ),
        (
            "expired",
            Box::new(|_, c| {
                c.insert("exp".into(), json!(1_000_000));
            }),
        ),
        (
            "not yet valid",
            Box::new(|_, c| {
                c.insert("nbf".into(), json!(4_000_000_000u64));
            }),
        ),
        (
            "issued in the future",
            Box::new(|_, c| {
                c.insert("iat".into(), json!(4_000_000_000u64));
            }),
        ),
        (
            "wrong nonce",
            Box::new(|_, c| {
                c.insert("nonce".into(), json!("replayed"));
            }),
        ),
        (
            "missing nonce",
            Box::new(|_, c| {
                c.remove("nonce");
            }),
        ),
        (
            "wrong issuer",
            Box::new(|_, c| {
                c.insert("iss".into(), json!("https://evil.example"));
            }),
        ),
        (
            "no subject",
            Box::new(|_, c| {
                c.remove("sub");
            }),
        ),
        (
            "alg none",
            Box::new(|h, _| {
                h.insert("alg".into(), json!("none"));
            }),
        ),
        (
            "HMAC alg",
            Box::new(|h, _| {
                h.insert("alg".into(), json!("HS256"));
            }),
        ),
        (
            "embedded jwk",
            Box::new(|h, _| {
                h.insert("jwk".into(), json!({"kty": "oct", "k": "AAAA"}));
            }),
        ),
        (
            "jku",
            Box::new(|h, _| {
                h.insert("jku".into(), json!("https://evil.example/jwks"));
            }),
        ),
        (
            "x5u",
            Box::new(|h, _| {
                h.insert("x5u".into(), json!("https://evil.example/cert"));
            }),
        ),
        (
            "x5c",
            Box::new(|h, _| {
                h.insert("x5c".into(), json!(["MIIB"]));
            }),
        ),
        (
            "unknown crit",
            Box::new(|h, _| {
                h.insert("crit".into(), json!(["exp-ext"]));
                h.insert("exp-ext".into(), json!(1));
            }),
        ),
        (
            "unknown kid",
            Box::new(|h, _| {
                h.insert("kid".into(), json!("no-such-key"));
            }),
        ),
    ];
    for (name, f) in cases {
        gw.idp.set_id_token_hook(Some(Arc::from(f)));
        let resp = gw.login(&gw.browser(), "/").await;
        assert_eq!(resp.status(), 502, "{name} must be refused");
        let page = resp.text().await.unwrap();
        assert!(
            page.contains("Failed to fetch user/group information from the identity provider"),
            "{name}"
        );
    }
    // Signed by a key the IdP does not publish (same kid absent -> refetch, still unknown).
    gw.idp.set_id_token_hook(None);
    gw.idp.set_signing_key_override(Some(Arc::new(
        SigningKey::generate(Algorithm::Rs256).unwrap(),
    )));
    assert_eq!(
        gw.login(&gw.browser(), "/").await.status(),
        502,
        "foreign key"
    );
    gw.idp.set_signing_key_override(None);
    assert_eq!(
        gw.login(&gw.browser(), "/").await.status(),
        200,
        "and the IdP works again"
    );
}

#[tokio::test]
async fn policy_denial_shows_the_block_page_and_is_logged() {
    let gw = TestGateway::start(Options {
        auto_login: Some("bob".into()),
        ..Options::default()
    })
    .await;
    let resp = gw.login(&gw.browser(), "/").await;
    assert_eq!(resp.status(), 403);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("That account does not have access")
    );
    let logs = gw
        .gateway()
        .store
        .list_auth_logs(&Default::default())
        .await
        .unwrap();
    let denied = logs
        .iter()
        .find(|l| !l.allowed)
        .expect("a denied attempt is logged");
    assert_eq!(denied.user_email.as_deref(), Some("bob@example.org"));
    assert_eq!(denied.app_name.as_deref(), Some("whoami"));
    assert_eq!(denied.connection, "oidc");
    assert!(
        denied.reason.as_deref().unwrap().contains("staff"),
        "{:?}",
        denied.reason
    );
}

#[tokio::test]
async fn policies_on_oidc_claims_and_groups() {
    let policies = r#"[
        { name = "contractors out", decision = "deny", include = [{ oidc = { claim_name = "groups", claim_value = "contractors" } }] },
        { name = "admins", decision = "allow", include = [{ oidc = { claim_name = "roles", claim_value = "admin" } }] },
    ]"#;
    let gw = TestGateway::start(Options {
        policies: policies.into(),
        ..Options::default()
    })
    .await;
    assert_eq!(
        gw.login(&gw.browser(), "/").await.status(),
        200,
        "alice has role admin"
    );
    gw.idp.set_auto_login(Some("bob")).unwrap();
    assert_eq!(
        gw.login(&gw.browser(), "/").await.status(),
        403,
        "bob is a contractor"
    );
}

#[tokio::test]
async fn unauthenticated_requests() {
    let gw = TestGateway::start(Options::default()).await;
    let c = gw.raw_client();
    let r = c
        .get(gw.url(APP, "/x?y=1"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(
        loc.starts_with(&gw.url(TEAM, "/cdn-cgi/access/login/whoami.localhost?redirect_url=")),
        "{loc}"
    );
    let r = c.get(gw.url(APP, "/x")).send().await.unwrap();
    assert_eq!(r.status(), 401, "non-HTML clients get 401");
    let r = c
        .get(gw.url(APP, "/x"))
        .header("accept", "text/html")
        .header("x-requested-with", "XMLHttpRequest")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "XHR gets 401");
    let r = c
        .get(format!("http://{}/", gw.addr()))
        .header("host", "unknown.localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "a host without an application is not proxied anywhere"
    );
}

#[tokio::test]
async fn app_tokens_are_checked() {
    let gw = TestGateway::start(Options::default()).await;
    let c = gw.raw_client();
    let token = gw.app_token().await;
    let get = |t: String| {
        c.get(gw.url(APP, "/echo"))
            .header("cookie", format!("CF_Authorization={t}"))
            .send()
    };
    assert_eq!(get(token.clone()).await.unwrap().status(), 200);
    // Tampered payload.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mid = parts[1].len() / 2;
    let flipped = if &parts[1][mid..mid + 1] == "A" {
        "B"
    } else {
        "A"
    };
    parts[1].replace_range(mid..mid + 1, flipped);
    assert_eq!(get(parts.join(".")).await.unwrap().status(), 401);
    // Our claims signed by a stranger.
    let stranger = SigningKey::generate(Algorithm::Rs256).unwrap();
    let claims = verify(
        &token,
        &KeySet::from_json(certs(&gw).await.to_string().as_bytes()).unwrap(),
        &[Algorithm::Rs256],
    )
    .unwrap()
    .claims;
    assert_eq!(
        get(stranger.sign(&claims).unwrap()).await.unwrap().status(),
        401
    );
    // After expiry.
    gw.gateway().clock.advance(Duration::from_secs(25 * 3600));
    assert_eq!(get(token).await.unwrap().status(), 401);
}

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_origin() {
    let gw = TestGateway::start(Options::default()).await;
    let token = gw.app_token().await;
    let echo: Value = gw
        .raw_client()
        .get(gw.url(APP, "/echo"))
        .header("cookie", format!("CF_Authorization={token}"))
        .header("Cf-Access-Authenticated-User-Email", "ceo@example.com")
        .header("Cf-Access-Jwt-Assertion", "forged")
        .header("cf-access-custom", "x")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        echo["headers"]["cf-access-authenticated-user-email"],
        "alice@example.com"
    );
    assert_eq!(echo["headers"]["cf-access-jwt-assertion"], token.as_str());
    assert!(echo["headers"].get("cf-access-custom").is_none());
    // With the token in the cf-access-token header instead of the cookie.
    let echo: Value = gw
        .raw_client()
        .get(gw.url(APP, "/echo"))
        .header("cf-access-token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(echo["headers"].get("cf-access-token").is_none());
    assert_eq!(
        echo["headers"]["cf-access-authenticated-user-email"],
        "alice@example.com"
    );
}

#[tokio::test]
async fn redirects_stay_on_the_application() {
    let gw = TestGateway::start(Options::default()).await;
    let c = gw.raw_client();
    for evil in [
        "http://evil.example/",
        "http://whoami.localhost.evil.example/",
        "javascript:alert(1)",
        "//evil.example/",
    ] {
        let url = format!(
            "{}?redirect_url={}",
            gw.url(TEAM, "/cdn-cgi/access/login/whoami.localhost"),
            urlencode(evil)
        );
        let r = c
            .get(url)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{evil}");
    }
    let token = gw.app_token().await;
    let url = format!(
        "{}?token={token}&redirect_url={}",
        gw.url(APP, "/cdn-cgi/access/authorized"),
        urlencode("http://evil.example/")
    );
    assert_eq!(c.get(url).send().await.unwrap().status(), 400);
    let url = format!(
        "{}?token={token}&redirect_url={}",
        gw.url(APP, "/cdn-cgi/access/authorized"),
        urlencode(&gw.url(APP, "/ok"))
    );
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("CF_Authorization=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn certs_in_cloudflare_format_and_rotation_keeps_old_tokens() {
    let gw = TestGateway::start(Options::default()).await;
    let token = gw.app_token().await;
    let before = certs(&gw).await;
    assert_eq!(before["keys"].as_array().unwrap().len(), 1);
    assert_eq!(before["keys"][0]["alg"], "RS256");
    assert_eq!(before["keys"][0]["kid"].as_str().unwrap().len(), 64);
    assert!(
        before["public_cert"]["cert"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    gw.gateway().rotate_keys().await.unwrap();
    let after = certs(&gw).await;
    assert_eq!(
        after["keys"].as_array().unwrap().len(),
        2,
        "current and previous"
    );
    assert_eq!(after["keys"][1]["kid"], before["keys"][0]["kid"]);
    assert_eq!(after["public_certs"].as_array().unwrap().len(), 2);
    assert_ne!(after["public_cert"]["kid"], before["public_cert"]["kid"]);
    let r = gw
        .raw_client()
        .get(gw.url(APP, "/echo"))
        .header("cf-access-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "tokens signed by the previous key stay valid"
    );
    let new_token = gw.app_token().await;
    let header = portcullis_jose::decode_header(&new_token).unwrap();
    assert_eq!(header.kid.as_deref(), after["public_cert"]["kid"].as_str());
}

/// A WebSocket handshake to the echo origin's `/ws` through the gateway, with or without a token.
async fn websocket_request(
    gw: &TestGateway,
    token: Option<&str>,
) -> (tokio::net::TcpStream, http::Request<()>) {
    let stream = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let mut request = http::Request::builder()
        .uri(format!("ws://{APP}:{}/ws", gw.port))
        .header("host", format!("{APP}:{}", gw.port))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header(
            "sec-websocket-key",
            tokio_tungstenite::tungstenite::handshake::client::generate_key(),
        );
    if let Some(t) = token {
        request = request.header("cookie", format!("CF_Authorization={t}"));
    }
    (stream, request.body(()).unwrap())
}

#[tokio::test]
async fn websocket_through_the_proxy() {
    let gw = TestGateway::start(Options::default()).await;
    let token = gw.app_token().await;
    let (stream, request) = websocket_request(&gw, Some(&token)).await;
    let (mut ws, resp) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        "ping through portcullis",
    ))
    .await
    .unwrap();
    let echoed = ws.next().await.unwrap().unwrap();
    assert_eq!(
        echoed.into_text().unwrap().as_str(),
        "ping through portcullis"
    );
}

#[tokio::test]
async fn websocket_without_token_is_refused() {
    let gw = TestGateway::start(Options::default()).await;
    let (stream, request) = websocket_request(&gw, None).await;
    assert!(
        tokio_tungstenite::client_async(request, stream)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn http2_and_streaming_through_the_proxy() {
    let gw = TestGateway::start(Options::default()).await;
    let token = gw.app_token().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve(APP, gw.addr())
        .build()
        .unwrap();
    let r = h2
        .post(gw.url(APP, "/echo"))
        .header("cf-access-token", &token)
        .body("h2 body")
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["body"], "h2 body");
    assert_eq!(
        echo["headers"]["cf-access-authenticated-user-email"],
        "alice@example.com"
    );
    let r = gw
        .raw_client()
        .get(gw.url(APP, "/stream?chunks=50&size=1000"))
        .header("cf-access-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 50_000);
}

#[tokio::test]
async fn single_sign_on_reuses_the_global_session() {
    let gw = TestGateway::start(Options::default()).await;
    let browser = gw.browser();
    assert_eq!(gw.login(&browser, "/").await.status(), 200);
    // The IdP would now refuse: a second login must not need it.
    gw.idp.set_id_token_hook(hook(|_, c| {
        c.insert("aud".into(), json!("nobody"));
    }));
    // Drop the app cookie only: go through the login endpoint again.
    let url = format!(
        "{}?redirect_url={}",
        gw.url(TEAM, "/cdn-cgi/access/login/whoami.localhost"),
        urlencode(&gw.url(APP, "/echo"))
    );
    let r = browser.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let logs = gw
        .gateway()
        .store
        .list_auth_logs(&Default::default())
        .await
        .unwrap();
    assert_eq!(
        logs.iter().filter(|l| l.allowed).count(),
        2,
        "each app login is logged"
    );
}

#[tokio::test]
async fn callback_without_login_state_is_an_invalid_session() {
    let gw = TestGateway::start(Options::default()).await;
    let r = gw
        .raw_client()
        .get(gw.url(TEAM, "/cdn-cgi/access/callback?code=abc&state=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Invalid session. Please try logging in again")
    );
}

#[tokio::test]
async fn one_login_method_goes_straight_to_the_idp() {
    let gw = TestGateway::start(Options::default()).await;
    let r = gw
        .raw_client()
        .get(gw.url(TEAM, "/cdn-cgi/access/login/whoami.localhost"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(
        loc.starts_with(&format!("http://{}/authorize?", gw.idp_addr)),
        "{loc}"
    );
    assert!(
        loc.contains("code_challenge_method=S256")
            && loc.contains("nonce=")
            && loc.contains("state="),
        "{loc}"
    );
}

#[tokio::test]
async fn several_login_methods_show_the_chooser() {
    let gw = TestGateway::start(Options {
        second_idp: Some("Second <IdP>".into()),
        ..Options::default()
    })
    .await;
    let browser = gw.browser();
    let page = browser
        .get(gw.url(TEAM, "/cdn-cgi/access/login/whoami.localhost"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in with Test IdP"), "{html}");
    assert!(
        html.contains("Sign in with Second &#60;IdP&#62;"),
        "names are escaped: {html}"
    );
    // Follow the first method's link: it leads through the IdP back to the app.
    let href = html
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|h| h.contains("/cdn-cgi/access/login"))
        .unwrap()
        .replace("&#38;", "&");
    assert!(href.contains("&idp="), "{href}");
    let done = browser.get(href).send().await.unwrap();
    assert_eq!(done.status(), 200);
    assert_eq!(done.url().host_str(), Some(APP));
}

#[tokio::test]
async fn paths_are_normalised_before_routing_and_forwarding() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = TestGateway::start(Options::default()).await;
    let token = gw.app_token().await;
    // Raw bytes: an HTTP client library would clean the path up itself.
    let mut stream = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let request = format!(
        "GET /public/%2e%2e/echo//x/./y?q=1 HTTP/1.1\r\nHost: {APP}\r\ncf-access-token: {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"path\":\"/echo/x/y\""), "{response}");
}

#[tokio::test]
async fn tls_listener_serves_http2_and_sets_secure_cookies() {
    use base64::Engine;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let dir = std::env::temp_dir().join(format!("portcullis-tls-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(key.pkcs8_der());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    std::fs::write(
        dir.join("key.pem"),
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("cert.pem"),
        key.self_signed_cert_pem(TEAM).unwrap(),
    )
    .unwrap();
    // Find a free port for the TLS listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = format!(
        r#"
[server]
team_domain = "{TEAM}"
data_dir = "{dir}"
tls = {{ cert = "{dir}/cert.pem", key = "{dir}/key.pem", listen = "127.0.0.1:{port}" }}

[[applications]]
name = "tls-app"
domain = "{APP}"
origin = "http://127.0.0.1:9"
policies = [{{ name = "all", decision = "allow", include = [{{ everyone = {{}} }}] }}]
"#,
        dir = dir.display()
    );
    let config =
        portcullis::Config::from_raw(portcullis::Config::parse_toml(&toml, "tls").unwrap(), &[])
            .unwrap();
    assert_eq!(config.server.team_url, format!("https://{TEAM}:{port}"));
    let running = portcullis::run::start(config).await.unwrap();
    let addr = running.https_addr.unwrap();
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .resolve(TEAM, addr)
        .resolve(APP, addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(format!("https://{TEAM}:{port}/cdn-cgi/access/certs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN offers h2");
    let r = client
        .get(format!("https://{APP}:{port}/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("https://{TEAM}:{port}/cdn-cgi/access/login/"))
    );
    let r = client
        .get(format!("https://{APP}:{port}/cdn-cgi/access/logout"))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    drop(running);
    std::fs::remove_dir_all(dir).unwrap();
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

// ---------------------------------------------------------------------------------------------
// Access policies, service tokens, sessions, revocation, seats.

const EVERYONE_ALLOWED: &str =
    r#"[{ name = "everyone", decision = "allow", include = [{ everyone = {} }] }]"#;

async fn echo_with(
    gw: &TestGateway,
    headers: &[(&str, &str)],
    path: &str,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = gw.raw_client().get(gw.url(APP, path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

async fn auth_logs(gw: &TestGateway) -> Vec<portcullis_store::AuthLogRecord> {
    gw.gateway()
        .store
        .list_auth_logs(&Default::default())
        .await
        .unwrap()
}

/// The authentication log once a record matching `want` is in it (decisions taken on the request
/// path are written in the background), failing after two seconds.
async fn logs_with(
    gw: &TestGateway,
    want: impl Fn(&portcullis_store::AuthLogRecord) -> bool,
) -> Vec<portcullis_store::AuthLogRecord> {
    for _ in 0..40 {
        let logs = auth_logs(gw).await;
        if logs.iter().any(&want) {
            return logs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no matching log record: {:?}", auth_logs(gw).await);
}

#[tokio::test]
async fn bypass_lets_requests_through_without_identity_and_unlogged() {
    let gw = TestGateway::start(Options {
        policies: r#"[{ name = "public", decision = "bypass", include = [{ everyone = {} }] }]"#
            .into(),
        ..Options::default()
    })
    .await;
    let (status, _, echo) = echo_with(
        &gw,
        &[("cf-access-authenticated-user-email", "ceo@example.com")],
        "/echo/x",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        echo["headers"].get("cf-access-jwt-assertion").is_none(),
        "{echo}"
    );
    assert!(
        echo["headers"]
            .get("cf-access-authenticated-user-email")
            .is_none(),
        "spoofed header stripped: {echo}"
    );
    assert!(auth_logs(&gw).await.is_empty(), "Bypass is not logged");
}

#[tokio::test]
async fn service_auth_runs_before_block_as_cloudflare_orders_it() {
    // Written order: Block everyone, then Service Auth. Service Auth is examined first.
    let policies = r#"[
        { name = "nobody", decision = "deny", include = [{ everyone = {} }] },
        { name = "machines", decision = "non_identity", include = [{ any_valid_service_token = {} }] },
    ]"#;
    let gw = TestGateway::start(Options {
        policies: policies.into(),
        ..Options::default()
    })
    .await;
    let (id, secret, _) = gw.service_token("ci").await;
    let (status, headers, echo) = echo_with(
        &gw,
        &[
            ("cf-access-client-id", &id),
            ("cf-access-client-secret", &secret),
        ],
        "/echo/x",
    )
    .await;
    assert_eq!(status, 200, "{echo}");
    let claims = verify_assertion(&gw, &echo).await;
    assert_eq!(claims["common_name"], json!(id));
    assert_eq!(claims["sub"], "");
    assert!(
        echo["headers"].get("cf-access-client-secret").is_none(),
        "credentials never reach the origin"
    );
    assert!(
        echo["headers"]
            .get("cf-access-authenticated-user-email")
            .is_none()
    );
    assert!(
        headers.get("set-cookie").is_none(),
        "no Allow policy: no reusable cookie"
    );

    // Without credentials the Block policy decides, before any login: 403 with the AUD.
    let (status, _, body) = echo_with(&gw, &[], "/echo/x").await;
    assert_eq!(status, 403);
    assert_eq!(body["aud"], json!(aud(&gw)));
    // A wrong secret is refused and logged.
    let (status, _, _) = echo_with(
        &gw,
        &[
            ("cf-access-client-id", &id),
            ("cf-access-client-secret", "wrong"),
        ],
        "/echo/x",
    )
    .await;
    assert_eq!(status, 403);
    let logs = logs_with(&gw, |l| {
        l.reason
            .as_deref()
            .unwrap_or("")
            .contains("wrong service token secret")
    })
    .await;
    assert!(
        logs.iter()
            .any(|l| l.connection == "service_token" && l.allowed)
    );
    assert!(
        logs.iter().any(|l| !l.allowed
            && l.reason
                .as_deref()
                .unwrap_or("")
                .contains("wrong service token secret")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn service_tokens_on_every_request_when_only_service_auth() {
    let gw = TestGateway::start(Options {
        policies: r#"[{ name = "machines", decision = "non_identity", include = [{ any_valid_service_token = {} }] }]"#.into(),
        app_extra: "service_auth_401_redirect = true\nread_service_tokens_from_header = \"Authorization\"".into(),
        ..Options::default()
    })
    .await;
    let (id, secret, token_id) = gw.service_token("ci").await;
    let (status, _, echo) = echo_with(
        &gw,
        &[
            ("cf-access-client-id", &id),
            ("cf-access-client-secret", &secret),
        ],
        "/echo/x",
    )
    .await;
    assert_eq!(status, 200);
    let assertion = echo["headers"]["cf-access-jwt-assertion"]
        .as_str()
        .unwrap()
        .to_owned();
    // The minted token alone does not work: this app has no Allow policy.
    let (status, _, _) = echo_with(&gw, &[("cf-access-token", &assertion)], "/echo/x").await;
    assert_eq!(
        status, 401,
        "service_auth_401_redirect: 401, not a login redirect"
    );
    let (status, _, _) = echo_with(&gw, &[("accept", "text/html")], "/echo/x").await;
    assert_eq!(status, 401, "even browsers get 401");
    // One JSON header carrying both values, as the app asks.
    let json_header =
        format!(r#"{{"cf-access-client-id":"{id}","cf-access-client-secret":"{secret}"}}"#);
    let (status, _, echo) = echo_with(&gw, &[("authorization", &json_header)], "/echo/x").await;
    assert_eq!(status, 200);
    assert!(
        echo["headers"].get("authorization").is_none(),
        "the credentials header is removed"
    );
    // Disabled: refused on the very next request.
    portcullis::service_tokens::set_enabled(gw.gateway().store.as_ref(), token_id, false, 0)
        .await
        .unwrap();
    gw.gateway().resync().await;
    let (status, _, _) = echo_with(
        &gw,
        &[
            ("cf-access-client-id", &id),
            ("cf-access-client-secret", &secret),
        ],
        "/echo/x",
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn service_token_is_exchanged_for_a_reusable_token_when_the_app_has_an_allow_policy() {
    let policies = r#"[
        { name = "staff", decision = "allow", include = [{ email_domain = { domain = "example.com" } }] },
        { name = "machines", decision = "non_identity", include = [{ any_valid_service_token = {} }] },
    ]"#;
    let gw = TestGateway::start(Options {
        policies: policies.into(),
        ..Options::default()
    })
    .await;
    let (id, secret, token_id) = gw.service_token("ci").await;
    let (status, headers, _) = echo_with(
        &gw,
        &[
            ("cf-access-client-id", &id),
            ("cf-access-client-secret", &secret),
        ],
        "/echo/x",
    )
    .await;
    assert_eq!(status, 200);
    let cookie = headers["set-cookie"].to_str().unwrap();
    let token = cookie
        .strip_prefix("CF_Authorization=")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_owned();
    let (status, _, echo) = echo_with(&gw, &[("cf-access-token", &token)], "/echo/x").await;
    assert_eq!(status, 200, "the exchanged token is reusable");
    assert_eq!(verify_assertion(&gw, &echo).await["common_name"], json!(id));
    // Deleting the service token stops its exchanged tokens at once.
    gw.gateway()
        .store
        .delete_service_token(token_id)
        .await
        .unwrap();
    gw.gateway().resync().await;
    let (status, _, _) = echo_with(&gw, &[("cf-access-token", &token)], "/echo/x").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn app_session_expiry_remints_silently_from_the_global_session() {
    let policies = r#"[{ name = "staff", decision = "allow", session_duration = "10m", include = [{ email_domain = { domain = "example.com" } }] }]"#;
    let gw = TestGateway::start(Options {
        policies: policies.into(),
        ..Options::default()
    })
    .await;
    let browser = gw.browser();
    let first = gw
        .login(&browser, "/echo/a")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let first_claims = verify_assertion(&gw, &first).await;
    assert_eq!(
        first_claims["exp"].as_i64().unwrap() - first_claims["iat"].as_i64().unwrap(),
        600,
        "the policy's session duration sets the app token's lifetime"
    );
    gw.gateway().clock.advance(Duration::from_secs(11 * 60));
    gw.idp.set_auto_login(None).unwrap();
    // The IdP would now ask for a password: a 200 proves the global session re-minted the token.
    let resp = gw.login(&browser, "/echo/b").await;
    assert_eq!(resp.status(), 200, "{}", resp.url());
    let second = resp.json::<Value>().await.unwrap();
    let second_claims = verify_assertion(&gw, &second).await;
    assert!(second_claims["iat"].as_i64() > first_claims["iat"].as_i64());
    assert_eq!(
        second_claims["identity_nonce"],
        first_claims["identity_nonce"]
    );
}

#[tokio::test]
async fn binding_cookie_is_required_and_never_forwarded() {
    let gw = TestGateway::start(Options {
        app_extra: "enable_binding_cookie = true".into(),
        ..Options::default()
    })
    .await;
    let browser = gw.browser();
    let echo: Value = gw.login(&browser, "/echo/x").await.json().await.unwrap();
    let cookie_header = echo["headers"]["cookie"].as_str().unwrap_or_default();
    assert!(
        cookie_header.contains("CF_Authorization="),
        "{cookie_header}"
    );
    assert!(
        !cookie_header.contains("CF_Binding"),
        "binding cookie stripped: {cookie_header}"
    );
    let token = echo["headers"]["cf-access-jwt-assertion"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, _) = echo_with(&gw, &[("cf-access-token", &token)], "/echo/x").await;
    assert_eq!(status, 401, "a token without its binding cookie is refused");
    let forged = format!("CF_Authorization={token}; CF_Binding=AAAA");
    let (status, _, _) = echo_with(&gw, &[("cookie", &forged)], "/echo/x").await;
    assert_eq!(status, 401, "a wrong binding cookie is refused");
    let resp = browser.get(gw.url(APP, "/echo/y")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "the browser holds both cookies");
}

/// Follows the login redirects by hand and returns the `Set-Cookie` values of the app domain's
/// `authorized` answer.
async fn app_cookies_set_at_login(gw: &TestGateway, path: &str) -> Vec<String> {
    let client = gw.stepping_browser();
    let mut url = gw.url(APP, path);
    for _ in 0..10 {
        let resp = client
            .get(&url)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        let Some(location) = resp.headers().get("location") else {
            break;
        };
        if url.contains("/cdn-cgi/access/authorized?") {
            return resp
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
        }
        url = location.to_str().unwrap().to_owned();
    }
    panic!("login did not pass through the authorized endpoint");
}

#[tokio::test]
async fn cookie_path_same_site_and_http_only_follow_the_app_settings() {
    let gw = TestGateway::start(Options {
        app_path: "/echo/*".into(),
        app_extra: "path_cookie_attribute = true\nsame_site_cookie_attribute = \"strict\"\nhttp_only_cookie_attribute = false\nenable_binding_cookie = true".into(),
        ..Options::default()
    })
    .await;
    let cookies = app_cookies_set_at_login(&gw, "/echo/x").await;
    let auth = cookies
        .iter()
        .find(|c| c.starts_with("CF_Authorization="))
        .unwrap();
    assert!(
        auth.contains("; Path=/echo;") && auth.contains("SameSite=Strict"),
        "{auth}"
    );
    assert!(!auth.contains("HttpOnly"), "{auth}");
    let binding = cookies
        .iter()
        .find(|c| c.starts_with("CF_Binding="))
        .unwrap();
    assert!(
        binding.contains("HttpOnly") && binding.contains("; Path=/echo;"),
        "{binding}"
    );

    let text = format!(
        "[server]\nteam_domain = \"auth.localhost\"\ndata_dir = \"/tmp/unused\"\n\
         [[identity_providers]]\nname = \"x\"\ntype = \"oidc\"\n\
         config = {{ client_id = \"c\", client_secret = \"s\", discovery_url = \"http://127.0.0.1:1/d\" }}\n\
         [[applications]]\nname = \"a\"\ndomain = \"{APP}\"\norigin = \"http://127.0.0.1:1\"\n\
         path_cookie_attribute = true\n\
         policies = [{{ name = \"p\", decision = \"allow\", include = [{{ everyone = {{}} }}] }}]\n"
    );
    let err =
        portcullis::Config::from_raw(portcullis::Config::parse_toml(&text, "t").unwrap(), &[])
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("path_cookie_attribute"),
        "an app without a path cannot scope: {err}"
    );
}

#[tokio::test]
async fn revoking_a_user_stops_the_next_request_and_blocks_relogin_for_a_minute() {
    let gw = TestGateway::start(Options::default()).await;
    let token = gw.app_token().await;
    let (status, _, _) = echo_with(&gw, &[("cf-access-token", &token)], "/echo/x").await;
    assert_eq!(status, 200);
    let ended = gw.gateway().revoke_user("alice@example.com").await.unwrap();
    assert_eq!(ended, 1);
    let (status, _, _) = echo_with(&gw, &[("cf-access-token", &token)], "/echo/x").await;
    assert_eq!(status, 401, "refused on the very next request");
    let resp = gw.login(&gw.browser(), "/").await;
    assert_eq!(resp.status(), 403);
    let page = resp.text().await.unwrap();
    assert!(page.contains("cannot sign in again for"), "{page}");
    gw.gateway().clock.advance(Duration::from_secs(61));
    gw.idp.advance_clock(Duration::from_secs(61));
    assert_eq!(
        gw.login(&gw.browser(), "/").await.status(),
        200,
        "after a minute, login works"
    );
}

#[tokio::test]
async fn revoking_one_session_or_an_apps_tokens() {
    let gw = TestGateway::start(Options::default()).await;
    let first = gw.app_token().await;
    let second = gw.app_token().await;
    let nonce = |t: &str| {
        let payload = t.split('.').nth(1).unwrap();
        let bytes = base64_url_decode(payload);
        serde_json::from_slice::<Value>(&bytes).unwrap()["identity_nonce"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    gw.gateway().revoke_session(&nonce(&first)).await.unwrap();
    assert_eq!(
        echo_with(&gw, &[("cf-access-token", &first)], "/echo/x")
            .await
            .0,
        401
    );
    assert_eq!(
        echo_with(&gw, &[("cf-access-token", &second)], "/echo/x")
            .await
            .0,
        200,
        "other sessions live on"
    );
    gw.gateway().revoke_app_tokens("whoami").await.unwrap();
    assert_eq!(
        echo_with(&gw, &[("cf-access-token", &second)], "/echo/x")
            .await
            .0,
        401
    );
    // Users with a valid global session get a new token, since the IdP still vouches for them.
    gw.gateway().clock.advance(Duration::from_secs(1));
    assert_eq!(gw.login(&gw.browser(), "/").await.status(), 200);
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[tokio::test]
async fn seat_limit_refuses_new_users_until_a_seat_is_freed() {
    let gw = TestGateway::start(Options {
        policies: EVERYONE_ALLOWED.into(),
        top_extra: "[organization]\nname = \"Acme\"\nseat_limit = 1".into(),
        ..Options::default()
    })
    .await;
    assert_eq!(gw.login(&gw.browser(), "/").await.status(), 200);
    gw.idp.set_auto_login(Some("bob")).unwrap();
    let resp = gw.login(&gw.browser(), "/").await;
    assert_eq!(resp.status(), 403);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("used all of its seats") && page.contains("Acme"),
        "{page}"
    );
    let bob = gw
        .gateway()
        .store
        .find_user_by_email("bob@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(!bob.seat, "the registry knows bob, without a seat");
    gw.gateway().remove_user("alice@example.com").await.unwrap();
    assert_eq!(
        gw.login(&gw.browser(), "/").await.status(),
        200,
        "alice's seat went to bob"
    );
}

#[tokio::test]
async fn cors_preflight_is_answered_bypassed_or_refused() {
    let preflight = |gw: &TestGateway, origin: &'static str| {
        gw.raw_client()
            .request(reqwest::Method::OPTIONS, gw.url(APP, "/echo/api"))
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "x-custom")
            .send()
    };
    let answered = TestGateway::start(Options {
        app_extra: "cors_headers = { allowed_origins = [\"https://spa.example.com\"], allow_all_methods = true, allow_all_headers = true, allow_credentials = true, max_age = 600 }".into(),
        ..Options::default()
    })
    .await;
    let r = preflight(&answered, "https://spa.example.com")
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://spa.example.com"
    );
    assert_eq!(r.headers()["access-control-allow-methods"], "PUT");
    assert_eq!(r.headers()["access-control-allow-headers"], "x-custom");
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    assert_eq!(r.headers()["access-control-max-age"], "600");
    let r = preflight(&answered, "https://evil.example.com")
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let bypassed = TestGateway::start(Options {
        app_extra: "options_preflight_bypass = true".into(),
        ..Options::default()
    })
    .await;
    let r = preflight(&bypassed, "https://spa.example.com")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["method"],
        "OPTIONS",
        "reached the origin"
    );

    let plain = TestGateway::start(Options::default()).await;
    let r = preflight(&plain, "https://spa.example.com").await.unwrap();
    assert_eq!(
        r.status(),
        401,
        "without CORS settings a preflight is unauthenticated"
    );
}

#[tokio::test]
async fn country_and_address_rules_are_checked_on_every_request() {
    let policies = r#"[{ name = "staff in the US", decision = "allow", include = [{ email_domain = { domain = "example.com" } }], require = [{ geo = { country_code = "US" } }] }]"#;
    let gw = TestGateway::start(Options {
        policies: policies.into(),
        server_extra: "country_header = \"CF-IPCountry\"".into(),
        ..Options::default()
    })
    .await;
    let us = gw.browser_with(&[("cf-ipcountry", "us")]);
    let echo: Value = gw.login(&us, "/echo/x").await.json().await.unwrap();
    let token = echo["headers"]["cf-access-jwt-assertion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(verify_assertion(&gw, &echo).await["country"], "US");
    let (status, _, _) = echo_with(
        &gw,
        &[("cf-access-token", &token), ("cf-ipcountry", "US")],
        "/echo/x",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, body) = echo_with(
        &gw,
        &[("cf-access-token", &token), ("cf-ipcountry", "DE")],
        "/echo/x",
    )
    .await;
    assert_eq!(
        status, 403,
        "the same token from another country is refused"
    );
    assert_eq!(body["aud"], json!(aud(&gw)));
    let logs = logs_with(&gw, |l| l.country.as_deref() == Some("DE")).await;
    assert!(
        logs.iter().any(|l| !l.allowed
            && l.country.as_deref() == Some("DE")
            && l.reason.as_deref().unwrap_or("").contains("geo")),
        "{logs:?}"
    );

    // A Block on the loopback range refuses before any login, with the non-identity page.
    let blocked = TestGateway::start(Options {
        policies: r#"[
            { name = "no loopback", decision = "deny", include = [{ ip = { ip = "127.0.0.0/8" } }] },
            { name = "staff", decision = "allow", include = [{ email_domain = { domain = "example.com" } }] },
        ]"#.into(),
        app_extra: "custom_non_identity_deny_url = \"https://example.com/why\"".into(),
        ..Options::default()
    })
    .await;
    let r = blocked
        .raw_client()
        .get(blocked.url(APP, "/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "https://example.com/why");
}

#[tokio::test]
async fn rule_groups_lists_and_reusable_policies() {
    let top = r#"
[[lists]]
id = "engineers"
name = "Engineers"
type = "email"
items = ["alice@example.com"]

[[rule_groups]]
id = "eng"
name = "Engineering"
include = [{ email_list = { id = "engineers" } }]
require = [{ auth_method = { auth_method = "pwd" } }]

[[policies]]
id = "eng-only"
name = "engineering"
decision = "allow"
include = [{ group = { id = "eng" } }]
"#;
    let gw = TestGateway::start(Options {
        policies: r#"[{ id = "eng-only" }]"#.into(),
        top_extra: top.into(),
        ..Options::default()
    })
    .await;
    assert_eq!(
        gw.login(&gw.browser(), "/").await.status(),
        200,
        "alice is in the list and used a password"
    );
    gw.idp.set_auto_login(Some("bob")).unwrap();
    let resp = gw.login(&gw.browser(), "/").await;
    assert_eq!(resp.status(), 403);
    let logs = auth_logs(&gw).await;
    let denied = logs.iter().find(|l| !l.allowed).unwrap();
    let reason = denied.reason.as_deref().unwrap();
    assert!(
        reason.contains("engineering") && reason.contains("email_list"),
        "{reason}"
    );
}

#[tokio::test]
async fn login_page_shows_the_organization() {
    let gw = TestGateway::start(Options {
        second_idp: Some("Backup IdP".into()),
        top_extra: "[organization]\nname = \"Acme Corp\"\n[organization.login_design]\nbackground_color = \"#0b1f3a\"\nfooter_text = \"Help: it@acme.example\"".into(),
        ..Options::default()
    })
    .await;
    let page = gw.login(&gw.browser(), "/").await.text().await.unwrap();
    assert!(
        page.contains("Acme Corp") && page.contains("#0b1f3a") && page.contains("it@acme.example"),
        "{page}"
    );
    // Nothing the page loads by itself comes from elsewhere: no stylesheet, script or image URL.
    for loaded in [
        "src=\"http",
        "<link rel=\"stylesheet",
        "<script",
        "url(http",
    ] {
        assert!(
            !page.contains(loaded),
            "no external assets ({loaded}): {page}"
        );
    }
}

#[tokio::test]
async fn while_the_database_is_gone_tokens_work_and_logins_get_503() {
    let gw = TestGateway::start(Options::default()).await;
    let token = gw.app_token().await;
    gw.gateway().store.close().await;
    let (status, _, _) = echo_with(&gw, &[("cf-access-token", &token)], "/echo/x").await;
    assert_eq!(status, 200, "a valid token needs no database");
    let resp = gw.login(&gw.browser(), "/").await;
    assert_eq!(resp.status(), 503);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("cannot reach its database")
    );
}

#[tokio::test]
async fn a_key_rotated_by_another_node_is_published_here() {
    let gw = TestGateway::start(Options::default()).await;
    let before = gw.gateway().keys.load().current().kid().to_owned();
    let g = gw.gateway();
    // What another node sharing the database does when its rotation is due.
    portcullis::keys::rotate(
        g.store.as_ref(),
        &g.sealer,
        g.server.signing_alg,
        &g.server.team_domain,
        g.clock.now(),
    )
    .await
    .unwrap();
    let mut published = false;
    for _ in 0..40 {
        let kids: Vec<String> = certs(&gw).await["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        if kids.len() == 2 && kids[0] != before && kids.contains(&before) {
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        published,
        "the new key is current and the old one still published"
    );
    assert_ne!(gw.gateway().keys.load().current().kid(), before);
}

#[tokio::test]
async fn inactive_users_lose_their_seat_once_a_day() {
    let gw = TestGateway::start(Options {
        top_extra: "[organization]\nuser_seat_expiration_inactive_time = \"730h\"".into(),
        ..Options::default()
    })
    .await;
    assert_eq!(gw.login(&gw.browser(), "/").await.status(), 200);
    let g = gw.gateway();
    let alice = || async {
        g.store
            .find_user_by_email("alice@example.com")
            .await
            .unwrap()
            .unwrap()
    };
    g.expire_seats_if_due().await;
    assert!(alice().await.seat, "active users keep their seat");
    g.clock.advance(Duration::from_secs(731 * 3600));
    g.expire_seats_if_due().await;
    let after = alice().await;
    assert!(!after.seat, "a month without a login frees the seat");
    // The job ran today: a user who becomes inactive later waits for tomorrow's run.
    g.store
        .set_user_seat(after.id, true, g.clock.now())
        .await
        .unwrap();
    g.expire_seats_if_due().await;
    assert!(alice().await.seat, "at most one run a day");
}

// ---------------------------------------------------------------------------------------------
// Admin API.

const ADMIN_TOKEN: &str = "bootstrap-token-for-tests-0123456789";

async fn api(
    gw: &TestGateway,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = gw
        .raw_client()
        .request(method, gw.url(TEAM, &format!("/client/v4{path}")))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn admin_api_speaks_cloudflares_envelope_and_objects() {
    let gw = TestGateway::start(Options {
        server_extra: format!("admin_token = \"{ADMIN_TOKEN}\""),
        policies: r#"[
            { name = "staff", decision = "allow", include = [{ email_domain = { domain = "example.com" } }] },
            { name = "machines", decision = "non_identity", include = [{ any_valid_service_token = {} }] },
        ]"#
        .into(),
        ..Options::default()
    })
    .await;
    use reqwest::Method as M;
    let (status, body) = api(&gw, M::GET, "/accounts", "wrong-token", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["success"], false);
    assert_eq!(body["errors"][0]["code"], 10000);

    let (status, body) = api(&gw, M::GET, "/accounts", ADMIN_TOKEN, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true);
    let account = body["result"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(account, gw.gateway().account_id);
    let base = format!("/accounts/{account}/access");
    let (status, _) = api(&gw, M::GET, "/accounts/0000/access/apps", ADMIN_TOKEN, None).await;
    assert_eq!(status, 403, "another account id");

    let (_, idps) = api(
        &gw,
        M::GET,
        &format!("{base}/identity_providers"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    let idp = &idps["result"][0];
    assert_eq!(idp["type"], "oidc");
    assert_eq!(idp["read_only"], true);
    assert!(
        idp["config"].get("client_secret").is_none(),
        "secrets never returned"
    );
    assert_eq!(idps["result_info"]["total_count"], 1);

    let (_, apps) = api(&gw, M::GET, &format!("{base}/apps"), ADMIN_TOKEN, None).await;
    let app = &apps["result"][0];
    assert_eq!(app["aud"], json!(aud(&gw)));
    assert_eq!(app["policies"][1]["decision"], "non_identity");
    assert_eq!(app["policies"][1]["precedence"], 2);
    let app_id = app["id"].as_str().unwrap().to_owned();
    let (status, body) = api(
        &gw,
        M::PUT,
        &format!("{base}/apps/{app_id}"),
        ADMIN_TOKEN,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, 403, "config-file objects are read-only: {body}");

    // Service tokens: validation names the field; the secret is returned once and works.
    let (status, body) = api(
        &gw,
        M::POST,
        &format!("{base}/service_tokens"),
        ADMIN_TOKEN,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("name"),
        "{body}"
    );
    let (status, body) = api(
        &gw,
        M::POST,
        &format!("{base}/service_tokens"),
        ADMIN_TOKEN,
        Some(json!({"name": "ci", "duration": "forever"})),
    )
    .await;
    assert_eq!(status, 201);
    let created = &body["result"];
    let (client_id, secret) = (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    assert_eq!(created["expires_at"], Value::Null);
    let (status, _, _) = echo_with(
        &gw,
        &[
            ("cf-access-client-id", &client_id),
            ("cf-access-client-secret", &secret),
        ],
        "/echo/x",
    )
    .await;
    assert_eq!(
        status, 200,
        "the token created through the API works at once"
    );
    let (_, list) = api(
        &gw,
        M::GET,
        &format!("{base}/service_tokens"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert!(list["result"][0].get("client_secret").is_none());
    let token_id = created["id"].as_str().unwrap().to_owned();
    let (_, rotated) = api(
        &gw,
        M::POST,
        &format!("{base}/service_tokens/{token_id}/rotate"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_ne!(rotated["result"]["client_secret"].as_str().unwrap(), secret);
    let (status, _) = api(
        &gw,
        M::DELETE,
        &format!("{base}/service_tokens/{token_id}"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = echo_with(
        &gw,
        &[
            ("cf-access-client-id", &client_id),
            ("cf-access-client-secret", &secret),
        ],
        "/echo/x",
    )
    .await;
    assert_eq!(status, 401, "deleted: refused on the next request");

    // A read-only token reads but does not write.
    let (_, reader) = portcullis::admin_api::create_api_token(
        gw.gateway().store.as_ref(),
        "dashboards",
        portcullis::admin_api::Scope::Read,
        0,
    )
    .await
    .unwrap();
    let (status, _) = api(&gw, M::GET, &format!("{base}/keys"), &reader, None).await;
    assert_eq!(status, 200);
    let (status, body) = api(&gw, M::POST, &format!("{base}/keys/rotate"), &reader, None).await;
    assert_eq!(status, 403, "{body}");

    // Users, revocation, logs.
    let token = gw.app_token().await;
    let (_, users) = api(&gw, M::GET, &format!("{base}/users"), ADMIN_TOKEN, None).await;
    let alice = &users["result"][0];
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(alice["access_seat"], true);
    let user_id = alice["id"].as_str().unwrap().to_owned();
    let (_, sessions) = api(
        &gw,
        M::GET,
        &format!("{base}/users/{user_id}/active_sessions"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(sessions["result"].as_array().unwrap().len(), 1);
    let (_, identity) = api(
        &gw,
        M::GET,
        &format!("{base}/users/{user_id}/last_seen_identity"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(identity["result"]["email"], "alice@example.com");
    let (status, _) = api(
        &gw,
        M::POST,
        &format!("{base}/organizations/revoke_user"),
        ADMIN_TOKEN,
        Some(json!({"email": "alice@example.com"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        echo_with(&gw, &[("cf-access-token", &token)], "/echo/x")
            .await
            .0,
        401
    );
    let (_, logs) = api(
        &gw,
        M::GET,
        &format!("{base}/logs/access_requests?limit=5&direction=desc"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert!(
        logs["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["user_email"] == "alice@example.com" && l["allowed"] == true)
    );
    let (status, body) = api(
        &gw,
        M::GET,
        &format!("{base}/logs/access_requests?since=yesterday"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("since"),
        "{body}"
    );

    // Seats and keys.
    let (status, _) = api(
        &gw,
        M::PATCH,
        &format!("{base}/seats"),
        ADMIN_TOKEN,
        Some(json!([{"seat_uid": user_id, "access_seat": false, "gateway_seat": false}])),
    )
    .await;
    assert_eq!(status, 200);
    let (_, users) = api(&gw, M::GET, &format!("{base}/users"), ADMIN_TOKEN, None).await;
    assert_eq!(users["result"][0]["access_seat"], false);
    let before = gw.gateway().keys.load().current().kid().to_owned();
    let (status, _) = api(
        &gw,
        M::POST,
        &format!("{base}/keys/rotate"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(gw.gateway().keys.load().current().kid(), before);
}

/// Every operation the OpenAPI document describes is served (none answers "no route"), and the
/// document is what the gateway serves.
#[tokio::test]
async fn admin_api_matches_its_openapi_document() {
    let gw = TestGateway::start(Options {
        server_extra: format!("admin_token = \"{ADMIN_TOKEN}\""),
        ..Options::default()
    })
    .await;
    let served: Value = gw
        .raw_client()
        .get(gw.url(TEAM, "/client/v4/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let in_repo: Value = serde_json::from_str(include_str!("../../../docs/openapi.json")).unwrap();
    assert_eq!(served, in_repo);
    assert_eq!(in_repo["openapi"], "3.1.0");
    let account = gw.gateway().account_id.clone();
    let mut operations = 0;
    for (path, ops) in in_repo["paths"].as_object().unwrap() {
        for (method, _) in ops.as_object().unwrap() {
            let concrete = path
                .trim_start_matches("/client/v4")
                .replace("{account_id}", &account)
                .replace("{id}", "00000000-0000-0000-0000-000000000000")
                .replace("{nonce}", "no-such-session");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = matches!(
                method,
                reqwest::Method::POST | reqwest::Method::PUT | reqwest::Method::PATCH
            )
            .then(|| {
                if path.ends_with("/seats") {
                    json!([])
                } else {
                    json!({})
                }
            });
            let (status, answer) = api(&gw, method.clone(), &concrete, ADMIN_TOKEN, body).await;
            let message = answer["errors"][0]["message"].as_str().unwrap_or("");
            assert!(
                !message.starts_with("no route"),
                "{method} {path}: {status} {answer}"
            );
            assert!(
                status != 401 && status != 500,
                "{method} {path}: {status} {answer}"
            );
            operations += 1;
        }
    }
    assert_eq!(operations, 51);
}

/// Runs the Test of the first login method through the admin API and a browser; returns the page.
async fn test_login_method(gw: &TestGateway) -> String {
    use reqwest::Method as M;
    let account = gw.gateway().account_id.clone();
    let (_, idps) = api(
        gw,
        M::GET,
        &format!("/accounts/{account}/access/identity_providers"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    let id = idps["result"][0]["id"].as_str().unwrap().to_owned();
    let (status, started) = api(
        gw,
        M::POST,
        &format!("/accounts/{account}/access/identity_providers/{id}/test"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let url = started["result"]["url"].as_str().unwrap().to_owned();
    let resp = gw.browser().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

#[tokio::test]
async fn the_test_button_shows_the_identity_or_the_failed_step_with_a_diagnosis() {
    let gw = TestGateway::start(Options {
        server_extra: format!("admin_token = \"{ADMIN_TOKEN}\""),
        ..Options::default()
    })
    .await;
    let page = test_login_method(&gw).await;
    assert!(page.contains("Your connection works!"), "{page}");
    assert!(
        page.contains("alice@example.com") && page.contains("admins") && page.contains("E1001"),
        "{page}"
    );
    assert!(page.contains("masked"), "the nonce is masked: {page}");
    assert!(
        gw.gateway().store.list_users().await.unwrap().is_empty(),
        "a test signs nobody in and records no user"
    );

    gw.idp.set_id_token_hook(hook(|h, _| {
        h.insert("alg".into(), json!("HS256"));
    }));
    let page = test_login_method(&gw).await;
    assert!(
        page.contains("Failed step: <strong>signature</strong>"),
        "{page}"
    );
    assert!(
        page.contains("signed with HS256, which is not supported; Portcullis accepts RS256"),
        "{page}"
    );

    gw.idp.set_id_token_hook(hook(|_, c| {
        c.insert("iss".into(), json!("https://evil.example"));
    }));
    let page = test_login_method(&gw).await;
    assert!(
        page.contains("Failed step: <strong>claims</strong>"),
        "{page}"
    );
    assert!(
        page.contains("issuer was `https://evil.example`, expected"),
        "{page}"
    );

    gw.idp.set_id_token_hook(hook(|_, c| {
        c.remove("email");
        c.remove("upn");
    }));
    let page = test_login_method(&gw).await;
    assert!(
        page.contains("Failed step: <strong>email</strong>"),
        "{page}"
    );
    assert!(
        page.contains("the ID token has: ") && page.contains("preferred_username"),
        "{page}"
    );

    gw.idp.set_id_token_hook(None);
    gw.idp.advance_clock(Duration::from_secs(600));
    let page = test_login_method(&gw).await;
    assert!(
        page.contains("Failed step: <strong>claims</strong>"),
        "{page}"
    );
    assert!(
        page.contains("s in the future") && page.contains("allowed clock skew is 60 s"),
        "{page}"
    );
}

#[tokio::test]
async fn logs_past_their_retention_are_pruned_by_the_scheduled_jobs() {
    let gw = TestGateway::start(Options {
        server_extra: "log_retention = \"48h\"".into(),
        ..Options::default()
    })
    .await;
    assert_eq!(gw.login(&gw.browser(), "/").await.status(), 200);
    let g = gw.gateway();
    assert!(!auth_logs(&gw).await.is_empty());
    g.run_scheduled_jobs(g.clock.now()).await;
    assert!(!auth_logs(&gw).await.is_empty(), "recent records stay");
    g.clock.advance(Duration::from_secs(49 * 3600));
    g.run_scheduled_jobs(g.clock.now()).await;
    assert!(
        auth_logs(&gw).await.is_empty(),
        "records older than the retention go"
    );
}

#[tokio::test]
async fn admin_api_lists_reusable_policies_with_their_app_count() {
    let gw = TestGateway::start(Options {
        server_extra: format!("admin_token = \"{ADMIN_TOKEN}\""),
        policies: r#"[{ id = "staff" }]"#.into(),
        top_extra: "[[policies]]\nid = \"staff\"\nname = \"Staff\"\ndecision = \"allow\"\ninclude = [{ email_domain = { domain = \"example.com\" } }]".into(),
        ..Options::default()
    })
    .await;
    let account = gw.gateway().account_id.clone();
    let (status, body) = api(
        &gw,
        reqwest::Method::GET,
        &format!("/accounts/{account}/access/policies"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let p = &body["result"][0];
    assert_eq!(
        (p["id"].as_str(), p["name"].as_str()),
        (Some("staff"), Some("Staff"))
    );
    assert_eq!(p["app_count"], 1);
    assert_eq!(p["reusable"], true);
    let (status, _) = api(
        &gw,
        reqwest::Method::DELETE,
        &format!("/accounts/{account}/access/policies/staff"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 403, "declared in the file: read-only");
    let (_, apps) = api(
        &gw,
        reqwest::Method::GET,
        &format!("/accounts/{account}/access/apps"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(apps["result"][0]["reusable_policies"], json!(["staff"]));
}

#[tokio::test]
async fn the_country_header_counts_only_from_trusted_proxies_when_they_are_listed() {
    let policies = r#"[{ name = "staff in the US", decision = "allow", include = [{ email_domain = { domain = "example.com" } }], require = [{ geo = { country_code = "US" } }] }]"#;
    let gw = TestGateway::start(Options {
        policies: policies.into(),
        // The test client connects from 127.0.0.1, which is not a listed proxy.
        server_extra: "country_header = \"CF-IPCountry\"\ntrusted_proxies = [\"10.0.0.0/8\"]"
            .into(),
        ..Options::default()
    })
    .await;
    let spoofing = gw.browser_with(&[("cf-ipcountry", "US")]);
    let resp = gw.login(&spoofing, "/").await;
    assert_eq!(resp.status(), 403, "a direct client cannot claim a country");
}

#[tokio::test]
async fn admin_api_policy_tests_count_who_would_be_allowed() {
    let gw = TestGateway::start(Options {
        server_extra: format!("admin_token = \"{ADMIN_TOKEN}\""),
        policies: r#"[{ id = "staff" }]"#.into(),
        top_extra: "[[policies]]\nid = \"staff\"\nname = \"Staff\"\ndecision = \"allow\"\ninclude = [{ email_domain = { domain = \"example.com\" } }]".into(),
        ..Options::default()
    })
    .await;
    assert_eq!(gw.login(&gw.browser(), "/").await.status(), 200);
    gw.idp.set_auto_login(Some("bob")).unwrap();
    assert_eq!(gw.login(&gw.browser(), "/").await.status(), 403);
    use reqwest::Method as M;
    let base = format!("/accounts/{}/access", gw.gateway().account_id);
    let (status, body) = api(
        &gw,
        M::POST,
        &format!("{base}/policy-tests"),
        ADMIN_TOKEN,
        Some(json!({"policies": [{"id": "staff"}]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let r = &body["result"];
    assert_eq!(
        (
            r["total_users"].as_u64(),
            r["users_approved"].as_u64(),
            r["users_blocked"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(r["percent_approved"], 50.0);
    let id = r["id"].as_str().unwrap().to_owned();
    let (_, again) = api(
        &gw,
        M::GET,
        &format!("{base}/policy-tests/{id}"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(again["result"]["users_blocked"], 1);
    let (_, users) = api(
        &gw,
        M::GET,
        &format!("{base}/policy-tests/{id}/users"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    let status_of = |email: &str| {
        users["result"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status_of("alice@example.com"), "approved");
    assert_eq!(status_of("bob@example.org"), "blocked");
    let explained = users["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "bob@example.org")
        .unwrap()["explanation"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        explained.contains("policy \"Staff\"") && explained.contains("example.org"),
        "each user's entry says which policy decided and why: {explained}"
    );
    let everyone =
        json!({"policies": [{"name": "all", "decision": "allow", "include": [{"everyone": {}}]}]});
    let (_, body) = api(
        &gw,
        M::POST,
        &format!("{base}/policy-tests"),
        ADMIN_TOKEN,
        Some(everyone),
    )
    .await;
    assert_eq!(body["result"]["users_approved"], 2);
    let bad =
        json!({"policies": [{"name": "x", "decision": "allow", "include": [{"colour": {}}]}]});
    let (status, body) = api(
        &gw,
        M::POST,
        &format!("{base}/policy-tests"),
        ADMIN_TOKEN,
        Some(bad),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("policies[0]"),
        "{body}"
    );
}
