//! `portcullis api-token …`: tokens for the admin API.

use portcullis_store::Store;
use serde_json::json;
use uuid::Uuid;

use super::format::json as to_json;
use super::{CliError, Output};
use crate::admin_api::{Scope, create_api_token};

/// Creates a token and prints it once.
pub async fn create(
    store: &dyn Store,
    name: &str,
    scope: Scope,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let (record, token) = create_api_token(store, name, scope, now)
        .await
        .map_err(|e| CliError::Api(e.message))?;
    Ok(match output {
        Output::Json => to_json(&json!({
            "id": record.id, "name": record.name, "scope": record.scope, "token": token,
        }))?,
        Output::Human => format!(
            "API token `{}` ({} scope) created. Its value is shown only this once:\n\n  {token}\n\n\
             Send it as `Authorization: Bearer <token>` to <team URL>/client/v4/…\n",
            record.name, record.scope
        ),
    })
}

/// Lists the tokens (names and scopes, never values or digests).
pub async fn list(store: &dyn Store, output: Output) -> Result<String, CliError> {
    let tokens = store.list_api_tokens().await?;
    Ok(match output {
        Output::Json => to_json(
            &tokens
                .iter()
                .map(|t| json!({"id": t.id, "name": t.name, "scope": t.scope, "created_at": t.created_at}))
                .collect::<Vec<_>>(),
        )?,
        Output::Human => {
            if tokens.is_empty() {
                return Ok("No API tokens.\n".into());
            }
            let width = tokens.iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
            let mut out = format!("{:<width$}  SCOPE  ID\n", "NAME");
            for t in &tokens {
                out.push_str(&format!("{:<width$}  {:<5}  {}\n", t.name, t.scope, t.id));
            }
            out
        }
    })
}

/// Deletes a token by id or name; it stops working at once.
pub async fn delete(store: &dyn Store, which: &str, output: Output) -> Result<String, CliError> {
    let tokens = store.list_api_tokens().await?;
    let found = tokens
        .iter()
        .find(|t| t.name == which || Uuid::parse_str(which).is_ok_and(|id| id == t.id))
        .ok_or_else(|| CliError::Api(format!("no API token with id or name `{which}`")))?;
    store.delete_api_token(found.id).await?;
    Ok(match output {
        Output::Json => to_json(&json!({"id": found.id, "deleted": true}))?,
        Output::Human => format!("API token `{}` deleted.\n", found.name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_list_delete() {
        let store = portcullis_store::open("sqlite::memory:").await.unwrap();
        let out = create(store.as_ref(), "ci", Scope::Write, 1, Output::Json)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let token = v["token"].as_str().unwrap();
        assert!(token.len() >= 40);
        let listed = list(store.as_ref(), Output::Human).await.unwrap();
        assert!(
            listed.contains("ci") && listed.contains("write"),
            "{listed}"
        );
        assert!(!listed.contains(token), "values are never listed");
        assert!(
            create(store.as_ref(), "ci", Scope::Read, 1, Output::Human)
                .await
                .is_err()
        );
        delete(store.as_ref(), "ci", Output::Human).await.unwrap();
        assert!(store.list_api_tokens().await.unwrap().is_empty());
        assert!(delete(store.as_ref(), "ci", Output::Human).await.is_err());
    }
}
