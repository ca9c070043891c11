//! Ids, secrets, hashes and timestamps in the forms Rocket.Chat uses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngExt;
use sha2::{Digest, Sha256};

/// Meteor's `Random.id()` alphabet (no look-alike characters).
const UNMISTAKABLE: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";
/// Meteor's `Random.secret()` alphabet.
const BASE64_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

/// A 17-character document id, as `Random.id()`.
pub fn random_id() -> String {
    random_string(UNMISTAKABLE, 17)
}

/// A 43-character login token, as `Random.secret()`.
pub fn random_secret() -> String {
    random_string(BASE64_CHARS, 43)
}

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// SHA-256 of a login token; the store keeps only this (as Meteor keeps its base64 form).
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Lowercase hex SHA-256 of a plain password: the DDP `password.digest`.
pub fn password_digest(plain: &str) -> String {
    hex(&Sha256::digest(plain.as_bytes()))
}

/// What the store keeps for a password: SHA-256 of its (lowercase) digest.
/// Deliberately cheap (not bcrypt) so that seeding and login storms measure
/// the protocol path, not a key-derivation function.
pub fn password_hash(digest_hex: &str) -> [u8; 32] {
    Sha256::digest(digest_hex.to_ascii_lowercase().as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `2023-07-03T21:42:17.724Z`, as JavaScript's `Date.toISOString()` (REST dates).
pub fn iso(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Parses an ISO 8601 / RFC 3339 date (as REST query parameters carry them).
pub fn parse_iso(s: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(s.trim()).ok()?;
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(d.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shapes() {
        let id = random_id();
        assert_eq!(id.len(), 17);
        assert!(id.bytes().all(|b| UNMISTAKABLE.contains(&b)));
        assert_eq!(random_secret().len(), 43);
        assert_ne!(random_secret(), random_secret());
    }

    #[test]
    fn digest_is_lower_hex_sha256() {
        assert_eq!(
            password_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(password_hash("ABCDEF"), password_hash("abcdef"));
    }

    #[test]
    fn iso_round_trip() {
        assert_eq!(iso(1_000), "1970-01-01T00:00:01.000Z");
        assert_eq!(parse_iso("1970-01-01T00:00:01.250Z"), Some(1_250));
        assert_eq!(parse_iso(&iso(1_688_421_337_724)), Some(1_688_421_337_724));
        assert_eq!(parse_iso("nope"), None);
    }
}
