//! The demo OpenID Connect identity provider: discovery, JWKS, the authorization-code flow with
//! PKCE (S256), `client_secret_basic` / `client_secret_post`, signed ID tokens and userinfo.
//!
//! NOT FOR PRODUCTION. It keeps everything in memory, shows the demo users' passwords on its login
//! form and has one client. It exists so that `portcullis demo` works without an account anywhere
//! and so that the integration tests meet a real OIDC provider they can make misbehave (see
//! [`IdTokenHook`] and [`IdpOptions::signing_key_override`]).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis_jose::{Algorithm, JwkSet, SigningKey};
use serde_json::{Map, Value, json};
use url::Url;

use crate::DemoError;
use crate::html::{Banner, escape, page, page_response};

/// Changes an ID token's JOSE header and claims just before it is signed.
///
/// Tests set it to produce tokens the gateway must refuse (expired, wrong `aud`, wrong `nonce`,
/// no `email`, extra header members...). Called once per token, with the header
/// (`alg`, `kid`, `typ`) and the complete claims.
pub type IdTokenHook = Arc<dyn Fn(&mut Map<String, Value>, &mut Map<String, Value>) + Send + Sync>;

/// How long an authorization code can be redeemed.
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long an ID token is valid (`exp - iat`).
pub const ID_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// How long an access token works at `/userinfo`.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How long the login form of one authorization request stays usable.
const LOGIN_FORM_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Each in-memory table (pending logins, codes, access tokens) holds at most this many entries;
/// beyond it the entry closest to expiry is dropped, so a flood cannot exhaust memory.
const MAX_ENTRIES: usize = 10_000;

/// The client id `portcullis demo` registers with the demo identity provider.
pub const DEMO_CLIENT_ID: &str = "portcullis-demo";
/// The client secret `portcullis demo` uses with the demo identity provider (it is a demo).
pub const DEMO_CLIENT_SECRET: &str = "portcullis-demo-secret";

/// A user who can log in at the demo identity provider.
#[derive(Clone, Debug)]
pub struct DemoUser {
    /// What the user types in the login form; also the `sub` unless `claims` has a string `sub`.
    pub username: String,
    /// The password, shown on the login form as a hint.
    pub password: String,
    /// Claims put into the ID token and returned by `/userinfo` (`email`, `name`, `groups`...).
    pub claims: Map<String, Value>,
}

impl DemoUser {
    fn subject(&self) -> String {
        match self.claims.get("sub") {
            Some(Value::String(sub)) => sub.clone(),
            _ => self.username.clone(),
        }
    }

    fn email(&self) -> Option<&str> {
        self.claims.get("email").and_then(Value::as_str)
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The two demo users: `alice` (password `alice`, staff and admin, employee `E1001`) and `bob`
/// (password `bob`, a contractor).
///
/// Used as the default user list of the demo identity provider; tests assert on their claims.
pub fn demo_users() -> Vec<DemoUser> {
    vec![
        DemoUser {
            username: "alice".into(),
            password: "alice".into(),
            claims: object(json!({
                "email": "alice@example.com",
                "email_verified": true,
                "name": "Alice Example",
                "given_name": "Alice",
                "family_name": "Example",
                "preferred_username": "alice",
                "groups": ["staff", "admins"],
                "employee_id": "E1001",
                "roles": ["admin", "dev"],
            })),
        },
        DemoUser {
            username: "bob".into(),
            password: "bob".into(),
            claims: object(json!({
                "email": "bob@example.org",
                "email_verified": true,
                "name": "Bob Sample",
                "given_name": "Bob",
                "family_name": "Sample",
                "preferred_username": "bob",
                "groups": ["contractors"],
                "employee_id": "C2002",
                "roles": ["viewer"],
            })),
        },
    ]
}

/// Everything that shapes a demo identity provider. [`IdpOptions::demo`] fills in defaults.
#[derive(Clone)]
pub struct IdpOptions {
    /// The issuer URL, e.g. `http://127.0.0.1:9000`; endpoints live below it.
    pub issuer: String,
    /// The algorithm of the key the provider generates and publishes.
    pub alg: Algorithm,
    /// The one registered client.
    pub client_id: String,
    /// That client's secret.
    pub client_secret: String,
    /// Redirect URIs the client may use, compared as exact strings.
    pub redirect_uris: Vec<String>,
    /// Who can log in.
    pub users: Vec<DemoUser>,
    /// When set, `/authorize` logs this user in without a form and redirects straight back.
    pub auto_login: Option<String>,
    /// Applied to every ID token's header and claims before signing.
    pub id_token_hook: Option<IdTokenHook>,
    /// Signs ID tokens with this key instead of the published one (the JWKS does not list it).
    pub signing_key_override: Option<Arc<SigningKey>>,
}

impl IdpOptions {
    /// Options for the demo users, the [`DEMO_CLIENT_ID`] client and RS256, with no redirect URI
    /// yet: callers push the gateway's callback URL into `redirect_uris`.
    pub fn demo(issuer: impl Into<String>) -> IdpOptions {
        IdpOptions {
            issuer: issuer.into(),
            alg: Algorithm::Rs256,
            client_id: DEMO_CLIENT_ID.into(),
            client_secret: DEMO_CLIENT_SECRET.into(),
            redirect_uris: Vec::new(),
            users: demo_users(),
            auto_login: None,
            id_token_hook: None,
            signing_key_override: None,
        }
    }
}

impl fmt::Debug for IdpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdpOptions")
            .field("issuer", &self.issuer)
            .field("alg", &self.alg)
            .field("client_id", &self.client_id)
            .field("redirect_uris", &self.redirect_uris)
            .field("users", &self.users.len())
            .field("auto_login", &self.auto_login)
            .field("id_token_hook", &self.id_token_hook.is_some())
            .field("signing_key_override", &self.signing_key_override.is_some())
            .finish_non_exhaustive()
    }
}

/// A running demo identity provider's state. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct DemoIdp {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    /// The issuer's path without a trailing slash ("" at the root): the router is mounted there.
    prefix: String,
    client_id: String,
    client_secret: String,
    redirect_uris: Vec<String>,
    users: Vec<DemoUser>,
    key: Arc<SigningKey>,
    jwks: JwkSet,
    behaviour: RwLock<Behaviour>,
    tables: Mutex<Tables>,
    /// Seconds added to the system clock, so tests can let codes and tokens expire.
    clock_offset: AtomicU64,
}

/// What tests may change while the provider runs.
struct Behaviour {
    auto_login: Option<String>,
    hook: Option<IdTokenHook>,
    key_override: Option<Arc<SigningKey>>,
}

#[derive(Default)]
struct Tables {
    pending: HashMap<String, PendingLogin>,
    codes: HashMap<String, CodeGrant>,
    tokens: HashMap<String, AccessGrant>,
}

/// A validated authorization request: what a code is bound to.
#[derive(Clone, Debug)]
struct AuthRequest {
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    scope: String,
    login_hint: Option<String>,
}

struct PendingLogin {
    request: AuthRequest,
    expires_at: u64,
}

struct CodeGrant {
    request: AuthRequest,
    username: String,
    auth_time: u64,
    expires_at: u64,
    /// Set at the first redemption attempt; a second attempt revokes the token named here.
    redeemed: Option<Option<String>>,
}

struct AccessGrant {
    username: String,
    expires_at: u64,
}

trait Expiring {
    fn expires_at(&self) -> u64;
}
impl Expiring for PendingLogin {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
}
impl Expiring for CodeGrant {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
}
impl Expiring for AccessGrant {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
}

/// Inserts into a bounded table: expired entries go first, then, if still full, the one
/// closest to expiry.
fn insert_bounded<T: Expiring>(table: &mut HashMap<String, T>, now: u64, key: String, value: T) {
    table.retain(|_, v| v.expires_at() > now);
    if table.len() >= MAX_ENTRIES {
        let oldest = table
            .iter()
            .min_by_key(|(_, v)| v.expires_at())
            .map(|(k, _)| k.clone());
        if let Some(oldest) = oldest {
            table.remove(&oldest);
        }
    }
    table.insert(key, value);
}

fn validate_url(field: &'static str, value: &str) -> Result<Url, DemoError> {
    let invalid = |reason: &str| DemoError::InvalidOption {
        field,
        reason: format!("{value:?} {reason}"),
    };
    let url = Url::parse(value).map_err(|e| invalid(&format!("is not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must use http or https"));
    }
    if url.fragment().is_some() {
        return Err(invalid("must not have a #fragment"));
    }
    Ok(url)
}

impl DemoIdp {
    /// Checks the options, generates the signing key and returns the provider.
    ///
    /// Called once at start-up of `portcullis demo` or a test. Fails when the issuer or a
    /// redirect URI is not an http(s) URL, the client id or secret is empty, no redirect URI is
    /// registered, usernames repeat, `auto_login` names no user, or key generation fails.
    pub fn new(opts: IdpOptions) -> Result<DemoIdp, DemoError> {
        let issuer_url = validate_url("issuer", &opts.issuer)?;
        if issuer_url.query().is_some() {
            return Err(DemoError::InvalidOption {
                field: "issuer",
                reason: format!("{:?} must not have a query", opts.issuer),
            });
        }
        let issuer = opts.issuer.trim_end_matches('/').to_owned();
        let prefix = issuer_url.path().trim_end_matches('/').to_owned();
        if opts.client_id.is_empty() {
            return Err(DemoError::InvalidOption {
                field: "client_id",
                reason: "must not be empty".into(),
            });
        }
        if opts.client_secret.is_empty() {
            return Err(DemoError::InvalidOption {
                field: "client_secret",
                reason: "must not be empty".into(),
            });
        }
        if opts.redirect_uris.is_empty() {
            return Err(DemoError::InvalidOption {
                field: "redirect_uris",
                reason: "needs at least one URI (the gateway's callback URL)".into(),
            });
        }
        for uri in &opts.redirect_uris {
            validate_url("redirect_uris", uri)?;
        }
        let mut names = BTreeSet::new();
        for user in &opts.users {
            if user.username.is_empty() || !names.insert(user.username.as_str()) {
                return Err(DemoError::InvalidOption {
                    field: "users",
                    reason: format!("username {:?} is empty or repeated", user.username),
                });
            }
        }
        if let Some(name) = &opts.auto_login
            && !names.contains(name.as_str())
        {
            return Err(DemoError::InvalidOption {
                field: "auto_login",
                reason: format!("{name:?} is not one of the users"),
            });
        }
        let key = Arc::new(SigningKey::generate(opts.alg)?);
        let jwks = JwkSet {
            keys: vec![key.public_jwk()],
        };
        Ok(DemoIdp {
            inner: Arc::new(Inner {
                issuer,
                prefix,
                client_id: opts.client_id,
                client_secret: opts.client_secret,
                redirect_uris: opts.redirect_uris,
                users: opts.users,
                key,
                jwks,
                behaviour: RwLock::new(Behaviour {
                    auto_login: opts.auto_login,
                    hook: opts.id_token_hook,
                    key_override: opts.signing_key_override,
                }),
                tables: Mutex::new(Tables::default()),
                clock_offset: AtomicU64::new(0),
            }),
        })
    }

    /// The provider's routes, mounted under the issuer's path. Serve them with
    /// [`crate::serve`] on the issuer's host and port.
    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize_get).post(authorize_post))
            .route("/login", axum::routing::post(login))
            .route("/token", axum::routing::post(token))
            .route("/userinfo", get(userinfo).post(userinfo))
            .with_state(self.clone());
        if self.inner.prefix.is_empty() {
            routes
        } else {
            Router::new().nest(&self.inner.prefix, routes)
        }
    }

    /// The JWKS served at `/jwks`: the generated key's public half (never the override key).
    pub fn public_jwks(&self) -> JwkSet {
        self.inner.jwks.clone()
    }

    /// The published signing key, for tests that sign tokens of their own with it.
    pub fn signing_key(&self) -> Arc<SigningKey> {
        self.inner.key.clone()
    }

    /// The issuer exactly as it appears in discovery and in `iss`.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The discovery URL (`<issuer>/.well-known/openid-configuration`).
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.inner.issuer)
    }

    /// The registered client id.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The registered client secret.
    pub fn client_secret(&self) -> &str {
        &self.inner.client_secret
    }

    /// Switches automatic login to another user (or back to the form with `None`) for the
    /// authorization requests that follow. Fails when the name is not a user.
    pub fn set_auto_login(&self, username: Option<&str>) -> Result<(), DemoError> {
        if let Some(name) = username
            && self.user(name).is_none()
        {
            return Err(DemoError::InvalidOption {
                field: "auto_login",
                reason: format!("{name:?} is not one of the users"),
            });
        }
        self.behaviour_mut().auto_login = username.map(str::to_owned);
        Ok(())
    }

    /// Replaces the ID-token hook for the tokens issued from now on.
    pub fn set_id_token_hook(&self, hook: Option<IdTokenHook>) {
        self.behaviour_mut().hook = hook;
    }

    /// Replaces the signing-key override for the tokens issued from now on.
    pub fn set_signing_key_override(&self, key: Option<Arc<SigningKey>>) {
        self.behaviour_mut().key_override = key;
    }

    /// Moves the provider's clock forward (codes, tokens and `iat`/`exp` follow), so tests can
    /// let a code expire without waiting.
    pub fn advance_clock(&self, by: Duration) {
        self.inner
            .clock_offset
            .fetch_add(by.as_secs(), Ordering::Relaxed);
    }

    fn now(&self) -> u64 {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        system.saturating_add(self.inner.clock_offset.load(Ordering::Relaxed))
    }

    fn user(&self, username: &str) -> Option<&DemoUser> {
        self.inner.users.iter().find(|u| u.username == username)
    }

    fn behaviour(&self) -> std::sync::RwLockReadGuard<'_, Behaviour> {
        // A panic elsewhere cannot leave these plain values half-written; keep serving.
        self.inner
            .behaviour
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn behaviour_mut(&self) -> std::sync::RwLockWriteGuard<'_, Behaviour> {
        self.inner
            .behaviour
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.inner
            .tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.inner.issuer)
    }

    /// Stores a fresh one-time code for `username` and returns it.
    fn issue_code(&self, request: AuthRequest, username: &str) -> Option<String> {
        let code = random_token()?;
        let now = self.now();
        let grant = CodeGrant {
            request,
            username: username.to_owned(),
            auth_time: now,
            expires_at: now + CODE_LIFETIME.as_secs(),
            redeemed: None,
        };
        insert_bounded(&mut self.tables().codes, now, code.clone(), grant);
        Some(code)
    }

    /// The redirect that ends a successful authorization: back to the client with the code.
    fn code_redirect(&self, request: AuthRequest, username: &str, status: StatusCode) -> Response {
        let redirect_uri = request.redirect_uri.clone();
        let state = request.state.clone();
        let Some(code) = self.issue_code(request, username) else {
            return self.redirect_error(
                &redirect_uri,
                state.as_deref(),
                "server_error",
                "could not create a code",
            );
        };
        let mut params = vec![("code", code.as_str())];
        if let Some(state) = state.as_deref() {
            params.push(("state", state));
        }
        params.push(("iss", &self.inner.issuer));
        redirect_to(&redirect_uri, &params, status)
    }

    /// An RFC 6749 §4.1.2.1 error response, once the redirect URI is known to be registered.
    fn redirect_error(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        error: &str,
        description: &str,
    ) -> Response {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(state) = state {
            params.push(("state", state));
        }
        params.push(("iss", &self.inner.issuer));
        redirect_to(redirect_uri, &params, StatusCode::FOUND)
    }

    /// Builds and signs the ID token for a redeemed code.
    fn id_token(&self, grant: &CodeGrant, user: &DemoUser) -> Result<String, DemoError> {
        let now = self.now();
        let mut claims = user.claims.clone();
        let protocol = [
            ("iss", json!(self.inner.issuer)),
            ("sub", json!(user.subject())),
            ("aud", json!(self.inner.client_id)),
            ("azp", json!(self.inner.client_id)),
            ("iat", json!(now)),
            ("exp", json!(now + ID_TOKEN_LIFETIME.as_secs())),
            ("auth_time", json!(grant.auth_time)),
            ("amr", json!(["pwd"])),
        ];
        for (name, value) in protocol {
            claims.insert(name.to_owned(), value);
        }
        if let Some(nonce) = &grant.request.nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        let (hook, key) = {
            let behaviour = self.behaviour();
            (
                behaviour.hook.clone(),
                behaviour
                    .key_override
                    .clone()
                    .unwrap_or_else(|| self.inner.key.clone()),
            )
        };
        let mut header = Map::new();
        header.insert("alg".into(), json!(key.alg().as_str()));
        header.insert("kid".into(), json!(key.kid()));
        header.insert("typ".into(), json!("JWT"));
        if let Some(hook) = hook {
            hook(&mut header, &mut claims);
        }
        Ok(key.sign_with_header(&header, &Value::Object(claims))?)
    }
}

impl fmt::Debug for DemoIdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoIdp")
            .field("issuer", &self.inner.issuer)
            .field("alg", &self.inner.key.alg())
            .field("kid", &self.inner.key.kid())
            .finish_non_exhaustive()
    }
}

/// 32 random bytes, base64url: codes, access tokens and login transaction ids.
fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

fn redirect_to(redirect_uri: &str, params: &[(&str, &str)], status: StatusCode) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        // Registered URIs were parsed at start-up, so this does not happen.
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Bad redirect URI", "");
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Bad redirect URI", "");
    };
    let mut response = status.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = format!(
        "<p class=\"error\" role=\"alert\">{}</p><p class=\"muted\">Go back to the application \
         and start the sign-in again. If this keeps happening, the application's OIDC settings \
         do not match this demo identity provider.</p>",
        escape(detail)
    );
    page_response(status, page(Banner::Idp, title, &body))
}

/// Request parameters by name. RFC 6749 §3.1: empty values count as absent and a parameter must
/// not be repeated; the error names the repeated one.
fn parse_params(raw: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(raw) {
        if value.is_empty() {
            continue;
        }
        if out.contains_key(name.as_ref()) {
            return Err(name.into_owned());
        }
        out.insert(name.into_owned(), value.into_owned());
    }
    Ok(out)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// RFC 7636 §4.1: 43–128 characters from the unreserved set.
fn is_pkce_string(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

fn same_secret(a: &str, b: &str) -> bool {
    verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

async fn discovery(State(idp): State<DemoIdp>) -> Response {
    let mut claims: BTreeSet<String> = [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "amr",
        "azp",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for user in &idp.inner.users {
        claims.extend(user.claims.keys().cloned());
    }
    let document = json!({
        "issuer": idp.inner.issuer,
        "authorization_endpoint": idp.endpoint("/authorize"),
        "token_endpoint": idp.endpoint("/token"),
        "jwks_uri": idp.endpoint("/jwks"),
        "userinfo_endpoint": idp.endpoint("/userinfo"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [idp.inner.key.alg().as_str()],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile", "groups"],
        "claims_supported": claims,
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    axum::Json(document).into_response()
}

async fn jwks(State(idp): State<DemoIdp>) -> Response {
    axum::Json(idp.public_jwks()).into_response()
}

async fn authorize_get(State(idp): State<DemoIdp>, RawQuery(query): RawQuery) -> Response {
    authorize(&idp, query.unwrap_or_default().as_bytes())
}

async fn authorize_post(State(idp): State<DemoIdp>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_form(&headers) {
        return error_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Sign-in request refused",
            "A POST to the authorization endpoint must be a form (application/x-www-form-urlencoded).",
        );
    }
    authorize(&idp, &body)
}

/// The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2).
fn authorize(idp: &DemoIdp, raw: &[u8]) -> Response {
    let refused =
        |detail: &str| error_page(StatusCode::BAD_REQUEST, "Sign-in request refused", detail);
    let params = match parse_params(raw) {
        Ok(params) => params,
        Err(name) => return refused(&format!("The parameter {name} was sent more than once.")),
    };
    let param = |name: &str| params.get(name).map(String::as_str);

    // Until the client and its redirect URI are known good, errors must not be redirected:
    // that would make this provider an open redirector.
    match param("client_id") {
        None => return refused("The request has no client_id."),
        Some(id) if id != idp.inner.client_id => {
            return refused(&format!("The client {id:?} is not registered here."));
        }
        Some(_) => {}
    }
    let redirect_uri = match param("redirect_uri") {
        None => return refused("The request has no redirect_uri."),
        Some(uri) if !idp.inner.redirect_uris.iter().any(|r| r == uri) => {
            return refused(&format!(
                "The redirect_uri {uri:?} is not registered for this client."
            ));
        }
        Some(uri) => uri.to_owned(),
    };
    let state = param("state");
    let fail = |error: &str, description: &str| {
        idp.redirect_error(&redirect_uri, state, error, description)
    };

    match param("response_type") {
        None => return fail("invalid_request", "response_type is missing"),
        Some("code") => {}
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
    }
    let scope = param("scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return fail("invalid_scope", "the scope must include openid");
    }
    let code_challenge = match (param("code_challenge"), param("code_challenge_method")) {
        (None, None) => None,
        (None, Some(_)) => {
            return fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            );
        }
        (Some(_), None | Some("plain")) => {
            return fail(
                "invalid_request",
                "PKCE method plain is not supported; use code_challenge_method=S256",
            );
        }
        (Some(_), Some(method)) if method != "S256" => {
            return fail("invalid_request", "unknown code_challenge_method; use S256");
        }
        (Some(challenge), Some(_)) => {
            // An S256 challenge is always the base64url of 32 bytes.
            if challenge.len() != 43 || !is_pkce_string(challenge) {
                return fail("invalid_request", "code_challenge is not an S256 challenge");
            }
            Some(challenge.to_owned())
        }
    };
    if param("request").is_some() {
        return fail("request_not_supported", "request objects are not supported");
    }
    if param("request_uri").is_some() {
        return fail("request_uri_not_supported", "request_uri is not supported");
    }

    let request = AuthRequest {
        redirect_uri: redirect_uri.clone(),
        state: state.map(str::to_owned),
        nonce: param("nonce").map(str::to_owned),
        code_challenge,
        scope: scope.to_owned(),
        login_hint: param("login_hint").map(str::to_owned),
    };

    let auto_login = idp.behaviour().auto_login.clone();
    if let Some(username) = auto_login {
        tracing::debug!(user = %username, "demo IdP logs the auto-login user in");
        return idp.code_redirect(request, &username, StatusCode::FOUND);
    }
    let prompts: Vec<&str> = param("prompt").unwrap_or_default().split(' ').collect();
    if prompts.contains(&"none") {
        return fail("login_required", "the user must log in");
    }
    let Some(txn) = random_token() else {
        return fail("server_error", "could not start a login");
    };
    let now = idp.now();
    let pending = PendingLogin {
        request: request.clone(),
        expires_at: now + LOGIN_FORM_LIFETIME.as_secs(),
    };
    insert_bounded(&mut idp.tables().pending, now, txn.clone(), pending);
    login_form(idp, &txn, &request, None, StatusCode::OK)
}

/// The login page: a form for one authorization request, with the demo users listed.
fn login_form(
    idp: &DemoIdp,
    txn: &str,
    request: &AuthRequest,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let mut body = String::new();
    let target = Url::parse(&request.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    body.push_str(&format!(
        "<p>The application <strong>{}</strong> at <strong>{}</strong> asks you to sign in.</p>",
        escape(&idp.inner.client_id),
        escape(&target),
    ));
    if let Some(error) = error {
        body.push_str(&format!(
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(error)
        ));
    }
    let username = request
        .login_hint
        .as_deref()
        .filter(|hint| idp.user(hint).is_some())
        .unwrap_or_default();
    body.push_str(&format!(
        "<form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"txn\" value=\"{txn}\">\
         <label for=\"username\">Username</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required \
         autocapitalize=\"none\" spellcheck=\"false\" value=\"{username}\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>",
        action = escape(&format!("{}/login", idp.inner.prefix)),
        txn = escape(txn),
        username = escape(username),
    ));
    body.push_str(
        "<h2 id=\"demo-users\">Demo users</h2><p class=\"muted\">This is a demo, so the \
         passwords are right here.</p><ul class=\"users\" aria-labelledby=\"demo-users\">",
    );
    for user in &idp.inner.users {
        body.push_str(&format!(
            "<li><strong>{}</strong> — password <code>{}</code>{}</li>",
            escape(&user.username),
            escape(&user.password),
            user.email()
                .map(|email| format!(" — {}", escape(email)))
                .unwrap_or_default(),
        ));
    }
    body.push_str("</ul>");
    page_response(
        status,
        page(Banner::Idp, "Sign in to the demo identity provider", &body),
    )
}

/// The login form's target: checks the password and, when right, ends the authorization.
async fn login(State(idp): State<DemoIdp>, headers: HeaderMap, body: Bytes) -> Response {
    let expired = || {
        error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in form expired or was already used.",
        )
    };
    if !is_form(&headers) {
        return expired();
    }
    let Ok(params) = parse_params(&body) else {
        return expired();
    };
    let Some(txn) = params.get("txn") else {
        return expired();
    };
    let now = idp.now();
    let request = {
        let tables = idp.tables();
        match tables.pending.get(txn) {
            Some(pending) if pending.expires_at > now => pending.request.clone(),
            _ => return expired(),
        }
    };
    let username = params
        .get("username")
        .map(String::as_str)
        .unwrap_or_default();
    let password = params
        .get("password")
        .map(String::as_str)
        .unwrap_or_default();
    let user = idp
        .user(username)
        .filter(|user| same_secret(&user.password, password));
    let Some(user) = user else {
        tracing::debug!(user = %username, "demo IdP refused a password");
        return login_form(
            &idp,
            txn,
            &request,
            Some("That username and password do not match a demo user."),
            StatusCode::UNAUTHORIZED,
        );
    };
    // The form is single use: a second submission finds no pending login.
    if idp.tables().pending.remove(txn).is_none() {
        return expired();
    }
    let username = user.username.clone();
    idp.code_redirect(request, &username, StatusCode::SEE_OTHER)
}

/// An RFC 6749 §5.2 error from the token endpoint.
fn token_error(error: &str, description: &str) -> Response {
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"demo-idp\""),
        );
    }
    response
}

/// Decodes one `application/x-www-form-urlencoded` component ('+' is a space, %XX a byte).
fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1). `Ok(None)` when the
/// header is absent or uses another scheme; `Err` when a Basic header is malformed.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| ())?;
    let decoded = String::from_utf8(decoded).map_err(|_| ())?;
    let (id, secret) = decoded.split_once(':').ok_or(())?;
    Ok(Some((
        form_decode(id).ok_or(())?,
        form_decode(secret).ok_or(())?,
    )))
}

/// The token endpoint (RFC 6749 §4.1.3, OIDC Core §3.1.3).
async fn token(State(idp): State<DemoIdp>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_form(&headers) {
        return token_error(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    let params = match parse_params(&body) {
        Ok(params) => params,
        Err(name) => return token_error("invalid_request", &format!("{name} is repeated")),
    };
    let param = |name: &str| params.get(name).map(String::as_str);

    // Client authentication: exactly one of client_secret_basic and client_secret_post.
    let Ok(basic) = basic_credentials(&headers) else {
        return token_error("invalid_client", "malformed Basic authorization");
    };
    let (client_id, client_secret) = match (basic, param("client_secret")) {
        (Some(_), Some(_)) => {
            return token_error(
                "invalid_request",
                "use one client authentication method, not two",
            );
        }
        (Some((id, secret)), None) => {
            if param("client_id").is_some_and(|body_id| body_id != id) {
                return token_error(
                    "invalid_request",
                    "client_id differs from Basic credentials",
                );
            }
            (id, secret)
        }
        (None, Some(secret)) => match param("client_id") {
            Some(id) => (id.to_owned(), secret.to_owned()),
            None => return token_error("invalid_client", "client_id is missing"),
        },
        (None, None) => return token_error("invalid_client", "client authentication is required"),
    };
    if client_id != idp.inner.client_id || !same_secret(&client_secret, &idp.inner.client_secret) {
        tracing::debug!(client_id = %client_id, "demo IdP refused client credentials");
        return token_error("invalid_client", "unknown client or wrong secret");
    }

    match param("grant_type") {
        None => return token_error("invalid_request", "grant_type is missing"),
        Some("authorization_code") => {}
        Some(_) => {
            return token_error(
                "unsupported_grant_type",
                "only authorization_code is supported",
            );
        }
    }
    let Some(code) = param("code") else {
        return token_error("invalid_request", "code is missing");
    };

    let now = idp.now();
    // Find the code and burn it in one step, so two concurrent redemptions cannot both pass.
    let grant = {
        let mut tables = idp.tables();
        let Tables { codes, tokens, .. } = &mut *tables;
        codes.retain(|_, c| c.expires_at > now);
        let Some(grant) = codes.get_mut(code) else {
            return token_error("invalid_grant", "the code is unknown or expired");
        };
        if let Some(issued) = &grant.redeemed {
            // RFC 6749 §4.1.2: a code used twice revokes what it produced.
            if let Some(access_token) = issued {
                tokens.remove(access_token);
            }
            return token_error("invalid_grant", "the code was already used");
        }
        grant.redeemed = Some(None);
        CodeGrant {
            request: grant.request.clone(),
            username: grant.username.clone(),
            auth_time: grant.auth_time,
            expires_at: grant.expires_at,
            redeemed: None,
        }
    };
    if param("redirect_uri") != Some(grant.request.redirect_uri.as_str()) {
        return token_error(
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        );
    }
    match (&grant.request.code_challenge, param("code_verifier")) {
        (None, None) => {}
        (None, Some(_)) => {
            return token_error(
                "invalid_grant",
                "code_verifier sent, but the authorization request had no code_challenge",
            );
        }
        (Some(_), None) => return token_error("invalid_grant", "code_verifier is missing"),
        (Some(challenge), Some(verifier)) => {
            if !is_pkce_string(verifier) || !same_secret(&s256(verifier), challenge) {
                return token_error("invalid_grant", "code_verifier does not match");
            }
        }
    }

    let Some(user) = idp.user(&grant.username) else {
        return token_error("invalid_grant", "the user is gone");
    };
    let id_token = match idp.id_token(&grant, user) {
        Ok(token) => token,
        Err(error) => {
            tracing::warn!(error = %error, "demo IdP could not sign an ID token");
            return token_error("server_error", "could not sign the ID token");
        }
    };
    let Some(access_token) = random_token() else {
        return token_error("server_error", "could not create an access token");
    };
    {
        let mut tables = idp.tables();
        let access = AccessGrant {
            username: grant.username.clone(),
            expires_at: now + ACCESS_TOKEN_LIFETIME.as_secs(),
        };
        insert_bounded(&mut tables.tokens, now, access_token.clone(), access);
        if let Some(stored) = tables.codes.get_mut(code) {
            stored.redeemed = Some(Some(access_token.clone()));
        }
    }
    let mut response = axum::Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME.as_secs(),
        "id_token": id_token,
        "scope": grant.request.scope,
    }))
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The userinfo endpoint (OIDC Core §5.3): the user's claims for a valid access token.
async fn userinfo(State(idp): State<DemoIdp>, headers: HeaderMap) -> Response {
    let unauthorized = |challenge: &'static str| {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "invalid_token" })),
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        response
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let Some(bearer) = bearer else {
        return unauthorized("Bearer realm=\"demo-idp\"");
    };
    let now = idp.now();
    let username = {
        let tables = idp.tables();
        match tables.tokens.get(&bearer) {
            Some(grant) if grant.expires_at > now => grant.username.clone(),
            _ => return unauthorized("Bearer realm=\"demo-idp\", error=\"invalid_token\""),
        }
    };
    let Some(user) = idp.user(&username) else {
        return unauthorized("Bearer realm=\"demo-idp\", error=\"invalid_token\"");
    };
    let mut claims = user.claims.clone();
    claims.insert("sub".into(), json!(user.subject()));
    let mut response = axum::Json(Value::Object(claims)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests;
