//! From validated ID-token claims to the identity Portcullis keeps (reference §1.4–1.6): email
//! with its fallbacks, IdP groups, custom claims for `oidc_fields`, name and `amr`.

use serde_json::{Map, Value};

use crate::error::OidcError;
use crate::validate::IdTokenClaims;

/// The identity a login produced, before the caller normalises the email and stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedIdentity {
    /// The email as the provider sent it (not lower-cased or otherwise normalised).
    pub email: String,
    /// The name of the claim that supplied `email` (the configured one, `email` or `upn`).
    pub email_claim: String,
    /// A display name, when the token carries one.
    pub name: Option<String>,
    /// The provider's stable subject identifier (`sub`).
    pub subject: String,
    /// The issuer (`iss`), when the token names one; together with `subject` it identifies the account.
    pub issuer: Option<String>,
    /// IdP groups, from the claim named `groups` in any letter case.
    pub groups: Vec<String>,
    /// The configured custom claims the token carried, values as sent (arrays stay arrays).
    pub oidc_fields: Map<String, Value>,
    /// Authentication methods references (`amr`), when sent.
    pub amr: Vec<String>,
}

/// Maps validated claims to an identity.
///
/// `email_claim_name` is tried first, then `email`, then `upn`; the first holding a non-empty
/// string wins. Without one the login fails with [`OidcError::MissingEmail`], which lists the
/// names tried and the names (never the values) present. `custom_claims` are copied to
/// `oidc_fields` when present, except a `groups` entry, which only feeds `groups`.
pub fn map_claims(
    claims: &IdTokenClaims,
    email_claim_name: &str,
    custom_claims: &[String],
) -> Result<MappedIdentity, OidcError> {
    let claims = &claims.0;

    let mut tried: Vec<String> = Vec::new();
    for name in [email_claim_name, "email", "upn"] {
        if !name.is_empty() && !tried.iter().any(|t| t == name) {
            tried.push(name.to_owned());
        }
    }
    let found = tried.iter().find_map(|name| {
        non_empty_str(claims.get(name)).map(|email| (name.clone(), email.to_owned()))
    });
    let Some((email_claim, email)) = found else {
        let mut present: Vec<String> = claims.keys().cloned().collect();
        present.sort();
        return Err(OidcError::MissingEmail { tried, present });
    };

    let oidc_fields = custom_claims
        .iter()
        .filter(|name| !name.eq_ignore_ascii_case("groups"))
        .filter_map(|name| claims.get(name).map(|v| (name.clone(), v.clone())))
        .collect();

    Ok(MappedIdentity {
        email,
        email_claim,
        name: display_name(claims),
        subject: claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        issuer: claims.get("iss").and_then(Value::as_str).map(str::to_owned),
        groups: groups(claims),
        oidc_fields,
        amr: string_list(claims.get("amr")),
    })
}

fn non_empty_str(value: Option<&Value>) -> Option<&str> {
    value
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// `name`, else `given_name family_name` (whichever exist), else `preferred_username`.
fn display_name(claims: &Map<String, Value>) -> Option<String> {
    if let Some(name) = non_empty_str(claims.get("name")) {
        return Some(name.to_owned());
    }
    let parts: Vec<&str> = ["given_name", "family_name"]
        .iter()
        .filter_map(|c| non_empty_str(claims.get(*c)))
        .collect();
    if !parts.is_empty() {
        return Some(parts.join(" "));
    }
    non_empty_str(claims.get("preferred_username")).map(str::to_owned)
}

/// The claim named `groups` regardless of case (Cloudflare: "the naming must match exactly (case
/// insensitive)"). An exact `groups` wins if a token carries several spellings; otherwise the
/// first spelling in sorted order, so the choice does not depend on JSON member order.
fn groups(claims: &Map<String, Value>) -> Vec<String> {
    let value = claims.get("groups").or_else(|| {
        let mut spellings: Vec<&String> = claims
            .keys()
            .filter(|k| k.eq_ignore_ascii_case("groups"))
            .collect();
        spellings.sort();
        spellings.first().and_then(|k| claims.get(k.as_str()))
    });
    string_list(value)
}

/// An array of strings (non-strings skipped) or a single string.
fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(v: Value) -> IdTokenClaims {
        let Value::Object(map) = v else {
            unreachable!()
        };
        IdTokenClaims(map)
    }

    fn map(v: Value) -> Result<MappedIdentity, OidcError> {
        map_claims(&claims(v), "email", &[])
    }

    #[test]
    fn standard_claims_map_to_an_identity() {
        let id = map_claims(
            &claims(json!({
                "iss": "https://idp", "sub": "u-1", "email": "Ann@Example.com", "name": "Ann Smith",
                "groups": ["admins", "staff"], "amr": ["pwd", "mfa"], "employee_id": "E-7",
                "roles": ["a", "b"], "unlisted": "x"
            })),
            "email",
            &["employee_id".into(), "roles".into(), "absent".into()],
        )
        .unwrap();
        assert_eq!(id.email, "Ann@Example.com");
        assert_eq!(id.email_claim, "email");
        assert_eq!(id.name.as_deref(), Some("Ann Smith"));
        assert_eq!(id.subject, "u-1");
        assert_eq!(id.issuer.as_deref(), Some("https://idp"));
        assert_eq!(id.groups, ["admins", "staff"]);
        assert_eq!(id.amr, ["pwd", "mfa"]);
        assert_eq!(
            Value::Object(id.oidc_fields),
            json!({"employee_id": "E-7", "roles": ["a", "b"]})
        );
    }

    #[test]
    fn configured_email_claim_comes_first() {
        let id = map_claims(
            &claims(json!({"sub": "s", "mail": "work@example.com", "email": "home@example.com"})),
            "mail",
            &[],
        )
        .unwrap();
        assert_eq!(id.email, "work@example.com");
        assert_eq!(id.email_claim, "mail");
    }

    #[test]
    fn email_falls_back_to_email_then_upn() {
        let id = map_claims(
            &claims(json!({"sub": "s", "email": "e@example.com", "upn": "u@example.com"})),
            "mail",
            &[],
        )
        .unwrap();
        assert_eq!(
            (id.email.as_str(), id.email_claim.as_str()),
            ("e@example.com", "email")
        );

        let id = map_claims(
            &claims(json!({"sub": "s", "mail": "", "email": 5, "upn": "u@example.com"})),
            "mail",
            &[],
        )
        .unwrap();
        assert_eq!(
            (id.email.as_str(), id.email_claim.as_str()),
            ("u@example.com", "upn")
        );
    }

    #[test]
    fn missing_email_lists_tried_and_present_claim_names_but_no_values() {
        let err = map_claims(
            &claims(json!({"sub": "s", "zeta": "secret-value", "alpha": 1, "mail": "  "})),
            "mail",
            &[],
        )
        .unwrap_err();
        let OidcError::MissingEmail { tried, present } = &err else {
            panic!("{err}")
        };
        assert_eq!(tried, &["mail", "email", "upn"]);
        assert_eq!(present, &["alpha", "mail", "sub", "zeta"]);
        assert!(!err.to_string().contains("secret-value"));

        let OidcError::MissingEmail { tried, .. } = map(json!({"sub": "s"})).unwrap_err() else {
            panic!()
        };
        assert_eq!(
            tried,
            ["email", "upn"],
            "the default claim is not tried twice"
        );
    }

    #[test]
    fn groups_claim_is_found_in_any_case_and_stays_out_of_oidc_fields() {
        for name in ["groups", "Groups", "GROUPS"] {
            let id = map_claims(
                &claims(json!({"sub": "s", "email": "a@b", name: ["g1", "g2"]})),
                "email",
                &["Groups".into(), "groups".into()],
            )
            .unwrap();
            assert_eq!(id.groups, ["g1", "g2"], "{name}");
            assert!(id.oidc_fields.is_empty(), "{name}: {:?}", id.oidc_fields);
        }
        let id = map(json!({"sub": "s", "email": "a@b", "groups": "solo"})).unwrap();
        assert_eq!(id.groups, ["solo"]);
        let id =
            map(json!({"sub": "s", "email": "a@b", "Groups": ["x"], "groups": ["y"]})).unwrap();
        assert_eq!(id.groups, ["y"], "the exact spelling wins");
        let id = map(json!({"sub": "s", "email": "a@b", "groups": ["ok", 3, null]})).unwrap();
        assert_eq!(id.groups, ["ok"]);
        assert!(
            map(json!({"sub": "s", "email": "a@b"}))
                .unwrap()
                .groups
                .is_empty()
        );
    }

    #[test]
    fn custom_claims_keep_their_json_value() {
        let id = map_claims(
            &claims(json!({"sub": "s", "email": "a@b", "oid": "54eb", "levels": [1, 2], "org": {"id": 3}, "flag": false})),
            "email",
            &["oid".into(), "levels".into(), "org".into(), "flag".into(), "OID".into()],
        )
        .unwrap();
        assert_eq!(
            Value::Object(id.oidc_fields),
            json!({"oid": "54eb", "levels": [1, 2], "org": {"id": 3}, "flag": false})
        );
    }

    #[test]
    fn name_falls_back_to_given_and_family_name_then_preferred_username() {
        let name = |v| map(v).unwrap().name;
        assert_eq!(
            name(json!({"sub": "s", "email": "a@b", "name": "Full", "given_name": "G"})).as_deref(),
            Some("Full")
        );
        assert_eq!(
            name(json!({"sub": "s", "email": "a@b", "given_name": "Ann", "family_name": "Smith"}))
                .as_deref(),
            Some("Ann Smith")
        );
        assert_eq!(
            name(json!({"sub": "s", "email": "a@b", "name": "", "family_name": "Smith"}))
                .as_deref(),
            Some("Smith")
        );
        assert_eq!(
            name(json!({"sub": "s", "email": "a@b", "preferred_username": "ann"})).as_deref(),
            Some("ann")
        );
        assert_eq!(name(json!({"sub": "s", "email": "a@b"})), None);
    }

    #[test]
    fn amr_is_a_list_of_strings() {
        assert_eq!(
            map(json!({"sub": "s", "email": "a@b", "amr": ["otp", 1]}))
                .unwrap()
                .amr,
            ["otp"]
        );
        assert!(
            map(json!({"sub": "s", "email": "a@b", "amr": {"x": 1}}))
                .unwrap()
                .amr
                .is_empty()
        );
    }
}
