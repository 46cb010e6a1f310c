//! Per-build working directories ("build roots"), outside the data
//! directory: `<build_root>/<build id>`, created empty for its build with
//! mode 0700, and removed when the build ends unless the
//! `keep_build_roots` setting keeps them.
//!
//! The base directory is 0711 when this user creates or owns it: a build
//! user may pass through to its own root but cannot list the others. The
//! isolation plugin hands the root to the build's user (sudo: `chown`) or
//! maps it into the build's namespace; every other root stays 0700.

use std::fs::{DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of the directory holding the build roots.
pub const BASE_MODE: u32 = 0o711;
/// Mode of one build's root.
pub const ROOT_MODE: u32 = 0o700;

/// Creates the root of build `id` under `base`, empty (a root left by an
/// earlier worker on the same id is removed first), 0700.
pub fn create(base: &Path, id: i64) -> io::Result<PathBuf> {
    if !base.exists() {
        DirBuilder::new().recursive(true).mode(0o755).create(base)?;
    }
    let meta = std::fs::metadata(base)?;
    if meta.uid() == nix::unistd::geteuid().as_raw() && meta.mode() & 0o7777 != BASE_MODE {
        std::fs::set_permissions(base, Permissions::from_mode(BASE_MODE))?;
    }
    let root = base.join(id.to_string());
    if std::fs::symlink_metadata(&root).is_ok() {
        remove(&root)?;
    }
    DirBuilder::new().mode(ROOT_MODE).create(&root)?;
    // The mode given to mkdir is masked by the umask; this is not.
    std::fs::set_permissions(&root, Permissions::from_mode(ROOT_MODE))?;
    Ok(root)
}

/// Removes a build root and everything in it. Directories the build made
/// read-only are made writable first; symbolic links are removed, never
/// followed.
pub fn remove(root: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(root) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            make_writable(root)?;
            std::fs::remove_dir_all(root)
        }
    }
}

/// Gives this user write and search rights on every directory under
/// `dir` (not following symbolic links), so that it can be emptied.
fn make_writable(dir: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(());
    }
    if meta.mode() & 0o700 != 0o700 {
        std::fs::set_permissions(dir, Permissions::from_mode(meta.mode() & 0o7777 | 0o700))?;
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_writable(&entry.path())?;
        }
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
    fn a_root_is_private_and_starts_empty() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("builds");
        let root = create(&base, 7).unwrap();
        assert_eq!(root, base.join("7"));
        assert_eq!(mode(&base), BASE_MODE);
        assert_eq!(mode(&root), ROOT_MODE);
        std::fs::write(root.join("left-over"), "x").unwrap();
        let again = create(&base, 7).unwrap();
        assert_eq!(std::fs::read_dir(&again).unwrap().count(), 0);
    }

    #[test]
    fn removal_handles_read_only_directories_and_never_follows_links() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "x").unwrap();
        let root = create(&t.path().join("b"), 1).unwrap();
        let ro = root.join("ro/deeper");
        std::fs::create_dir_all(&ro).unwrap();
        std::fs::write(ro.join("f"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::fs::set_permissions(&ro, Permissions::from_mode(0o500)).unwrap();
        std::fs::set_permissions(root.join("ro"), Permissions::from_mode(0o500)).unwrap();
        remove(&root).unwrap();
        assert!(!root.exists());
        assert!(outside.join("keep").exists());
        remove(&root).unwrap();
    }
}
