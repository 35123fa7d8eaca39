//! `portcullis scim …`: the SCIM secret of a login method.

use portcullis_store::Store;
use serde_json::json;

use super::format::json as to_json;
use super::{CliError, Output};
use crate::config::Config;
use crate::scim_sync;

/// Generates a new SCIM secret for the login method named (or with the id) `method` and prints
/// it once, with the SCIM base URL to give the identity provider. The old secret stops working
/// at once on every node.
pub async fn refresh_secret(
    config: &Config,
    store: &dyn Store,
    method: &str,
    output: Output,
) -> Result<String, CliError> {
    let declared = config
        .identity_providers
        .iter()
        .find(|p| {
            p.name == method
                || p.id
                    .is_some_and(|id| id.to_string() == method.to_lowercase())
        })
        .ok_or_else(|| CliError::UnknownLoginMethod {
            name: method.to_owned(),
            known: config
                .identity_providers
                .iter()
                .map(|p| format!("`{}`", p.name))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let id = match declared.id {
        Some(id) => id,
        None => store
            .find_login_method_by_name(&declared.name)
            .await?
            .map(|m| m.id)
            .ok_or_else(|| CliError::LoginMethodNotRecorded(declared.name.clone()))?,
    };
    let secret = scim_sync::regenerate_secret(store, id)
        .await
        .map_err(|e| CliError::Scim(e.to_string()))?;
    let base_url = format!("{}/scim/{id}/v2", config.server.team_url);
    Ok(match output {
        Output::Json => to_json(&json!({
            "login_method": declared.name,
            "id": id,
            "scim_base_url": base_url,
            "secret": secret,
        }))?,
        Output::Human => format!(
            "New SCIM secret for `{}` (shown only this once; the old one no longer works):\n\n  \
             SCIM endpoint: {base_url}\n  SCIM secret:   {secret}\n\n\
             Enter both in the identity provider's provisioning settings.\n",
            declared.name
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tester::tests::config;

    #[tokio::test]
    async fn refresh_prints_a_secret_that_then_matches_and_replaces_the_old_one() {
        let config = config();
        let store = portcullis_store::open("sqlite::memory:").await.unwrap();
        let method = &config.identity_providers[0];
        let id = method.id.unwrap();
        let out = refresh_secret(&config, store.as_ref(), &method.name, Output::Json)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let first = v["secret"].as_str().unwrap().to_owned();
        assert!(
            v["scim_base_url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/scim/{id}/v2"))
        );
        assert!(
            scim_sync::secret_matches(store.as_ref(), id, &first)
                .await
                .unwrap()
        );

        let text = refresh_secret(&config, store.as_ref(), &id.to_string(), Output::Human)
            .await
            .unwrap();
        assert!(text.contains("shown only this once"), "{text}");
        assert!(
            !scim_sync::secret_matches(store.as_ref(), id, &first)
                .await
                .unwrap()
        );

        let err = refresh_secret(&config, store.as_ref(), "nope", Output::Human)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no login method named `nope`"), "{err}");
    }
}
