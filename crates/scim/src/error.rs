//! The one error type of the crate and its RFC 7644 §3.12 JSON rendering.
//!
//! Every failure the protocol layer can detect is a [`ScimError`] that already carries the HTTP
//! status and `scimType` a SCIM client expects, so the HTTP adapter has a single mapping: send
//! `status` with [`ScimError::to_body`] as an `application/scim+json` body.

use serde_json::{Value, json};

/// URN of the SCIM error message schema (RFC 7644 §3.12).
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` detail codes of RFC 7644 §3.12, telling a client which kind of 400 (or 409,
/// 412) it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScimType {
    /// The filter syntax was invalid or the filter could not be evaluated.
    InvalidFilter,
    /// The filter would return more results than the server is willing to return.
    TooMany,
    /// A value is already in use (for example a duplicate `userName`).
    Uniqueness,
    /// The request tried to change a read-only or immutable attribute.
    Mutability,
    /// The request body was not a valid SCIM message.
    InvalidSyntax,
    /// A PATCH `path` was malformed.
    InvalidPath,
    /// A PATCH `path` matched nothing where a match was required.
    NoTarget,
    /// A value was missing, of the wrong type or otherwise unacceptable.
    InvalidValue,
    /// The protocol version was not supported.
    InvalidVers,
    /// The request carried sensitive data in the URI.
    Sensitive,
}

impl ScimType {
    /// The wire spelling used in the `scimType` member.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }
}

impl std::fmt::Display for ScimType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol error as a SCIM client should see it: HTTP status, optional `scimType` and a
/// human-readable detail that names what was wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SCIM error {status}{}: {detail}", scim_type.map(|t| format!(" ({t})")).unwrap_or_default())]
pub struct ScimError {
    /// HTTP status code to answer with.
    pub status: u16,
    /// RFC 7644 detail code, for the statuses that define one.
    pub scim_type: Option<ScimType>,
    /// Explanation for the administrator reading the IdP's provisioning log.
    pub detail: String,
}

impl ScimError {
    /// An error with an explicit status, for the cases the named constructors do not cover.
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    /// 400 `invalidFilter`: a filter that does not parse or cannot be evaluated.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }

    /// 400 `invalidSyntax`: a body that is not the SCIM message it claims to be.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }

    /// 400 `invalidPath`: a malformed PATCH path.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }

    /// 400 `invalidValue`: a missing required value or a value of the wrong type.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }

    /// 400 `noTarget`: a PATCH path that selected nothing where something was required.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }

    /// 400 `mutability`: an attempt to change a read-only or immutable attribute.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }

    /// 400 `tooMany`: a query whose result set exceeds what the server returns.
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::TooMany, detail)
    }

    /// 409 `uniqueness`: a value that must be unique is already taken.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }

    /// 404: no `resource` (for example "User") with this `id`.
    pub fn not_found(resource: &str, id: &str) -> Self {
        Self::new(404, None, format!("{resource} {id} not found"))
    }

    /// 412: the `If-Match` precondition did not hold; the client must re-read the resource.
    pub fn precondition_failed() -> Self {
        Self::new(
            412,
            None,
            "the resource has changed since the version given in If-Match",
        )
    }

    /// 413: the request body (or the number of member values in it) exceeds `limit`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            None,
            format!("the request exceeds the limit of {limit} bytes"),
        )
    }

    /// 413: a group change carries more member values than one request may.
    pub fn too_many_members(limit: usize) -> Self {
        Self::new(
            413,
            None,
            format!("a request may change at most {limit} group members; split the change"),
        )
    }

    /// 401: the bearer token was missing or wrong.
    pub fn unauthorized() -> Self {
        Self::new(
            401,
            None,
            "authorization failure: a valid bearer token is required",
        )
    }

    /// 501: a SCIM feature this server does not implement (for example `/Bulk`).
    pub fn not_implemented(feature: &str) -> Self {
        Self::new(501, None, format!("{feature} is not supported"))
    }

    /// The RFC 7644 §3.12 error body; `status` is a string there, as the RFC's examples show.
    pub fn to_body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(map)) = (self.scim_type, body.as_object_mut()) {
            map.insert("scimType".into(), Value::String(t.as_str().into()));
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_follows_rfc7644_error_schema() {
        let body = ScimError::invalid_filter("unexpected ')' at byte 3").to_body();
        assert_eq!(body["schemas"][0], ERROR_SCHEMA);
        assert_eq!(body["status"], "400");
        assert_eq!(body["scimType"], "invalidFilter");
        assert_eq!(body["detail"], "unexpected ')' at byte 3");
    }

    #[test]
    fn statuses_without_scim_type_omit_it() {
        let body = ScimError::not_found("User", "abc").to_body();
        assert_eq!(body["status"], "404");
        assert!(body.get("scimType").is_none());
        assert_eq!(ScimError::precondition_failed().status, 412);
        assert_eq!(ScimError::payload_too_large(10).status, 413);
        assert_eq!(ScimError::uniqueness("taken").status, 409);
        assert_eq!(
            ScimError::uniqueness("taken").to_body()["scimType"],
            "uniqueness"
        );
    }

    #[test]
    fn display_names_status_and_type() {
        let text = ScimError::mutability("id is read-only").to_string();
        assert_eq!(text, "SCIM error 400 (mutability): id is read-only");
    }
}
