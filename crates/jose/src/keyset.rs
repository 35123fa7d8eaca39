//! Public keys parsed once into verification-ready form.

use std::fmt;

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};

use crate::alg::KeyFamily;
use crate::{Algorithm, JoseError, Jwk, JwkSet, b64};

/// RSA moduli below this are refused (RFC 7518 section 3.3 asks for at least 2048 bits).
const RSA_MIN_BITS: usize = 2048;
/// The largest modulus aws-lc-rs verifies with; bigger keys would only fail later.
const RSA_MAX_BITS: usize = 8192;

/// A set of public keys that tokens can be verified against, e.g. an identity provider's
/// JWKS or the gateway's own current and previous keys.
///
/// Keys are decoded and handed to the crypto library once, at construction, because
/// verification runs on every proxied request.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
    skipped: Vec<(Option<String>, JoseError)>,
}

#[derive(Clone)]
pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<String>,
    thumbprint: Option<[u8; 32]>,
    jwk: Jwk,
    /// The JWK's own `alg` member, which pins the key to one algorithm.
    pinned: Option<Algorithm>,
    material: Material,
}

#[derive(Clone)]
enum Material {
    /// aws-lc-rs binds the padding and hash to the parsed key, so an RSA key usable with six
    /// algorithms is parsed six times (cheap: no arithmetic, just the big numbers).
    Rsa(Vec<(Algorithm, ParsedPublicKey)>),
    /// EC and Ed25519 keys fit exactly one algorithm.
    Single(Algorithm, ParsedPublicKey),
}

impl VerifyingKey {
    pub(crate) fn from_jwk(jwk: &Jwk) -> Result<VerifyingKey, JoseError> {
        if let Some(use_) = &jwk.use_
            && use_ != "sig"
        {
            return Err(JoseError::KeyUseNotSig(use_.clone()));
        }
        if let Some(ops) = &jwk.key_ops
            && !ops.iter().any(|op| op == "verify")
        {
            return Err(JoseError::KeyOpsLacksVerify);
        }
        let pinned = match &jwk.alg {
            Some(name) => Some(
                name.parse::<Algorithm>()
                    .map_err(|_| JoseError::KeyAlgUnsupported(name.clone()))?,
            ),
            None => None,
        };
        let material = match jwk.kty.as_str() {
            "RSA" => rsa_material(jwk, pinned)?,
            "EC" => ec_material(jwk)?,
            "OKP" => okp_material(jwk)?,
            other => return Err(JoseError::UnsupportedKeyType(other.to_owned())),
        };
        let key = VerifyingKey {
            kid: jwk.kid.clone(),
            thumbprint: jwk.thumbprint_sha256().ok(),
            jwk: jwk.clone(),
            pinned,
            material,
        };
        // A key whose own alg cannot work with its type is a publisher error; say so now
        // rather than on every token.
        if let Some(alg) = pinned
            && let Err(JoseError::KeyTypeMismatch { .. }) = key.key_for(alg)
        {
            return Err(key.type_mismatch(alg));
        }
        Ok(key)
    }

    fn describe(&self) -> String {
        match (&self.jwk.kty, &self.jwk.crv) {
            (kty, Some(crv)) => format!("{kty} {crv}"),
            (kty, None) => kty.clone(),
        }
    }

    fn type_mismatch(&self, alg: Algorithm) -> JoseError {
        JoseError::KeyTypeMismatch {
            kid: self.kid.clone(),
            alg,
            key: self.describe(),
        }
    }

    /// The parsed key to check an `alg` signature with, or why this key must not be used.
    pub(crate) fn key_for(&self, alg: Algorithm) -> Result<&ParsedPublicKey, JoseError> {
        let fits_type = match &self.material {
            Material::Rsa(_) => alg.family() == KeyFamily::Rsa,
            Material::Single(own, _) => *own == alg,
        };
        if !fits_type {
            return Err(self.type_mismatch(alg));
        }
        if let Some(pinned) = self.pinned
            && pinned != alg
        {
            return Err(JoseError::KeyAlgMismatch {
                kid: self.kid.clone(),
                token_alg: alg,
                key_alg: pinned,
            });
        }
        match &self.material {
            Material::Single(_, key) => Ok(key),
            Material::Rsa(keys) => keys
                .iter()
                .find(|(a, _)| *a == alg)
                .map(|(_, key)| key)
                .ok_or_else(|| self.type_mismatch(alg)),
        }
    }
}

fn member<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, JoseError> {
    value.as_deref().ok_or(JoseError::MissingKeyMember(name))
}

fn decode_member(value: &Option<String>, name: &'static str) -> Result<Vec<u8>, JoseError> {
    b64::decode_jwk_member(member(value, name)?).map_err(|e| JoseError::InvalidKeyMember {
        member: name,
        reason: e.to_string(),
    })
}

fn rsa_params(alg: Algorithm) -> Option<&'static RsaParameters> {
    Some(match alg {
        Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn rsa_material(jwk: &Jwk, pinned: Option<Algorithm>) -> Result<Material, JoseError> {
    let n_raw = decode_member(&jwk.n, "n")?;
    let e_raw = decode_member(&jwk.e, "e")?;
    // RFC 7518 forbids leading zero octets, but some publishers add one; the number is the same.
    let n = strip_leading_zeros(&n_raw);
    let e = strip_leading_zeros(&e_raw);
    let bits = match n.first() {
        Some(top) => n.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    };
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(JoseError::RsaKeySize { bits });
    }
    if e.is_empty() || e.last().is_some_and(|b| b & 1 == 0) {
        return Err(JoseError::InvalidKeyMember {
            member: "e",
            reason: "an RSA public exponent is odd and positive".into(),
        });
    }
    let components = RsaPublicKeyComponents { n, e };
    let mut parsed = Vec::with_capacity(6);
    for alg in Algorithm::ALL {
        if pinned.is_some_and(|p| p != alg) {
            continue;
        }
        let Some(params) = rsa_params(alg) else {
            continue;
        };
        let key =
            components
                .to_parsed_public_key(params)
                .map_err(|e| JoseError::InvalidKeyMember {
                    member: "n",
                    reason: e.to_string(),
                })?;
        parsed.push((alg, key));
    }
    Ok(Material::Rsa(parsed))
}

fn ec_material(jwk: &Jwk) -> Result<Material, JoseError> {
    let crv = member(&jwk.crv, "crv")?;
    let (alg, size, verification): (_, usize, &'static signature::EcdsaVerificationAlgorithm) =
        match crv {
            "P-256" => (Algorithm::Es256, 32, &signature::ECDSA_P256_SHA256_FIXED),
            "P-384" => (Algorithm::Es384, 48, &signature::ECDSA_P384_SHA384_FIXED),
            "P-521" => (Algorithm::Es512, 66, &signature::ECDSA_P521_SHA512_FIXED),
            other => return Err(JoseError::UnsupportedCurve(other.to_owned())),
        };
    let x = decode_member(&jwk.x, "x")?;
    let y = decode_member(&jwk.y, "y")?;
    // RFC 7518 section 6.2.1.2: coordinates are exactly the field size, no more, no less.
    for (name, coord) in [("x", &x), ("y", &y)] {
        if coord.len() != size {
            return Err(JoseError::InvalidKeyMember {
                member: name,
                reason: format!(
                    "{crv} coordinates are {size} bytes, this one is {}",
                    coord.len()
                ),
            });
        }
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(0x04); // uncompressed SEC1 point
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let key =
        ParsedPublicKey::new(verification, point).map_err(|_| JoseError::InvalidKeyMember {
            member: "x",
            reason: format!("not a point on {crv}"),
        })?;
    Ok(Material::Single(alg, key))
}

fn okp_material(jwk: &Jwk) -> Result<Material, JoseError> {
    let crv = member(&jwk.crv, "crv")?;
    if crv != "Ed25519" {
        return Err(JoseError::UnsupportedCurve(crv.to_owned()));
    }
    let x = decode_member(&jwk.x, "x")?;
    if x.len() != signature::ED25519_PUBLIC_KEY_LEN {
        return Err(JoseError::InvalidKeyMember {
            member: "x",
            reason: format!("an Ed25519 public key is 32 bytes, this one is {}", x.len()),
        });
    }
    let key =
        ParsedPublicKey::new(&signature::ED25519, x).map_err(|e| JoseError::InvalidKeyMember {
            member: "x",
            reason: e.to_string(),
        })?;
    Ok(Material::Single(Algorithm::EdDsa, key))
}

impl KeySet {
    /// An empty set; every verification against it fails.
    pub fn new() -> KeySet {
        KeySet::default()
    }

    /// Builds a set from a parsed JWKS, keeping every key that can verify signatures and
    /// recording, for each key left out, its kid and why (see [`KeySet::skipped`]).
    pub fn from_jwks(set: &JwkSet) -> KeySet {
        let mut out = KeySet::default();
        for jwk in &set.keys {
            out.push(jwk);
        }
        out
    }

    /// Parses a JWKS document as served by an identity provider. A key that does not even
    /// deserialize (say `"kty": 3`) is skipped like any other unusable key. Fails only when
    /// the document is not a JSON object with a `keys` array.
    pub fn from_json(bytes: &[u8]) -> Result<KeySet, JoseError> {
        let doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| JoseError::MalformedJwks(e.to_string()))?;
        let keys = doc
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| {
                JoseError::MalformedJwks("expected an object with a \"keys\" array".into())
            })?;
        let mut out = KeySet::default();
        for value in keys {
            match serde_json::from_value::<Jwk>(value.clone()) {
                Ok(jwk) => out.push(&jwk),
                Err(e) => {
                    let kid = value.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
                    out.skipped
                        .push((kid, JoseError::MalformedJwk(e.to_string())));
                }
            }
        }
        Ok(out)
    }

    /// A set holding the public halves of the given signing keys (the gateway verifies its
    /// own tokens this way).
    pub fn from_signing_keys<'a>(keys: impl IntoIterator<Item = &'a crate::SigningKey>) -> KeySet {
        let jwks = JwkSet {
            keys: keys
                .into_iter()
                .map(crate::SigningKey::public_jwk)
                .collect(),
        };
        KeySet::from_jwks(&jwks)
    }

    fn push(&mut self, jwk: &Jwk) {
        match VerifyingKey::from_jwk(jwk) {
            Ok(key) => self.keys.push(key),
            Err(e) => self.skipped.push((jwk.kid.clone(), e)),
        }
    }

    /// The keys that were left out, with their kid (if any) and the reason; worth logging
    /// when a JWKS is (re)loaded.
    pub fn skipped(&self) -> &[(Option<String>, JoseError)] {
        &self.skipped
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a usable key carries this kid; lets a caller decide to refetch before verifying.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The kids of the usable keys, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// The usable keys as a JWKS document (only the public members this crate keeps).
    pub fn to_jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(|k| k.jwk.clone()).collect(),
        }
    }

    /// Adds the keys of `older` that `self` does not replace: those whose kid is not in
    /// `self`, and kid-less ones whose key material is not in `self`. Called after a JWKS
    /// refresh so tokens signed just before a key rotation still verify.
    pub fn merge(&mut self, older: &KeySet) {
        let mut kept = Vec::new();
        for key in &older.keys {
            let replaced = match &key.kid {
                Some(kid) => self.contains_kid(kid),
                None => self
                    .keys
                    .iter()
                    .any(|k| k.thumbprint.is_some() && k.thumbprint == key.thumbprint),
            };
            if !replaced {
                kept.push(key.clone());
            }
        }
        self.keys.extend(kept);
    }

    pub(crate) fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    pub(crate) fn skipped_reason(&self, kid: &str) -> Option<&JoseError> {
        self.skipped
            .iter()
            .find(|(k, _)| k.as_deref() == Some(kid))
            .map(|(_, e)| e)
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                format!(
                    "{} {}",
                    k.kid.as_deref().unwrap_or("(no kid)"),
                    k.describe()
                )
            })
            .collect();
        f.debug_struct("KeySet")
            .field("keys", &keys)
            .field("skipped", &self.skipped)
            .finish()
    }
}
