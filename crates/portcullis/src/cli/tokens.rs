//! `portcullis service-token …`: create, list, refresh, rotate, enable, disable and delete
//! service tokens. A secret is printed only by `create` and `rotate`, once; nothing prints a
//! digest.

use portcullis_store::{ServiceTokenRecord, Store};
use serde::Serialize;
use uuid::Uuid;

use super::format::{Table, fields, json, when, when_or};
use super::{CliError, Output};
use crate::service_tokens::{self, Issued, Lifetime, ROTATION_GRACE};

/// A token as the CLI shows it: everything but the digests.
#[derive(Serialize)]
struct TokenView<'a> {
    id: Uuid,
    name: &'a str,
    client_id: &'a str,
    duration: &'a str,
    expires_at: Option<i64>,
    enabled: bool,
    status: &'static str,
    created_at: i64,
    updated_at: i64,
}

fn status(t: &ServiceTokenRecord, now: i64) -> &'static str {
    if !t.enabled {
        "disabled"
    } else if t.expires_at.is_some_and(|exp| exp <= now) {
        "expired"
    } else {
        "active"
    }
}

fn view(t: &ServiceTokenRecord, now: i64) -> TokenView<'_> {
    TokenView {
        id: t.id,
        name: &t.name,
        client_id: &t.client_id,
        duration: &t.duration,
        expires_at: t.expires_at,
        enabled: t.enabled,
        status: status(t, now),
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

/// A token and the secret just issued for it (the JSON form of `create` and `rotate`).
#[derive(Serialize)]
struct IssuedView<'a> {
    #[serde(flatten)]
    token: TokenView<'a>,
    client_secret: &'a str,
}

/// The one-time display of a secret, with the headers a client sends.
fn secret_text(
    issued: &Issued,
    intro: String,
    output: Output,
    now: i64,
) -> Result<String, CliError> {
    let record = &issued.record;
    if output == Output::Json {
        return json(&IssuedView {
            token: view(record, now),
            client_secret: &issued.client_secret,
        });
    }
    let mut text = intro;
    text.push_str(&fields(&[
        ("Client ID", record.client_id.clone()),
        ("Client Secret", issued.client_secret.clone()),
        ("Expires", when_or(record.expires_at, "never")),
    ]));
    text.push_str(
        "\nThe secret will not be shown again: store it now.\n\
         Clients send both headers with each request:\n",
    );
    text.push_str(&format!(
        "  CF-Access-Client-Id: {}\n  CF-Access-Client-Secret: {}\n",
        record.client_id, issued.client_secret
    ));
    Ok(text)
}

/// Finds a token by id, name or client id.
async fn find(store: &dyn Store, token: &str) -> Result<ServiceTokenRecord, CliError> {
    let token = token.trim();
    if let Ok(id) = Uuid::parse_str(token)
        && let Some(found) = store.get_service_token(id).await?
    {
        return Ok(found);
    }
    store
        .list_service_tokens()
        .await?
        .into_iter()
        .find(|t| t.name == token || t.client_id == token)
        .ok_or_else(|| CliError::UnknownToken(token.to_owned()))
}

/// `service-token create <name> [--duration]`.
pub async fn create(
    store: &dyn Store,
    name: &str,
    lifetime: Lifetime,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let issued = service_tokens::create(store, name, lifetime, now).await?;
    let intro = format!(
        "Created service token `{}` (id {}, valid for {}).\n\n",
        issued.record.name, issued.record.id, issued.record.duration
    );
    secret_text(&issued, intro, output, now)
}

/// `service-token list`.
pub async fn list(store: &dyn Store, now: i64, output: Output) -> Result<String, CliError> {
    let tokens = store.list_service_tokens().await?;
    if output == Output::Json {
        return json(&tokens.iter().map(|t| view(t, now)).collect::<Vec<_>>());
    }
    if tokens.is_empty() {
        return Ok(
            "No service tokens. Create one with `portcullis service-token create <name>`.\n".into(),
        );
    }
    let mut table = Table::new(&["NAME", "CLIENT ID", "STATUS", "EXPIRES", "ID"]);
    for t in &tokens {
        table.row(vec![
            t.name.clone(),
            t.client_id.clone(),
            status(t, now).to_owned(),
            when_or(t.expires_at, "never"),
            t.id.to_string(),
        ]);
    }
    Ok(table.render(0))
}

/// `service-token refresh <token>`.
pub async fn refresh(
    store: &dyn Store,
    token: &str,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let found = find(store, token).await?;
    let record = service_tokens::refresh(store, found.id, now).await?;
    if output == Output::Json {
        return json(&view(&record, now));
    }
    Ok(match record.expires_at {
        Some(at) => format!(
            "Service token `{}` refreshed: it now expires {}.\n",
            record.name,
            when(at)
        ),
        None => format!(
            "Service token `{}` never expires; nothing to refresh.\n",
            record.name
        ),
    })
}

/// `service-token rotate <token>`.
pub async fn rotate(
    store: &dyn Store,
    token: &str,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let found = find(store, token).await?;
    let issued = service_tokens::rotate(store, found.id, now).await?;
    let intro = format!(
        "Rotated the secret of service token `{}`. The previous secret keeps working until {}.\n\n",
        issued.record.name,
        when(now + ROTATION_GRACE.as_secs() as i64)
    );
    secret_text(&issued, intro, output, now)
}

/// `service-token enable|disable <token>`.
pub async fn set_enabled(
    store: &dyn Store,
    token: &str,
    enabled: bool,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let found = find(store, token).await?;
    let record = service_tokens::set_enabled(store, found.id, enabled, now).await?;
    if output == Output::Json {
        return json(&view(&record, now));
    }
    Ok(if enabled {
        format!(
            "Service token `{}` enabled: its secret is accepted again.\n",
            record.name
        )
    } else {
        format!(
            "Service token `{}` disabled: its secrets are refused from now on.\n",
            record.name
        )
    })
}

/// `service-token delete <token>`.
pub async fn delete(store: &dyn Store, token: &str, output: Output) -> Result<String, CliError> {
    let found = find(store, token).await?;
    if !store.delete_service_token(found.id).await? {
        return Err(CliError::UnknownToken(token.to_owned()));
    }
    if output == Output::Json {
        return json(&serde_json::json!({"deleted": found.id, "name": found.name}));
    }
    Ok(format!(
        "Service token `{}` deleted: its secrets are refused from now on.\n",
        found.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service_tokens::{DEFAULT_DURATION, ServiceTokens};
    use crate::tester::tests::store;
    use serde_json::Value;

    const NOW: i64 = 1_700_000_000;

    fn secret_of(text: &str) -> String {
        text.lines()
            .find_map(|l| l.strip_prefix("  CF-Access-Client-Secret: "))
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn create_list_rotate_disable_delete() {
        let store = store().await;
        let s = store.as_ref();
        let created = create(s, "ci", Lifetime::For(DEFAULT_DURATION), NOW, Output::Human)
            .await
            .unwrap();
        let secret = secret_of(&created);
        assert_eq!(secret.len(), 64);
        assert!(created.contains("will not be shown again"), "{created}");
        assert!(created.contains("Client Secret  "), "{created}");
        assert!(
            created.contains("Expires        2024-11-13 22:13 UTC"),
            "{created}"
        );
        let record = s.list_service_tokens().await.unwrap().remove(0);
        assert!(created.contains(&format!("  CF-Access-Client-Id: {}\n", record.client_id)));

        // The printed secret is the one the gateway accepts.
        let accepted = ServiceTokens::default();
        accepted.replace(s.list_service_tokens().await.unwrap());
        assert!(accepted.verify(&record.client_id, &secret, NOW).is_ok());

        create(s, "backup", Lifetime::Forever, NOW, Output::Human)
            .await
            .unwrap();
        let listed = list(s, NOW, Output::Human).await.unwrap();
        assert!(!listed.contains(&secret) && !listed.contains(&record.secret_hash));
        let lines: Vec<&str> = listed.lines().collect();
        assert_eq!(lines.len(), 3, "{listed}");
        assert!(lines[0].starts_with("NAME    CLIENT ID"), "{listed}");
        assert!(lines[1].starts_with("backup  ") && lines[1].contains("active  never"));
        assert!(lines[2].starts_with("ci      ") && lines[2].contains("2024-11-13"));
        // Columns line up.
        let column = |l: &str| l.find("active").unwrap();
        assert_eq!(column(lines[1]), column(lines[2]));

        let rotated = rotate(s, "ci", NOW + 10, Output::Human).await.unwrap();
        let new_secret = secret_of(&rotated);
        assert_ne!(new_secret, secret);
        assert!(
            rotated.contains("keeps working until 2023-11-14 23:13 UTC"),
            "{rotated}"
        );
        assert!(rotated.contains("will not be shown again"));

        let disabled = set_enabled(s, &record.client_id, false, NOW + 20, Output::Human)
            .await
            .unwrap();
        assert_eq!(
            disabled,
            "Service token `ci` disabled: its secrets are refused from now on.\n"
        );
        accepted.replace(s.list_service_tokens().await.unwrap());
        assert!(
            accepted
                .verify(&record.client_id, &new_secret, NOW + 20)
                .is_err()
        );
        let listed = list(s, NOW, Output::Human).await.unwrap();
        assert!(listed.contains("disabled"), "{listed}");
        assert!(!listed.contains(&new_secret));

        set_enabled(s, &record.id.to_string(), true, NOW + 30, Output::Human)
            .await
            .unwrap();
        accepted.replace(s.list_service_tokens().await.unwrap());
        assert!(
            accepted
                .verify(&record.client_id, &new_secret, NOW + 30)
                .is_ok()
        );

        let refreshed = refresh(s, "backup", NOW, Output::Human).await.unwrap();
        assert!(refreshed.contains("never expires"), "{refreshed}");

        delete(s, "ci", Output::Human).await.unwrap();
        assert_eq!(s.list_service_tokens().await.unwrap().len(), 1);
        let err = delete(s, "ci", Output::Human)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no service token with id, name or client id `ci`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn json_output_parses_and_shows_the_secret_only_once() {
        let store = store().await;
        let s = store.as_ref();
        let created: Value = serde_json::from_str(
            &create(s, "ci", Lifetime::Forever, NOW, Output::Json)
                .await
                .unwrap(),
        )
        .unwrap();
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(created["name"], "ci");
        assert_eq!(created["status"], "active");
        assert_eq!(created["expires_at"], Value::Null);
        assert!(created.get("secret_hash").is_none());

        let listed_text = list(s, NOW, Output::Json).await.unwrap();
        let listed: Value = serde_json::from_str(&listed_text).unwrap();
        assert_eq!(listed[0]["client_id"], created["client_id"]);
        assert!(listed[0].get("client_secret").is_none());
        assert!(!listed_text.contains(&secret));
        assert!(!listed_text.contains("hash"));

        let rotated: Value =
            serde_json::from_str(&rotate(s, "ci", NOW, Output::Json).await.unwrap()).unwrap();
        assert_ne!(rotated["client_secret"].as_str().unwrap(), secret);
        let disabled: Value = serde_json::from_str(
            &set_enabled(s, "ci", false, NOW, Output::Json)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(disabled["status"], "disabled");
        assert!(disabled.get("client_secret").is_none());
    }

    #[tokio::test]
    async fn empty_lists_and_unknown_tokens_say_so() {
        let store = store().await;
        let s = store.as_ref();
        let empty = list(s, NOW, Output::Human).await.unwrap();
        assert!(empty.starts_with("No service tokens."), "{empty}");
        assert_eq!(list(s, NOW, Output::Json).await.unwrap(), "[]\n");
        let missing = Uuid::new_v4().to_string();
        for result in [
            refresh(s, &missing, NOW, Output::Human).await,
            rotate(s, "nope", NOW, Output::Human).await,
        ] {
            assert!(matches!(result, Err(CliError::UnknownToken(_))));
        }
        let err = create(s, " ", Lifetime::Forever, NOW, Output::Human)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("non-empty name"), "{err}");
    }
}
