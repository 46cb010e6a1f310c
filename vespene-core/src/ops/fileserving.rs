//! Fileserving of build roots (reference §8.4): `/srv/<build>/d?p=DIR`
//! lists a directory of `<build_root>/<build>/`, `/srv/<build>/f/NAME?p=FILE`
//! downloads a file. Anonymous, as the original, and refused entirely when
//! `[fileserving] enabled` is off.
//!
//! Nothing outside the build root is reachable: `p` (already
//! percent-decoded once by the HTTP layer) may not contain `..` or `.`
//! segments, NUL, backslashes or a `%` left over from double encoding, and
//! the path is canonicalized (every symlink resolved, also in parent
//! directories) and must still lie inside the canonical build root.
//! Build roots exist only while kept: with the isolation work's
//! `keep_build_roots` setting off they are removed after the build.

use crate::app::App;
use crate::db::builds;
use std::path::PathBuf;

/// Why a request is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileservingError {
    /// `[fileserving] enabled` is off (403).
    #[error("fileserving is disabled (setting [fileserving] enabled)")]
    Disabled,
    /// The path tries to leave the build root, or is malformed (403).
    #[error("path '{0}' is refused: {1}")]
    Refused(String, &'static str),
    /// No such build, build root or entry (404).
    #[error("{0}")]
    NotFound(String),
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
}

fn check_enabled(app: &App) -> Result<(), FileservingError> {
    if app.settings.fileserving.enabled {
        Ok(())
    } else {
        Err(FileservingError::Disabled)
    }
}

/// The canonical path `p` names inside build `build_id`'s root.
pub fn resolve(app: &App, build_id: i64, p: &str) -> Result<PathBuf, FileservingError> {
    check_enabled(app)?;
    let refuse = |why| FileservingError::Refused(p.to_string(), why);
    if p.contains('\0') {
        return Err(refuse("it contains a NUL byte"));
    }
    if p.contains('\\') {
        return Err(refuse("it contains a backslash"));
    }
    if p.contains('%') {
        return Err(refuse("it is still percent-encoded (encoded twice)"));
    }
    let relative = p.trim_start_matches('/');
    if relative.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(refuse("it has a '.' or '..' segment"));
    }
    {
        let mut conn = app
            .db
            .conn()
            .map_err(|e| FileservingError::NotFound(e.to_string()))?;
        if builds::get(&mut conn, build_id).is_err() {
            return Err(FileservingError::NotFound(format!(
                "build {build_id} does not exist"
            )));
        }
    }
    let root_path = app.settings.build_root.join(build_id.to_string());
    let root = root_path.canonicalize().map_err(|_| {
        FileservingError::NotFound(format!(
            "build {build_id} has no build root on this machine (removed, or kept elsewhere)"
        ))
    })?;
    let target = root.join(relative).canonicalize().map_err(|_| {
        FileservingError::NotFound(format!("'{p}' does not exist in build {build_id}"))
    })?;
    if !target.starts_with(&root) {
        return Err(refuse("it leads outside the build root"));
    }
    Ok(target)
}

/// The entries of directory `p` of build `build_id`, directories first,
/// then by name.
pub fn list(app: &App, build_id: i64, p: &str) -> Result<Vec<Entry>, FileservingError> {
    let dir = resolve(app, build_id, p)?;
    if !dir.is_dir() {
        return Err(FileservingError::NotFound(format!(
            "'{p}' is not a directory"
        )));
    }
    let mut entries = Vec::new();
    let read = std::fs::read_dir(&dir)
        .map_err(|e| FileservingError::NotFound(format!("'{p}' cannot be read: {e}")))?;
    for entry in read.flatten() {
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue; // a dangling symlink
        };
        entries.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            is_dir: meta.is_dir(),
            size: meta.len(),
        });
    }
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    Ok(entries)
}

/// The file `p` of build `build_id`, for download as `name` (which must be
/// `p`'s last segment, as the listing's links make it).
pub fn file(app: &App, build_id: i64, name: &str, p: &str) -> Result<PathBuf, FileservingError> {
    let path = resolve(app, build_id, p)?;
    let last = p
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    if last != name {
        return Err(FileservingError::Refused(
            p.to_string(),
            "its last segment is not the file name in the URL",
        ));
    }
    if !path.is_file() {
        return Err(FileservingError::NotFound(format!("'{p}' is not a file")));
    }
    Ok(path)
}

/// Where a build's files are published: `BUILDROOT_WEB_LINK` rendered with
/// the build (`{{ build.id }}`, …) when set, else its fileserving listing.
pub fn web_link(app: &App, build: &crate::db::builds::Build) -> Result<String, String> {
    let template = &app.settings.buildroot_web_link;
    if template.is_empty() {
        return Ok(format!("/srv/{}/d?p=/", build.id));
    }
    let context = serde_json::json!({ "build": {
        "id": build.id,
        "project_id": build.project_id,
        "status": build.status_text,
        "working_dir": build.working_dir,
        "revision": build.revision,
    }});
    vespene_plugin_api::jinja::render(
        template,
        &context,
        vespene_plugin_api::jinja::Undefined::Strict,
    )
    .map_err(|e| format!("setting buildroot_web_link: {e}"))
}
