//! Behaviour of sign and verify together. Each refusal here has a positive control nearby
//! (the same token or key without the offending detail verifies), so the test fails if the
//! check it is about were removed rather than passing for an unrelated reason.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::*;

/// Keys are slow to generate (RSA), so each test process makes one per algorithm.
fn key(alg: Algorithm) -> &'static SigningKey {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        Algorithm::ALL
            .iter()
            .map(|a| SigningKey::generate(*a).unwrap())
            .collect()
    });
    &keys[Algorithm::ALL.iter().position(|a| *a == alg).unwrap()]
}

fn set_of(keys: &[&SigningKey]) -> KeySet {
    let set = KeySet::from_signing_keys(keys.iter().copied());
    assert!(set.skipped().is_empty(), "{:?}", set.skipped());
    set
}

fn claims() -> Value {
    json!({"sub": "alice", "iss": "https://idp.example", "n": 1})
}

fn header(pairs: Value) -> Map<String, Value> {
    pairs.as_object().unwrap().clone()
}

/// Replaces one segment of a token with the base64url of `bytes`.
fn with_segment(token: &str, index: usize, text: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = text;
    parts.join(".")
}

#[test]
fn every_algorithm_signs_and_verifies_its_own_tokens() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        assert_eq!(k.alg(), alg);
        let token = k.sign(&claims()).unwrap();
        let set = set_of(&[k]);
        let verified = verify(&token, &set, &Algorithm::ALL).unwrap();
        assert_eq!(verified.header.alg, alg);
        assert_eq!(verified.header.kid.as_deref(), Some(k.kid()));
        assert_eq!(verified.header.typ.as_deref(), Some("JWT"));
        assert_eq!(Value::Object(verified.claims), claims());
        assert_eq!(decode_header(&token).unwrap(), verified.header);

        // Same token, one signature bit flipped.
        let mut sig = b64::decode_strict(token.rsplit('.').next().unwrap()).unwrap();
        let mid = sig.len() / 2;
        sig[mid] ^= 0x01;
        let bad = with_segment(&token, 2, &b64::encode(&sig));
        assert_eq!(
            verify(&bad, &set, &Algorithm::ALL),
            Err(JoseError::BadSignature),
            "{alg}"
        );
    }
}

#[test]
fn signatures_have_jws_sizes_ecdsa_is_fixed_r_s_not_der() {
    let expected = [
        (Algorithm::Rs256, 256),
        (Algorithm::Ps512, 256),
        (Algorithm::Es256, 64),
        (Algorithm::Es384, 96),
        (Algorithm::Es512, 132),
        (Algorithm::EdDsa, 64),
    ];
    for (alg, len) in expected {
        // Several signatures: DER lengths would vary, fixed-size ones never do.
        for _ in 0..4 {
            let token = key(alg).sign(&claims()).unwrap();
            let sig = b64::decode_strict(token.rsplit('.').next().unwrap()).unwrap();
            assert_eq!(sig.len(), len, "{alg}");
        }
    }
}

#[test]
fn kid_is_the_hex_thumbprint_and_public_jwk_is_complete() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        assert_eq!(k.kid().len(), 64);
        assert!(
            k.kid()
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        let jwk = k.public_jwk();
        assert_eq!(jwk.thumbprint_hex().unwrap(), k.kid());
        assert_eq!(jwk.kid.as_deref(), Some(k.kid()));
        assert_eq!(jwk.alg.as_deref(), Some(alg.as_str()));
        assert_eq!(jwk.use_.as_deref(), Some("sig"));
    }
    assert_ne!(key(Algorithm::Rs256).kid(), key(Algorithm::Rs384).kid());
}

#[test]
fn pkcs8_round_trips_and_must_fit_the_algorithm() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        let again = SigningKey::from_pkcs8(alg, k.pkcs8_der()).unwrap();
        assert_eq!(again.kid(), k.kid());
        let token = again.sign(&claims()).unwrap();
        verify(&token, &set_of(&[k]), &[alg]).unwrap();
    }
    let mismatches = [
        (Algorithm::Rs256, Algorithm::Es256),
        (Algorithm::Es384, Algorithm::Es256),
        (Algorithm::Es256, Algorithm::Es512),
        (Algorithm::EdDsa, Algorithm::Rs256),
        (Algorithm::Ps256, Algorithm::EdDsa),
    ];
    for (load_as, made_for) in mismatches {
        let err = SigningKey::from_pkcs8(load_as, key(made_for).pkcs8_der()).unwrap_err();
        assert_eq!(
            err.kind(),
            "invalid_private_key",
            "{load_as} from {made_for}"
        );
    }
    assert!(SigningKey::from_pkcs8(Algorithm::Rs256, b"not a key").is_err());
}

#[test]
fn self_signed_certificate_is_pem_and_carries_the_public_key() {
    use base64::Engine;
    for alg in Algorithm::ALL {
        let k = key(alg);
        let pem = k.self_signed_cert_pem("portcullis.example").unwrap();
        let body = pem
            .trim()
            .strip_prefix("-----BEGIN CERTIFICATE-----")
            .and_then(|rest| rest.strip_suffix("-----END CERTIFICATE-----"))
            .unwrap_or_else(|| panic!("{alg}: not a CERTIFICATE block: {pem}"));
        let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert_eq!(der[0], 0x30, "DER SEQUENCE");
        let jwk = k.public_jwk();
        let public = b64::decode_jwk_member(jwk.n.as_ref().or(jwk.x.as_ref()).unwrap()).unwrap();
        assert!(
            der.windows(public.len()).any(|w| w == public.as_slice()),
            "{alg}"
        );
        assert!(der.windows(18).any(|w| w == b"portcullis.example"));
    }
}

#[test]
fn alg_none_and_hmac_are_refused_whatever_is_allowed() {
    let rs = key(Algorithm::Rs256);
    let set = set_of(&[rs]);
    let payload = b64::encode(&serde_json::to_vec(&claims()).unwrap());
    let none = format!(
        "{}.{payload}.",
        b64::encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    assert_eq!(
        verify(&none, &set, &Algorithm::ALL),
        Err(JoseError::AlgNone)
    );
    assert_eq!(decode_header(&none), Err(JoseError::AlgNone));

    // Key confusion: the public key's bytes as an HMAC secret, as a naive verifier would use.
    let public_n = b64::decode_jwk_member(rs.public_jwk().n.as_ref().unwrap()).unwrap();
    let hs_header = b64::encode(format!(r#"{{"alg":"HS256","kid":"{}"}}"#, rs.kid()).as_bytes());
    let input = format!("{hs_header}.{payload}");
    let mac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public_n);
    let mac = aws_lc_rs::hmac::sign(&mac_key, input.as_bytes());
    let hs = format!("{input}.{}", b64::encode(mac.as_ref()));
    assert_eq!(
        verify(&hs, &set, &Algorithm::ALL),
        Err(JoseError::HmacAlg("HS256".into()))
    );

    let unknown = rs
        .sign_with_header(&header(json!({"alg": "ES256K"})), &claims())
        .unwrap();
    assert_eq!(
        verify(&unknown, &set, &Algorithm::ALL),
        Err(JoseError::UnsupportedAlg("ES256K".into()))
    );
    let missing = format!("{}.{payload}.AAAA", b64::encode(br#"{"typ":"JWT"}"#));
    assert_eq!(
        verify(&missing, &set, &Algorithm::ALL),
        Err(JoseError::MissingAlg)
    );
    let numeric = rs
        .sign_with_header(&header(json!({"alg": 256})), &claims())
        .unwrap();
    assert_eq!(
        verify(&numeric, &set, &Algorithm::ALL).unwrap_err().kind(),
        "header_member_type"
    );
}

#[test]
fn only_allowed_algorithms_verify() {
    let k = key(Algorithm::Es256);
    let token = k.sign(&claims()).unwrap();
    let set = set_of(&[k]);
    assert!(verify(&token, &set, &[Algorithm::Es256]).is_ok());
    assert_eq!(
        verify(&token, &set, &[Algorithm::Rs256, Algorithm::Es384]),
        Err(JoseError::AlgNotAllowed(Algorithm::Es256))
    );
    assert_eq!(
        verify(&token, &set, &[]),
        Err(JoseError::AlgNotAllowed(Algorithm::Es256))
    );
}

#[test]
fn key_type_and_curve_must_fit_the_algorithm() {
    // RS256 token whose kid names an EC key.
    let ec = key(Algorithm::Es256);
    let rs = key(Algorithm::Rs256);
    let set = set_of(&[ec, rs]);
    let token = rs
        .sign_with_header(&header(json!({"kid": ec.kid()})), &claims())
        .unwrap();
    assert_eq!(
        verify(&token, &set, &Algorithm::ALL).unwrap_err().kind(),
        "key_type_mismatch"
    );
    // ES256 token whose kid names a P-384 key.
    let p384 = key(Algorithm::Es384);
    let set = set_of(&[p384, ec]);
    let token = ec
        .sign_with_header(&header(json!({"kid": p384.kid()})), &claims())
        .unwrap();
    assert_eq!(
        verify(&token, &set, &Algorithm::ALL),
        Err(JoseError::KeyTypeMismatch {
            kid: Some(p384.kid().to_owned()),
            alg: Algorithm::Es256,
            key: "EC P-384".into()
        })
    );
    // Control: the right kid verifies.
    let token = ec.sign(&claims()).unwrap();
    assert!(verify(&token, &set, &Algorithm::ALL).is_ok());
    // An ES256 token naming an Ed25519 key.
    let mut ed = key(Algorithm::EdDsa).public_jwk();
    ed.kid = Some("ed".into());
    let set = KeySet::from_jwks(&JwkSet { keys: vec![ed] });
    let token = ec
        .sign_with_header(&header(json!({"kid": "ed"})), &claims())
        .unwrap();
    assert_eq!(
        verify(&token, &set, &Algorithm::ALL).unwrap_err().kind(),
        "key_type_mismatch"
    );
}

#[test]
fn jwk_alg_member_pins_the_key() {
    // One RSA key, loaded once as RS256 and once as PS256.
    let rs = key(Algorithm::Rs256);
    let ps = SigningKey::from_pkcs8(Algorithm::Ps256, rs.pkcs8_der()).unwrap();
    assert_eq!(ps.kid(), rs.kid());
    let token = ps.sign(&claims()).unwrap();
    let pinned = KeySet::from_jwks(&JwkSet {
        keys: vec![rs.public_jwk()],
    });
    assert_eq!(
        verify(&token, &pinned, &Algorithm::ALL),
        Err(JoseError::KeyAlgMismatch {
            kid: Some(rs.kid().to_owned()),
            token_alg: Algorithm::Ps256,
            key_alg: Algorithm::Rs256
        })
    );
    let mut unpinned_jwk = rs.public_jwk();
    unpinned_jwk.alg = None;
    let unpinned = KeySet::from_jwks(&JwkSet {
        keys: vec![unpinned_jwk],
    });
    assert!(verify(&token, &unpinned, &Algorithm::ALL).is_ok());
}

#[test]
fn keys_not_for_signatures_are_skipped_and_named_when_a_token_asks_for_them() {
    let k = key(Algorithm::Es256);
    let token = k.sign(&claims()).unwrap();
    let mut enc = k.public_jwk();
    enc.use_ = Some("enc".into());
    let set = KeySet::from_jwks(&JwkSet { keys: vec![enc] });
    assert!(set.is_empty());
    assert_eq!(
        set.skipped(),
        &[(
            Some(k.kid().to_owned()),
            JoseError::KeyUseNotSig("enc".into())
        )]
    );
    assert_eq!(
        verify(&token, &set, &Algorithm::ALL),
        Err(JoseError::UnusableKey {
            kid: k.kid().to_owned(),
            reason: Box::new(JoseError::KeyUseNotSig("enc".into()))
        })
    );

    let mut ops = k.public_jwk();
    ops.key_ops = Some(vec!["encrypt".into(), "sign".into()]);
    let set = KeySet::from_jwks(&JwkSet {
        keys: vec![ops.clone()],
    });
    assert_eq!(set.skipped()[0].1, JoseError::KeyOpsLacksVerify);
    ops.key_ops = Some(vec!["verify".into()]);
    let set = KeySet::from_jwks(&JwkSet { keys: vec![ops] });
    assert!(verify(&token, &set, &Algorithm::ALL).is_ok());
}

#[test]
fn tokens_may_not_bring_their_own_key() {
    let k = key(Algorithm::Rs256);
    let set = set_of(&[k]);
    let own = json!(k.public_jwk());
    for (name, value) in [
        ("jwk", own),
        ("jku", json!("https://attacker.example/jwks")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
    ] {
        let mut h = header(json!({"kid": k.kid()}));
        h.insert(name.into(), value);
        let token = k.sign_with_header(&h, &claims()).unwrap();
        assert_eq!(
            verify(&token, &set, &Algorithm::ALL),
            Err(JoseError::ForbiddenHeader(name.into()))
        );
        assert_eq!(
            decode_header(&token),
            Err(JoseError::ForbiddenHeader(name.into()))
        );
    }
    // Control: other informational members are fine.
    let h = header(json!({"kid": k.kid(), "x5t": "abc", "cty": "JWT"}));
    assert!(
        verify(
            &k.sign_with_header(&h, &claims()).unwrap(),
            &set,
            &Algorithm::ALL
        )
        .is_ok()
    );
}

#[test]
fn crit_is_always_refused_and_malformed_crit_is_named() {
    let k = key(Algorithm::EdDsa);
    let set = set_of(&[k]);
    let check = |extra: Value| {
        let mut h = header(json!({"kid": k.kid()}));
        h.extend(extra.as_object().unwrap().clone());
        verify(
            &k.sign_with_header(&h, &claims()).unwrap(),
            &set,
            &Algorithm::ALL,
        )
    };
    assert_eq!(
        check(json!({"crit": ["b64"], "b64": false})),
        Err(JoseError::UnsupportedCritical(vec!["b64".into()]))
    );
    for malformed in [
        json!({"crit": "exp", "exp": 1}),
        json!({"crit": []}),
        json!({"crit": [1]}),
        json!({"crit": ["alg"]}),
        json!({"crit": ["exp"]}),
        json!({"crit": ["exp", "exp"], "exp": 1}),
    ] {
        assert_eq!(
            check(malformed.clone()).unwrap_err().kind(),
            "malformed_crit",
            "{malformed}"
        );
    }
    assert!(check(json!({"exp": 1})).is_ok());
}

#[test]
fn a_kid_restricts_the_keys_tried() {
    let a = key(Algorithm::Es256);
    let b = SigningKey::generate(Algorithm::Es256).unwrap();
    let set = set_of(&[a, &b]);
    // Signed by b but claiming a's kid: trying every key would accept it.
    let lying = b
        .sign_with_header(&header(json!({"kid": a.kid()})), &claims())
        .unwrap();
    assert_eq!(
        verify(&lying, &set, &Algorithm::ALL),
        Err(JoseError::BadSignature)
    );
    let unknown = b
        .sign_with_header(&header(json!({"kid": "rotated"})), &claims())
        .unwrap();
    assert_eq!(
        verify(&unknown, &set, &Algorithm::ALL),
        Err(JoseError::UnknownKid("rotated".into()))
    );
    // Without a kid every compatible key is tried.
    let anonymous = b.sign_with_header(&Map::new(), &claims()).unwrap();
    assert!(verify(&anonymous, &set, &Algorithm::ALL).is_ok());
    assert!(decode_header(&anonymous).unwrap().kid.is_none());
    let rsa_only = set_of(&[key(Algorithm::Rs256)]);
    assert_eq!(
        verify(&anonymous, &rsa_only, &Algorithm::ALL),
        Err(JoseError::NoKeyForAlg(Algorithm::Es256))
    );
    assert!(set.contains_kid(a.kid()));
    assert!(!set.contains_kid("rotated"));
}

#[test]
fn token_syntax_is_strict() {
    let k = key(Algorithm::Es256);
    let set = set_of(&[k]);
    let token = k.sign(&claims()).unwrap();
    let all = &Algorithm::ALL;
    let [h, p, s]: [&str; 3] = token.split('.').collect::<Vec<_>>().try_into().unwrap();

    assert_eq!(
        verify(&format!("{h}.{p}"), &set, all),
        Err(JoseError::SegmentCount(2))
    );
    assert_eq!(
        verify(&format!("{token}.{s}"), &set, all),
        Err(JoseError::SegmentCount(4))
    );
    assert_eq!(verify("", &set, all), Err(JoseError::SegmentCount(1)));
    // Padding and the standard alphabet are other spellings of the same bytes: refused.
    let padded_sig = format!("{h}.{p}.{s}==");
    assert_eq!(verify(&padded_sig, &set, all).unwrap_err().kind(), "base64");
    let std_alphabet = format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/"));
    if std_alphabet != token {
        assert_eq!(
            verify(&std_alphabet, &set, all).unwrap_err().kind(),
            "base64"
        );
    }
    assert!(matches!(
        verify(&format!("{h}=.{p}.{s}"), &set, all),
        Err(JoseError::Base64 {
            segment: Segment::Header,
            ..
        })
    ));
    assert!(matches!(
        verify(&format!("{h}.{p}=.{s}"), &set, all),
        Err(JoseError::Base64 {
            segment: Segment::Payload,
            ..
        })
    ));

    let not_json = format!("{}.{p}.{s}", b64::encode(b"{alg"));
    assert!(matches!(
        verify(&not_json, &set, all),
        Err(JoseError::Json {
            segment: Segment::Header,
            ..
        })
    ));
    let array = format!("{}.{p}.{s}", b64::encode(br#"["ES256"]"#));
    assert_eq!(
        verify(&array, &set, all),
        Err(JoseError::NotAnObject(Segment::Header))
    );
    let trailing = format!("{}.{p}.{s}", b64::encode(br#"{"alg":"ES256"} x"#));
    assert_eq!(verify(&trailing, &set, all).unwrap_err().kind(), "json");

    // Duplicate alg: one parser would read ES256, another none.
    let dup = format!(
        "{}.{p}.{s}",
        b64::encode(br#"{"alg":"ES256","alg":"none"}"#)
    );
    assert_eq!(
        verify(&dup, &set, all),
        Err(JoseError::DuplicateMember {
            segment: Segment::Header,
            name: "alg".into()
        })
    );

    // Properly signed, but the payload is not an object.
    let list = k.sign_with_header(&Map::new(), &json!([1, 2])).unwrap();
    assert_eq!(
        verify(&list, &set, all),
        Err(JoseError::NotAnObject(Segment::Payload))
    );
    let dup_claims = {
        let hb = b64::encode(br#"{"alg":"ES256"}"#);
        let pb = b64::encode(br#"{"sub":"a","sub":"b"}"#);
        let input = format!("{hb}.{pb}");
        let kp = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            k.pkcs8_der(),
        )
        .unwrap();
        let sig = kp
            .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64::encode(sig.as_ref()))
    };
    assert_eq!(
        verify(&dup_claims, &set, all),
        Err(JoseError::DuplicateMember {
            segment: Segment::Payload,
            name: "sub".into()
        })
    );
}

#[test]
fn oversized_tokens_are_refused_before_parsing() {
    let k = key(Algorithm::EdDsa);
    let set = set_of(&[k]);
    let big = json!({"sub": "x", "pad": "a".repeat(MAX_TOKEN_LEN)});
    assert_eq!(k.sign(&big).unwrap_err().kind(), "token_too_large");
    let token = k.sign_with_header(&Map::new(), &big).unwrap();
    assert_eq!(
        verify(&token, &set, &Algorithm::ALL),
        Err(JoseError::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN
        })
    );
    // Control: just under the limit still verifies.
    let fits = json!({"sub": "x", "pad": "a".repeat(MAX_TOKEN_LEN / 2)});
    assert!(verify(&k.sign(&fits).unwrap(), &set, &Algorithm::ALL).is_ok());
}

#[test]
fn sign_requires_an_object_and_sign_with_header_fills_in_alg_only() {
    let k = key(Algorithm::Es384);
    assert_eq!(
        k.sign(&json!("just a string")),
        Err(JoseError::ClaimsNotObject)
    );
    let token = k
        .sign_with_header(&header(json!({"typ": "at+jwt"})), &claims())
        .unwrap();
    let h = decode_header(&token).unwrap();
    assert_eq!(
        h,
        Header {
            alg: Algorithm::Es384,
            kid: None,
            typ: Some("at+jwt".into())
        }
    );
    // A header that lies about alg is kept as written.
    let lying = k
        .sign_with_header(&header(json!({"alg": "ES256"})), &claims())
        .unwrap();
    assert_eq!(decode_header(&lying).unwrap().alg, Algorithm::Es256);
    assert_eq!(
        verify(&lying, &set_of(&[k]), &Algorithm::ALL),
        Err(JoseError::NoKeyForAlg(Algorithm::Es256))
    );
}

#[test]
fn rsa_keys_below_2048_bits_and_broken_keys_are_skipped() {
    let good = key(Algorithm::Rs256).public_jwk();
    let n = b64::decode_jwk_member(good.n.as_ref().unwrap()).unwrap();
    let short = Jwk {
        kid: Some("short".into()),
        n: Some(b64::encode(&n[..128])),
        ..good.clone()
    };
    let set = KeySet::from_jwks(&JwkSet {
        keys: vec![short, good.clone()],
    });
    assert_eq!(set.len(), 1);
    assert_eq!(
        set.skipped(),
        &[(Some("short".into()), JoseError::RsaKeySize { bits: 1024 })]
    );
    // A leading zero octet in n is tolerated (same number).
    let mut padded = vec![0u8];
    padded.extend_from_slice(&n);
    let zero = Jwk {
        n: Some(b64::encode(&padded)),
        ..good.clone()
    };
    let set = KeySet::from_jwks(&JwkSet { keys: vec![zero] });
    let token = key(Algorithm::Rs256).sign(&claims()).unwrap();
    assert!(verify(&token, &set, &Algorithm::ALL).is_ok());

    let ec = key(Algorithm::Es256).public_jwk();
    let mut off_curve = ec.clone();
    let mut y = b64::decode_jwk_member(ec.y.as_ref().unwrap()).unwrap();
    y[31] ^= 1;
    off_curve.y = Some(b64::encode(&y));
    let mut short_x = ec.clone();
    short_x.x = Some(b64::encode(&[1u8; 31]));
    // The same 65 point bytes, split at the wrong place between x and y.
    let mut shifted = ec.clone();
    let x = b64::decode_jwk_member(ec.x.as_ref().unwrap()).unwrap();
    let y = b64::decode_jwk_member(ec.y.as_ref().unwrap()).unwrap();
    shifted.x = Some(b64::encode(&[&x[..], &y[..1]].concat()));
    shifted.y = Some(b64::encode(&y[1..]));
    let mut p256k = ec.clone();
    p256k.crv = Some("secp256k1".into());
    let oct = Jwk {
        kty: "oct".into(),
        kid: Some("hmac".into()),
        ..Jwk::default()
    };
    let mut rsa_alg_on_ec = ec.clone();
    rsa_alg_on_ec.alg = Some("RS256".into());
    let mut enc_alg = good.clone();
    enc_alg.alg = Some("RSA-OAEP".into());
    let mut no_e = good;
    no_e.e = None;
    let set = KeySet::from_jwks(&JwkSet {
        keys: vec![
            off_curve,
            short_x,
            shifted,
            p256k,
            oct,
            rsa_alg_on_ec,
            enc_alg,
            no_e,
        ],
    });
    assert!(set.is_empty());
    let kinds: Vec<&str> = set.skipped().iter().map(|(_, e)| e.kind()).collect();
    assert_eq!(
        kinds,
        [
            "invalid_key_member",
            "invalid_key_member",
            "invalid_key_member",
            "unsupported_curve",
            "unsupported_key_type",
            "key_type_mismatch",
            "key_alg_unsupported",
            "missing_key_member"
        ]
    );
}

#[test]
fn from_json_is_lenient_per_key_but_not_about_the_document() {
    let good = key(Algorithm::EdDsa).public_jwk();
    let doc = json!({"keys": [
        {"kty": 3, "kid": "numeric-kty"},
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        good,
    ], "extra": true});
    let set = KeySet::from_json(doc.to_string().as_bytes()).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(
        set.kids().collect::<Vec<_>>(),
        [good.kid.as_deref().unwrap()]
    );
    assert_eq!(set.skipped()[0].0.as_deref(), Some("numeric-kty"));
    assert_eq!(set.skipped()[0].1.kind(), "malformed_jwk");
    assert_eq!(
        set.skipped()[1].1,
        JoseError::UnsupportedKeyType("oct".into())
    );
    assert_eq!(set.to_jwks().keys, vec![good]);
    for bad in [&b"not json"[..], b"[]", br#"{"keys": {}}"#, b"{}"] {
        assert_eq!(KeySet::from_json(bad).unwrap_err().kind(), "malformed_jwks");
    }
}

#[test]
fn merge_keeps_older_keys_that_were_not_replaced() {
    let old_a = key(Algorithm::Rs256);
    let b = key(Algorithm::Es256);
    let new_c = key(Algorithm::EdDsa);
    let mut current = set_of(&[b, new_c]);
    let older = set_of(&[old_a, b]);
    current.merge(&older);
    assert_eq!(current.len(), 3);
    let token = old_a.sign(&claims()).unwrap();
    assert!(verify(&token, &current, &Algorithm::ALL).is_ok());

    // Kid-less keys are deduplicated by thumbprint.
    let mut anon = b.public_jwk();
    anon.kid = None;
    let older = KeySet::from_jwks(&JwkSet { keys: vec![anon] });
    let mut current = KeySet::from_jwks(&JwkSet {
        keys: vec![{
            let mut j = b.public_jwk();
            j.kid = None;
            j
        }],
    });
    current.merge(&older);
    assert_eq!(current.len(), 1);
    let mut empty = KeySet::new();
    empty.merge(&older);
    assert_eq!(empty.len(), 1);
}
