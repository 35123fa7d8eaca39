//! Service tokens: machine credentials (`CF-Access-Client-Id` + `CF-Access-Client-Secret`) that
//! Service Auth policies accept in place of a login.
//!
//! The secret is 32 random bytes shown once at creation or rotation and stored only as its
//! SHA-256 digest (a fast digest is enough for a secret with 256 bits of entropy). Every node
//! keeps the tokens in memory ([`ServiceTokens`]) so that checking credentials never touches the
//! database; the store's change feed reloads them when one changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use http::HeaderMap;
use portcullis_core::{ServiceTokenId, format_go_duration, parse_go_duration};
use portcullis_store::{ServiceTokenRecord, Store, StoreError, UniqueKey};
use uuid::Uuid;

use crate::seal::random_bytes;

/// The lifetime of a new token when none is given (Cloudflare's default).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(8760 * 3600);

/// How long the secret before a rotation keeps working, so clients can switch without an outage.
pub const ROTATION_GRACE: Duration = Duration::from_secs(3600);

const CLIENT_ID_HEADER: &str = "cf-access-client-id";
const CLIENT_SECRET_HEADER: &str = "cf-access-client-secret";

#[derive(Debug, thiserror::Error)]
pub enum ServiceTokenError {
    #[error("`{0}` is not a duration; write a Go duration such as `8760h`, or `forever`")]
    Duration(String),
    #[error("a service token needs a non-empty name")]
    EmptyName,
    #[error("a service token named `{0}` already exists")]
    NameTaken(String),
    #[error("no service token with id {0}")]
    NotFound(Uuid),
    #[error("random number generator failed")]
    Random,
    #[error("database: {0}")]
    Store(StoreError),
}

impl From<StoreError> for ServiceTokenError {
    fn from(e: StoreError) -> Self {
        ServiceTokenError::Store(e)
    }
}

/// A token's lifetime: a duration from creation (or refresh), or no expiry at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    For(Duration),
    Forever,
}

impl Lifetime {
    /// `forever` or a Go duration (`8760h`).
    pub fn parse(text: &str) -> Result<Lifetime, ServiceTokenError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("forever") {
            return Ok(Lifetime::Forever);
        }
        match parse_go_duration(text) {
            Ok(d) if !d.is_zero() => Ok(Lifetime::For(d)),
            _ => Err(ServiceTokenError::Duration(text.to_owned())),
        }
    }

    fn as_text(self) -> String {
        match self {
            Lifetime::For(d) => format_go_duration(d),
            Lifetime::Forever => "forever".to_owned(),
        }
    }

    fn expires_at(self, from: i64) -> Option<i64> {
        match self {
            Lifetime::For(d) => Some(from.saturating_add(d.as_secs() as i64)),
            Lifetime::Forever => None,
        }
    }
}

/// A token as it was created or rotated: the only time its secret exists outside the client.
pub struct Issued {
    pub record: ServiceTokenRecord,
    pub client_secret: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

fn hash_hex(secret: &str) -> String {
    hex::encode(digest(&SHA256, secret.as_bytes()))
}

fn new_secret() -> Result<String, ServiceTokenError> {
    Ok(hex::encode(
        random_bytes::<32>().map_err(|_| ServiceTokenError::Random)?,
    ))
}

/// Creates a service token. The client id looks like Cloudflare's: 32 hex digits, then
/// `.access`.
pub async fn create(
    store: &dyn Store,
    name: &str,
    lifetime: Lifetime,
    now: i64,
) -> Result<Issued, ServiceTokenError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceTokenError::EmptyName);
    }
    let client_id = format!(
        "{}.access",
        hex::encode(random_bytes::<16>().map_err(|_| ServiceTokenError::Random)?)
    );
    let client_secret = new_secret()?;
    let record = ServiceTokenRecord {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        client_id,
        secret_hash: hash_hex(&client_secret),
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        duration: lifetime.as_text(),
        expires_at: lifetime.expires_at(now),
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    match store.insert_service_token(&record).await {
        Ok(()) => Ok(Issued {
            record,
            client_secret,
        }),
        Err(StoreError::Conflict(UniqueKey::ServiceTokenName)) => {
            Err(ServiceTokenError::NameTaken(name.to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn load(store: &dyn Store, id: Uuid) -> Result<ServiceTokenRecord, ServiceTokenError> {
    store
        .get_service_token(id)
        .await?
        .ok_or(ServiceTokenError::NotFound(id))
}

async fn save(store: &dyn Store, record: &ServiceTokenRecord) -> Result<(), ServiceTokenError> {
    if store.update_service_token(record).await? {
        Ok(())
    } else {
        Err(ServiceTokenError::NotFound(record.id))
    }
}

/// Extends a token's life by its duration from now (Cloudflare's "Refresh"); a `forever` token
/// stays so.
pub async fn refresh(
    store: &dyn Store,
    id: Uuid,
    now: i64,
) -> Result<ServiceTokenRecord, ServiceTokenError> {
    let mut record = load(store, id).await?;
    let lifetime = Lifetime::parse(&record.duration)?;
    record.expires_at = lifetime.expires_at(now);
    record.updated_at = now;
    save(store, &record).await?;
    Ok(record)
}

/// Gives the token a new secret; the previous one keeps working for [`ROTATION_GRACE`].
pub async fn rotate(store: &dyn Store, id: Uuid, now: i64) -> Result<Issued, ServiceTokenError> {
    let mut record = load(store, id).await?;
    let client_secret = new_secret()?;
    record.previous_secret_hash = Some(std::mem::replace(
        &mut record.secret_hash,
        hash_hex(&client_secret),
    ));
    record.previous_secret_expires_at = Some(now + ROTATION_GRACE.as_secs() as i64);
    record.updated_at = now;
    save(store, &record).await?;
    Ok(Issued {
        record,
        client_secret,
    })
}

/// Enables or disables a token; a disabled token's secrets (current and previous) are refused.
pub async fn set_enabled(
    store: &dyn Store,
    id: Uuid,
    enabled: bool,
    now: i64,
) -> Result<ServiceTokenRecord, ServiceTokenError> {
    let mut record = load(store, id).await?;
    record.enabled = enabled;
    record.updated_at = now;
    save(store, &record).await?;
    Ok(record)
}

/// Why presented credentials were refused (for the log; the client learns only "refused").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownClientId,
    WrongSecret,
    Disabled,
    Expired,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::UnknownClientId => "unknown service token client id",
            Refusal::WrongSecret => "wrong service token secret",
            Refusal::Disabled => "service token is disabled",
            Refusal::Expired => "service token has expired",
        })
    }
}

/// A service token whose credentials checked out.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub id: ServiceTokenId,
    pub client_id: String,
    pub name: String,
}

struct Entry {
    id: ServiceTokenId,
    name: String,
    digest: Vec<u8>,
    previous: Option<(Vec<u8>, i64)>,
    expires_at: Option<i64>,
    enabled: bool,
}

/// Every node's in-memory copy of the service tokens, by client id.
#[derive(Default)]
pub struct ServiceTokens {
    by_client_id: ArcSwap<HashMap<String, Entry>>,
}

impl ServiceTokens {
    /// Replaces the whole set (at start-up and whenever the store says they changed).
    pub fn replace(&self, records: Vec<ServiceTokenRecord>) {
        let map = records
            .into_iter()
            .filter_map(|r| {
                let digest = hex::decode(&r.secret_hash).ok()?;
                let previous = match (&r.previous_secret_hash, r.previous_secret_expires_at) {
                    (Some(h), Some(until)) => hex::decode(h).ok().map(|d| (d, until)),
                    _ => None,
                };
                Some((
                    r.client_id,
                    Entry {
                        id: ServiceTokenId(r.id),
                        name: r.name,
                        digest,
                        previous,
                        expires_at: r.expires_at,
                        enabled: r.enabled,
                    },
                ))
            })
            .collect();
        self.by_client_id.store(Arc::new(map));
    }

    /// Checks presented credentials: known client id, enabled, not expired, and the secret (or
    /// the previous one within its grace period), compared in constant time.
    pub fn verify(
        &self,
        client_id: &str,
        secret: &str,
        now: i64,
    ) -> Result<Authenticated, Refusal> {
        let map = self.by_client_id.load();
        let entry = map.get(client_id).ok_or(Refusal::UnknownClientId)?;
        let presented = digest(&SHA256, secret.as_bytes());
        let current = verify_slices_are_equal(presented.as_ref(), &entry.digest).is_ok();
        let previous = entry.previous.as_ref().is_some_and(|(d, until)| {
            *until > now && verify_slices_are_equal(presented.as_ref(), d).is_ok()
        });
        if !current && !previous {
            return Err(Refusal::WrongSecret);
        }
        if !entry.enabled {
            return Err(Refusal::Disabled);
        }
        if entry.expires_at.is_some_and(|exp| exp <= now) {
            return Err(Refusal::Expired);
        }
        Ok(Authenticated {
            id: entry.id,
            client_id: client_id.to_owned(),
            name: entry.name.clone(),
        })
    }

    /// The token id behind a client id that is known, enabled and unexpired (for app tokens
    /// minted from a service token, re-checked on every request).
    pub fn active_id(&self, client_id: &str, now: i64) -> Option<ServiceTokenId> {
        let map = self.by_client_id.load();
        let entry = map.get(client_id)?;
        (entry.enabled && entry.expires_at.is_none_or(|exp| exp > now)).then_some(entry.id)
    }
}

/// Credentials a request presents: the two `CF-Access-Client-*` headers, or, when the
/// application names one, a single header holding
/// `{"cf-access-client-id": "…", "cf-access-client-secret": "…"}`.
pub fn presented(
    headers: &HeaderMap,
    single_header: Option<&http::HeaderName>,
) -> Option<(String, String)> {
    if let Some(name) = single_header
        && let Some(value) = headers.get(name).and_then(|v| v.to_str().ok())
        && let Ok(serde_json::Value::Object(map)) =
            serde_json::from_str::<serde_json::Value>(value.trim())
    {
        let field = |k: &str| {
            map.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_owned)
        };
        if let (Some(id), Some(secret)) = (field(CLIENT_ID_HEADER), field(CLIENT_SECRET_HEADER)) {
            return Some((id, secret));
        }
    }
    let id = headers.get(CLIENT_ID_HEADER)?.to_str().ok()?.trim();
    let secret = headers.get(CLIENT_SECRET_HEADER)?.to_str().ok()?.trim();
    Some((id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    async fn store() -> Arc<dyn Store> {
        portcullis_store::open("sqlite::memory:").await.unwrap()
    }

    #[tokio::test]
    async fn create_verify_rotate_disable_expire() {
        let store = store().await;
        let tokens = ServiceTokens::default();
        let issued = create(
            store.as_ref(),
            "ci",
            Lifetime::For(Duration::from_secs(100)),
            1000,
        )
        .await
        .unwrap();
        assert!(issued.record.client_id.ends_with(".access"));
        assert_eq!(issued.client_secret.len(), 64);
        assert_ne!(issued.record.secret_hash, issued.client_secret);
        tokens.replace(store.list_service_tokens().await.unwrap());
        let id = &issued.record.client_id;

        let ok = tokens.verify(id, &issued.client_secret, 1001).unwrap();
        assert_eq!(ok.id.0, issued.record.id);
        assert_eq!(
            tokens.verify(id, "nope", 1001).unwrap_err(),
            Refusal::WrongSecret
        );
        assert_eq!(
            tokens
                .verify("x.access", &issued.client_secret, 1001)
                .unwrap_err(),
            Refusal::UnknownClientId
        );
        assert_eq!(
            tokens.verify(id, &issued.client_secret, 1100).unwrap_err(),
            Refusal::Expired
        );

        // Refresh extends by the token's own duration from now.
        let refreshed = refresh(store.as_ref(), issued.record.id, 1090)
            .await
            .unwrap();
        assert_eq!(refreshed.expires_at, Some(1190));
        tokens.replace(store.list_service_tokens().await.unwrap());
        assert!(tokens.verify(id, &issued.client_secret, 1100).is_ok());

        // Rotation: the new secret works, the old one only during the grace period.
        let rotated = rotate(store.as_ref(), issued.record.id, 1100)
            .await
            .unwrap();
        tokens.replace(store.list_service_tokens().await.unwrap());
        assert!(tokens.verify(id, &rotated.client_secret, 1101).is_ok());
        assert!(tokens.verify(id, &issued.client_secret, 1101).is_ok());
        let after_grace = 1100 + ROTATION_GRACE.as_secs() as i64;
        let refreshed = refresh(store.as_ref(), issued.record.id, after_grace)
            .await
            .unwrap();
        assert!(refreshed.expires_at > Some(after_grace));
        tokens.replace(store.list_service_tokens().await.unwrap());
        assert_eq!(
            tokens
                .verify(id, &issued.client_secret, after_grace)
                .unwrap_err(),
            Refusal::WrongSecret
        );

        set_enabled(store.as_ref(), issued.record.id, false, after_grace)
            .await
            .unwrap();
        tokens.replace(store.list_service_tokens().await.unwrap());
        assert_eq!(
            tokens
                .verify(id, &rotated.client_secret, after_grace)
                .unwrap_err(),
            Refusal::Disabled
        );
        assert_eq!(tokens.active_id(id, after_grace), None);
    }

    #[tokio::test]
    async fn forever_tokens_never_expire_and_names_are_unique() {
        let store = store().await;
        let issued = create(store.as_ref(), "backup", Lifetime::Forever, 0)
            .await
            .unwrap();
        assert_eq!(issued.record.expires_at, None);
        assert_eq!(issued.record.duration, "forever");
        let tokens = ServiceTokens::default();
        tokens.replace(store.list_service_tokens().await.unwrap());
        assert!(
            tokens
                .verify(
                    &issued.record.client_id,
                    &issued.client_secret,
                    i64::MAX / 2
                )
                .is_ok()
        );
        assert!(matches!(
            create(store.as_ref(), "backup", Lifetime::Forever, 0).await,
            Err(ServiceTokenError::NameTaken(_))
        ));
        assert!(matches!(
            create(store.as_ref(), "  ", Lifetime::Forever, 0).await,
            Err(ServiceTokenError::EmptyName)
        ));
    }

    #[test]
    fn lifetimes_parse() {
        assert_eq!(Lifetime::parse("forever").unwrap(), Lifetime::Forever);
        assert_eq!(
            Lifetime::parse("8760h").unwrap(),
            Lifetime::For(DEFAULT_DURATION)
        );
        assert!(Lifetime::parse("0s").is_err());
        assert!(Lifetime::parse("a year").is_err());
    }

    #[test]
    fn credentials_from_headers_or_one_json_header() {
        let mut h = HeaderMap::new();
        h.insert(
            "cf-access-client-id",
            HeaderValue::from_static("abc.access"),
        );
        h.insert("cf-access-client-secret", HeaderValue::from_static("s3"));
        assert_eq!(
            presented(&h, None),
            Some(("abc.access".into(), "s3".into()))
        );
        let auth = http::header::AUTHORIZATION;
        let mut j = HeaderMap::new();
        j.insert(
            &auth,
            HeaderValue::from_static(
                r#"{"cf-access-client-id":"j.access","cf-access-client-secret":"js"}"#,
            ),
        );
        assert_eq!(
            presented(&j, Some(&auth)),
            Some(("j.access".into(), "js".into()))
        );
        assert_eq!(presented(&j, None), None);
        j.insert(&auth, HeaderValue::from_static("Bearer not-json"));
        assert_eq!(presented(&j, Some(&auth)), None);
    }
}
