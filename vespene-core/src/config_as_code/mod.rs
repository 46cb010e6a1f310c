//! Configuration as code: `vespene apply FILE...` creates or updates
//! stored objects by name from YAML files, and `vespene export` writes
//! what is stored in the same format, so `export | apply` round-trips.
//!
//! # The format
//!
//! A file is a YAML mapping from kinds to lists of objects. Any kind may be
//! left out; one file may hold objects of every kind:
//!
//! ```yaml
//! groups:
//!   - name: developers
//! users:
//!   - username: alice
//!     email: alice@example.com
//!     groups: [developers]
//! worker_pools:
//!   - name: general
//!     isolation_method: sudo
//!     sudo_user: vespene_build
//! ssh_keys:
//!   - name: deploy
//!     private_key_file: keys/deploy_ed25519   # relative to this file
//!     owner_groups: [developers]
//! projects:
//!   - name: website
//!     worker_pool: general
//!     repo_url: https://git.example.com/website.git
//!     scm_type: git
//!     ssh_keys: [deploy]
//!     variables: { environment: staging }
//!     script: |
//!       #!/bin/bash
//!       make deploy
//! ```
//!
//! * Kinds (top-level keys), applied in this order whatever their order in
//!   the file: `groups`, `users`, `variable_sets`, `snippets`,
//!   `worker_pools`, `stages`, `pipelines`, `ssh_keys`, `service_logins`,
//!   `organizations`, `projects`. A file may therefore refer to objects it
//!   defines itself; files are applied in the order given.
//! * Every field of every object, with the names of reference §1 and the
//!   core's forms (`timeout`, `permissions_hex`, `launch_groups` …); an
//!   unknown field is an error. A field left out takes its default (the
//!   original's); the file describes the whole object. Runtime state is not
//!   configuration and is not in the format: a project's last, active and
//!   last successful builds, a pipeline's last completion, a pool's
//!   autoscaling status, a user's join and login times.
//! * Objects are named by `name` (users by `username`) and refer to each
//!   other by name: `worker_pool: general`, `owner_groups: [developers]`,
//!   a pipeline's `stages: [build, null, deploy]` (slot order, `null` for
//!   an empty slot).
//! * `variables` is a mapping (or its JSON text as a string);
//!   `launch_questions` is a list of `{variable, type, prompt, choices}`.
//! * `created_by: USERNAME` (kinds that have an owner) sets who created the
//!   object. Left out, it is unchanged, and a new object belongs to whoever
//!   applies the file. Only superusers give objects to other users.
//! * Secrets are never written in a file: an SSH key's `private_key` and
//!   `unlock_password`, a service login's `password` and a project's
//!   `webhook_token` are given as `FIELD_file: PATH` (relative to the file;
//!   for one-line secrets a final newline is dropped) or `FIELD_env:
//!   VARIABLE`. Writing the secret itself is an error. Left out, the stored
//!   secret is kept. Users have no password field: set one with `vespene
//!   user password`.
//!
//! # Applying
//!
//! [`apply_document`] runs one file in one database transaction, through
//! the core operations as the given actor (the command line is the
//! system, or `--as USER`): an object whose name is new is created, one
//! that differs is updated, one that matches is left alone, so a second
//! apply changes nothing and says so. If any object fails, nothing of the
//! file is stored, and the error names the file, the object (kind and
//! name) and the field.
//!
//! # Exporting
//!
//! [`export`] writes every object the actor may list, secrets left out, in
//! a deterministic order: kinds as above, objects and links sorted by
//! name, every field written.

mod apply;
mod export;
mod format;
mod kinds;
mod nesting;
#[cfg(test)]
mod tests;

pub use apply::{Existing, apply_document, apply_document_in};
pub use export::{EXPORT_HEADER, ExportError, export};
pub use format::*;

use crate::ops::{shorten, shorten_quoted, shorten_to};

/// The most characters of an apply error's reason (its lists of expected
/// fields are longer than one echoed value).
const REASON_LIMIT: usize = 1000;
use serde_path_to_error::Segment;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The kinds of object a file holds, in the order they are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Groups,
    Users,
    VariableSets,
    Snippets,
    WorkerPools,
    Stages,
    Pipelines,
    SshKeys,
    ServiceLogins,
    Organizations,
    Projects,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Groups,
        Kind::Users,
        Kind::VariableSets,
        Kind::Snippets,
        Kind::WorkerPools,
        Kind::Stages,
        Kind::Pipelines,
        Kind::SshKeys,
        Kind::ServiceLogins,
        Kind::Organizations,
        Kind::Projects,
    ];

    /// The top-level key (`worker_pools`).
    pub fn key(self) -> &'static str {
        match self {
            Kind::Groups => "groups",
            Kind::Users => "users",
            Kind::VariableSets => "variable_sets",
            Kind::Snippets => "snippets",
            Kind::WorkerPools => "worker_pools",
            Kind::Stages => "stages",
            Kind::Pipelines => "pipelines",
            Kind::SshKeys => "ssh_keys",
            Kind::ServiceLogins => "service_logins",
            Kind::Organizations => "organizations",
            Kind::Projects => "projects",
        }
    }

    /// One object of the kind, in messages (`worker pool`).
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Groups => "group",
            Kind::Users => "user",
            Kind::VariableSets => "variable set",
            Kind::Snippets => "snippet",
            Kind::WorkerPools => "worker pool",
            Kind::Stages => "stage",
            Kind::Pipelines => "pipeline",
            Kind::SshKeys => "ssh key",
            Kind::ServiceLogins => "service login",
            Kind::Organizations => "organization",
            Kind::Projects => "project",
        }
    }

    /// The field that names an object of the kind.
    pub fn name_field(self) -> &'static str {
        if self == Kind::Users {
            "username"
        } else {
            "name"
        }
    }

    /// The kind a user typed: the key (`worker_pools`), one of them
    /// (`worker_pool`), with `-` for `_` or none (`workerpool`).
    pub fn parse(s: &str) -> Option<Kind> {
        let wanted: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, '_' | '-'))
            .collect();
        Kind::ALL.into_iter().find(|k| {
            let key = k.key().replace('_', "");
            wanted == key || Some(wanted.as_str()) == key.strip_suffix('s')
        })
    }

    fn of_key(key: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.key() == key)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// An object of a file, in messages: `project 'website'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// The noun of its kind (`worker pool`).
    pub kind: &'static str,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.kind, shorten(&self.name))
    }
}

/// Why a file could not be applied: the file, the object and the field
/// when they are known, and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ApplyError {
    pub file: PathBuf,
    pub object: Option<ObjectRef>,
    pub field: Option<String>,
    pub reason: String,
}

impl ApplyError {
    fn file(file: &Path, reason: impl Into<String>) -> ApplyError {
        ApplyError {
            file: file.to_path_buf(),
            object: None,
            field: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ApplyError {
    /// Every part cut by [`shorten`]: a file may hold a huge name, key or
    /// value, and the error stays one short line naming the field.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", shorten(&self.file.display().to_string()))?;
        match (&self.object, &self.field) {
            (Some(o), Some(field)) => write!(f, "{o}, field '{}': ", shorten(field))?,
            (Some(o), None) => write!(f, "{o}: ")?,
            (None, Some(field)) => write!(f, "field '{}': ", shorten(field))?,
            (None, None) => {}
        }
        // A reason quotes values itself (cut there); this bounds the rest.
        f.write_str(&shorten_to(&self.reason, REASON_LIMIT))
    }
}

/// What applying did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// One object of an applied file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub object: ObjectRef,
    pub outcome: Outcome,
}

/// What applying one file did, object by object, in apply order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub file: PathBuf,
    pub changes: Vec<Change>,
}

impl FileReport {
    /// How many objects had `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.changes.iter().filter(|c| c.outcome == outcome).count()
    }

    /// Whether anything was created or updated.
    pub fn changed_anything(&self) -> bool {
        self.changes.iter().any(|c| c.outcome != Outcome::Unchanged)
    }

    /// One line: `FILE: 2 created, 1 updated, 5 unchanged`, or `FILE: no
    /// changes (8 objects unchanged)`.
    pub fn summary(&self) -> String {
        let file = self.file.display();
        if !self.changed_anything() {
            let n = self.changes.len();
            return format!(
                "{file}: no changes ({n} object{} unchanged)",
                if n == 1 { "" } else { "s" }
            );
        }
        format!(
            "{file}: {} created, {} updated, {} unchanged",
            self.count(Outcome::Created),
            self.count(Outcome::Updated),
            self.count(Outcome::Unchanged)
        )
    }
}

/// A parsed file, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub path: PathBuf,
    pub spec: FileSpec,
}

impl Document {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Document, ApplyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ApplyError::file(path, format!("cannot read: {e}")))?;
        Self::parse(path, &text)
    }

    /// Parses `text`, the content of `path`: YAML syntax, the fields of
    /// every object and their types, and names given once per kind.
    pub fn parse(path: &Path, text: &str) -> Result<Document, ApplyError> {
        nesting::check(text).map_err(|e| ApplyError::file(path, format!("not accepted: {e}")))?;
        let value: serde_norway::Value = serde_norway::from_str(text).map_err(|e| {
            ApplyError::file(
                path,
                format!("not valid YAML: {}", shorten_quoted(&e.to_string())),
            )
        })?;
        let spec = match &value {
            serde_norway::Value::Null => FileSpec::default(),
            serde_norway::Value::Mapping(_) => {
                serde_path_to_error::deserialize(serde_norway::Deserializer::from_str(text))
                    .map_err(|e| locate(path, &value, &e))?
            }
            _ => {
                return Err(ApplyError::file(
                    path,
                    "must be a mapping of kinds (groups:, users:, worker_pools:, projects: …) to \
                     lists of objects",
                ));
            }
        };
        check_names(path, &spec)?;
        Ok(Document {
            path: path.to_path_buf(),
            spec,
        })
    }
}

/// A deserialization error, with the object and the field it is about.
fn locate(
    path: &Path,
    value: &serde_norway::Value,
    err: &serde_path_to_error::Error<serde_norway::Error>,
) -> ApplyError {
    let segments: Vec<&Segment> = err.path().iter().collect();
    let reason = clean_reason(err.inner());
    let mut out = ApplyError::file(path, reason);
    let (Some(Segment::Map { key }), rest) = (segments.first(), segments.get(1..).unwrap_or(&[]))
    else {
        return out;
    };
    let Some(kind) = Kind::of_key(key) else {
        out.field = Some(key.clone());
        return out;
    };
    let (Some(Segment::Seq { index }), rest) = (rest.first(), rest.get(1..).unwrap_or(&[])) else {
        out.field = Some(key.clone());
        return out;
    };
    let name = value
        .get(key.as_str())
        .and_then(|list| list.get(*index))
        .and_then(|o| o.get(kind.name_field()))
        .and_then(|n| n.as_str())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("#{} of {key}", index + 1));
    out.object = Some(ObjectRef {
        kind: kind.noun(),
        name,
    });
    let mut field = String::new();
    for segment in rest {
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    if !field.is_empty() {
        out.field = Some(field);
    }
    out
}

/// serde_norway's message without the path it prefixes (the error names
/// the object and the field itself).
fn clean_reason(e: &serde_norway::Error) -> String {
    let text = e.to_string();
    let reason = match text.split_once(": ") {
        Some((head, tail)) if !head.contains(' ') && head.chars().any(|c| c == '.' || c == '[') => {
            tail
        }
        _ => &text,
    };
    shorten_quoted(reason)
}

/// Each name at most once per kind in a file.
fn check_names(path: &Path, spec: &FileSpec) -> Result<(), ApplyError> {
    fn once<'a>(
        path: &Path,
        kind: Kind,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<(), ApplyError> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, name) in names.enumerate() {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            if let Some(first) = seen.insert(name, i) {
                return Err(ApplyError {
                    file: path.to_path_buf(),
                    object: Some(ObjectRef {
                        kind: kind.noun(),
                        name: name.to_string(),
                    }),
                    field: Some(kind.name_field().to_string()),
                    reason: format!(
                        "is defined twice in this file (entries {} and {} of {})",
                        first + 1,
                        i + 1,
                        kind.key()
                    ),
                });
            }
        }
        Ok(())
    }
    once(
        path,
        Kind::Groups,
        spec.groups.iter().map(|o| o.name.as_str()),
    )?;
    once(
        path,
        Kind::Users,
        spec.users.iter().map(|o| o.username.as_str()),
    )?;
    once(
        path,
        Kind::VariableSets,
        spec.variable_sets.iter().map(|o| o.name.as_str()),
    )?;
    once(
        path,
        Kind::Snippets,
        spec.snippets.iter().map(|o| o.name.as_str()),
    )?;
    once(
        path,
        Kind::WorkerPools,
        spec.worker_pools.iter().map(|o| o.name.as_str()),
    )?;
    once(
        path,
        Kind::Stages,
        spec.stages.iter().map(|o| o.name.as_str()),
    )?;
    once(
        path,
        Kind::Pipelines,
        spec.pipelines.iter().map(|o| o.name.as_str()),
    )?;
    once(
        path,
        Kind::SshKeys,
        spec.ssh_keys.iter().map(|o| o.name.as_str()),
    )?;
    once(
        path,
        Kind::ServiceLogins,
        spec.service_logins.iter().map(|o| o.name.as_str()),
    )?;
    once(
        path,
        Kind::Organizations,
        spec.organizations.iter().map(|o| o.name.as_str()),
    )?;
    once(
        path,
        Kind::Projects,
        spec.projects.iter().map(|o| o.name.as_str()),
    )?;
    Ok(())
}
