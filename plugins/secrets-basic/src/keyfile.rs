//! Reading the key files: the secrets key file (format in the crate docs)
//! and the original's Fernet key, given inline or in a file.

use crate::fernet::FernetKey;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
use std::io::ErrorKind;
use std::path::Path;
use zeroize::Zeroizing;

/// Length of the secrets key in bytes.
pub const KEY_LEN: usize = 32;

/// The 32 key bytes read from a key file. Wiped on drop; `Debug` shows
/// nothing of it.
pub struct KeyBytes(pub Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyBytes(<redacted>)")
    }
}

/// A key file that was read, with what the caller should warn about.
pub struct LoadedKey {
    pub key: KeyBytes,
    /// The file's permission bits when group or others have any access to
    /// it (`mode & 0o077 != 0`).
    pub loose_mode: Option<u32>,
}

/// Why a key file could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileError {
    /// There is no file at the path.
    Missing,
    /// The file exists but cannot be used; the text says why.
    Unusable(String),
}

/// Lines that carry data: trimmed, neither blank nor comments.
fn data_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Reads a file that must be UTF-8 text, telling a missing file apart.
fn read_text(path: &Path) -> Result<(String, u32), KeyFileError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(KeyFileError::Missing),
        Err(e) => return Err(KeyFileError::Unusable(format!("cannot be read: {e}"))),
    };
    if !meta.is_file() {
        return Err(KeyFileError::Unusable("is not a regular file".into()));
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => KeyFileError::Missing,
        _ => KeyFileError::Unusable(format!("cannot be read: {e}")),
    })?);
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| KeyFileError::Unusable("is not UTF-8 text".into()))?;
    Ok((text, mode_of(&meta)))
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(_meta: &std::fs::Metadata) -> u32 {
    0o600
}

/// Parses the text of a secrets key file (see the crate docs).
pub fn parse_key_text(text: &str) -> Result<KeyBytes, String> {
    let line = data_lines(text).next().ok_or_else(|| {
        "holds no key (only blank lines and # comments); write a new one with `vespene secrets generate`"
            .to_string()
    })?;
    let decoded = Zeroizing::new(
        STANDARD_PAD_INDIFFERENT
            .decode(line)
            // The decoder's message would quote a character of the key.
            .map_err(|_| "key line is not standard base64".to_string())?,
    );
    if decoded.len() != KEY_LEN {
        return Err(format!(
            "key is {} bytes long, it must be exactly {KEY_LEN} bytes (44 base64 characters)",
            decoded.len()
        ));
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&decoded);
    Ok(KeyBytes(key))
}

/// Reads the secrets key file at `path`.
pub fn read_key_file(path: &Path) -> Result<LoadedKey, KeyFileError> {
    let (text, mode) = read_text(path)?;
    let text = Zeroizing::new(text);
    let key = parse_key_text(&text).map_err(KeyFileError::Unusable)?;
    Ok(LoadedKey {
        key,
        loose_mode: (mode & 0o077 != 0).then_some(mode),
    })
}

/// Makes the contents of a new key file: a comment and 32 fresh random
/// bytes in standard base64. The core writes key files itself (`vespene
/// secrets generate`); this is here for tests and as the reference layout.
pub fn generate_key_file_contents() -> String {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(key.as_mut()).expect("the operating system's random source is available");
    format!(
        "# Vespene secrets key (vespene.plugins.secrets.basic). Keep this file private\n\
         # (mode 0600), the same on every node, and backed up: without it, stored\n\
         # secrets cannot be read.\n{}\n",
        base64::engine::general_purpose::STANDARD.encode(key.as_ref())
    )
}

/// Parses a Fernet key: URL-safe base64 of 32 bytes, as the original's
/// `SYMETRIC_SECRET_KEY` (padding optional).
pub fn parse_fernet_key(text: &str) -> Result<FernetKey, String> {
    let decoded = Zeroizing::new(
        URL_SAFE_PAD_INDIFFERENT
            .decode(text.trim())
            .map_err(|_| "is not URL-safe base64".to_string())?,
    );
    FernetKey::from_bytes(&decoded).ok_or_else(|| {
        format!(
            "decodes to {} bytes, a Fernet key is exactly 32 bytes",
            decoded.len()
        )
    })
}

/// Takes the key out of a legacy key file: the value of a
/// `SYMETRIC_SECRET_KEY = b'...'` line (the original's
/// `/etc/vespene/settings.d/secrets.py` works as it is), or else the first
/// line that is neither blank nor a `#` comment.
fn legacy_key_line(text: &str) -> Result<&str, String> {
    for line in data_lines(text) {
        if let Some(rest) = line.strip_prefix("SYMETRIC_SECRET_KEY") {
            let value = rest
                .trim_start()
                .strip_prefix('=')
                .ok_or("has a SYMETRIC_SECRET_KEY line without '='")?
                .trim();
            if value == "None" {
                return Err("sets SYMETRIC_SECRET_KEY = None: no key was ever generated".into());
            }
            let value = value.strip_prefix('b').unwrap_or(value);
            for quote in ['\'', '"'] {
                if let Some(inner) = value
                    .strip_prefix(quote)
                    .and_then(|v| v.strip_suffix(quote))
                {
                    return Ok(inner);
                }
            }
            return Err("has a SYMETRIC_SECRET_KEY line whose value is not a quoted string".into());
        }
    }
    data_lines(text)
        .next()
        .ok_or_else(|| "holds no key (only blank lines and # comments)".to_string())
}

/// Reads the original's Fernet key from a file (see [`legacy_key_line`]).
pub fn read_legacy_key_file(path: &Path) -> Result<FernetKey, String> {
    let (text, _mode) = read_text(path).map_err(|e| match e {
        KeyFileError::Missing => "does not exist".to_string(),
        KeyFileError::Unusable(why) => why,
    })?;
    let text = Zeroizing::new(text);
    let line = legacy_key_line(&text)?;
    parse_fernet_key(line).map_err(|e| format!("Fernet key {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_skips_comments_and_blank_lines() {
        let good = "\n# a comment\n   \n  # indented comment\r\n  AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=  \r\nignored\n";
        let key = parse_key_text(good).unwrap();
        assert_eq!(key.0[0], 0);
        assert_eq!(key.0[31], 31);
        // Padding may be left out.
        let key = parse_key_text("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
        assert_eq!(key.0[1], 1);
    }

    #[test]
    fn malformed_key_text_says_why() {
        let err = parse_key_text("# only a comment\n\n").err().unwrap();
        assert!(err.contains("holds no key"), "{err}");
        let err = parse_key_text("not*base64!").err().unwrap();
        assert!(err.contains("not standard base64"), "{err}");
        let err = parse_key_text("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd")
            .err()
            .unwrap();
        assert!(err.contains("30 bytes"), "{err}");
        // URL-safe alphabet is not the standard one.
        let err = parse_key_text("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-_")
            .err()
            .unwrap();
        assert!(err.contains("not standard base64"), "{err}");
    }

    #[test]
    fn generated_contents_parse_back_and_differ() {
        let a = generate_key_file_contents();
        let b = generate_key_file_contents();
        assert_ne!(a, b);
        assert!(a.starts_with('#'));
        let key_line = a.lines().find(|l| !l.starts_with('#')).unwrap();
        assert_eq!(key_line.len(), 44);
        assert!(key_line.ends_with('='));
        parse_key_text(&a).unwrap();
    }

    #[test]
    fn legacy_key_line_reads_the_originals_settings_file() {
        let original = "\nDJANGO_SECRET_KEY = \"abc\"\n\nSYMETRIC_SECRET_KEY = b'eSY5LYfY2QVSXkJYdbBM5AZBdOb0e89UHEdeaXgzf7w='\n";
        assert_eq!(
            legacy_key_line(original).unwrap(),
            "eSY5LYfY2QVSXkJYdbBM5AZBdOb0e89UHEdeaXgzf7w="
        );
        assert_eq!(
            legacy_key_line("# key\nSYMETRIC_SECRET_KEY=\"k\"").unwrap(),
            "k"
        );
        assert_eq!(legacy_key_line("# bare\nthe-key\n").unwrap(), "the-key");
        assert!(
            legacy_key_line("SYMETRIC_SECRET_KEY = None")
                .unwrap_err()
                .contains("None")
        );
        assert!(legacy_key_line("SYMETRIC_SECRET_KEY = k").is_err());
        assert!(legacy_key_line("# nothing\n").is_err());
        assert!(parse_fernet_key("eSY5LYfY2QVSXkJYdbBM5AZBdOb0e89UHEdeaXgzf7w").is_ok());
        assert!(
            parse_fernet_key("c2hvcnQ=")
                .unwrap_err()
                .contains("5 bytes")
        );
    }
}
