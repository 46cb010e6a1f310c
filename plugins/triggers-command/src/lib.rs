//! `vespene.plugins.triggers.command`: runs a command when a build starts or
//! ends.
//!
//! The command is a Jinja2 template rendered against the trigger context
//! `{hook, event, build, project}` as the original's Jinja2 rendered it
//! (lenient undefined names, Python's printing; see
//! [`vespene_plugin_api::jinja`]), so
//! `cp -a {{ build.working_dir }} /tmp/publish_dir` works as it did in the
//! original. Every printed value is quoted for the shell
//! ([`jinja::render_for_shell`]), so a project or branch name cannot add
//! shell syntax. Its syntax is checked when the trigger is created. The host
//! runs the rendered command in a shell, writes the command and its output
//! into the build's messages, and kills it on stop or timeout.

mod params;

use params::Params;
use vespene_plugin_api::jinja::{self, Undefined};
use vespene_plugin_api::kinds::trigger::HookRequest;
use vespene_plugin_api::{
    CreateContext, Host, Plugin, PluginError, RunOutcome, RunRequest, Stream, TriggerPlugin,
    export_plugin,
};

/// One configured command trigger.
#[derive(Debug)]
pub struct CommandTrigger {
    /// The entry's name in the settings, for messages.
    name: String,
    params: Params,
    host: Host,
}

impl Plugin for CommandTrigger {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let params = params::parse(ctx.name, &ctx.params)?;
        Ok(CommandTrigger {
            name: ctx.name.to_string(),
            params,
            host: ctx.host,
        })
    }
}

impl TriggerPlugin for CommandTrigger {
    fn execute_hook(&self, request: &HookRequest) -> Result<(), PluginError> {
        let command = jinja::render_for_shell(&self.params.command, request, Undefined::Lenient)
            .map_err(|e| {
                PluginError::failed(format!(
                    "trigger '{}': cannot render its command: {e}",
                    self.name
                ))
            })?;
        let outcome = self
            .host
            .run(&RunRequest {
                shell: Some(command.clone()),
                stream: Stream::Messages,
                log_command: true,
                timeout_secs: self.params.timeout_secs,
                ..RunRequest::default()
            })
            .map_err(|e| {
                PluginError::failed(format!(
                    "trigger '{}': could not run command `{}`: {}",
                    self.name,
                    shorten(&command),
                    one_line(&e.message)
                ))
            })?;
        if outcome.success() {
            Ok(())
        } else {
            Err(PluginError::failed(failure_reason(
                &self.name, &command, &outcome,
            )))
        }
    }
}

/// One line: the trigger, the command, how it ended and its last output.
fn failure_reason(name: &str, command: &str, outcome: &RunOutcome) -> String {
    let what = format!("command `{}`", shorten(command));
    let mut reason = format!("trigger '{name}': {}", outcome.describe_failure(&what));
    let last = outcome.last_line.trim();
    if !last.is_empty() {
        reason.push_str("; last output: ");
        reason.push_str(&one_line(last));
    }
    reason
}

/// Text on one line: its lines trimmed and joined with `; `.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The command on one line, cut to a readable length.
fn shorten(command: &str) -> String {
    const MAX: usize = 200;
    let line = one_line(command);
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    }
}

export_plugin! {
    name: "vespene.plugins.triggers.command",
    kind: trigger,
    plugin: CommandTrigger,
    description: "Runs a shell command, rendered as a Jinja2 template against the build, when a build starts or ends.",
}

#[cfg(test)]
mod tests;
