//! The two throwaway services behind `portcullis demo` and the integration tests: a demo OpenID
//! Connect identity provider and a demo origin that shows the identity it received.
//!
//! The identity provider is a real one (discovery, JWKS, authorization-code flow with PKCE,
//! client authentication, signed ID tokens, userinfo), so the gateway meets it exactly as it would
//! meet a production IdP; tests reach into it through hooks to make it misbehave. The origin echoes
//! requests back, as a page for people and as JSON for tests.
//!
//! Neither is for production: users, passwords and keys live in memory, the login form lists the
//! passwords, and the origin prints tokens without verifying them. Nothing here is used on the
//! gateway's own request path.

mod html;
mod idp;
mod origin;

pub use html::escape as html_escape;
pub use idp::{
    ACCESS_TOKEN_LIFETIME, CODE_LIFETIME, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DemoIdp, DemoUser,
    ID_TOKEN_LIFETIME, IdTokenHook, IdpOptions, demo_users,
};
pub use origin::{MAX_ECHO_BODY, origin_router};
pub use portcullis_jose::{Algorithm, JwkSet, SigningKey};

/// Why the demo identity provider could not be created.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// An [`IdpOptions`] field does not make sense; `field` names it.
    #[error("demo identity provider option `{field}`: {reason}")]
    InvalidOption {
        /// The offending field of [`IdpOptions`].
        field: &'static str,
        /// What is wrong and what would be valid.
        reason: String,
    },
    /// Generating or using the signing key failed.
    #[error("demo identity provider signing key: {0}")]
    Key(#[from] portcullis_jose::JoseError),
}

/// Serves `router` on `listener` until the task is dropped or the listener fails.
///
/// Called by `portcullis demo` and by the test kit for each demo service. Returns only on an I/O
/// error of the listener. WebSocket upgrades work through it.
pub async fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}
