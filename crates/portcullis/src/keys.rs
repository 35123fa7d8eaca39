//! Our signing keys: the current key signs every token we issue, the previous one stays published
//! (and accepted) after a rotation so that tokens signed just before it keep working.
//!
//! Private keys live in the store sealed with the gateway's secret key. `/cdn-cgi/access/certs`
//! is rendered once per key change, in Cloudflare's format: `keys` (JWKS with current and previous
//! key), `public_cert` (current, PEM X.509) and `public_certs` (both).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use portcullis_jose::{Algorithm, JwkSet, KeySet, SigningKey};
use portcullis_store::{SigningKeyRecord, Store};
use serde_json::json;

use crate::seal::Sealer;

const SEAL_PURPOSE: &str = "signing-key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key store: {0}")]
    Store(#[from] portcullis_store::StoreError),
    #[error("signing key: {0}")]
    Jose(#[from] portcullis_jose::JoseError),
    #[error("signing key {kid} cannot be unsealed: was the secret key changed? ({source})")]
    Unseal {
        kid: String,
        source: crate::seal::SealError,
    },
    #[error("sealing a new signing key: {0}")]
    Seal(crate::seal::SealError),
    #[error("signing key {0} has an unknown algorithm")]
    UnknownAlg(String),
    #[error("the store holds no current signing key")]
    NoCurrentKey,
}

/// The keys in force, with everything derived from them computed once.
pub struct KeyRing {
    current: Arc<SigningKey>,
    current_created_at: i64,
    verify: KeySet,
    algorithms: Vec<Algorithm>,
    certs: Bytes,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current.kid())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Builds the ring from the current key and, when there is one, the previous key.
    pub fn new(
        current: Arc<SigningKey>,
        current_created_at: i64,
        previous: Option<Arc<SigningKey>>,
        cert_name: &str,
    ) -> Result<KeyRing, KeyError> {
        let mut keys = vec![current.clone()];
        keys.extend(previous);
        let jwks = JwkSet {
            keys: keys.iter().map(|k| k.public_jwk()).collect(),
        };
        let mut certs = Vec::new();
        for k in &keys {
            certs.push(json!({ "kid": k.kid(), "cert": k.self_signed_cert_pem(cert_name)? }));
        }
        let body = json!({
            "keys": jwks.keys,
            "public_cert": certs[0],
            "public_certs": certs,
        });
        let mut algorithms: Vec<Algorithm> = keys.iter().map(|k| k.alg()).collect();
        algorithms.dedup();
        Ok(KeyRing {
            verify: KeySet::from_jwks(&jwks),
            current,
            current_created_at,
            algorithms,
            certs: Bytes::from(body.to_string()),
        })
    }

    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    /// Public keys that verify our tokens.
    pub fn verify_set(&self) -> &KeySet {
        &self.verify
    }

    /// Algorithms our tokens may carry (those of the published keys).
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The body of `/cdn-cgi/access/certs`.
    pub fn certs_document(&self) -> Bytes {
        self.certs.clone()
    }

    /// When the current key started signing (unix seconds).
    pub fn current_created_at(&self) -> i64 {
        self.current_created_at
    }

    pub fn rotation_due(&self, now: i64, interval: Duration) -> bool {
        now.saturating_sub(self.current_created_at) >= interval.as_secs() as i64
    }
}

fn unseal(sealer: &Sealer, record: &SigningKeyRecord) -> Result<Arc<SigningKey>, KeyError> {
    let alg: Algorithm = record
        .alg
        .parse()
        .map_err(|_| KeyError::UnknownAlg(record.kid.clone()))?;
    let text = String::from_utf8_lossy(&record.sealed_private_key).into_owned();
    let der = sealer
        .open(SEAL_PURPOSE, &text)
        .map_err(|source| KeyError::Unseal {
            kid: record.kid.clone(),
            source,
        })?;
    Ok(Arc::new(SigningKey::from_pkcs8(alg, &der)?))
}

async fn create(
    store: &dyn Store,
    sealer: &Sealer,
    alg: Algorithm,
    now: i64,
) -> Result<SigningKeyRecord, KeyError> {
    let key = SigningKey::generate(alg)?;
    let sealed = sealer
        .seal(SEAL_PURPOSE, key.pkcs8_der())
        .map_err(KeyError::Seal)?;
    let record = SigningKeyRecord {
        kid: key.kid().to_owned(),
        alg: alg.as_str().to_owned(),
        sealed_private_key: sealed.into_bytes(),
        created_at: now,
        retired_at: None,
    };
    store.insert_signing_key(&record).await?;
    Ok(record)
}

/// Loads the ring from the store, creating the first key (or a key of a newly configured
/// algorithm, which counts as a rotation) when needed.
pub async fn load_or_create(
    store: &dyn Store,
    sealer: &Sealer,
    alg: Algorithm,
    cert_name: &str,
    now: i64,
) -> Result<KeyRing, KeyError> {
    let records = store.list_signing_keys().await?;
    let newest_fits = records
        .iter()
        .find(|r| r.retired_at.is_none())
        .is_some_and(|r| r.alg == alg.as_str());
    if !newest_fits {
        return rotate(store, sealer, alg, cert_name, now).await;
    }
    ring_from_records(sealer, &records, cert_name)
}

fn ring_from_records(
    sealer: &Sealer,
    records: &[SigningKeyRecord],
    cert_name: &str,
) -> Result<KeyRing, KeyError> {
    let mut live = records.iter().filter(|r| r.retired_at.is_none());
    let current = live.next();
    let previous = records
        .iter()
        .find(|r| Some(r.kid.as_str()) != current.map(|c| c.kid.as_str()));
    let current = current.ok_or(KeyError::NoCurrentKey)?;
    let previous = previous.map(|r| unseal(sealer, r)).transpose()?;
    KeyRing::new(
        unseal(sealer, current)?,
        current.created_at,
        previous,
        cert_name,
    )
}

/// Makes a new current key; the old current becomes the previous key; older ones are deleted.
/// The key ring as the store holds it now, without creating or rotating anything: what a node
/// loads when another node rotated.
pub async fn reload(
    store: &dyn Store,
    sealer: &Sealer,
    cert_name: &str,
) -> Result<KeyRing, KeyError> {
    let records = store.list_signing_keys().await?;
    ring_from_records(sealer, &records, cert_name)
}

pub async fn rotate(
    store: &dyn Store,
    sealer: &Sealer,
    alg: Algorithm,
    cert_name: &str,
    now: i64,
) -> Result<KeyRing, KeyError> {
    let before = store.list_signing_keys().await?;
    let new = create(store, sealer, alg, now).await?;
    for (i, old) in before.iter().enumerate() {
        if i == 0 {
            if old.retired_at.is_none() {
                store.retire_signing_key(&old.kid, now).await?;
            }
        } else {
            store.delete_signing_key(&old.kid).await?;
        }
    }
    let mut records = vec![new];
    if let Some(prev) = before.into_iter().next() {
        records.push(SigningKeyRecord {
            retired_at: Some(now),
            ..prev
        });
    }
    ring_from_records(sealer, &records, cert_name)
}
