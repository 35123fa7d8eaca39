//! `portcullis policy test`: the policy tester ([`crate::tester`]) on the command line.

use std::net::IpAddr;

use portcullis_core::{Evaluation, Identity, IdpId, Outcome};
use portcullis_store::Store;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::format::{Table, fields, json, when};
use super::{CliError, Output, PolicyTestArgs, find_app};
use crate::config::{ApplicationConfig, Config};
use crate::registry::RegistryError;
use crate::tester::{self, Subject, TesterError};

/// Which identity a single test evaluated.
#[derive(Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub(crate) enum Tested {
    /// A known user's last sign-in.
    LastSignIn { signed_in_at: i64 },
    /// An identity described on the command line.
    Described { known_user: bool },
}

#[derive(Serialize)]
struct SingleTest<'a> {
    application: &'a str,
    #[serde(flatten)]
    tested: Tested,
    identity: &'a Identity,
    login_method: String,
    ip: Option<IpAddr>,
    country: Option<&'a str>,
    outcome: Outcome,
    allowed: bool,
    evaluation: &'a Evaluation,
}

/// `policy test <app> (<email> [attributes] | --all-users)`.
pub async fn test(
    config: &Config,
    store: &dyn Store,
    args: &PolicyTestArgs,
    output: Output,
) -> Result<String, CliError> {
    let app = find_app(config, &args.app)?;
    let Some(email) = &args.email else {
        return all_users(config, store, app, output).await;
    };
    let mut known_user = false;
    if !args.describes_identity() {
        match tester::test_user(store, &app.policies, &config.catalog, email.as_str()).await {
            Ok(t) => {
                let single = SingleTest {
                    application: &app.name,
                    tested: Tested::LastSignIn {
                        signed_in_at: t.signed_in_at,
                    },
                    identity: &t.identity,
                    login_method: login_method_name(config, store, t.identity.idp_id).await?,
                    ip: t.ip,
                    country: t.country.as_deref(),
                    outcome: t.evaluation.outcome,
                    allowed: t.evaluation.allowed(),
                    evaluation: &t.evaluation,
                };
                return render(&single, output);
            }
            Err(TesterError::Registry(RegistryError::UnknownUser(_))) => {}
            Err(TesterError::NeverSignedIn(_)) => known_user = true,
            Err(e) => return Err(e.into()),
        }
    }
    let (idp_id, login_method) = first_login_method(config, store).await?;
    let subject = Subject {
        email: email.clone(),
        name: None,
        groups: args.groups.clone(),
        oidc_fields: claims(&args.claims),
        amr: args.amr.clone(),
        idp_id,
        ip: args.ip,
        country: args.country.clone(),
    };
    let identity = subject.identity();
    let evaluation = tester::test_identity(
        &app.policies,
        &config.catalog,
        &identity,
        subject.ip,
        subject.country.as_deref(),
    );
    let single = SingleTest {
        application: &app.name,
        tested: Tested::Described { known_user },
        identity: &identity,
        login_method,
        ip: subject.ip,
        country: subject.country.as_deref(),
        outcome: evaluation.outcome,
        allowed: evaluation.allowed(),
        evaluation: &evaluation,
    };
    render(&single, output)
}

/// Claims from `NAME=VALUE` pairs; a name given more than once holds a list, as a multi-valued
/// claim from an IdP does.
fn claims(pairs: &[(String, String)]) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, value) in pairs {
        let value = Value::String(value.clone());
        match map.get_mut(name) {
            None => {
                map.insert(name.clone(), value);
            }
            Some(Value::Array(list)) => list.push(value),
            Some(single) => *single = Value::Array(vec![single.take(), value]),
        }
    }
    map
}

/// The login method a described identity signs in with, and its name: the first configured
/// one. Its id is the configured one, or the one the gateway generated and recorded; before the
/// gateway has ever started there is neither, and the nil id (which no `login_method` rule can
/// name) stands in.
async fn first_login_method(
    config: &Config,
    store: &dyn Store,
) -> Result<(IdpId, String), CliError> {
    let Some(idp) = config.identity_providers.first() else {
        return Ok((IdpId(Uuid::nil()), "none configured".to_owned()));
    };
    if let Some(id) = idp.id {
        return Ok((IdpId(id), idp.name.clone()));
    }
    Ok(match store.find_login_method_by_name(&idp.name).await? {
        Some(recorded) => (IdpId(recorded.id), idp.name.clone()),
        None => (
            IdpId(Uuid::nil()),
            format!("{} (not yet recorded by the gateway)", idp.name),
        ),
    })
}

/// The name of a login method, for people: the configured one, else the recorded one, else
/// the id.
async fn login_method_name(
    config: &Config,
    store: &dyn Store,
    id: IdpId,
) -> Result<String, CliError> {
    if let Some(idp) = config
        .identity_providers
        .iter()
        .find(|idp| idp.id == Some(id.0))
    {
        return Ok(idp.name.clone());
    }
    let methods = store.list_login_methods().await?;
    Ok(methods
        .into_iter()
        .find(|m| m.id == id.0)
        .map_or_else(|| id.0.to_string(), |m| m.name))
}

/// A decision as the tester words it.
pub(crate) fn verdict(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Allow => "allowed",
        Outcome::Bypass => "allowed (bypass)",
        Outcome::ServiceAuth => "allowed (service auth)",
        Outcome::Deny => "denied (block policy)",
        Outcome::DefaultDeny => "denied (no policy matched)",
        Outcome::NeedsIdentity => "sign-in needed",
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// What the human form of a single test shows, in both modes: the identity tested and the
/// decision, followed by the explanation.
pub(crate) struct Shown<'a> {
    pub application: &'a str,
    pub tested: &'a Tested,
    pub email: &'a str,
    pub login_method: &'a str,
    pub groups: &'a [String],
    pub claims: &'a Map<String, Value>,
    pub amr: &'a [String],
    pub ip: Option<String>,
    pub country: Option<&'a str>,
    pub outcome: Outcome,
    /// The explanation's lines ([`Evaluation`]'s text).
    pub explanation: &'a str,
}

pub(crate) fn single_text(t: &Shown<'_>) -> String {
    let email = t.email;
    let source = match t.tested {
        Tested::LastSignIn { signed_in_at } => {
            format!("{email} (last sign-in, {})", when(*signed_in_at))
        }
        Tested::Described { known_user: true } => {
            format!("{email} (as described: the user has never signed in)")
        }
        Tested::Described { known_user: false } => format!("{email} (as described)"),
    };
    let claims = if t.claims.is_empty() {
        "none".to_owned()
    } else {
        t.claims
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut text = fields(&[
        ("Application", t.application.to_owned()),
        ("Identity", source),
        ("Login method", t.login_method.to_owned()),
        ("Groups", list_or_none(t.groups)),
        ("Claims", claims),
        ("Auth methods", list_or_none(t.amr)),
        ("IP", t.ip.clone().unwrap_or_else(|| "unknown".to_owned())),
        ("Country", t.country.unwrap_or("unknown").to_owned()),
        ("Decision", verdict(t.outcome).to_owned()),
    ]);
    text.push('\n');
    text.push_str(t.explanation);
    text
}

fn render(t: &SingleTest<'_>, output: Output) -> Result<String, CliError> {
    if output == Output::Json {
        return json(t);
    }
    let i = t.identity;
    Ok(single_text(&Shown {
        application: t.application,
        tested: &t.tested,
        email: i.email.as_str(),
        login_method: &t.login_method,
        groups: &i.groups,
        claims: &i.oidc_fields,
        amr: &i.amr,
        ip: t.ip.map(|ip| ip.to_string()),
        country: t.country,
        outcome: t.outcome,
        explanation: &t.evaluation.to_string(),
    }))
}

/// The share `part` of `whole`, in whole percent rounded half up.
fn percent(part: usize, whole: usize) -> usize {
    (part * 200 + whole) / (2 * whole.max(1))
}

async fn all_users(
    config: &Config,
    store: &dyn Store,
    app: &ApplicationConfig,
    output: Output,
) -> Result<String, CliError> {
    let summary = tester::test_all_users(store, &app.policies, &config.catalog).await?;
    if output == Output::Json {
        return json(&serde_json::json!({
            "application": app.name,
            "summary": summary,
        }));
    }
    Ok(summary_text(&app.name, &summary))
}

/// The human form of a test of every user, in both modes.
pub(crate) fn summary_text(app: &str, summary: &tester::Summary) -> String {
    if summary.total == 0 {
        let mut text =
            format!("No user has signed in yet, so there is nobody to test `{app}` against.\n");
        text.push_str(&unreadable_text(&summary.unreadable));
        return text;
    }
    let mut text = format!(
        "{} of {} users ({}%) would be allowed to reach `{app}`; {} ({}%) would be denied.\n\n",
        summary.allowed,
        summary.total,
        percent(summary.allowed, summary.total),
        summary.denied,
        percent(summary.denied, summary.total),
    );
    let mut table = Table::new(&["EMAIL", "DECISION"]);
    for u in &summary.users {
        table.row(vec![u.email.clone(), verdict(u.outcome).to_owned()]);
    }
    text.push_str(&table.render(0));
    text.push_str(&unreadable_text(&summary.unreadable));
    text
}

fn unreadable_text(unreadable: &[String]) -> String {
    if unreadable.is_empty() {
        String::new()
    } else {
        format!(
            "\nNot tested (their last sign-in was stored by another version): {}\n",
            unreadable.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{AdminCommand, Cli, PolicyCommand, execute};
    use crate::tester::tests::{CONFIG, IDP, config, identity, sign_in, store};
    use clap::Parser;

    fn args(words: &[&str]) -> PolicyTestArgs {
        let cli = Cli::try_parse_from(
            ["portcullis", "policy", "test"]
                .into_iter()
                .chain(words.iter().copied()),
        )
        .unwrap();
        match cli.command.admin() {
            Some((_, AdminCommand::Policy(PolicyCommand::Test(args)))) => args,
            _ => unreachable!("`policy test` parses to a policy test"),
        }
    }

    async fn run(config: &Config, store: &dyn Store, words: &[&str], output: Output) -> String {
        let command = AdminCommand::Policy(PolicyCommand::Test(args(words)));
        execute(config, store, &command, output, 0).await.unwrap()
    }

    #[tokio::test]
    async fn a_known_user_is_tested_with_their_last_sign_in() {
        let config = config();
        let store = store().await;
        let s = store.as_ref();
        sign_in(
            s,
            identity("ann@example.com", &["eng"], &["pwd", "mfa"]),
            "10.0.0.8",
            1_700_000_000,
        )
        .await;
        let text = run(&config, s, &["wiki", "ann@example.com"], Output::Human).await;
        for expected in [
            "Application   wiki\n",
            "Identity      ann@example.com (last sign-in, 2023-11-14 22:13 UTC)\n",
            "Login method  Example IdP\n",
            "Groups        eng\n",
            "Auth methods  pwd, mfa\n",
            "IP            10.0.0.8\n",
            "Country       unknown\n",
            "Decision      allowed\n",
            "\naccess allowed by policy \"staff\" (allow, position 2)\n",
            "policy \"no contractors\" (deny, position 1): not matched\n",
        ] {
            assert!(text.contains(expected), "no {expected:?} in\n{text}");
        }

        let as_json: Value = serde_json::from_str(
            &run(&config, s, &["wiki", "ann@example.com"], Output::Json).await,
        )
        .unwrap();
        assert_eq!(as_json["source"], "last_sign_in");
        assert_eq!(as_json["signed_in_at"], 1_700_000_000);
        assert_eq!(as_json["outcome"], "allow");
        assert_eq!(as_json["allowed"], true);
        assert_eq!(as_json["evaluation"]["matched"], 1);
        assert_eq!(as_json["identity"]["email"], "ann@example.com");
    }

    #[tokio::test]
    async fn flags_describe_an_identity_instead() {
        let config = config();
        let store = store().await;
        let s = store.as_ref();
        sign_in(s, identity("ann@example.com", &[], &["mfa"]), "10.0.0.8", 5).await;

        // The known user, but with the attributes given: the flags win.
        let text = run(
            &config,
            s,
            &[
                "wiki",
                "ann@example.com",
                "--group",
                "contractors",
                "--amr",
                "mfa",
                "--ip",
                "10.1.1.1",
            ],
            Output::Human,
        )
        .await;
        assert!(
            text.contains("Identity      ann@example.com (as described)\n"),
            "{text}"
        );
        assert!(
            text.contains("Decision      denied (block policy)\n"),
            "{text}"
        );
        assert!(
            text.contains("access denied by policy \"no contractors\""),
            "{text}"
        );

        // An unknown user with no flags is tested on the email alone.
        let text = run(&config, s, &["wiki", "eve@example.com"], Output::Human).await;
        assert!(
            text.contains("Decision      denied (no policy matched)\n"),
            "{text}"
        );
        assert!(text.contains("Auth methods  none\n"), "{text}");

        let as_json: Value = serde_json::from_str(
            &run(
                &config,
                s,
                &[
                    "wiki",
                    "root@elsewhere.org",
                    "--claim",
                    "roles=viewer",
                    "--claim",
                    "roles=admin",
                    "--country",
                    "de",
                ],
                Output::Json,
            )
            .await,
        )
        .unwrap();
        assert_eq!(as_json["source"], "described");
        assert_eq!(as_json["known_user"], false);
        assert_eq!(as_json["identity"]["oidc_fields"]["roles"][1], "admin");
        assert_eq!(as_json["identity"]["idp_id"], IDP);
        assert_eq!(as_json["login_method"], "Example IdP");
        assert_eq!(as_json["country"], "DE");
        assert_eq!(as_json["outcome"], "allow");
    }

    #[tokio::test]
    async fn all_users_are_summed_up() {
        let config = config();
        let store = store().await;
        let s = store.as_ref();
        let text = run(&config, s, &["wiki", "--all-users"], Output::Human).await;
        assert_eq!(
            text,
            "No user has signed in yet, so there is nobody to test `wiki` against.\n"
        );
        for (email, groups, ip) in [
            ("ann@example.com", &[][..], "10.0.0.1"),
            ("bob@example.com", &["contractors"][..], "10.0.0.2"),
            ("cat@example.com", &[][..], "192.0.2.9"),
        ] {
            sign_in(s, identity(email, groups, &["mfa"]), ip, 5).await;
        }
        let text = run(&config, s, &["wiki", "--all-users"], Output::Human).await;
        assert_eq!(
            text,
            "1 of 3 users (33%) would be allowed to reach `wiki`; 2 (67%) would be denied.\n\
             \n\
             EMAIL            DECISION\n\
             ann@example.com  allowed\n\
             bob@example.com  denied (block policy)\n\
             cat@example.com  denied (no policy matched)\n"
        );
        let as_json: Value =
            serde_json::from_str(&run(&config, s, &["status", "--all-users"], Output::Json).await)
                .unwrap();
        assert_eq!(as_json["application"], "status");
        assert_eq!(as_json["summary"]["allowed"], 3);
        assert_eq!(as_json["summary"]["users"][2]["outcome"], "allow");

        let err = test(&config, s, &args(&["nope", "--all-users"]), Output::Human)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "no application named `nope`; configured: `wiki`, `status`"
        );
    }

    #[tokio::test]
    async fn described_identities_sign_in_with_the_first_login_method() {
        let store = store().await;
        let s = store.as_ref();
        let (id, name) = first_login_method(&config(), s).await.unwrap();
        assert_eq!(
            (id.0.to_string(), name.as_str()),
            (IDP.to_owned(), "Example IdP")
        );

        // Without a configured id, the one the gateway generated and recorded.
        let text = CONFIG.replace(&format!("id = \"{IDP}\"\n"), "");
        let unnamed = Config::from_raw(Config::parse_toml(&text, "t.toml").unwrap(), &[]).unwrap();
        let (id, name) = first_login_method(&unnamed, s).await.unwrap();
        assert_eq!(id, IdpId(Uuid::nil()));
        assert_eq!(name, "Example IdP (not yet recorded by the gateway)");
        let recorded = Uuid::new_v4();
        s.upsert_login_method(&portcullis_store::LoginMethodRecord {
            id: recorded,
            name: "Example IdP".into(),
            kind: "oidc".into(),
            config: serde_json::json!({}),
            read_only: true,
            created_at: 1,
            updated_at: 1,
        })
        .await
        .unwrap();
        let (id, name) = first_login_method(&unnamed, s).await.unwrap();
        assert_eq!((id, name.as_str()), (IdpId(recorded), "Example IdP"));
        assert_eq!(
            login_method_name(&unnamed, s, IdpId(recorded))
                .await
                .unwrap(),
            "Example IdP"
        );
    }

    #[test]
    fn repeated_claims_make_lists_and_percentages_round() {
        let pairs = [("a", "1"), ("b", "x"), ("a", "2"), ("a", "3")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let map = claims(&pairs);
        assert_eq!(map["a"], serde_json::json!(["1", "2", "3"]));
        assert_eq!(map["b"], "x");
        assert_eq!((percent(1, 3), percent(2, 3), percent(1, 8)), (33, 67, 13));
        assert_eq!((percent(0, 5), percent(5, 5)), (0, 100));
    }
}
