//! `portcullis keys …`: the gateway's signing keys.
//!
//! Rotating from the command line does what a node's scheduled rotation does, on demand: after a
//! suspected key compromise, or to check that a cluster follows a rotation. Running gateways load
//! the new key from the change feed (or, at the latest, from the next generation poll), so every
//! node signs with it and publishes the same certs within about a second.

use portcullis_store::Store;
use serde_json::json;

use super::format::{fields, json as to_json};
use super::{CliError, Output};
use crate::config::Config;
use crate::keys;
use crate::seal::Sealer;

/// Makes a new current signing key of the configured algorithm; the current one becomes the
/// previous key (still published and accepted, so tokens signed with it keep working until the
/// next rotation), and older keys are deleted. Prints the new kid.
pub async fn rotate(
    config: &Config,
    store: &dyn Store,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let server = &config.server;
    // The same key the gateway seals with: a key sealed with another one could not be opened by
    // the nodes.
    let sealer = Sealer::from_config_or_file(server.secret_key.as_ref(), &server.data_dir)?;
    let previous = store
        .list_signing_keys()
        .await?
        .into_iter()
        .find(|k| k.retired_at.is_none())
        .map(|k| k.kid);
    let ring = keys::rotate(store, &sealer, server.signing_alg, &server.team_domain, now).await?;
    let kid = ring.current().kid();
    let alg = ring.current().alg().as_str();
    Ok(match output {
        Output::Json => to_json(&json!({
            "kid": kid,
            "alg": alg,
            "previous_kid": previous,
        }))?,
        Output::Human => {
            let mut text = String::from("Signing key rotated.\n\n");
            text.push_str(&fields(&[
                ("New kid", kid.to_owned()),
                ("Algorithm", alg.to_owned()),
                (
                    "Previous kid",
                    previous.map_or_else(
                        || "none".to_owned(),
                        |p| format!("{p} (still accepted until the next rotation)"),
                    ),
                ),
            ]));
            text.push_str("\nRunning gateways sign with the new key within about a second.\n");
            text
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tester::tests::CONFIG;
    use portcullis_store::Change;

    const SECRET: &str = "c2VjcmV0LWtleS1mb3ItdGhlLWtleXMtY2xpLXRlc3Q=";

    fn config_with_secret(secret: &str) -> Config {
        let text = CONFIG.replacen(
            "data_dir = \"./data\"",
            &format!("data_dir = \"./data\"\nsecret_key = \"{secret}\""),
            1,
        );
        Config::from_raw(Config::parse_toml(&text, "test.toml").unwrap(), &[]).unwrap()
    }

    fn sealer(config: &Config) -> Sealer {
        Sealer::from_config_or_file(config.server.secret_key.as_ref(), &config.server.data_dir)
            .unwrap()
    }

    #[tokio::test]
    async fn rotate_makes_a_new_current_key_that_the_gateway_then_loads() {
        let config = config_with_secret(SECRET);
        let store = portcullis_store::open("sqlite::memory:").await.unwrap();
        let team = &config.server.team_domain;
        let first = keys::load_or_create(
            store.as_ref(),
            &sealer(&config),
            config.server.signing_alg,
            team,
            1_000,
        )
        .await
        .unwrap();
        let first_kid = first.current().kid().to_owned();
        let mut feed = store.subscribe();

        let out = rotate(&config, store.as_ref(), 2_000, Output::Json)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let new_kid = v["kid"].as_str().unwrap().to_owned();
        assert_ne!(new_kid, first_kid);
        assert_eq!(v["previous_kid"], first_kid.as_str());
        assert_eq!(v["alg"], config.server.signing_alg.as_str());
        assert_eq!(feed.recv().await.unwrap(), Change::SigningKeysChanged);

        // What a running node loads on that change: the new key signs, the old one still verifies.
        let ring = keys::reload(store.as_ref(), &sealer(&config), team)
            .await
            .unwrap();
        assert_eq!(ring.current().kid(), new_kid);
        assert!(ring.verify_set().contains_kid(&first_kid));
        let certs: serde_json::Value = serde_json::from_slice(&ring.certs_document()).unwrap();
        assert_eq!(certs["public_cert"]["kid"], new_kid.as_str());

        // A second rotation drops the first key from what is published.
        let text = rotate(&config, store.as_ref(), 3_000, Output::Human)
            .await
            .unwrap();
        assert!(
            text.contains(&format!("{new_kid} (still accepted")),
            "{text}"
        );
        let ring = keys::reload(store.as_ref(), &sealer(&config), team)
            .await
            .unwrap();
        assert!(!ring.verify_set().contains_kid(&first_kid));
        assert!(ring.verify_set().contains_kid(&new_kid));
    }

    #[test]
    fn keys_rotate_parses_with_the_admin_options() {
        use super::super::{AdminCommand, Cli, KeysCommand};
        use clap::Parser;
        let cli = Cli::try_parse_from(["portcullis", "keys", "rotate", "--json", "-c", "b.toml"])
            .unwrap();
        let (options, command) = cli.command.admin().unwrap();
        assert_eq!(options.output(), Output::Json);
        assert_eq!(options.config.config, std::path::PathBuf::from("b.toml"));
        assert!(matches!(command, AdminCommand::Keys(KeysCommand::Rotate)));
    }

    #[tokio::test]
    async fn a_bad_secret_key_fails_before_anything_is_written() {
        let store = portcullis_store::open("sqlite::memory:").await.unwrap();
        let bad = config_with_secret("not base64!");
        let err = rotate(&bad, store.as_ref(), 1_000, Output::Json)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
        assert!(store.list_signing_keys().await.unwrap().is_empty());
    }
}
