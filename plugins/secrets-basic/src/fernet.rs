//! Verifying and decrypting the original's Fernet tokens (V1 values), read
//! only: new values are never written in this format.
//!
//! A Fernet token (the specification of Python's `cryptography.fernet`) is,
//! before its URL-safe base64 encoding: the version byte `0x80`, an 8-byte
//! big-endian timestamp, a 16-byte IV, the AES-128-CBC ciphertext with PKCS#7
//! padding, and an HMAC-SHA256 over all of that. The 32-byte key is the
//! signing key (first 16 bytes) followed by the encryption key (last 16).
//! The timestamp is not checked: a stored secret has no time to live.
//!
//! Written here with RustCrypto's `aes`, `cbc`, `hmac` and `sha2` rather
//! than with the `fernet` crate: that crate pulls OpenSSL by default, and
//! with its RustCrypto backend it brings a second, older copy of every
//! RustCrypto crate, is MPL-2.0, and refuses tokens stamped more than 60 s
//! in the future (a node whose clock ran ahead would make unreadable
//! secrets). Verify-then-decrypt is a few lines.

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

const VERSION: u8 = 0x80;
const HEADER_LEN: usize = 1 + 8 + 16;
const MAC_LEN: usize = 32;
const BLOCK: usize = 16;

/// A Fernet key: signing key and encryption key. Wiped on drop.
pub struct FernetKey {
    signing: Zeroizing<[u8; 16]>,
    encryption: Zeroizing<[u8; 16]>,
}

impl std::fmt::Debug for FernetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FernetKey(<redacted>)")
    }
}

/// Why a token was refused. Carries no key or plaintext material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FernetError {
    /// Too short, or a ciphertext that is not whole blocks.
    Malformed,
    /// The first byte is not `0x80`.
    Version(u8),
    /// The HMAC does not match: altered, or another key.
    BadSignature,
    /// The padding is wrong although the HMAC matched.
    BadPadding,
}

impl std::fmt::Display for FernetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FernetError::Malformed => f.write_str("the Fernet token is truncated or malformed"),
            FernetError::Version(v) => {
                write!(f, "the Fernet token has version byte {v:#04x}, not 0x80")
            }
            FernetError::BadSignature => f.write_str(
                "the Fernet token's HMAC does not match: the value was altered or was \
                 encrypted under another key",
            ),
            FernetError::BadPadding => f.write_str("the Fernet token's padding is invalid"),
        }
    }
}

impl FernetKey {
    /// The key from its 32 raw bytes; `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<FernetKey> {
        if bytes.len() != 32 {
            return None;
        }
        let mut signing = Zeroizing::new([0u8; 16]);
        let mut encryption = Zeroizing::new([0u8; 16]);
        signing.copy_from_slice(&bytes[..16]);
        encryption.copy_from_slice(&bytes[16..]);
        Some(FernetKey {
            signing,
            encryption,
        })
    }

    /// Verifies the HMAC of a decoded token, then decrypts it.
    pub fn decrypt(&self, token: &[u8]) -> Result<Zeroizing<Vec<u8>>, FernetError> {
        if token.len() < HEADER_LEN + BLOCK + MAC_LEN {
            return Err(FernetError::Malformed);
        }
        if token[0] != VERSION {
            return Err(FernetError::Version(token[0]));
        }
        let (signed, tag) = token.split_at(token.len() - MAC_LEN);
        let ciphertext = &signed[HEADER_LEN..];
        if !ciphertext.len().is_multiple_of(BLOCK) {
            return Err(FernetError::Malformed);
        }
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(self.signing.as_ref())
            .expect("HMAC takes a key of any length");
        mac.update(signed);
        mac.verify_slice(tag)
            .map_err(|_| FernetError::BadSignature)?;
        let iv: [u8; 16] = signed[9..HEADER_LEN]
            .try_into()
            .expect("the IV is 16 bytes");
        let plaintext = Aes128CbcDec::new(self.encryption.as_ref().into(), &iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .map_err(|_| FernetError::BadPadding)?;
        Ok(Zeroizing::new(plaintext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FernetKey {
        FernetKey::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn rejects_short_misversioned_and_unsigned_tokens() {
        let k = key();
        assert_eq!(k.decrypt(&[0x80; 10]).unwrap_err(), FernetError::Malformed);
        let mut t = vec![0x80u8; HEADER_LEN + BLOCK + MAC_LEN];
        assert_eq!(k.decrypt(&t).unwrap_err(), FernetError::BadSignature);
        t.push(0);
        assert_eq!(k.decrypt(&t).unwrap_err(), FernetError::Malformed);
        t.pop();
        t[0] = 0x81;
        assert_eq!(k.decrypt(&t).unwrap_err(), FernetError::Version(0x81));
        assert!(FernetKey::from_bytes(&[0; 31]).is_none());
        assert_eq!(format!("{k:?}"), "FernetKey(<redacted>)");
    }
}
