//! The provider against a fake identity provider served by [`TestServer`].

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_jose::{Algorithm, JwkSet, SigningKey};
use serde_json::{Value, json};

use super::*;
use crate::test_server::{Reply, TestServer};

const CLIENT_ID: &str = "portcullis:gw";
const CLIENT_SECRET: &str = "s3cret with space/é";
const REDIRECT: &str = "https://auth.example.com/cdn-cgi/access/callback";

/// What the fake identity provider answers on each endpoint; tests change it as they go.
struct Answers {
    discovery: (u16, String),
    token: (u16, String),
    jwks: (u16, String),
}

struct FakeIdp {
    server: TestServer,
    answers: Arc<Mutex<Answers>>,
}

impl FakeIdp {
    async fn start() -> FakeIdp {
        let answers = Arc::new(Mutex::new(Answers {
            discovery: (404, "{}".into()),
            token: (500, "{}".into()),
            jwks: (500, "{}".into()),
        }));
        let server = TestServer::start({
            let answers = answers.clone();
            move |req| {
                let a = answers.lock().unwrap();
                let (status, body) = match req.path() {
                    "/.well-known/openid-configuration" => &a.discovery,
                    "/token" => &a.token,
                    "/jwks" => &a.jwks,
                    _ => return Reply::json(404, "{}"),
                };
                Reply::json(*status, body.clone())
            }
        })
        .await;
        FakeIdp { server, answers }
    }

    fn issuer(&self) -> String {
        self.server.base()
    }

    fn set_discovery(&self, doc: Value) {
        self.answers.lock().unwrap().discovery = (200, doc.to_string());
    }

    fn standard_discovery(&self, auth_methods: &[&str]) -> Value {
        json!({
            "issuer": self.issuer(),
            "authorization_endpoint": self.server.url("/authorize").as_str(),
            "token_endpoint": self.server.url("/token").as_str(),
            "jwks_uri": self.server.url("/jwks").as_str(),
            "token_endpoint_auth_methods_supported": auth_methods,
        })
    }

    fn publish_keys(&self, keys: &[&SigningKey]) {
        let set = JwkSet {
            keys: keys.iter().map(|k| k.public_jwk()).collect(),
        };
        self.answers.lock().unwrap().jwks = (200, serde_json::to_string(&set).unwrap());
    }

    fn set_jwks_answer(&self, status: u16, body: &str) {
        self.answers.lock().unwrap().jwks = (status, body.to_owned());
    }

    fn set_token_answer(&self, status: u16, body: impl Into<String>) {
        self.answers.lock().unwrap().token = (status, body.into());
    }

    /// Makes the token endpoint return an ID token with good claims, changed by `edit`.
    fn issue(&self, key: &SigningKey, nonce: &str, edit: impl FnOnce(&mut Map<String, Value>)) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let Value::Object(mut claims) = json!({
            "iss": self.issuer(), "aud": CLIENT_ID, "sub": "user-42", "nonce": nonce,
            "iat": now, "exp": now + 300, "email": "ann@example.com", "name": "Ann",
            "Groups": ["staff"], "employee_id": "E-1",
        }) else {
            unreachable!()
        };
        edit(&mut claims);
        let id_token = key.sign(&claims).unwrap();
        let body = json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token});
        self.set_token_answer(200, body.to_string());
    }

    /// A Cloudflare-style configuration: three explicit URLs, plus the issuer.
    fn config(&self) -> ProviderConfig {
        let mut config = ProviderConfig::new(CLIENT_ID, CLIENT_SECRET);
        config.auth_url = Some(self.server.url("/authorize"));
        config.token_url = Some(self.server.url("/token"));
        config.certs_url = Some(self.server.url("/jwks"));
        config.issuer = Some(self.issuer());
        config
    }
}

fn provider(config: ProviderConfig) -> Provider {
    Provider::new(config, reqwest::Client::new())
}

fn key(alg: Algorithm) -> SigningKey {
    SigningKey::generate(alg).unwrap()
}

/// Runs a whole login: authorization request, then the code exchange of what `issue` prepared.
async fn login(
    p: &Provider,
    idp: &FakeIdp,
    key: &SigningKey,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> Result<IdTokenClaims, OidcError> {
    let req = p.authorization_request(REDIRECT).await.unwrap();
    idp.issue(key, &req.pending.nonce, edit);
    p.exchange_code("the-code", REDIRECT, &req.pending, SystemTime::now())
        .await
}

#[tokio::test]
async fn discovery_is_fetched_once_and_fills_in_the_endpoints() {
    let idp = FakeIdp::start().await;
    idp.set_discovery(idp.standard_discovery(&["client_secret_basic"]));
    let mut config = ProviderConfig::new(CLIENT_ID, CLIENT_SECRET);
    config.issuer = Some(format!("{}/", idp.issuer()));
    // The configured issuer has a trailing slash: the discovery URL is still found, but the
    // issuer comparison is exact, so this fails.
    let err = provider(config.clone()).metadata().await.unwrap_err();
    assert!(matches!(err, OidcError::IssuerMismatch { .. }), "{err}");

    config.issuer = Some(idp.issuer());
    let p = provider(config);
    let meta = p.metadata().await.unwrap();
    assert_eq!(meta.issuer.as_deref(), Some(idp.issuer().as_str()));
    assert_eq!(meta.token_endpoint, idp.server.url("/token"));
    assert_eq!(meta.jwks_uri, idp.server.url("/jwks"));
    let fetched = idp.server.count("/.well-known/openid-configuration");
    p.metadata().await.unwrap();
    p.clone().authorization_request(REDIRECT).await.unwrap();
    assert_eq!(
        idp.server.count("/.well-known/openid-configuration"),
        fetched
    );
}

#[tokio::test]
async fn failed_discovery_is_retried_on_the_next_call() {
    let idp = FakeIdp::start().await;
    let mut config = ProviderConfig::new(CLIENT_ID, CLIENT_SECRET);
    config.discovery_url = Some(idp.server.url("/.well-known/openid-configuration"));
    let p = provider(config);
    let err = p.metadata().await.unwrap_err();
    assert!(
        matches!(
            err,
            OidcError::HttpStatus {
                endpoint: Endpoint::Discovery,
                status: 404,
                ..
            }
        ),
        "{err}"
    );

    idp.set_discovery(json!({"issuer": "not even json-shaped right", "jwks_uri": 3}));
    assert!(matches!(
        p.metadata().await.unwrap_err(),
        OidcError::InvalidResponse { .. }
    ));

    idp.set_discovery(idp.standard_discovery(&[]));
    let meta = p.metadata().await.unwrap();
    // With a discovery URL alone, the discovered issuer becomes the expected one.
    assert_eq!(meta.issuer.as_deref(), Some(idp.issuer().as_str()));
    assert_eq!(idp.server.count("/.well-known/openid-configuration"), 3);
}

#[tokio::test]
async fn discovery_url_with_a_different_configured_issuer_is_refused() {
    let idp = FakeIdp::start().await;
    idp.set_discovery(idp.standard_discovery(&[]));
    let mut config = ProviderConfig::new(CLIENT_ID, CLIENT_SECRET);
    config.discovery_url = Some(idp.server.url("/.well-known/openid-configuration"));
    config.issuer = Some("https://someone-else.example.com".into());
    let err = provider(config).metadata().await.unwrap_err();
    assert!(matches!(err, OidcError::IssuerMismatch { .. }), "{err}");
}

#[tokio::test]
async fn explicit_urls_need_no_discovery() {
    let idp = FakeIdp::start().await;
    let p = provider(idp.config());
    let req = p.authorization_request(REDIRECT).await.unwrap();
    assert!(
        req.url
            .as_str()
            .starts_with(idp.server.url("/authorize").as_str())
    );
    assert!(idp.server.requests().is_empty());
}

#[tokio::test]
async fn code_exchange_with_client_secret_basic_and_pkce() {
    let idp = FakeIdp::start().await;
    let signer = key(Algorithm::Rs256);
    idp.publish_keys(&[&signer]);
    let mut config = idp.config();
    config.pkce_enabled = true;
    let p = provider(config);

    let req = p.authorization_request(REDIRECT).await.unwrap();
    let query: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
    let challenge = &query.iter().find(|(k, _)| k == "code_challenge").unwrap().1;
    idp.issue(&signer, &req.pending.nonce, |_| {});
    let claims = p
        .exchange_code("code/with+chars", REDIRECT, &req.pending, SystemTime::now())
        .await
        .unwrap();
    assert_eq!(claims.subject(), "user-42");

    let token_requests: Vec<_> = idp
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/token")
        .collect();
    assert_eq!(token_requests.len(), 1);
    let sent = &token_requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(
        sent.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    // RFC 6749 2.3.1: id and secret are form-urlencoded before being joined and base64-encoded.
    let expected = format!(
        "Basic {}",
        STANDARD.encode("portcullis%3Agw:s3cret+with+space%2F%C3%A9")
    );
    assert_eq!(sent.header("authorization"), Some(expected.as_str()));
    assert_eq!(
        sent.form_value("grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(sent.form_value("code").as_deref(), Some("code/with+chars"));
    assert_eq!(sent.form_value("redirect_uri").as_deref(), Some(REDIRECT));
    let verifier = sent.form_value("code_verifier").unwrap();
    assert_eq!(Some(&verifier), req.pending.pkce_verifier.as_ref());
    assert_eq!(&crate::pkce_challenge(&verifier), challenge);
    assert_eq!(
        sent.form_value("client_secret"),
        None,
        "one authentication method only"
    );

    let identity = p.map_identity(&claims).unwrap();
    assert_eq!(identity.email, "ann@example.com");
    assert_eq!(identity.groups, ["staff"]);
    assert!(
        identity.oidc_fields.is_empty(),
        "no custom claims configured"
    );
}

#[tokio::test]
async fn code_exchange_with_client_secret_post_chosen_by_discovery() {
    let idp = FakeIdp::start().await;
    let signer = key(Algorithm::Es256);
    idp.publish_keys(&[&signer]);
    idp.set_discovery(idp.standard_discovery(&["client_secret_post"]));
    let mut config = ProviderConfig::new(CLIENT_ID, CLIENT_SECRET);
    config.issuer = Some(idp.issuer());
    config.claims = vec!["employee_id".into(), "groups".into()];
    let p = provider(config);
    assert_eq!(
        p.metadata().await.unwrap().token_auth,
        TokenAuthMethod::ClientSecretPost
    );

    let claims = login(&p, &idp, &signer, |_| {}).await.unwrap();
    let sent = idp
        .server
        .requests()
        .into_iter()
        .find(|r| r.path() == "/token")
        .unwrap();
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.form_value("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(
        sent.form_value("client_secret").as_deref(),
        Some(CLIENT_SECRET)
    );
    assert_eq!(sent.form_value("code_verifier"), None, "PKCE is off");

    let identity = p.map_identity(&claims).unwrap();
    assert_eq!(
        Value::Object(identity.oidc_fields),
        json!({"employee_id": "E-1"})
    );
}

#[tokio::test]
async fn token_endpoint_errors_are_reported_without_secrets() {
    let idp = FakeIdp::start().await;
    let p = provider(idp.config());
    let req = p.authorization_request(REDIRECT).await.unwrap();

    idp.set_token_answer(
        400,
        r#"{"error":"invalid_grant","error_description":"code expired\r\nforged log line"}"#,
    );
    let err = p
        .exchange_code("c", REDIRECT, &req.pending, SystemTime::now())
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        matches!(
            err,
            OidcError::HttpStatus {
                endpoint: Endpoint::Token,
                status: 400,
                ..
            }
        ),
        "{shown}"
    );
    assert!(shown.contains("invalid_grant: code expired"), "{shown}");
    assert!(!shown.contains('\n'));
    assert!(!shown.contains(CLIENT_SECRET));

    idp.set_token_answer(200, r#"{"access_token":"at","token_type":"Bearer"}"#);
    let err = p
        .exchange_code("c", REDIRECT, &req.pending, SystemTime::now())
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::MissingIdToken), "{err}");

    idp.set_token_answer(200, "<html>oops</html>");
    let err = p
        .exchange_code("c", REDIRECT, &req.pending, SystemTime::now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OidcError::InvalidResponse {
                endpoint: Endpoint::Token,
                ..
            }
        ),
        "{err}"
    );

    idp.set_token_answer(
        200,
        format!(r#"{{"id_token":"{}"}}"#, "a".repeat(http::MAX_BODY_BYTES)),
    );
    let err = p
        .exchange_code("c", REDIRECT, &req.pending, SystemTime::now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OidcError::ResponseTooLarge {
                endpoint: Endpoint::Token,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn pkce_login_without_a_verifier_is_refused_before_any_request() {
    let idp = FakeIdp::start().await;
    let mut config = idp.config();
    config.pkce_enabled = true;
    let p = provider(config);
    let pending = PendingLogin {
        state: "s".into(),
        nonce: "n".into(),
        pkce_verifier: None,
    };
    let err = p
        .exchange_code("c", REDIRECT, &pending, SystemTime::now())
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::PendingLogin { .. }), "{err}");
    assert!(idp.server.requests().is_empty());
}

#[tokio::test]
async fn id_token_is_validated_after_the_exchange() {
    let idp = FakeIdp::start().await;
    let signer = key(Algorithm::Ps256);
    idp.publish_keys(&[&signer]);
    let p = provider(idp.config());

    let err = login(&p, &idp, &signer, |c| {
        c.insert("nonce".into(), json!("from another login"));
    })
    .await
    .unwrap_err();
    assert!(matches!(err, OidcError::Nonce), "{err}");

    let err = login(&p, &idp, &signer, |c| {
        c.insert("iss".into(), json!("https://evil.example.com"));
    })
    .await
    .unwrap_err();
    assert!(matches!(err, OidcError::Issuer { .. }), "{err}");

    let err = login(&p, &idp, &signer, |c| {
        c.insert("aud".into(), json!("another-client"));
    })
    .await
    .unwrap_err();
    assert!(matches!(err, OidcError::Audience), "{err}");

    // An algorithm the operator did not allow.
    let mut config = idp.config();
    config.allowed_algs = vec![Algorithm::Rs256];
    let strict = provider(config);
    let err = login(&strict, &idp, &signer, |_| {}).await.unwrap_err();
    assert!(matches!(err, OidcError::Signature(_)), "{err}");
}

#[tokio::test]
async fn missing_email_names_the_claims_present() {
    let idp = FakeIdp::start().await;
    let signer = key(Algorithm::Es384);
    idp.publish_keys(&[&signer]);
    let mut config = idp.config();
    config.email_claim_name = "mail".into();
    let p = provider(config);
    let claims = login(&p, &idp, &signer, |c| {
        c.remove("email");
    })
    .await
    .unwrap();
    let err = p.map_identity(&claims).unwrap_err();
    let OidcError::MissingEmail { tried, present } = &err else {
        panic!("{err}")
    };
    assert_eq!(tried, &["mail", "email", "upn"]);
    assert_eq!(
        present,
        &[
            "Groups",
            "aud",
            "employee_id",
            "exp",
            "iat",
            "iss",
            "name",
            "nonce",
            "sub"
        ]
    );
}

#[tokio::test]
async fn jwks_is_refetched_on_an_unknown_kid_at_most_once_per_interval() {
    let idp = FakeIdp::start().await;
    let old = key(Algorithm::Rs256);
    let new = key(Algorithm::Rs256);
    let forger = key(Algorithm::Rs256);
    idp.publish_keys(&[&old]);
    let mut config = idp.config();
    let interval = Duration::from_millis(400);
    config.jwks_refresh_interval = interval;
    let p = provider(config);

    login(&p, &idp, &old, |_| {}).await.unwrap();
    assert_eq!(idp.server.count("/jwks"), 1);
    login(&p, &idp, &old, |_| {}).await.unwrap();
    assert_eq!(
        idp.server.count("/jwks"),
        1,
        "known keys are served from the cache"
    );

    // The provider rotates its key; the first token with the new kid triggers one refetch.
    tokio::time::sleep(interval).await;
    idp.publish_keys(&[&new]);
    login(&p, &idp, &new, |_| {}).await.unwrap();
    assert_eq!(idp.server.count("/jwks"), 2);

    // A stream of tokens with invented kids: rejected, and no more fetches within the interval.
    for _ in 0..5 {
        let err = login(&p, &idp, &forger, |_| {}).await.unwrap_err();
        assert!(matches!(err, OidcError::UnknownSigningKey { .. }), "{err}");
    }
    assert_eq!(idp.server.count("/jwks"), 2);

    // After the interval one more fetch is allowed; the kid is still unknown.
    tokio::time::sleep(interval).await;
    let err = login(&p, &idp, &forger, |_| {}).await.unwrap_err();
    assert!(matches!(err, OidcError::UnknownSigningKey { .. }), "{err}");
    assert_eq!(idp.server.count("/jwks"), 3);
    // A successful fetch replaced the set: the old key is gone.
    let err = login(&p, &idp, &old, |_| {}).await.unwrap_err();
    assert!(matches!(err, OidcError::UnknownSigningKey { .. }), "{err}");
}

#[tokio::test]
async fn old_keys_are_kept_while_the_jwks_endpoint_is_down_or_broken() {
    let idp = FakeIdp::start().await;
    let signer = key(Algorithm::EdDsa);
    let rotated = key(Algorithm::EdDsa);
    idp.publish_keys(&[&signer]);
    let mut config = idp.config();
    let interval = Duration::from_millis(100);
    config.jwks_refresh_interval = interval;
    let p = provider(config);
    login(&p, &idp, &signer, |_| {}).await.unwrap();

    let mut fetches = idp.server.count("/jwks");
    for (status, body) in [
        (503, "down"),
        (200, "<html>not json</html>"),
        (200, r#"{"keys":[]}"#),
        (200, r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#),
    ] {
        idp.set_jwks_answer(status, body);
        tokio::time::sleep(interval).await;
        // An unknown kid makes the cache try a refresh, which fails ...
        let err = login(&p, &idp, &rotated, |_| {}).await.unwrap_err();
        assert!(
            matches!(err, OidcError::UnknownSigningKey { .. }),
            "{status} {body}: {err}"
        );
        fetches += 1;
        assert_eq!(idp.server.count("/jwks"), fetches, "{status} {body}");
        // ... and the keys from before still verify.
        login(&p, &idp, &signer, |_| {}).await.unwrap();
    }

    // Once the endpoint is back with the new key, logins with it work again.
    idp.publish_keys(&[&rotated]);
    tokio::time::sleep(interval).await;
    login(&p, &idp, &rotated, |_| {}).await.unwrap();
}

#[tokio::test]
async fn without_any_keys_logins_fail_and_fetches_stay_rate_limited() {
    let idp = FakeIdp::start().await;
    let signer = key(Algorithm::Es512);
    let mut config = idp.config();
    config.jwks_refresh_interval = Duration::from_secs(3600);
    let p = provider(config);
    let err = login(&p, &idp, &signer, |_| {}).await.unwrap_err();
    assert!(matches!(err, OidcError::JwksUnavailable { .. }), "{err}");
    idp.publish_keys(&[&signer]);
    let err = login(&p, &idp, &signer, |_| {}).await.unwrap_err();
    assert!(matches!(err, OidcError::JwksUnavailable { .. }), "{err}");
    assert_eq!(idp.server.count("/jwks"), 1);
}

#[tokio::test]
async fn oversized_jwks_is_refused() {
    let idp = FakeIdp::start().await;
    let signer = key(Algorithm::Rs256);
    let big = format!(
        r#"{{"keys":[],"pad":"{}"}}"#,
        "x".repeat(http::MAX_BODY_BYTES)
    );
    idp.set_jwks_answer(200, &big);
    let err = login(&provider(idp.config()), &idp, &signer, |_| {})
        .await
        .unwrap_err();
    let OidcError::JwksUnavailable { reason } = &err else {
        panic!("{err}")
    };
    assert!(reason.contains("larger than"), "{reason}");
}

#[test]
fn basic_credentials_encode_before_joining() {
    assert_eq!(
        basic_credentials("a", "b"),
        format!("Basic {}", STANDARD.encode("a:b"))
    );
    assert_eq!(
        basic_credentials("id:x", "p&s=1"),
        format!("Basic {}", STANDARD.encode("id%3Ax:p%26s%3D1"))
    );
}
