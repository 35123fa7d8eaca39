//! The running gateway's state: configuration objects (applications, login methods) as an
//! immutable snapshot, the key ring, the verified-token cache and the revocation set, plus the
//! start-up that builds them from the configuration and the store, and the background tasks that
//! keep them current (change feed, key rotation, pruning).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use portcullis_core::Identity;
use portcullis_store::{Change, Store};
use uuid::Uuid;

use crate::config::{Config, OrganizationConfig, ServerConfig};
use crate::keys::{self, KeyRing};
use crate::proxy::OriginClient;
use crate::seal::{Sealer, random_bytes};
use crate::service_tokens::ServiceTokens;
use crate::tokens::{Revocations, TokenCache};

/// A clock that tests can move forward.
#[derive(Debug, Default)]
pub struct Clock {
    offset: AtomicI64,
}

impl Clock {
    /// Unix seconds.
    pub fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        real + self.offset.load(Ordering::Relaxed)
    }

    pub fn system_time(&self) -> SystemTime {
        let offset = self.offset.load(Ordering::Relaxed);
        let now = SystemTime::now();
        if offset >= 0 {
            now + Duration::from_secs(offset as u64)
        } else {
            now - Duration::from_secs(offset.unsigned_abs())
        }
    }

    /// Moves this gateway's notion of time forward (tests).
    pub fn advance(&self, by: Duration) {
        self.offset
            .fetch_add(by.as_secs() as i64, Ordering::Relaxed);
    }
}

pub use crate::snapshot::{App, LoginMethod, Snapshot};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Seal(#[from] crate::seal::SealError),
    #[error("database: {0}")]
    Store(#[from] portcullis_store::StoreError),
    #[error("{0}")]
    Keys(#[from] keys::KeyError),
    #[error("{0}")]
    Objects(#[from] crate::objects::RecordError),
    #[error("{0}")]
    Other(String),
}

/// Everything the request handlers share.
pub struct Gateway {
    pub server: ServerConfig,
    pub store: Arc<dyn Store>,
    pub sealer: Sealer,
    pub snapshot: ArcSwap<Snapshot>,
    pub keys: ArcSwap<KeyRing>,
    pub token_cache: TokenCache,
    pub revoked: Revocations,
    pub clock: Clock,
    pub origins: OriginClient,
    pub account_id: String,
    pub organization: OrganizationConfig,
    pub service_tokens: ServiceTokens,
    /// Signed-in identities by session id, so that request-dependent rules can be re-checked
    /// without the database; filled at sign-in and, on another node, from the store once.
    pub identities: IdentityCache,
    /// Keys the `CF_Binding` cookie (HMAC of the app token).
    pub binding_key: aws_lc_rs::hmac::Key,
    /// App tokens minted for service tokens, by (application, service token).
    pub service_assertions: AssertionCache,
    /// How the login and block pages look.
    pub branding: crate::respond::Branding,
    /// This process among the nodes sharing the database (lease holder name).
    pub node_id: String,
    /// SHA-256 of the bootstrap admin API token from the configuration, if any.
    pub admin_token_digest: Option<Vec<u8>>,
    /// `[admin] policies`: who may use the web admin UI (besides administrators added through
    /// its setup step).
    pub admin_policies: Vec<portcullis_core::Policy>,
    /// HTTP client of the login methods' providers.
    pub http: reqwest::Client,
    /// Serialises configuration edits on this node.
    pub edit_lock: tokio::sync::Mutex<()>,
    /// Serialises snapshot rebuilds, so that an older one never replaces a newer one.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// How often the signing key rotates, in seconds: the configuration's, or the admin API's
    /// when the configuration does not set it (`PUT keys`).
    pub rotation_interval: std::sync::atomic::AtomicU64,
    /// Stored objects left out of the snapshot at the last rebuild.
    pub object_problems: std::sync::Mutex<Vec<crate::objects::Problem>>,
    /// Results of the admin API's policy tests, newest last (a few dozen are kept).
    pub policy_tests:
        std::sync::Mutex<std::collections::VecDeque<(String, Arc<crate::tester::Summary>)>>,
}

/// App tokens minted for service tokens, reused until they near their expiry.
#[derive(Default)]
pub struct AssertionCache {
    entries: std::sync::Mutex<HashMap<(Uuid, Uuid), Arc<crate::tokens::VerifiedApp>>>,
}

impl AssertionCache {
    pub fn get(&self, key: &(Uuid, Uuid)) -> Option<Arc<crate::tokens::VerifiedApp>> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    pub fn insert(&self, key: (Uuid, Uuid), token: Arc<crate::tokens::VerifiedApp>) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= 10_000 {
                map.clear();
            }
            map.insert(key, token);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }
}

/// Identities of live sessions by session id, bounded.
#[derive(Default)]
pub struct IdentityCache {
    entries: std::sync::Mutex<HashMap<String, Arc<Identity>>>,
}

/// Beyond this many entries the cache starts again from empty (sessions re-fill it).
const IDENTITY_CACHE_CAPACITY: usize = 100_000;

impl IdentityCache {
    pub fn get(&self, session: &str) -> Option<Arc<Identity>> {
        self.entries.lock().ok()?.get(session).cloned()
    }

    pub fn insert(&self, session: String, identity: Arc<Identity>) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= IDENTITY_CACHE_CAPACITY {
                map.clear();
            }
            map.insert(session, identity);
        }
    }

    pub fn remove(&self, session: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(session);
        }
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("team_url", &self.server.team_url)
            .finish_non_exhaustive()
    }
}

fn http_client() -> Result<reqwest::Client, StartError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StartError::Other(format!("HTTP client: {e}")))
}

impl Gateway {
    /// Opens the store, records the configured objects in it (keeping generated ids and AUD
    /// tags stable across restarts), loads or creates the signing keys.
    pub async fn build(config: Config) -> Result<Arc<Gateway>, StartError> {
        let server = config.server;
        if server.database_url.starts_with("sqlite://") {
            std::fs::create_dir_all(&server.data_dir).map_err(|e| {
                StartError::Other(format!(
                    "cannot create data_dir {}: {e}",
                    server.data_dir.display()
                ))
            })?;
        }
        let admin_token_digest = server.admin_token.as_ref().map(|t| {
            use secrecy::ExposeSecret;
            crate::admin_api::bootstrap_digest(t.expose_secret())
        });
        let sealer = Sealer::from_config_or_file(server.secret_key.as_ref(), &server.data_dir)?;
        let store = portcullis_store::open(&server.database_url).await?;
        let clock = Clock::default();
        let now = clock.now();

        let stored_account = store.get_setting("account_id").await?;
        let account_id = match (&server.account_id, stored_account) {
            (Some(fixed), stored) => {
                if stored.as_deref() != Some(fixed.as_str()) {
                    store.put_setting("account_id", fixed).await?;
                }
                fixed.clone()
            }
            (None, Some(id)) => id,
            (None, None) => {
                let id = hex::encode(random_bytes::<16>()?);
                store.put_setting("account_id", &id).await?;
                id
            }
        };

        let http = http_client()?;
        let idp_ids = crate::objects::record_file_objects(
            store.as_ref(),
            &sealer,
            &config.declarations,
            &config.identity_providers,
            now,
        )
        .await?;
        for (idp, id) in config.identity_providers.iter().zip(idp_ids) {
            if let Some(scim) = &idp.scim {
                crate::scim_sync::install_secret(
                    store.as_ref(),
                    id,
                    &idp.name,
                    scim,
                    &server.data_dir,
                )
                .await?;
            }
        }
        let records = crate::objects::fetch(store.as_ref()).await?;
        let built = crate::objects::build(
            &records,
            &crate::objects::BuildContext {
                server: &server,
                sealer: &sealer,
                http: &http,
            },
            None,
        );
        for problem in &built.problems {
            tracing::error!(%problem, "configuration object left out: it is not in force");
        }
        let snapshot = built.snapshot;
        let object_problems = built.problems;
        let rotation_interval = stored_rotation_interval(store.as_ref(), &server)
            .await?
            .unwrap_or(server.key_rotation_interval);

        let ring = keys::load_or_create(
            store.as_ref(),
            &sealer,
            server.signing_alg,
            &server.team_domain,
            now,
        )
        .await?;
        let revoked = Revocations::default();
        for r in store.list_revoked_sessions(now).await? {
            revoked.insert(r.id, r.expires_at);
        }
        for r in store.list_app_revocations().await? {
            revoked.revoke_app(r.app_id, r.at);
        }
        let service_tokens = ServiceTokens::default();
        service_tokens.replace(store.list_service_tokens().await?);
        let binding_key = binding_key(store.as_ref(), &sealer).await?;
        crate::admin_ui::setup::prepare(
            store.as_ref(),
            &server.data_dir,
            !config.admin_policies.is_empty(),
        )
        .await?;
        Ok(Arc::new(Gateway {
            server,
            store,
            sealer,
            snapshot: ArcSwap::from_pointee(snapshot),
            keys: ArcSwap::from_pointee(ring),
            token_cache: TokenCache::new(100_000),
            revoked,
            clock,
            origins: OriginClient::new(),
            account_id,
            service_tokens,
            identities: IdentityCache::default(),
            binding_key,
            service_assertions: AssertionCache::default(),
            branding: crate::respond::Branding {
                org_name: config.organization.name.clone(),
                logo: config.organization.design.logo_data_uri.clone(),
                background: config.organization.design.background_color.clone(),
                text: config.organization.design.text_color.clone(),
                header: config.organization.design.header_text.clone(),
                footer: config.organization.design.footer_text.clone(),
            },
            organization: config.organization,
            node_id: hex::encode(random_bytes::<8>()?),
            admin_token_digest,
            admin_policies: config.admin_policies,
            http,
            edit_lock: tokio::sync::Mutex::new(()),
            reload_lock: tokio::sync::Mutex::new(()),
            object_problems: std::sync::Mutex::new(object_problems),
            rotation_interval: std::sync::atomic::AtomicU64::new(rotation_interval.as_secs()),
            policy_tests: std::sync::Mutex::default(),
        }))
    }

    /// Starts the tasks that keep the state current. Call once, inside the runtime.
    pub fn spawn_background(self: &Arc<Self>) {
        let feed = self.store.subscribe();
        tokio::spawn(follow_changes(Arc::downgrade(self), feed));
        tokio::spawn(poll_generation(Arc::downgrade(self)));
        tokio::spawn(housekeeping(Arc::downgrade(self)));
    }

    /// Rotates the signing key now.
    pub async fn rotate_keys(&self) -> Result<(), keys::KeyError> {
        let ring = keys::rotate(
            self.store.as_ref(),
            &self.sealer,
            self.server.signing_alg,
            &self.server.team_domain,
            self.clock.now(),
        )
        .await?;
        self.keys.store(Arc::new(ring));
        self.token_cache.clear();
        self.service_assertions.clear();
        Ok(())
    }

    /// Revokes a user (every session, re-login blocked for a minute) and applies it to this
    /// node before returning, so the very next request is refused.
    pub async fn revoke_user(&self, who: &str) -> Result<u64, crate::registry::RegistryError> {
        let (_, ended) =
            crate::registry::revoke_user(self.store.as_ref(), who, self.clock.now()).await?;
        self.resync().await;
        Ok(ended)
    }

    /// Removes a user (seat freed, sessions ended), applied to this node before returning.
    pub async fn remove_user(&self, who: &str) -> Result<u64, crate::registry::RegistryError> {
        let (_, ended) =
            crate::registry::remove_user(self.store.as_ref(), who, self.clock.now()).await?;
        self.resync().await;
        Ok(ended)
    }

    /// Ends one session, applied to this node before returning.
    pub async fn revoke_session(&self, id: &str) -> Result<(), crate::registry::RegistryError> {
        crate::registry::revoke_session(self.store.as_ref(), id, self.clock.now()).await?;
        self.resync().await;
        Ok(())
    }

    /// Refuses every token of the application issued until now, applied to this node before
    /// returning.
    pub async fn revoke_app_tokens(&self, app: &str) -> Result<(), crate::registry::RegistryError> {
        let now = self.clock.now();
        let id = crate::registry::revoke_app_tokens(self.store.as_ref(), app, now).await?;
        self.revoked.revoke_app(id, now);
        self.service_assertions.clear();
        Ok(())
    }

    /// The team domain URL of a path.
    pub fn team_url(&self, path: &str) -> String {
        format!("{}{path}", self.server.team_url)
    }

    /// How often the signing key rotates now.
    pub fn rotation_interval(&self) -> Duration {
        Duration::from_secs(self.rotation_interval.load(Ordering::Relaxed))
    }

    /// Sets the key rotation interval for every node (`PUT keys`); refused when the
    /// configuration file sets it.
    pub async fn set_rotation_interval(
        &self,
        interval: Duration,
    ) -> Result<(), portcullis_store::StoreError> {
        self.store
            .put_setting(ROTATION_INTERVAL_SETTING, &interval.as_secs().to_string())
            .await?;
        self.rotation_interval
            .store(interval.as_secs(), Ordering::Relaxed);
        Ok(())
    }

    /// Reads the rotation interval another node may have set.
    async fn reload_rotation_interval(&self) {
        match stored_rotation_interval(self.store.as_ref(), &self.server).await {
            Ok(Some(interval)) => self
                .rotation_interval
                .store(interval.as_secs(), Ordering::Relaxed),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "cannot read the key rotation interval"),
        }
    }

    /// Builds the snapshot again from the stored configuration objects and puts it in force.
    /// Objects that cannot be put in force are logged when they first fail.
    pub async fn reload_objects(&self) {
        let _one_at_a_time = self.reload_lock.lock().await;
        let records = match crate::objects::fetch(self.store.as_ref()).await {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(%error, "cannot read the configuration objects; keeping the current ones");
                return;
            }
        };
        let current = self.snapshot.load_full();
        let built = crate::objects::build(
            &records,
            &crate::objects::BuildContext {
                server: &self.server,
                sealer: &self.sealer,
                http: &self.http,
            },
            Some(&current),
        );
        if let Ok(mut known) = self.object_problems.lock() {
            for problem in built.problems.iter().filter(|p| !known.contains(p)) {
                tracing::error!(%problem, "configuration object left out: it is not in force");
            }
            *known = built.problems;
        }
        self.snapshot.store(Arc::new(built.snapshot));
    }
}

/// Where the admin API keeps the key rotation interval (seconds).
const ROTATION_INTERVAL_SETTING: &str = "keys.rotation_interval_secs";

/// The rotation interval set through the admin API, unless the configuration sets its own.
async fn stored_rotation_interval(
    store: &dyn Store,
    server: &ServerConfig,
) -> Result<Option<Duration>, portcullis_store::StoreError> {
    if server.key_rotation_interval_declared {
        return Ok(None);
    }
    Ok(store
        .get_setting(ROTATION_INTERVAL_SETTING)
        .await?
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|secs| *secs >= 3600)
        .map(Duration::from_secs))
}

/// The key of the binding cookie, shared by every node through the store (sealed).
async fn binding_key(
    store: &dyn Store,
    sealer: &Sealer,
) -> Result<aws_lc_rs::hmac::Key, StartError> {
    const SETTING: &str = "binding_cookie_key";
    const PURPOSE: &str = "binding-cookie-key";
    let bytes = match store.get_setting(SETTING).await? {
        Some(sealed) => sealer.open(PURPOSE, &sealed)?,
        None => {
            let fresh = random_bytes::<32>()?;
            store
                .put_setting(SETTING, &sealer.seal(PURPOSE, &fresh)?)
                .await?;
            // Two nodes starting at once may both write; read back whichever won.
            match store.get_setting(SETTING).await? {
                Some(sealed) => sealer.open(PURPOSE, &sealed)?,
                None => fresh.to_vec(),
            }
        }
    };
    Ok(aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        &bytes,
    ))
}

async fn follow_changes(
    gateway: std::sync::Weak<Gateway>,
    mut feed: tokio::sync::broadcast::Receiver<Change>,
) {
    loop {
        let change = feed.recv().await;
        let Some(gw) = gateway.upgrade() else { return };
        match change {
            Ok(Change::SessionRevoked { id, expires_at }) => {
                gw.identities.remove(&id);
                gw.revoked.insert(id, expires_at);
            }
            Ok(Change::AppTokensRevoked { app_id, at }) => gw.revoked.revoke_app(app_id, at),
            Ok(Change::ServiceTokensChanged) => gw.reload_service_tokens().await,
            Ok(Change::SigningKeysChanged) => gw.reload_keys().await,
            Ok(Change::ConfigChanged) => {
                gw.reload_objects().await;
                gw.reload_rotation_interval().await;
            }
            Ok(Change::Resync) => gw.resync().await,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "change feed lagged; reloading from the store");
                gw.resync().await;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// How often the store's generation counter is read, so that changes written by another process
/// (the CLI, another node without a shared feed) reach this one.
const GENERATION_POLL: Duration = Duration::from_secs(1);

async fn poll_generation(gateway: std::sync::Weak<Gateway>) {
    let mut seen = None;
    let mut failing = false;
    let mut tick = tokio::time::interval(GENERATION_POLL);
    loop {
        tick.tick().await;
        let Some(gw) = gateway.upgrade() else { return };
        match gw.store.generation().await {
            Ok(now) => {
                // Back after an outage: whatever happened meanwhile is reloaded in full.
                let moved = seen.is_some_and(|s| s != now) || failing;
                if failing {
                    tracing::info!("database reachable again");
                    failing = false;
                }
                seen = Some(now);
                if moved {
                    gw.resync().await;
                }
            }
            Err(error) => {
                // Said once per outage, not once a second.
                if !failing {
                    tracing::warn!(%error, "database unreachable; serving valid tokens from memory");
                    failing = true;
                }
            }
        }
    }
}

impl Gateway {
    /// Reloads everything the change feed keeps current: revoked sessions, application-wide
    /// revocations, service tokens. Called when events may have been missed.
    pub async fn resync(&self) {
        let now = self.clock.now();
        match self.store.list_revoked_sessions(now).await {
            Ok(list) => list.into_iter().for_each(|r| {
                self.identities.remove(&r.id);
                self.revoked.insert(r.id, r.expires_at)
            }),
            Err(error) => tracing::error!(%error, "cannot reload revoked sessions"),
        }
        match self.store.list_app_revocations().await {
            Ok(list) => list
                .into_iter()
                .for_each(|r| self.revoked.revoke_app(r.app_id, r.at)),
            Err(error) => tracing::error!(%error, "cannot reload application revocations"),
        }
        self.reload_service_tokens().await;
        self.reload_keys().await;
        self.reload_objects().await;
        self.reload_rotation_interval().await;
    }

    /// Loads the key ring as the store holds it (another node rotated). Cached token
    /// verifications are dropped when a key left the ring, so its tokens stop at once.
    async fn reload_keys(&self) {
        match keys::reload(self.store.as_ref(), &self.sealer, &self.server.team_domain).await {
            Ok(ring) => {
                let old = self.keys.load();
                let kept_all = old
                    .verify_set()
                    .kids()
                    .all(|kid| ring.verify_set().contains_kid(kid));
                let changed = old.current().kid() != ring.current().kid() || !kept_all;
                self.keys.store(Arc::new(ring));
                if changed {
                    if !kept_all {
                        self.token_cache.clear();
                    }
                    self.service_assertions.clear();
                }
            }
            Err(error) => tracing::error!(%error, "cannot reload the signing keys"),
        }
    }

    pub(crate) async fn reload_service_tokens(&self) {
        match self.store.list_service_tokens().await {
            Ok(list) => self.service_tokens.replace(list),
            Err(error) => tracing::error!(%error, "cannot reload service tokens"),
        }
    }

    /// The cluster-wide jobs, run by the node holding the housekeeping lease: key rotation when
    /// due, pruning expired sessions, seat expiry (daily), and log retention.
    pub async fn run_scheduled_jobs(&self, now: i64) {
        if self.keys.load().rotation_due(now, self.rotation_interval()) {
            match self.rotate_keys().await {
                Ok(()) => {
                    tracing::info!(
                        kid = self.keys.load().current().kid(),
                        "signing key rotated"
                    )
                }
                Err(error) => tracing::error!(%error, "signing key rotation failed; will retry"),
            }
        }
        if let Err(error) = self.store.delete_expired_sessions(now).await {
            tracing::warn!(%error, "cannot delete expired sessions");
        }
        self.expire_seats_if_due().await;
        if let Some(retention) = self.server.log_retention {
            let before = now - retention.as_secs() as i64;
            match self.store.delete_auth_logs_before(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deleted = n,
                    "authentication log records past retention removed"
                ),
                Err(error) => tracing::warn!(%error, "cannot prune the authentication log"),
            }
            match self
                .store
                .delete_scim_logs_before(before.saturating_mul(1000))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "SCIM log records past retention removed"),
                Err(error) => tracing::warn!(%error, "cannot prune the SCIM provisioning log"),
            }
        }
    }

    /// Frees the seats of users inactive for longer than the organization allows, and ends their
    /// sessions. Runs at most once a day across restarts (the last run is kept in the store).
    pub async fn expire_seats_if_due(&self) {
        let Some(inactive) = self.organization.seat_expiry else {
            return;
        };
        const LAST_RUN: &str = "seat_expiry_last_run";
        let now = self.clock.now();
        let last = match self.store.get_setting(LAST_RUN).await {
            Ok(v) => v.and_then(|t| t.parse::<i64>().ok()).unwrap_or(0),
            Err(error) => {
                tracing::warn!(%error, "cannot read the last seat expiry run");
                return;
            }
        };
        if now - last < 24 * 3600 {
            return;
        }
        if let Err(error) = self.store.put_setting(LAST_RUN, &now.to_string()).await {
            tracing::warn!(%error, "cannot record the seat expiry run");
            return;
        }
        match self
            .store
            .expire_seats(now - inactive.as_secs() as i64, now)
            .await
        {
            Ok(users) => {
                for user in &users {
                    if let Err(error) = self.store.revoke_user_sessions(*user, now).await {
                        tracing::warn!(%error, %user, "cannot end the sessions of an expired seat");
                    }
                }
                if !users.is_empty() {
                    tracing::info!(count = users.len(), "seats of inactive users freed");
                }
            }
            Err(error) => tracing::warn!(%error, "seat expiry failed"),
        }
    }
}

/// The lease that makes one node of a cluster run the scheduled jobs; held a little longer than
/// the housekeeping period so that its holder renews it before it lapses.
const HOUSEKEEPING_LEASE: &str = "housekeeping";
const HOUSEKEEPING_PERIOD: Duration = Duration::from_secs(60);
const HOUSEKEEPING_LEASE_SECS: i64 = 90;

async fn housekeeping(gateway: std::sync::Weak<Gateway>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_PERIOD);
    loop {
        tick.tick().await;
        let Some(gw) = gateway.upgrade() else { return };
        let now = gw.clock.now();
        // Local memory, every node.
        gw.revoked.prune(now);
        // Shared state, one node at a time: two nodes rotating at once would each publish a key
        // the other has not seen yet.
        match gw
            .store
            .try_lease(
                HOUSEKEEPING_LEASE,
                &gw.node_id,
                now,
                now + HOUSEKEEPING_LEASE_SECS,
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(error) => {
                tracing::debug!(%error, "cannot take the housekeeping lease; skipping this round");
                continue;
            }
        }
        gw.run_scheduled_jobs(now).await;
    }
}
