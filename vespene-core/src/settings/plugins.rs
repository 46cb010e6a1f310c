//! The plugin sections of the settings, as the original had them: twelve
//! sections, each an ordered list of named entries, each entry a dotted
//! plugin name with optional parameters.
//!
//! ```toml
//! [plugins.scm]
//! none = "vespene.plugins.scm.none"
//!
//! [plugins.output]
//! timestamp = ["vespene.plugins.output.timestamp", { mode = "elapsed" }]
//!
//! [plugins.success_triggers]
//! publish = ["vespene.plugins.triggers.command", "cp -a {{ build.working_dir }} /tmp/publish_dir"]
//! ```
//!
//! A later file may redefine an entry (it keeps its place) or remove it with
//! `name = false`.

use super::{SettingsError, Source};
use serde::Serialize;
use std::fmt;
use vespene_plugin_api::{Kind, is_dotted_name};

/// The twelve sections of the original's `PLUGIN_CONFIGURATION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    PreTriggers,
    SuccessTriggers,
    FailureTriggers,
    Isolation,
    Authorization,
    Scm,
    Variables,
    Output,
    Secrets,
    Organizations,
    AutoscalingExecutors,
    AutoscalingPlanners,
}

impl Section {
    pub const ALL: [Section; 12] = [
        Section::PreTriggers,
        Section::SuccessTriggers,
        Section::FailureTriggers,
        Section::Isolation,
        Section::Authorization,
        Section::Scm,
        Section::Variables,
        Section::Output,
        Section::Secrets,
        Section::Organizations,
        Section::AutoscalingExecutors,
        Section::AutoscalingPlanners,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Section::PreTriggers => "pre_triggers",
            Section::SuccessTriggers => "success_triggers",
            Section::FailureTriggers => "failure_triggers",
            Section::Isolation => "isolation",
            Section::Authorization => "authorization",
            Section::Scm => "scm",
            Section::Variables => "variables",
            Section::Output => "output",
            Section::Secrets => "secrets",
            Section::Organizations => "organizations",
            Section::AutoscalingExecutors => "autoscaling_executors",
            Section::AutoscalingPlanners => "autoscaling_planners",
        }
    }

    pub fn parse(s: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|sec| sec.as_str() == s)
    }

    /// The plugin kind every entry of this section must be.
    pub fn kind(self) -> Kind {
        match self {
            Section::PreTriggers | Section::SuccessTriggers | Section::FailureTriggers => {
                Kind::Trigger
            }
            Section::Isolation => Kind::Isolation,
            Section::Authorization => Kind::Authorization,
            Section::Scm => Kind::Scm,
            Section::Variables => Kind::Variables,
            Section::Output => Kind::Output,
            Section::Secrets => Kind::Secrets,
            Section::Organizations => Kind::Organizations,
            Section::AutoscalingExecutors => Kind::AutoscaleExecutor,
            Section::AutoscalingPlanners => Kind::AutoscalePlanner,
        }
    }

    /// Sections whose entries are chosen by name (stored in the database,
    /// e.g. a project's `scm_type`); the others run as an ordered list.
    pub fn is_selected_by_name(self) -> bool {
        matches!(
            self,
            Section::Scm
                | Section::Isolation
                | Section::Organizations
                | Section::AutoscalingExecutors
                | Section::AutoscalingPlanners
        )
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One named entry: `publish = ["vespene.plugins.triggers.command", "..."]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginEntry {
    /// The entry's name (`publish`).
    pub name: String,
    /// The dotted plugin name (`vespene.plugins.triggers.command`).
    pub plugin: String,
    /// Parameters as JSON; `null` when none were written.
    pub params: serde_json::Value,
    /// Where this entry was last defined.
    #[serde(skip)]
    pub source: Source,
}

impl PluginEntry {
    /// "FILE, section [plugins.S], entry 'E'", for error messages.
    pub fn location(&self, section: Section) -> String {
        format!(
            "{}, section [plugins.{}], entry '{}'",
            self.source, section, self.name
        )
    }
}

/// All twelve sections, each in the order written. Serializes in the
/// settings' own form: `name = "plugin"` or `name = ["plugin", params]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginSections {
    pub pre_triggers: Vec<PluginEntry>,
    pub success_triggers: Vec<PluginEntry>,
    pub failure_triggers: Vec<PluginEntry>,
    pub isolation: Vec<PluginEntry>,
    pub authorization: Vec<PluginEntry>,
    pub scm: Vec<PluginEntry>,
    pub variables: Vec<PluginEntry>,
    pub output: Vec<PluginEntry>,
    pub secrets: Vec<PluginEntry>,
    pub organizations: Vec<PluginEntry>,
    pub autoscaling_executors: Vec<PluginEntry>,
    pub autoscaling_planners: Vec<PluginEntry>,
}

impl Serialize for PluginSections {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = ser.serialize_map(Some(Section::ALL.len()))?;
        for section in Section::ALL {
            let entries: indexmap::IndexMap<&str, serde_json::Value> = self
                .section(section)
                .iter()
                .map(|e| {
                    let v = if e.params.is_null() {
                        serde_json::Value::String(e.plugin.clone())
                    } else {
                        serde_json::json!([e.plugin, e.params])
                    };
                    (e.name.as_str(), v)
                })
                .collect();
            map.serialize_entry(section.as_str(), &entries)?;
        }
        map.end()
    }
}

impl PluginSections {
    pub fn section(&self, s: Section) -> &[PluginEntry] {
        match s {
            Section::PreTriggers => &self.pre_triggers,
            Section::SuccessTriggers => &self.success_triggers,
            Section::FailureTriggers => &self.failure_triggers,
            Section::Isolation => &self.isolation,
            Section::Authorization => &self.authorization,
            Section::Scm => &self.scm,
            Section::Variables => &self.variables,
            Section::Output => &self.output,
            Section::Secrets => &self.secrets,
            Section::Organizations => &self.organizations,
            Section::AutoscalingExecutors => &self.autoscaling_executors,
            Section::AutoscalingPlanners => &self.autoscaling_planners,
        }
    }

    fn section_mut(&mut self, s: Section) -> &mut Vec<PluginEntry> {
        match s {
            Section::PreTriggers => &mut self.pre_triggers,
            Section::SuccessTriggers => &mut self.success_triggers,
            Section::FailureTriggers => &mut self.failure_triggers,
            Section::Isolation => &mut self.isolation,
            Section::Authorization => &mut self.authorization,
            Section::Scm => &mut self.scm,
            Section::Variables => &mut self.variables,
            Section::Output => &mut self.output,
            Section::Secrets => &mut self.secrets,
            Section::Organizations => &mut self.organizations,
            Section::AutoscalingExecutors => &mut self.autoscaling_executors,
            Section::AutoscalingPlanners => &mut self.autoscaling_planners,
        }
    }

    /// Every (section, entry) in section order, then entry order.
    pub fn iter(&self) -> impl Iterator<Item = (Section, &PluginEntry)> {
        Section::ALL
            .into_iter()
            .flat_map(move |s| self.section(s).iter().map(move |e| (s, e)))
    }

    /// Applies one layer's changes: a redefined entry keeps its place, a new
    /// one is appended, `None` removes.
    pub(super) fn apply(&mut self, section: Section, name: &str, entry: Option<PluginEntry>) {
        let list = self.section_mut(section);
        let pos = list.iter().position(|e| e.name == name);
        match (pos, entry) {
            (Some(i), Some(e)) => list[i] = e,
            (None, Some(e)) => list.push(e),
            (Some(i), None) => {
                list.remove(i);
            }
            (None, None) => {}
        }
    }
}

/// Decodes one entry's TOML value. `Ok(None)` means "remove" (`false`).
pub(super) fn parse_entry(
    source: &Source,
    section: Section,
    name: &str,
    value: &toml::Value,
) -> Result<Option<PluginEntry>, SettingsError> {
    let err = |message: String| SettingsError::Invalid {
        source_name: format!("{source}, section [plugins.{section}], entry '{name}'"),
        message,
    };
    let shape = "expected a dotted plugin name, [\"plugin.name\", parameters] or false";
    let (plugin, params) = match value {
        toml::Value::Boolean(false) => return Ok(None),
        toml::Value::String(s) => (s.clone(), serde_json::Value::Null),
        toml::Value::Array(items) => match items.as_slice() {
            [toml::Value::String(s)] => (s.clone(), serde_json::Value::Null),
            [toml::Value::String(s), params] => (
                s.clone(),
                serde_json::to_value(params)
                    .map_err(|e| err(format!("parameters cannot be encoded: {e}")))?,
            ),
            _ => return Err(err(shape.into())),
        },
        _ => return Err(err(shape.into())),
    };
    if !is_dotted_name(&plugin) {
        return Err(err(format!(
            "'{plugin}' is not a dotted plugin name such as vespene.plugins.scm.git"
        )));
    }
    Ok(Some(PluginEntry {
        name: name.to_string(),
        plugin,
        params,
        source: source.clone(),
    }))
}
