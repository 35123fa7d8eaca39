//! The policy tester: what an application's policies would decide for a user, without the user
//! making a request.
//!
//! Cloudflare's tester runs an application's policies against the identity each user last
//! signed in with and reports who would get in. This module is that one place, used by the CLI
//! (`portcullis policy test`) and meant for the admin API and UI as well. It decides nothing by
//! itself: the verdict and its explanation come from [`portcullis_core::evaluate`], exactly as
//! the gateway would reach them at login. It does not look at seats, login blocks or which login
//! methods an application allows; those refuse a login before policies are consulted.

use std::net::IpAddr;

use portcullis_core::{
    Catalog, Email, Evaluation, Facts, Identity, IdpId, Outcome, Policy, evaluate,
};
use portcullis_store::{AuthLogQuery, Store, StoreError, UserRecord};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::access::StoredIdentity;
use crate::registry::{self, RegistryError};

/// Why a user could not be tested.
#[derive(Debug, thiserror::Error)]
pub enum TesterError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(
        "{0} has never signed in, so there is no identity to test; describe one with flags instead"
    )]
    NeverSignedIn(String),
    #[error(
        "the last identity stored for {email} cannot be read ({reason}); it was written by another version"
    )]
    UnreadableIdentity { email: String, reason: String },
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// A hypothetical user, described attribute by attribute (as an administrator types them), to
/// test before anyone with those attributes has signed in.
#[derive(Clone, Debug, PartialEq)]
pub struct Subject {
    pub email: Email,
    pub name: Option<String>,
    /// IdP groups, for `okta`, `azureAD` and `gsuite` rules.
    pub groups: Vec<String>,
    /// Custom OIDC claims, for `oidc` rules.
    pub oidc_fields: Map<String, Value>,
    /// Authentication methods (RFC 8176), for `auth_method` rules.
    pub amr: Vec<String>,
    /// The login method the subject signs in with, for `login_method` rules.
    pub idp_id: IdpId,
    /// The client address, for `ip` and `ip_list` rules; without one they do not match.
    pub ip: Option<IpAddr>,
    /// ISO 3166-1 alpha-2 country, for `geo` rules; without one they do not match.
    pub country: Option<String>,
}

impl Subject {
    /// The identity a login with these attributes would produce (an OIDC login method; the IdP
    /// subject is left empty, as no rule reads it).
    pub fn identity(&self) -> Identity {
        Identity {
            email: self.email.clone(),
            name: self.name.clone(),
            subject: String::new(),
            groups: self.groups.clone(),
            oidc_fields: self.oidc_fields.clone(),
            amr: self.amr.clone(),
            idp_id: self.idp_id,
            idp_type: "oidc".to_owned(),
        }
    }
}

/// What `policies` (an application's, in evaluation order) decide for a signed-in `identity`
/// arriving from `ip` and `country`.
pub fn test_identity(
    policies: &[Policy],
    catalog: &Catalog,
    identity: &Identity,
    ip: Option<IpAddr>,
    country: Option<&str>,
) -> Evaluation {
    let facts = Facts {
        identity: Some(identity),
        ip,
        country,
        service_token: None,
    };
    evaluate(policies, &facts, catalog)
}

/// What `policies` decide for a [`Subject`].
pub fn test_subject(policies: &[Policy], catalog: &Catalog, subject: &Subject) -> Evaluation {
    test_identity(
        policies,
        catalog,
        &subject.identity(),
        subject.ip,
        subject.country.as_deref(),
    )
}

/// A registry user tested with their last sign-in.
#[derive(Debug, Serialize)]
pub struct UserTest {
    pub user: UserRecord,
    /// The identity of the user's last sign-in.
    pub identity: Identity,
    /// The address the user last signed in from, when it was recorded.
    pub ip: Option<IpAddr>,
    /// The country of the user's most recent successful login in the authentication log, when
    /// the log still holds one.
    pub country: Option<String>,
    /// When the identity was issued (unix seconds).
    pub signed_in_at: i64,
    pub evaluation: Evaluation,
}

/// The last sign-in of a user, as the tester replays it.
struct LastSignIn {
    identity: Identity,
    ip: Option<IpAddr>,
    country: Option<String>,
    signed_in_at: i64,
}

async fn last_sign_in(
    store: &dyn Store,
    user: &UserRecord,
) -> Result<Option<LastSignIn>, TesterError> {
    let Some(json) = &user.last_seen_identity else {
        return Ok(None);
    };
    let stored = serde_json::from_value::<StoredIdentity>(json.clone()).map_err(|e| {
        TesterError::UnreadableIdentity {
            email: user.email.clone(),
            reason: e.to_string(),
        }
    })?;
    // The stored identity has no country; the log of the user's logins does.
    let country = store
        .list_auth_logs(&AuthLogQuery {
            email: Some(user.email.clone()),
            allowed: Some(true),
            limit: 1,
            ..AuthLogQuery::default()
        })
        .await?
        .into_iter()
        .next()
        .and_then(|entry| entry.country);
    Ok(Some(LastSignIn {
        ip: stored.ip.parse().ok(),
        identity: stored.identity,
        country,
        signed_in_at: stored.iat,
    }))
}

/// Tests the user `who` (email or id) with the identity, address and country of their last
/// sign-in. Fails when the user is unknown or has never signed in.
pub async fn test_user(
    store: &dyn Store,
    policies: &[Policy],
    catalog: &Catalog,
    who: &str,
) -> Result<UserTest, TesterError> {
    let user = registry::find_user(store, who).await?;
    let Some(last) = last_sign_in(store, &user).await? else {
        return Err(TesterError::NeverSignedIn(user.email));
    };
    let evaluation = test_identity(
        policies,
        catalog,
        &last.identity,
        last.ip,
        last.country.as_deref(),
    );
    Ok(UserTest {
        user,
        identity: last.identity,
        ip: last.ip,
        country: last.country,
        signed_in_at: last.signed_in_at,
        evaluation,
    })
}

/// One user's outcome in a [`Summary`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserOutcome {
    pub email: String,
    pub outcome: Outcome,
    /// Which policy decided and why, as the policy tester prints it.
    pub explanation: String,
}

/// How an application's policies fare against every user who has signed in.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Users tested: those with a last sign-in.
    pub total: usize,
    pub allowed: usize,
    pub denied: usize,
    /// Users with a last sign-in this version cannot read, left out of the counts.
    pub unreadable: Vec<String>,
    /// Every tested user, in the registry's order.
    pub users: Vec<UserOutcome>,
}

/// Tests every user who has signed in at least once, each with their last sign-in.
pub async fn test_all_users(
    store: &dyn Store,
    policies: &[Policy],
    catalog: &Catalog,
) -> Result<Summary, TesterError> {
    let mut summary = Summary {
        total: 0,
        allowed: 0,
        denied: 0,
        unreadable: Vec::new(),
        users: Vec::new(),
    };
    for user in store.list_users().await? {
        let last = match last_sign_in(store, &user).await {
            Ok(Some(last)) => last,
            Ok(None) => continue,
            Err(TesterError::UnreadableIdentity { email, .. }) => {
                summary.unreadable.push(email);
                continue;
            }
            Err(e) => return Err(e),
        };
        let evaluation = test_identity(
            policies,
            catalog,
            &last.identity,
            last.ip,
            last.country.as_deref(),
        );
        let outcome = evaluation.outcome;
        summary.total += 1;
        if outcome.allowed() {
            summary.allowed += 1;
        } else {
            summary.denied += 1;
        }
        summary.users.push(UserOutcome {
            email: user.email,
            outcome,
            explanation: evaluation.to_string(),
        });
    }
    Ok(summary)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Config;
    use portcullis_store::{AuthLogRecord, LoginRecord};
    use serde_json::json;
    use std::sync::Arc;
    use uuid::Uuid;

    /// The login method of [`CONFIG`].
    pub(crate) const IDP: &str = "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c";

    /// A gateway with one login method and an application that lets in `example.com` staff
    /// who used MFA, except the `contractors` group and anyone outside the office network.
    pub(crate) const CONFIG: &str = r#"
[server]
team_domain = "auth.localhost"
listen = "127.0.0.1:8080"
data_dir = "./data"

[[identity_providers]]
id = "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c"
name = "Example IdP"
type = "oidc"
config = { client_id = "portcullis", client_secret = "s3cret", discovery_url = "http://127.0.0.1:9000/.well-known/openid-configuration", claims = ["roles"] }

[[applications]]
name = "wiki"
domain = "wiki.localhost"
origin = "http://127.0.0.1:8090"
policies = [
  { name = "no contractors", decision = "deny", include = [{ okta = { name = "contractors" } }] },
  { name = "staff", decision = "allow", include = [{ email_domain = { domain = "example.com" } }], require = [{ auth_method = { auth_method = "mfa" } }, { ip = { ip = "10.0.0.0/8" } }] },
  { name = "admins abroad", decision = "allow", include = [{ oidc = { claim_name = "roles", claim_value = "admin" } }], require = [{ geo = { country_code = "DE" } }] },
]

[[applications]]
name = "status"
domain = "status.localhost"
origin = "http://127.0.0.1:8091"
policies = [{ name = "anyone", decision = "allow", include = [{ everyone = {} }] }]
"#;

    pub(crate) fn config() -> Config {
        Config::from_raw(Config::parse_toml(CONFIG, "test.toml").unwrap(), &[]).unwrap()
    }

    pub(crate) fn identity(email: &str, groups: &[&str], amr: &[&str]) -> Identity {
        Identity {
            email: Email::parse(email).unwrap(),
            name: Some(email.split('@').next().unwrap().to_owned()),
            subject: format!("sub-{email}"),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            oidc_fields: Map::new(),
            amr: amr.iter().map(|a| a.to_string()).collect(),
            idp_id: IdpId::parse(IDP).unwrap(),
            idp_type: "oidc".into(),
        }
    }

    /// Records a login of `identity` from `ip` at `at`, as the gateway's callback does.
    pub(crate) async fn sign_in(
        store: &dyn Store,
        identity: Identity,
        ip: &str,
        at: i64,
    ) -> UserRecord {
        let stored = StoredIdentity {
            identity,
            ip: ip.into(),
            iat: at,
        };
        store
            .record_login(&LoginRecord {
                email: stored.identity.email.as_str().to_owned(),
                name: stored.identity.name.clone(),
                idp_id: stored.identity.idp_id.0,
                identity: serde_json::to_value(&stored).unwrap(),
                at,
                seat_limit: None,
            })
            .await
            .unwrap()
    }

    pub(crate) async fn store() -> Arc<dyn Store> {
        portcullis_store::open("sqlite::memory:").await.unwrap()
    }

    fn subject(email: &str) -> Subject {
        Subject {
            email: Email::parse(email).unwrap(),
            name: None,
            groups: vec![],
            oidc_fields: Map::new(),
            amr: vec!["mfa".into()],
            idp_id: IdpId::parse(IDP).unwrap(),
            ip: Some("10.1.2.3".parse().unwrap()),
            country: None,
        }
    }

    #[test]
    fn a_subject_is_judged_on_every_attribute() {
        let config = config();
        let wiki = &config.applications[0];
        let catalog = &config.catalog;

        let staff = test_subject(&wiki.policies, catalog, &subject("ann@example.com"));
        assert_eq!(staff.outcome, Outcome::Allow);
        assert_eq!(staff.deciding_policy().unwrap().name, "staff");

        let no_mfa = Subject {
            amr: vec![],
            ..subject("ann@example.com")
        };
        assert_eq!(
            test_subject(&wiki.policies, catalog, &no_mfa).outcome,
            Outcome::DefaultDeny
        );
        let outside = Subject {
            ip: Some("192.0.2.1".parse().unwrap()),
            ..subject("ann@example.com")
        };
        assert_eq!(
            test_subject(&wiki.policies, catalog, &outside).outcome,
            Outcome::DefaultDeny
        );
        let contractor = Subject {
            groups: vec!["contractors".into()],
            ..subject("ann@example.com")
        };
        let denied = test_subject(&wiki.policies, catalog, &contractor);
        assert_eq!(denied.outcome, Outcome::Deny);
        assert!(denied.to_string().contains("no contractors"), "{denied}");

        let mut roles = Map::new();
        roles.insert("roles".into(), json!(["viewer", "admin"]));
        let admin = Subject {
            oidc_fields: roles,
            country: Some("DE".into()),
            ip: None,
            ..subject("root@elsewhere.org")
        };
        assert_eq!(
            test_subject(&wiki.policies, catalog, &admin).outcome,
            Outcome::Allow
        );
        let admin_at_home = Subject {
            country: Some("FR".into()),
            ..admin
        };
        assert_eq!(
            test_subject(&wiki.policies, catalog, &admin_at_home).outcome,
            Outcome::DefaultDeny
        );
    }

    #[tokio::test]
    async fn a_user_is_tested_with_their_last_sign_in() {
        let config = config();
        let wiki = &config.applications[0];
        let store = store().await;
        sign_in(
            store.as_ref(),
            identity("ann@example.com", &[], &["pwd"]),
            "10.0.0.7",
            100,
        )
        .await;
        // The later sign-in, with MFA, is the one that counts.
        let user = sign_in(
            store.as_ref(),
            identity("ann@example.com", &[], &["pwd", "mfa"]),
            "10.0.0.8",
            200,
        )
        .await;
        let tested = test_user(
            store.as_ref(),
            &wiki.policies,
            &config.catalog,
            "Ann@Example.com",
        )
        .await
        .unwrap();
        assert_eq!(tested.user.id, user.id);
        assert_eq!(tested.evaluation.outcome, Outcome::Allow);
        assert_eq!(tested.ip, Some("10.0.0.8".parse().unwrap()));
        assert_eq!(tested.signed_in_at, 200);
        assert_eq!(tested.country, None);

        let by_id = test_user(
            store.as_ref(),
            &wiki.policies,
            &config.catalog,
            &user.id.to_string(),
        )
        .await
        .unwrap();
        assert_eq!(by_id.evaluation.outcome, Outcome::Allow);
    }

    #[tokio::test]
    async fn the_country_comes_from_the_users_last_logged_login() {
        let config = config();
        let wiki = &config.applications[0];
        let store = store().await;
        let mut admin = identity("root@elsewhere.org", &[], &[]);
        admin.oidc_fields.insert("roles".into(), json!("admin"));
        sign_in(store.as_ref(), admin, "192.0.2.1", 100).await;
        let tested = test_user(
            store.as_ref(),
            &wiki.policies,
            &config.catalog,
            "root@elsewhere.org",
        )
        .await
        .unwrap();
        assert_eq!(tested.evaluation.outcome, Outcome::DefaultDeny);

        for (at, country, allowed) in [(100, "DE", true), (101, "FR", false)] {
            store
                .insert_auth_log(&AuthLogRecord {
                    id: Uuid::new_v4(),
                    ray_id: format!("r{at}"),
                    created_at: at,
                    user_email: Some("root@elsewhere.org".into()),
                    user_id: None,
                    ip_address: Some("192.0.2.1".into()),
                    app_uid: None,
                    app_domain: None,
                    app_name: None,
                    connection: "oidc".into(),
                    idp_id: None,
                    action: "login".into(),
                    allowed,
                    reason: None,
                    country: Some(country.into()),
                })
                .await
                .unwrap();
        }
        let tested = test_user(
            store.as_ref(),
            &wiki.policies,
            &config.catalog,
            "root@elsewhere.org",
        )
        .await
        .unwrap();
        assert_eq!(tested.country.as_deref(), Some("DE"));
        assert_eq!(tested.evaluation.outcome, Outcome::Allow);
    }

    #[tokio::test]
    async fn unknown_and_never_signed_in_users_are_refused_clearly() {
        let config = config();
        let wiki = &config.applications[0];
        let store = store().await;
        let err = test_user(
            store.as_ref(),
            &wiki.policies,
            &config.catalog,
            "ghost@example.com",
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, TesterError::Registry(RegistryError::UnknownUser(_))),
            "{err}"
        );
        assert!(err.to_string().contains("ghost@example.com"), "{err}");

        // A sign-in recorded in a shape this version does not know is named, not guessed at.
        store
            .record_login(&LoginRecord {
                email: "odd@example.com".into(),
                name: None,
                idp_id: Uuid::new_v4(),
                identity: json!({}),
                at: 1,
                seat_limit: None,
            })
            .await
            .unwrap();
        let err = test_user(
            store.as_ref(),
            &wiki.policies,
            &config.catalog,
            "odd@example.com",
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, TesterError::UnreadableIdentity { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("odd@example.com"), "{err}");
    }

    #[tokio::test]
    async fn a_user_without_a_sign_in_has_nothing_to_replay() {
        // Users provisioned ahead of their first login (SCIM) carry no identity yet.
        let store = store().await;
        let user = UserRecord {
            id: Uuid::new_v4(),
            email: "new@example.com".into(),
            name: None,
            created_at: 1,
            updated_at: 1,
            last_login_at: None,
            last_seen_identity: None,
            seat: false,
            login_blocked_until: None,
        };
        assert!(last_sign_in(store.as_ref(), &user).await.unwrap().is_none());
        let err = TesterError::NeverSignedIn(user.email).to_string();
        assert!(err.contains("new@example.com has never signed in"), "{err}");
    }

    #[tokio::test]
    async fn all_users_are_counted_by_outcome() {
        let config = config();
        let (wiki, status) = (&config.applications[0], &config.applications[1]);
        let store = store().await;
        let people = [
            ("ann@example.com", &[][..], "10.0.0.1"),
            ("bob@example.com", &["contractors"][..], "10.0.0.2"),
            ("cat@example.com", &[][..], "192.0.2.9"),
            ("dan@other.org", &[][..], "10.0.0.4"),
        ];
        for (email, groups, ip) in people {
            sign_in(store.as_ref(), identity(email, groups, &["mfa"]), ip, 50).await;
        }
        store
            .record_login(&LoginRecord {
                email: "garbled@example.com".into(),
                name: None,
                idp_id: Uuid::new_v4(),
                identity: json!({"not": "an identity"}),
                at: 1,
                seat_limit: None,
            })
            .await
            .unwrap();

        let summary = test_all_users(store.as_ref(), &wiki.policies, &config.catalog)
            .await
            .unwrap();
        assert_eq!((summary.total, summary.allowed, summary.denied), (4, 1, 3));
        assert_eq!(summary.unreadable, ["garbled@example.com"]);
        let outcome = |email: &str| {
            summary
                .users
                .iter()
                .find(|u| u.email == email)
                .map(|u| u.outcome)
        };
        assert_eq!(outcome("ann@example.com"), Some(Outcome::Allow));
        assert_eq!(outcome("bob@example.com"), Some(Outcome::Deny));
        assert_eq!(outcome("cat@example.com"), Some(Outcome::DefaultDeny));
        assert_eq!(outcome("garbled@example.com"), None);

        let everyone = test_all_users(store.as_ref(), &status.policies, &config.catalog)
            .await
            .unwrap();
        assert_eq!((everyone.total, everyone.allowed), (4, 4));
    }
}
