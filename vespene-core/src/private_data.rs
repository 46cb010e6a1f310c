//! The server's private files: the data directory (mode 0700), the SQLite
//! database with its `-wal` and `-shm` companions, the secrets key and the
//! admin password file (0600), all owned by the server's user. Builds run
//! as other users or in namespaces that mask these paths; the modes are the
//! last line for everything else on the machine.
//!
//! New files are created private; existing ones that this user owns and
//! that are readable by others are tightened at every start, so an install
//! made by an older version is fixed by upgrading.

use crate::settings::Settings;
use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of the data directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the database files, the key and the admin password.
pub const FILE_MODE: u32 = 0o600;
/// The file `vespene up` writes the first admin password to.
pub const ADMIN_PASSWORD_FILE: &str = "admin-password";

/// Creates `dir` (and missing parents) private to this user; an existing
/// directory this user owns is tightened to 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    tighten(dir, DIR_MODE)
}

/// Creates the SQLite file at `path` with mode 0600 before SQLite opens it
/// (SQLite gives `-wal` and `-shm` the mode of the database file), and its
/// directory with 0700 when missing. The error names the path.
pub fn create_sqlite_file(path: &Path) -> Result<(), String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(parent)
            .map_err(|e| format!("{}: cannot create its directory: {e}", path.display()))?;
    }
    if path.as_os_str() == ":memory:" || path.exists() {
        return Ok(());
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map(drop)
        .map_err(|e| format!("{}: cannot create it: {e}", path.display()))
}

/// The files [`secure`] keeps private for `settings`.
pub fn private_files(settings: &Settings) -> Vec<PathBuf> {
    let mut files = vec![
        settings.secrets_key_file.clone(),
        settings.data_dir.join(ADMIN_PASSWORD_FILE),
    ];
    if let Some(db) = sqlite_path(&settings.database_url()) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            files.push(PathBuf::from(name));
        }
    }
    files
}

/// Writes the first administrator's password to
/// `<data_dir>/admin-password` (mode 0600) and returns that path.
pub fn write_admin_password(data_dir: &Path, password: &str) -> io::Result<PathBuf> {
    use std::io::Write;
    let path = data_dir.join(ADMIN_PASSWORD_FILE);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    writeln!(f, "{password}")?;
    Ok(path)
}

/// Makes the data directory 0700 (creating it) and tightens every private
/// file that exists and belongs to this user. Files of other users are left
/// alone (root running a command against a packaged install, say).
pub fn secure(settings: &Settings) -> io::Result<()> {
    create_private_dir(&settings.data_dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("data directory {}: {e}", settings.data_dir.display()),
        )
    })?;
    for file in private_files(settings) {
        tighten(&file, FILE_MODE)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
    }
    Ok(())
}

/// The file of a `sqlite://` URL.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .filter(|p| !p.is_empty() && *p != ":memory:")
        .map(PathBuf::from)
}

/// Sets `mode` on `path` when it exists, is owned by this user, is not a
/// symbolic link and grants more than `mode`.
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Ok(());
    }
    if meta.mode() & 0o7777 & !mode != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn new_and_existing_files_become_private() {
        let t = tempfile::tempdir().unwrap();
        let data = t.path().join("a/data");
        let db = data.join("vespene.db");
        create_sqlite_file(&db).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&db), 0o600);

        std::fs::set_permissions(&data, Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        let wal = data.join("vespene.db-wal");
        std::fs::write(&wal, "").unwrap();
        std::fs::set_permissions(&wal, Permissions::from_mode(0o644)).unwrap();
        let settings_dir = t.path().join("etc/settings.d");
        std::fs::create_dir_all(&settings_dir).unwrap();
        std::fs::write(
            settings_dir.join("a.toml"),
            format!("data_dir = \"{}\"\n", data.display()),
        )
        .unwrap();
        let s = Settings::load_with_env(&t.path().join("etc"), Vec::new()).unwrap();
        secure(&s).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
    }

    #[test]
    fn a_stricter_mode_and_symbolic_links_are_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("key");
        std::fs::write(&f, "").unwrap();
        std::fs::set_permissions(&f, Permissions::from_mode(0o400)).unwrap();
        tighten(&f, FILE_MODE).unwrap();
        assert_eq!(mode(&f), 0o400);
        let target = t.path().join("public");
        std::fs::write(&target, "").unwrap();
        std::fs::set_permissions(&target, Permissions::from_mode(0o644)).unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        tighten(&link, FILE_MODE).unwrap();
        assert_eq!(mode(&target), 0o644);
    }
}
