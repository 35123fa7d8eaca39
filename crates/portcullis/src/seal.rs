//! Sealing: authenticated encryption (AES-256-GCM) with the gateway's secret key.
//!
//! Used for the login state that travels through the browser and the IdP, and for secrets at
//! rest (IdP client secrets, private signing keys). Each use passes its own `purpose`, bound as
//! associated data, so a value sealed for one purpose never opens as another.

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the secret key must be 32 bytes encoded in base64 (e.g. `openssl rand -base64 32`)")]
    BadKey,
    #[error("sealed value is damaged, expired or was sealed with another key")]
    Open,
    #[error("cannot read or write the secret key file {0}: {1}")]
    KeyFile(String, std::io::Error),
    #[error("random number generator failed")]
    Random,
}

/// The gateway's sealing key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

/// Random bytes from the system generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], SealError> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| SealError::Random)?;
    Ok(out)
}

/// A random URL-safe token with `N` bytes of entropy.
pub fn random_token<const N: usize>() -> Result<String, SealError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<N>()?))
}

impl Sealer {
    pub fn from_bytes(bytes: &[u8]) -> Result<Sealer, SealError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::BadKey)?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// The key given in the configuration, or the one kept in `<data_dir>/secret.key`
    /// (generated with mode 0600 on first start).
    pub fn from_config_or_file(
        configured: Option<&SecretString>,
        data_dir: &Path,
    ) -> Result<Sealer, SealError> {
        if let Some(secret) = configured {
            let bytes = STANDARD
                .decode(secret.expose_secret().trim())
                .map_err(|_| SealError::BadKey)?;
            return Sealer::from_bytes(&bytes);
        }
        let path = data_dir.join("secret.key");
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = STANDARD
                    .decode(text.trim())
                    .map_err(|_| SealError::BadKey)?;
                Sealer::from_bytes(&bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir)
                    .map_err(|e| SealError::KeyFile(shown.clone(), e))?;
                let bytes = random_bytes::<32>()?;
                write_private_file(&path, STANDARD.encode(bytes).as_bytes())
                    .map_err(|e| SealError::KeyFile(shown, e))?;
                Sealer::from_bytes(&bytes)
            }
            Err(e) => Err(SealError::KeyFile(shown, e)),
        }
    }

    /// Encrypts `plain`, binding `purpose`; returns URL-safe text.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Decrypts what [`Sealer::seal`] produced for the same `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        if sealed.len() > 64 * 1024 {
            return Err(SealError::Open);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| SealError::Open)?;
        if raw.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Open);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut buf)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn round_trip_and_purpose_binding() {
        let s = sealer();
        let sealed = s.seal("login", b"hello").unwrap();
        assert_eq!(s.open("login", &sealed).unwrap(), b"hello");
        assert!(
            s.open("secret", &sealed).is_err(),
            "a value sealed for one purpose must not open as another"
        );
    }

    #[test]
    fn tampering_and_other_keys_are_refused() {
        let s = sealer();
        let sealed = s.seal("login", b"hello").unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(s.open("login", &URL_SAFE_NO_PAD.encode(bytes)).is_err());
        let other = Sealer::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open("login", &sealed).is_err());
        assert!(s.open("login", "not base64 !").is_err());
        assert!(s.open("login", "").is_err());
    }

    #[test]
    fn key_file_is_generated_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("portcullis-seal-{}", uuid::Uuid::new_v4()));
        let a = Sealer::from_config_or_file(None, &dir).unwrap();
        let sealed = a.seal("x", b"v").unwrap();
        let b = Sealer::from_config_or_file(None, &dir).unwrap();
        assert_eq!(b.open("x", &sealed).unwrap(), b"v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secret.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn configured_key_must_be_32_bytes() {
        let short = SecretString::from(STANDARD.encode([1u8; 16]));
        assert!(Sealer::from_config_or_file(Some(&short), Path::new("/nonexistent")).is_err());
        let good = SecretString::from(STANDARD.encode([1u8; 32]));
        assert!(Sealer::from_config_or_file(Some(&good), Path::new("/nonexistent")).is_ok());
    }
}
