//! Private keys that sign tokens, and the certificates that publish their public halves.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaEncoding, RsaKeyPair,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Algorithm, JoseError, Jwk, MAX_TOKEN_LEN, b64};

/// A private key bound to one algorithm, with its public JWK and thumbprint kid computed once.
///
/// Used by the gateway for its own tokens (RS256 by default) and by the demo identity
/// provider, which signs with any of the ten algorithms. Debug output never shows the key.
pub struct SigningKey {
    alg: Algorithm,
    pkcs8: Vec<u8>,
    pair: Pair,
    kid: String,
    jwk: Jwk,
}

enum Pair {
    Rsa(RsaKeyPair, &'static dyn RsaEncoding),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

fn ec_signing(alg: Algorithm) -> Option<(&'static EcdsaSigningAlgorithm, &'static str, usize)> {
    Some(match alg {
        Algorithm::Es256 => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
        Algorithm::Es384 => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
        Algorithm::Es512 => (&signature::ECDSA_P521_SHA512_FIXED_SIGNING, "P-521", 66),
        _ => return None,
    })
}

fn rsa_encoding(alg: Algorithm) -> Option<&'static dyn RsaEncoding> {
    Some(match alg {
        Algorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
        Algorithm::Rs384 => &signature::RSA_PKCS1_SHA384,
        Algorithm::Rs512 => &signature::RSA_PKCS1_SHA512,
        Algorithm::Ps256 => &signature::RSA_PSS_SHA256,
        Algorithm::Ps384 => &signature::RSA_PSS_SHA384,
        Algorithm::Ps512 => &signature::RSA_PSS_SHA512,
        _ => return None,
    })
}

impl SigningKey {
    /// Creates a fresh key for `alg`: RSA 2048 for RS*/PS*, the matching NIST curve for ES*,
    /// Ed25519 for EdDSA. Persist [`SigningKey::pkcs8_der`] to keep it across restarts.
    pub fn generate(alg: Algorithm) -> Result<SigningKey, JoseError> {
        let rng = SystemRandom::new();
        let der = if rsa_encoding(alg).is_some() {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| JoseError::KeyGeneration(alg))?;
            let der = pair.as_der().map_err(|_| JoseError::KeyGeneration(alg))?;
            der.as_ref().to_vec()
        } else if let Some((signing, _, _)) = ec_signing(alg) {
            EcdsaKeyPair::generate_pkcs8(signing, &rng)
                .map_err(|_| JoseError::KeyGeneration(alg))?
                .as_ref()
                .to_vec()
        } else {
            Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| JoseError::KeyGeneration(alg))?
                .as_ref()
                .to_vec()
        };
        SigningKey::from_pkcs8(alg, &der)
    }

    /// Loads an unencrypted PKCS#8 private key (DER) for `alg`. Fails when the key type or
    /// curve does not fit the algorithm, or an RSA key is under 2048 bits.
    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<SigningKey, JoseError> {
        let invalid = |reason: String| JoseError::InvalidPrivateKey { alg, reason };
        let (pair, jwk) = if let Some(encoding) = rsa_encoding(alg) {
            let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| invalid(e.to_string()))?;
            let bits = pair.public_modulus_len() * 8;
            if bits < 2048 {
                return Err(invalid(format!(
                    "RSA key has {bits} bits; at least 2048 are needed"
                )));
            }
            let public = pair.public_key();
            let jwk = Jwk {
                kty: "RSA".into(),
                n: Some(b64::encode(
                    public.modulus().big_endian_without_leading_zero(),
                )),
                e: Some(b64::encode(
                    public.exponent().big_endian_without_leading_zero(),
                )),
                ..Jwk::default()
            };
            (Pair::Rsa(pair, encoding), jwk)
        } else if let Some((signing, crv, size)) = ec_signing(alg) {
            let pair =
                EcdsaKeyPair::from_pkcs8(signing, der).map_err(|e| invalid(e.to_string()))?;
            let point = pair.public_key().as_ref();
            // Uncompressed SEC1 point: 0x04 || x || y.
            if point.len() != 1 + 2 * size {
                return Err(invalid("unexpected public point encoding".into()));
            }
            let jwk = Jwk {
                kty: "EC".into(),
                crv: Some(crv.into()),
                x: Some(b64::encode(&point[1..1 + size])),
                y: Some(b64::encode(&point[1 + size..])),
                ..Jwk::default()
            };
            (Pair::Ec(pair), jwk)
        } else {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map_err(|e| invalid(e.to_string()))?;
            let jwk = Jwk {
                kty: "OKP".into(),
                crv: Some("Ed25519".into()),
                x: Some(b64::encode(pair.public_key().as_ref())),
                ..Jwk::default()
            };
            (Pair::Ed(pair), jwk)
        };
        let kid = jwk.thumbprint_hex()?;
        let jwk = Jwk {
            kid: Some(kid.clone()),
            alg: Some(alg.as_str().into()),
            use_: Some("sig".into()),
            ..jwk
        };
        Ok(SigningKey {
            alg,
            pkcs8: der.to_vec(),
            pair,
            kid,
            jwk,
        })
    }

    /// The private key as PKCS#8 DER, for storage. Secret: never log it.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// RFC 7638 SHA-256 thumbprint of the public key as 64 lowercase hex characters; used as
    /// `kid` in headers and in the published JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK with `kid`, `alg` and `use: "sig"`, ready to publish.
    pub fn public_jwk(&self) -> Jwk {
        self.jwk.clone()
    }

    /// Signs `claims` (which must serialize to a JSON object) with the header
    /// `{"alg", "kid", "typ": "JWT"}` and returns the compact token. Fails rather than
    /// produce a token longer than [`MAX_TOKEN_LEN`], which no verifier here would accept.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, JoseError> {
        let claims =
            serde_json::to_value(claims).map_err(|e| JoseError::Serialize(e.to_string()))?;
        if !claims.is_object() {
            return Err(JoseError::ClaimsNotObject);
        }
        let mut header = Map::new();
        header.insert("alg".into(), Value::String(self.alg.as_str().into()));
        header.insert("kid".into(), Value::String(self.kid.clone()));
        header.insert("typ".into(), Value::String("JWT".into()));
        let token = self.sign_with_header(&header, &claims)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(JoseError::TokenTooLarge {
                len: token.len(),
                max: MAX_TOKEN_LEN,
            });
        }
        Ok(token)
    }

    /// Signs with a caller-supplied header, used as given except that `alg` is added when
    /// absent. Nothing is checked (a header may even claim another alg, or carry `jku`):
    /// tests use this to build hostile tokens that a verifier must refuse.
    pub fn sign_with_header(
        &self,
        header: &Map<String, Value>,
        claims: &Value,
    ) -> Result<String, JoseError> {
        let mut header = header.clone();
        header
            .entry("alg")
            .or_insert_with(|| Value::String(self.alg.as_str().into()));
        let header_json =
            serde_json::to_vec(&header).map_err(|e| JoseError::Serialize(e.to_string()))?;
        let claims_json =
            serde_json::to_vec(claims).map_err(|e| JoseError::Serialize(e.to_string()))?;
        let mut token = b64::encode(&header_json);
        token.push('.');
        token.push_str(&b64::encode(&claims_json));
        let signature = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        token.push_str(&b64::encode(&signature));
        Ok(token)
    }

    /// Raw JWS signature over `message`: PKCS#1 v1.5 or PSS for RSA, fixed-size r||s for
    /// ECDSA (RFC 7518 section 3.4, not DER), 64 bytes for Ed25519.
    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        let failed = |_| JoseError::SigningFailed(self.alg);
        match &self.pair {
            Pair::Rsa(pair, encoding) => {
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(*encoding, &SystemRandom::new(), message, &mut out)
                    .map_err(failed)?;
                Ok(out)
            }
            Pair::Ec(pair) => Ok(pair
                .sign(&SystemRandom::new(), message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            Pair::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// A self-signed X.509 certificate (PEM) around this key's public half, with subject
    /// `CN=<common_name>`, for consumers that want certificates rather than JWKs (Cloudflare's
    /// `public_cert` / `public_certs`). Its validity window is rcgen's fixed default (not tied
    /// to the clock, so this stays pure); consumers use it for the key, not for trust.
    pub fn self_signed_cert_pem(&self, common_name: &str) -> Result<String, JoseError> {
        let cert_err = |e: rcgen::Error| JoseError::Certificate(e.to_string());
        // rcgen picks its own certificate signature algorithm from the key type (RSA keys
        // sign the certificate with PKCS#1 SHA-256 even for PS* keys); that is fine, the
        // certificate only carries the key.
        let key_pair = rcgen::KeyPair::try_from(self.pkcs8.as_slice()).map_err(cert_err)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, common_name);
        params.distinguished_name = name;
        let cert = params.self_signed(&key_pair).map_err(cert_err)?;
        Ok(cert.pem())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}
