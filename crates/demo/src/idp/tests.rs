use super::*;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use portcullis_jose::{JoseError, KeySet, verify};
use tower::ServiceExt;

const ISSUER: &str = "http://127.0.0.1:9000";
const REDIRECT: &str = "http://auth.localhost:8080/cdn-cgi/access/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn options(alg: Algorithm) -> IdpOptions {
    let mut opts = IdpOptions::demo(ISSUER);
    opts.alg = alg;
    opts.redirect_uris = vec![REDIRECT.into()];
    opts.auto_login = Some("alice".into());
    opts
}

fn idp(alg: Algorithm) -> DemoIdp {
    DemoIdp::new(options(alg)).unwrap()
}

async fn call(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// A standard authorization request, with `extra` parameters added or (by name) replaced.
fn authorize_uri(extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("client_id", DEMO_CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email profile"),
        ("state", "st-123"),
        ("nonce", "n-456"),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    format!("/authorize?{}", form(&params))
}

fn get(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).unwrap()
}

fn post_form(uri: &str, body: String) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

/// The query of a redirect back to the client; asserts it goes to the registered URI.
fn redirect_params(headers: &HeaderMap) -> HashMap<String, String> {
    let location = headers[header::LOCATION].to_str().unwrap();
    let url = Url::parse(location).unwrap();
    assert_eq!(&location[..REDIRECT.len()], REDIRECT);
    url.query_pairs().into_owned().collect()
}

async fn code_for(router: &Router, extra: &[(&str, &str)]) -> String {
    let (status, headers, _) = call(router, get(&authorize_uri(extra))).await;
    assert_eq!(status, StatusCode::FOUND);
    let params = redirect_params(&headers);
    assert_eq!(params["state"], "st-123");
    assert_eq!(params["iss"], ISSUER);
    params["code"].clone()
}

enum Auth<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
}

async fn redeem(
    router: &Router,
    auth: Auth<'_>,
    extra: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let mut params: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("redirect_uri", REDIRECT),
    ];
    let mut request = Request::builder()
        .method("POST")
        .uri("/token")
        .header("content-type", "application/x-www-form-urlencoded");
    match auth {
        Auth::Basic(id, secret) => {
            let credentials = format!("{}:{}", form_component(id), form_component(secret));
            request = request.header(
                "authorization",
                format!("Basic {}", STANDARD.encode(credentials)),
            );
        }
        Auth::Post(id, secret) => {
            params.push(("client_id", id));
            params.push(("client_secret", secret));
        }
    }
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let request = request.body(Body::from(form(&params))).unwrap();
    let (status, headers, body) = call(router, request).await;
    (status, headers, serde_json::from_slice(&body).unwrap())
}

fn form_component(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn basic() -> Auth<'static> {
    Auth::Basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
}

fn verify_id_token(idp: &DemoIdp, token: &str) -> Result<Map<String, Value>, JoseError> {
    let keys = KeySet::from_jwks(&idp.public_jwks());
    verify(token, &keys, &Algorithm::ALL).map(|v| v.claims)
}

fn raw_header(token: &str) -> Map<String, Value> {
    let segment = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

#[tokio::test]
async fn discovery_document_describes_the_provider() {
    let idp = idp(Algorithm::Es256);
    let (status, _, body) = call(&idp.router(), get("/.well-known/openid-configuration")).await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["authorization_endpoint"], format!("{ISSUER}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/token"));
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}/jwks"));
    assert_eq!(doc["userinfo_endpoint"], format!("{ISSUER}/userinfo"));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert!(
        doc["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("openid"))
    );
    let claims = doc["claims_supported"].as_array().unwrap();
    for claim in ["sub", "email", "groups", "employee_id", "roles", "nonce"] {
        assert!(claims.contains(&json!(claim)), "{claim}");
    }
    assert_eq!(
        idp.discovery_url(),
        format!("{ISSUER}/.well-known/openid-configuration")
    );
}

#[tokio::test]
async fn jwks_publishes_the_signing_key() {
    let idp = idp(Algorithm::Rs256);
    let (status, _, body) = call(&idp.router(), get("/jwks")).await;
    assert_eq!(status, StatusCode::OK);
    let set: JwkSet = serde_json::from_slice(&body).unwrap();
    assert_eq!(set.keys.len(), 1);
    assert_eq!(set.keys[0].kid.as_deref(), Some(idp.signing_key().kid()));
    assert_eq!(set, idp.public_jwks());
}

#[tokio::test]
async fn issuer_with_a_path_mounts_the_routes_there() {
    let mut opts = options(Algorithm::EdDsa);
    opts.issuer = "http://127.0.0.1:9000/idp/".into();
    let idp = DemoIdp::new(opts).unwrap();
    assert_eq!(idp.issuer(), "http://127.0.0.1:9000/idp");
    let router = idp.router();
    let (status, _, body) = call(&router, get("/idp/.well-known/openid-configuration")).await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["token_endpoint"], "http://127.0.0.1:9000/idp/token");
    assert_eq!(call(&router, get("/jwks")).await.0, StatusCode::NOT_FOUND);
}

async fn full_flow(alg: Algorithm, auth: fn() -> Auth<'static>) {
    let idp = idp(alg);
    let router = idp.router();
    let code = code_for(&router, &[]).await;
    let (status, headers, body) = redeem(&router, auth(), &[("code", &code)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "openid email profile");

    let id_token = body["id_token"].as_str().unwrap();
    let claims = verify_id_token(&idp, id_token).unwrap();
    assert_eq!(raw_header(id_token)["alg"], alg.as_str());
    assert_eq!(raw_header(id_token)["kid"], idp.signing_key().kid());
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], DEMO_CLIENT_ID);
    assert_eq!(claims["azp"], DEMO_CLIENT_ID);
    assert_eq!(claims["nonce"], "n-456");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["name"], "Alice Example");
    assert_eq!(claims["groups"], json!(["staff", "admins"]));
    assert_eq!(claims["employee_id"], "E1001");
    assert_eq!(claims["roles"], json!(["admin", "dev"]));
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 300);
    assert!(claims["auth_time"].as_u64().unwrap() <= iat);

    let access_token = body["access_token"].as_str().unwrap();
    let request = Request::builder()
        .uri("/userinfo")
        .header("authorization", format!("Bearer {access_token}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(&router, request).await;
    assert_eq!(status, StatusCode::OK);
    let info: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["email"], "alice@example.com");

    idp.advance_clock(ACCESS_TOKEN_LIFETIME);
    let request = Request::builder()
        .uri("/userinfo")
        .header("authorization", format!("Bearer {access_token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&router, request).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn code_flow_with_client_secret_basic_rs256() {
    full_flow(Algorithm::Rs256, basic).await;
}

#[tokio::test]
async fn code_flow_with_client_secret_post_es512() {
    full_flow(Algorithm::Es512, || {
        Auth::Post(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    })
    .await;
}

#[tokio::test]
async fn code_flow_eddsa() {
    full_flow(Algorithm::EdDsa, basic).await;
}

#[tokio::test]
async fn basic_credentials_are_form_decoded() {
    let mut opts = options(Algorithm::Es256);
    opts.client_id = "client with:colon".into();
    opts.client_secret = "s3cret+/=%&".into();
    let idp = DemoIdp::new(opts).unwrap();
    let router = idp.router();
    let uri = authorize_uri(&[("client_id", "client with:colon")]);
    let (_, headers, _) = call(&router, get(&uri)).await;
    let code = redirect_params(&headers)["code"].clone();
    let auth = Auth::Basic("client with:colon", "s3cret+/=%&");
    let (status, _, body) = redeem(&router, auth, &[("code", &code)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn pkce_s256_verifier_is_checked() {
    let idp = idp(Algorithm::Es256);
    let router = idp.router();
    let challenge = s256(VERIFIER);
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];

    let code = code_for(&router, &pkce).await;
    let (status, _, _) = redeem(
        &router,
        basic(),
        &[("code", &code), ("code_verifier", VERIFIER)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let code = code_for(&router, &pkce).await;
    let (status, _, body) = redeem(&router, basic(), &[("code", &code)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let code = code_for(&router, &pkce).await;
    let wrong = "X".repeat(43);
    let (status, _, body) = redeem(
        &router,
        basic(),
        &[("code", &code), ("code_verifier", &wrong)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // The challenge itself is not a valid verifier for it.
    let code = code_for(&router, &pkce).await;
    let (status, _, _) = redeem(
        &router,
        basic(),
        &[("code", &code), ("code_verifier", &challenge)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn verifier_without_challenge_is_refused() {
    let idp = idp(Algorithm::Es256);
    let router = idp.router();
    let code = code_for(&router, &[]).await;
    let (status, _, body) = redeem(
        &router,
        basic(),
        &[("code", &code), ("code_verifier", VERIFIER)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn plain_and_unknown_pkce_methods_are_refused_at_authorize() {
    let router = idp(Algorithm::Es256).router();
    for extra in [
        vec![
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
        vec![("code_challenge", VERIFIER)],
        vec![
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "S512"),
        ],
        vec![("code_challenge_method", "S256")],
        vec![
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
    ] {
        let (status, headers, _) = call(&router, get(&authorize_uri(&extra))).await;
        assert_eq!(status, StatusCode::FOUND);
        let params = redirect_params(&headers);
        assert_eq!(params["error"], "invalid_request", "{extra:?}");
        assert_eq!(params["state"], "st-123");
        assert!(!params.contains_key("code"));
    }
}

#[tokio::test]
async fn a_code_works_once_and_its_reuse_revokes_the_access_token() {
    let idp = idp(Algorithm::Es256);
    let router = idp.router();
    let code = code_for(&router, &[]).await;
    let (status, _, first) = redeem(&router, basic(), &[("code", &code)]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, second) = redeem(&router, basic(), &[("code", &code)]).await;
    assert_eq!(
        (status, second["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let access_token = first["access_token"].as_str().unwrap();
    let request = Request::builder()
        .uri("/userinfo")
        .header("authorization", format!("Bearer {access_token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&router, request).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn codes_expire_after_a_minute() {
    let idp = idp(Algorithm::Es256);
    let router = idp.router();
    let code = code_for(&router, &[]).await;
    idp.advance_clock(CODE_LIFETIME + Duration::from_secs(1));
    let (status, _, body) = redeem(&router, basic(), &[("code", &code)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let code = code_for(&router, &[]).await;
    idp.advance_clock(CODE_LIFETIME - Duration::from_secs(5));
    assert_eq!(
        redeem(&router, basic(), &[("code", &code)]).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unregistered_redirect_uris_get_a_page_not_a_redirect() {
    let router = idp(Algorithm::Es256).router();
    for bad in [
        "https://evil.example/callback",
        "http://auth.localhost:8080/cdn-cgi/access/callback/",
        "http://auth.localhost:8080/cdn-cgi/access/callback?x=1",
        "HTTP://auth.localhost:8080/cdn-cgi/access/callback",
    ] {
        let (status, headers, body) =
            call(&router, get(&authorize_uri(&[("redirect_uri", bad)]))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(headers.get(header::LOCATION).is_none());
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(html.contains("not registered"));
        assert!(html.contains("not for production"));
    }
    let (status, headers, _) = call(&router, get(&authorize_uri(&[("redirect_uri", "")]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers.get(header::LOCATION).is_none());
    let (status, headers, _) = call(&router, get(&authorize_uri(&[("client_id", "other")]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers.get(header::LOCATION).is_none());
}

#[tokio::test]
async fn repeated_parameters_are_refused() {
    let router = idp(Algorithm::Es256).router();
    let uri = format!("{}&state=again", authorize_uri(&[]));
    let (status, headers, _) = call(&router, get(&uri)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers.get(header::LOCATION).is_none());
}

#[tokio::test]
async fn request_errors_after_a_known_redirect_uri_go_back_to_the_client() {
    let router = idp(Algorithm::Es256).router();
    for (extra, error) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("scope", "email profile")], "invalid_scope"),
        (vec![("scope", "openidx")], "invalid_scope"),
    ] {
        let (status, headers, _) = call(&router, get(&authorize_uri(&extra))).await;
        assert_eq!(status, StatusCode::FOUND);
        let params = redirect_params(&headers);
        assert_eq!(params["error"], error, "{extra:?}");
        assert_eq!(params["state"], "st-123");
    }
}

#[tokio::test]
async fn token_redirect_uri_must_match_the_authorization_request() {
    let router = idp(Algorithm::Es256).router();
    let code = code_for(&router, &[]).await;
    let (status, _, body) = redeem(
        &router,
        basic(),
        &[("code", &code), ("redirect_uri", "https://evil.example/cb")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let code = code_for(&router, &[]).await;
    let (status, _, _) = redeem(&router, basic(), &[("code", &code), ("redirect_uri", "")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn client_authentication_is_enforced() {
    let router = idp(Algorithm::Es256).router();
    type Case<'a> = (Auth<'a>, Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            Auth::Basic(DEMO_CLIENT_ID, "wrong"),
            vec![],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Auth::Post(DEMO_CLIENT_ID, "wrong"),
            vec![],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Auth::Basic("someone-else", DEMO_CLIENT_SECRET),
            vec![],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Auth::Post(DEMO_CLIENT_ID, ""),
            vec![],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Auth::Basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
            vec![("client_secret", DEMO_CLIENT_SECRET)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (auth, extra, status, error) in cases {
        let code = code_for(&router, &[]).await;
        let mut extra = extra;
        extra.push(("code", &code));
        let (got, headers, body) = redeem(&router, auth, &extra).await;
        assert_eq!((got, body["error"].as_str()), (status, Some(error)));
        if status == StatusCode::UNAUTHORIZED {
            assert!(headers.contains_key(header::WWW_AUTHENTICATE));
        }
    }
}

#[tokio::test]
async fn token_endpoint_refuses_other_grants_and_bodies() {
    let router = idp(Algorithm::Es256).router();
    let code = code_for(&router, &[]).await;
    let (status, _, body) = redeem(
        &router,
        basic(),
        &[("code", &code), ("grant_type", "password")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let (_, _, body) = redeem(&router, basic(), &[("code", "made-up")]).await;
    assert_eq!(body["error"], "invalid_grant");
    let code = code_for(&router, &[]).await;
    let twice = format!(
        "{}&code={code}",
        form(&[
            ("grant_type", "authorization_code"),
            ("redirect_uri", REDIRECT),
            ("code", &code)
        ])
    );
    let request = Request::builder()
        .method("POST")
        .uri("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            format!(
                "Basic {}",
                STANDARD.encode(format!("{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}"))
            ),
        )
        .body(Body::from(twice))
        .unwrap();
    let (status, _, body) = call(&router, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("invalid_request"));
    let request = Request::builder()
        .method("POST")
        .uri("/token")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(call(&router, request).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn hook_changes_header_and_claims_before_signing() {
    let mut opts = options(Algorithm::Ps256);
    opts.id_token_hook = Some(Arc::new(|header, claims| {
        header.insert("x-test".into(), json!("yes"));
        claims.insert("aud".into(), json!("someone-else"));
        claims.remove("email");
    }));
    let idp = DemoIdp::new(opts).unwrap();
    let router = idp.router();
    let code = code_for(&router, &[]).await;
    let (_, _, body) = redeem(&router, basic(), &[("code", &code)]).await;
    let token = body["id_token"].as_str().unwrap();
    let claims = verify_id_token(&idp, token).unwrap();
    assert_eq!(claims["aud"], "someone-else");
    assert!(!claims.contains_key("email"));
    assert_eq!(raw_header(token)["x-test"], "yes");

    idp.set_id_token_hook(None);
    let code = code_for(&router, &[]).await;
    let (_, _, body) = redeem(&router, basic(), &[("code", &code)]).await;
    let claims = verify_id_token(&idp, body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["aud"], DEMO_CLIENT_ID);
}

#[tokio::test]
async fn signing_key_override_signs_with_an_unpublished_key() {
    let mut opts = options(Algorithm::Es256);
    opts.signing_key_override = Some(Arc::new(SigningKey::generate(Algorithm::Es256).unwrap()));
    let idp = DemoIdp::new(opts).unwrap();
    let router = idp.router();
    let code = code_for(&router, &[]).await;
    let (_, _, body) = redeem(&router, basic(), &[("code", &code)]).await;
    let token = body["id_token"].as_str().unwrap();
    assert!(verify_id_token(&idp, token).is_err());

    // Claiming the published kid does not help: the signature is still the wrong key's.
    let kid = idp.signing_key().kid().to_owned();
    idp.set_id_token_hook(Some(Arc::new(move |header, _| {
        header.insert("kid".into(), json!(kid));
    })));
    let code = code_for(&router, &[]).await;
    let (_, _, body) = redeem(&router, basic(), &[("code", &code)]).await;
    assert!(verify_id_token(&idp, body["id_token"].as_str().unwrap()).is_err());

    idp.set_signing_key_override(None);
    let code = code_for(&router, &[]).await;
    let (_, _, body) = redeem(&router, basic(), &[("code", &code)]).await;
    assert!(verify_id_token(&idp, body["id_token"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn login_form_checks_the_password_and_is_single_use() {
    let idp = idp(Algorithm::Es256);
    idp.set_auto_login(None).unwrap();
    let router = idp.router();
    let (status, headers, body) =
        call(&router, get(&authorize_uri(&[("login_hint", "bob")]))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let html = String::from_utf8(body.to_vec()).unwrap();
    assert!(html.contains("not for production"));
    assert!(html.contains("<label for=\"password\">"));
    assert!(html.contains("<strong>alice</strong> — password <code>alice</code>"));
    assert!(html.contains("value=\"bob\""));
    let txn = html
        .split("name=\"txn\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();

    let wrong = form(&[("txn", &txn), ("username", "bob"), ("password", "alice")]);
    let (status, _, body) = call(&router, post_form("/login", wrong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        String::from_utf8(body.to_vec())
            .unwrap()
            .contains("do not match")
    );
    let unknown = form(&[("txn", &txn), ("username", "mallory"), ("password", "")]);
    assert_eq!(
        call(&router, post_form("/login", unknown)).await.0,
        StatusCode::UNAUTHORIZED
    );

    let right = form(&[("txn", &txn), ("username", "bob"), ("password", "bob")]);
    let (status, headers, _) = call(&router, post_form("/login", right.clone())).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let params = redirect_params(&headers);
    assert_eq!(params["state"], "st-123");
    let (status, _, body) = redeem(&router, basic(), &[("code", &params["code"])]).await;
    assert_eq!(status, StatusCode::OK);
    let claims = verify_id_token(&idp, body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["email"], "bob@example.org");
    assert_eq!(claims["groups"], json!(["contractors"]));

    let (status, headers, _) = call(&router, post_form("/login", right)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers.get(header::LOCATION).is_none());
}

#[tokio::test]
async fn login_form_expires() {
    let idp = idp(Algorithm::Es256);
    idp.set_auto_login(None).unwrap();
    let router = idp.router();
    let (_, _, body) = call(&router, get(&authorize_uri(&[]))).await;
    let html = String::from_utf8(body.to_vec()).unwrap();
    let txn = html
        .split("name=\"txn\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    idp.advance_clock(LOGIN_FORM_LIFETIME + Duration::from_secs(1));
    let right = form(&[("txn", txn), ("username", "alice"), ("password", "alice")]);
    assert_eq!(
        call(&router, post_form("/login", right)).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let idp = idp(Algorithm::Es256);
    idp.set_auto_login(None).unwrap();
    let (status, headers, _) =
        call(&idp.router(), get(&authorize_uri(&[("prompt", "none")]))).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(redirect_params(&headers)["error"], "login_required");
}

#[tokio::test]
async fn auto_login_user_can_be_switched() {
    let idp = idp(Algorithm::Es256);
    assert!(idp.set_auto_login(Some("nobody")).is_err());
    idp.set_auto_login(Some("bob")).unwrap();
    let router = idp.router();
    let code = code_for(&router, &[]).await;
    let (_, _, body) = redeem(&router, basic(), &[("code", &code)]).await;
    let claims = verify_id_token(&idp, body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["sub"], "bob");
    // No nonce in the request, none in the token.
    let code = code_for(&router, &[("nonce", "")]).await;
    let (_, _, body) = redeem(&router, basic(), &[("code", &code)]).await;
    let claims = verify_id_token(&idp, body["id_token"].as_str().unwrap()).unwrap();
    assert!(!claims.contains_key("nonce"));
}

#[tokio::test]
async fn userinfo_refuses_missing_and_unknown_tokens() {
    let router = idp(Algorithm::Es256).router();
    let (status, headers, _) = call(&router, get("/userinfo")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key(header::WWW_AUTHENTICATE));
    let request = Request::builder()
        .uri("/userinfo")
        .header("authorization", "Bearer made-up")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&router, request).await.0, StatusCode::UNAUTHORIZED);
}

#[test]
fn options_are_validated() {
    let check = |change: fn(&mut IdpOptions), field: &str| {
        let mut opts = options(Algorithm::Es256);
        change(&mut opts);
        match DemoIdp::new(opts) {
            Err(DemoError::InvalidOption { field: got, .. }) => assert_eq!(got, field),
            other => panic!("expected {field} to be refused, got {other:?}"),
        }
    };
    check(|o| o.issuer = "not a url".into(), "issuer");
    check(|o| o.issuer = "ftp://x".into(), "issuer");
    check(|o| o.redirect_uris.clear(), "redirect_uris");
    check(
        |o| o.redirect_uris.push("http://x/#frag".into()),
        "redirect_uris",
    );
    check(|o| o.client_secret.clear(), "client_secret");
    check(|o| o.auto_login = Some("nobody".into()), "auto_login");
    check(|o| o.users.push(demo_users().remove(0)), "users");
}

#[test]
fn demo_users_are_alice_and_bob() {
    let users = demo_users();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].username, "alice");
    assert_eq!(users[0].claims["email"], "alice@example.com");
    assert_eq!(users[1].claims["email"], "bob@example.org");
}

#[test]
fn form_decoding_of_basic_credentials() {
    assert_eq!(form_decode("a+b%3Ac%25").as_deref(), Some("a b:c%"));
    assert_eq!(form_decode("%zz"), None);
    assert_eq!(form_decode("%4"), None);
}

/// One HTTP/1.1 request over a real socket; returns the status line and the rest.
async fn raw_http(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8(response).unwrap()
}

#[tokio::test]
async fn serves_over_a_real_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut opts = options(Algorithm::Es384);
    opts.issuer = format!("http://{addr}");
    opts.auto_login = None;
    let idp = DemoIdp::new(opts).unwrap();
    let server = tokio::spawn(crate::serve(listener, idp.router()));

    let response = raw_http(
        addr,
        &format!(
            "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(&format!("\"jwks_uri\":\"http://{addr}/jwks\"")));

    let response = raw_http(
        addr,
        &format!(
            "GET {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
            authorize_uri(&[])
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("content-security-policy: default-src 'none'"));
    assert!(response.contains("<form method=\"post\" action=\"/login\">"));
    server.abort();
}
