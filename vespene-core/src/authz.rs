//! Authorization, core side (reference §7.2, DESIGN "Fail closed").
//!
//! Every configured authorization plugin (`[plugins.authorization]`, in
//! order) is asked; every one must allow. A plugin that errors denies. With
//! no plugin configured at all, only superusers may act (a warning is
//! logged once). List queries are narrowed by the AND of every plugin's
//! [`Filter`], which [`crate::db::authz_sql`] turns into SQL; a plugin whose
//! filter fails contributes `Nothing`.
//!
//! [`Actor::System`] (workers, the scheduler, webhooks after their own
//! checks) bypasses authorization.

use crate::plugins::{Instance, Registry};
use crate::settings::Section;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vespene_plugin_api::kinds::authorization::{
    Action, CheckRequest, Decision, Filter, FilterRequest, FilterResponse, ObjectFacts, ObjectKind,
    ops,
};
use vespene_plugin_api::{PluginError, UserInfo};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The system itself: workers, the scheduler, imports. Never checked.
    System,
    /// Nobody logged in.
    Anonymous,
    /// A logged-in user with their groups.
    User(UserInfo),
}

impl Actor {
    /// The user's id, for `created_by`.
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Actor::User(u) => Some(u.id),
            _ => None,
        }
    }

    fn user(&self) -> Option<&UserInfo> {
        match self {
            Actor::User(u) => Some(u),
            _ => None,
        }
    }

    /// A superuser, or the system.
    pub fn is_superuser(&self) -> bool {
        match self {
            Actor::System => true,
            Actor::Anonymous => false,
            Actor::User(u) => u.is_superuser,
        }
    }
}

/// Why an action is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Denied {
    pub reason: String,
}

/// One authorization plugin, as the core sees it.
pub trait AuthorizationBackend: Send + Sync {
    /// The entry's name, for reasons and logs.
    fn name(&self) -> &str;
    fn check(&self, request: &CheckRequest) -> Result<Decision, PluginError>;
    fn filter(&self, request: &FilterRequest) -> Result<Filter, PluginError>;
}

fn call_check(instance: &Instance, request: &CheckRequest) -> Result<Decision, PluginError> {
    ask_check(instance, &serde_json::to_string(request)?)
}

fn ask_check(instance: &Instance, request_json: &str) -> Result<Decision, PluginError> {
    let answer = instance.call(ops::CHECK, request_json)?;
    serde_json::from_str(&answer)
        .map_err(|e| PluginError::failed(format!("malformed answer to 'check': {e}")))
}

fn call_filter(instance: &Instance, request: &FilterRequest) -> Result<Filter, PluginError> {
    ask_filter(instance, &serde_json::to_string(request)?)
}

fn ask_filter(instance: &Instance, request_json: &str) -> Result<Filter, PluginError> {
    let answer = instance.call(ops::FILTER, request_json)?;
    serde_json::from_str::<FilterResponse>(&answer)
        .map(|r| r.filter)
        .map_err(|e| PluginError::failed(format!("malformed answer to 'filter': {e}")))
}

/// How long a loaded plugin's answer to one exact request is reused: the
/// same two seconds as the server's memory of who a credential stands
/// for (a list page asks the same questions for every row, and a script
/// asks the same list thousands of times a second).
pub const MEMO_TTL: Duration = Duration::from_secs(2);

/// Answers of one plugin by their exact request (its JSON: the user with
/// their groups, the action, the kind and the object's facts), so a
/// change to any of those is a new question, asked anew. Errors are not
/// remembered.
#[derive(Debug)]
struct Memo<T> {
    map: Mutex<HashMap<String, (Instant, T)>>,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo {
            map: Mutex::default(),
        }
    }
}

impl<T: Clone> Memo<T> {
    /// The answer to `request`, from memory or from `ask`.
    fn answer(
        &self,
        request: String,
        ask: impl FnOnce(&str) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let lock = || self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, answer)) = lock().get(&request)
            && at.elapsed() < MEMO_TTL
        {
            return Ok(answer.clone());
        }
        let answer = ask(&request)?;
        let now = Instant::now();
        let mut map = lock();
        if map.len() >= 10_000 {
            map.retain(|_, (at, _)| now.duration_since(*at) < MEMO_TTL);
        }
        map.insert(request, (now, answer.clone()));
        Ok(answer)
    }
}

/// A loaded plugin instance used directly (tests, tools).
#[derive(Debug)]
pub struct InstanceAuthorization {
    pub name: String,
    pub instance: Instance,
}

impl AuthorizationBackend for InstanceAuthorization {
    fn name(&self) -> &str {
        &self.name
    }
    fn check(&self, request: &CheckRequest) -> Result<Decision, PluginError> {
        call_check(&self.instance, request)
    }
    fn filter(&self, request: &FilterRequest) -> Result<Filter, PluginError> {
        call_filter(&self.instance, request)
    }
}

/// The `index`-th `[plugins.authorization]` entry of a shared registry,
/// its answers remembered for [`MEMO_TTL`].
#[derive(Debug)]
struct RegistryAuthorization {
    registry: Arc<Registry>,
    index: usize,
    checks: Memo<Decision>,
    filters: Memo<Filter>,
}

impl RegistryAuthorization {
    fn instance(&self) -> &Instance {
        self.registry.section(Section::Authorization)[self.index].instance()
    }
}

impl AuthorizationBackend for RegistryAuthorization {
    fn name(&self) -> &str {
        self.registry.section(Section::Authorization)[self.index].name()
    }
    fn check(&self, request: &CheckRequest) -> Result<Decision, PluginError> {
        let json = serde_json::to_string(request)?;
        self.checks
            .answer(json, |json| ask_check(self.instance(), json))
    }
    fn filter(&self, request: &FilterRequest) -> Result<Filter, PluginError> {
        let json = serde_json::to_string(request)?;
        self.filters
            .answer(json, |json| ask_filter(self.instance(), json))
    }
}

/// The authorization manager. Cheap to clone.
#[derive(Clone, Default)]
pub struct Authz {
    backends: Arc<Vec<Arc<dyn AuthorizationBackend>>>,
    warned: Arc<AtomicBool>,
}

impl std::fmt::Debug for Authz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.backends.iter().map(|b| b.name()).collect();
        f.debug_struct("Authz").field("backends", &names).finish()
    }
}

const NO_PLUGIN: &str = "no authorization plugin is configured ([plugins.authorization] is \
     empty), so only superusers may act";

impl Authz {
    /// A manager over `backends`, in order.
    pub fn new(backends: Vec<Arc<dyn AuthorizationBackend>>) -> Authz {
        Authz {
            backends: Arc::new(backends),
            warned: Arc::default(),
        }
    }

    /// A manager with no plugin: superusers only.
    pub fn none() -> Authz {
        Authz::default()
    }

    /// A manager over the `[plugins.authorization]` entries of `registry`.
    pub fn from_registry(registry: &Arc<Registry>) -> Authz {
        let count = registry.section(Section::Authorization).len();
        Authz::new(
            (0..count)
                .map(|index| {
                    Arc::new(RegistryAuthorization {
                        registry: registry.clone(),
                        index,
                        checks: Memo::default(),
                        filters: Memo::default(),
                    }) as Arc<dyn AuthorizationBackend>
                })
                .collect(),
        )
    }

    fn warn_unconfigured(&self) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!("{NO_PLUGIN}");
        }
    }

    /// Whether `actor` may do `action` on an object of `kind` (`facts`:
    /// the object, for view/edit/delete/start/stop).
    pub fn check(
        &self,
        actor: &Actor,
        action: Action,
        kind: ObjectKind,
        facts: Option<&ObjectFacts>,
    ) -> Result<(), Denied> {
        if *actor == Actor::System {
            return Ok(());
        }
        if self.backends.is_empty() {
            self.warn_unconfigured();
            return if actor.is_superuser() {
                Ok(())
            } else {
                Err(Denied {
                    reason: NO_PLUGIN.into(),
                })
            };
        }
        let request = CheckRequest {
            user: actor.user().cloned(),
            action,
            object_kind: kind,
            object: facts.cloned(),
        };
        for backend in self.backends.iter() {
            match backend.check(&request) {
                Ok(d) if d.allowed => {}
                Ok(d) => {
                    return Err(Denied {
                        reason: format!(
                            "{} may not {} this {}: {}",
                            who(actor),
                            action.as_str(),
                            kind.as_str().replace('_', " "),
                            d.reason
                                .unwrap_or_else(|| format!("denied by '{}'", backend.name()))
                        ),
                    });
                }
                Err(e) => {
                    tracing::error!(
                        plugin = backend.name(),
                        "authorization check failed (denying): {}",
                        e.message
                    );
                    return Err(Denied {
                        reason: format!(
                            "authorization plugin '{}' failed, so the request is denied: {}",
                            backend.name(),
                            e.message
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The filter narrowing what `actor` may `action` among objects of
    /// `kind`: the AND of every plugin's filter.
    pub fn filter(&self, actor: &Actor, action: Action, kind: ObjectKind) -> Filter {
        if *actor == Actor::System {
            return Filter::All;
        }
        if self.backends.is_empty() {
            self.warn_unconfigured();
            return if actor.is_superuser() {
                Filter::All
            } else {
                Filter::Nothing
            };
        }
        let request = FilterRequest {
            user: actor.user().cloned(),
            action,
            object_kind: kind,
        };
        let parts: Vec<Filter> = self
            .backends
            .iter()
            .map(|backend| match backend.filter(&request) {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!(
                        plugin = backend.name(),
                        "authorization filter failed (matching nothing): {}",
                        e.message
                    );
                    Filter::Nothing
                }
            })
            .collect();
        match <[Filter; 1]>::try_from(parts) {
            Ok([one]) => one,
            Err(parts) => Filter::AllOf(parts),
        }
    }
}

fn who(actor: &Actor) -> String {
    match actor {
        Actor::System => "the system".into(),
        Actor::Anonymous => "an anonymous user".into(),
        Actor::User(u) => format!("user '{}'", u.username),
    }
}
