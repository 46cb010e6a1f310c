//! Operations on builds for users: list, view, read output, delete,
//! permission to stop. Queueing and running belong to the engine (see
//! [`crate::db::builds`] and [`crate::db::output`]).

use super::{OpError, Ops, PageRequest};
use crate::authz::Actor;
use crate::db::authz_sql::is_all;
use crate::db::builds::{self, Build, BuildFilter, BuildStatus, BuildSummary};
use crate::db::output::{self, ByteRange, LogRange, OutputRead, OutputStream, OutputTail};
use crate::db::{DbConn, Paged};
use std::collections::HashMap;
use vespene_plugin_api::kinds::authorization::{Action, ObjectFacts, ObjectKind};

const KIND: ObjectKind = ObjectKind::Build;

/// The operations on builds (`ops.builds()`).
#[derive(Debug)]
pub struct BuildOps<'a> {
    ops: &'a Ops,
}

impl<'a> BuildOps<'a> {
    pub(super) fn new(ops: &'a Ops) -> Self {
        BuildOps { ops }
    }

    fn authorize(
        &self,
        conn: &mut DbConn,
        actor: &Actor,
        action: Action,
        id: i64,
    ) -> Result<ObjectFacts, OpError> {
        let facts = builds::facts(conn, id)?;
        if *actor == Actor::System {
            return Ok(facts);
        }
        let filter = self.ops.authz.filter(actor, action, KIND);
        if !is_all(&filter) && !builds::matches(conn, id, &filter)? {
            return Err(if action == Action::View {
                OpError::NotFound {
                    object: "build",
                    key: format!("#{id}"),
                }
            } else {
                OpError::Denied {
                    reason: format!("this build is not yours to {}", action.as_str()),
                }
            });
        }
        self.ops.authz.check(actor, action, KIND, Some(&facts))?;
        Ok(facts)
    }

    /// One page of the builds `actor` may list, newest first.
    pub fn list(
        &self,
        actor: &Actor,
        filter: &BuildFilter,
        page: PageRequest,
    ) -> Result<Paged<BuildSummary>, OpError> {
        self.ops.authz.check(actor, Action::List, KIND, None)?;
        let authz = self.ops.authz.filter(actor, Action::List, KIND);
        let mut conn = self.ops.db.conn()?;
        Ok(builds::list(
            &mut conn,
            filter,
            &authz,
            self.ops.page(page),
        )?)
    }

    /// [`BuildOps::list`] with each build's project name (`None` for
    /// organization imports), read on the same connection: what the
    /// build lists of the API and the web UI show.
    pub fn list_named(
        &self,
        actor: &Actor,
        filter: &BuildFilter,
        page: PageRequest,
    ) -> Result<Paged<(BuildSummary, Option<String>)>, OpError> {
        self.ops.authz.check(actor, Action::List, KIND, None)?;
        let authz = self.ops.authz.filter(actor, Action::List, KIND);
        let mut conn = self.ops.db.conn()?;
        let page = builds::list(&mut conn, filter, &authz, self.ops.page(page))?;
        let ids: Vec<i64> = page.items.iter().filter_map(|b| b.project_id).collect();
        let names: HashMap<i64, String> = if ids.is_empty() {
            HashMap::new()
        } else {
            crate::db::projects::names(&mut conn, &ids)?
                .into_iter()
                .collect()
        };
        Ok(page.map(|build| {
            let name = build.project_id.and_then(|p| names.get(&p).cloned());
            (build, name)
        }))
    }

    /// Build `id`, every field.
    pub fn get(&self, actor: &Actor, id: i64) -> Result<Build, OpError> {
        let mut conn = self.ops.db.conn()?;
        self.authorize(&mut conn, actor, Action::View, id)?;
        Ok(builds::get(&mut conn, id)?)
    }

    /// The output (or messages) of build `id` after chunk `after_seq`.
    pub fn output(
        &self,
        actor: &Actor,
        id: i64,
        stream: OutputStream,
        after_seq: i64,
    ) -> Result<OutputRead, OpError> {
        let mut conn = self.ops.db.conn()?;
        self.authorize(&mut conn, actor, Action::View, id)?;
        Ok(output::read_output(&mut conn, id, stream, after_seq)?)
    }

    /// The end of build `id`'s stream before chunk `before_seq`, at least
    /// `min_lines` long (see [`output::read_output_tail`]).
    pub fn output_tail(
        &self,
        actor: &Actor,
        id: i64,
        stream: OutputStream,
        before_seq: Option<i64>,
        min_lines: i64,
    ) -> Result<OutputTail, OpError> {
        let mut conn = self.ops.db.conn()?;
        self.authorize(&mut conn, actor, Action::View, id)?;
        Ok(output::read_output_tail(
            &mut conn, id, stream, before_seq, min_lines,
        )?)
    }

    /// The statuses of the builds `ids` that `actor` may list (status icons
    /// of a list of projects); builds they may not list are left out.
    pub fn statuses(
        &self,
        actor: &Actor,
        ids: &[i64],
    ) -> Result<HashMap<i64, BuildStatus>, OpError> {
        if self
            .ops
            .authz
            .check(actor, Action::List, KIND, None)
            .is_err()
        {
            return Ok(HashMap::new());
        }
        let authz = self.ops.authz.filter(actor, Action::List, KIND);
        let mut conn = self.ops.db.conn()?;
        Ok(builds::statuses(&mut conn, ids, &authz)?
            .into_iter()
            .collect())
    }

    /// Build `id`'s chunks with `after_seq < seq < before_seq` (the earlier
    /// part of a log whose tail was shown first).
    pub fn output_between(
        &self,
        actor: &Actor,
        id: i64,
        stream: OutputStream,
        after_seq: i64,
        before_seq: i64,
    ) -> Result<OutputRead, OpError> {
        let mut conn = self.ops.db.conn()?;
        self.authorize(&mut conn, actor, Action::View, id)?;
        Ok(output::read_output_between(
            &mut conn, id, stream, after_seq, before_seq,
        )?)
    }

    /// Bytes `range` of the stored output (or messages) of build `id`,
    /// reading only the chunks that hold them.
    pub fn log_range(
        &self,
        actor: &Actor,
        id: i64,
        stream: OutputStream,
        range: ByteRange,
    ) -> Result<LogRange, OpError> {
        let mut conn = self.ops.db.conn()?;
        self.authorize(&mut conn, actor, Action::View, id)?;
        Ok(output::read_range(&mut conn, id, stream, range)?)
    }

    /// One step of following build `id` live: its status, then the chunks
    /// of output and messages after the cursors (at most `max_chunks` of
    /// each). The status is read first, so a step that sees the build
    /// complete and returns fewer than `max_chunks` chunks of each stream
    /// has returned all its output.
    pub fn follow_step(
        &self,
        actor: &Actor,
        id: i64,
        after: (i64, i64),
        max_chunks: i64,
    ) -> Result<FollowStep, OpError> {
        let mut conn = self.ops.db.conn()?;
        self.authorize(&mut conn, actor, Action::View, id)?;
        let status = builds::status_of(&mut conn, id)?;
        let output = output::read_chunks(&mut conn, id, OutputStream::Output, after.0, max_chunks)?;
        let messages =
            output::read_chunks(&mut conn, id, OutputStream::Messages, after.1, max_chunks)?;
        // ABORTING is not an end: the stop is still on its way, and the
        // runner records ABORTED (and its last lines) after it.
        let complete = status.is_complete()
            && status != BuildStatus::Aborting
            && (output.len() as i64) < max_chunks
            && (messages.len() as i64) < max_chunks;
        Ok(FollowStep {
            status,
            output,
            messages,
            complete,
        })
    }

    /// Deletes build `id` with its output.
    pub fn delete(&self, actor: &Actor, id: i64) -> Result<(), OpError> {
        let mut conn = self.ops.db.conn()?;
        self.authorize(&mut conn, actor, Action::Delete, id)?;
        Ok(builds::delete(&mut conn, id)?)
    }

    /// Checks that `actor` may stop build `id` (the engine then stops it):
    /// only someone who may view the build (its starter, an owner, a
    /// superuser) and is allowed "stop" on it. One who may not view it is
    /// told it does not exist, as `get` tells them; every door (CLI, HTTP)
    /// goes through here.
    pub fn authorize_stop(&self, actor: &Actor, id: i64) -> Result<ObjectFacts, OpError> {
        let mut conn = self.ops.db.conn()?;
        let facts = self.authorize(&mut conn, actor, Action::View, id)?;
        if *actor != Actor::System {
            self.ops
                .authz
                .check(actor, Action::Stop, KIND, Some(&facts))?;
        }
        Ok(facts)
    }
}

/// What [`BuildOps::follow_step`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowStep {
    pub status: BuildStatus,
    /// (`seq`, text) of each new output chunk, in order.
    pub output: Vec<(i64, String)>,
    /// The same for messages.
    pub messages: Vec<(i64, String)>,
    /// The build is over and these are its last chunks.
    pub complete: bool,
}
