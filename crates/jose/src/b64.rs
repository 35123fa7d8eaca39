//! base64url as JOSE uses it: strict for tokens, forgiving about padding in JWKs.

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};

/// JWK members come from an identity provider we already trust over TLS; a stray `=` there
/// is a harmless publisher quirk, so it should not cost the key.
const JWK_MEMBER: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes without padding (RFC 7515 section 2).
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a token segment: URL-safe alphabet only, no padding, no non-zero trailing bits,
/// so each token has exactly one spelling.
pub(crate) fn decode_strict(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

/// Decodes a JWK member (padding tolerated, alphabet still URL-safe).
pub(crate) fn decode_jwk_member(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    JWK_MEMBER.decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_refuses_padding_standard_alphabet_and_trailing_bits() {
        assert_eq!(decode_strict("YQ").unwrap(), b"a");
        assert!(decode_strict("YQ==").is_err());
        assert!(decode_strict("-_8").is_ok());
        assert!(decode_strict("+/8").is_err());
        // "YR" carries non-zero bits past the last byte: a second spelling of "a".
        assert!(decode_strict("YR").is_err());
        assert_eq!(decode_jwk_member("YQ==").unwrap(), b"a");
        assert!(decode_jwk_member("+/8").is_err());
    }
}
