//! JOSE for Portcullis: compact JWS verification and signing, JWK/JWKS handling, and
//! self-signed X.509 certificates for our public keys, all on aws-lc-rs.
//!
//! The OIDC relying party verifies identity providers' ID tokens with [`verify`] against a
//! [`KeySet`] built from their JWKS; the gateway signs its Cloudflare-compatible tokens with a
//! [`SigningKey`] and publishes [`SigningKey::public_jwk`] and
//! [`SigningKey::self_signed_cert_pem`]. Only the ten asymmetric algorithms of [`Algorithm`]
//! exist: `none` and HMAC are refused by construction, and a token never chooses its own key
//! (`jwk`, `jku`, `x5u`, `x5c` headers are refused).
//!
//! Deliberately not here: I/O of any kind (fetching a JWKS is the caller's job), claim
//! validation (`exp`, `nbf`, `iss`, `aud` are checked by callers, who own the clock),
//! encryption (JWE), and the JSON serialization of JWS.

#![forbid(unsafe_code)]

mod alg;
mod b64;
mod error;
mod jwk;
mod jws;
mod keyset;
mod signing;

#[cfg(test)]
mod tests;

pub use alg::Algorithm;
pub use error::{JoseError, Segment};
pub use jwk::{Jwk, JwkSet};
pub use jws::{Header, MAX_TOKEN_LEN, Verified, decode_header, verify};
pub use keyset::KeySet;
pub use signing::SigningKey;
