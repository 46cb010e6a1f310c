//! Checks that a delivery came from the forge holding a project's secret:
//! GitHub's `X-Hub-Signature-256` (`sha256=` + hex HMAC-SHA256 of the raw
//! body), Gitea's `X-Gitea-Signature` (the same hex, no prefix), GitLab's
//! `X-Gitlab-Token` (the secret itself). Every comparison is constant-time.

use super::delivery::Forge;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Whether `a` equals `b`, in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Whether `hex_signature` is HMAC-SHA256(`secret`, `body`).
pub fn hmac_matches(secret: &str, body: &[u8], hex_signature: &str) -> bool {
    let Ok(signature) = hex::decode(hex_signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Checks a delivery of `forge` against `secret`; `Err` names what is
/// missing or wrong.
pub fn check(
    forge: Forge,
    secret: &str,
    body: &[u8],
    header: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    match forge {
        Forge::GitHub => {
            let value = header("x-hub-signature-256")
                .ok_or("the delivery has no X-Hub-Signature-256 header")?;
            let hex = value
                .strip_prefix("sha256=")
                .ok_or("X-Hub-Signature-256 does not start with 'sha256='")?;
            if hmac_matches(secret, body, hex) {
                Ok(())
            } else {
                Err("X-Hub-Signature-256 does not match the project's webhook secret".into())
            }
        }
        Forge::Gitea => {
            let value = header("x-gitea-signature")
                .or_else(|| header("x-gogs-signature"))
                .ok_or("the delivery has no X-Gitea-Signature header")?;
            if hmac_matches(secret, body, &value) {
                Ok(())
            } else {
                Err("X-Gitea-Signature does not match the project's webhook secret".into())
            }
        }
        Forge::GitLab => {
            let value =
                header("x-gitlab-token").ok_or("the delivery has no X-Gitlab-Token header")?;
            if same_secret(&value, secret) {
                Ok(())
            } else {
                Err("X-Gitlab-Token does not match the project's webhook secret".into())
            }
        }
    }
}
