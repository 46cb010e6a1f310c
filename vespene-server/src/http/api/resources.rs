//! Create, read, update, delete and list, once for every object kind the
//! data layer stores. Each handler turns the request into a core
//! operation (`ops.resource::<K>()`), which checks the caller through the
//! authorization plugins; the JSON of an object is its row (secrets left
//! out) with its links, and the body of a create or update is its input
//! form (secrets write-only: given to set, left out to keep).

use super::query::QueryArgs;
use crate::http::auth::Caller;
use crate::http::errors::{ApiError, blocking};
use crate::http::routes::{Op, Routes};
use crate::http::state::State;
use actix_web::{HttpResponse, web};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use vespene_core::authz::Actor;
use vespene_core::db::aggregate::{Aggregate, NameFilter};
use vespene_core::ops::*;

/// One page of a list.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// 1-based.
    pub page: u32,
    pub page_size: u32,
    /// Whether page `page + 1` has items.
    pub has_more: bool,
}

impl<T> From<Paged<T>> for ListPage<T> {
    fn from(p: Paged<T>) -> Self {
        ListPage {
            items: p.items,
            page: p.page,
            page_size: p.page_size,
            has_more: p.has_more,
        }
    }
}

/// An object kind served under `/api/v1/<PATH>`.
pub trait Kind:
    Aggregate<
        Row: Serialize + JsonSchema + Send + 'static,
        Detail: Serialize + JsonSchema + Send + 'static,
        Input: DeserializeOwned + JsonSchema + Send + 'static,
        ListFilter: Send + 'static,
    > + Send
    + Sized
    + 'static
{
    /// The path segment and tag (`variable_sets`).
    const PATH: &'static str;
    /// One object, for operation ids (`variable_set`).
    const ONE: &'static str;

    /// Whether a change to an object of this kind may change who a
    /// credential stands for (users, groups).
    const CHANGES_ACTORS: bool = false;

    /// The list's filters from the query string (default: `name`, a
    /// case-insensitive part of the name).
    fn filter(q: &mut QueryArgs) -> Result<Self::ListFilter, ApiError>;

    /// Query parameters of the list, for the document.
    fn filter_docs() -> Vec<(&'static str, &'static str)> {
        vec![("name", "only objects whose name contains this (any case)")]
    }

    /// Replaces object `id` (users have their own rules).
    fn replace(
        ops: &Ops,
        actor: &Actor,
        id: i64,
        input: &Self::Input,
    ) -> Result<Self::Detail, OpError> {
        ops.resource::<Self>().update(actor, id, input)
    }
}

fn name_filter(q: &mut QueryArgs) -> Result<NameFilter, ApiError> {
    Ok(NameFilter {
        name_contains: q.text("name").filter(|s| !s.trim().is_empty()),
    })
}

macro_rules! named_kinds {
    ($($t:ty => $path:literal, $one:literal;)+) => {$(
        impl Kind for $t {
            const PATH: &'static str = $path;
            const ONE: &'static str = $one;
            fn filter(q: &mut QueryArgs) -> Result<NameFilter, ApiError> {
                name_filter(q)
            }
        }
    )+};
}

named_kinds! {
    Pipelines => "pipelines", "pipeline";
    Stages => "stages", "stage";
    Snippets => "snippets", "snippet";
    VariableSets => "variable_sets", "variable_set";
    SshKeys => "ssh_keys", "ssh_key";
    ServiceLogins => "service_logins", "service_login";
    WorkerPools => "worker_pools", "worker_pool";
    Organizations => "organizations", "organization";
}

impl Kind for Groups {
    const PATH: &'static str = "groups";
    const ONE: &'static str = "group";
    const CHANGES_ACTORS: bool = true;
    fn filter(q: &mut QueryArgs) -> Result<NameFilter, ApiError> {
        name_filter(q)
    }
}

/// Forgets remembered users after a change to `K` that may concern them.
fn changed<K: Kind>(state: &State) {
    if K::CHANGES_ACTORS {
        state.actors.clear();
    }
}

impl Kind for Users {
    const PATH: &'static str = "users";
    const CHANGES_ACTORS: bool = true;
    const ONE: &'static str = "user";
    fn filter(q: &mut QueryArgs) -> Result<NameFilter, ApiError> {
        name_filter(q)
    }
    fn replace(
        ops: &Ops,
        actor: &Actor,
        id: i64,
        input: &UserInput,
    ) -> Result<UserDetail, OpError> {
        ops.users().update_user(actor, id, input)
    }
}

impl Kind for Projects {
    const PATH: &'static str = "projects";
    const ONE: &'static str = "project";
    fn filter(q: &mut QueryArgs) -> Result<ProjectFilter, ApiError> {
        Ok(ProjectFilter {
            name_contains: q.text("name").filter(|s| !s.trim().is_empty()),
            worker_pool_id: q.int("worker_pool_id")?,
            pipeline_id: q.int("pipeline_id")?,
            stage_id: q.int("stage_id")?,
            scheduled_only: q.flag("scheduled")?.unwrap_or(false),
        })
    }
    fn filter_docs() -> Vec<(&'static str, &'static str)> {
        vec![
            ("name", "only projects whose name contains this (any case)"),
            ("worker_pool_id", "only projects of this worker pool"),
            ("pipeline_id", "only projects in this pipeline"),
            ("stage_id", "only projects in this stage"),
            ("scheduled", "true: only projects with their schedule on"),
        ]
    }
}

/// The top-level keys of `T`'s schema.
fn keys_of<T: JsonSchema>() -> HashSet<String> {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let mut keys = HashSet::new();
    let value = schema.to_value();
    collect_keys(&value, &value, &mut keys);
    keys
}

fn collect_keys(root: &serde_json::Value, v: &serde_json::Value, keys: &mut HashSet<String>) {
    if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
        keys.extend(props.keys().cloned());
    }
    // Flattened parts come as `allOf` or `$ref`s.
    for part in v
        .get("allOf")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
    {
        collect_keys(root, part, keys);
    }
    if let Some(r) = v.get("$ref").and_then(|r| r.as_str())
        && let Some(path) = r.strip_prefix('#')
        && let Some(target) = root.pointer(path)
    {
        collect_keys(root, target, keys);
    }
}

/// The keys an object's JSON has that its input form has not (`id`,
/// `created_by` …): a body may carry them back unchanged (a GET, edited,
/// PUT back) and they are ignored.
fn read_only_keys<K: Kind>() -> Arc<HashSet<String>> {
    type Keys = Arc<HashSet<String>>;
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Keys>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(K::PATH)
        .or_insert_with(|| {
            let input = keys_of::<K::Input>();
            Arc::new(
                keys_of::<K::Detail>()
                    .into_iter()
                    .filter(|k| !input.contains(k))
                    .collect(),
            )
        })
        .clone()
}

/// A request body as the input form of `K`.
pub(crate) fn input_of<K: Kind>(body: serde_json::Value) -> Result<K::Input, ApiError> {
    let serde_json::Value::Object(mut map) = body else {
        return Err(ApiError::new(
            422,
            "invalid",
            "the body must be a JSON object",
        ));
    };
    let read_only = read_only_keys::<K>();
    map.retain(|k, _| !read_only.contains(k));
    let value = serde_json::Value::Object(map);
    serde_path_to_error::deserialize::<_, K::Input>(value).map_err(|e| {
        // A key or value it quotes is cut (issue 9.6: a huge value is
        // never echoed whole).
        let field = vespene_core::ops::shorten(&e.path().to_string()).into_owned();
        let inner = vespene_core::ops::shorten_quoted(&e.into_inner().to_string());
        let field = if field == "." {
            inner
                .split('`')
                .nth(1)
                .map(str::to_string)
                .unwrap_or_default()
        } else {
            field
        };
        let err = ApiError::new(
            422,
            "invalid",
            format!("{}: {inner}", K::ONE.replace('_', " ")),
        );
        if field.is_empty() {
            err
        } else {
            err.with_field(field)
        }
    })
}

async fn list<K: Kind>(
    state: web::Data<State>,
    caller: Caller,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let mut q = QueryArgs::new(query.into_inner());
    let page = q.page()?;
    let filter = K::filter(&mut q)?;
    q.finish()?;
    let app = state.app.clone();
    let paged =
        blocking(move || app.ops.resource::<K>().list(&caller.actor, &filter, page)).await?;
    Ok(HttpResponse::Ok().json(ListPage::from(paged)))
}

async fn get<K: Kind>(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let app = state.app.clone();
    let id = id.into_inner();
    let detail = blocking(move || app.ops.resource::<K>().get(&caller.actor, id)).await?;
    Ok(HttpResponse::Ok().json(detail))
}

async fn create<K: Kind>(
    state: web::Data<State>,
    caller: Caller,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let input = input_of::<K>(body.into_inner())?;
    let app = state.app.clone();
    let detail = blocking(move || app.ops.resource::<K>().create(&caller.actor, &input)).await?;
    changed::<K>(&state);
    Ok(HttpResponse::Created().json(detail))
}

async fn update<K: Kind>(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let input = input_of::<K>(body.into_inner())?;
    let app = state.app.clone();
    let id = id.into_inner();
    let detail =
        blocking(move || <K as Kind>::replace(&app.ops, &caller.actor, id, &input)).await?;
    changed::<K>(&state);
    Ok(HttpResponse::Ok().json(detail))
}

async fn delete<K: Kind>(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let app = state.app.clone();
    let id = id.into_inner();
    blocking(move || app.ops.resource::<K>().delete(&caller.actor, id)).await?;
    changed::<K>(&state);
    Ok(HttpResponse::NoContent().finish())
}

/// The five routes of kind `K`.
pub fn add<K: Kind>(r: &mut Routes<'_>) {
    let base = format!("/api/v1/{}", K::PATH);
    let item = format!("{base}/{{id}}");
    let noun = K::ONE.replace('_', " ");
    let (row, detail, input) = (
        r.schema::<ListPage<K::Row>>(),
        r.schema::<K::Detail>(),
        r.schema::<K::Input>(),
    );
    let mut op = Op::get(&base, K::PATH)
        .id(
            format!("list_{}", K::PATH),
            format!("List {}s you may see", noun),
        )
        .query("page", "page number, from 1")
        .query(
            "page_size",
            "items per page (default: the default_page_size setting; at most 1000)",
        )
        .returns(row);
    for (name, description) in K::filter_docs() {
        op = op.query(name, description);
    }
    r.add(op, list::<K>);
    r.add(
        Op::post(&base, K::PATH)
            .id(format!("create_{}", K::ONE), format!("Create a {noun}"))
            .body(input.clone())
            .returns(detail.clone())
            .status(201),
        create::<K>,
    );
    r.add(
        Op::get(&item, K::PATH)
            .id(
                format!("get_{}", K::ONE),
                format!("One {noun}, with its links"),
            )
            .returns(detail.clone()),
        get::<K>,
    );
    r.add(
        Op::put(&item, K::PATH)
            .id(
                format!("update_{}", K::ONE),
                format!("Replace a {noun} (fields left out take their defaults; secrets left out are kept)"),
            )
            .body(input)
            .returns(detail),
        update::<K>,
    );
    r.add(
        Op::delete(&item, K::PATH).id(format!("delete_{}", K::ONE), format!("Delete a {noun}")),
        delete::<K>,
    );
}
