//! Exporting: what is stored (and the actor may list), in the format
//! [`super::apply_document`] reads, secrets left out, in a deterministic
//! order (kinds in apply order, objects and links by name) so two exports
//! can be compared byte for byte.

use super::Kind;
use super::format::FileSpec;
use super::kinds::{Detail, Names, Object};
use crate::authz::Actor;
use crate::db::aggregate::Aggregate;
use crate::db::{DbConn, DbError};
use crate::ops::{HasId, MAX_PAGE_SIZE, OpError, Ops, PageRequest};
use diesel::prelude::*;
use std::collections::BTreeMap;

/// What the top of every export says.
pub const EXPORT_HEADER: &str = "\
# Vespene configuration, written by `vespene export`; `vespene apply` reads it.
# Secrets (SSH keys, passwords, webhook tokens) are not exported: give them
# with *_file or *_env fields (see docs/data.md).
";

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot export {kind}: {source}")]
    Op {
        kind: &'static str,
        #[source]
        source: OpError,
    },
    #[error("cannot write YAML: {0}")]
    Yaml(String),
}

/// The objects of `kinds` (every kind when empty) that `actor` may list
/// and view, as the text of a configuration file.
pub fn export(ops: &Ops, actor: &Actor, kinds: &[Kind]) -> Result<String, ExportError> {
    let wanted = |k: Kind| kinds.is_empty() || kinds.contains(&k);
    let names = {
        let mut conn = ops.db().conn().map_err(|e| ExportError::Op {
            kind: "names",
            source: e.into(),
        })?;
        load_names(&mut conn).map_err(|e| ExportError::Op {
            kind: "names",
            source: e.into(),
        })?
    };
    let mut spec = FileSpec::default();
    macro_rules! each {
        ($($field:ident => $kind:ident),+ $(,)?) => {
            $(
                if wanted(Kind::$kind) {
                    spec.$field = objects(ops, actor, &names)?;
                }
            )+
        };
    }
    each!(
        groups => Groups,
        users => Users,
        variable_sets => VariableSets,
        snippets => Snippets,
        worker_pools => WorkerPools,
        stages => Stages,
        pipelines => Pipelines,
        ssh_keys => SshKeys,
        service_logins => ServiceLogins,
        organizations => Organizations,
        projects => Projects,
    );
    let body = if spec == FileSpec::default() {
        String::new()
    } else {
        serde_norway::to_string(&spec).map_err(|e| ExportError::Yaml(e.to_string()))?
    };
    Ok(format!("{EXPORT_HEADER}{body}"))
}

/// Every object of one kind the actor may list, sorted by name.
fn objects<O: Object>(ops: &Ops, actor: &Actor, names: &Names) -> Result<Vec<O>, ExportError>
where
    <O::A as Aggregate>::Row: HasId,
{
    let fail = |source: OpError| ExportError::Op {
        kind: O::KIND.key(),
        source,
    };
    let resource = ops.resource::<O::A>();
    let filter = <O::A as Aggregate>::ListFilter::default();
    let mut ids = Vec::new();
    for page in 1.. {
        let paged = resource
            .list(
                actor,
                &filter,
                PageRequest {
                    page,
                    size: Some(MAX_PAGE_SIZE),
                },
            )
            .map_err(fail)?;
        ids.extend(paged.items.iter().map(HasId::id));
        if !paged.has_more {
            break;
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        // Some lists show what only superusers may open (organizations):
        // what the actor may not view is not exported.
        let detail: Detail<O> = match resource.get(actor, id) {
            Ok(d) => d,
            Err(OpError::NotFound { .. } | OpError::Denied { .. }) => continue,
            Err(e) => return Err(fail(e)),
        };
        out.push(O::from_detail(&detail, names));
    }
    out.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(out)
}

/// The names of every object others refer to, by id.
fn load_names(conn: &mut DbConn) -> Result<Names, DbError> {
    macro_rules! names {
        ($table:ident, $name:ident) => {{
            use crate::db::schema::$table::dsl as t;
            t::$table
                .select((t::id, t::$name))
                .load::<(i64, String)>(conn)?
                .into_iter()
                .collect::<BTreeMap<i64, String>>()
        }};
    }
    Ok(Names {
        groups: names!(groups, name),
        users: names!(users, username),
        variable_sets: names!(variable_sets, name),
        stages: names!(stages, name),
        pipelines: names!(pipelines, name),
        worker_pools: names!(worker_pools, name),
        ssh_keys: names!(ssh_keys, name),
        service_logins: names!(service_logins, name),
    })
}
