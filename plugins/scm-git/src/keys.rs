//! Facts about the project's private keys, read before any connection so a
//! key that cannot be used fails the build with the key's name.

use crate::codec::base64_decode;

/// Whether `private_key` is protected by a passphrase (PEM `ENCRYPTED`, or
/// an OpenSSH key whose cipher is not `none`).
pub fn has_passphrase(private_key: &str) -> bool {
    if private_key.contains("Proc-Type: 4,ENCRYPTED")
        || private_key.contains("BEGIN ENCRYPTED PRIVATE KEY")
    {
        return true;
    }
    let Some(body) = private_key
        .split("-----BEGIN OPENSSH PRIVATE KEY-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END OPENSSH PRIVATE KEY-----").next())
    else {
        return false;
    };
    let b64: String = body.split_whitespace().collect();
    let Some(raw) = base64_decode(&b64) else {
        return false;
    };
    let Some(rest) = raw.strip_prefix(b"openssh-key-v1\0") else {
        return false;
    };
    let Some(len) = rest.get(..4) else {
        return false;
    };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    rest.get(4..4 + len).is_some_and(|cipher| cipher != b"none")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::base64_encode;

    fn openssh(cipher: &str) -> String {
        let mut raw = b"openssh-key-v1\0".to_vec();
        raw.extend_from_slice(&(cipher.len() as u32).to_be_bytes());
        raw.extend_from_slice(cipher.as_bytes());
        raw.extend_from_slice(b"\0\0\0\0rest");
        format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
            base64_encode(&raw)
        )
    }

    #[test]
    fn table_of_keys() {
        let cases = [
            (openssh("none"), false),
            (openssh("aes256-ctr"), true),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n".into(),
                true,
            ),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n".into(), false),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIE\n".into(), true),
            ("garbage".into(), false),
        ];
        for (key, want) in cases {
            assert_eq!(has_passphrase(&key), want, "{key}");
        }
    }
}
