//! List, detail, new, edit and delete for every stored object kind, once:
//! each kind says only how its form is grouped into the original's tabs
//! (reference §8.2) and which columns its list shows; its fields come
//! from its input schema ([`super::forms`]), its rules from the core
//! operations, and its buttons from asking those operations what the
//! user may do.

use super::forms::{self, Field, Ty};
use super::page::{Ctx, FormPairs, UiError, redirect_with};
use crate::http::api::query::QueryArgs;
use crate::http::api::resources::{Kind, input_of};
use crate::http::errors::{ApiError, blocking};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value, json};
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::ops::*;
use vespene_plugin_api::kinds::authorization::Action;

/// How a list column shows its value.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    Text,
    /// `{"id", "status", "href"}`: a build's status icon and link.
    Status,
    /// `{"href", "text"}`.
    Link,
    /// A project's start and stop buttons.
    Controls,
}

/// A list column: its heading, the key of the row's value, how shown.
pub type Column = (&'static str, &'static str, How);

/// What the UI needs to know of a kind beyond its schema.
pub trait UiKind:
    Kind<Input: Serialize + Default + for<'a> From<&'a Self::Detail>, Row: Serialize + HasId>
{
    /// The list's heading (`Worker Pools`).
    const TITLE: &'static str;
    /// The form's tabs: label, fields (every input field is in one).
    const TABS: &'static [(&'static str, &'static [&'static str])];
    /// The columns after the name.
    const COLUMNS: &'static [Column] = &[("Description", "description", How::Text)];
    /// The field naming an object.
    const NAME: &'static str = "name";

    /// Adds the values of computed columns to a page of rows.
    fn decorate(_app: &App, _actor: &Actor, _rows: &mut [Value]) -> Result<(), OpError> {
        Ok(())
    }

    /// Keeps stored secrets the form left blank that the input cannot
    /// leave out (`sent`: the fields the form sent).
    fn keep_secrets(_input: &mut Self::Input, _stored: Self::Input, _sent: &Map<String, Value>) {}
}

impl UiKind for Projects {
    const TITLE: &'static str = "Projects";
    const TABS: &'static [(&'static str, &'static [&'static str])] = &[
        ("Info", &["name", "description"]),
        ("Script", &["script", "timeout", "container_base_image"]),
        (
            "Repository",
            &[
                "scm_type",
                "repo_url",
                "repo_branch",
                "recursive",
                "scm_login_id",
                "webhook_enabled",
                "webhook_token",
            ],
        ),
        (
            "Schedule",
            &[
                "schedule_enabled",
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
                "weekday_start_hours",
                "weekday_start_minutes",
                "weekend_start_hours",
                "weekend_start_minutes",
                "schedule_threshold",
            ],
        ),
        ("SSH", &["ssh_keys"]),
        (
            "Variables",
            &["variable_sets", "variables", "launch_questions"],
        ),
        ("Environment", &["worker_pool_id"]),
        ("Pipeline", &["pipeline_enabled", "pipeline_id", "stage_id"]),
        ("Ownership", &["launch_groups", "owner_groups"]),
    ];
    const COLUMNS: &'static [Column] = &[
        ("Controls", "controls", How::Controls),
        ("Last", "last", How::Status),
        ("Last Successful", "last_ok", How::Status),
        ("History", "history", How::Link),
        ("Pipeline", "pipeline", How::Link),
        ("Stage", "stage", How::Text),
    ];

    fn decorate(app: &App, actor: &Actor, rows: &mut [Value]) -> Result<(), OpError> {
        let id_of = |row: &Value, key: &str| row[key].as_i64();
        let mut builds: Vec<i64> = Vec::new();
        for row in rows.iter() {
            for key in [
                "last_build_id",
                "last_successful_build_id",
                "active_build_id",
            ] {
                builds.extend(id_of(row, key));
            }
        }
        let statuses = app.ops.builds().statuses(actor, &builds)?;
        let names = |path: &str| -> Result<std::collections::HashMap<i64, String>, OpError> {
            Ok(super::kinds::options(app, actor, path)?
                .into_iter()
                .collect())
        };
        let (pipelines, stages) = (names("pipelines")?, names("stages")?);
        let ids: Vec<i64> = rows.iter().filter_map(|r| r["id"].as_i64()).collect();
        let startable = app.ops.projects().can_start_many(actor, &ids)?;
        for row in rows.iter_mut() {
            let status = |key: &str| {
                id_of(row, key).map(|id| {
                    let s = statuses.get(&id).map(|s| s.as_str()).unwrap_or("UNKNOWN");
                    json!({"id": id, "status": s, "href": format!("/ui/builds/{id}/detail")})
                })
            };
            let (active, last, last_ok) = (
                status("active_build_id"),
                status("last_build_id"),
                status("last_successful_build_id"),
            );
            let id = row["id"].as_i64().unwrap_or(0);
            let can_start = startable.get(&id).copied().unwrap_or(false);
            let stoppable = active
                .as_ref()
                .is_some_and(|a| matches!(a["status"].as_str(), Some("QUEUED" | "RUNNING")));
            let questions = row["launch_questions"]
                .as_str()
                .is_some_and(|q| !matches!(q.trim(), "" | "[]"));
            let pipeline = id_of(row, "pipeline_id").map(|p| {
                json!({"href": format!("/ui/pipelines/{p}/map"), "text": pipelines.get(&p).cloned().unwrap_or(format!("#{p}")), "map": true})
            });
            let stage =
                id_of(row, "stage_id").map(|s| stages.get(&s).cloned().unwrap_or(format!("#{s}")));
            let map = row.as_object_mut().expect("rows are objects");
            map.insert("last".into(), active.clone().or(last).into());
            map.insert("last_ok".into(), last_ok.into());
            map.insert(
                "history".into(),
                json!({"href": format!("/ui/builds?project_id={id}"), "text": "History"}),
            );
            map.insert("pipeline".into(), pipeline.into());
            map.insert("stage".into(), stage.into());
            map.insert(
                "controls".into(),
                json!({"start": can_start, "prompt": questions, "stop": stoppable && can_start, "id": id}),
            );
        }
        Ok(())
    }

    fn keep_secrets(input: &mut ProjectInput, stored: ProjectInput, sent: &Map<String, Value>) {
        if !sent.contains_key("webhook_token") {
            input.webhook_token = stored.webhook_token;
        }
    }
}

macro_rules! ui_kind {
    ($t:ty, $title:literal, [$($tab:literal => [$($f:literal),*]),*] $(, columns: $cols:expr)? $(, name: $name:literal)?) => {
        impl UiKind for $t {
            const TITLE: &'static str = $title;
            const TABS: &'static [(&'static str, &'static [&'static str])] = &[$(($tab, &[$($f),*])),*];
            $(const COLUMNS: &'static [Column] = $cols;)?
            $(const NAME: &'static str = $name;)?
        }
    };
}

ui_kind!(Pipelines, "Pipelines", [
    "Info" => ["name", "description", "enabled"],
    "Stages" => ["stages"],
    "Variables" => ["variable_sets", "variables"],
    "Ownership" => ["owner_groups"]
], columns: &[("Description", "description", How::Text), ("Map", "map", How::Link)]);
ui_kind!(Stages, "Stages", ["Info" => ["name", "description", "variable_sets", "variables"]]);
ui_kind!(Snippets, "Snippets", ["Info" => ["name", "description"], "Text" => ["text"], "Ownership" => ["owner_groups"]]);
ui_kind!(VariableSets, "Variable Sets", ["Info" => ["name", "description"], "Variables" => ["variables"], "Ownership" => ["owner_groups"]]);
ui_kind!(SshKeys, "SSH Keys", ["Info" => ["name", "description"], "Access" => ["private_key", "unlock_password"], "Ownership" => ["owner_groups"]]);
ui_kind!(ServiceLogins, "Service Logins", ["Info" => ["name", "description"], "Access" => ["username", "password"], "Ownership" => ["owner_groups"]]);
ui_kind!(WorkerPools, "Worker Pools", [
    "Info" => ["name", "sleep_seconds", "auto_abort_minutes", "build_latest", "build_object_shelf_life", "build_root_shelf_life"],
    "Variables" => ["variable_sets", "variables"],
    "Autoscaling" => ["autoscaling_enabled", "planner", "minimum", "maximum", "running_weight", "queued_weight", "excess", "multiplier", "reevaluate_minutes", "executor", "executor_command"],
    "Security" => ["isolation_method", "sudo_user", "permissions_hex"]
], columns: &[("Isolation", "isolation_method", How::Text)]);
ui_kind!(Organizations, "Organizations", [
    "Info" => ["name", "description"],
    "Import Configuration" => ["organization_type", "organization_identifier", "api_endpoint", "scm_login_id", "import_enabled", "refresh_minutes", "force_rescan"],
    "Import Rules" => ["import_without_dotfile", "default_worker_pool_id", "overwrite_project_name", "overwrite_project_script", "overwrite_configurations", "allow_worker_pool_assignment", "allow_pipeline_definition", "auto_attach_ssh_keys"],
    "Environment" => ["worker_pool_id"]
], columns: &[("Type", "organization_type", How::Text), ("Identifier", "organization_identifier", How::Text)]);
ui_kind!(Users, "Users", [
    "Info" => ["username", "first_name", "last_name", "email"],
    "Access" => ["password", "groups", "is_superuser", "is_active"]
], columns: &[("Email", "email", How::Text), ("Superuser", "is_superuser", How::Text)], name: "username");
ui_kind!(Groups, "Groups", ["Info" => ["name"]], columns: &[]);

/// The kind a reference field points at (its options come from there).
fn reference(field: &str) -> Option<&'static str> {
    Some(match field {
        "worker_pool_id" | "default_worker_pool_id" => "worker_pools",
        "scm_login_id" => "service_logins",
        "pipeline_id" => "pipelines",
        "stage_id" | "stages" => "stages",
        "variable_sets" => "variable_sets",
        "ssh_keys" | "auto_attach_ssh_keys" => "ssh_keys",
        "owner_groups" | "launch_groups" | "groups" => "groups",
        _ => return None,
    })
}

const TEXTAREAS: &[&str] = &[
    "script",
    "variables",
    "launch_questions",
    "text",
    "executor_command",
    "private_key",
];

/// `worker_pool_id` → `Worker pool`.
fn label(name: &str) -> String {
    let base = name.strip_suffix("_id").unwrap_or(name).replace('_', " ");
    let mut c = base.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => base,
    }
}

fn options_of<K: UiKind>(app: &App, actor: &Actor) -> Result<Vec<(i64, String)>, OpError> {
    let page = PageRequest {
        page: 1,
        size: Some(MAX_PAGE_SIZE),
    };
    let rows = match app
        .ops
        .resource::<K>()
        .list(actor, &K::ListFilter::default(), page)
    {
        Ok(p) => p.items,
        Err(OpError::Denied { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(rows
        .iter()
        .map(|r| {
            let v = serde_json::to_value(r).unwrap_or_default();
            (r.id(), v[K::NAME].as_str().unwrap_or_default().to_string())
        })
        .collect())
}

/// The objects of kind `path` the actor may list: id, name.
pub fn options(app: &App, actor: &Actor, path: &str) -> Result<Vec<(i64, String)>, OpError> {
    match path {
        "worker_pools" => options_of::<WorkerPools>(app, actor),
        "service_logins" => options_of::<ServiceLogins>(app, actor),
        "pipelines" => options_of::<Pipelines>(app, actor),
        "stages" => options_of::<Stages>(app, actor),
        "variable_sets" => options_of::<VariableSets>(app, actor),
        "ssh_keys" => options_of::<SshKeys>(app, actor),
        "groups" => options_of::<Groups>(app, actor),
        _ => Ok(Vec::new()),
    }
}

/// The form's tabs, each field with its widget, value and error.
fn form_tabs<K: UiKind>(
    app: &App,
    actor: &Actor,
    values: &Value,
    error: Option<(&str, &str)>,
    editing: bool,
) -> Result<Vec<Value>, OpError> {
    let fields = forms::fields_of::<K::Input>();
    let mut cache: std::collections::HashMap<&'static str, Vec<(i64, String)>> = Default::default();
    let mut tabs = Vec::new();
    for (tab, names) in K::TABS {
        let mut out = Vec::new();
        for name in *names {
            let Some(f) = fields.iter().find(|f| f.name == *name) else {
                continue;
            };
            out.push(field_view(
                app, actor, f, values, error, editing, &mut cache,
            )?);
        }
        tabs.push(json!({"label": tab, "id": tab.to_lowercase().replace(' ', "-"), "fields": out}));
    }
    Ok(tabs)
}

fn field_view(
    app: &App,
    actor: &Actor,
    f: &Field,
    values: &Value,
    error: Option<(&str, &str)>,
    editing: bool,
    cache: &mut std::collections::HashMap<&'static str, Vec<(i64, String)>>,
) -> Result<Value, OpError> {
    let value = values.get(&f.name).cloned().unwrap_or(Value::Null);
    let secret = forms::SECRETS.contains(&f.name.as_str());
    let widget = match (reference(&f.name), f.ty) {
        _ if secret => "password",
        (Some(_), Ty::IntList) => "multi",
        (Some(_), Ty::OptIntList) => "slots",
        (Some(_), _) => "select",
        (None, Ty::Bool) => "checkbox",
        _ if TEXTAREAS.contains(&f.name.as_str()) => "textarea",
        _ => "text",
    };
    let mut choices = Vec::new();
    if let Some(path) = reference(&f.name) {
        if !cache.contains_key(path) {
            cache.insert(path, self::options(app, actor, path)?);
        }
        let chosen: Vec<i64> = match &value {
            Value::Array(a) => a.iter().filter_map(|v| v.as_i64()).collect(),
            v => v.as_i64().into_iter().collect(),
        };
        choices = cache[path]
            .iter()
            .map(|(id, name)| json!({"id": id, "name": name, "selected": chosen.contains(id)}))
            .collect();
        // A linked object the user may not list still shows as linked.
        for id in &chosen {
            if !cache[path].iter().any(|(i, _)| i == id) {
                choices.push(json!({"id": id, "name": format!("#{id}"), "selected": true}));
            }
        }
    }
    let slots: Vec<Value> = if f.ty == Ty::OptIntList {
        let chosen = value.as_array().cloned().unwrap_or_default();
        (0..7)
            .map(|i| chosen.get(i).cloned().unwrap_or(Value::Null))
            .collect()
    } else {
        Vec::new()
    };
    let shown = match &value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    };
    Ok(json!({
        "name": f.name,
        "label": label(&f.name),
        "widget": widget,
        "value": shown,
        "checked": value.as_bool().unwrap_or(false),
        "optional": matches!(f.ty, Ty::OptInt),
        "options": choices,
        "slots": slots,
        "secret_hint": if secret && editing { "write-only: leave blank to keep what is stored" } else if secret { "write-only" } else { "" },
        "error": error.filter(|(field, _)| *field == f.name).map(|(_, m)| m),
    }))
}

fn kind_view<K: UiKind>() -> Value {
    json!({"path": K::PATH, "title": K::TITLE, "noun": K::NOUN})
}

fn capitalized(noun: &str) -> String {
    label(noun)
}

async fn list<K: UiKind>(
    ctx: Ctx,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, UiError> {
    let pairs = query.into_inner();
    let mut q = QueryArgs::new(pairs.clone());
    let page = q.page()?;
    let filter = K::filter(&mut q)?;
    q.finish()?;
    let app = ctx.app();
    let actor = ctx.caller.actor.clone();
    let (rows, has_more, can_create) = blocking(move || {
        let paged = app.ops.resource::<K>().list(&actor, &filter, page)?;
        let mut rows: Vec<Value> = paged
            .items
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .collect();
        let ids: Vec<i64> = paged.items.iter().map(HasId::id).collect();
        let viewable = app.ops.resource::<K>().viewable(&actor, &ids)?;
        for (row, viewable) in rows.iter_mut().zip(viewable) {
            let id = row["id"].as_i64().unwrap_or(0);
            let name = row[K::NAME].clone();
            if let Some(m) = row.as_object_mut() {
                m.insert("_name".into(), name);
                if viewable {
                    m.insert(
                        "_href".into(),
                        format!("/ui/{}/{id}/detail", K::PATH).into(),
                    );
                }
                if K::PATH == "pipelines" {
                    m.insert(
                        "map".into(),
                        json!({"href": format!("/ui/pipelines/{id}/map"), "text": "Map"}),
                    );
                }
            }
        }
        K::decorate(&app, &actor, &mut rows)?;
        let can_create = app.ops.resource::<K>().can(&actor, Action::Create, None)?;
        Ok::<_, ApiError>((rows, paged.has_more, can_create))
    })
    .await?;
    let others: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "page").collect();
    let link = |p: u32| {
        let mut all = others.clone();
        all.push(("page".into(), p.to_string()));
        format!("/ui/{}?{}", K::PATH, serde_urlencoded_pairs(&all))
    };
    let mut data = json!({
        "kind": kind_view::<K>(),
        "columns": K::COLUMNS.iter().map(|(l, k, h)| json!({"label": l, "key": k, "how": h})).collect::<Vec<_>>(),
        "can_create": can_create,
        "filter_name": others.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone()).unwrap_or_default(),
        "page": page.page,
        "prev": (page.page > 1).then(|| link(page.page - 1)),
        "next": has_more.then(|| link(page.page + 1)),
    });
    // Moved in: `json!` would copy every row.
    data["rows"] = Value::Array(rows);
    ctx.render("list.html", data)
}

/// `a=1&b=x%20y`.
pub fn serde_urlencoded_pairs(pairs: &[(String, String)]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// What the form page shows, for new, edit and detail.
struct FormPage<'a> {
    mode: &'a str,
    id: Option<i64>,
    values: Value,
    error: Option<ApiError>,
}

async fn form_page<K: UiKind>(ctx: &Ctx, page: FormPage<'_>) -> Result<HttpResponse, UiError> {
    let app = ctx.app();
    let actor = ctx.caller.actor.clone();
    let values = page.values.clone();
    let id = page.id;
    let fields = forms::fields_of::<K::Input>();
    let error_field = page
        .error
        .as_ref()
        .and_then(|e| forms::field_of_error(&fields, e.field.as_deref(), e.code));
    let error_message = page.error.as_ref().map(|e| e.message.clone());
    let editing = page.mode == "edit";
    let ef = error_field.clone();
    let em = error_message.clone();
    let (tabs, can_edit, can_delete) = blocking(move || {
        let err = ef.as_deref().zip(em.as_deref());
        let tabs = form_tabs::<K>(&app, &actor, &values, err, editing)?;
        let r = app.ops.resource::<K>();
        let (can_edit, can_delete) = match id {
            Some(id) => (
                r.can(&actor, Action::Edit, Some(id))?,
                r.can(&actor, Action::Delete, Some(id))?,
            ),
            None => (false, false),
        };
        Ok::<_, ApiError>((tabs, can_edit, can_delete))
    })
    .await?;
    let status = match &page.error {
        Some(e) => StatusCode::from_u16(e.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
        None => StatusCode::OK,
    };
    let name = page.values[K::NAME]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ctx.render_status(
        status,
        "form.html",
        json!({
            "kind": kind_view::<K>(),
            "noun": capitalized(K::NOUN),
            "mode": page.mode,
            "id": page.id,
            "name": name,
            "tabs": tabs,
            "can_edit": can_edit,
            "can_delete": can_delete,
            "is_project": K::PATH == "projects",
            "error": error_message.map(|m| json!({"message": m, "placed": error_field.is_some()})),
        }),
    )
}

async fn stored<K: UiKind>(ctx: &Ctx, id: i64, action: Action) -> Result<Value, UiError> {
    let app = ctx.app();
    let actor = ctx.caller.actor.clone();
    blocking(move || {
        let r = app.ops.resource::<K>();
        let detail = r.get(&actor, id)?;
        if action != Action::View && !r.can(&actor, action, Some(id))? {
            return Err(ApiError::new(
                403,
                "forbidden",
                format!("you may not {} this {}", action.as_str(), K::NOUN),
            ));
        }
        let input = K::Input::from(&detail);
        Ok(serde_json::to_value(&input).unwrap_or_default())
    })
    .await
    .map_err(UiError::from)
}

async fn detail<K: UiKind>(ctx: Ctx, id: web::Path<i64>) -> Result<HttpResponse, UiError> {
    let id = id.into_inner();
    let values = stored::<K>(&ctx, id, Action::View).await?;
    form_page::<K>(
        &ctx,
        FormPage {
            mode: "detail",
            id: Some(id),
            values,
            error: None,
        },
    )
    .await
}

async fn new_form<K: UiKind>(ctx: Ctx) -> Result<HttpResponse, UiError> {
    let app = ctx.app();
    let actor = ctx.caller.actor.clone();
    let allowed =
        blocking(move || app.ops.resource::<K>().can(&actor, Action::Create, None)).await?;
    if !allowed {
        return Err(UiError::page(
            403,
            format!("you may not create a {}", K::NOUN),
        ));
    }
    let values = serde_json::to_value(K::Input::default()).unwrap_or_default();
    form_page::<K>(
        &ctx,
        FormPage {
            mode: "new",
            id: None,
            values,
            error: None,
        },
    )
    .await
}

async fn edit_form<K: UiKind>(ctx: Ctx, id: web::Path<i64>) -> Result<HttpResponse, UiError> {
    let id = id.into_inner();
    let values = stored::<K>(&ctx, id, Action::Edit).await?;
    form_page::<K>(
        &ctx,
        FormPage {
            mode: "edit",
            id: Some(id),
            values,
            error: None,
        },
    )
    .await
}

/// Saves a new (`id: None`) or edited object; on an error, the form again
/// with what was entered and the error next to its field.
async fn save<K: UiKind>(
    ctx: Ctx,
    id: Option<i64>,
    form: FormPairs,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&form)?;
    let fields = forms::fields_of::<K::Input>();
    let body = forms::to_json(&fields, &form);
    let sent = body.as_object().cloned().unwrap_or_default();
    let app = ctx.app();
    let actor = ctx.caller.actor.clone();
    let result = match input_of::<K>(body.clone()) {
        Err(e) => Err(e),
        Ok(mut input) => {
            blocking(move || {
                let r = app.ops.resource::<K>();
                match id {
                    None => r.create(&actor, &input),
                    Some(id) => {
                        let stored = K::Input::from(&r.get(&actor, id)?);
                        K::keep_secrets(&mut input, stored, &sent);
                        <K as Kind>::replace(&app.ops, &actor, id, &input)
                    }
                }
                .map(|d| serde_json::to_value(K::Input::from(&d)).unwrap_or_default())
            })
            .await
        }
    };
    match result {
        Ok(saved) => {
            if K::CHANGES_ACTORS {
                ctx.state.actors.clear();
            }
            let new_id = match id {
                Some(id) => id,
                None => {
                    let app = ctx.app();
                    let actor = ctx.caller.actor.clone();
                    let name = saved[K::NAME].as_str().unwrap_or_default().to_string();
                    blocking(move || app.ops.resource::<K>().id_by_name(&actor, &name)).await?
                }
            };
            let noun = capitalized(K::NOUN);
            let what = if id.is_some() { "saved" } else { "created" };
            Ok(redirect_with(
                &format!("/ui/{}/{new_id}/detail", K::PATH),
                "ok",
                &format!(
                    "{noun} '{}' {what}.",
                    saved[K::NAME].as_str().unwrap_or_default()
                ),
            ))
        }
        Err(e) if matches!(e.status, 403 | 404) => Err(e.into()),
        Err(e) => {
            let mut values = body;
            for s in forms::SECRETS {
                if let Some(m) = values.as_object_mut() {
                    m.remove(*s);
                }
            }
            let mode = if id.is_some() { "edit" } else { "new" };
            form_page::<K>(
                &ctx,
                FormPage {
                    mode,
                    id,
                    values,
                    error: Some(e),
                },
            )
            .await
        }
    }
}

async fn create<K: UiKind>(ctx: Ctx, form: web::Form<FormPairs>) -> Result<HttpResponse, UiError> {
    save::<K>(ctx, None, form.into_inner()).await
}

async fn update<K: UiKind>(
    ctx: Ctx,
    id: web::Path<i64>,
    form: web::Form<FormPairs>,
) -> Result<HttpResponse, UiError> {
    save::<K>(ctx, Some(id.into_inner()), form.into_inner()).await
}

async fn delete<K: UiKind>(
    ctx: Ctx,
    id: web::Path<i64>,
    form: web::Form<FormPairs>,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&form)?;
    let id = id.into_inner();
    let app = ctx.app();
    let actor = ctx.caller.actor.clone();
    let noun = capitalized(K::NOUN);
    match blocking(move || app.ops.resource::<K>().delete(&actor, id)).await {
        Ok(()) => {
            if K::CHANGES_ACTORS {
                ctx.state.actors.clear();
            }
            Ok(redirect_with(
                &format!("/ui/{}", K::PATH),
                "ok",
                &format!("{noun} deleted."),
            ))
        }
        Err(e) if e.status == 409 => Ok(redirect_with(
            &format!("/ui/{}/{id}/detail", K::PATH),
            "error",
            &e.message,
        )),
        Err(e) => Err(e.into()),
    }
}

fn add<K: UiKind>(cfg: &mut web::ServiceConfig) {
    let base = format!("/ui/{}", K::PATH);
    cfg.route(&base, web::get().to(list::<K>))
        .route(&format!("{base}/new"), web::get().to(new_form::<K>))
        .route(&format!("{base}/new"), web::post().to(create::<K>))
        .route(&format!("{base}/{{id}}/detail"), web::get().to(detail::<K>))
        .route(
            &format!("{base}/{{id}}/edit"),
            web::get().to(edit_form::<K>),
        )
        .route(&format!("{base}/{{id}}/edit"), web::post().to(update::<K>))
        .route(
            &format!("{base}/{{id}}/delete"),
            web::post().to(delete::<K>),
        );
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    add::<Projects>(cfg);
    add::<Pipelines>(cfg);
    add::<Stages>(cfg);
    add::<Snippets>(cfg);
    add::<VariableSets>(cfg);
    add::<SshKeys>(cfg);
    add::<ServiceLogins>(cfg);
    add::<WorkerPools>(cfg);
    add::<Organizations>(cfg);
    add::<Users>(cfg);
    add::<Groups>(cfg);
}
