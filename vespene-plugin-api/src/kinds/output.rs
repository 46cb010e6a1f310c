//! Output filters: every line of a build's output and messages passes
//! through the configured filters, in order (reference §3.2 "Output").

use super::{Empty, adapter};
use crate::context::BuildInfo;
use crate::export::{Dispatch, LineAction, LineOut, handle};
use crate::{Kind, Plugin, PluginError};
use serde::{Deserialize, Serialize};

/// Operation names.
pub mod ops {
    /// A build starts: [`super::BeginRequest`] → `{}`. The host makes one
    /// instance per build and calls this before the first line.
    pub const BEGIN: &str = "begin";
    /// The JSON form of `filter_line`, for tools and tests:
    /// [`super::FilterRequest`] → [`super::FilterResponse`].
    pub const FILTER: &str = "filter";
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BeginRequest {
    pub build: BuildInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterRequest {
    pub line: String,
}

/// `line` is the line to keep, or `null` to drop it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterResponse {
    pub line: Option<String>,
}

/// An output filter. One instance serves one build.
pub trait OutputFilter: Send + Sync {
    /// Called once before the first line, with the build (its `start_time`
    /// in particular).
    fn begin(&self, _build: &BuildInfo) -> Result<(), PluginError> {
        Ok(())
    }

    /// Filters one line (without its line ending). Write a replacement into
    /// `out` (empty on entry) and return [`LineAction::Replaced`], or return
    /// [`LineAction::Unchanged`] / [`LineAction::Drop`].
    fn filter_line(&self, line: &str, out: &mut LineOut<'_>) -> Result<LineAction, PluginError>;
}

adapter!(Kind::Output, OutputFilter);

impl<T: OutputFilter + Plugin> Dispatch for Adapter<T> {
    fn call(&self, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            ops::BEGIN => handle(args, |r: BeginRequest| {
                self.0.begin(&r.build).map(|()| Empty {})
            }),
            ops::FILTER => handle(args, |r: FilterRequest| {
                let mut out = String::new();
                let line = match self.0.filter_line(&r.line, &mut LineOut::from(&mut out))? {
                    LineAction::Unchanged => Some(r.line),
                    LineAction::Replaced => Some(out),
                    LineAction::Drop => None,
                };
                Ok(FilterResponse { line })
            }),
            _ => Err(PluginError::unsupported(op)),
        }
    }

    fn filter_line(&self, line: &str, out: &mut LineOut<'_>) -> Result<LineAction, PluginError> {
        self.0.filter_line(line, out)
    }
}
