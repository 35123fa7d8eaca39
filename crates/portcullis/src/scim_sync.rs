//! What SCIM provisioning changes in Portcullis, apart from the SCIM data itself: the bearer
//! secret of each login method, deprovisioning (sessions revoked, seat freed), re-authentication
//! after a group change, and at login the refusal of deactivated users and the SCIM groups that
//! replace the ID token's groups (`identity_update_behavior = "automatic"`).
//!
//! The protocol (requests, resources, errors) is `scim_api`/`scim_resources`; this module only
//! decides consequences, following the login method's `scim_config`.

use std::path::Path;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use portcullis_core::{Email, Identity};
use portcullis_store::{ScimLookup, ScimUserRecord, Store, StoreError};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::config::{IdentityUpdateBehavior, ScimConfig};
use crate::gateway::{Gateway, LoginMethod, StartError};
use crate::seal::random_token;

/// The setting that holds a login method's SCIM secret digest (hex SHA-256).
fn secret_setting(idp_id: Uuid) -> String {
    format!("scim.secret_sha256.{idp_id}")
}

fn secret_digest_hex(secret: &str) -> String {
    hex::encode(digest(&SHA256, secret.as_bytes()))
}

/// Makes sure a login method with SCIM enabled has a secret. A secret from the configuration is
/// stored as its digest (replacing a generated one); otherwise one is generated the first time
/// SCIM is enabled and written once to `<data_dir>/scim-secret-<idp id>.txt` (mode 0600) for the
/// operator to copy into the identity provider, since the store keeps only its digest.
pub async fn install_secret(
    store: &dyn Store,
    idp_id: Uuid,
    idp_name: &str,
    config: &ScimConfig,
    data_dir: &Path,
) -> Result<(), StartError> {
    let key = secret_setting(idp_id);
    let stored = store.get_setting(&key).await?;
    match &config.secret {
        Some(secret) => {
            let wanted = secret_digest_hex(secret.expose_secret());
            if stored.as_deref() != Some(wanted.as_str()) {
                store.put_setting(&key, &wanted).await?;
            }
        }
        None if stored.is_none() => {
            let secret = regenerate_secret(store, idp_id)
                .await
                .map_err(|e| StartError::Other(format!("SCIM secret: {e}")))?;
            let path = data_dir.join(format!("scim-secret-{idp_id}.txt"));
            write_private(&path, &secret)
                .map_err(|e| StartError::Other(format!("cannot write {}: {e}", path.display())))?;
            tracing::warn!(
                login_method = idp_name,
                path = %path.display(),
                "SCIM secret generated; copy it from this file into the identity provider, then delete the file"
            );
        }
        None => {}
    }
    Ok(())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

/// Errors of the secret helpers.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot generate a secret: {0}")]
    Random(#[from] crate::seal::SealError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// Generates a new SCIM secret for the login method and returns it (to show once); the old one
/// stops working at once, on every node, since each request checks the stored digest.
pub async fn regenerate_secret(store: &dyn Store, idp_id: Uuid) -> Result<String, SecretError> {
    let secret = random_token::<32>()?;
    store
        .put_setting(&secret_setting(idp_id), &secret_digest_hex(&secret))
        .await?;
    Ok(secret)
}

/// Sets the login method's SCIM secret to one an administrator chose (at least 16 characters,
/// checked by the caller); only its digest is kept.
pub async fn set_secret(store: &dyn Store, idp_id: Uuid, secret: &str) -> Result<(), StoreError> {
    store
        .put_setting(&secret_setting(idp_id), &secret_digest_hex(secret))
        .await
}

/// Whether the login method has a SCIM secret yet.
pub async fn has_secret(store: &dyn Store, idp_id: Uuid) -> Result<bool, StoreError> {
    Ok(store.get_setting(&secret_setting(idp_id)).await?.is_some())
}

/// Whether `presented` is the login method's SCIM secret (digests compared in constant time).
pub async fn secret_matches(
    store: &dyn Store,
    idp_id: Uuid,
    presented: &str,
) -> Result<bool, StoreError> {
    let Some(stored) = store.get_setting(&secret_setting(idp_id)).await? else {
        return Ok(false);
    };
    let Ok(stored) = hex::decode(stored) else {
        return Ok(false);
    };
    let presented = digest(&SHA256, presented.as_bytes());
    Ok(verify_slices_are_equal(presented.as_ref(), &stored).is_ok())
}

/// The registry email a SCIM user stands for: the primary email, else userName when it is an
/// address. Compared case-insensitively, as the registry keys users by lower-case email.
pub fn registry_email(primary_email: Option<String>, user_name: &str) -> Option<Email> {
    primary_email
        .and_then(|e| Email::parse(&e).ok())
        .or_else(|| Email::parse(user_name).ok())
}

/// A user was deactivated, deleted or removed by the identity provider: with `user_deprovision`
/// every session of the linked registry user ends now (applied to this node before returning,
/// other nodes through the change feed); with `seat_deprovision` the seat is freed too.
pub async fn user_deprovisioned(gw: &Gateway, method: &LoginMethod, user: &ScimUserRecord) {
    let Some(config) = &method.scim else { return };
    let Some(registry_user) = user.registry_user_id else {
        return;
    };
    if !config.user_deprovision {
        return;
    }
    let now = gw.clock.now();
    match gw.store.revoke_user_sessions(registry_user, now).await {
        Ok(ended) => tracing::info!(
            login_method = %method.name,
            scim_user = %user.id,
            sessions = ended,
            "SCIM deprovisioning ended the user's sessions"
        ),
        Err(error) => tracing::error!(%error, "SCIM deprovisioning: cannot revoke sessions"),
    }
    if config.seat_deprovision
        && let Err(error) = gw.store.set_user_seat(registry_user, false, now).await
    {
        tracing::error!(%error, "SCIM deprovisioning: cannot free the seat");
    }
    gw.resync().await;
}

/// Group memberships of these SCIM users changed: with `identity_update_behavior = "reauth"`
/// their sessions end, so that their next request signs them in again and the identity
/// provider's current groups are read.
pub async fn memberships_changed(gw: &Gateway, method: &LoginMethod, member_ids: &[String]) {
    let Some(config) = &method.scim else { return };
    if config.identity_update_behavior != IdentityUpdateBehavior::Reauth || member_ids.is_empty() {
        return;
    }
    let now = gw.clock.now();
    let mut ended = 0;
    for id in member_ids {
        let user = match gw.store.get_scim_user(method.id.0, id).await {
            Ok(Some(user)) => user,
            Ok(None) => continue,
            Err(error) => {
                tracing::error!(%error, "SCIM reauth: cannot read a member");
                continue;
            }
        };
        let Some(registry_user) = user.registry_user_id else {
            continue;
        };
        match gw.store.revoke_user_sessions(registry_user, now).await {
            Ok(n) => ended += n,
            Err(error) => tracing::error!(%error, "SCIM reauth: cannot revoke sessions"),
        }
    }
    if ended > 0 {
        tracing::info!(login_method = %method.name, sessions = ended, "group change: sessions ended for re-authentication");
        gw.resync().await;
    }
}

/// Why [`at_login`] refused a login.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The identity provider deactivated the user over SCIM.
    #[error("the identity provider deactivated this user (SCIM)")]
    Deactivated,
    /// The SCIM data could not be read; the login is refused rather than let a possibly
    /// deactivated user in.
    #[error("cannot read the SCIM data: {0}")]
    Store(#[from] StoreError),
}

/// The SCIM user of this login method that stands for `email`: by userName, else by an email
/// value, case-insensitively.
async fn linked_user(
    store: &dyn Store,
    idp_id: Uuid,
    email: &str,
) -> Result<Option<ScimUserRecord>, StoreError> {
    let by_name = store
        .find_scim_users(idp_id, &ScimLookup::UserName(email.to_owned()))
        .await?;
    if let Some(user) = by_name.into_iter().next() {
        return Ok(Some(user));
    }
    let by_email = store
        .find_scim_users(idp_id, &ScimLookup::Email(email.to_owned()))
        .await?;
    Ok(by_email.into_iter().next())
}

/// Runs at login, after the identity is built from the ID token and before the login is
/// recorded. Refuses a user the identity provider deactivated over SCIM (even when the
/// identity provider still let them sign in). With `automatic` identity updates, the user's
/// SCIM group names replace the ID token's groups, and a missing name is filled in.
pub async fn at_login(
    gw: &Gateway,
    method: &LoginMethod,
    identity: &mut Identity,
) -> Result<(), Refusal> {
    let Some(config) = &method.scim else {
        return Ok(());
    };
    let Some(user) = linked_user(gw.store.as_ref(), method.id.0, identity.email.as_str()).await?
    else {
        return Ok(());
    };
    if !user.active {
        return Err(Refusal::Deactivated);
    }
    if config.identity_update_behavior == IdentityUpdateBehavior::Automatic {
        let groups = gw
            .store
            .scim_groups_of_member(method.id.0, &user.id)
            .await?;
        identity.groups = groups.into_iter().map(|g| g.display_name).collect();
        if identity.name.is_none() {
            identity.name = user.display_name.clone();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_email_prefers_the_primary_email() {
        let e = registry_email(Some("Ann@Example.com".into()), "ann-login").unwrap();
        assert_eq!(e.as_str(), "ann@example.com");
        let e = registry_email(None, "Bob@Example.com").unwrap();
        assert_eq!(e.as_str(), "bob@example.com");
        assert!(registry_email(None, "not-an-address").is_none());
    }

    #[test]
    fn digests_are_hex_sha256() {
        assert_eq!(
            secret_digest_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
