//! A build's log: every line of its output and messages has its ANSI escape
//! sequences removed, is checked for `vespene/set NAME VALUE` (output
//! variables), passes through the output filter chain, and is batched into
//! a [`LogStore`] so that storing a million lines costs a few hundred
//! appends, not a million.

use super::call_guard::{self, CallGuard, Deadline};
use super::context::BuildNames;
use crate::db::builds;
use crate::db::output::{self, OutputStream};
use crate::db::{DbConn, DbError};
use crate::plugins::{Instance, LineBuf, Registry};
use crate::settings::Section;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::time::{Duration, Instant};
use vespene_plugin_api::kinds::output::{BeginRequest, ops};
use vespene_plugin_api::{BuildInfo, LineAction, Stream};

/// Flush when this much text is waiting...
const FLUSH_BYTES: usize = 256 * 1024;
/// ...or when the oldest waiting line is this old.
const FLUSH_AGE: Duration = Duration::from_millis(200);

/// Where a build's log goes: appends text (whole lines, each ending in
/// `\n`) to one of its streams.
pub trait LogStore {
    /// Takes `text` (lines ending in `\n`, leaving it empty) on success;
    /// leaves it untouched on failure so the next flush tries again.
    fn append(&mut self, stream: Stream, text: &mut String) -> Result<(), String>;
    /// Passes on what it holds back (a runner child's pipe writes the
    /// lines of one read of a command's output together): called after
    /// every read, while a command is silent, and after housekeeping text.
    fn idle(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// Waits until everything appended so far is stored.
    fn sync(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// Stores everything and closes the store.
    fn close(&mut self) -> Result<(), String> {
        self.sync()
    }
}

impl LogStore for Box<dyn LogStore> {
    fn append(&mut self, stream: Stream, text: &mut String) -> Result<(), String> {
        (**self).append(stream, text)
    }
    fn idle(&mut self) -> Result<(), String> {
        (**self).idle()
    }
    fn sync(&mut self) -> Result<(), String> {
        (**self).sync()
    }
    fn close(&mut self) -> Result<(), String> {
        (**self).close()
    }
}

/// The output plugins of one build, in the configured order.
pub struct FilterChain {
    filters: Vec<(String, Instance)>,
    /// Each filter's call label (see [`CallGuard`]).
    labels: Vec<&'static str>,
    /// How long one call may take.
    limit: Option<(Duration, &'static str)>,
    current: LineBuf,
    next: LineBuf,
    /// Filters that failed; each is reported once and then skipped.
    broken: Vec<bool>,
    problems: Vec<String>,
}

impl FilterChain {
    /// A chain of the given instances (already begun).
    pub fn new(filters: Vec<(String, Instance)>) -> FilterChain {
        let n = filters.len();
        let labels = filters
            .iter()
            .map(|(name, _)| call_guard::label("output", name, "filter_line"))
            .collect();
        FilterChain {
            filters,
            labels,
            limit: None,
            current: LineBuf::with_capacity(256),
            next: LineBuf::with_capacity(256),
            broken: vec![false; n],
            problems: Vec::new(),
        }
    }

    /// Fresh instances of every configured output plugin for `build`
    /// (output filters keep per-build state), each told the build has
    /// begun. A filter that cannot start is left out and reported.
    /// Each call may take `limit` (`[worker] output_call_seconds`).
    pub fn for_build(
        registry: &Registry,
        build: &BuildInfo,
        limit: Option<Duration>,
    ) -> FilterChain {
        let limit = limit.map(|l| {
            (
                l,
                call_guard::intern(format!(
                    "did not return within {} s ([worker] output_call_seconds)",
                    l.as_secs()
                )),
            )
        });
        let begin = serde_json::to_string(&BeginRequest {
            build: build.clone(),
        })
        .unwrap_or_else(|_| "{}".into());
        let mut filters = Vec::new();
        let mut problems = Vec::new();
        for configured in registry.section(Section::Output) {
            let started = configured.new_instance().and_then(|inst| {
                let _call = CallGuard::enter(
                    call_guard::label("output", configured.name(), ops::BEGIN),
                    limit.map(|(l, why)| Deadline::after(l, why)),
                );
                inst.call(ops::BEGIN, &begin)?;
                Ok(inst)
            });
            match started {
                Ok(inst) => filters.push((configured.name().to_string(), inst)),
                Err(e) => problems.push(format!(
                    "output plugin '{}' could not start, lines are not passed through it: {e}",
                    configured.name()
                )),
            }
        }
        let mut chain = FilterChain::new(filters);
        chain.problems = problems;
        chain.limit = limit;
        chain
    }

    /// Passes `line` through every filter. `None` when a filter dropped it.
    pub fn apply<'a>(&'a mut self, line: &'a str) -> Option<&'a str> {
        let FilterChain {
            filters,
            labels,
            limit,
            current,
            next,
            broken,
            problems,
        } = self;
        let mut replaced = false;
        for (i, (name, inst)) in filters.iter().enumerate() {
            if broken[i] {
                continue;
            }
            let input: &str = if replaced { current.as_str() } else { line };
            let _call = CallGuard::enter_within(labels[i], *limit);
            match inst.filter_line(input, next) {
                Ok(LineAction::Unchanged) => {}
                Ok(LineAction::Replaced) => {
                    std::mem::swap(current, next);
                    replaced = true;
                }
                Ok(LineAction::Drop) => return None,
                Err(e) => {
                    broken[i] = true;
                    problems.push(format!(
                        "output plugin '{name}' failed and is skipped for the rest of this build: {e}"
                    ));
                }
            }
        }
        Some(if replaced { current.as_str() } else { line })
    }

    /// Problems to report in the build's messages (each once).
    pub fn take_problems(&mut self) -> Vec<String> {
        std::mem::take(&mut self.problems)
    }
}

/// Removes ANSI escape sequences (colours, cursor movement).
pub fn strip_ansi(line: &str) -> Cow<'_, str> {
    if !line.as_bytes().contains(&0x1b) {
        return Cow::Borrowed(line);
    }
    Cow::Owned(String::from_utf8_lossy(&strip_ansi_escapes::strip(line)).into_owned())
}

/// `vespene/set NAME VALUE` (split like a shell: quotes allow spaces) sets
/// an output variable; any other number of words is not a setting.
pub fn parse_set_line(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("vespene/set")?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let words = shell_words::split(line).ok()?;
    match <[String; 3]>::try_from(words) {
        Ok([_, name, value]) => Some((name, value)),
        Err(_) => None,
    }
}

/// The log of one build.
pub struct BuildLog<S: LogStore> {
    chain: FilterChain,
    store: S,
    pending: [String; 2],
    oldest: Option<Instant>,
    output_variables: Map<String, Value>,
    variables: VariableBudget,
    store_error: Option<String>,
    /// Hand every line to the store at once (a runner child: its store
    /// holds lines where a report of a plugin call that kills the child
    /// finds them, see [`super::held`]).
    unbatched: bool,
}

/// How many output variables a build may set, and how many bytes of names
/// and values (`[worker] max_output_variables`, `max_output_variable_bytes`):
/// a build printing a million `vespene/set` lines must not hold them all.
#[derive(Debug, Clone, Copy)]
pub struct VariableLimits {
    pub count: usize,
    pub bytes: usize,
}

impl Default for VariableLimits {
    fn default() -> Self {
        VariableLimits {
            count: 1000,
            bytes: 1 << 20,
        }
    }
}

#[derive(Default)]
struct VariableBudget {
    limits: VariableLimits,
    bytes: usize,
    refused: bool,
}

fn slot(stream: Stream) -> Option<usize> {
    match stream {
        Stream::Output => Some(0),
        Stream::Messages => Some(1),
        Stream::None => None,
    }
}

impl<S: LogStore> BuildLog<S> {
    pub fn new(chain: FilterChain, store: S) -> BuildLog<S> {
        let mut log = BuildLog {
            chain,
            store,
            pending: [String::new(), String::new()],
            oldest: None,
            output_variables: Map::new(),
            variables: VariableBudget::default(),
            store_error: None,
            unbatched: false,
        };
        for p in log.chain.take_problems() {
            log.message(&p);
        }
        log
    }

    /// One line of a stream.
    pub fn line(&mut self, stream: Stream, raw: &str) {
        let Some(i) = slot(stream) else { return };
        let line = strip_ansi(raw);
        // The first byte alone rules out nearly every line (a call to
        // memcmp per line showed in profiles).
        if line.as_bytes().first() == Some(&b'v')
            && line.starts_with("vespene/set")
            && let Some((name, value)) = parse_set_line(&line)
        {
            self.set_variable(name, value);
        }
        self.push_filtered(i, &line);
        if !self.chain.problems.is_empty() {
            let problems = self.chain.take_problems();
            for p in problems {
                self.push_filtered(1, &p);
            }
        }
        if self.unbatched {
            return self.flush();
        }
        // One clock read per batch, not per line: the age is checked by
        // `tick`, which the command runner calls after every read.
        if self.oldest.is_none() {
            self.oldest = Some(Instant::now());
        }
        if self.pending[i].len() >= FLUSH_BYTES {
            self.flush();
        }
    }

    /// Hands every line to the store as soon as it is seen.
    pub fn unbatched(&mut self) {
        self.unbatched = true;
    }

    /// A line already stripped, parsed and filtered (by a runner child),
    /// batched like any other. The relay calls [`BuildLog::tick`] after
    /// every chunk of lines it hands over (one clock read per chunk).
    pub fn relayed(&mut self, stream: Stream, line: &str) {
        let Some(i) = slot(stream) else { return };
        let buf = &mut self.pending[i];
        buf.push_str(line);
        buf.push('\n');
        if self.oldest.is_none() {
            self.oldest = Some(Instant::now());
        }
        if self.pending[i].len() >= FLUSH_BYTES {
            self.flush();
        }
    }

    /// Queues `line` for stream slot `i` as the filters leave it: every
    /// line of both streams, the log's own housekeeping included, carries
    /// the output plugins' prefix.
    fn push_filtered(&mut self, i: usize, line: &str) {
        if let Some(filtered) = self.chain.apply(line) {
            let buf = &mut self.pending[i];
            buf.push_str(filtered);
            buf.push('\n');
        }
    }

    /// Limits output variables to `limits`.
    pub fn limit_variables(&mut self, limits: VariableLimits) {
        self.variables.limits = limits;
    }

    /// Sets output variable `name` within the build's budget; the first
    /// setting refused is reported in the messages, later ones silently.
    fn set_variable(&mut self, name: String, value: String) {
        let old = self
            .output_variables
            .get(&name)
            .and_then(Value::as_str)
            .map(|v| name.len() + v.len());
        let after = self.variables.bytes - old.unwrap_or(0) + name.len() + value.len();
        let count = self.output_variables.len() + usize::from(old.is_none());
        let limits = self.variables.limits;
        if count > limits.count || after > limits.bytes {
            if !std::mem::replace(&mut self.variables.refused, true) {
                let why = if count > limits.count {
                    format!("more than {} output variables", limits.count)
                } else {
                    format!("more than {} bytes of output variables", limits.bytes)
                };
                let text = format!(
                    "vespene/set {name}: ignored, the build set {why} ([worker] max_output_variables, max_output_variable_bytes); later settings over the limit are ignored too"
                );
                self.push_filtered(1, &text);
            }
            return;
        }
        self.variables.bytes = after;
        self.output_variables.insert(name, Value::String(value));
    }

    /// Text of one or more lines for a stream.
    pub fn text(&mut self, stream: Stream, text: &str) {
        for line in text.lines() {
            self.line(stream, line);
        }
        if self.unbatched {
            self.store_idle();
        }
    }

    /// A housekeeping line in the messages.
    pub fn message(&mut self, text: &str) {
        self.text(Stream::Messages, text);
    }

    /// Stores what is waiting if it has waited long enough (call while a
    /// command is silent).
    pub fn tick(&mut self) {
        if self.oldest.is_some_and(|t| t.elapsed() >= FLUSH_AGE) {
            self.flush();
        }
        self.store_idle();
    }

    fn store_idle(&mut self) {
        if let Err(e) = self.store.idle() {
            self.store_error.get_or_insert(e);
        }
    }

    /// Stores everything waiting.
    pub fn flush(&mut self) {
        self.oldest = None;
        for (i, stream) in [Stream::Output, Stream::Messages].into_iter().enumerate() {
            if self.pending[i].is_empty() {
                continue;
            }
            if let Err(e) = self.store.append(stream, &mut self.pending[i]) {
                // The text stays pending: the next flush tries again.
                self.store_error.get_or_insert(e);
                continue;
            }
            self.pending[i].clear();
        }
    }

    /// Stores everything waiting and waits until it is stored, so readers
    /// see the whole log (before the build is recorded as ended).
    pub fn sync(&mut self) -> Result<(), String> {
        self.flush();
        self.store.sync()
    }

    /// Output variables set so far.
    pub fn output_variables(&self) -> &Map<String, Value> {
        &self.output_variables
    }

    /// The first error the store reported, if any.
    pub fn store_error(&self) -> Option<&str> {
        self.store_error.as_deref()
    }

    /// Flushes and hands back the store.
    pub fn finish(mut self) -> (S, Map<String, Value>) {
        self.flush();
        (self.store, self.output_variables)
    }
}

/// Appends `lines` to a stream of build `build_id` from outside its
/// worker's log (a stop, a start that failed, an orphaned or superseded
/// build), through a fresh chain of the build's output filters, so that
/// these lines carry the same prefix as every other line of the log.
pub fn append_filtered(
    conn: &mut DbConn,
    registry: &Registry,
    build_id: i64,
    stream: OutputStream,
    lines: &[&str],
) -> Result<(), DbError> {
    let build = builds::get(conn, build_id)?;
    let info = BuildNames::of(conn, &build, None)?.info(&build);
    let mut chain = FilterChain::for_build(registry, &info, None);
    let mut kept: Vec<String> = Vec::new();
    let mut todo: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    // A filter that fails is reported once and then skipped, so this ends.
    while !todo.is_empty() {
        for line in std::mem::take(&mut todo) {
            for part in line.lines() {
                if let Some(filtered) = chain.apply(part) {
                    kept.push(filtered.to_string());
                }
            }
        }
        todo = chain.take_problems();
    }
    output::append_output(conn, build_id, stream, &kept).map(drop)
}

#[cfg(test)]
mod tests;
