//! The administration commands with `--url`: the CLI's remote functions against a running
//! gateway's admin API, checked by what a user of the gateway then notices.

use std::time::Duration;

use portcullis::cli::logs::{self, LogSource, LogsCommand};
use portcullis::cli::remote::Remote;
use portcullis::cli::remote_commands as remote;
use portcullis::cli::{AdminCommand, CliError, Output, SessionCommand};
use portcullis::service_tokens::Lifetime;
use portcullis_testkit::{APP, Options, TEAM, TestGateway};
use serde_json::Value;

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
    assert_eq!(
        err,
        "`sessions revoke` is not available through the admin API; run it with --config on a machine that has the configuration"
    );
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
