//! Web admin UI scenarios (part of the one integration binary, `tests/gateway.rs`).

use portcullis_testkit::{APP, Options, TEAM, TestGateway};

/// `[admin]` policies that make alice (the demo IdP's default user) an administrator.
const ALICE_IS_ADMIN: &str = r#"
[admin]
policies = [{ name = "admins", decision = "allow", include = [{ email = { email = "alice@example.com" } }] }]
"#;

async fn admin_gateway(extra: Options) -> TestGateway {
    TestGateway::start(Options {
        top_extra: format!("{ALICE_IS_ADMIN}\n{}", extra.top_extra),
        ..extra
    })
    .await
}

/// GETs a team-domain admin path with a browser; returns status and body.
async fn get(gw: &TestGateway, browser: &reqwest::Client, path: &str) -> (u16, String) {
    let resp = browser.get(gw.url(TEAM, path)).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// POSTs a form to a team-domain admin path; returns status and body.
async fn post(
    gw: &TestGateway,
    browser: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let resp = browser
        .post(gw.url(TEAM, path))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The value of the first `<input … name="{name}" value="…">` on a page.
fn input_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// A signed-in admin browser and the CSRF token of its session.
async fn signed_in_admin(gw: &TestGateway) -> (reqwest::Client, String) {
    let browser = gw.browser();
    let (mut status, mut page) = get(gw, &browser, "/admin/service-tokens").await;
    if let Some((_, rest)) = page.split_once("href=\"http://auth.localhost") {
        // The chooser of several login methods: take the first.
        let link = rest.split('"').next().unwrap().replace("&#38;", "&");
        let url = format!("http://auth.localhost{link}");
        let resp = browser.get(url).send().await.unwrap();
        status = resp.status().as_u16();
        page = resp.text().await.unwrap();
    }
    assert_eq!(status, 200, "{page}");
    let csrf = input_value(&page, "csrf");
    (browser, csrf)
}

#[tokio::test]
async fn without_a_session_the_admin_ui_signs_in_and_comes_back() {
    let gw = admin_gateway(Options::default()).await;
    let stepping = gw.stepping_browser();
    let resp = stepping
        .get(gw.url(TEAM, "/admin/users?page=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("http://{}/authorize", gw.idp_addr)),
        "{location}"
    );

    // The whole flow ends back on the asked page, with only the global session.
    let browser = gw.browser();
    let resp = browser
        .get(gw.url(TEAM, "/admin?from=test"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.url().path(), "/admin");
    assert_eq!(resp.url().query(), Some("from=test"));
    assert_eq!(resp.status().as_u16(), 200);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("Dashboard") && page.contains("alice@example.com"),
        "{page}"
    );
    // No application token was minted on the way: the app still sends the browser to sign in
    // (single sign-on then lets it in).
    let resp = gw
        .raw_client()
        .get(gw.url(APP, "/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302);

    // With two login methods, the chooser links come back to the admin UI.
    let two = admin_gateway(Options {
        second_idp: Some("Backup IdP".into()),
        ..Options::default()
    })
    .await;
    let (status, page) = get(&two, &two.stepping_browser(), "/admin/logs").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Sign in with Backup IdP") && page.contains("/admin/login?idp="),
        "{page}"
    );
    assert!(page.contains("next=%2Fadmin%2Flogs"), "{page}");
}

#[tokio::test]
async fn a_signed_in_user_who_is_not_an_admin_gets_a_403_with_sign_out() {
    let gw = admin_gateway(Options {
        auto_login: Some("bob".into()),
        policies: r#"[{ name = "all", decision = "allow", include = [{ everyone = {} }] }]"#.into(),
        ..Options::default()
    })
    .await;
    let browser = gw.browser();
    let (status, page) = get(&gw, &browser, "/admin/users").await;
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("bob@example.org") && page.contains("not an administrator"),
        "{page}"
    );
    assert!(page.contains("/cdn-cgi/access/logout\">Sign out"), "{page}");
    assert!(!page.contains("name=\"csrf\""), "{page}");
}

#[tokio::test]
async fn the_setup_token_makes_the_first_admin_once() {
    let gw = TestGateway::start(Options::default()).await;
    let path = gw.data_dir.join("admin-setup-token.txt");
    let token = std::fs::read_to_string(&path).unwrap().trim().to_owned();
    let browser = gw.browser();
    // Signed in, not yet an administrator.
    let (status, _) = get(&gw, &browser, "/admin").await;
    assert_eq!(status, 403);
    let (status, page) = get(&gw, &browser, "/admin/setup?token=wrong").await;
    assert_eq!(status, 403);
    assert!(page.contains("not valid"), "{page}");
    let (status, page) = get(&gw, &browser, &format!("/admin/setup?token={token}")).await;
    assert_eq!(status, 200, "{page}");
    let csrf = input_value(&page, "csrf");
    // Without the CSRF token the form is refused.
    let (status, _) = post(&gw, &browser, "/admin/setup", &[("token", &token)]).await;
    assert_eq!(status, 403);
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/setup",
        &[("token", &token), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Dashboard"), "{page}");
    assert!(!path.exists());
    // The token works once.
    let (status, page) = get(&gw, &browser, &format!("/admin/setup?token={token}")).await;
    assert_eq!(status, 403);
    assert!(page.contains("not available"), "{page}");
    // With `[admin]` policies no token is made.
    let with_policies = admin_gateway(Options::default()).await;
    assert!(
        !with_policies
            .data_dir
            .join("admin-setup-token.txt")
            .exists()
    );
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let gw = admin_gateway(Options::default()).await;
    let (browser, csrf) = signed_in_admin(&gw).await;
    let form = [("name", "ci"), ("duration", "8760h")];
    let (status, page) = post(&gw, &browser, "/admin/service-tokens", &form).await;
    assert_eq!(status, 403);
    assert!(page.contains("security token"), "{page}");
    let (status, _) = post(
        &gw,
        &browser,
        "/admin/service-tokens",
        &[("name", "ci"), ("duration", "8760h"), ("csrf", "00ff")],
    )
    .await;
    assert_eq!(status, 403);
    // Another session's token does not fit this one.
    let (_, other_csrf) = signed_in_admin(&gw).await;
    assert_ne!(other_csrf, csrf);
    let (status, _) = post(
        &gw,
        &browser,
        "/admin/service-tokens",
        &[("name", "ci"), ("duration", "8760h"), ("csrf", &other_csrf)],
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        gw.gateway()
            .store
            .list_service_tokens()
            .await
            .unwrap()
            .is_empty()
    );
    // A POST without any session is refused too.
    let (status, _) = post(&gw, &gw.browser(), "/admin/service-tokens", &form).await;
    assert_eq!(status, 403);
}

/// The text of the element with this id (`<p … id="{id}">text</p>`).
fn element_text(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {page}"))
        + marker.len();
    page[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_service_token_made_in_the_ui_shows_its_secret_once_and_opens_the_app() {
    let gw = admin_gateway(Options {
        policies: r#"[{ name = "machines", decision = "non_identity", include = [{ any_valid_service_token = {} }] }]"#.into(),
        ..Options::default()
    })
    .await;
    let (browser, csrf) = signed_in_admin(&gw).await;
    // Errors are shown next to their field.
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/service-tokens",
        &[("csrf", &csrf), ("name", ""), ("duration", "soon")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("id=\"name-error\""), "{page}");
    assert!(
        element_text(&page, "duration-error").contains("`soon` is not a duration"),
        "{page}"
    );
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/service-tokens",
        &[("csrf", &csrf), ("name", "deploy bot"), ("duration", "24h")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let client_id = element_text(&page, "client-id");
    let secret = element_text(&page, "client-secret");
    assert!(
        client_id.ends_with(".access") && secret.len() >= 32,
        "{page}"
    );
    let resp = gw
        .raw_client()
        .get(gw.url(APP, "/"))
        .header("cf-access-client-id", &client_id)
        .header("cf-access-client-secret", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // The list shows the token, never its secret.
    let (_, list) = get(&gw, &browser, "/admin/service-tokens").await;
    assert!(
        list.contains("deploy bot") && list.contains(&client_id),
        "{list}"
    );
    assert!(!list.contains(&secret));
    // The same name again is refused next to the field.
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/service-tokens",
        &[("csrf", &csrf), ("name", "deploy bot"), ("duration", "24h")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        element_text(&page, "name-error").contains("already exists"),
        "{page}"
    );

    // Deleting asks first, then refuses the token.
    let id = gw.gateway().store.list_service_tokens().await.unwrap()[0].id;
    let delete = format!("/admin/service-tokens/{id}/delete");
    let (status, page) = post(&gw, &browser, &delete, &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Delete “deploy bot”?") && page.contains("name=\"confirm\" value=\"yes\""),
        "{page}"
    );
    assert_eq!(
        gw.gateway()
            .store
            .list_service_tokens()
            .await
            .unwrap()
            .len(),
        1
    );
    let (status, page) = post(
        &gw,
        &browser,
        &delete,
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("The token was deleted"), "{page}");
    let resp = gw
        .raw_client()
        .get(gw.url(APP, "/"))
        .header("cf-access-client-id", &client_id)
        .header("cf-access-client-secret", &secret)
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn revoking_a_user_in_the_ui_refuses_their_next_request() {
    let gw = admin_gateway(Options::default()).await;
    // Bob's gateway session comes from another browser; alice administers.
    let user = gw.browser();
    let resp = gw.login(&user, "/").await;
    assert_eq!(resp.status().as_u16(), 200);
    let (admin, csrf) = signed_in_admin(&gw).await;
    let (status, list) = get(&gw, &admin, "/admin/users").await;
    assert_eq!(status, 200);
    assert!(list.contains("alice@example.com"), "{list}");
    let id = gw
        .gateway()
        .store
        .find_user_by_email("alice@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (status, page) = get(&gw, &admin, &format!("/admin/users/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Active sessions") && page.contains("/sessions/"),
        "{page}"
    );
    // Confirmation first: nothing changes yet.
    let revoke = format!("/admin/users/{id}/revoke");
    let (status, page) = post(&gw, &admin, &revoke, &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(page.contains("Revoke alice@example.com?"), "{page}");
    let resp = user
        .get(gw.url(APP, "/"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (status, page) = post(&gw, &admin, &revoke, &[("csrf", &csrf), ("confirm", "yes")]).await;
    // The demo IdP signs every browser in as alice, so she revoked herself too: coming back to
    // the user page, her own sign-in is refused for a minute.
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("Access revoked"), "{page}");
    let resp = user
        .get(gw.url(APP, "/"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn logs_paginate_and_filter() {
    let gw = admin_gateway(Options::default()).await;
    let store = gw.gateway().store.clone();
    let now = gw.gateway().clock.now();
    for i in 0..120 {
        store
            .insert_auth_log(&portcullis_store::AuthLogRecord {
                id: uuid::Uuid::new_v4(),
                ray_id: format!("ray{i:03}"),
                created_at: now - 1000 + i,
                user_email: Some(
                    if i % 2 == 0 {
                        "even@example.com"
                    } else {
                        "odd@example.com"
                    }
                    .into(),
                ),
                user_id: None,
                ip_address: Some("192.0.2.1".into()),
                app_uid: None,
                app_domain: None,
                app_name: Some("whoami".into()),
                connection: "oidc".into(),
                idp_id: None,
                action: "login".into(),
                allowed: i % 3 != 0,
                reason: None,
                country: None,
            })
            .await
            .unwrap();
    }
    let (admin, _) = signed_in_admin(&gw).await;
    let (status, first) = get(&gw, &admin, "/admin/logs?email=odd%40example.com").await;
    assert_eq!(status, 200);
    assert_eq!(first.matches("<code>ray").count(), 50, "{first}");
    assert!(
        first.contains("ray119") && !first.contains("ray019"),
        "{first}"
    );
    assert!(
        first.contains("rel=\"next\"") && !first.contains("rel=\"prev\""),
        "{first}"
    );
    assert!(
        first.contains("page=2") && first.contains("email=odd%40example.com"),
        "{first}"
    );
    let (_, second) = get(&gw, &admin, "/admin/logs?email=odd%40example.com&page=2").await;
    assert_eq!(second.matches("<code>ray").count(), 10, "{second}");
    assert!(
        second.contains("rel=\"prev\"") && !second.contains("rel=\"next\""),
        "{second}"
    );
    let (_, refused) = get(
        &gw,
        &admin,
        "/admin/logs?email=even%40example.com&allowed=false",
    )
    .await;
    assert_eq!(refused.matches("<code>ray").count(), 20, "{refused}");
    // A bad time is named next to its field.
    let (status, page) = get(&gw, &admin, "/admin/logs?since=yesterday").await;
    assert_eq!(status, 400);
    assert!(
        element_text(&page, "since-error").contains("`yesterday` is not a time"),
        "{page}"
    );
    let (status, page) = get(&gw, &admin, "/admin/logs/scim?status=FAILURE").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("SCIM provisioning log") && page.contains("No entries."),
        "{page}"
    );
}

#[tokio::test]
async fn an_admin_sees_every_page_tests_policies_and_login_methods() {
    let top = r#"
[[rule_groups]]
id = "eng"
name = "Engineering"
include = [{ email_domain = { domain = "example.com" } }]
"#;
    let gw = admin_gateway(Options {
        second_idp: Some("Backup IdP".into()),
        scim: Some("enabled = true, secret = \"scim-secret-0123456789-abcdefghijklmnop\"".into()),
        top_extra: top.into(),
        ..Options::default()
    })
    .await;
    let (browser, csrf) = signed_in_admin(&gw).await;
    let app_id = gw
        .gateway()
        .snapshot
        .load()
        .apps
        .iter()
        .next()
        .unwrap()
        .1
        .id;
    let user_id = gw
        .gateway()
        .store
        .find_user_by_email("alice@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    for (path, expected) in [
        ("/admin", "Dashboard"),
        ("/admin/login-methods", "Backup IdP"),
        ("/admin/apps", "whoami"),
        (
            &format!("/admin/apps/{app_id}") as &str,
            "Policies, in evaluation order",
        ),
        ("/admin/policies", "Reusable policies"),
        ("/admin/rule-groups", "Engineering"),
        ("/admin/service-tokens", "Create a service token"),
        ("/admin/users", "alice@example.com"),
        (
            &format!("/admin/users/{user_id}") as &str,
            "Active sessions",
        ),
        ("/admin/logs", "Authentication log"),
        ("/admin/logs/scim", "SCIM provisioning log"),
    ] {
        let (status, page) = get(&gw, &browser, path).await;
        assert_eq!(status, 200, "{path}: {page}");
        assert!(page.contains(expected), "{path}: {page}");
    }
    let (status, _) = get(&gw, &browser, "/admin/nothing-here").await;
    assert_eq!(status, 404);

    // A Test link per login method, opening in a new window, that runs the login flow.
    let (_, page) = get(&gw, &browser, "/admin/login-methods").await;
    let links: Vec<&str> = page
        .split("<a class=\"test\" href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(links.len(), 2, "{page}");
    assert_eq!(
        page.matches("target=\"_blank\" rel=\"noopener\"").count(),
        2,
        "{page}"
    );
    let test = browser
        .get(links[0].replace("&#38;", "&"))
        .send()
        .await
        .unwrap();
    assert_eq!(test.status().as_u16(), 200);
    assert!(
        test.text()
            .await
            .unwrap()
            .contains("Your connection works!")
    );
    assert!(
        page.contains(&format!(
            "/scim/{}/v2",
            gw.gateway().snapshot.load().login_methods[0].id.0
        )),
        "{page}"
    );

    // Regenerating the SCIM secret asks first, then shows the new secret once.
    let idp = gw.gateway().snapshot.load().login_methods[0].id.0;
    let path = format!("/admin/login-methods/{idp}/scim-secret");
    let (status, page) = post(&gw, &browser, &path, &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Regenerate the SCIM secret of Test IdP?"),
        "{page}"
    );
    let (status, page) = post(&gw, &browser, &path, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(status, 200, "{page}");
    let secret = element_text(&page, "scim-secret");
    let scim = gw
        .raw_client()
        .get(gw.url(TEAM, &format!("/scim/{idp}/v2/Users")))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(scim.status().as_u16(), 200);

    // The policy tester: one email (typed attributes), a known user (last sign-in), everyone.
    let (status, page) = get(
        &gw,
        &browser,
        &format!("/admin/policies?app={app_id}&email=carol%40example.net&groups=ops"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<strong>Refused</strong>") && page.contains("in groups ops"),
        "{page}"
    );
    let (_, page) = get(
        &gw,
        &browser,
        &format!("/admin/policies?app={app_id}&email=alice%40example.com"),
    )
    .await;
    assert!(
        page.contains("<strong>Allowed</strong>") && page.contains("last sign-in"),
        "{page}"
    );
    assert!(page.contains("staff"), "{page}");
    let (_, page) = get(
        &gw,
        &browser,
        &format!("/admin/policies?app={app_id}&all=yes"),
    )
    .await;
    assert!(page.contains("1 of 1 users allowed"), "{page}");
    let (status, page) = get(&gw, &browser, "/admin/policies?app=&email=nope").await;
    assert_eq!(status, 400);
    assert!(
        element_text(&page, "app-error").contains("Choose an application"),
        "{page}"
    );
    assert!(
        element_text(&page, "email-error").contains("not an email"),
        "{page}"
    );

    // Revoke existing tokens of the app, after confirmation.
    let path = format!("/admin/apps/{app_id}/revoke-tokens");
    let (_, page) = post(&gw, &browser, &path, &[("csrf", &csrf)]).await;
    assert!(page.contains("Revoke every token of whoami?"), "{page}");
    let (status, page) = post(&gw, &browser, &path, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(status, 200);
    assert!(page.contains("is refused"), "{page}");
    assert!(gw.gateway().revoked.app_revoked_at(app_id).is_some());
}

// --- login methods, reusable policies, rule groups and applications made in the forms ---------

/// The application the form tests make.
const WIKI: &str = "wiki.localhost";

/// A browser that also resolves the application the form tests make.
fn wiki_browser(gw: &TestGateway) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .resolve(TEAM, gw.addr())
        .resolve(WIKI, gw.addr())
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

fn discovery_url(gw: &TestGateway) -> String {
    format!("{}/.well-known/openid-configuration", gw.idp.issuer())
}

/// The `<tr>` of a table row that mentions `text`.
fn row_with<'p>(page: &'p str, text: &str) -> &'p str {
    page.split("<tr>")
        .find(|row| row.contains(text))
        .unwrap_or_else(|| panic!("no row with {text} in {page}"))
}

/// Adds a login method through the form: Fetch from the discovery URL, then Save; returns the
/// page Save answered.
async fn add_login_method(
    gw: &TestGateway,
    browser: &reqwest::Client,
    csrf: &str,
    name: &str,
    secret: &str,
    scim: bool,
) -> (u16, String) {
    let discovery = discovery_url(gw);
    let mut form = vec![
        ("csrf", csrf),
        ("name", name),
        ("client_id", gw.idp.client_id()),
        ("client_secret", secret),
        ("discovery_url", discovery.as_str()),
        ("scopes", "openid email profile"),
        ("pkce_enabled", "yes"),
        ("email_claim_name", "email"),
        ("token_endpoint_auth_method", "client_secret_basic"),
        ("identity_update_behavior", "no_action"),
        ("action", "fetch"),
    ];
    let (status, fetched) = post(gw, browser, "/admin/login-methods/new", &form).await;
    assert_eq!(status, 200, "{fetched}");
    // Save what Fetch filled in, as a browser sends the form back.
    form.pop();
    let filled: Vec<(String, String)> = ["issuer", "auth_url", "token_url", "certs_url", "scopes"]
        .iter()
        .map(|k| ((*k).to_owned(), input_value(&fetched, k)))
        .collect();
    form.retain(|(k, _)| !filled.iter().any(|(f, _)| f == k));
    let mut form: Vec<(&str, &str)> = form;
    form.extend(filled.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    form.push(("action", "save"));
    if scim {
        form.push(("scim_enabled", "yes"));
    }
    post(gw, browser, "/admin/login-methods/new", &form).await
}

#[tokio::test]
async fn discovery_fetch_fills_the_login_method_form_and_names_what_went_wrong() {
    let gw = admin_gateway(Options::default()).await;
    let (browser, csrf) = signed_in_admin(&gw).await;
    let (status, page) = get(&gw, &browser, "/admin/login-methods/new").await;
    assert_eq!(status, 200);
    assert!(page.contains("Add a login method"), "{page}");
    let issuer = gw.idp.issuer().to_owned();

    // From the issuer alone: the discovery URL, issuer and endpoints are filled in, and what
    // was typed stays.
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/login-methods/new",
        &[
            ("csrf", &csrf),
            ("name", "Typed Name"),
            ("client_id", "typed-client"),
            ("issuer", &issuer),
            ("scopes", ""),
            ("action", "fetch"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"discovery-status\""), "{page}");
    assert_eq!(input_value(&page, "discovery_url"), discovery_url(&gw));
    assert_eq!(input_value(&page, "issuer"), issuer);
    assert_eq!(
        input_value(&page, "auth_url"),
        format!("{issuer}/authorize")
    );
    assert_eq!(input_value(&page, "certs_url"), format!("{issuer}/jwks"));
    assert!(input_value(&page, "scopes").starts_with("openid"), "{page}");
    assert_eq!(input_value(&page, "name"), "Typed Name");
    assert_eq!(input_value(&page, "client_id"), "typed-client");
    // Nothing was saved by Fetch.
    assert_eq!(gw.gateway().snapshot.load().login_methods.len(), 1);

    // A URL that answers no discovery document, and one nobody answers: named next to the
    // field, the input kept.
    for (url, expected) in [
        (format!("{issuer}/nothing-here"), "answered HTTP 404"),
        (
            "http://127.0.0.1:9/.well-known/openid-configuration".to_owned(),
            "cannot reach",
        ),
        ("not a url".to_owned(), "is not an http(s) URL"),
    ] {
        let (status, page) = post(
            &gw,
            &browser,
            "/admin/login-methods/new",
            &[
                ("csrf", &csrf),
                ("name", "Typed Name"),
                ("discovery_url", &url),
                ("action", "fetch"),
            ],
        )
        .await;
        assert_eq!(status, 400, "{page}");
        assert!(
            element_text(&page, "discovery_url-error").contains(expected),
            "{url}: {page}"
        );
        assert_eq!(input_value(&page, "name"), "Typed Name");
    }
}

#[tokio::test]
async fn a_login_method_policy_and_app_made_in_the_forms_let_a_user_in() {
    let gw = admin_gateway(Options::default()).await;
    let (browser, csrf) = signed_in_admin(&gw).await;

    // The login method, with SCIM: its new SCIM secret is shown once.
    let (status, page) = add_login_method(
        &gw,
        &browser,
        &csrf,
        "Wiki IdP",
        gw.idp.client_secret(),
        true,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("New SCIM secret for Wiki IdP"), "{page}");
    let scim_secret = element_text(&page, "scim-secret");
    let idp = gw
        .gateway()
        .snapshot
        .load()
        .login_methods
        .iter()
        .find(|m| m.name == "Wiki IdP")
        .unwrap()
        .id
        .0;
    let scim = gw
        .raw_client()
        .get(gw.url(TEAM, &format!("/scim/{idp}/v2/Users")))
        .bearer_auth(&scim_secret)
        .send()
        .await
        .unwrap();
    assert_eq!(scim.status().as_u16(), 200);
    let (_, list) = get(&gw, &browser, "/admin/login-methods").await;
    let row = row_with(&list, "Wiki IdP");
    assert!(
        row.contains("Edit Wiki IdP") && row.contains("Delete Wiki IdP"),
        "{row}"
    );
    // The config file's method has neither.
    assert!(!row_with(&list, "Test IdP").contains("Edit Test IdP"));
    // Test of the new method runs the login flow through it.
    let test = row
        .split("<a class=\"test\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    let result = browser
        .get(test)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(result.contains("Your connection works!"), "{result}");
    // Its edit form shows the values and never the secret.
    let (status, page) = get(&gw, &browser, &format!("/admin/login-methods/{idp}")).await;
    assert_eq!(status, 200);
    assert_eq!(input_value(&page, "discovery_url"), discovery_url(&gw));
    assert_eq!(input_value(&page, "client_secret"), "");
    assert!(!page.contains(gw.idp.client_secret()), "{page}");
    assert!(page.contains("Leave blank to keep"), "{page}");

    // A rule group and a reusable policy that uses it and an email.
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/rule-groups/new",
        &[
            ("csrf", &csrf),
            ("name", "Wiki editors"),
            ("include_emails", "alice@example.com, carol@example.com"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("The rule group was added"), "{page}");
    let group = gw
        .gateway()
        .snapshot
        .load()
        .catalog
        .groups()
        .next()
        .unwrap()
        .id
        .clone();
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/policies/new",
        &[
            ("csrf", &csrf),
            ("name", "editors"),
            ("decision", "allow"),
            ("include_group", &group),
            ("exclude_emails", "carol@example.com"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("The reusable policy was added"), "{page}");
    let policy = gw.gateway().snapshot.load().policies[0].id.clone();
    let (_, page) = get(&gw, &browser, &format!("/admin/policies/{policy}")).await;
    assert!(
        page.contains(&format!("name=\"include_group\" value=\"{group}\" checked")),
        "{page}"
    );
    assert_eq!(input_value(&page, "exclude_emails"), "carol@example.com");

    // The application: only the new login method, straight to it, the reusable policy.
    let origin = format!("http://{}", gw.origin_addr);
    let idp_text = idp.to_string();
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/apps/new",
        &[
            ("csrf", &csrf),
            ("name", "wiki"),
            ("domain", WIKI),
            ("origin", &origin),
            ("session_duration", "8h"),
            ("allowed_idp", &idp_text),
            ("auto_redirect_to_identity", "yes"),
            ("policy", &policy),
            (&format!("precedence_{policy}") as &str, "1"),
            ("same_site_cookie_attribute", "lax"),
            ("http_only_cookie_attribute", "yes"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("The application was added") && page.contains("editors"),
        "{page}"
    );
    assert!(page.contains("Wiki IdP"), "{page}");

    // A user reaches it at once, through the new login method.
    let user = wiki_browser(&gw);
    let resp = user.get(gw.url(WIKI, "/echo/hello")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let echoed: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(echoed["path"], "/echo/hello", "{echoed}");

    // Editing keeps the AUD and what the form does not show; the edit form shows the values.
    let (app_id, aud) = {
        let snapshot = gw.gateway().snapshot.load();
        let app = snapshot
            .apps_by_aud
            .values()
            .find(|a| a.name == "wiki")
            .unwrap();
        (app.id, app.aud.clone())
    };
    let edit = format!("/admin/apps/{app_id}/edit");
    let (status, page) = get(&gw, &browser, &edit).await;
    assert_eq!(status, 200);
    assert_eq!(input_value(&page, "origin"), origin);
    assert_eq!(input_value(&page, "session_duration"), "8h");
    assert!(
        page.contains(&format!("name=\"allowed_idp\" value=\"{idp}\" checked")),
        "{page}"
    );
    // The application's own policy, added on edit: carol is let in by it (precedence 2).
    let (status, page) = post(
        &gw,
        &browser,
        &edit,
        &[
            ("csrf", &csrf),
            ("name", "wiki"),
            ("domain", WIKI),
            ("origin", &origin),
            ("session_duration", "2h"),
            ("allowed_idp", &idp_text),
            ("policy", &policy),
            (&format!("precedence_{policy}") as &str, "1"),
            ("inline_enabled", "yes"),
            ("inline_name", "contractors"),
            ("inline_decision", "allow"),
            ("inline_precedence", "2"),
            ("inline_include_domains", "example.net"),
            ("same_site_cookie_attribute", "lax"),
            ("http_only_cookie_attribute", "yes"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("The application was saved"), "{page}");
    let snapshot = gw.gateway().snapshot.load();
    let app = snapshot.apps_by_aud.get(&aud).unwrap();
    assert_eq!(app.session_duration.as_secs(), 7200);
    assert_eq!(app.policies.len(), 2);
    assert_eq!(app.policies[1].name, "contractors");
    assert_eq!(app.policy_refs, std::slice::from_ref(&policy));
}

#[tokio::test]
async fn bad_input_is_named_next_to_its_field_and_nothing_typed_is_lost() {
    let gw = admin_gateway(Options::default()).await;
    let (browser, csrf) = signed_in_admin(&gw).await;

    // Application: a bad origin, named next to the field; every value typed comes back.
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/apps/new",
        &[
            ("csrf", &csrf),
            ("name", "wiki"),
            ("domain", WIKI),
            ("origin", "not a url"),
            ("session_duration", "8h"),
            ("custom_deny_message", "Ask the wiki team"),
            ("inline_enabled", "yes"),
            ("inline_name", "everyone"),
            ("inline_decision", "allow"),
            ("inline_include_everyone", "yes"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(
        element_text(&page, "origin-error").contains("not a url"),
        "{page}"
    );
    assert_eq!(input_value(&page, "name"), "wiki");
    assert_eq!(input_value(&page, "domain"), WIKI);
    assert_eq!(input_value(&page, "origin"), "not a url");
    assert_eq!(
        input_value(&page, "custom_deny_message"),
        "Ask the wiki team"
    );
    assert_eq!(input_value(&page, "inline_name"), "everyone");
    assert!(page.contains("aria-invalid=\"true\""), "{page}");
    // No policy at all is named on the policies.
    let origin = format!("http://{}", gw.origin_addr);
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/apps/new",
        &[
            ("csrf", &csrf),
            ("name", "wiki"),
            ("domain", WIKI),
            ("origin", &origin),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        element_text(&page, "policies-error").contains("at least one policy"),
        "{page}"
    );
    // A Bypass policy of the application's own with an identity rule: named in its section.
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/apps/new",
        &[
            ("csrf", &csrf),
            ("name", "wiki"),
            ("domain", WIKI),
            ("origin", &origin),
            ("inline_enabled", "yes"),
            ("inline_name", "open"),
            ("inline_decision", "bypass"),
            ("inline_include_emails", "alice@example.com"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        element_text(&page, "inline_include-error").contains("identity rule"),
        "{page}"
    );

    // Policy: a bad email and bad JSON rules, each next to its field, the text kept.
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/policies/new",
        &[
            ("csrf", &csrf),
            ("name", "staff"),
            ("decision", "allow"),
            ("include_emails", "alice@example.com, not-an-email"),
            ("require_json", "[{\"emial\": {}}]"),
            ("session_duration", "8h"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(
        element_text(&page, "include_emails-error").contains("`not-an-email`"),
        "{page}"
    );
    assert!(
        element_text(&page, "require_json-error").contains("rule #1"),
        "{page}"
    );
    assert_eq!(
        input_value(&page, "include_emails"),
        "alice@example.com, not-an-email"
    );
    assert!(
        page.contains("[{&#34;emial&#34;: {}}]") || page.contains("[{&quot;emial&quot;: {}}]"),
        "{page}"
    );
    assert_eq!(input_value(&page, "session_duration"), "8h");
    // What only the server can tell: a bad session duration, no include rule.
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/policies/new",
        &[
            ("csrf", &csrf),
            ("name", "staff"),
            ("decision", "allow"),
            ("session_duration", "soon"),
            ("include_domains", "example.com"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        element_text(&page, "session_duration-error").contains("soon"),
        "{page}"
    );
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/policies/new",
        &[("csrf", &csrf), ("name", "staff"), ("decision", "allow")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        element_text(&page, "include-error").contains("at least one `include` rule"),
        "{page}"
    );
    assert!(gw.gateway().snapshot.load().policies.is_empty());

    // Login method: no secret, and a name that is taken.
    let discovery = discovery_url(&gw);
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/login-methods/new",
        &[
            ("csrf", &csrf),
            ("name", "Other IdP"),
            ("client_id", "x"),
            ("discovery_url", &discovery),
            ("action", "save"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(
        element_text(&page, "client_secret-error").contains("is required"),
        "{page}"
    );
    assert_eq!(input_value(&page, "discovery_url"), discovery);
    let (status, page) = add_login_method(
        &gw,
        &browser,
        &csrf,
        "Test IdP",
        gw.idp.client_secret(),
        false,
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("id=\"name-error\""), "{page}");
    assert_eq!(gw.gateway().snapshot.load().login_methods.len(), 1);

    // Without the CSRF token nothing is made.
    let (status, page) = post(
        &gw,
        &browser,
        "/admin/policies/new",
        &[
            ("name", "staff"),
            ("decision", "allow"),
            ("include_everyone", "yes"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    assert!(page.contains("security token"), "{page}");
    let (status, _) = post(
        &gw,
        &browser,
        "/admin/apps/new",
        &[("name", "wiki"), ("domain", WIKI), ("origin", &origin)],
    )
    .await;
    assert_eq!(status, 403);
    assert!(gw.gateway().snapshot.load().policies.is_empty());
}

#[tokio::test]
async fn deleting_asks_first_and_what_is_still_used_or_from_the_file_stays() {
    let gw = admin_gateway(Options::default()).await;
    let (browser, csrf) = signed_in_admin(&gw).await;
    let (status, _) = add_login_method(
        &gw,
        &browser,
        &csrf,
        "Wiki IdP",
        gw.idp.client_secret(),
        false,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &gw,
        &browser,
        "/admin/policies/new",
        &[
            ("csrf", &csrf),
            ("name", "everyone"),
            ("decision", "allow"),
            ("include_everyone", "yes"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let policy = gw.gateway().snapshot.load().policies[0].id.clone();
    let idp = gw
        .gateway()
        .snapshot
        .load()
        .login_methods
        .iter()
        .find(|m| m.name == "Wiki IdP")
        .unwrap()
        .id
        .0
        .to_string();
    let origin = format!("http://{}", gw.origin_addr);
    let (status, _) = post(
        &gw,
        &browser,
        "/admin/apps/new",
        &[
            ("csrf", &csrf),
            ("name", "wiki"),
            ("domain", WIKI),
            ("origin", &origin),
            ("allowed_idp", &idp),
            ("policy", &policy),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let app_id = gw
        .gateway()
        .snapshot
        .load()
        .apps_by_aud
        .values()
        .find(|a| a.name == "wiki")
        .unwrap()
        .id;

    // The policy: a confirmation first, nothing removed.
    let delete = format!("/admin/policies/{policy}/delete");
    let (status, page) = post(&gw, &browser, &delete, &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Delete the reusable policy “everyone”?")
            && page.contains("name=\"confirm\" value=\"yes\""),
        "{page}"
    );
    assert_eq!(gw.gateway().snapshot.load().policies.len(), 1);
    // Confirmed while the application uses it: refused, saying why.
    let (status, page) = post(
        &gw,
        &browser,
        &delete,
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        element_text(&page, "list-error").contains("still in use"),
        "{page}"
    );
    // The login method likewise.
    let delete_idp = format!("/admin/login-methods/{idp}/delete");
    let (status, page) = post(&gw, &browser, &delete_idp, &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Delete the login method “Wiki IdP”?"),
        "{page}"
    );
    let (status, _) = post(
        &gw,
        &browser,
        &delete_idp,
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 409);

    // The application goes after confirmation; its domain is no longer answered; then the
    // policy and the login method go.
    let delete_app = format!("/admin/apps/{app_id}/delete");
    let (status, page) = post(&gw, &browser, &delete_app, &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(page.contains("Delete the application “wiki”?"), "{page}");
    let (status, page) = post(
        &gw,
        &browser,
        &delete_app,
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("The application was deleted"), "{page}");
    let gone = wiki_browser(&gw)
        .get(gw.url(WIKI, "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    let (status, _) = post(
        &gw,
        &browser,
        &delete,
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 200);
    let (status, page) = post(
        &gw,
        &browser,
        &delete_idp,
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("The login method was deleted"), "{page}");
    assert_eq!(gw.gateway().snapshot.load().login_methods.len(), 1);
    assert!(gw.gateway().snapshot.load().policies.is_empty());

    // Objects of the configuration file are shown read-only and cannot be changed here.
    let file_idp = gw.gateway().snapshot.load().login_methods[0].id.0;
    let (status, page) = get(&gw, &browser, &format!("/admin/login-methods/{file_idp}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Declared in the configuration file") && page.contains("<fieldset disabled>"),
        "{page}"
    );
    assert!(!page.contains("/delete\""), "{page}");
    let whoami = gw
        .gateway()
        .snapshot
        .load()
        .apps_by_aud
        .values()
        .next()
        .unwrap()
        .id;
    let (_, page) = get(&gw, &browser, &format!("/admin/apps/{whoami}")).await;
    assert!(
        page.contains("Declared in the configuration file") && !page.contains("/edit\""),
        "{page}"
    );
    let (status, _) = post(
        &gw,
        &browser,
        &format!("/admin/apps/{whoami}/delete"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(gw.gateway().snapshot.load().apps_by_aud.len(), 1);
}

#[tokio::test]
async fn a_long_application_list_pages() {
    let gw = admin_gateway(Options::default()).await;
    let origin = format!("http://{}", gw.origin_addr);
    for i in 0..55 {
        gw.gateway()
            .save_object(
                portcullis::objects::Kind::Application,
                None,
                serde_json::json!({
                    "name": format!("app {i:02}"),
                    "domain": format!("app{i}.example.com"),
                    "origin": origin,
                    "policies": [{"name": "all", "decision": "allow", "include": [{"everyone": {}}]}],
                }),
            )
            .await
            .unwrap();
    }
    let (admin, _) = signed_in_admin(&gw).await;
    let (status, first) = get(&gw, &admin, "/admin/apps").await;
    assert_eq!(status, 200);
    assert!(first.contains("56 applications"), "{first}");
    assert!(
        first.contains("/admin/apps?page=2"),
        "a link to the next page"
    );
    assert_eq!(first.matches("aria-label=\"Edit ").count(), 50, "50 a page");
    let (_, second) = get(&gw, &admin, "/admin/apps?page=2").await;
    assert_eq!(second.matches("<tr><td>").count(), 6, "{second}");
    assert!(second.contains("rel=\"prev\""));
}
