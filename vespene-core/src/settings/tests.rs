use super::*;
use std::fs;
use tempfile::TempDir;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    p
}

fn names(list: &[PluginEntry]) -> Vec<&str> {
    list.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn a_missing_directory_gives_the_builtin_defaults() {
    let s = Settings::load_with_env(
        Path::new("/nonexistent/vespene"),
        env(&[("HOME", "/home/me"), ("XDG_DATA_HOME", "")]),
    )
    .unwrap();
    assert!(s.sources.is_empty());
    let data = if nix::unistd::geteuid().is_root() {
        "/var/lib/vespene"
    } else {
        "/home/me/.local/share/vespene"
    };
    assert_eq!(s.data_dir, PathBuf::from(data));
    assert_eq!(s.build_root, PathBuf::from(format!("{data}-builds")));
    assert_eq!(s.secrets_key_file, PathBuf::from(data).join("secrets.key"));
    assert!(!s.keep_build_roots);
    assert_eq!(s.default_page_size, 50);
    assert_eq!(s.database_url(), format!("sqlite://{data}/vespene.db"));
    assert_eq!(names(&s.plugins.scm), ["none", "git", "svn"]);
    let ts = &s.plugins.output[0];
    assert_eq!(ts.plugin, "vespene.plugins.output.timestamp");
    assert_eq!(ts.params, serde_json::json!({"mode": "elapsed"}));
    assert_eq!(ts.source, Source::BuiltIn);
}

#[test]
fn layers_apply_in_order_and_later_wins() {
    let d = TempDir::new().unwrap();
    write(
        d.path(),
        "settings.toml",
        "default_page_size = 10\nlog_level = \"debug\"\n",
    );
    write(d.path(), "settings.d/20-b.toml", "default_page_size = 30\n");
    write(d.path(), "settings.d/10-a.toml", "default_page_size = 20\n");
    write(
        d.path(),
        "settings.d/ignored.txt",
        "default_page_size = 99\n",
    );
    let s = Settings::load_with_env(d.path(), env(&[])).unwrap();
    assert_eq!(s.default_page_size, 30);
    assert_eq!(s.log_level, "debug");
    let files: Vec<String> = s.sources.iter().map(|s| s.to_string()).collect();
    assert!(files[0].ends_with("settings.toml"));
    assert!(files[1].ends_with("10-a.toml") && files[2].ends_with("20-b.toml"));

    let s = Settings::load_with_env(
        d.path(),
        env(&[
            ("VESPENE_DEFAULT_PAGE_SIZE", "40"),
            ("VESPENE_DATABASE__URL", "postgres://v:pw@db/vespene"),
            ("VESPENE_FILESERVING__ENABLED", "false"),
            ("VESPENE_PLUGIN_PATH", "/a:/b::"),
            ("VESPENE_INTERNAL_SCANNER", "1"),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(s.default_page_size, 40);
    assert_eq!(s.database_url(), "postgres://v:pw@db/vespene");
    assert!(!s.fileserving.enabled);
    assert_eq!(
        s.env_plugin_path,
        [PathBuf::from("/a"), PathBuf::from("/b")]
    );
    let dirs = s.plugin_dirs();
    assert_eq!(dirs[0], PathBuf::from("/a"));
    assert_eq!(
        dirs[dirs.len() - 2..],
        [
            PathBuf::from(LOCAL_PLUGIN_DIR),
            PathBuf::from(SYSTEM_PLUGIN_DIR)
        ]
    );
}

#[test]
fn plugin_entries_keep_their_place_and_can_be_removed() {
    let d = TempDir::new().unwrap();
    write(
        d.path(),
        "settings.d/10-first.toml",
        r#"
[plugins.success_triggers]
publish = ["vespene.plugins.triggers.command", "cp -a {{ build.working_dir }} /tmp/publish"]
notify = ["vespene.plugins.triggers.command", { command = "echo done" }]
third = "vespene.plugins.triggers.command"
"#,
    );
    let second = write(
        d.path(),
        "settings.d/20-second.toml",
        r#"
[plugins.success_triggers]
publish = ["vespene.plugins.triggers.command", "echo replaced"]
third = false
fourth = ["vespene.plugins.triggers.command"]

[plugins.scm]
none = false
"#,
    );
    let s = Settings::load_with_env(d.path(), env(&[])).unwrap();
    let t = &s.plugins.success_triggers;
    assert_eq!(names(t), ["publish", "notify", "fourth"]);
    assert_eq!(t[0].params, serde_json::json!("echo replaced"));
    assert_eq!(t[0].source, Source::File(second));
    assert_eq!(t[1].params, serde_json::json!({"command": "echo done"}));
    assert_eq!(t[2].params, serde_json::Value::Null);
    assert_eq!(names(&s.plugins.scm), ["git", "svn"]);
    let order: Vec<(Section, &str)> = s
        .plugins
        .iter()
        .map(|(sec, e)| (sec, e.name.as_str()))
        .collect();
    assert_eq!(order[0], (Section::SuccessTriggers, "publish"));
}

/// Each bad settings file gives an error that names the file and what is
/// wrong with it.
#[test]
fn errors_name_the_file_and_the_key() {
    let cases: &[(&str, &[&str])] = &[
        ("biuld_root = \"/x\"\n", &["unknown field", "biuld_root"]),
        ("default_page_size = \"ten\"\n", &["default_page_size"]),
        ("[database]\nurll = \"x\"\n", &["urll"]),
        (
            "[plugins.triggers]\nx = \"a.b\"\n",
            &["unknown plugin section [plugins.triggers]"],
        ),
        (
            "[plugins.scm]\ngit = 3\n",
            &[
                "section [plugins.scm], entry 'git'",
                "expected a dotted plugin name",
            ],
        ),
        (
            "[plugins.scm]\ngit = \"git\"\n",
            &["entry 'git'", "'git' is not a dotted plugin name"],
        ),
        ("[plugins.output]\nts = [\"a.b\", {}, 3]\n", &["entry 'ts'"]),
        ("this is not toml\n", &["99-bad.toml"]),
    ];
    for (text, needles) in cases {
        let d = TempDir::new().unwrap();
        write(d.path(), "settings.d/99-bad.toml", text);
        let err = Settings::load_with_env(d.path(), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("99-bad.toml"), "{text:?}: {err}");
        for n in *needles {
            assert!(err.contains(n), "{text:?}: expected {n:?} in {err}");
        }
    }
}

#[test]
fn bad_values_from_the_environment_name_the_variable() {
    let err = Settings::load_with_env(
        Path::new("/nonexistent"),
        env(&[("VESPENE_DEFAULT_PAGE_SIZE", "lots")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("environment variable VESPENE_DEFAULT_PAGE_SIZE"),
        "{err}"
    );
    let err = Settings::load_with_env(Path::new("/nonexistent"), env(&[("VESPENE_NOPE", "1")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("VESPENE_NOPE") && err.contains("nope"),
        "{err}"
    );
}

#[test]
fn validation_and_relative_paths() {
    let d = TempDir::new().unwrap();
    write(
        d.path(),
        "settings.d/10.toml",
        "build_root = \"relative/dir\"\n",
    );
    let err = Settings::load_with_env(d.path(), env(&[])).unwrap_err();
    assert!(err.to_string().contains("build_root"), "{err}");

    let d = TempDir::new().unwrap();
    write(
        d.path(),
        "settings.d/10.toml",
        "data_dir = \"data\"\nplugin_path = [\"plugins\", \"/abs\"]\n",
    );
    let s = Settings::load_with_env(d.path(), env(&[])).unwrap();
    assert_eq!(s.data_dir, d.path().join("data"));
    assert_eq!(
        s.plugin_path,
        [d.path().join("plugins"), PathBuf::from("/abs")]
    );
    // The key and build root follow the (resolved) data directory.
    assert_eq!(s.secrets_key_file, d.path().join("data/secrets.key"));
    assert_eq!(s.build_root, d.path().join("data-builds"));
}

#[test]
fn secrets_are_masked_but_paths_are_not() {
    let d = TempDir::new().unwrap();
    write(
        d.path(),
        "settings.d/10.toml",
        r#"
[database]
url = "postgres://vespene:hunter2@db:5432/vespene"

[plugins.pre_triggers]
slack = ["vespene.plugins.triggers.slack", { channel = "general", token = "xoxb-secret" }]
"#,
    );
    let s = Settings::load_with_env(d.path(), env(&[])).unwrap();
    let text = s.to_masked_toml();
    assert!(
        !text.contains("hunter2") && !text.contains("xoxb-secret"),
        "{text}"
    );
    assert!(
        text.contains("postgres://vespene:********@db:5432/vespene"),
        "{text}"
    );
    assert!(text.contains("secrets.key"), "{text}");
    assert!(text.contains("channel = \"general\""), "{text}");
    let json = serde_json::to_string(&s.to_masked_json()).unwrap();
    assert!(!json.contains("hunter2") && !json.contains("xoxb-secret"));
}

/// The settings files shipped in etc/ load, and every example in them
/// (lines starting with "# ") is itself valid settings, so the examples
/// cannot go stale.
#[test]
fn shipped_settings_and_their_examples_are_valid() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/vespene");
    let s = Settings::load_with_env(&shipped, env(&[])).unwrap();
    assert!(s.sources.len() >= 3, "{:?}", s.sources);

    for file in layer::settings_files(&shipped).unwrap() {
        let text = fs::read_to_string(&file).unwrap();
        let example: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("# ").or((l == "#").then_some("")))
            .map(|l| format!("{l}\n"))
            .collect();
        let d = TempDir::new().unwrap();
        write(d.path(), "settings.d/example.toml", &example);
        let loaded = Settings::load_with_env(d.path(), env(&[]));
        assert!(
            loaded.is_ok(),
            "examples of {}: {}",
            file.display(),
            loaded.unwrap_err()
        );
    }
}

#[test]
fn the_data_directory_default_is_per_user_and_the_same_for_every_command() {
    let e = |pairs: &[(&str, &str)]| env(pairs);
    // (root?, environment, expected)
    type Case = (bool, Vec<(String, String)>, &'static str);
    let cases: &[Case] = &[
        (true, e(&[("HOME", "/root")]), "/var/lib/vespene"),
        (true, e(&[("XDG_DATA_HOME", "/x")]), "/var/lib/vespene"),
        (
            false,
            e(&[("HOME", "/home/me")]),
            "/home/me/.local/share/vespene",
        ),
        (
            false,
            e(&[("HOME", "/home/me"), ("XDG_DATA_HOME", "/home/me/data")]),
            "/home/me/data/vespene",
        ),
        (
            false,
            e(&[("HOME", "/home/me"), ("XDG_DATA_HOME", "")]),
            "/home/me/.local/share/vespene",
        ),
        (
            false,
            e(&[("XDG_DATA_HOME", "relative")]),
            "/var/lib/vespene",
        ),
        (false, e(&[]), "/var/lib/vespene"),
    ];
    for (root, vars, want) in cases {
        assert_eq!(
            default_data_dir(*root, vars),
            PathBuf::from(want),
            "{vars:?}"
        );
    }
    assert_eq!(
        default_build_root(Path::new("/var/lib/vespene")),
        PathBuf::from("/var/lib/vespene-builds")
    );
}

#[test]
fn key_and_build_root_follow_the_data_directory_unless_named() {
    let d = TempDir::new().unwrap();
    write(d.path(), "settings.d/a.toml", "data_dir = \"/srv/v\"\n");
    let s = Settings::load_with_env(d.path(), env(&[])).unwrap();
    assert_eq!(s.secrets_key_file, PathBuf::from("/srv/v/secrets.key"));
    assert_eq!(s.build_root, PathBuf::from("/srv/v-builds"));
    // From the environment too (`vespene up --data-dir` reaches workers so).
    let s = Settings::load_with_env(d.path(), env(&[("VESPENE_DATA_DIR", "/d")])).unwrap();
    assert_eq!(s.build_root, PathBuf::from("/d-builds"));
    // Named in a file, they stay, whatever the data directory.
    write(
        d.path(),
        "settings.d/b.toml",
        "build_root = \"/b\"\nsecrets_key_file = \"/etc/k\"\nkeep_build_roots = true\n",
    );
    let s = Settings::load_with_env(d.path(), env(&[("VESPENE_DATA_DIR", "/d")])).unwrap();
    assert_eq!(s.build_root, PathBuf::from("/b"));
    assert_eq!(s.secrets_key_file, PathBuf::from("/etc/k"));
    assert!(s.keep_build_roots);
    // A build root inside the data directory is refused.
    write(
        d.path(),
        "settings.d/b.toml",
        "build_root = \"/srv/v/builds\"\n",
    );
    let err = Settings::load_with_env(d.path(), env(&[])).unwrap_err();
    assert!(
        err.to_string().contains("outside the data directory"),
        "{err}"
    );
}

#[test]
fn the_packaged_paths_are_those_of_the_shipped_settings() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/vespene");
    let s = Settings::load_with_env(&shipped, env(&[("HOME", "/home/me")])).unwrap();
    assert_eq!(s.data_dir, PathBuf::from("/var/lib/vespene"));
    assert_eq!(s.build_root, PathBuf::from("/var/lib/vespene-builds"));
    assert_eq!(
        s.secrets_key_file,
        PathBuf::from("/etc/vespene/secrets.key")
    );
}
