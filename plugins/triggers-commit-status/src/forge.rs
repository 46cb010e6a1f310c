//! The forges a commit status goes to: which one a project's repository URL
//! belongs to, where its API is, and the request each one takes.
//!
//! | forge | endpoint | token header | states |
//! | --- | --- | --- | --- |
//! | GitHub (and Enterprise: `API/api/v3`) | `POST /repos/{owner}/{repo}/statuses/{sha}` | `Authorization: Bearer` | pending, success, failure, error |
//! | GitLab | `POST /projects/{url-encoded path}/statuses/{sha}` | `PRIVATE-TOKEN` | pending, success, failed, canceled |
//! | Gitea (Forgejo) | `POST /repos/{owner}/{repo}/statuses/{sha}` | `Authorization: token` | pending, success, failure, error |

pub use vespene_notify_support::Credential;
use vespene_notify_support::{Request, base_url, kind_of, required_string, string_param};
use vespene_plugin_api::serde_json::{Map, Value, json};

/// Which API a forge speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GitHub,
    GitLab,
    Gitea,
}

/// How a build stands, in the forge's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Success,
    Failure,
    /// Stopped (ABORTED): `error` on GitHub and Gitea, `canceled` on GitLab.
    Stopped,
}

impl State {
    /// The forge's word for it.
    pub fn word(self, kind: Kind) -> &'static str {
        match (self, kind) {
            (State::Pending, _) => "pending",
            (State::Success, _) => "success",
            (State::Failure, Kind::GitLab) => "failed",
            (State::Failure, _) => "failure",
            (State::Stopped, Kind::GitLab) => "canceled",
            (State::Stopped, _) => "error",
        }
    }
}

/// One configured forge. Its `Debug` leaves the token out.
#[derive(Clone, PartialEq, Eq)]
pub struct Forge {
    pub kind: Kind,
    /// Lowercased host name of the web URL, which repository URLs carry.
    pub host: String,
    /// Path of the web URL (`/gitlab` for an instance under a path), or "".
    pub prefix: String,
    /// The API's base, without a trailing slash.
    pub api: String,
    pub credential: Credential,
}

impl std::fmt::Debug for Forge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forge")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("prefix", &self.prefix)
            .field("api", &self.api)
            .field("credential", &self.credential)
            .finish()
    }
}

impl Forge {
    /// One entry of `forges`: `{type, url, token | service_login, api_url?}`.
    pub fn from_params(entry: &Value, at: usize) -> Result<Forge, String> {
        let Value::Object(map) = entry else {
            return Err(format!(
                "forges[{at}] must be a table {{type, url, token}}, not {}",
                kind_of(entry)
            ));
        };
        let inside = |why: String| format!("forges[{at}]: {why}");
        if let Some(key) = map
            .keys()
            .filter(|k| !["type", "url", "api_url", "token", "service_login"].contains(&k.as_str()))
            .min()
        {
            return Err(inside(format!(
                "unknown key '{key}' (expected api_url, service_login, token, type, url)"
            )));
        }
        let kind = match required_string(map, "type").map_err(inside)?.as_str() {
            "github" => Kind::GitHub,
            "gitlab" => Kind::GitLab,
            "gitea" | "forgejo" => Kind::Gitea,
            other => {
                return Err(inside(format!(
                    "type '{other}' is not one of github, gitlab, gitea"
                )));
            }
        };
        let url = base_url("url", &required_string(map, "url").map_err(inside)?).map_err(inside)?;
        let credential = Credential::from_params(map).map_err(inside)?;
        let (host, prefix) = split_web_url(&url);
        let api = match string_param(map, "api_url").map_err(inside)? {
            Some(api) => base_url("api_url", &api).map_err(inside)?,
            None => default_api(kind, &url, &host),
        };
        Ok(Forge {
            kind,
            host,
            prefix,
            api,
            credential,
        })
    }

    /// The forge's name for the repository at `repo_url`, if it is one of
    /// this forge's: `owner/repo` (GitHub, Gitea; exactly two segments) or
    /// the project path with its groups (GitLab).
    pub fn repository(&self, repo_url: &str) -> Option<String> {
        let (host, path) = split_repo_url(repo_url)?;
        if host != self.host {
            return None;
        }
        let mut path = path.trim_matches('/');
        if !self.prefix.is_empty()
            && let Some(rest) = path.strip_prefix(self.prefix.trim_start_matches('/'))
            && rest.starts_with('/')
        {
            path = rest.trim_start_matches('/');
        }
        let path = path
            .strip_suffix(".git")
            .unwrap_or(path)
            .trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return None;
        }
        match self.kind {
            Kind::GitLab if segments.len() >= 2 => Some(path.to_string()),
            Kind::GitHub | Kind::Gitea if segments.len() == 2 => Some(path.to_string()),
            _ => None,
        }
    }

    /// The request that sets `state` on commit `sha` of `repository`,
    /// authenticated with `token`.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &self,
        token: &str,
        repository: &str,
        sha: &str,
        state: State,
        description: &str,
        context: &str,
        target_url: Option<&str>,
    ) -> Request {
        let mut body = Map::new();
        body.insert("state".into(), json!(state.word(self.kind)));
        if let Some(url) = target_url {
            body.insert("target_url".into(), json!(url));
        }
        body.insert("description".into(), json!(description));
        let (url, auth) = match self.kind {
            Kind::GitHub => (
                format!("{}/repos/{repository}/statuses/{sha}", self.api),
                ("authorization", format!("Bearer {token}")),
            ),
            Kind::Gitea => (
                format!("{}/repos/{repository}/statuses/{sha}", self.api),
                ("authorization", format!("token {token}")),
            ),
            Kind::GitLab => (
                format!(
                    "{}/projects/{}/statuses/{sha}",
                    self.api,
                    repository.replace('/', "%2F")
                ),
                ("private-token", token.to_string()),
            ),
        };
        // GitLab calls the status's name `name`, the others `context`.
        let name_key = if self.kind == Kind::GitLab {
            "name"
        } else {
            "context"
        };
        body.insert(name_key.into(), json!(context));
        let mut headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            (auth.0.to_string(), auth.1),
            ("user-agent".to_string(), "Vespene".to_string()),
        ];
        if self.kind == Kind::GitHub {
            headers.insert(0, ("accept".into(), "application/vnd.github+json".into()));
            headers.push(("x-github-api-version".into(), "2022-11-28".into()));
        }
        Request {
            method: "POST".into(),
            url,
            headers,
            body: Value::Object(body).to_string().into_bytes(),
        }
    }
}

/// GitHub.com's API is another host; GitHub Enterprise's is under
/// `/api/v3`, GitLab's `/api/v4`, Gitea's `/api/v1`.
fn default_api(kind: Kind, url: &str, host: &str) -> String {
    match kind {
        Kind::GitHub if host == "github.com" => "https://api.github.com".into(),
        Kind::GitHub => format!("{url}/api/v3"),
        Kind::GitLab => format!("{url}/api/v4"),
        Kind::Gitea => format!("{url}/api/v1"),
    }
}

/// `https://Git.Example.com:8443/gitlab` → (`git.example.com`, `/gitlab`).
fn split_web_url(url: &str) -> (String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.trim_end_matches('/');
    (
        host_of(authority),
        if path.is_empty() {
            String::new()
        } else {
            format!("/{path}")
        },
    )
}

/// The lowercased host of `user@host:port`.
fn host_of(authority: &str) -> String {
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    host.to_ascii_lowercase()
}

/// The host and path of a repository URL in any form git takes:
/// `https://host/o/r.git`, `ssh://git@host:22/o/r.git`, `git://host/o/r`,
/// and scp-like `git@host:o/r.git`.
pub fn split_repo_url(url: &str) -> Option<(String, String)> {
    let url = url.trim();
    if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(
            scheme,
            "http" | "https" | "ssh" | "git" | "git+ssh" | "ssh+git"
        ) {
            return None;
        }
        let (authority, path) = rest.split_once('/')?;
        let path = path.split(['?', '#']).next().unwrap_or_default();
        return Some((host_of(authority), path.to_string()));
    }
    // scp-like: [user@]host:path, with no slash before the colon.
    let (authority, path) = url.split_once(':')?;
    if authority.is_empty() || authority.contains('/') {
        return None;
    }
    Some((host_of(authority), path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forge(kind: &str, url: &str) -> Forge {
        Forge::from_params(&json!({"type": kind, "url": url, "token": "t0ken"}), 0).unwrap()
    }

    #[test]
    fn repository_urls_in_every_form() {
        let gh = forge("github", "https://github.com");
        assert_eq!(gh.api, "https://api.github.com");
        for url in [
            "https://github.com/octo/hello.git",
            "https://user@GitHub.com/octo/hello",
            "http://github.com/octo/hello/",
            "git@github.com:octo/hello.git",
            "ssh://git@github.com:22/octo/hello.git",
            "ssh://git@github.com/octo/hello",
            "git://github.com/octo/hello.git",
        ] {
            assert_eq!(gh.repository(url).as_deref(), Some("octo/hello"), "{url}");
        }
        for url in [
            "https://gitlab.com/octo/hello.git",
            "https://github.com/octo",
            "https://github.com/octo/hello/tree",
            "/srv/git/hello.git",
            "file:///srv/git/hello.git",
            "",
        ] {
            assert_eq!(gh.repository(url), None, "{url}");
        }
    }

    #[test]
    fn enterprise_and_instances_under_a_path() {
        let ghe = forge("github", "https://ghe.example.com/");
        assert_eq!(ghe.api, "https://ghe.example.com/api/v3");
        let gl = forge("gitlab", "https://example.com/gitlab");
        assert_eq!(gl.api, "https://example.com/gitlab/api/v4");
        assert_eq!(
            gl.repository("https://example.com/gitlab/group/sub/app.git")
                .as_deref(),
            Some("group/sub/app")
        );
        assert_eq!(
            gl.repository("git@example.com:group/sub/app.git")
                .as_deref(),
            Some("group/sub/app")
        );
        let gt = forge("gitea", "http://127.0.0.1:3000");
        assert_eq!(gt.api, "http://127.0.0.1:3000/api/v1");
        assert_eq!(
            gt.repository("ssh://git@127.0.0.1:2222/o/r.git").as_deref(),
            Some("o/r")
        );
    }

    #[test]
    fn requests_per_forge() {
        let sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
        let gl = forge("gitlab", "https://gitlab.example.com");
        let r = gl.request(
            "t0ken",
            "g/s/app",
            sha,
            State::Failure,
            "d",
            "vespene",
            None,
        );
        assert_eq!(
            r.url,
            format!("https://gitlab.example.com/api/v4/projects/g%2Fs%2Fapp/statuses/{sha}")
        );
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"state":"failed","description":"d","name":"vespene"}"#
        );
        assert!(
            r.headers
                .contains(&("private-token".into(), "t0ken".into()))
        );
        let gt = forge("gitea", "https://gitea.example.com");
        let r = gt.request(
            "t0ken",
            "o/r",
            sha,
            State::Stopped,
            "d",
            "ci",
            Some("https://ci/ui/build/1"),
        );
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"state":"error","target_url":"https://ci/ui/build/1","description":"d","context":"ci"}"#
        );
        assert!(
            r.headers
                .contains(&("authorization".into(), "token t0ken".into()))
        );
        assert!(!format!("{gt:?}").contains("t0ken"));
    }

    #[test]
    fn a_forge_may_name_a_service_login() {
        let f = Forge::from_params(
            &json!({"type": "github", "url": "https://github.com", "service_login": "gh-bot"}),
            0,
        )
        .unwrap();
        assert_eq!(f.credential, Credential::ServiceLogin("gh-bot".into()));
        assert!(format!("{f:?}").contains("gh-bot"));
    }

    #[test]
    fn bad_entries_are_refused() {
        for (entry, why) in [
            (json!("github"), "must be a table"),
            (
                json!({"type": "bitbucket", "url": "https://b.org", "token": "x"}),
                "not one of github",
            ),
            (
                json!({"type": "github", "url": "github.com", "token": "x"}),
                "'url' must be an http",
            ),
            (
                json!({"type": "github", "url": "https://github.com"}),
                "'token' or 'service_login' is required",
            ),
            (
                json!({"type": "github", "url": "https://github.com", "token": "x", "service_login": "gh"}),
                "not both",
            ),
            (
                json!({"type": "github", "url": "https://github.com", "token": "x", "tokn": 1}),
                "unknown key 'tokn'",
            ),
        ] {
            let err = Forge::from_params(&entry, 2).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}
