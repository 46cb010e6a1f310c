//! Host-key checking against OpenSSH `known_hosts` files: plain and hashed
//! (`|1|salt|hash`, HMAC-SHA1) host entries, `[host]:port` for other ports,
//! `*`/`?` wildcards and `!` negations, and `@revoked` markers.

use crate::codec::{base64_decode, hmac_sha1};

/// What the files say about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A listed key matches.
    Known,
    /// The host is listed, but with other keys (or this key is revoked).
    Mismatch,
    /// The host is not listed at all.
    Unknown,
}

/// The name OpenSSH looks a host up by: `host`, or `[host]:port` when the
/// port is not 22.
pub fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

fn hashed_matches(entry: &str, name: &str) -> bool {
    let mut parts = entry.trim_start_matches("|1|").split('|');
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    match (base64_decode(salt), base64_decode(hash)) {
        (Some(salt), Some(hash)) => hmac_sha1(&salt, name.as_bytes()).as_slice() == hash,
        _ => false,
    }
}

/// Whether a host field (`a,b,!c` or a hashed entry) names `name`.
fn hosts_match(field: &str, name: &str) -> bool {
    if field.starts_with("|1|") {
        return hashed_matches(field, name);
    }
    let mut matched = false;
    for pat in field.split(',') {
        if let Some(neg) = pat.strip_prefix('!') {
            if wildcard(neg, name) {
                return false;
            }
        } else if wildcard(pat, name) {
            matched = true;
        }
    }
    matched
}

/// Checks `key` (the raw key blob the server sent) for `host`:`port`
/// against the text of known_hosts files.
pub fn check(files: &[String], host: &str, port: u16, key: &[u8]) -> Verdict {
    let name = lookup_name(host, port);
    let mut listed = false;
    let mut matched = false;
    for text in files {
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or("");
            let marker = first.strip_prefix('@').map(str::to_string);
            if marker.is_some() {
                first = fields.next().unwrap_or("");
            }
            let (Some(_keytype), Some(blob)) = (fields.next(), fields.next()) else {
                continue;
            };
            if !hosts_match(first, &name) {
                continue;
            }
            let same = base64_decode(blob).is_some_and(|b| b == key);
            match marker.as_deref() {
                Some("revoked") if same => return Verdict::Mismatch,
                Some(_) => continue, // @cert-authority: certificates are not used here
                None => {
                    listed = true;
                    matched |= same;
                }
            }
        }
    }
    if matched {
        Verdict::Known
    } else if listed {
        Verdict::Mismatch
    } else {
        Verdict::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::base64_encode;

    #[test]
    fn table_of_entries() {
        let key = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let other = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
        let k = base64_encode(key);
        let o = base64_encode(other);
        let salt = b"0123456789abcdefghij";
        let hashed = |name: &str| {
            format!(
                "|1|{}|{}",
                base64_encode(salt),
                base64_encode(&hmac_sha1(salt, name.as_bytes()))
            )
        };
        let cases: Vec<(String, &str, u16, Verdict)> = vec![
            (
                format!("h.example ssh-ed25519 {k}"),
                "h.example",
                22,
                Verdict::Known,
            ),
            (
                format!("H.EXAMPLE,other ssh-ed25519 {k}"),
                "h.example",
                22,
                Verdict::Known,
            ),
            (
                format!("h.example ssh-ed25519 {o}"),
                "h.example",
                22,
                Verdict::Mismatch,
            ),
            (
                format!("h.example ssh-ed25519 {k}"),
                "h.example",
                2222,
                Verdict::Unknown,
            ),
            (
                format!("[h.example]:2222 ssh-ed25519 {k}"),
                "h.example",
                2222,
                Verdict::Known,
            ),
            (
                format!("*.example ssh-ed25519 {k}"),
                "h.example",
                22,
                Verdict::Known,
            ),
            (
                format!("*.example,!h.example ssh-ed25519 {k}"),
                "h.example",
                22,
                Verdict::Unknown,
            ),
            (
                format!("{} ssh-ed25519 {k}", hashed("[127.0.0.1]:2222")),
                "127.0.0.1",
                2222,
                Verdict::Known,
            ),
            (
                format!("{} ssh-ed25519 {o}", hashed("127.0.0.1")),
                "127.0.0.1",
                22,
                Verdict::Mismatch,
            ),
            (
                format!("{} ssh-ed25519 {k}", hashed("127.0.0.2")),
                "127.0.0.1",
                22,
                Verdict::Unknown,
            ),
            (
                format!("@revoked h.example ssh-ed25519 {k}\nh.example ssh-ed25519 {k}"),
                "h.example",
                22,
                Verdict::Mismatch,
            ),
            (
                format!("# h.example ssh-ed25519 {k}\n\n"),
                "h.example",
                22,
                Verdict::Unknown,
            ),
            (
                format!("h.example ssh-ed25519 {o}\nh.example ssh-ed25519 {k}"),
                "h.example",
                22,
                Verdict::Known,
            ),
        ];
        for (text, host, port, want) in cases {
            assert_eq!(
                check(std::slice::from_ref(&text), host, port, key),
                want,
                "{text}"
            );
        }
    }
}
