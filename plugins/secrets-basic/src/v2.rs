//! V2 values: XChaCha20-Poly1305 under the key file's 32-byte key.
//!
//! Why XChaCha20-Poly1305: its 192-bit nonce can be drawn at random for
//! every value with no practical risk of ever repeating under one key (a
//! 96-bit nonce, as in AES-GCM or AES-GCM-SIV, asks for care after a few
//! billion values, and a repeated GCM nonce is catastrophic), so no counter
//! has to be kept in step across nodes that share the key; it is fast and
//! constant-time in pure Rust on every CPU, with or without AES
//! instructions; and RustCrypto's `chacha20poly1305` is audited and pure
//! Rust.
//!
//! Layout: `[VESPENE-CLOAK][BASIC][V2]` then standard base64 (with `=`
//! padding) of `nonce (24 bytes) || ciphertext || tag (16 bytes)`. The
//! header is the associated data, so a value cannot be passed off as
//! another version.

use crate::keyfile::{KEY_LEN, KeyBytes};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::Aead;
use chacha20poly1305::aead::Payload;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// The header of V2 values.
pub const HEADER: &str = "[VESPENE-CLOAK][BASIC][V2]";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// The V2 cipher: the key, expanded. No `Debug`: it holds the key (the
/// `zeroize` feature wipes it on drop).
pub struct V2Cipher {
    aead: XChaCha20Poly1305,
}

/// Why a V2 value could not be read. Carries no key or plaintext material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Error {
    NotBase64(String),
    TooShort(usize),
    /// The tag does not match: altered, or another key.
    Authentication,
    NotUtf8,
}

impl std::fmt::Display for V2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            V2Error::NotBase64(e) => write!(f, "the value after the header is not base64: {e}"),
            V2Error::TooShort(n) => write!(
                f,
                "the value is {n} bytes long, shorter than a nonce and a tag ({} bytes)",
                NONCE_LEN + TAG_LEN
            ),
            V2Error::Authentication => f.write_str(
                "the value failed authentication: it was altered, or was encrypted under \
                 another key",
            ),
            V2Error::NotUtf8 => f.write_str("the decrypted value is not UTF-8 text"),
        }
    }
}

impl V2Cipher {
    pub fn new(key: &KeyBytes) -> V2Cipher {
        let bytes: &[u8; KEY_LEN] = &key.0;
        V2Cipher {
            aead: XChaCha20Poly1305::new(bytes.into()),
        }
    }

    /// Encrypts `plaintext` under a fresh random nonce.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| format!("the operating system's random source failed: {e}"))?;
        let sealed = self
            .aead
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: HEADER.as_bytes(),
                },
            )
            .map_err(|_| "the value is too long to encrypt".to_string())?;
        let mut raw = Vec::with_capacity(NONCE_LEN + sealed.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&sealed);
        Ok(format!("{HEADER}{}", STANDARD.encode(&raw)))
    }

    /// Decrypts what follows [`HEADER`].
    pub fn decrypt(&self, body: &str) -> Result<String, V2Error> {
        let raw = STANDARD
            .decode(body)
            .map_err(|e| V2Error::NotBase64(e.to_string()))?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(V2Error::TooShort(raw.len()));
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
        let plain = Zeroizing::new(
            self.aead
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: sealed,
                        aad: HEADER.as_bytes(),
                    },
                )
                .map_err(|_| V2Error::Authentication)?,
        );
        String::from_utf8(plain.to_vec()).map_err(|_| V2Error::NotUtf8)
    }
}
