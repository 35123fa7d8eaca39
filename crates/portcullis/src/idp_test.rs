//! The "Test" of a login method: the real login flow against the identity provider, ending on a
//! page that says "Your connection works!" with the identity Portcullis built and the ID token's
//! claims (secret values masked), or names the step that failed (discovery, authorization, token
//! exchange, signature, claims, email) with a concrete diagnosis.
//!
//! A test starts from a sealed, ten-minute ticket that an administrator gets from the admin API
//! (`POST …/identity_providers/<id>/test`); it never creates a session or a user, and it shows
//! only the identity of whoever signs in at the IdP during the test.

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Response, StatusCode};
use portcullis_oidc::{Endpoint, ExchangeStep, OidcError, PendingLogin, ProviderConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::gateway::{Gateway, LoginMethod};
use crate::proxy::RequestContext;
use crate::respond::{self, Failure};

const TICKET_SEAL: &str = "idp-test-ticket";
const TICKET_TTL: i64 = 600;

#[derive(Serialize, Deserialize)]
struct Ticket {
    idp: Uuid,
    expires: i64,
}

/// The URL that runs a test of the login method (valid ten minutes).
pub fn ticket_url(gw: &Gateway, idp: Uuid) -> Result<String, crate::seal::SealError> {
    let ticket = Ticket {
        idp,
        expires: gw.clock.now() + TICKET_TTL,
    };
    let plain = serde_json::to_vec(&ticket).unwrap_or_default();
    let sealed = gw.sealer.seal(TICKET_SEAL, &plain)?;
    Ok(gw.team_url(&format!("/cdn-cgi/access/test/{sealed}")))
}

/// The step of a test, as the page names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Discovery,
    Authorization,
    TokenExchange,
    Signature,
    Claims,
    Email,
}

impl Step {
    fn title(self) -> &'static str {
        match self {
            Step::Discovery => "discovery",
            Step::Authorization => "authorization",
            Step::TokenExchange => "token exchange",
            Step::Signature => "signature",
            Step::Claims => "claims",
            Step::Email => "email",
        }
    }
}

/// `GET /cdn-cgi/access/test/<ticket>`: checks the ticket and the provider's metadata, then sends
/// the browser to the IdP like a real login.
pub async fn start(gw: &Gateway, ctx: &RequestContext, ticket: &str) -> Response<Body> {
    let ticket = gw
        .sealer
        .open(TICKET_SEAL, ticket)
        .ok()
        .and_then(|plain| serde_json::from_slice::<Ticket>(&plain).ok())
        .filter(|t| t.expires > gw.clock.now());
    let Some(ticket) = ticket else {
        return respond::failure(
            &Failure::BadRequest(
                "this test link has expired or is not valid; start the test again".into(),
            ),
            true,
            &ctx.request_id,
        );
    };
    let method = gw
        .snapshot
        .load()
        .login_method(portcullis_core::IdpId(ticket.idp))
        .cloned();
    let Some(method) = method else {
        return respond::failure(&Failure::NotFound, true, &ctx.request_id);
    };
    if let Err(error) = method.provider.metadata().await {
        let (step, lines) = diagnose(&error, None, method.provider.config(), gw.clock.now());
        return page(gw, ctx, &method, Err((step, lines)), None);
    }
    crate::access::start_flow(gw, ctx, &method, String::new(), String::new(), true).await
}

/// The callback of a test login: the code exchange and every check, traced.
pub async fn finish(
    gw: &Gateway,
    ctx: &RequestContext,
    uri: &http::Uri,
    pending: &PendingLogin,
    method: &LoginMethod,
) -> Response<Body> {
    let param = |name: &str| {
        uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        })
    };
    let config = method.provider.config();
    if let Some(error) = param("error") {
        let mut lines = vec![format!("The identity provider answered `{error}`.")];
        lines.extend(param("error_description").map(|d| format!("Its description: {d}")));
        lines.extend(authorization_hint(&error, gw, config));
        return page(gw, ctx, method, Err((Step::Authorization, lines)), None);
    }
    let Some(code) = param("code") else {
        let lines =
            vec!["The identity provider came back without a `code` (nor an `error`).".into()];
        return page(gw, ctx, method, Err((Step::Authorization, lines)), None);
    };
    let callback = gw.team_url("/cdn-cgi/access/callback");
    let trace = method
        .provider
        .exchange_code_traced(&code, &callback, pending, gw.clock.system_time())
        .await;
    let claims_shown = trace
        .id_token
        .as_deref()
        .and_then(unverified_claims)
        .map(mask);
    let now = gw.clock.now();
    let claims = match trace.result {
        Ok(claims) => claims,
        Err(error) => {
            let (mut step, lines) = diagnose(&error, trace.id_token.as_deref(), config, now);
            if trace.step == ExchangeStep::TokenExchange && step == Step::Claims {
                step = Step::TokenExchange;
            }
            return page(gw, ctx, method, Err((step, lines)), claims_shown);
        }
    };
    match method.provider.map_identity(&claims) {
        Ok(mapped) => {
            let identity = json!({
                "email": mapped.email.to_string(),
                "name": mapped.name,
                "groups": mapped.groups,
                "oidc_fields": mapped.oidc_fields,
                "idp": {"id": method.id.0, "type": method.kind()},
                "amr": mapped.amr,
            });
            page(gw, ctx, method, Ok(identity), claims_shown)
        }
        Err(error) => {
            let (step, lines) = diagnose(&error, trace.id_token.as_deref(), config, now);
            page(gw, ctx, method, Err((step, lines)), claims_shown)
        }
    }
}

fn authorization_hint(error: &str, gw: &Gateway, config: &ProviderConfig) -> Option<String> {
    Some(match error {
        "invalid_client" | "unauthorized_client" => format!(
            "Check the client id (`{}`) and that this application may use the authorization code flow at the IdP.",
            config.client_id
        ),
        "invalid_request" | "redirect_uri_mismatch" => format!(
            "Check the redirect URI registered at the IdP: it must be exactly {}",
            gw.team_url("/cdn-cgi/access/callback")
        ),
        "invalid_scope" => format!(
            "The IdP refused the scopes {:?}; `openid` is required, `email` and `profile` usually are.",
            config.scopes
        ),
        "access_denied" => {
            "The user, or a rule at the IdP, refused the sign-in (e.g. not assigned to the application).".into()
        }
        _ => return None,
    })
}

/// The header and claims of an ID token, read without verifying it (to explain a failure).
fn unverified_part(token: &str, index: usize) -> Option<Map<String, Value>> {
    let part = token.split('.').nth(index)?;
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    unverified_part(token, 1)
}

/// Claim values that are secrets, or that would let a reader replay parts of the login.
fn is_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["nonce", "at_hash", "c_hash", "s_hash", "sid"].contains(&lower.as_str())
        || ["token", "secret", "password", "code"]
            .iter()
            .any(|w| lower.contains(w))
}

fn mask(mut claims: Map<String, Value>) -> Map<String, Value> {
    for (name, value) in claims.iter_mut() {
        if is_secret(name) {
            *value = Value::String("•••••• (masked)".into());
        }
    }
    claims
}

fn int_claim(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

/// Which step failed and why, in words an administrator can act on. Never includes a secret.
pub fn diagnose(
    error: &OidcError,
    raw: Option<&str>,
    config: &ProviderConfig,
    now: i64,
) -> (Step, Vec<String>) {
    let claims = raw.and_then(unverified_claims);
    let skew = config.clock_skew.as_secs();
    let clock = |claim: &str| -> Option<String> {
        let at = int_claim(claims.as_ref()?, claim)?;
        let diff = at - now;
        Some(format!(
            "The token's `{claim}` is {} this gateway's time ({} s {}); the allowed clock skew is {skew} s. Check the clocks (NTP) of the IdP and of this machine.",
            at,
            diff.abs(),
            if diff > 0 {
                "in the future"
            } else {
                "in the past"
            }
        ))
    };
    let endpoint_step = |endpoint: &Endpoint| match endpoint {
        Endpoint::Discovery => Step::Discovery,
        Endpoint::Token => Step::TokenExchange,
        Endpoint::Jwks => Step::Signature,
    };
    let mut lines = vec![error.to_string()];
    let step = match error {
        OidcError::Config { .. } => Step::Discovery,
        OidcError::Http { endpoint, .. }
        | OidcError::ResponseTooLarge { endpoint, .. }
        | OidcError::InvalidResponse { endpoint, .. } => endpoint_step(endpoint),
        OidcError::HttpStatus {
            endpoint,
            oauth_error,
            ..
        } => {
            if *endpoint == Endpoint::Token {
                match oauth_error.as_deref() {
                    Some("invalid_client") | Some("unauthorized_client") => lines.push(format!(
                        "The IdP refused the client credentials: check client_id `{}` and the client secret, and how they are sent (token_endpoint_auth_method is {:?}).",
                        config.client_id, config.token_auth
                    )),
                    Some("invalid_grant") => lines.push(
                        "The IdP refused the code: check that the redirect URI registered there is exactly this gateway's callback, and PKCE (pkce_enabled) matches what the IdP expects.".into(),
                    ),
                    _ => {}
                }
            }
            endpoint_step(endpoint)
        }
        OidcError::IssuerMismatch { .. } => {
            lines.push("Set `issuer` to what the provider's discovery document says, or fix the discovery URL.".into());
            Step::Discovery
        }
        OidcError::JwksUnavailable { .. } | OidcError::UnknownSigningKey { .. } => {
            lines.push("Check certs_url (or the discovery document's jwks_uri): the key that signed the ID token must be published there.".into());
            Step::Signature
        }
        OidcError::Signature(_) => {
            let alg = raw
                .and_then(|t| unverified_part(t, 0))
                .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_owned));
            if let Some(alg) = alg {
                let accepted: Vec<&str> = config.allowed_algs.iter().map(|a| a.as_str()).collect();
                if !accepted.contains(&alg.as_str()) {
                    lines = vec![format!(
                        "The ID token is signed with {alg}, which is not supported; Portcullis accepts {}. Configure the IdP application to sign ID tokens with one of them (RS256 is the most common).",
                        accepted.join(", ")
                    )];
                }
            }
            Step::Signature
        }
        OidcError::Issuer { expected, found } => {
            lines = vec![format!(
                "The issuer was {}, expected `{expected}`. Set `issuer` (or the discovery URL) to the IdP's real issuer.",
                found
                    .as_deref()
                    .map(|f| format!("`{f}`"))
                    .unwrap_or_else(|| "missing".into())
            )];
            Step::Claims
        }
        OidcError::Audience => {
            let aud = claims
                .as_ref()
                .and_then(|c| c.get("aud"))
                .map(Value::to_string)
                .unwrap_or_else(|| "missing".into());
            lines.push(format!(
                "The token's audience is {aud}; it must contain the client id `{}`.",
                config.client_id
            ));
            Step::Claims
        }
        OidcError::Expired => {
            lines.extend(clock("exp"));
            Step::Claims
        }
        OidcError::NotYetValid => {
            lines.extend(clock("nbf"));
            Step::Claims
        }
        OidcError::IssuedInFuture => {
            lines.extend(clock("iat"));
            Step::Claims
        }
        OidcError::Nonce => {
            lines.push("The login was finished in another browser, or the IdP does not return the nonce it was sent.".into());
            Step::Claims
        }
        OidcError::MissingIdToken => {
            lines.push("The token endpoint answered without an id_token: make sure the `openid` scope is requested and the IdP application is an OpenID Connect one.".into());
            Step::TokenExchange
        }
        OidcError::MissingEmail { tried, present } => {
            lines = vec![format!(
                "No {} claim; the ID token has: {}. Set the Email claim (`email_claim_name`) to one of them, or have the IdP add an `email` claim (often the `email` scope).",
                tried
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(" or "),
                present.join(", ")
            )];
            Step::Email
        }
        OidcError::AuthorizedParty { .. }
        | OidcError::MissingClaim { .. }
        | OidcError::InvalidClaim { .. } => Step::Claims,
        OidcError::PendingLogin { .. } | OidcError::Random => Step::Authorization,
    };
    (step, lines)
}

#[derive(askama::Template)]
#[template(path = "test.html")]
struct TestPage<'a> {
    brand: &'a respond::Branding,
    method_name: &'a str,
    ok: bool,
    step: &'a str,
    lines: Vec<String>,
    identity: String,
    claims: String,
    request_id: &'a str,
}

fn page(
    gw: &Gateway,
    ctx: &RequestContext,
    method: &LoginMethod,
    outcome: Result<Value, (Step, Vec<String>)>,
    claims: Option<Map<String, Value>>,
) -> Response<Body> {
    use askama::Template;
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let claims = claims
        .map(|c| pretty(&Value::Object(c)))
        .unwrap_or_default();
    let (ok, step, lines, identity) = match &outcome {
        Ok(identity) => (true, "", Vec::new(), pretty(identity)),
        Err((step, lines)) => (false, step.title(), lines.clone(), String::new()),
    };
    tracing::info!(request_id = %ctx.request_id, login_method = %method.name, ok, step, "login method test");
    let body = TestPage {
        brand: &gw.branding,
        method_name: &method.name,
        ok,
        step,
        lines,
        identity,
        claims,
        request_id: &ctx.request_id,
    }
    .render();
    match body {
        Ok(html) => respond::html_page(StatusCode::OK, html, &ctx.request_id),
        Err(_) => respond::failure(&Failure::Internal, true, &ctx.request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_client_is_named_whatever_description_the_idp_adds() {
        let config = ProviderConfig::new("portcullis", "wrong");
        for description in [None, Some("client authentication failed".to_owned())] {
            let error = OidcError::HttpStatus {
                endpoint: Endpoint::Token,
                status: 401,
                oauth_error: Some("invalid_client".into()),
                error_description: description.clone(),
            };
            let (_, lines) = diagnose(&error, None, &config, 0);
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with("The IdP refused the client credentials")),
                "{description:?}: {lines:?}"
            );
        }
    }

    #[test]
    fn secret_claims_are_masked_others_kept() {
        let mut claims = Map::new();
        claims.insert("nonce".into(), json!("n-123"));
        claims.insert("at_hash".into(), json!("h"));
        claims.insert("refresh_token_hint".into(), json!("x"));
        claims.insert("email".into(), json!("a@example.com"));
        let masked = mask(claims);
        assert_eq!(masked["email"], "a@example.com");
        for k in ["nonce", "at_hash", "refresh_token_hint"] {
            assert!(masked[k].as_str().unwrap().contains("masked"), "{k}");
        }
    }
}
