//! The identity a login produced.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{Email, IdpId};

/// Who signed in, as built from the identity provider's claims at login.
///
/// Policies are evaluated against it once per login (and again when an app session is renewed);
/// get-identity and the app token's `custom` claim are derived from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The verified email (from the login method's email claim).
    pub email: Email,
    /// Display name, when the IdP sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The IdP's `sub` for this user.
    pub subject: String,
    /// The IdP groups: the claim named `groups` (any case), one entry per group.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The configured custom claims, by claim name; arrays stay arrays (multi-record claims).
    #[serde(default)]
    pub oidc_fields: Map<String, Value>,
    /// Authentication methods (RFC 8176 `amr`) reported by the IdP.
    #[serde(default)]
    pub amr: Vec<String>,
    /// The login method that authenticated the user.
    pub idp_id: IdpId,
    /// The login method's type as get-identity reports it (e.g. `oidc`).
    pub idp_type: String,
}
