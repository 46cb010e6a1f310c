//! A call scope for the command line: commands a plugin runs print their
//! lines to standard output, prefixed by the stream they would go to in a
//! build.

use vespene_core::plugins::CallScope;
use vespene_core::process::{self, CommandSpec};
use vespene_plugin_api::{PluginError, RunOutcome, RunRequest, Stream};

pub struct ConsoleScope;

fn print_line(stream: Stream, line: &str) {
    match stream {
        Stream::Output => println!("[output] {line}"),
        Stream::Messages => println!("[messages] {line}"),
        Stream::None => {}
    }
}

impl CallScope for ConsoleScope {
    fn run(&self, request: &RunRequest) -> Result<RunOutcome, PluginError> {
        let cwd = std::env::current_dir().ok();
        let spec = CommandSpec::from_request(request, cwd.as_deref())
            .map_err(|e| PluginError::invalid_request(e.to_string()))?;
        if request.log_command {
            let shown = request.display.clone().unwrap_or_else(|| spec.display());
            print_line(Stream::Messages, &shown);
        }
        let outcome = process::run(&spec, |line| print_line(request.stream, line))
            .map_err(|e| PluginError::failed(e.to_string()))?;
        Ok(outcome.into())
    }

    fn append(&self, stream: Stream, text: &str) -> Result<(), PluginError> {
        for line in text.lines() {
            print_line(stream, line);
        }
        Ok(())
    }
}
