//! What a forge sent: which forge (by its event header), which event, and
//! for a push the repository URLs, the ref and the pushed commit.

use serde_json::Value;

/// The forges whose deliveries are understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    GitLab,
    Gitea,
}

impl Forge {
    pub fn name(self) -> &'static str {
        match self {
            Forge::GitHub => "GitHub",
            Forge::GitLab => "GitLab",
            Forge::Gitea => "Gitea",
        }
    }
}

/// What was pushed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// `refs/heads/NAME` (NAME may contain `/`).
    Branch(String),
    /// `refs/tags/NAME`.
    Tag(String),
}

impl Ref {
    /// The branch or tag name.
    pub fn name(&self) -> &str {
        match self {
            Ref::Branch(n) | Ref::Tag(n) => n,
        }
    }
}

/// A push (branch or tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Candidate repository URLs, as the original collected them.
    pub repo_urls: Vec<String>,
    pub git_ref: Ref,
    /// The commit the ref now points at (empty when the forge sent none).
    pub after: String,
    /// The ref was deleted (nothing to build).
    pub deleted: bool,
}

/// A parsed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Ping,
    Push(Push),
}

/// The URL keys the original read under `project` and `repository`.
const URL_KEYS: [&str; 5] = [
    "git_url",
    "ssh_url",
    "clone_url",
    "git_ssh_url",
    "git_http_url",
];

/// The forge and event named by the headers (`name` lowercase → value);
/// `Err` says why no delivery could be recognized.
pub fn forge_event(header: &dyn Fn(&str) -> Option<String>) -> Result<(Forge, String), String> {
    // Gitea also sends X-GitHub-Event, so it is asked first.
    for (name, forge) in [
        ("x-gitea-event", Forge::Gitea),
        ("x-gogs-event", Forge::Gitea),
        ("x-gitlab-event", Forge::GitLab),
        ("x-github-event", Forge::GitHub),
    ] {
        if let Some(event) = header(name) {
            return Ok((forge, event.trim().to_string()));
        }
    }
    Err("no X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event header: not a forge delivery".into())
}

/// Parses `body` as event `event` of `forge`.
pub fn parse(forge: Forge, event: &str, body: &[u8]) -> Result<Event, String> {
    let kind = match (forge, event) {
        (Forge::GitHub | Forge::Gitea, "ping") => return Ok(Event::Ping),
        (Forge::GitHub | Forge::Gitea, "push") => "push",
        (Forge::GitLab, "Push Hook" | "Tag Push Hook") => "push",
        _ => {
            return Err(format!(
                "{} event '{event}' is not handled (only pushes, tag pushes and pings are)",
                forge.name()
            ));
        }
    };
    debug_assert_eq!(kind, "push");
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the {} push is not valid JSON: {e}", forge.name()))?;
    let Some(object) = json.as_object() else {
        return Err(format!("the {} push is not a JSON object", forge.name()));
    };
    let full_ref = object
        .get("ref")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the {} push has no 'ref' string", forge.name()))?;
    let git_ref = if let Some(b) = full_ref.strip_prefix("refs/heads/") {
        Ref::Branch(b.to_string())
    } else if let Some(t) = full_ref.strip_prefix("refs/tags/") {
        Ref::Tag(t.to_string())
    } else {
        return Err(format!("ref '{full_ref}' is neither a branch nor a tag"));
    };
    let after = object
        .get("after")
        .or_else(|| object.get("checkout_sha"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let zero = !after.is_empty() && after.bytes().all(|c| c == b'0');
    let deleted = object
        .get("deleted")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || zero;
    let mut repo_urls = Vec::new();
    for top in ["project", "repository"] {
        if let Some(inner) = object.get(top).and_then(Value::as_object) {
            for key in URL_KEYS {
                if let Some(url) = inner.get(key).and_then(Value::as_str)
                    && !url.is_empty()
                    && !repo_urls.iter().any(|u| u == url)
                {
                    repo_urls.push(url.to_string());
                }
            }
        }
    }
    Ok(Event::Push(Push {
        repo_urls,
        git_ref,
        after,
        deleted,
    }))
}
