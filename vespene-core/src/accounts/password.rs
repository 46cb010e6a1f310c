//! Password hashes: argon2id with the crate's default (OWASP) parameters,
//! stored as PHC strings (`$argon2id$v=19$m=…`), so parameters can change
//! later without invalidating stored hashes.

use crate::db::DbError;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Hashes `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, DbError> {
    if password.is_empty() {
        return Err(DbError::Invalid {
            object: "user",
            field: "password".into(),
            reason: "must not be empty".into(),
        });
    }
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| DbError::Invalid {
            object: "user",
            field: "password".into(),
            reason: format!("cannot be hashed: {e}"),
        })?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `hash` (false for a
/// malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        let again = hash_password("correct horse").unwrap();
        assert_ne!(h, again, "salted");
        assert!(hash_password("").is_err());
    }
}
