//! The cache of a provider's signing keys.
//!
//! Keys are fetched on first need and again only when a token names a key id the cache does not
//! know (the provider rotated its keys). Fetches are serialised and at most one is started per
//! refresh interval, so a stream of tokens with invented key ids cannot turn Portcullis into a
//! flood against the provider. A successful fetch replaces the set; a failed one (endpoint down,
//! error status, garbage, or a set without a usable key) keeps the previous keys, so an outage of
//! the JWKS endpoint does not stop logins signed with known keys.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use portcullis_jose::KeySet;
use url::Url;

use crate::error::{Endpoint, OidcError};
use crate::http;

/// Cached signing keys of one provider, with a rate-limited refresh.
#[derive(Debug)]
pub struct JwksCache {
    min_interval: Duration,
    timeout: Duration,
    state: Mutex<State>,
    /// Held for the duration of a fetch, so concurrent logins wait for one fetch instead of each starting one.
    fetch_lock: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    last_attempt: Option<Instant>,
}

impl JwksCache {
    /// An empty cache that starts a fetch at most once per `min_interval`, each with `timeout`.
    pub fn new(min_interval: Duration, timeout: Duration) -> JwksCache {
        JwksCache {
            min_interval,
            timeout,
            state: Mutex::new(State::default()),
            fetch_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The current keys, fetched from `url` when none have been obtained yet.
    ///
    /// Called before validating each ID token. Fails with [`OidcError::JwksUnavailable`] only
    /// when no keys were ever obtained and a fetch fails now or failed within the refresh interval.
    pub async fn keys(
        &self,
        client: &reqwest::Client,
        url: &Url,
    ) -> Result<Arc<KeySet>, OidcError> {
        if let Some(keys) = self.state().keys.clone() {
            return Ok(keys);
        }
        let _fetching = self.fetch_lock.lock().await;
        if let Some(keys) = self.state().keys.clone() {
            return Ok(keys);
        }
        if !self.may_fetch() {
            return Err(OidcError::JwksUnavailable {
                reason: format!(
                    "the last fetch failed less than {:?} ago",
                    self.min_interval
                ),
            });
        }
        self.fetch(client, url)
            .await
            .map_err(|e| OidcError::JwksUnavailable {
                reason: e.to_string(),
            })
    }

    /// Called when a token named a key id missing from `seen` (the set it was checked against).
    ///
    /// Returns a newer key set to retry with: one another task fetched meanwhile, or one fetched
    /// now if the rate limit allows. Returns `None` when nothing newer is available (rate limited,
    /// or the fetch failed and the old keys stay), in which case the token is rejected.
    pub async fn refresh_after_unknown_kid(
        &self,
        client: &reqwest::Client,
        url: &Url,
        seen: &Arc<KeySet>,
    ) -> Option<Arc<KeySet>> {
        let _fetching = self.fetch_lock.lock().await;
        let current = self.state().keys.clone();
        if let Some(current) = current
            && !Arc::ptr_eq(&current, seen)
        {
            return Some(current);
        }
        if !self.may_fetch() {
            tracing::debug!(jwks_uri = %url, "unknown key id; JWKS refresh skipped by the rate limit");
            return None;
        }
        self.fetch(client, url).await.ok()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a pair of plain values that no panic can leave half-written.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the rate limit allows a fetch now. Every attempt counts, failed ones too.
    fn may_fetch(&self) -> bool {
        self.state()
            .last_attempt
            .is_none_or(|last| last.elapsed() >= self.min_interval)
    }

    /// Fetches and installs a new key set, or logs why not and keeps the old one.
    async fn fetch(&self, client: &reqwest::Client, url: &Url) -> Result<Arc<KeySet>, OidcError> {
        self.state().last_attempt = Some(Instant::now());
        match self.download(client, url).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                tracing::info!(jwks_uri = %url, keys = keys.len(), skipped = keys.skipped().len(), "fetched provider signing keys");
                self.state().keys = Some(keys.clone());
                Ok(keys)
            }
            Err(error) => {
                // The error says what was wrong; the body is never logged.
                tracing::warn!(jwks_uri = %url, %error, "JWKS fetch failed; keeping the previous keys");
                Err(error)
            }
        }
    }

    async fn download(&self, client: &reqwest::Client, url: &Url) -> Result<KeySet, OidcError> {
        let request = client
            .get(url.clone())
            .header(
                reqwest::header::ACCEPT,
                "application/json, application/jwk-set+json",
            )
            .timeout(self.timeout);
        let (status, body) = http::send(request, Endpoint::Jwks).await?;
        if !status.is_success() {
            return Err(OidcError::HttpStatus {
                endpoint: Endpoint::Jwks,
                status: status.as_u16(),
                oauth_error: None,
                error_description: None,
            });
        }
        let keys = KeySet::from_json(&body).map_err(|e| OidcError::InvalidResponse {
            endpoint: Endpoint::Jwks,
            reason: e.to_string(),
        })?;
        if keys.is_empty() {
            // Treated like garbage: an empty set would reject every login, and keeping the old keys
            // is the safer reading of a provider glitch.
            return Err(OidcError::InvalidResponse {
                endpoint: Endpoint::Jwks,
                reason: "the key set holds no usable signing key".to_owned(),
            });
        }
        Ok(keys)
    }
}
