//! The administration commands with `--url`: the CLI's remote functions against a running
//! gateway's admin API, checked by what a user of the gateway then notices.

use std::time::Duration;

use portcullis::cli::logs::{self, LogSource, LogsCommand};
use portcullis::cli::objects::{self, Kind};
use portcullis::cli::remote::Remote;
use portcullis::cli::remote_commands as remote;
use portcullis::cli::{
    AdminCommand, Cli, CliError, Confirm, ObjectAction, ObjectFile, Output, PolicyCommand,
    PolicyTestArgs, SessionCommand,
};
use portcullis::service_tokens::Lifetime;
use portcullis_testkit::{APP, Options, TEAM, TestGateway};
use serde_json::{Value, json as object};

const ADMIN_TOKEN: &str = "cli-remote-admin-token-0123456789";

async fn gateway() -> TestGateway {
    TestGateway::start(Options {
        server_extra: format!("admin_token = \"{ADMIN_TOKEN}\""),
        ..Options::default()
    })
    .await
}

fn connect(gw: &TestGateway, token: &str) -> Remote {
    Remote::connect(&gw.url(TEAM, ""), Some(token.to_owned())).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn secret_of(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("  CF-Access-Client-Secret: "))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn service_tokens_through_the_admin_api() {
    let gw = gateway().await;
    let r = connect(&gw, ADMIN_TOKEN);
    let now = gw.gateway().clock.now();

    let empty = remote::list_tokens(&r, now, Output::Human).await.unwrap();
    assert!(empty.starts_with("No service tokens."), "{empty}");

    let created = remote::create_token(&r, "ci", Lifetime::Forever, now, Output::Human)
        .await
        .unwrap();
    assert!(created.contains("Created service token `ci`"), "{created}");
    assert!(created.contains("will not be shown again"), "{created}");
    let secret = secret_of(&created);
    assert_eq!(secret.len(), 64);
    // The gateway's store has the token the CLI printed.
    let stored = gw.gateway().store.list_service_tokens().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(created.contains(&format!("CF-Access-Client-Id: {}", stored[0].client_id)));

    let listed = remote::list_tokens(&r, now, Output::Json).await.unwrap();
    assert!(!listed.contains(&secret), "a list never shows a secret");
    let rows = json(&listed);
    assert_eq!(rows[0]["name"], "ci");
    assert_eq!(rows[0]["status"], "active");
    assert_eq!(rows[0]["expires_at"], Value::Null);

    let rotated = json(
        &remote::rotate_token(&r, "ci", now, Output::Json)
            .await
            .unwrap(),
    );
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(new_secret.len(), 64);
    assert_ne!(new_secret, secret);

    let human = remote::list_tokens(&r, now, Output::Human).await.unwrap();
    assert!(human.starts_with("NAME  CLIENT ID"), "{human}");
    assert!(human.contains("active  never"), "{human}");

    let deleted = remote::delete_token(&r, &stored[0].client_id, Output::Human)
        .await
        .unwrap();
    assert_eq!(
        deleted,
        "Service token `ci` deleted: its secrets are refused from now on.\n"
    );
    assert!(
        gw.gateway()
            .store
            .list_service_tokens()
            .await
            .unwrap()
            .is_empty()
    );
    let missing = remote::delete_token(&r, "ci", Output::Human)
        .await
        .unwrap_err();
    assert!(matches!(missing, CliError::UnknownToken(_)), "{missing}");

    // The API's own validation message reaches the operator.
    let taken = remote::create_token(&r, "dup", Lifetime::Forever, now, Output::Human).await;
    assert!(taken.is_ok());
    let err = remote::create_token(&r, "dup", Lifetime::Forever, now, Output::Human)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err, "name: a service token named `dup` already exists");
}

#[tokio::test]
async fn refused_tokens_and_local_only_commands_say_so() {
    let gw = gateway().await;
    let wrong = connect(&gw, "not-the-token");
    let err = remote::list_users(&wrong, Output::Human)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the token was refused by http://auth.localhost:"),
        "{err}"
    );
    assert!(
        !err.contains("not-the-token"),
        "the token is never printed: {err}"
    );

    let r = connect(&gw, ADMIN_TOKEN);
    let command = AdminCommand::Sessions(SessionCommand::Revoke {
        session: "s".into(),
    });
    let err = remote::execute(&r, &command, Output::Human, 0)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("no active session s "), "{err}");
}

#[tokio::test]
async fn one_session_is_revoked_through_the_admin_api() {
    let gw = gateway().await;
    let r = connect(&gw, ADMIN_TOKEN);
    let token = gw.app_token().await;
    let status = |token: String| {
        let client = gw.raw_client();
        let url = gw.url(APP, "/echo/x");
        async move {
            client
                .get(url)
                .header("cf-access-token", token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(token.clone()).await, 200);
    let store = gw.gateway().store.clone();
    let alice = store
        .find_user_by_email("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    let sessions = store
        .list_user_sessions(alice.id, gw.gateway().clock.now())
        .await
        .unwrap();
    let command = AdminCommand::Sessions(SessionCommand::Revoke {
        session: sessions[0].id.clone(),
    });
    let said = remote::execute(&r, &command, Output::Human, 0)
        .await
        .unwrap();
    assert!(said.contains("alice@example.com"), "{said}");
    assert_eq!(status(token).await, 401, "refused on the next request");
}

#[tokio::test]
async fn revoking_a_user_refuses_their_next_request_and_the_log_shows_the_sign_in() {
    let gw = gateway().await;
    let r = connect(&gw, ADMIN_TOKEN);
    let token = gw.app_token().await;
    let echo = |token: String| {
        let client = gw.raw_client();
        let url = gw.url(APP, "/echo/x");
        async move {
            client
                .get(url)
                .header("cf-access-token", token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(echo(token.clone()).await, 200);

    let users = remote::list_users(&r, Output::Human).await.unwrap();
    assert!(users.contains("alice@example.com"), "{users}");
    assert!(users.ends_with("1 user, 1 seat taken.\n"), "{users}");

    let now = gw.gateway().clock.now();
    let revoked = remote::revoke_user(&r, "Alice@Example.com", now, Output::Human)
        .await
        .unwrap();
    assert!(
        revoked.starts_with("Revoked alice@example.com:"),
        "{revoked}"
    );
    assert_eq!(echo(token).await, 401, "refused on the very next request");
    let err = remote::revoke_user(&r, "nobody@example.com", now, Output::Human)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err, "email: no user `nobody@example.com`");

    // Decisions are logged in the background: wait up to two seconds for the sign-in.
    let command = LogsCommand::Access {
        limit: 10,
        email: Some("alice@example.com".into()),
        follow: false,
    };
    let mut rows = Value::Null;
    for _ in 0..40 {
        rows = json(
            &logs::show(LogSource::Remote(&r), &command, Output::Json)
                .await
                .unwrap(),
        );
        if rows
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["allowed"] == true && l["action"] == "login")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sign_in = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["allowed"] == true && l["action"] == "login")
        .unwrap_or_else(|| panic!("no sign-in in {rows}"));
    assert_eq!(sign_in["user_email"], "alice@example.com");
    assert_eq!(sign_in["app_domain"], APP);
    let human = logs::show(LogSource::Remote(&r), &command, Output::Human)
        .await
        .unwrap();
    assert!(human.starts_with("WHEN"), "{human}");
    assert!(human.contains("allowed  alice@example.com"), "{human}");
}

#[tokio::test]
async fn apps_and_keys_through_the_admin_api() {
    let gw = gateway().await;
    let r = connect(&gw, ADMIN_TOKEN);
    let apps = json(&remote::list_apps(&r, Output::Json).await.unwrap());
    let app = &apps[0];
    assert_eq!(app["domain"], APP);
    let name = app["name"].as_str().unwrap().to_owned();

    let token = gw.app_token().await;
    let now = gw.gateway().clock.now();
    // Tokens issued in this second count as issued before the revocation.
    gw.gateway().clock.advance(Duration::from_secs(1));
    let text = remote::revoke_app_tokens(&r, &name.to_uppercase(), now + 1, Output::Human)
        .await
        .unwrap();
    assert!(
        text.starts_with(&format!("Every token of `{name}`")),
        "{text}"
    );
    let status = gw
        .raw_client()
        .get(gw.url(APP, "/echo/x"))
        .header("cf-access-token", token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    let err = remote::revoke_app_tokens(&r, "nope", now, Output::Human)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("no application named `nope`; configured:"),
        "{err}"
    );

    let before = gw.gateway().keys.load().current().kid().to_owned();
    let rotated = json(&remote::rotate_keys(&r, Output::Json).await.unwrap());
    assert_eq!(rotated["previous_kid"], before.as_str());
    assert_ne!(rotated["kid"], before.as_str());
    assert_eq!(rotated["kid"], gw.gateway().keys.load().current().kid());
    assert_eq!(rotated["alg"], "RS256");
}

/// `policy test <words…>` as typed.
fn policy_args(words: &[&str]) -> PolicyTestArgs {
    let cli = Cli::from_args(
        ["portcullis", "policy", "test"]
            .into_iter()
            .chain(words.iter().copied()),
    )
    .unwrap();
    match cli.command.admin() {
        Some((_, AdminCommand::Policy(PolicyCommand::Test(args)))) => args,
        other => panic!("not a policy test: {other:?}"),
    }
}

/// Polls `users show --json` until the user's refused login is in the log (decisions are
/// logged in the background), up to two seconds.
async fn shown_with_a_failure(r: &Remote, email: &str) -> Value {
    let mut shown = Value::Null;
    for _ in 0..40 {
        shown = json(&remote::show_user(r, email, Output::Json).await.unwrap());
        if shown["recent_failed_logins"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shown
}

#[tokio::test]
async fn users_are_shown_with_their_sessions_and_refused_logins() {
    let gw = gateway().await;
    let r = connect(&gw, ADMIN_TOKEN);
    assert_eq!(gw.login(&gw.browser(), "/").await.status(), 200);
    gw.idp.set_auto_login(Some("bob")).unwrap();
    assert_eq!(gw.login(&gw.browser(), "/").await.status(), 403);

    let store = &gw.gateway().store;
    let alice = store
        .find_user_by_email("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    let now = gw.gateway().clock.now();
    let sessions = store.list_user_sessions(alice.id, now).await.unwrap();
    assert_eq!(sessions.len(), 1);

    let text = remote::show_user(&r, "Alice@Example.com", Output::Human)
        .await
        .unwrap();
    for expected in [
        "Email         alice@example.com\n".to_owned(),
        format!("ID            {}\n", alice.id),
        "Name          Alice Example\n".to_owned(),
        "Seat          yes\n".to_owned(),
        "Last IP       127.0.0.1\n".to_owned(),
        "Groups        staff, admins\n".to_owned(),
        "\nActive sessions (1):\n  SESSION".to_owned(),
        format!("\n  {}  ", sessions[0].id),
        "\nNo recent failed logins.\n".to_owned(),
    ] {
        assert!(text.contains(&expected), "no {expected:?} in\n{text}");
    }
    // By id too; JSON has the session's id and times.
    let shown = json(
        &remote::show_user(&r, &alice.id.to_string(), Output::Json)
            .await
            .unwrap(),
    );
    assert_eq!(shown["user"]["email"], "alice@example.com");
    assert_eq!(shown["active_sessions"][0]["id"], sessions[0].id.as_str());
    assert_eq!(
        shown["active_sessions"][0]["expires_at"],
        sessions[0].expires_at
    );
    assert_eq!(shown["last_identity"]["email"], "alice@example.com");

    let bob = shown_with_a_failure(&r, "bob@example.org").await;
    let failure = &bob["recent_failed_logins"][0];
    assert_eq!(failure["app_name"], "whoami", "{bob}");
    assert!(
        failure["reason"].as_str().unwrap().contains("staff"),
        "{bob}"
    );
    let text = remote::show_user(&r, "bob@example.org", Output::Human)
        .await
        .unwrap();
    assert!(
        text.contains("\nRecent failed logins (1):\n  WHEN"),
        "{text}"
    );
    assert!(
        text.contains("  whoami       127.0.0.1  access denied: no policy matched\n"),
        "{text}"
    );

    let err = remote::show_user(&r, "nobody@example.com", Output::Human)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "no user `nobody@example.com`; `portcullis users list` shows them"
    );
}

#[tokio::test]
async fn policy_tests_run_on_the_gateway_with_each_users_last_sign_in() {
    let gw = gateway().await;
    let r = connect(&gw, ADMIN_TOKEN);
    assert_eq!(gw.login(&gw.browser(), "/").await.status(), 200);
    gw.idp.set_auto_login(Some("bob")).unwrap();
    assert_eq!(gw.login(&gw.browser(), "/").await.status(), 403);

    let text = remote::test_policies(
        &r,
        &policy_args(&["WHOAMI", "alice@example.com"]),
        Output::Human,
    )
    .await
    .unwrap();
    for expected in [
        "Application   whoami\n",
        "Identity      alice@example.com (last sign-in, ",
        "Login method  Test IdP\n",
        "Groups        staff, admins\n",
        "Claims        employee_id=E1001\n              roles=[\"admin\",\"dev\"]\n",
        "IP            127.0.0.1\n",
        "Decision      allowed\n",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    let as_json = json(
        &remote::test_policies(
            &r,
            &policy_args(&["whoami", "bob@example.org"]),
            Output::Json,
        )
        .await
        .unwrap(),
    );
    assert_eq!(as_json["outcome"], "default_deny");
    assert_eq!(as_json["allowed"], false);
    assert_eq!(as_json["source"], "last_sign_in");
    assert_eq!(as_json["identity"]["email"], "bob@example.org");

    let all = remote::test_policies(&r, &policy_args(&["whoami", "--all-users"]), Output::Human)
        .await
        .unwrap();
    assert_eq!(
        all,
        "1 of 2 users (50%) would be allowed to reach `whoami`; 1 (50%) would be denied.\n\
         \n\
         EMAIL              DECISION\n\
         alice@example.com  allowed\n\
         bob@example.org    denied (no policy matched)\n"
    );

    let err = remote::test_policies(
        &r,
        &policy_args(&["whoami", "eve@example.com"]),
        Output::Human,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("eve@example.com has not signed in"),
        "{err}"
    );
    let err = remote::test_policies(
        &r,
        &policy_args(&["whoami", "eve@example.com", "--group", "staff"]),
        Output::Human,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("`policy test with --group, --claim, --amr, --ip or --country` is not available through the admin API"),
        "{err}"
    );
    let err = remote::test_policies(&r, &policy_args(&["nope", "--all-users"]), Output::Human)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "no application `nope`; `portcullis apps list` shows them"
    );
}

#[tokio::test]
async fn service_tokens_are_disabled_and_enabled_through_the_admin_api() {
    let gw = gateway().await;
    let r = connect(&gw, ADMIN_TOKEN);
    let (client_id, _, _) = gw.service_token("ci").await;
    let now = gw.gateway().clock.now();
    remote::set_token_enabled(&r, "ci", false, now, Output::Human)
        .await
        .unwrap();
    let stored = gw.gateway().store.list_service_tokens().await.unwrap();
    assert_eq!(stored[0].client_id, client_id);
    assert!(!stored[0].enabled, "disabled in the store");
    remote::set_token_enabled(&r, "ci", true, now, Output::Human)
        .await
        .unwrap();
    let stored = gw.gateway().store.list_service_tokens().await.unwrap();
    assert!(stored[0].enabled, "enabled again");
}

#[tokio::test]
async fn a_scim_secret_is_refreshed_through_the_admin_api() {
    const OLD: &str = "scim-secret-before-0123456789";
    let gw = TestGateway::start(Options {
        server_extra: format!("admin_token = \"{ADMIN_TOKEN}\""),
        scim: Some(format!("enabled = true, secret = \"{OLD}\"")),
        ..Options::default()
    })
    .await;
    let r = connect(&gw, ADMIN_TOKEN);
    let idp = gw.gateway().snapshot.load().login_methods[0].id.0;
    let users = |secret: String| {
        let request = gw
            .raw_client()
            .get(gw.url(TEAM, &format!("/scim/{idp}/v2/Users")))
            .bearer_auth(secret);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(users(OLD.into()).await, 200);
    let answer = json(
        &remote::refresh_scim_secret(&r, "test idp", Output::Json)
            .await
            .unwrap(),
    );
    assert_eq!(answer["login_method"], "Test IdP");
    assert_eq!(answer["id"], idp.to_string());
    assert!(
        answer["scim_base_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/{idp}/v2"))
    );
    let new = answer["secret"].as_str().unwrap().to_owned();
    assert_eq!(users(new).await, 200);
    assert_eq!(users(OLD.into()).await, 401);
}

#[tokio::test]
async fn configured_objects_are_listed_shown_and_refused_changes() {
    let gw = TestGateway::start(Options {
        server_extra: format!("admin_token = \"{ADMIN_TOKEN}\""),
        policies: r#"[{ id = "staff-only", precedence = 1 }, { name = "ops", decision = "allow", precedence = 2, include = [{ group = { id = "ops" } }] }]"#.into(),
        top_extra: r#"
[[policies]]
id = "staff-only"
name = "staff only"
decision = "allow"
include = [{ email_domain = { domain = "example.com" } }]

[[rule_groups]]
id = "ops"
name = "Operations"
include = [{ email = { email = "ops@example.com" } }]
exclude = [{ geo = { country_code = "AQ" } }]
"#
        .into(),
        ..Options::default()
    })
    .await;
    let r = connect(&gw, ADMIN_TOKEN);
    let run = |kind, action| objects::run(&r, kind, action, Output::Human);

    let idps = run(Kind::LoginMethod, ObjectAction::List).await.unwrap();
    let idp = gw.gateway().snapshot.load().login_methods[0].id.0;
    assert_eq!(
        idps,
        format!(
            "NAME      TYPE  SCIM  SOURCE              ID\nTest IdP  oidc  off   configuration file  {idp}\n"
        )
    );
    let shown = run(Kind::LoginMethod, ObjectAction::Show("test idp"))
        .await
        .unwrap();
    assert!(
        shown.contains("Discovery URL  http://127.0.0.1:"),
        "{shown}"
    );
    assert!(shown.contains("PKCE           yes\n"), "{shown}");
    assert!(!shown.contains(gw.idp.client_secret()), "{shown}");

    let app = run(Kind::App, ObjectAction::Show("whoami")).await.unwrap();
    for expected in [
        format!("Domain         {APP}\n"),
        "Login methods  all\n".to_owned(),
        "Policies       1. staff only (allow; reusable policy staff-only)\n               2. ops (allow)\n"
            .to_owned(),
        "Source         configuration file\n".to_owned(),
    ] {
        assert!(app.contains(&expected), "no {expected:?} in\n{app}");
    }
    let policies = run(Kind::Policy, ObjectAction::List).await.unwrap();
    assert_eq!(
        policies,
        "NAME        DECISION  APPS  SOURCE              ID\n\
         staff only  allow     1     configuration file  staff-only\n"
    );
    let group = run(Kind::Group, ObjectAction::Show("operations"))
        .await
        .unwrap();
    assert_eq!(
        group,
        "Name     Operations\n\
         ID       ops\n\
         Include  email ops@example.com\n\
         Exclude  geo AQ\n\
         Source   configuration file\n"
    );
    let listed = json(
        &objects::run(&r, Kind::Group, ObjectAction::List, Output::Json)
            .await
            .unwrap(),
    );
    assert_eq!(listed[0]["id"], "ops");
    assert_eq!(listed[0]["read_only"], true);

    // The gateway refuses to change what the configuration file declares.
    let yes = Confirm { yes: true };
    let err = run(Kind::App, ObjectAction::Delete("whoami", &yes))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("declared in the configuration file"), "{err}");
    assert_eq!(gw.gateway().snapshot.load().apps.iter().count(), 1);

    let test = objects::test_login_method(&r, "Test IdP", Output::Human)
        .await
        .unwrap();
    assert!(
        test.starts_with("Open this URL in a browser within 10 minutes to sign in with `Test IdP`"),
        "{test}"
    );
    let url = test.lines().find_map(|l| l.strip_prefix("  ")).unwrap();
    assert!(url.starts_with(&gw.url(TEAM, "/")), "{url}");
    let err = objects::test_login_method(&r, "nope", Output::Human)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "no login method `nope`; `portcullis idp list` shows them"
    );
}

/// The host of the application the object tests make.
const WIKI: &str = "wiki.localhost";

/// Writes an object file for `--file` in the gateway's data directory.
fn object_file(gw: &TestGateway, name: &str, text: &str) -> ObjectFile {
    let dir = gw.data_dir.join("cli-objects");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    ObjectFile { file }
}

/// A browser that signs in (as alice) to the application the object tests make.
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

async fn wiki_status(gw: &TestGateway) -> u16 {
    wiki_browser(gw)
        .get(gw.url(WIKI, "/echo/x"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn objects_are_added_edited_and_deleted_from_files() {
    let gw = gateway().await;
    let r = connect(&gw, ADMIN_TOKEN);
    let run = |kind, action| objects::run(&r, kind, action, Output::Human);
    let id_of = |kind, wanted: &'static str| {
        let r = &r;
        async move {
            let shown = objects::run(r, kind, ObjectAction::Show(wanted), Output::Json)
                .await
                .unwrap();
            json(&shown)["id"].as_str().unwrap().to_owned()
        }
    };
    let yes = Confirm { yes: true };

    // A rule group in the configuration file's TOML form, a policy in JSON that uses it, an
    // application in TOML that references the policy.
    let group = object_file(
        &gw,
        "ops.toml",
        "[[rule_groups]]\nname = \"Ops\"\ninclude = [{ email = { email = \"alice@example.com\" } }]\n",
    );
    let added = run(Kind::Group, ObjectAction::Add(&group)).await.unwrap();
    let group_id = id_of(Kind::Group, "ops").await;
    assert_eq!(added, format!("Added rule group `Ops` ({group_id}).\n"));
    let policy = object_file(
        &gw,
        "ops.json",
        &object!({"name": "ops only", "decision": "allow",
                  "include": [{"group": {"id": group_id}}]})
        .to_string(),
    );
    run(Kind::Policy, ObjectAction::Add(&policy)).await.unwrap();
    let policy_id = id_of(Kind::Policy, "ops only").await;
    let app = object_file(
        &gw,
        "wiki.toml",
        &format!(
            "name = \"wiki\"\ndomain = \"{WIKI}\"\norigin = \"http://{}\"\n\
             policies = [{{ id = \"{policy_id}\", precedence = 1 }}]\n",
            gw.origin_addr
        ),
    );
    let added = run(Kind::App, ObjectAction::Add(&app)).await.unwrap();
    assert!(added.starts_with("Added application `wiki` ("), "{added}");
    assert!(added.contains("\nIts audience tag (AUD) is "), "{added}");
    assert_eq!(wiki_status(&gw).await, 200, "alice is in the group");

    let shown = run(Kind::App, ObjectAction::Show("wiki")).await.unwrap();
    for expected in [
        format!("Domain         {WIKI}\n"),
        format!("Policies       1. ops only (allow; reusable policy {policy_id})\n"),
        "Source         admin API\n".to_owned(),
    ] {
        assert!(shown.contains(&expected), "no {expected:?} in\n{shown}");
    }
    let listed = run(Kind::Policy, ObjectAction::List).await.unwrap();
    assert!(
        listed.contains(&format!(
            "ops only  allow     1     admin API  {policy_id}\n"
        )),
        "{listed}"
    );

    // Edited by name: the group now holds bob only, so alice's next sign-in is refused.
    let bob_only = object_file(
        &gw,
        "ops-bob.json",
        &object!({"name": "Ops", "include": [{"email": {"email": "bob@example.org"}}]}).to_string(),
    );
    let updated = run(Kind::Group, ObjectAction::Edit("OPS", &bob_only))
        .await
        .unwrap();
    assert_eq!(updated, format!("Updated rule group `Ops` ({group_id}).\n"));
    assert_eq!(wiki_status(&gw).await, 403);

    // The gateway's refusals reach the operator with the field named.
    let bad = object_file(
        &gw,
        "bad.json",
        r#"{"name": "broken", "origin": "http://10.0.0.1"}"#,
    );
    let err = run(Kind::App, ObjectAction::Add(&bad))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("domain"), "{err}");
    let err = run(Kind::Group, ObjectAction::Delete("Ops", &yes))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("still in use"), "{err}");
    let yaml = object_file(&gw, "p.yaml", "name: x");
    let err = run(Kind::Policy, ObjectAction::Add(&yaml))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("name the file *.json or *.toml"), "{err}");

    // Deleted in the order they depend on each other.
    let deleted = run(Kind::App, ObjectAction::Delete("wiki", &yes))
        .await
        .unwrap();
    assert!(
        deleted.starts_with("Deleted application `wiki` ("),
        "{deleted}"
    );
    assert_eq!(wiki_status(&gw).await, 404);
    run(Kind::Policy, ObjectAction::Delete(&policy_id, &yes))
        .await
        .unwrap();
    run(Kind::Group, ObjectAction::Delete("Ops", &yes))
        .await
        .unwrap();
    assert_eq!(
        run(Kind::Policy, ObjectAction::List).await.unwrap(),
        "No reusable policies.\n"
    );
    assert_eq!(
        run(Kind::Group, ObjectAction::List).await.unwrap(),
        "No rule groups.\n"
    );
    let err = run(Kind::Group, ObjectAction::Show("Ops"))
        .await
        .unwrap_err();
    assert!(matches!(err, CliError::UnknownObject { .. }), "{err}");
}

#[tokio::test]
async fn a_login_method_added_from_a_file_shows_its_scim_secret_once() {
    let gw = gateway().await;
    let r = connect(&gw, ADMIN_TOKEN);
    let issuer = gw.idp.issuer().to_owned();
    let file = object_file(
        &gw,
        "second.toml",
        &format!(
            "name = \"Second IdP\"\ntype = \"oidc\"\n\n[config]\nclient_id = \"{}\"\n\
             client_secret = \"{}\"\ndiscovery_url = \"{issuer}/.well-known/openid-configuration\"\n\n\
             [scim_config]\nenabled = true\nuser_deprovision = true\n",
            gw.idp.client_id(),
            gw.idp.client_secret()
        ),
    );
    let added = objects::run(
        &r,
        Kind::LoginMethod,
        ObjectAction::Add(&file),
        Output::Human,
    )
    .await
    .unwrap();
    assert!(
        added.starts_with("Added login method `Second IdP` ("),
        "{added}"
    );
    assert!(added.contains("shown only this once"), "{added}");
    let secret = added
        .lines()
        .find_map(|l| l.strip_prefix("SCIM secret    "))
        .unwrap_or_else(|| panic!("no secret in\n{added}"))
        .to_owned();
    let endpoint = added
        .lines()
        .find_map(|l| l.strip_prefix("SCIM endpoint  "))
        .unwrap()
        .to_owned();
    let users = gw
        .raw_client()
        .get(format!("{endpoint}/Users"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 200, "the printed secret works");

    let listed = objects::run(&r, Kind::LoginMethod, ObjectAction::List, Output::Human)
        .await
        .unwrap();
    assert!(
        listed.contains("Second IdP  oidc  on    admin API  "),
        "{listed}"
    );
    for output in [Output::Human, Output::Json] {
        let shown = objects::run(
            &r,
            Kind::LoginMethod,
            ObjectAction::Show("second idp"),
            output,
        )
        .await
        .unwrap();
        assert!(!shown.contains(&secret), "{shown}");
        assert!(!shown.contains(gw.idp.client_secret()), "{shown}");
    }
    let deleted = objects::run(
        &r,
        Kind::LoginMethod,
        ObjectAction::Delete("Second IdP", &Confirm { yes: true }),
        Output::Json,
    )
    .await
    .unwrap();
    assert!(json(&deleted)["id"].is_string(), "{deleted}");
    let err = objects::test_login_method(&r, "Second IdP", Output::Human)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "no login method `Second IdP`; `portcullis idp list` shows them"
    );
}

#[tokio::test]
async fn the_cli_works_through_a_separate_admin_listener() {
    let gw = TestGateway::start(Options {
        server_extra: format!("admin_token = \"{ADMIN_TOKEN}\"\nadmin_listen = \"127.0.0.1:0\""),
        ..Options::default()
    })
    .await;
    let admin = gw.running.admin_addr.expect("an admin listener");
    let r = Remote::connect(&format!("http://{admin}"), Some(ADMIN_TOKEN.to_owned())).unwrap();
    let apps = json(&remote::list_apps(&r, Output::Json).await.unwrap());
    assert_eq!(apps[0]["domain"], APP);

    // The admin listener has no certs, so the rotation is reported without key ids.
    let before = gw.gateway().keys.load().current().kid().to_owned();
    let text = remote::rotate_keys(&r, Output::Human).await.unwrap();
    assert!(text.starts_with("Signing key rotated at "), "{text}");
    assert!(text.contains("serves only the admin API"), "{text}");
    assert_ne!(gw.gateway().keys.load().current().kid(), before);
    let rotated = json(&remote::rotate_keys(&r, Output::Json).await.unwrap());
    assert_eq!(rotated["kid"], Value::Null);
    assert!(rotated["rotated_at"].is_string(), "{rotated}");
}
