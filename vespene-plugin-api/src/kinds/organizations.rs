//! Organization import: list an organization's repositories and clone each
//! (reference §3.2 "Organizations", §6). Selected by the organization's
//! `organization_type`.

use super::adapter;
use crate::context::{BuildInfo, Credentials};
use crate::export::{Dispatch, handle};
use crate::{Kind, Plugin, PluginError};
use serde::{Deserialize, Serialize};

/// Operation names.
pub mod ops {
    /// [`super::FindReposRequest`] → [`super::FindReposResponse`].
    pub const FIND_ALL_REPOS: &str = "find_all_repos";
    /// [`super::CloneRepoRequest`] → [`super::CloneRepoResponse`].
    pub const CLONE_REPO: &str = "clone_repo";
}

/// An organization to import from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrganizationInfo {
    pub id: i64,
    pub name: String,
    pub organization_type: String,
    /// e.g. `vespene-io`.
    pub organization_identifier: String,
    /// Blank for the public service, else its API base URL.
    pub api_endpoint: String,
    /// The organization's service login, decrypted.
    pub credentials: Option<Credentials>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FindReposRequest {
    pub organization: OrganizationInfo,
    pub build: BuildInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindReposResponse {
    /// Clone URLs.
    pub repos: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CloneRepoRequest {
    pub organization: OrganizationInfo,
    pub build: BuildInfo,
    pub repo: String,
    /// The repository's number in this import (its scratch directory name).
    pub count: i64,
    /// Directory to clone into.
    pub dest: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneRepoResponse {
    pub path: String,
}

/// An organization importer.
pub trait OrganizationImporter: Send + Sync {
    fn find_all_repos(&self, request: &FindReposRequest) -> Result<Vec<String>, PluginError>;
    fn clone_repo(&self, request: &CloneRepoRequest) -> Result<String, PluginError>;
}

adapter!(Kind::Organizations, OrganizationImporter);

impl<T: OrganizationImporter + Plugin> Dispatch for Adapter<T> {
    fn call(&self, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            ops::FIND_ALL_REPOS => handle(args, |r: FindReposRequest| {
                self.0
                    .find_all_repos(&r)
                    .map(|repos| FindReposResponse { repos })
            }),
            ops::CLONE_REPO => handle(args, |r: CloneRepoRequest| {
                self.0.clone_repo(&r).map(|path| CloneRepoResponse { path })
            }),
            _ => Err(PluginError::unsupported(op)),
        }
    }
}
