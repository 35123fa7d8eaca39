//! The OpenID Connect relying party behind a Portcullis login method.
//!
//! A login method is what Cloudflare Access calls a generic OIDC identity provider: a client id and
//! secret plus the authorization, token and certificate URLs, optionally filled in from a discovery
//! document. This crate turns that configuration into a [`Provider`] that builds authorization
//! requests (`state`, `nonce`, PKCE S256), exchanges the returned code at the token endpoint,
//! validates the ID token against the provider's cached JWKS ([`validate_id_token`]) and maps its
//! claims to the identity Portcullis keeps ([`MappedIdentity`]: email, groups, `oidc_fields`).
//!
//! It deliberately knows nothing about HTTP servers, cookies or sessions: the caller stores the
//! [`PendingLogin`] between the redirect and the callback, checks `state`, and decides what a
//! mapped identity may reach. It does not call the userinfo endpoint (Cloudflare's generic OIDC
//! method takes every attribute from the ID token) and it does not use access or refresh tokens.

mod authorize;
mod claims;
mod config;
mod discovery;
mod error;
mod http;
mod jwks;
mod provider;
mod validate;

#[cfg(test)]
mod test_server;

pub use authorize::{AuthorizationRequest, PendingLogin, pkce_challenge};
pub use claims::{MappedIdentity, map_claims};
pub use config::{ProviderConfig, TokenAuthMethod};
pub use discovery::{DiscoveryDocument, Metadata};
pub use error::{Endpoint, OidcError};
pub use jwks::JwksCache;
pub use provider::{ExchangeStep, ExchangeTrace, Provider};
pub use validate::{IdTokenClaims, ValidationParams, validate_id_token};

/// Re-exported so callers can name algorithms without depending on `portcullis-jose` directly.
pub use portcullis_jose::Algorithm;
