//! Random tokens (sessions, CSRF) and their comparison. A session's CSRF token is stored with
//! the session; forms carry it as the `csrf` field, API calls as the `x-csrf-token` header.
//! The login form, having no session yet, uses a double-submit cookie (`kc_login_csrf`).

use rand::RngCore;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "x-csrf-token";
pub const LOGIN_COOKIE: &str = "kc_login_csrf";

/// 256 random bits from the OS-seeded CSPRNG, hex-encoded.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the store keeps of a session token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time equality (no early exit on the first differing byte); empty never matches.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    if expected.is_empty() || expected.len() != given.len() {
        return false;
    }
    expected
        .bytes()
        .zip(given.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn only_the_identical_token_matches() {
        let t = new_token();
        assert!(tokens_match(&t, &t.clone()));
        assert!(!tokens_match(&t, &new_token()));
        assert!(!tokens_match(&t, &t[..63]));
        assert!(!tokens_match("", ""));
    }

    #[test]
    fn hash_is_stable_and_not_the_token() {
        let t = new_token();
        assert_eq!(token_hash(&t), token_hash(&t));
        assert_ne!(token_hash(&t), t);
    }
}
