//! Secrets: argon2id for passwords (verified on the blocking pool, a bounded number at once),
//! SHA-256 for tokens (session tokens and API keys are stored only as their hashes), and the
//! random tokens themselves.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id hashing with default parameters")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// At most this many argon2 verifications run at once, on the blocking pool: a flood of
/// logins queues here instead of starving the async workers (the gateway, event streams,
/// the expiry timer).
static VERIFICATIONS: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    });

/// `verify_password` on the blocking pool, within `VERIFICATIONS`.
pub async fn verify_password_off_the_workers(password: &str, hash: &str) -> bool {
    let Ok(_slot) = VERIFICATIONS.acquire().await else {
        return false;
    };
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// Encrypts the secrets an admin gives the product to keep (a channel's signing key, a Slack
/// URL, an SMTP password) with `BREAKGLASS_SECRETS_KEY`, so that the database alone (a copy,
/// a backup, a reader of the table) does not reveal them. ChaCha20-Poly1305 with a random
/// nonce per value; a value altered in the table fails to open rather than decrypting to
/// something else.
#[derive(Clone)]
pub struct Sealer(chacha20poly1305::ChaCha20Poly1305);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(…)")
    }
}

const SEALED: &str = "sealed:v1:";
/// Binds every sealed value to its use: a value sealed for something else does not open here.
const PURPOSE: &[u8] = b"breakglass notification channel secret";

impl Sealer {
    /// From 64 hex digits (32 bytes); `None` for anything else.
    pub fn from_hex(key: &str) -> Option<Self> {
        use chacha20poly1305::KeyInit;
        let bytes = hex::decode(key.trim()).ok().filter(|b| b.len() == 32)?;
        chacha20poly1305::ChaCha20Poly1305::new_from_slice(&bytes)
            .ok()
            .map(Self)
    }

    pub fn seal(&self, plain: &str) -> String {
        use base64::Engine;
        use chacha20poly1305::aead::{Aead, AeadCore, Payload};
        let nonce = chacha20poly1305::ChaCha20Poly1305::generate_nonce(&mut rand::rngs::OsRng);
        let sealed = self
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: PURPOSE,
                },
            )
            .expect("ChaCha20-Poly1305 encrypts any message of this size");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!(
            "{SEALED}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// The plain value, or `None` if `sealed` was not sealed with this key or was altered.
    pub fn open(&self, sealed: &str) -> Option<String> {
        use base64::Engine;
        use chacha20poly1305::aead::{Aead, Payload};
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed.strip_prefix(SEALED)?)
            .ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, msg) = bytes.split_at(12);
        let plain = self
            .0
            .decrypt(
                chacha20poly1305::Nonce::from_slice(nonce),
                Payload { msg, aad: PURPOSE },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::Sealer;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn a_sealed_secret_opens_only_unaltered_and_with_its_key() {
        let sealer = Sealer::from_hex(KEY).unwrap();
        let sealed = sealer.seal("https://hooks.slack.com/services/T/B/X");
        assert!(!sealed.contains("hooks.slack.com"));
        assert_ne!(
            sealed,
            sealer.seal("https://hooks.slack.com/services/T/B/X")
        );
        assert_eq!(
            sealer.open(&sealed).as_deref(),
            Some("https://hooks.slack.com/services/T/B/X")
        );
        let other = Sealer::from_hex(&KEY.replace("1f", "20")).unwrap();
        assert_eq!(other.open(&sealed), None);
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(sealer.open(&String::from_utf8(altered).unwrap()), None);
        assert_eq!(sealer.open("env:NAME"), None);
        assert!(Sealer::from_hex("abc").is_none());
    }
}
