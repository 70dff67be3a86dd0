//! Passwords (argon2id), session tokens and device credentials (random, stored only as
//! their SHA-256).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// How long a session lasts: guardians stay signed in across restarts.
pub const TOKEN_DAYS: i64 = 90;

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Case-sensitive, byte for byte (R-ACC-1).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so timing tells nothing.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

/// Device credentials start with this, user sessions with `hub_`: a request's credential is
/// looked up in one table only.
pub const DEVICE_TOKEN_PREFIX: &str = "hubdev_";

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub fn new_token() -> String {
    random_token("hub_")
}

/// A paired tablet's long-lived credential (R-STAFF-3).
pub fn new_device_token() -> String {
    random_token(DEVICE_TOKEN_PREFIX)
}

pub fn is_device_token(token: &str) -> bool {
    token.starts_with(DEVICE_TOKEN_PREFIX)
}

/// What is stored of a pairing code's secret half: salted with the pairing's id, so equal
/// secrets of two pairings do not show.
pub fn hash_pairing_secret(pairing_id: uuid::Uuid, secret: &str) -> String {
    hash_token(&format!("{pairing_id}:{secret}"))
}

/// Equality of two hex hashes in time independent of where they differ.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Random bytes from the operating system, for pairing codes and PIN salts.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A fresh salt for a PIN verifier.
pub fn new_pin_salt() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

pub fn hash_token(token: &str) -> String {
    // Performance: every request hashes its token; `hex::encode` collects the text one
    // `char` at a time.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(token.as_bytes()) {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_case_sensitive() {
        let h = hash_password("hub-demo-1").unwrap();
        assert!(verify_password("hub-demo-1", &h));
        assert!(!verify_password("HUB-DEMO-1", &h));
        assert!(!verify_password("hub-demo-1 ", &h));
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        // The stored form: SHA-256 as lowercase hex (existing databases hold it so).
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_ne!(hash_token(&a), a);
        assert!(!is_device_token(&a));
        assert!(is_device_token(&new_device_token()));
    }

    #[test]
    fn pairing_secrets_are_hashed_per_pairing() {
        let (p, q) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        assert!(same_hash(&hash_pairing_secret(p, "EFGH"), &hash_pairing_secret(p, "EFGH")));
        assert!(!same_hash(&hash_pairing_secret(p, "EFGH"), &hash_pairing_secret(q, "EFGH")));
        assert!(!same_hash("ab", "abc"));
    }
}
