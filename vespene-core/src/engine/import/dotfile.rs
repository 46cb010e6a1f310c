//! The `.vespene` file of an imported repository (reference §6.3): YAML,
//! not templated, every key optional, unknown keys ignored. A key of the
//! wrong type makes the whole file malformed (the repository fails, the
//! others still import).

use serde_json::{Map, Value};

/// The file's name at the repository's root.
pub const FILE_NAME: &str = ".vespene";

/// The keys this version reads, in the documentation's order.
pub const KEYS: [&str; 14] = [
    "name",
    "script",
    "timeout",
    "container_base_image",
    "repo_branch",
    "webhook_enabled",
    "variables",
    "launch_questions",
    "worker_pool",
    "pipeline",
    "pipeline_definition",
    "stage",
    "owner_groups",
    "launch_groups",
];

/// The original's documentation called `owner_groups` this; its code
/// ignored it. Read as `owner_groups` when that key is absent.
pub const OWNER_GROUPS_DOC_NAME: &str = "ownership_groups";

/// A parsed `.vespene`. `None`: the key is absent (or null), so the
/// project keeps what it has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dotfile {
    pub name: Option<String>,
    /// Path of a file in the repository whose text becomes the script.
    pub script: Option<String>,
    /// Minutes.
    pub timeout: Option<i32>,
    pub container_base_image: Option<String>,
    pub repo_branch: Option<String>,
    pub webhook_enabled: Option<bool>,
    pub variables: Option<Map<String, Value>>,
    pub launch_questions: Option<Vec<Value>>,
    pub worker_pool: Option<String>,
    pub pipeline: Option<String>,
    pub pipeline_definition: Option<Vec<String>>,
    pub stage: Option<String>,
    pub owner_groups: Option<Vec<String>>,
    pub launch_groups: Option<Vec<String>>,
    /// Keys present that this version does not read.
    pub ignored: Vec<String>,
}

fn text(key: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!(
            "key '{key}' must be a string, not {}",
            describe(other)
        )),
    }
}

fn names(key: &str, v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|item| {
                text(key, item).map_err(|_| {
                    format!("key '{key}' must list names, but holds {}", describe(item))
                })
            })
            .collect(),
        other => Err(format!(
            "key '{key}' must be a list of names, not {}",
            describe(other)
        )),
    }
}

fn describe(v: &Value) -> String {
    let kind = match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    };
    let shown = v.to_string();
    if shown.chars().count() > 60 {
        kind.to_string()
    } else {
        format!("{kind} ({shown})")
    }
}

impl Dotfile {
    /// Parses the file's text. An empty file is valid and sets nothing.
    pub fn parse(source: &str) -> Result<Dotfile, String> {
        let yaml: serde_norway::Value =
            serde_norway::from_str(source).map_err(|e| format!("not valid YAML: {e}"))?;
        let value = serde_json::to_value(&yaml)
            .map_err(|e| format!("not a mapping of names to values: {e}"))?;
        let map = match value {
            Value::Null => return Ok(Dotfile::default()),
            Value::Object(map) => map,
            other => {
                return Err(format!(
                    "the file must be a mapping of keys (name, script, timeout, ...), not {}",
                    describe(&other)
                ));
            }
        };
        let mut d = Dotfile::default();
        for (key, v) in &map {
            if v.is_null() {
                continue;
            }
            match key.as_str() {
                "name" => d.name = Some(text(key, v)?),
                "script" => d.script = Some(text(key, v)?),
                "timeout" => {
                    d.timeout = Some(v.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(
                        || {
                            format!(
                                "key 'timeout' must be a whole number of minutes, not {}",
                                describe(v)
                            )
                        },
                    )?)
                }
                "container_base_image" => d.container_base_image = Some(text(key, v)?),
                "repo_branch" => d.repo_branch = Some(text(key, v)?),
                "webhook_enabled" => {
                    d.webhook_enabled = Some(v.as_bool().ok_or_else(|| {
                        format!(
                            "key 'webhook_enabled' must be true or false, not {}",
                            describe(v)
                        )
                    })?)
                }
                "variables" => match v {
                    Value::Object(m) => d.variables = Some(m.clone()),
                    other => {
                        return Err(format!(
                            "key 'variables' must be a mapping of names to values, not {}",
                            describe(other)
                        ));
                    }
                },
                "launch_questions" => match v {
                    Value::Array(items) => d.launch_questions = Some(items.clone()),
                    other => {
                        return Err(format!(
                            "key 'launch_questions' must be a list of questions, not {}",
                            describe(other)
                        ));
                    }
                },
                "worker_pool" => d.worker_pool = Some(text(key, v)?),
                "pipeline" => d.pipeline = Some(text(key, v)?),
                "pipeline_definition" => d.pipeline_definition = Some(names(key, v)?),
                "stage" => d.stage = Some(text(key, v)?),
                "owner_groups" => d.owner_groups = Some(names(key, v)?),
                "launch_groups" => d.launch_groups = Some(names(key, v)?),
                OWNER_GROUPS_DOC_NAME => {}
                other => d.ignored.push(other.to_string()),
            }
        }
        if d.owner_groups.is_none()
            && let Some(v) = map.get(OWNER_GROUPS_DOC_NAME).filter(|v| !v.is_null())
        {
            d.owner_groups = Some(names(OWNER_GROUPS_DOC_NAME, v)?);
        }
        Ok(d)
    }

    /// The file with the import's defaults under it (reference §6.2 d):
    /// the name is the repository URL's last segment, and the webhook is
    /// on unless the file says otherwise.
    pub fn with_defaults(mut self, repo_url: &str) -> Dotfile {
        if self.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            self.name = Some(default_name(repo_url));
        }
        self.webhook_enabled.get_or_insert(true);
        self
    }

    /// What the import applies, as JSON for the "applying config" message.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        let s = |o: &Option<String>| o.clone().map(Value::String);
        let list = |o: &Option<Vec<String>>| {
            o.clone()
                .map(|l| Value::Array(l.into_iter().map(Value::String).collect()))
        };
        put("name", s(&self.name));
        put("script", s(&self.script));
        put("timeout", self.timeout.map(Value::from));
        put("container_base_image", s(&self.container_base_image));
        put("repo_branch", s(&self.repo_branch));
        put("webhook_enabled", self.webhook_enabled.map(Value::Bool));
        put("variables", self.variables.clone().map(Value::Object));
        put(
            "launch_questions",
            self.launch_questions.clone().map(Value::Array),
        );
        put("worker_pool", s(&self.worker_pool));
        put("pipeline", s(&self.pipeline));
        put("pipeline_definition", list(&self.pipeline_definition));
        put("stage", s(&self.stage));
        put("owner_groups", list(&self.owner_groups));
        put("launch_groups", list(&self.launch_groups));
        Value::Object(m)
    }
}

/// The last path segment of a repository URL (`…/repo.git` → `repo.git`),
/// the original's default project name.
pub fn default_name(repo_url: &str) -> String {
    repo_url
        .trim()
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(repo_url)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key() {
        let d = Dotfile::parse(
            "name: \"My Awesome Project\"\nscript: go.sh\ntimeout: 90\ncontainer_base_image: ubuntu\n\
             repo_branch: main\nwebhook_enabled: false\nvariables: {asdf: 1234, luggage_code: '5150'}\n\
             launch_questions: [{variable: v, type: text, prompt: P}]\nworker_pool: general\n\
             pipeline: finance\npipeline_definition: [build, qa, release]\nstage: build\n\
             owner_groups: [dev, qa]\nlaunch_groups: [support]\nfrobnicate: 1\n",
        )
        .unwrap();
        assert_eq!(d.name.as_deref(), Some("My Awesome Project"));
        assert_eq!(d.script.as_deref(), Some("go.sh"));
        assert_eq!(d.timeout, Some(90));
        assert_eq!(d.container_base_image.as_deref(), Some("ubuntu"));
        assert_eq!(d.repo_branch.as_deref(), Some("main"));
        assert_eq!(d.webhook_enabled, Some(false));
        assert_eq!(d.variables.unwrap()["asdf"], 1234);
        assert_eq!(d.launch_questions.unwrap().len(), 1);
        assert_eq!(d.worker_pool.as_deref(), Some("general"));
        assert_eq!(d.pipeline.as_deref(), Some("finance"));
        assert_eq!(d.pipeline_definition.unwrap(), ["build", "qa", "release"]);
        assert_eq!(d.stage.as_deref(), Some("build"));
        assert_eq!(d.owner_groups.unwrap(), ["dev", "qa"]);
        assert_eq!(d.launch_groups.unwrap(), ["support"]);
        assert_eq!(d.ignored, ["frobnicate"]);
    }

    #[test]
    fn empty_and_null_files_set_nothing() {
        assert_eq!(Dotfile::parse("").unwrap(), Dotfile::default());
        assert_eq!(Dotfile::parse("# nothing\n").unwrap(), Dotfile::default());
        assert_eq!(Dotfile::parse("name: ~\n").unwrap(), Dotfile::default());
    }

    #[test]
    fn the_documented_ownership_groups_spelling() {
        let d = Dotfile::parse("ownership_groups: [dev]\n").unwrap();
        assert_eq!(d.owner_groups.unwrap(), ["dev"]);
        let d = Dotfile::parse("ownership_groups: [dev]\nowner_groups: [ops]\n").unwrap();
        assert_eq!(d.owner_groups.unwrap(), ["ops"]);
    }

    #[test]
    fn malformed_files_say_why() {
        for (text, why) in [
            ("name: [unclosed\n", "not valid YAML"),
            ("- a\n- b\n", "must be a mapping of keys"),
            (
                "timeout: soon\n",
                "key 'timeout' must be a whole number of minutes",
            ),
            (
                "webhook_enabled: maybe\n",
                "key 'webhook_enabled' must be true or false",
            ),
            ("variables: [1, 2]\n", "key 'variables' must be a mapping"),
            (
                "launch_questions: {a: 1}\n",
                "key 'launch_questions' must be a list",
            ),
            (
                "pipeline_definition: build\n",
                "key 'pipeline_definition' must be a list of names",
            ),
            (
                "owner_groups: [{a: 1}]\n",
                "key 'owner_groups' must list names",
            ),
            ("name: {a: 1}\n", "key 'name' must be a string"),
        ] {
            let e = Dotfile::parse(text).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn defaults_under_the_file() {
        let d = Dotfile::default().with_defaults("https://github.com/org/repo.git");
        assert_eq!(d.name.as_deref(), Some("repo.git"));
        assert_eq!(d.webhook_enabled, Some(true));
        let d = Dotfile {
            webhook_enabled: Some(false),
            name: Some("x".into()),
            ..Dotfile::default()
        }
        .with_defaults("file:///srv/git/a");
        assert_eq!(d.name.as_deref(), Some("x"));
        assert_eq!(d.webhook_enabled, Some(false));
        assert_eq!(default_name("git@github.com:org/r.git"), "r.git");
    }
}
