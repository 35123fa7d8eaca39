//! The crate's one integration test binary: tokens and keys made by an independent JOSE
//! implementation (pyca/cryptography, see vectors/generate.py) must verify, and every tampered
//! copy must fail with the expected error kind. Add new cross-implementation checks here
//! rather than new test files (each test binary costs a link).

// Helpers outside #[test] functions panic too: this whole file is test code.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_jose::{Algorithm, JwkSet, KeySet, SigningKey, decode_header, verify};
use serde_json::Value;

const VECTORS: &str = include_str!("vectors/vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vectors.json is JSON")
}

fn key_set(jwks: &Value) -> KeySet {
    KeySet::from_json(jwks.to_string().as_bytes()).expect("JWKS document parses")
}

fn allowed(case: &Value) -> Vec<Algorithm> {
    match case.get("allowed") {
        Some(list) => serde_json::from_value(list.clone()).expect("allowed is a list of algs"),
        None => Algorithm::ALL.to_vec(),
    }
}

#[test]
fn independent_vectors() {
    let doc = vectors();
    let algs = doc["algs"].as_array().unwrap();
    assert_eq!(algs.len(), 10, "one case per algorithm");
    let mut checked = 0;

    for case in algs {
        let alg: Algorithm = serde_json::from_value(case["alg"].clone()).unwrap();
        let keys = key_set(&case["jwks"]);
        assert_eq!(keys.len(), 1, "{alg}: {:?}", keys.skipped());

        // Python's token verifies and yields Python's claims.
        let token = case["valid"].as_str().unwrap();
        let verified = verify(token, &keys, &Algorithm::ALL)
            .unwrap_or_else(|e| panic!("{alg}: valid vector refused: {e}"));
        assert_eq!(verified.header.alg, alg);
        assert_eq!(Value::Object(verified.claims), case["claims"]);
        assert!(verify(token, &keys, &[alg]).is_ok());
        checked += 1;

        for bad in case["tampered"].as_array().unwrap() {
            let name = bad["name"].as_str().unwrap();
            let expected = bad["error"].as_str().unwrap();
            let err = verify(bad["token"].as_str().unwrap(), &keys, &Algorithm::ALL)
                .expect_err(&format!("{alg}: tampered vector \"{name}\" verified"));
            assert_eq!(err.kind(), expected, "{alg}: \"{name}\": {err}");
            checked += 1;
        }

        // Python's private key loads here, gets the thumbprint Python computed as kid and
        // the same public members, and our signature verifies against Python's JWKS.
        let der = URL_SAFE_NO_PAD
            .decode(case["pkcs8"].as_str().unwrap())
            .unwrap();
        let ours = SigningKey::from_pkcs8(alg, &der).unwrap();
        let theirs: JwkSet = serde_json::from_value(case["jwks"].clone()).unwrap();
        assert_eq!(ours.public_jwk(), theirs.keys[0], "{alg}: JWK differs");
        assert_eq!(Some(ours.kid()), theirs.keys[0].kid.as_deref());
        let our_token = ours.sign(&case["claims"]).unwrap();
        assert_eq!(
            decode_header(&our_token).unwrap().kid.as_deref(),
            Some(ours.kid())
        );
        assert!(
            verify(&our_token, &keys, &[alg]).is_ok(),
            "{alg}: our token refused"
        );
    }

    let extras = doc["extra"].as_array().unwrap();
    assert!(extras.len() >= 15);
    for case in extras {
        let name = case["name"].as_str().unwrap();
        let keys = key_set(&case["jwks"]);
        let result = verify(case["token"].as_str().unwrap(), &keys, &allowed(case));
        match case["error"].as_str() {
            None => {
                result.unwrap_or_else(|e| panic!("\"{name}\" should verify: {e}"));
            }
            Some(expected) => {
                let err = result.expect_err(&format!("\"{name}\" verified"));
                assert_eq!(err.kind(), expected, "\"{name}\": {err}");
                if let Some(reason) = case.get("reason").and_then(Value::as_str) {
                    let portcullis_jose::JoseError::UnusableKey { reason: inner, .. } = &err else {
                        panic!("\"{name}\": expected an unusable key, got {err}");
                    };
                    assert_eq!(inner.kind(), reason, "\"{name}\"");
                }
            }
        }
        checked += 1;
    }
    // 10 valid tokens, 7 tampered copies each, and the extra scenarios: none skipped.
    assert_eq!(checked, 10 * 8 + extras.len());
}
