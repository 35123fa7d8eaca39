//! The first administrator. With no `[admin]` policies and no administrator yet, the gateway
//! writes a one-time setup token to `<data_dir>/admin-setup-token.txt` (mode 0600) at start and
//! keeps only its SHA-256 in the store; a signed-in user who opens `/admin/setup?token=…` and
//! confirms becomes an administrator, and the token stops working.
//!
//! Each start without an administrator replaces the token (and the file), so a token seen in an
//! old copy of the file is useless. With several nodes, the file of the node that started last
//! holds the valid token.

use std::path::Path;

use askama::Template;
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use http::StatusCode;
use portcullis_store::{Store, StoreError};

use super::page::{self, Chrome, PageResult};
use super::{Ask, Session};
use crate::gateway::StartError;
use crate::respond::Branding;

/// The setting holding the administrators' emails (a JSON list of normalised emails).
const ADMINS: &str = "admin_emails";
/// The setting holding the hex SHA-256 of the setup token; empty once it was used.
const TOKEN_DIGEST: &str = "admin_setup_token_sha256";
/// The file the token is written to, in the data directory.
pub const TOKEN_FILE: &str = "admin-setup-token.txt";

/// The emails made administrators through the setup step.
pub async fn admin_emails(store: &dyn Store) -> Result<Vec<String>, StoreError> {
    Ok(store
        .get_setting(ADMINS)
        .await?
        .and_then(|json| serde_json::from_str::<Vec<String>>(&json).ok())
        .unwrap_or_default())
}

fn digest_hex(token: &str) -> String {
    hex::encode(digest(&SHA256, token.as_bytes()))
}

/// At start: generates a new setup token when nobody could use the admin UI otherwise (no
/// `[admin]` policies, no administrator stored). Logs the file's path, never the token.
pub async fn prepare(
    store: &dyn Store,
    data_dir: &Path,
    has_policies: bool,
) -> Result<(), StartError> {
    if has_policies || !admin_emails(store).await?.is_empty() {
        return Ok(());
    }
    let token = crate::seal::random_token::<24>()?;
    let path = data_dir.join(TOKEN_FILE);
    write_private(&path, &token).map_err(|e| {
        StartError::Other(format!(
            "cannot write the admin setup token to {}: {e}",
            path.display()
        ))
    })?;
    store.put_setting(TOKEN_DIGEST, &digest_hex(&token)).await?;
    tracing::warn!(
        path = %path.display(),
        "no administrator yet: sign in at /admin/setup?token=<the token in this file> to become the first one"
    );
    Ok(())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // The mode applies only when the file is created, so never reuse an older file.
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

/// Whether `token` is the current setup token (`None`: the setup step is not available).
async fn token_matches(store: &dyn Store, token: &str) -> Result<Option<bool>, StoreError> {
    let stored = store.get_setting(TOKEN_DIGEST).await?.unwrap_or_default();
    if stored.is_empty() {
        return Ok(None);
    }
    let presented = digest_hex(token);
    Ok(Some(
        verify_slices_are_equal(presented.as_bytes(), stored.as_bytes()).is_ok(),
    ))
}

/// Adds `email` to the administrators and invalidates the setup token.
async fn promote(store: &dyn Store, email: &str) -> Result<(), StoreError> {
    let mut admins = admin_emails(store).await?;
    if !admins.iter().any(|a| a == email) {
        admins.push(email.to_owned());
    }
    let json = serde_json::to_string(&admins).unwrap_or_else(|_| "[]".into());
    store.put_setting(ADMINS, &json).await?;
    store.put_setting(TOKEN_DIGEST, "").await
}

#[derive(Template)]
#[template(path = "admin/setup.html")]
struct SetupPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    token: &'a str,
    /// Why the token cannot be used, if it cannot.
    problem: Option<&'static str>,
}

/// `/admin/setup?token=…`: GET shows who would become an administrator; POST does it.
pub(crate) async fn page(ask: &Ask<'_>, session: &Session) -> PageResult {
    let gw = ask.gw;
    let token = if ask.is_post() {
        ask.field("token").to_owned()
    } else {
        ask.query.get("token").unwrap_or_default().trim().to_owned()
    };
    let problem = match token_matches(gw.store.as_ref(), &token).await? {
        None => Some(
            "The setup step is not available: the setup token was already used, or `[admin]` policies decide who the administrators are. Ask an administrator.",
        ),
        Some(false) => Some(
            "This setup token is not valid. Copy it again from admin-setup-token.txt in the gateway's data directory (a restart replaces it).",
        ),
        Some(true) => None,
    };
    if problem.is_none() && ask.is_post() {
        let email = session.identity.identity.email.as_str();
        promote(gw.store.as_ref(), email).await?;
        let _ = std::fs::remove_file(gw.server.data_dir.join(TOKEN_FILE));
        tracing::warn!(request_id = %ask.ctx.request_id, user = %email, "admin UI: a new administrator was added with the setup token");
        return page::see_other(gw, "/admin");
    }
    let status = if problem.is_some() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    page::render(
        status,
        &SetupPage {
            brand: &gw.branding,
            chrome: ask.chrome,
            token: &token,
            problem,
        },
        &ask.ctx.request_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_token_is_made_only_when_nobody_can_administer_and_works_once() {
        let store = portcullis_store::open("sqlite::memory:").await.unwrap();
        let dir = std::env::temp_dir().join(format!("pc-setup-{}", uuid::Uuid::new_v4()));
        prepare(store.as_ref(), &dir, true).await.unwrap();
        assert!(!dir.join(TOKEN_FILE).exists());
        prepare(store.as_ref(), &dir, false).await.unwrap();
        let path = dir.join(TOKEN_FILE);
        let token = std::fs::read_to_string(&path).unwrap().trim().to_owned();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            token_matches(store.as_ref(), "wrong").await.unwrap(),
            Some(false)
        );
        assert_eq!(
            token_matches(store.as_ref(), &token).await.unwrap(),
            Some(true)
        );
        promote(store.as_ref(), "ann@example.com").await.unwrap();
        assert_eq!(
            admin_emails(store.as_ref()).await.unwrap(),
            vec!["ann@example.com".to_owned()]
        );
        assert_eq!(token_matches(store.as_ref(), &token).await.unwrap(), None);
        // With an administrator, a restart makes no new token.
        std::fs::remove_file(&path).unwrap();
        prepare(store.as_ref(), &dir, false).await.unwrap();
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
