//! The Docker engine for the container isolation's tests: its test image,
//! made from scratch by `tests/services/docker.sh` (no registry here), and
//! what is left on the engine with the plugin's labels.

use crate::harness::repo_root;
use std::process::Command;
use std::sync::OnceLock;

/// The label every container of the plugin carries.
pub const LABEL_PLUGIN: &str = "io.vespene.plugin";
/// The label naming a container's build root.
pub const LABEL_ROOT: &str = "io.vespene.build_root";

/// The test image's name, made if missing; `None` (loudly) when there is
/// no engine outside CI. In CI (CI=true) a missing engine fails the test.
pub fn test_image() -> Option<String> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    let made = IMAGE.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo_root().join("tests/services/docker.sh"))
            .output()
            .map_err(|e| format!("cannot run tests/services/docker.sh: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        match stdout
            .lines()
            .find_map(|l| l.strip_prefix("export VESPENE_TEST_DOCKER_IMAGE="))
        {
            Some(image) if out.status.success() => Ok(image.trim().to_string()),
            _ => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        }
    });
    match made {
        Ok(image) => Some(image.clone()),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("the container tests need the Docker engine: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: the container tests need the Docker engine: {why}");
            None
        }
    }
}

/// `docker ARGS`: its standard output, trimmed (panics if it fails).
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The plugin's containers (any state) whose build root is under `under`,
/// as `name build_root` lines.
pub fn containers_under(under: &std::path::Path) -> Vec<String> {
    let under = under.display().to_string();
    docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={LABEL_PLUGIN}"),
        "--format",
        &format!("{{{{.Names}}}} {{{{.Label \"{LABEL_ROOT}\"}}}}"),
    ])
    .lines()
    .filter(|l| {
        l.split_once(' ')
            .is_some_and(|(_, root)| root.starts_with(&under))
    })
    .map(str::to_string)
    .collect()
}

/// Images and volumes carrying the plugin's label (it makes none).
pub fn labelled_images_and_volumes() -> Vec<String> {
    let filter = format!("label={LABEL_PLUGIN}");
    let mut found: Vec<String> = docker(&["images", "-q", "--filter", &filter])
        .lines()
        .map(|l| format!("image {l}"))
        .collect();
    found.extend(
        docker(&["volume", "ls", "-q", "--filter", &filter])
            .lines()
            .map(|l| format!("volume {l}")),
    );
    found
}
