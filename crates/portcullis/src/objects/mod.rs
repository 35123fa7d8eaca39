//! Configuration objects (login methods, applications, reusable policies, rule groups, lists)
//! live in the store. The configuration file's are written there at start-up, marked read-only;
//! the admin API's and the web UI's are written by [`edit`]. Every node builds its snapshot from
//! what the store holds ([`build`]) and builds it again when the store reports a configuration
//! change, so an object made on one node is in force on all of them.
//!
//! Each object is kept as its declaration: JSON in the configuration file's shape (which is also
//! the admin API's), with the client secret sealed. Building a snapshot validates every
//! declaration with the same code that validates the configuration file.

pub mod edit;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use portcullis_core::{AppRouter, Catalog, Decision, IdpId, List, Policy, RuleGroup};
use portcullis_oidc::Provider;
use portcullis_store::{
    AccessObjectRecord, ApplicationRecord, LoginMethodRecord, ObjectKind, Store, StoreError,
};
use serde_json::Value;
use uuid::Uuid;

use crate::config::{
    ApplicationConfig, Declarations, IdentityProviderConfig, RawApplication, RawIdentityProvider,
    ServerConfig, validate_app, validate_idp,
};
use crate::seal::SealError;
use crate::seal::{Sealer, random_bytes};
use crate::snapshot::{App, LoginMethod, Snapshot, policy_depends_on_request};
pub use crate::snapshot::{CatalogEntry, ReusablePolicy};

/// The sealing purpose of a login method's client secret.
const CLIENT_SECRET_PURPOSE: &str = "idp-client-secret";
/// Where a stored login method keeps its sealed client secret, inside `config`.
const SEALED_SECRET_FIELD: &str = "client_secret_sealed";

/// Every configuration object the store holds.
#[derive(Clone, Debug, Default)]
pub struct Records {
    pub login_methods: Vec<LoginMethodRecord>,
    pub applications: Vec<ApplicationRecord>,
    pub policies: Vec<AccessObjectRecord>,
    pub rule_groups: Vec<AccessObjectRecord>,
    pub lists: Vec<AccessObjectRecord>,
}

/// The setting that keeps the configuration file's order of login methods and applications:
/// the login page offers login methods in that order, and among equally specific application
/// domains the one declared first wins.
const FILE_ORDER_SETTING: &str = "objects.file_order";

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct FileOrder {
    login_methods: Vec<Uuid>,
    applications: Vec<Uuid>,
}

/// Reads every configuration object from the store: login methods and applications from the
/// configuration file first, in the file's order, then the others by creation.
pub async fn fetch(store: &dyn Store) -> Result<Records, StoreError> {
    let order: FileOrder = store
        .get_setting(FILE_ORDER_SETTING)
        .await?
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let rank = |ids: &[Uuid], id: Uuid| ids.iter().position(|i| *i == id).unwrap_or(usize::MAX);
    let mut login_methods = store.list_login_methods().await?;
    login_methods.sort_by_key(|m| (rank(&order.login_methods, m.id), m.created_at));
    let mut applications = store.list_applications().await?;
    applications.sort_by_key(|a| (rank(&order.applications, a.id), a.created_at));
    Ok(Records {
        login_methods,
        applications,
        policies: store.list_access_objects(ObjectKind::Policy).await?,
        rule_groups: store.list_access_objects(ObjectKind::RuleGroup).await?,
        lists: store.list_access_objects(ObjectKind::List).await?,
    })
}

/// The kinds of configuration object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    LoginMethod,
    Application,
    Policy,
    RuleGroup,
    List,
}

impl Kind {
    /// How the object is named in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Self::LoginMethod => "login method",
            Self::Application => "application",
            Self::Policy => "reusable policy",
            Self::RuleGroup => "rule group",
            Self::List => "list",
        }
    }

    fn store_kind(self) -> Option<ObjectKind> {
        match self {
            Self::Policy => Some(ObjectKind::Policy),
            Self::RuleGroup => Some(ObjectKind::RuleGroup),
            Self::List => Some(ObjectKind::List),
            Self::LoginMethod | Self::Application => None,
        }
    }
}

/// Why the configuration file's objects could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Seal(#[from] SealError),
}

/// A stored object that cannot be put in force, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: Kind,
    /// The object's id.
    pub id: String,
    /// The object's name, for messages.
    pub name: String,
    /// What is wrong, naming the field.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} \"{}\": {}",
            self.kind.noun(),
            self.name,
            self.message
        )
    }
}

/// What building needs besides the records.
pub struct BuildContext<'a> {
    pub server: &'a ServerConfig,
    pub sealer: &'a Sealer,
    pub http: &'a reqwest::Client,
}

/// A snapshot and the stored objects left out of it.
pub struct Built {
    pub snapshot: Snapshot,
    pub problems: Vec<Problem>,
}

/// Builds the snapshot from the stored objects. An object whose declaration does not validate
/// (for example an application referring to a policy that has since been removed from the
/// configuration file) is left out and reported, and the rest is put in force: a bad object
/// closes its own door, not every door. Login methods whose declaration has not changed keep
/// their provider (and with it the discovery document and keys already fetched).
pub fn build(records: &Records, cx: &BuildContext<'_>, previous: Option<&Snapshot>) -> Built {
    let mut problems = Vec::new();

    let (catalog, groups, lists) = build_catalog(records, &mut problems);
    let catalog = Arc::new(catalog);

    let mut policies = Vec::new();
    let mut reusable: HashMap<String, Policy> = HashMap::new();
    for rec in &records.policies {
        match policy_from(&rec.config, &catalog) {
            Ok(policy) => {
                reusable.insert(rec.id.clone(), policy.clone());
                policies.push(ReusablePolicy {
                    id: rec.id.clone(),
                    policy,
                    read_only: rec.read_only,
                    created_at: rec.created_at,
                    updated_at: rec.updated_at,
                });
            }
            Err(message) => problems.push(Problem {
                kind: Kind::Policy,
                id: rec.id.clone(),
                name: rec.name.clone(),
                message,
            }),
        }
    }

    let mut login_methods = Vec::new();
    let mut idp_configs = Vec::new();
    for rec in &records.login_methods {
        match login_method_config(rec, cx) {
            Ok(config) => {
                let reused = previous
                    .and_then(|s| s.login_method(IdpId(rec.id)))
                    .filter(|m| m.declaration == rec.config);
                let provider = match reused {
                    Some(m) => m.provider.clone(),
                    None => Provider::new(config.provider.clone(), cx.http.clone()),
                };
                login_methods.push(Arc::new(LoginMethod {
                    id: IdpId(rec.id),
                    name: rec.name.clone(),
                    provider,
                    scim: config.scim.clone(),
                    read_only: rec.read_only,
                    declaration: rec.config.clone(),
                    created_at: rec.created_at,
                    updated_at: rec.updated_at,
                }));
                idp_configs.push(config);
            }
            Err(message) => problems.push(Problem {
                kind: Kind::LoginMethod,
                id: rec.id.to_string(),
                name: rec.name.clone(),
                message,
            }),
        }
    }

    let mut apps: Vec<Arc<App>> = Vec::new();
    for rec in &records.applications {
        let made = application_config(rec, &idp_configs, cx.server, &reusable, &catalog)
            .and_then(|config| app_from(rec, config, &login_methods, &catalog));
        let app = match made {
            Ok(app) => app,
            Err(message) => {
                problems.push(Problem {
                    kind: Kind::Application,
                    id: rec.id.to_string(),
                    name: rec.name.clone(),
                    message,
                });
                continue;
            }
        };
        if let Some(other) = apps.iter().find(|a| a.pattern == app.pattern) {
            problems.push(Problem {
                kind: Kind::Application,
                id: rec.id.to_string(),
                name: rec.name.clone(),
                message: format!(
                    "domain: `{}` is already the domain of application \"{}\"",
                    app.domain, other.name
                ),
            });
            continue;
        }
        apps.push(Arc::new(app));
    }

    let apps_by_aud = apps.iter().map(|a| (a.aud.clone(), a.clone())).collect();
    // Duplicate domains were left out above, so the router has no reason to refuse these.
    let router = match AppRouter::new(apps.iter().map(|a| (a.pattern.clone(), a.clone()))) {
        Ok(router) => router,
        Err(e) => {
            tracing::error!(error = %e, "applications cannot be routed; none is in force");
            AppRouter::empty()
        }
    };
    Built {
        snapshot: Snapshot {
            apps: router,
            catalog,
            apps_by_aud,
            login_methods,
            policies,
            rule_groups: groups,
            lists,
        },
        problems,
    }
}

/// Rule groups and lists: each is first read on its own (a declaration that does not parse is
/// reported and left out); when the catalog as a whole is refused (a reference to something
/// missing, a cycle), the objects made through the API are left out and the file's kept, which
/// the configuration file's validation has already accepted together.
fn build_catalog(
    records: &Records,
    problems: &mut Vec<Problem>,
) -> (Catalog, Vec<CatalogEntry>, Vec<CatalogEntry>) {
    let mut groups: Vec<(&AccessObjectRecord, RuleGroup)> = Vec::new();
    for rec in &records.rule_groups {
        match serde_json::from_value::<RuleGroup>(rec.config.clone()) {
            Ok(g) if g.id == rec.id => groups.push((rec, g)),
            Ok(g) => problems.push(object_problem(
                Kind::RuleGroup,
                rec,
                format!("id: the declaration says `{}`", g.id),
            )),
            Err(e) => problems.push(object_problem(Kind::RuleGroup, rec, e.to_string())),
        }
    }
    let mut lists: Vec<(&AccessObjectRecord, List)> = Vec::new();
    for rec in &records.lists {
        match serde_json::from_value::<List>(rec.config.clone()) {
            Ok(l) if l.id == rec.id => lists.push((rec, l)),
            Ok(l) => problems.push(object_problem(
                Kind::List,
                rec,
                format!("id: the declaration says `{}`", l.id),
            )),
            Err(e) => problems.push(object_problem(Kind::List, rec, e.to_string())),
        }
    }
    fn entries<T>(items: &[(&AccessObjectRecord, T)]) -> Vec<CatalogEntry> {
        items
            .iter()
            .map(|(rec, _)| CatalogEntry {
                id: rec.id.clone(),
                read_only: rec.read_only,
                created_at: rec.created_at,
                updated_at: rec.updated_at,
            })
            .collect()
    }
    let all = Catalog::new(
        groups.iter().map(|(_, g)| g.clone()).collect(),
        lists.iter().map(|(_, l)| l.clone()).collect(),
    );
    match all {
        Ok(catalog) => {
            let (g, l) = (entries(&groups), entries(&lists));
            (catalog, g, l)
        }
        Err(e) => {
            let message = e.to_string();
            for (rec, _) in groups.iter().filter(|(r, _)| !r.read_only) {
                problems.push(object_problem(Kind::RuleGroup, rec, message.clone()));
            }
            for (rec, _) in lists.iter().filter(|(r, _)| !r.read_only) {
                problems.push(object_problem(Kind::List, rec, message.clone()));
            }
            groups.retain(|(r, _)| r.read_only);
            lists.retain(|(r, _)| r.read_only);
            let catalog = Catalog::new(
                groups.iter().map(|(_, g)| g.clone()).collect(),
                lists.iter().map(|(_, l)| l.clone()).collect(),
            )
            .unwrap_or_default();
            let (g, l) = (entries(&groups), entries(&lists));
            (catalog, g, l)
        }
    }
}

fn object_problem(kind: Kind, rec: &AccessObjectRecord, message: String) -> Problem {
    Problem {
        kind,
        id: rec.id.clone(),
        name: rec.name.clone(),
        message,
    }
}

/// A reusable policy's declaration (without its id) as a validated policy.
pub(crate) fn policy_from(declaration: &Value, catalog: &Catalog) -> Result<Policy, String> {
    let mut map = declaration.as_object().cloned().unwrap_or_default();
    map.remove("id");
    let policy: Policy = serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
    catalog
        .validate_policy(&policy)
        .map_err(|e| e.to_string())?;
    if policy.name.trim().is_empty() {
        return Err("name: must not be empty".into());
    }
    Ok(policy)
}

/// A stored login method's declaration with its client secret opened, validated.
fn login_method_config(
    rec: &LoginMethodRecord,
    cx: &BuildContext<'_>,
) -> Result<IdentityProviderConfig, String> {
    let mut declaration = rec.config.clone();
    let config = declaration
        .get_mut("config")
        .and_then(Value::as_object_mut)
        .ok_or("config: missing")?;
    let sealed = config
        .remove(SEALED_SECRET_FIELD)
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or("config.client_secret: missing")?;
    let secret = cx
        .sealer
        .open(CLIENT_SECRET_PURPOSE, &sealed)
        .map_err(|_| {
            "config.client_secret: cannot be opened with this gateway's secret_key".to_owned()
        })?;
    let secret = String::from_utf8(secret).map_err(|_| "config.client_secret: not text")?;
    config.insert("client_secret".into(), Value::String(secret));
    let map = declaration.as_object_mut().ok_or("not an object")?;
    map.insert("id".into(), Value::String(rec.id.to_string()));
    map.insert("name".into(), Value::String(rec.name.clone()));
    let raw: RawIdentityProvider =
        serde_json::from_value(declaration).map_err(|e| e.to_string())?;
    validate_idp("", raw, cx.server.clock_skew).map_err(|e| e.to_string())
}

fn application_config(
    rec: &ApplicationRecord,
    idps: &[IdentityProviderConfig],
    server: &ServerConfig,
    reusable: &HashMap<String, Policy>,
    catalog: &Catalog,
) -> Result<ApplicationConfig, String> {
    let mut declaration = rec.config.clone();
    let map = declaration.as_object_mut().ok_or("not an object")?;
    map.insert("name".into(), Value::String(rec.name.clone()));
    map.insert("domain".into(), Value::String(rec.domain.clone()));
    map.insert("aud".into(), Value::String(rec.aud.clone()));
    let raw: RawApplication = serde_json::from_value(declaration).map_err(|e| e.to_string())?;
    validate_app("", raw, idps, server, reusable, catalog).map_err(|e| e.to_string())
}

/// The data plane's view of a validated application.
fn app_from(
    rec: &ApplicationRecord,
    app: ApplicationConfig,
    login_methods: &[Arc<LoginMethod>],
    catalog: &Catalog,
) -> Result<App, String> {
    let bad_origin = || format!("origin: {} is not a usable URL", app.origin);
    let origin_uri: http::Uri = app
        .origin
        .origin()
        .ascii_serialization()
        .parse()
        .map_err(|_| bad_origin())?;
    let origin_scheme = origin_uri.scheme().cloned().ok_or_else(bad_origin)?;
    let origin_authority = origin_uri.authority().cloned().ok_or_else(bad_origin)?;
    let allowed_idps = app
        .allowed_idps
        .iter()
        .filter_map(|name| {
            login_methods
                .iter()
                .find(|m| &m.name == name || m.id.0.to_string() == name.to_ascii_lowercase())
                .map(|m| m.id)
        })
        .collect();
    let has_request_rules = app
        .policies
        .iter()
        .filter(|p| matches!(p.decision, Decision::Allow | Decision::Deny))
        .any(|p| policy_depends_on_request(p, catalog));
    let decides_before_login = has_request_rules
        || app
            .policies
            .iter()
            .any(|p| matches!(p.decision, Decision::Bypass | Decision::NonIdentity));
    let has_allow_policy = app.policies.iter().any(|p| p.decision == Decision::Allow);
    let has_service_auth = app
        .policies
        .iter()
        .any(|p| p.decision == Decision::NonIdentity);
    Ok(App {
        id: rec.id,
        name: app.name,
        aud: rec.aud.clone(),
        domain: app.domain,
        pattern: app.pattern,
        origin_scheme,
        origin_authority,
        origin_base: app.origin.path().trim_end_matches('/').to_owned(),
        origin: app.origin,
        session_duration: app.session_duration,
        allowed_idps,
        auto_redirect_to_identity: app.auto_redirect_to_identity,
        same_site: app.same_site,
        http_only: app.http_only,
        custom_deny_message: app.custom_deny_message,
        custom_deny_url: app.custom_deny_url,
        custom_non_identity_deny_url: app.custom_non_identity_deny_url,
        policies: app.policies,
        policy_refs: app.policy_refs,
        enable_binding_cookie: app.enable_binding_cookie,
        cookie_path: app.cookie_path,
        options_preflight_bypass: app.options_preflight_bypass,
        cors: app.cors,
        service_auth_401_redirect: app.service_auth_401_redirect,
        read_service_tokens_from_header: app.read_service_tokens_from_header,
        has_request_rules,
        decides_before_login,
        has_allow_policy,
        has_service_auth,
        read_only: rec.read_only,
        declaration: rec.config.clone(),
        created_at: rec.created_at,
        updated_at: rec.updated_at,
    })
}

/// A login method's declaration as stored: the client secret sealed, the SCIM secret left out
/// (the store keeps only its digest, as a setting), no id or name (they are columns).
pub(crate) fn stored_login_method(
    mut declaration: Value,
    sealer: &Sealer,
) -> Result<Value, crate::seal::SealError> {
    if let Some(map) = declaration.as_object_mut() {
        map.remove("id");
        map.remove("name");
        if let Some(Value::Object(scim)) = map.get_mut("scim_config") {
            scim.remove("secret");
        }
        if let Some(Value::Object(config)) = map.get_mut("config")
            && let Some(Value::String(secret)) = config.remove("client_secret")
        {
            let sealed = sealer.seal(CLIENT_SECRET_PURPOSE, secret.as_bytes())?;
            config.insert(SEALED_SECRET_FIELD.into(), Value::String(sealed));
        }
    }
    Ok(declaration)
}

/// What a declaration shows to an admin: everything but the sealed client secret.
pub fn public_declaration(declaration: &Value) -> Value {
    let mut shown = declaration.clone();
    if let Some(Value::Object(config)) = shown.get_mut("config") {
        config.remove(SEALED_SECRET_FIELD);
    }
    shown
}

/// Removes `keys` from a JSON object.
fn without(mut value: Value, keys: &[&str]) -> Value {
    if let Some(map) = value.as_object_mut() {
        for k in keys {
            map.remove(*k);
        }
    }
    value
}

/// Writes the configuration file's objects to the store, read-only, keeping the ids (and AUD
/// tags) of objects already there under the same name; removes read-only objects the file no
/// longer declares. Objects made through the API are left alone, unless the file now declares
/// one of the same name, which the file then takes over. Returns the ids of the file's login
/// methods, in the file's order.
pub async fn record_file_objects(
    store: &dyn Store,
    sealer: &Sealer,
    declared: &Declarations,
    identity_providers: &[IdentityProviderConfig],
    now: i64,
) -> Result<Vec<Uuid>, RecordError> {
    let existing = fetch(store).await?;
    let mut order = FileOrder::default();

    let mut kept = HashSet::new();
    for (declaration, idp) in declared.identity_providers.iter().zip(identity_providers) {
        let before = existing.login_methods.iter().find(|m| m.name == idp.name);
        let id = idp.id.or(before.map(|m| m.id)).unwrap_or_else(Uuid::new_v4);
        let config = stored_login_method(declaration.clone(), sealer)?;
        let unchanged = before.is_some_and(|b| {
            b.id == id && b.read_only && same_login_method(&b.config, &config, sealer)
        });
        if let Some(stale) = before.filter(|m| m.id != id) {
            store.delete_login_method(stale.id).await?;
        }
        if !unchanged {
            store
                .upsert_login_method(&LoginMethodRecord {
                    id,
                    name: idp.name.clone(),
                    kind: "oidc".into(),
                    config,
                    read_only: true,
                    created_at: before.map(|m| m.created_at).unwrap_or(now),
                    updated_at: now,
                })
                .await?;
        }
        kept.insert(id);
        order.login_methods.push(id);
    }
    for stale in existing
        .login_methods
        .iter()
        .filter(|m| m.read_only && !kept.contains(&m.id))
    {
        store.delete_login_method(stale.id).await?;
    }

    let mut kept = HashSet::new();
    for declaration in &declared.applications {
        let name = declaration["name"].as_str().unwrap_or_default();
        let before = existing.applications.iter().find(|a| a.name == name);
        let aud = match (declaration.get("aud").and_then(Value::as_str), before) {
            (Some(a), _) => a.to_ascii_lowercase(),
            (None, Some(b)) => b.aud.clone(),
            (None, None) => hex::encode(random_bytes::<32>()?),
        };
        let id = before.map(|a| a.id).unwrap_or_else(Uuid::new_v4);
        let record = ApplicationRecord {
            id,
            name: name.to_owned(),
            aud,
            domain: declaration["domain"]
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase(),
            config: without(declaration.clone(), &["name", "domain", "aud"]),
            read_only: true,
            created_at: before.map(|a| a.created_at).unwrap_or(now),
            updated_at: now,
        };
        let unchanged = before.is_some_and(|b| {
            b.read_only
                && b.aud == record.aud
                && b.domain == record.domain
                && b.config == record.config
        });
        if !unchanged {
            store.upsert_application(&record).await?;
        }
        kept.insert(id);
        order.applications.push(id);
    }
    for stale in existing
        .applications
        .iter()
        .filter(|a| a.read_only && !kept.contains(&a.id))
    {
        store.delete_application(stale.id).await?;
    }

    let login_method_ids = order.login_methods.clone();
    let order = serde_json::to_string(&order).unwrap_or_default();
    if store.get_setting(FILE_ORDER_SETTING).await?.as_deref() != Some(order.as_str()) {
        store.put_setting(FILE_ORDER_SETTING, &order).await?;
    }

    let policies = declared.policies.iter().map(|p| {
        let id = p["id"].as_str().unwrap_or_default().to_owned();
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        (id, name, without(p.clone(), &["id"]))
    });
    record_file_kind(store, ObjectKind::Policy, &existing.policies, policies, now).await?;
    let groups = declared.rule_groups.iter().map(|g| {
        let config = serde_json::to_value(g).unwrap_or_default();
        (g.id.clone(), g.name.clone(), config)
    });
    record_file_kind(
        store,
        ObjectKind::RuleGroup,
        &existing.rule_groups,
        groups,
        now,
    )
    .await?;
    let lists = declared.lists.iter().map(|l| {
        let config = serde_json::to_value(l).unwrap_or_default();
        (l.id.clone(), l.name.clone(), config)
    });
    record_file_kind(store, ObjectKind::List, &existing.lists, lists, now).await?;
    Ok(login_method_ids)
}

async fn record_file_kind(
    store: &dyn Store,
    kind: ObjectKind,
    existing: &[AccessObjectRecord],
    declared: impl Iterator<Item = (String, String, Value)>,
    now: i64,
) -> Result<(), RecordError> {
    let mut kept = HashSet::new();
    for (id, name, config) in declared {
        let before = existing.iter().find(|o| o.id == id);
        let unchanged = before.is_some_and(|b| b.read_only && b.name == name && b.config == config);
        if !unchanged {
            store
                .upsert_access_object(&AccessObjectRecord {
                    kind,
                    id: id.clone(),
                    name,
                    config,
                    read_only: true,
                    created_at: before.map(|o| o.created_at).unwrap_or(now),
                    updated_at: now,
                })
                .await?;
        }
        kept.insert(id);
    }
    for stale in existing
        .iter()
        .filter(|o| o.read_only && !kept.contains(&o.id))
    {
        store.delete_access_object(kind, &stale.id).await?;
    }
    Ok(())
}

/// Whether two stored login-method declarations say the same, comparing the client secrets
/// opened (each sealing differs).
fn same_login_method(a: &Value, b: &Value, sealer: &Sealer) -> bool {
    let opened = |v: &Value| {
        v.get("config")
            .and_then(|c| c.get(SEALED_SECRET_FIELD))
            .and_then(Value::as_str)
            .and_then(|s| sealer.open(CLIENT_SECRET_PURPOSE, s).ok())
    };
    public_declaration(a) == public_declaration(b) && opened(a).is_some() && opened(a) == opened(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const FILE: &str = r#"
[server]
team_domain = "auth.example.com"

[[identity_providers]]
name = "Zeta IdP"
type = "oidc"
config = { client_id = "z", client_secret = "zeta-secret", auth_url = "http://127.0.0.1:9/a", token_url = "http://127.0.0.1:9/t", certs_url = "http://127.0.0.1:9/c" }

[[identity_providers]]
name = "Alpha IdP"
type = "oidc"
config = { client_id = "a", client_secret = "alpha-secret", auth_url = "http://127.0.0.1:9/a", token_url = "http://127.0.0.1:9/t", certs_url = "http://127.0.0.1:9/c" }

[[policies]]
id = "staff"
name = "staff"
decision = "allow"
include = [{ email_domain = { domain = "example.com" } }]

[[applications]]
name = "wiki"
domain = "wiki.example.com"
origin = "http://127.0.0.1:9"
policies = [{ id = "staff" }]
"#;

    fn config(text: &str) -> Config {
        Config::from_raw(Config::parse_toml(text, "test").unwrap(), &[]).unwrap()
    }

    struct Fixture {
        store: Arc<dyn Store>,
        sealer: Sealer,
        http: reqwest::Client,
        config: Config,
    }

    impl Fixture {
        async fn new(text: &str) -> Fixture {
            Fixture {
                store: portcullis_store::open("sqlite::memory:").await.unwrap(),
                sealer: Sealer::from_bytes(&[7; 32]).unwrap(),
                http: reqwest::Client::new(),
                config: config(text),
            }
        }

        async fn record(&self, config: &Config) {
            record_file_objects(
                self.store.as_ref(),
                &self.sealer,
                &config.declarations,
                &config.identity_providers,
                100,
            )
            .await
            .unwrap();
        }

        fn build(&self, records: &Records) -> Built {
            build(
                records,
                &BuildContext {
                    server: &self.config.server,
                    sealer: &self.sealer,
                    http: &self.http,
                },
                None,
            )
        }
    }

    #[tokio::test]
    async fn the_files_objects_are_built_in_the_files_order_with_their_secrets_sealed() {
        let f = Fixture::new(FILE).await;
        f.record(&f.config).await;
        let records = fetch(f.store.as_ref()).await.unwrap();
        let stored = records.login_methods[0].config.to_string();
        assert!(!stored.contains("zeta-secret"), "sealed at rest: {stored}");
        let built = f.build(&records);
        assert!(built.problems.is_empty(), "{:?}", built.problems);
        let names: Vec<&str> = built
            .snapshot
            .login_methods
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["Zeta IdP", "Alpha IdP"],
            "the file's order, not the name's"
        );
        assert_eq!(
            built.snapshot.login_methods[0]
                .provider
                .config()
                .client_secret,
            "zeta-secret"
        );
        let (_, wiki) = built.snapshot.apps.iter().next().unwrap();
        assert!(wiki.read_only);
        assert_eq!(wiki.policy_refs, ["staff"]);
    }

    #[tokio::test]
    async fn restarting_keeps_ids_and_aud_and_drops_what_the_file_no_longer_declares() {
        let f = Fixture::new(FILE).await;
        f.record(&f.config).await;
        let first = fetch(f.store.as_ref()).await.unwrap();
        let made_elsewhere = ApplicationRecord {
            id: Uuid::new_v4(),
            name: "made through the API".into(),
            aud: "b".repeat(64),
            domain: "api.example.com".into(),
            config: serde_json::json!({"origin": "http://127.0.0.1:9", "policies": [{"id": "staff"}]}),
            read_only: false,
            created_at: 1,
            updated_at: 1,
        };
        f.store.upsert_application(&made_elsewhere).await.unwrap();

        f.record(&f.config).await;
        let again = fetch(f.store.as_ref()).await.unwrap();
        let wiki = |r: &Records| {
            r.applications
                .iter()
                .find(|a| a.name == "wiki")
                .cloned()
                .unwrap()
        };
        assert_eq!(wiki(&again), wiki(&first), "unchanged: not even rewritten");
        assert_eq!(again.login_methods, first.login_methods);

        // The file drops the application and the second login method.
        let smaller = FILE
            .split("[[applications]]")
            .next()
            .unwrap()
            .replace("name = \"Alpha IdP\"", "name = \"Zeta IdP 2\"");
        let smaller = config(&smaller);
        f.record(&smaller).await;
        let after = fetch(f.store.as_ref()).await.unwrap();
        let apps: Vec<&str> = after.applications.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(apps, ["made through the API"], "the API's object stays");
        let methods: Vec<&str> = after
            .login_methods
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(methods, ["Zeta IdP", "Zeta IdP 2"]);
    }

    #[tokio::test]
    async fn an_object_that_no_longer_validates_is_left_out_and_the_rest_stays_in_force() {
        let f = Fixture::new(FILE).await;
        f.record(&f.config).await;
        let mut records = fetch(f.store.as_ref()).await.unwrap();
        records.applications.push(ApplicationRecord {
            id: Uuid::new_v4(),
            name: "inline".into(),
            aud: "c".repeat(64),
            domain: "inline.example.com".into(),
            config: serde_json::json!({
                "origin": "http://127.0.0.1:9",
                "policies": [{"name": "all", "decision": "allow", "include": [{"everyone": {}}]}],
            }),
            read_only: false,
            created_at: 1,
            updated_at: 1,
        });
        records.policies.clear();
        let built = f.build(&records);
        assert_eq!(built.problems.len(), 1, "{:?}", built.problems);
        let problem = &built.problems[0];
        assert_eq!(
            (problem.kind, problem.name.as_str()),
            (Kind::Application, "wiki")
        );
        assert!(problem.message.contains("policies[0].id"), "{problem}");
        let names: Vec<&str> = built
            .snapshot
            .apps
            .iter()
            .map(|(_, a)| a.name.as_str())
            .collect();
        assert_eq!(names, ["inline"]);

        // Two applications on one domain: the second is left out, naming the first.
        let mut clash = records.applications[1].clone();
        clash.id = Uuid::new_v4();
        clash.name = "copy".into();
        clash.aud = "d".repeat(64);
        records.applications.push(clash);
        let built = f.build(&records);
        assert!(
            built
                .problems
                .iter()
                .any(|p| p.name == "copy" && p.message.contains("\"inline\"")),
            "{:?}",
            built.problems
        );
    }

    #[tokio::test]
    async fn a_sealed_secret_this_gateway_cannot_open_leaves_the_login_method_out() {
        let f = Fixture::new(FILE).await;
        f.record(&f.config).await;
        let records = fetch(f.store.as_ref()).await.unwrap();
        let other = Fixture {
            sealer: Sealer::from_bytes(&[9; 32]).unwrap(),
            ..Fixture::new(FILE).await
        };
        let built = other.build(&records);
        let left_out: Vec<&str> = built
            .problems
            .iter()
            .filter(|p| p.kind == Kind::LoginMethod)
            .map(|p| p.message.as_str())
            .collect();
        assert_eq!(left_out.len(), 2);
        assert!(left_out[0].contains("secret_key"), "{left_out:?}");
        assert!(!format!("{:?}", built.problems).contains("zeta-secret"));
    }
}
