//! Discovery: every `*.so` on the plugin path, checked by the scanner child
//! (or remembered by the cache), with its manifest or the reason it was
//! refused. Earlier directories win on a duplicate name, like `PYTHONPATH`.

use super::cache::{FileKey, ScanCache};
use super::loader::Library;
use super::scanner::{ScanAnswer, Scanner, is_candidate};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vespene_plugin_api::Manifest;

/// What discovery found about one file.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogEntry {
    pub path: PathBuf,
    #[serde(skip)]
    pub key: Option<FileKey>,
    /// The manifest, when the file is a usable plugin.
    pub manifest: Option<Manifest>,
    /// Why the file was refused.
    pub error: Option<String>,
    /// `rust` or `c`.
    pub door: Option<String>,
    /// Another file with the same plugin name that wins over this one.
    pub shadowed_by: Option<PathBuf>,
}

impl CatalogEntry {
    /// Usable and not shadowed.
    pub fn is_active(&self) -> bool {
        self.manifest.is_some() && self.shadowed_by.is_none()
    }

    /// `ok`, `refused` or `shadowed`.
    pub fn status(&self) -> &'static str {
        if self.manifest.is_none() {
            "refused"
        } else if self.shadowed_by.is_some() {
            "shadowed"
        } else {
            "ok"
        }
    }
}

/// Every candidate on the plugin path.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalog {
    pub dirs: Vec<PathBuf>,
    pub entries: Vec<CatalogEntry>,
    #[serde(skip)]
    by_name: HashMap<String, usize>,
}

/// Candidates of one directory, sorted by file name; a missing directory
/// has none.
fn candidates(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_candidate(p))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// `path` with symlinks and relative parts resolved (as it is if that fails).
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Catalog {
    /// Scans every candidate of `dirs`, answering from `cache` where the file
    /// is unchanged and from the scanner child otherwise.
    pub fn discover(dirs: &[PathBuf], cache: &mut ScanCache, scanner: &Scanner) -> Catalog {
        let files: Vec<PathBuf> = dirs.iter().flat_map(|d| candidates(d)).collect();
        let mut catalog = Self::scan_files(&files, cache, scanner);
        catalog.dirs = dirs.to_vec();
        // The cache is keyed by canonical path (a symlinked `.so` or plugin
        // directory is scanned once), so what to keep is compared likewise.
        let keep: Vec<PathBuf> = files.iter().map(|f| canonical(f)).collect();
        cache.retain(|p| keep.iter().any(|f| f == p));
        cache.save();
        catalog
    }

    /// Scans the given files (in this order of precedence).
    pub fn scan_files(files: &[PathBuf], cache: &mut ScanCache, scanner: &Scanner) -> Catalog {
        let mut slots: Vec<(PathBuf, Option<FileKey>, Option<ScanAnswer>)> = files
            .iter()
            .map(|path| {
                let canonical = canonical(path);
                match FileKey::of(&canonical) {
                    Ok(key) => {
                        let cached = cache.get(&canonical, &key).cloned();
                        (canonical, Some(key), cached)
                    }
                    Err(e) => (
                        canonical.clone(),
                        None,
                        Some(ScanAnswer::refused(
                            canonical,
                            format!("cannot read it: {e}"),
                        )),
                    ),
                }
            })
            .collect();

        let to_scan: Vec<PathBuf> = slots
            .iter()
            .filter(|(_, _, answer)| answer.is_none())
            .map(|(p, _, _)| p.clone())
            .collect();
        if !to_scan.is_empty() {
            let mut fresh = scanner.scan(&to_scan).into_iter();
            for (path, key, answer) in slots.iter_mut().filter(|s| s.2.is_none()) {
                let a = fresh.next().unwrap_or_else(|| {
                    ScanAnswer::refused(path.clone(), "the scanner gave no answer".into())
                });
                if let Some(k) = key {
                    cache.put(*k, a.clone());
                }
                *answer = Some(a);
            }
        }

        let mut catalog = Catalog::default();
        for (path, key, answer) in slots {
            let answer = answer.expect("every slot answered");
            let mut entry = CatalogEntry {
                path,
                key,
                manifest: answer.manifest,
                error: answer.error,
                door: answer.door,
                shadowed_by: None,
            };
            if let Some(m) = &entry.manifest {
                if let Some(&winner) = catalog.by_name.get(&m.name) {
                    entry.shadowed_by = Some(catalog.entries[winner].path.clone());
                } else {
                    catalog
                        .by_name
                        .insert(m.name.clone(), catalog.entries.len());
                }
            }
            catalog.entries.push(entry);
        }
        catalog
    }

    /// The active file providing plugin `name`.
    pub fn find(&self, name: &str) -> Option<&CatalogEntry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// Active plugins, in path order.
    pub fn active(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.iter().filter(|e| e.is_active())
    }

    /// Warnings worth showing at start-up: refused files and duplicates.
    pub fn warnings(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|e| match (&e.error, &e.shadowed_by, &e.manifest) {
                (Some(err), _, _) => Some(format!("{}: {err}", e.path.display())),
                (None, Some(winner), Some(m)) => Some(format!(
                    "{}: plugin {} is also provided by {}, which comes first on the plugin path; this file is ignored",
                    e.path.display(),
                    m.name,
                    winner.display()
                )),
                _ => None,
            })
            .collect()
    }

    /// Opens the library providing `name` in this process. The file is
    /// checked to be the one the scanner saw; if it changed, it is scanned
    /// again first.
    pub fn open(&self, name: &str, scanner: &Scanner) -> Result<Arc<Library>, String> {
        let entry = self
            .find(name)
            .ok_or_else(|| format!("no plugin named {name} on the plugin path"))?;
        let now = FileKey::of(&entry.path)
            .map_err(|e| format!("{}: cannot read it: {e}", entry.path.display()))?;
        if Some(now) != entry.key {
            let answer = scanner
                .scan(std::slice::from_ref(&entry.path))
                .pop()
                .unwrap_or_else(|| {
                    ScanAnswer::refused(entry.path.clone(), "the scanner gave no answer".into())
                });
            match answer.result() {
                Ok(m) if m.name == name => {}
                Ok(m) => {
                    return Err(format!(
                        "{} changed since it was scanned and now provides {} instead",
                        entry.path.display(),
                        m.name
                    ));
                }
                Err(e) => {
                    return Err(format!(
                        "{} changed since it was scanned: {e}",
                        entry.path.display()
                    ));
                }
            }
        }
        Library::open(&entry.path).map_err(|e| format!("{}: {e}", entry.path.display()))
    }
}
