#!/usr/bin/env python3
"""Writes vectors.json: JWS test vectors for portcullis-jose, produced by an independent
implementation (pyca/cryptography, i.e. OpenSSL) so that our verifier is not only checked
against tokens it signed itself.

Run from anywhere: python3 crates/jose/tests/vectors/generate.py
Needs: pip install cryptography

For each of the 10 algorithms: a private key (PKCS#8, so the Rust side can also load it and
sign), its public JWKS (kid = RFC 7638 SHA-256 thumbprint in hex, computed here), a valid
token, and tampered tokens with the error kind the verifier must report (JoseError::kind).
"extra" holds single scenarios (wrong key use, jku header, small RSA key, ...).
The output changes on every run (fresh keys); commit it together with any change here.
"""

import base64
import hashlib
import hmac
import json
import pathlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
CURVES = {"ES256": (ec.SECP256R1, "P-256", 32), "ES384": (ec.SECP384R1, "P-384", 48),
          "ES512": (ec.SECP521R1, "P-521", 66)}
# Header alg each token is re-labelled with, and what the verifier must then say. The JWKs
# carry an "alg" member, so within RSA the key's own alg refuses the swap; across key types
# or curves the key type does.
SWAPS = {"RS256": "PS256", "RS384": "RS512", "RS512": "RS256", "PS256": "RS256",
         "PS384": "PS512", "PS512": "PS256", "ES256": "ES384", "ES384": "ES512",
         "ES512": "ES256", "EdDSA": "ES256"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def uint(value: int, length: int = 0) -> bytes:
    return value.to_bytes(length or (value.bit_length() + 7) // 8, "big")


def generate(alg: str, rsa_bits: int = 2048):
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if alg.startswith("ES"):
        return ec.generate_private_key(CURVES[alg][0]())
    return ed25519.Ed25519PrivateKey.generate()


def thumbprint_hex(jwk: dict) -> str:
    required = {"RSA": ["e", "kty", "n"], "EC": ["crv", "kty", "x", "y"],
                "OKP": ["crv", "kty", "x"]}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def public_jwk(key, alg: str) -> dict:
    if alg.startswith(("RS", "PS")):
        numbers = key.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": b64(uint(numbers.n)), "e": b64(uint(numbers.e))}
    elif alg.startswith("ES"):
        _, crv, size = CURVES[alg]
        numbers = key.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": crv, "x": b64(uint(numbers.x, size)),
               "y": b64(uint(numbers.y, size))}
    else:
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    jwk.update({"kid": thumbprint_hex(jwk), "alg": alg, "use": "sig"})
    return jwk


def raw_sign(key, alg: str, data: bytes) -> bytes:
    if alg == "EdDSA":
        return key.sign(data)
    digest = HASHES[alg[2:]]()
    if alg.startswith("RS"):
        return key.sign(data, padding.PKCS1v15(), digest)
    if alg.startswith("PS"):
        # RFC 7518 section 3.5: MGF1 with the same hash, salt as long as the hash output.
        pss = padding.PSS(mgf=padding.MGF1(HASHES[alg[2:]]()), salt_length=digest.digest_size)
        return key.sign(data, pss, digest)
    # ECDSA: OpenSSL returns DER; JWS wants r || s, each left-padded to the field size.
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
    size = CURVES[alg][2]
    return uint(r, size) + uint(s, size)


def token(key, alg: str, header, claims, sign_as: str = "") -> str:
    """header/claims may be dicts or ready-made JSON bytes (for deliberately odd JSON)."""
    h = header if isinstance(header, bytes) else compact(header)
    p = claims if isinstance(claims, bytes) else compact(claims)
    signing_input = f"{b64(h)}.{b64(p)}"
    return f"{signing_input}.{b64(raw_sign(key, sign_as or alg, signing_input.encode()))}"


def segments(tok: str):
    return tok.split(".")


def pkcs8(key) -> str:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return b64(der)


def alg_case(alg: str) -> dict:
    key = generate(alg)
    jwk = public_jwk(key, alg)
    kid = jwk["kid"]
    claims = {"sub": "vector", "iss": "https://py.example", "n": alg}
    header = {"alg": alg, "kid": kid, "typ": "JWT"}
    valid = token(key, alg, header, claims)
    h, p, s = segments(valid)
    sig = bytearray(unb64(s))

    tampered = []

    changed = dict(claims, sub="someone-else")
    tampered.append({"name": "payload changed", "error": "bad_signature",
                     "token": f"{h}.{b64(compact(changed))}.{s}"})

    flipped = bytearray(sig)
    flipped[len(flipped) // 2] ^= 0x01
    tampered.append({"name": "signature bit flipped", "error": "bad_signature",
                     "token": f"{h}.{p}.{b64(bytes(flipped))}"})

    swap = SWAPS[alg]
    same_type = alg[0] in "RP" and swap[0] in "RP"
    tampered.append({"name": f"header alg swapped to {swap}",
                     "error": "key_alg_mismatch" if same_type else "key_type_mismatch",
                     "token": f"{b64(compact(dict(header, alg=swap)))}.{p}.{s}"})

    tampered.append({"name": "alg none with empty signature", "error": "alg_none",
                     "token": f"{b64(compact(dict(header, alg='none')))}.{p}."})

    # Key confusion: a verifier that feeds "the key" to whatever alg the header names would
    # use the public key PEM as an HMAC secret.
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_input = f"{b64(compact(dict(header, alg='HS256')))}.{p}"
    mac = hmac.new(pem, hs_input.encode(), hashlib.sha256).digest()
    tampered.append({"name": "HS256 with the public key PEM as secret", "error": "hmac_alg",
                     "token": f"{hs_input}.{b64(mac)}"})

    tampered.append({"name": "signature truncated", "error": "bad_signature",
                     "token": f"{h}.{p}.{b64(bytes(sig[:-1]))}"})

    tampered.append({"name": "kid not in the JWKS", "error": "unknown_kid",
                     "token": token(key, alg, dict(header, kid="rotated-away"), claims)})

    return {"alg": alg, "pkcs8": pkcs8(key), "jwks": {"keys": [jwk]}, "claims": claims,
            "valid": valid, "tampered": tampered}


def extras() -> list:
    out = []
    key = generate("RS256")
    jwk = public_jwk(key, "RS256")
    kid = jwk["kid"]
    claims = {"sub": "vector", "iss": "https://py.example", "n": "extra"}
    header = {"alg": "RS256", "kid": kid}
    good = token(key, "RS256", header, claims)

    def case(name, jwks, tok, error, reason=None, allowed=None):
        entry = {"name": name, "jwks": jwks, "token": tok, "error": error}
        if reason:
            entry["reason"] = reason
        if allowed is not None:
            entry["allowed"] = allowed
        out.append(entry)

    case("key with use enc", {"keys": [dict(jwk, use="enc")]}, good, "unusable_key",
         "key_use_not_sig")
    case("key_ops without verify", {"keys": [dict(jwk, key_ops=["encrypt"])]}, good,
         "unusable_key", "key_ops_lacks_verify")
    case("header carries jku", {"keys": [jwk]},
         token(key, "RS256", dict(header, jku="https://attacker.example/jwks.json"), claims),
         "forbidden_header")
    attacker = generate("RS256")
    case("header carries the attacker's own jwk", {"keys": [jwk]},
         token(attacker, "RS256", dict(header, jwk=public_jwk(attacker, "RS256")), claims),
         "forbidden_header")
    case("crit names an extension", {"keys": [jwk]},
         token(key, "RS256", dict(header, crit=["exp"], exp=1), claims), "unsupported_critical")
    case("crit is empty", {"keys": [jwk]}, token(key, "RS256", dict(header, crit=[]), claims),
         "malformed_crit")
    case("alg not in the allowed list", {"keys": [jwk]}, good, "alg_not_allowed",
         allowed=["ES256", "EdDSA"])
    h, p, s = segments(good)
    padded = base64.urlsafe_b64encode(unb64(s)).decode()
    assert padded.endswith("=")
    case("signature segment padded", {"keys": [jwk]}, f"{h}.{p}.{padded}", "base64")
    std = base64.b64encode(unb64(s)).decode().rstrip("=")
    if std != s:
        case("signature in the standard alphabet", {"keys": [jwk]}, f"{h}.{p}.{std}", "base64")
    case("four segments", {"keys": [jwk]}, f"{good}.{s}", "segment_count")
    case("duplicate alg member", {"keys": [jwk]},
         token(key, "RS256", b'{"alg":"RS256","alg":"none","kid":"%s"}' % kid.encode(),
               claims), "duplicate_member")
    case("payload is an array", {"keys": [jwk]}, token(key, "RS256", header, [1, 2]),
         "not_an_object")
    case("token over 16 KiB", {"keys": [jwk]},
         token(key, "RS256", header, dict(claims, pad="a" * 16384)), "token_too_large")

    # Without the key's alg member an RSA key fits every RS/PS alg, so the swap reaches the
    # signature check (PKCS#1 signature checked as PSS) and fails there.
    bare = {k: v for k, v in jwk.items() if k != "alg"}
    case("alg swapped, key without alg member", {"keys": [bare]},
         f"{b64(compact(dict(header, alg='PS256')))}.{p}.{s}", "bad_signature")
    case("valid token, key without alg member", {"keys": [bare]}, good, None)
    no_kid = token(key, "RS256", {"alg": "RS256"}, claims)
    ec_key = generate("ES256")
    case("token without kid, several keys", {"keys": [public_jwk(ec_key, "ES256"), bare]},
         no_kid, None)

    small = generate("RS256", rsa_bits=1024)
    small_jwk = public_jwk(small, "RS256")
    case("RSA 1024-bit key", {"keys": [small_jwk]},
         token(small, "RS256", {"alg": "RS256", "kid": small_jwk["kid"]}, claims),
         "unusable_key", "rsa_key_size")

    p384 = generate("ES384")
    p384_jwk = {k: v for k, v in public_jwk(p384, "ES384").items() if k != "alg"}
    p256 = generate("ES256")
    case("ES256 token, kid names a P-384 key", {"keys": [p384_jwk]},
         token(p256, "ES256", {"alg": "ES256", "kid": p384_jwk["kid"]}, claims),
         "key_type_mismatch")
    ec_bare = {k: v for k, v in public_jwk(ec_key, "ES256").items() if k != "alg"}
    case("RS256 token, kid names an EC key", {"keys": [ec_bare]},
         token(key, "RS256", {"alg": "RS256", "kid": ec_bare["kid"]}, claims),
         "key_type_mismatch")
    return out


def main():
    doc = {
        "generator": "crates/jose/tests/vectors/generate.py (pyca/cryptography)",
        "algs": [alg_case(alg) for alg in ALGS],
        "extra": extras(),
    }
    path = pathlib.Path(__file__).with_name("vectors.json")
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
