//! `portcullis apps list` with `--config`: the configured applications, with the id and
//! audience tag the database recorded for each when the gateway first started with it.

use portcullis_store::Store;

use super::remote_commands::{AppView, apps_text};
use super::{CliError, Output};
use crate::config::Config;

/// `apps list`.
pub async fn list(config: &Config, store: &dyn Store, output: Output) -> Result<String, CliError> {
    let recorded = store.list_applications().await?;
    let mut apps: Vec<AppView> = config
        .applications
        .iter()
        .map(|a| {
            let record = recorded.iter().find(|r| r.name == a.name);
            AppView {
                id: record.map(|r| r.id),
                name: a.name.clone(),
                domain: a.domain.clone(),
                origin: a.origin.to_string(),
                aud: record.map(|r| r.aud.clone()).or_else(|| a.aud.clone()),
            }
        })
        .collect();
    // Applications made through the admin API or the web UI live in the database only.
    for r in recorded
        .iter()
        .filter(|r| !r.read_only && !config.applications.iter().any(|a| a.name == r.name))
    {
        apps.push(AppView {
            id: Some(r.id),
            name: r.name.clone(),
            domain: r.domain.clone(),
            origin: r.config["origin"].as_str().unwrap_or_default().to_owned(),
            aud: Some(r.aud.clone()),
        });
    }
    apps_text(apps, output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tester::tests::{config, store};
    use portcullis_store::ApplicationRecord;
    use serde_json::Value;

    #[tokio::test]
    async fn configured_apps_with_what_the_database_recorded() {
        let config = config();
        let store = store().await;
        let s = store.as_ref();
        let before = list(&config, s, Output::Human).await.unwrap();
        assert!(before.starts_with("NAME"), "{before}");
        assert_eq!(before.matches("(not yet recorded)").count(), 2, "{before}");
        let wiki = config
            .applications
            .iter()
            .find(|a| a.name == "wiki")
            .unwrap();
        let record = ApplicationRecord {
            id: uuid::Uuid::new_v4(),
            name: "wiki".into(),
            aud: "a".repeat(64),
            domain: wiki.domain.clone(),
            config: serde_json::json!({}),
            read_only: true,
            created_at: 0,
            updated_at: 0,
        };
        s.upsert_application(&record).await.unwrap();
        let rows: Value =
            serde_json::from_str(&list(&config, s, Output::Json).await.unwrap()).unwrap();
        let wiki_row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "wiki")
            .unwrap();
        assert_eq!(wiki_row["aud"], "a".repeat(64));
        assert_eq!(wiki_row["id"], record.id.to_string());

        // One made through the admin API is listed too, from the database.
        s.upsert_application(&ApplicationRecord {
            id: uuid::Uuid::new_v4(),
            name: "made-by-api".into(),
            aud: "b".repeat(64),
            domain: "api.example.com".into(),
            config: serde_json::json!({"origin": "http://10.0.0.9:8080"}),
            read_only: false,
            created_at: 0,
            updated_at: 0,
        })
        .await
        .unwrap();
        let text = list(&config, s, Output::Human).await.unwrap();
        assert!(
            text.contains("made-by-api") && text.contains("http://10.0.0.9:8080"),
            "{text}"
        );
    }
}
