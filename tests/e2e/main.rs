//! End-to-end tests: the real `vespene` binary and real `.so` plugins.

mod accounts;
mod apply;
mod authorization;
mod bad_plugins;
mod builds;
mod http_api;
mod http_auth;
mod http_authz;
mod http_cli;
mod http_fileserving;
mod http_openapi;
mod http_webhooks;
mod isolation;
mod maintenance;
mod pipelines;
mod plugins;
mod schedules;
mod scm_common;
mod scm_git;
mod scm_svn;
mod stress;
mod up;
mod variables;
