//! The integration suite: whole gateways on random ports against the in-process demo IdP and
//! the echo origin. This is the ONE integration-test binary of the workspace (each extra one
//! costs link time): add scenarios here as short functions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
        .nth(1)
        .and_then(|rest| rest.split('"').next())
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
