//! The scan cache: what the scanner said about each file, keyed by the
//! file's identity, so a warm start spawns no child at all. A file whose
//! identity changed is scanned again; the whole cache is dropped when the
//! host binary changes.

use super::scanner::ScanAnswer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file's identity: if any of this changed, the file must be re-scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
}

impl FileKey {
    pub fn of(path: &Path) -> std::io::Result<FileKey> {
        let m = std::fs::metadata(path)?;
        Ok(FileKey {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedEntry {
    key: FileKey,
    answer: ScanAnswer,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    host: String,
    entries: BTreeMap<PathBuf, CachedEntry>,
}

/// The cache of scan answers.
#[derive(Debug)]
pub struct ScanCache {
    path: Option<PathBuf>,
    file: CacheFile,
    dirty: bool,
}

/// Identifies the host build: a different binary may judge files
/// differently, so its cache is not reused.
fn host_fingerprint() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| FileKey::of(&p).ok());
    format!(
        "vespene-core {} abi {} exe {:?}",
        env!("CARGO_PKG_VERSION"),
        vespene_plugin_api::ABI_MAJOR,
        exe.map(|k| (k.size, k.mtime_ns))
    )
}

impl ScanCache {
    /// A cache that remembers nothing (explicit `plugins check`).
    pub fn disabled() -> ScanCache {
        ScanCache {
            path: None,
            file: CacheFile::default(),
            dirty: false,
        }
    }

    /// Loads the cache at `path`; a missing, unreadable or foreign cache is
    /// an empty one.
    pub fn load(path: &Path) -> ScanCache {
        let host = host_fingerprint();
        let file = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
            .filter(|f| f.host == host)
            .unwrap_or(CacheFile {
                host,
                entries: BTreeMap::new(),
            });
        ScanCache {
            path: Some(path.to_path_buf()),
            file,
            dirty: false,
        }
    }

    /// The remembered answer for `path`, if its identity is unchanged.
    pub fn get(&self, path: &Path, key: &FileKey) -> Option<&ScanAnswer> {
        self.file
            .entries
            .get(path)
            .filter(|e| e.key == *key)
            .map(|e| &e.answer)
    }

    pub fn put(&mut self, key: FileKey, answer: ScanAnswer) {
        self.file
            .entries
            .insert(answer.path.clone(), CachedEntry { key, answer });
        self.dirty = true;
    }

    /// Forgets files that are no longer candidates.
    pub fn retain(&mut self, keep: impl Fn(&Path) -> bool) {
        let before = self.file.entries.len();
        self.file.entries.retain(|p, _| keep(p));
        self.dirty |= before != self.file.entries.len();
    }

    /// Writes the cache (write-then-rename) if it changed. A cache that
    /// cannot be written is only a slower next start, so failures are
    /// logged, not returned.
    pub fn save(&mut self) {
        let Some(path) = &self.path else { return };
        if !self.dirty {
            return;
        }
        let result = (|| -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec(&self.file)?)?;
            std::fs::rename(&tmp, path)
        })();
        match result {
            Ok(()) => self.dirty = false,
            Err(e) => tracing::debug!("plugin scan cache {} not written: {e}", path.display()),
        }
    }
}
