//! A named branch of a `file://` (or plain path) repository, cloned
//! shallow and alone.
//!
//! libgit2's local transport refuses depth ("shallow fetch is not
//! supported by the local transport"), so this does what `git clone
//! --depth 1 --single-branch` does over `file://` itself: the source
//! repository is opened read-only, the branch's tip commit, its tree and
//! blobs (no parent, no other branch) are packed by libgit2's pack builder
//! and streamed through the new repository's pack writer (one pack and its
//! index, as `git` receives them), and the commit is recorded in `.git/shallow`, which
//! libgit2 and git both read as "history stops here".

use git2::{Oid, Repository};
use std::io::Write;
use std::path::PathBuf;

/// The filesystem path a `file://` URL (or a plain path) names.
pub fn source_path(raw: &str) -> PathBuf {
    let rest = match raw.split_once("://") {
        Some((_, rest)) => rest.strip_prefix("localhost").unwrap_or(rest),
        None => raw,
    };
    PathBuf::from(percent_decode(rest))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The source's branches (`refs/heads/...`) and its default branch.
pub fn heads(src: &Repository) -> Result<(Vec<String>, Option<String>), git2::Error> {
    let mut names = Vec::new();
    for r in src.references_glob("refs/heads/*")? {
        if let Some(n) = r?.name() {
            names.push(n.to_string());
        }
    }
    let default = src
        .find_reference("HEAD")
        .ok()
        .and_then(|h| h.symbolic_target().map(str::to_string));
    Ok((names, default))
}

/// Copies commit `tip`, its tree and every blob under it from `src` into
/// `dst` as one pack (what `git clone --depth 1` receives: one pack and its
/// index, not one loose file per object), then records `tip` as a shallow
/// root of `dst`. `keep_going` is asked as the pack streams (a stop or the
/// timeout abandons the copy, and the unfinished pack is discarded);
/// returns how many objects were copied.
pub fn copy_tip(
    src: &Repository,
    dst: &Repository,
    tip: Oid,
    keep_going: &dyn Fn(usize) -> bool,
) -> Result<usize, git2::Error> {
    let mut pb = src.packbuilder()?;
    // Delta search on every core, as `git pack-objects` does.
    pb.set_threads(0);
    // The commit, its tree and everything under it; no parent, and
    // submodule entries (commits) are skipped, they live elsewhere.
    pb.insert_commit(tip)?;
    let objects = pb.object_count();
    let to = dst.odb()?;
    let mut writer = to.packwriter()?;
    let mut failed: Option<git2::Error> = None;
    let mut chunks = 0usize;
    pb.foreach(|buf| {
        if let Err(e) = writer.write_all(buf) {
            failed = Some(git2::Error::from_str(&format!(
                "cannot write the pack: {e}"
            )));
            return false;
        }
        chunks += 1;
        if chunks.is_multiple_of(256) && !keep_going(objects) {
            failed = Some(git2::Error::from_str("the copy was abandoned"));
            return false;
        }
        true
    })
    .or_else(|e| match &failed {
        Some(_) => Ok(()),
        None => Err(e),
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    writer.commit()?;
    std::fs::write(dst.path().join("shallow"), format!("{tip}\n"))
        .map_err(|e| git2::Error::from_str(&format!("cannot write .git/shallow: {e}")))?;
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::Signature;
    use std::path::Path;

    /// Commits `files` (path, text) on top of HEAD in `repo`.
    fn commit(repo: &Repository, files: &[(&str, &str)], msg: &str) -> Oid {
        let mut index = repo.index().unwrap();
        let root = repo.workdir().unwrap().to_path_buf();
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            index.add_path(Path::new(path)).unwrap();
        }
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = Signature::now("T", "t@example.com").unwrap();
        let parent = repo.head().ok().map(|h| h.peel_to_commit().unwrap());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, msg, &tree, &parents)
            .unwrap()
    }

    #[test]
    fn the_tip_alone_is_copied_and_reads_as_shallow() {
        let dir = std::env::temp_dir().join(format!("vespene-local-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let src = Repository::init(dir.join("src")).unwrap();
        commit(
            &src,
            &[("a.txt", "one\n"), ("d/e/f.txt", "deep\n")],
            "first",
        );
        let tip = commit(
            &src,
            &[("a.txt", "two\n"), ("d/same.txt", "deep\n")],
            "second",
        );
        let dst = Repository::init(dir.join("dst")).unwrap();
        let asked = std::cell::Cell::new(0);
        let n = copy_tip(&src, &dst, tip, &|_| {
            asked.set(asked.get() + 1);
            true
        })
        .unwrap();
        // commit, 3 trees, 2 distinct blobs ("deep" twice is one blob).
        assert_eq!(n, 6);
        assert_eq!(asked.get(), 0);
        assert!(dst.is_shallow());
        // One pack and its index, no loose object.
        let objects = dst.path().join("objects");
        let packs: Vec<String> = std::fs::read_dir(objects.join("pack"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(packs.iter().filter(|n| n.ends_with(".pack")).count(), 1);
        assert_eq!(packs.iter().filter(|n| n.ends_with(".idx")).count(), 1);
        let loose = std::fs::read_dir(&objects)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().len() == 2)
            .count();
        assert_eq!(loose, 0);
        dst.reference("refs/heads/main", tip, true, "test").unwrap();
        dst.set_head("refs/heads/main").unwrap();
        dst.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
            .unwrap();
        let root = dir.join("dst");
        assert_eq!(
            std::fs::read_to_string(root.join("a.txt")).unwrap(),
            "two\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("d/e/f.txt")).unwrap(),
            "deep\n"
        );
        let mut walk = dst.revwalk().unwrap();
        walk.push_head().unwrap();
        assert_eq!(walk.count(), 1);
        // The first commit stayed behind.
        let first = src
            .head()
            .unwrap()
            .peel_to_commit()
            .unwrap()
            .parent_id(0)
            .unwrap();
        assert!(dst.find_commit(first).is_err());
        assert!(dst.statuses(None).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn file_urls_name_their_path() {
        assert_eq!(
            source_path("file:///srv/a.git"),
            PathBuf::from("/srv/a.git")
        );
        assert_eq!(
            source_path("file://localhost/srv/a.git"),
            PathBuf::from("/srv/a.git")
        );
        assert_eq!(
            source_path("file:///srv/with%20space"),
            PathBuf::from("/srv/with space")
        );
        assert_eq!(source_path("/srv/plain"), PathBuf::from("/srv/plain"));
        assert_eq!(source_path("file:///bad%zz"), PathBuf::from("/bad%zz"));
    }
}
