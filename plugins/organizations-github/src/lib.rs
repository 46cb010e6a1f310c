//! `vespene.plugins.organizations.github`: lists every repository of a
//! GitHub organization (GitHub Enterprise too: `api_endpoint =
//! https://HOST/api/v3`) through the REST API, for the organization import
//! (reference §3.2 "Organizations", §6).
//!
//! The organization's service login authenticates the API calls (its
//! password is a personal access token; `auth = "basic"` sends user name
//! and password as the original's client did). Clones are not this
//! plugin's: `clone_repo` answers `unsupported`, so the host clones each
//! repository through its git scm plugin with the same login.

pub mod api;
pub mod link;
pub mod params;

use params::Params;
use vespene_plugin_api::kinds::organizations::{CloneRepoRequest, FindReposRequest};
use vespene_plugin_api::{
    CreateContext, Host, OrganizationImporter, Plugin, PluginError, export_plugin,
};

/// The plugin: its parameters and the host that lent it services.
pub struct GithubOrganizations {
    params: Params,
    host: Host,
}

impl Plugin for GithubOrganizations {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        Ok(GithubOrganizations {
            params: Params::parse(ctx.name, &ctx.params)?,
            host: ctx.host,
        })
    }
}

/// Replaces the login's password (the token) wherever it appears.
fn redact(text: &str, request: &FindReposRequest) -> String {
    match &request.organization.credentials {
        Some(c) if c.password.len() >= 3 => text.replace(&c.password, "********"),
        _ => text.to_string(),
    }
}

impl GithubOrganizations {
    fn find(&self, request: &FindReposRequest) -> Result<Vec<String>, String> {
        let org = &request.organization;
        let base = api::base_url(&org.api_endpoint)?;
        let host = self.host;
        let message = move |line: &str| {
            let _ = host.message(line);
        };
        let stopped = move || host.stopped();
        message(&format!(
            "GitHub: listing the repositories of organization '{}' at {base}",
            org.organization_identifier.trim()
        ));
        let api = api::Api {
            client: api::client(&self.params)?,
            params: &self.params,
            credentials: org.credentials.as_ref(),
            message: &message,
            stopped: &stopped,
        };
        api.list_clone_urls(&base, &org.organization_identifier)
    }
}

impl OrganizationImporter for GithubOrganizations {
    fn find_all_repos(&self, request: &FindReposRequest) -> Result<Vec<String>, PluginError> {
        self.find(request)
            .map_err(|e| PluginError::failed(redact(&e, request)))
    }

    /// The host clones through its git scm plugin.
    fn clone_repo(&self, _request: &CloneRepoRequest) -> Result<String, PluginError> {
        Err(PluginError::unsupported(
            vespene_plugin_api::kinds::organizations::ops::CLONE_REPO,
        ))
    }
}

export_plugin! {
    name: "vespene.plugins.organizations.github",
    kind: organizations,
    plugin: GithubOrganizations,
    description: "GitHub and GitHub Enterprise organizations: every repository through the REST API, Link pagination, timeouts and retries.",
}
