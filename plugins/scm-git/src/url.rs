//! Repository URLs: which transport they use, the SSH host and port (for
//! the host-key check), and how they are shown with any credential removed.

/// The transport a URL selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `file://` or a local path.
    Local,
    /// `git://`: anonymous, read-only.
    Git,
    /// `http://` or `https://`.
    Http,
    /// `ssh://`, `git+ssh://`, `ssh+git://` or scp-like `[user@]host:path`.
    Ssh { host: String, port: u16 },
}

/// A parsed repository URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl {
    pub raw: String,
    pub transport: Transport,
    /// The user named in the URL, if any.
    pub user: Option<String>,
}

/// Splits `[user[:password]@]host[:port]` into its parts.
fn authority(auth: &str) -> (Option<String>, String, Option<u16>) {
    let (user, hostport) = match auth.rsplit_once('@') {
        Some((u, h)) => (Some(u.split(':').next().unwrap_or(u).to_string()), h),
        None => (None, auth),
    };
    // [v6]:port or host:port
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (user, host.to_string(), port);
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => {
            (user, h.to_string(), p.parse().ok())
        }
        _ => (user, hostport.to_string(), None),
    }
}

impl RepoUrl {
    pub fn parse(raw: &str) -> Result<RepoUrl, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("the repository URL is empty".into());
        }
        if let Some((scheme, rest)) = raw.split_once("://") {
            let auth = rest.split('/').next().unwrap_or("");
            let (user, host, port) = authority(auth);
            let transport = match scheme.to_ascii_lowercase().as_str() {
                "file" => Transport::Local,
                "git" => Transport::Git,
                "http" | "https" => Transport::Http,
                "ssh" | "git+ssh" | "ssh+git" => {
                    if host.is_empty() {
                        return Err(format!("'{}' names no host", display(raw)));
                    }
                    Transport::Ssh {
                        host,
                        port: port.unwrap_or(22),
                    }
                }
                other => {
                    return Err(format!(
                        "'{}' uses '{other}://', which git cannot clone from (use file, git, http, https or ssh)",
                        display(raw)
                    ));
                }
            };
            return Ok(RepoUrl {
                raw: raw.to_string(),
                transport,
                user,
            });
        }
        // scp-like syntax: a colon before any slash.
        if let Some((auth, _path)) = raw.split_once(':')
            && !auth.contains('/')
            && !auth.is_empty()
        {
            let (user, host) = match auth.rsplit_once('@') {
                Some((u, h)) => (Some(u.to_string()), h.to_string()),
                None => (None, auth.to_string()),
            };
            return Ok(RepoUrl {
                raw: raw.to_string(),
                transport: Transport::Ssh { host, port: 22 },
                user,
            });
        }
        Ok(RepoUrl {
            raw: raw.to_string(),
            transport: Transport::Local,
            user: None,
        })
    }

    /// The URL as shown in messages.
    pub fn display(&self) -> String {
        display(&self.raw)
    }
}

/// `raw` with any password removed; for http(s) the whole user part goes.
pub fn display(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_string();
    };
    let (auth, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = auth.rsplit_once('@') else {
        return raw.to_string();
    };
    let http = matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https");
    if http {
        format!("{scheme}://{host}{path}")
    } else {
        let user = userinfo.split(':').next().unwrap_or("");
        format!("{scheme}://{user}@{host}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_urls() {
        let ssh = |h: &str, p: u16| Transport::Ssh {
            host: h.into(),
            port: p,
        };
        let cases: &[(&str, Transport, Option<&str>, &str)] = &[
            (
                "file:///srv/repo.git",
                Transport::Local,
                None,
                "file:///srv/repo.git",
            ),
            ("/srv/repo", Transport::Local, None, "/srv/repo"),
            ("./rel/repo", Transport::Local, None, "./rel/repo"),
            (
                "git://127.0.0.1/r.git",
                Transport::Git,
                None,
                "git://127.0.0.1/r.git",
            ),
            (
                "https://h.example/r.git",
                Transport::Http,
                None,
                "https://h.example/r.git",
            ),
            (
                "https://bob:hunter2@h.example:8443/r.git",
                Transport::Http,
                Some("bob"),
                "https://h.example:8443/r.git",
            ),
            (
                "ssh://git@127.0.0.1:2222/srv/r.git",
                ssh("127.0.0.1", 2222),
                Some("git"),
                "ssh://git@127.0.0.1:2222/srv/r.git",
            ),
            (
                "git+ssh://h.example/r.git",
                ssh("h.example", 22),
                None,
                "git+ssh://h.example/r.git",
            ),
            (
                "ssh://git:pw@[::1]:2200/r",
                ssh("::1", 2200),
                Some("git"),
                "ssh://git@[::1]:2200/r",
            ),
            (
                "git@github.com:org/repo.git",
                ssh("github.com", 22),
                Some("git"),
                "git@github.com:org/repo.git",
            ),
            ("host:repo", ssh("host", 22), None, "host:repo"),
        ];
        for (raw, transport, user, shown) in cases {
            let u = RepoUrl::parse(raw).unwrap();
            assert_eq!(&u.transport, transport, "{raw}");
            assert_eq!(u.user.as_deref(), *user, "{raw}");
            assert_eq!(u.display(), *shown, "{raw}");
        }
        assert!(RepoUrl::parse("  ").is_err());
        let e = RepoUrl::parse("ftp://user:pw@h/r").unwrap_err();
        assert!(e.contains("ftp://"), "{e}");
        assert!(!e.contains("pw"), "{e}");
    }
}
