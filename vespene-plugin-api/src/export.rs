//! The export layer: turns a typed plugin into the frozen root module.
//!
//! Plugin authors write a type implementing [`Plugin`] and one kind trait
//! (say [`crate::OutputFilter`]) and call [`crate::export_plugin!`]. The
//! entries generated here catch every panic inside the plugin (abi_stable
//! would otherwise `exit(1)` the host, and a plain `extern "C"` function
//! aborts it) and turn it into an error value.

#![allow(unsafe_code)]

use crate::abi::{
    InstanceHandle, PluginModule, PluginModuleRef, VP_DROP, VP_ERR, VP_OK, VP_UNCHANGED, VpHost,
};
use crate::error::{ErrorCode, PluginError};
use crate::host::Host;
use crate::manifest::{ABI_MAJOR, Kind, Manifest};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RErr, ROk, RResult, RStr, RString};
use serde::{Serialize, de::DeserializeOwned};
use std::any::Any;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What `create` is given.
#[derive(Debug, Clone)]
pub struct CreateContext<'a> {
    /// The instance's name in the settings (`publish`, `slack_general` ...).
    pub name: &'a str,
    /// The parameters written in the settings: a JSON object, a string (the
    /// original's command trigger takes one), or null when none were given.
    pub params: serde_json::Value,
    /// Services lent by the host for the life of the instance.
    pub host: Host,
}

impl CreateContext<'_> {
    /// Decodes the parameters into `T`; no parameters decode as `T::default()`.
    /// The error names the instance and says what was wrong.
    pub fn params<T: DeserializeOwned + Default>(&self) -> Result<T, PluginError> {
        if self.params.is_null() {
            return Ok(T::default());
        }
        serde_json::from_value(self.params.clone())
            .map_err(|e| PluginError::invalid_params(format!("parameters of '{}': {e}", self.name)))
    }
}

/// The constructor every plugin has, whatever its kind.
pub trait Plugin: Sized + Send + Sync + 'static {
    /// Makes an instance. Return [`PluginError::invalid_params`] for
    /// parameters the plugin cannot accept; the host reports it with the
    /// settings file, section and entry.
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError>;
}

/// Where an output filter writes a replacement line. Across the boundary it
/// is the host's own buffer (written in place, so the hot path copies the
/// line once and allocates nothing); in unit tests it wraps a `String`.
pub struct LineOut<'a> {
    inner: LineOutInner<'a>,
}

enum LineOutInner<'a> {
    Std(&'a mut String),
    Abi(&'a mut RString),
}

impl<'a> From<&'a mut String> for LineOut<'a> {
    fn from(s: &'a mut String) -> Self {
        LineOut {
            inner: LineOutInner::Std(s),
        }
    }
}

impl<'a> From<&'a mut RString> for LineOut<'a> {
    fn from(s: &'a mut RString) -> Self {
        LineOut {
            inner: LineOutInner::Abi(s),
        }
    }
}

impl LineOut<'_> {
    pub fn push_str(&mut self, s: &str) {
        match &mut self.inner {
            LineOutInner::Std(o) => o.push_str(s),
            LineOutInner::Abi(o) => o.push_str(s),
        }
    }

    pub fn push(&mut self, c: char) {
        match &mut self.inner {
            LineOutInner::Std(o) => o.push(c),
            LineOutInner::Abi(o) => o.push(c),
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.inner {
            LineOutInner::Std(o) => o.as_str(),
            LineOutInner::Abi(o) => o.as_str(),
        }
    }

    pub fn len(&self) -> usize {
        self.as_str().len()
    }

    pub fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }

    pub fn clear(&mut self) {
        match &mut self.inner {
            LineOutInner::Std(o) => o.clear(),
            LineOutInner::Abi(o) => o.clear(),
        }
    }
}

impl std::fmt::Write for LineOut<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

impl std::fmt::Debug for LineOut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LineOut").field(&self.as_str()).finish()
    }
}

/// What an output filter did with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineAction {
    /// Keep the line as it was (nothing written to `out`).
    Unchanged,
    /// Use what was written to `out` instead.
    Replaced,
    /// Drop the line.
    Drop,
}

/// A kind-erased instance: what the export entries drive. Implemented by
/// each kind's `Adapter`.
#[doc(hidden)]
pub trait Dispatch: Send + Sync + 'static {
    fn call(&self, op: &str, args: &str) -> Result<String, PluginError>;
    fn filter_line(&self, _line: &str, _out: &mut LineOut<'_>) -> Result<LineAction, PluginError> {
        Ok(LineAction::Unchanged)
    }
}

/// A kind adapter: knows its kind and how to build the wrapped plugin.
#[doc(hidden)]
pub trait Adapter: Dispatch + Sized {
    const KIND: Kind;
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError>;
}

/// Decodes `args`, runs `f`, encodes the result: the body of every typed op.
pub fn handle<A, R>(
    args: &str,
    f: impl FnOnce(A) -> Result<R, PluginError>,
) -> Result<String, PluginError>
where
    A: DeserializeOwned,
    R: Serialize,
{
    // No arguments means an empty request: every field at its default.
    let args = if args.trim().is_empty() { "{}" } else { args };
    let decoded: A = serde_json::from_str(args)
        .map_err(|e| PluginError::invalid_request(format!("arguments: {e}")))?;
    let result = f(decoded)?;
    Ok(serde_json::to_string(&result)?)
}

/// The manifest JSON of an exported plugin.
#[doc(hidden)]
pub fn manifest_json<A: Adapter>(name: &str, version: &str, description: &str) -> String {
    let m = Manifest {
        abi: ABI_MAJOR,
        name: name.to_string(),
        kind: A::KIND,
        api: A::KIND.api_version(),
        version: version.to_string(),
        description: description.to_string(),
    };
    serde_json::to_string(&m).expect("a manifest always encodes")
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string());
    format!("plugin panicked: {text}")
}

fn guarded<T>(f: impl FnOnce() -> Result<T, PluginError>) -> Result<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(PluginError::new(
            ErrorCode::Panicked,
            panic_message(payload),
        )),
    }
}

extern "C" fn create_entry<A: Adapter>(
    name: RStr<'_>,
    config_json: RStr<'_>,
    host: *const VpHost,
) -> RResult<InstanceHandle, RString> {
    let result = guarded(|| {
        let text = config_json.as_str().trim();
        let params = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(text).map_err(|e| {
                PluginError::invalid_params(format!("parameters are not valid JSON: {e}"))
            })?
        };
        // SAFETY: the host keeps the table alive for the life of the instance.
        let host = unsafe { Host::from_raw(host) };
        let ctx = CreateContext {
            name: name.as_str(),
            params,
            host,
        };
        let adapter = A::create(ctx)?;
        Ok(Box::into_raw(Box::new(adapter)) as *mut c_void)
    });
    match result {
        Ok(ptr) => ROk(InstanceHandle(ptr)),
        Err(e) => RErr(RString::from(e.to_json())),
    }
}

/// # Safety
/// `h` must come from `create_entry::<A>` and not be destroyed.
unsafe fn instance<'a, A>(h: InstanceHandle) -> Option<&'a A> {
    // SAFETY: the caller's contract.
    unsafe { (h.0 as *const A).as_ref() }
}

extern "C" fn call_entry<A: Adapter>(
    h: InstanceHandle,
    op: RStr<'_>,
    args_json: RStr<'_>,
) -> RResult<RString, RString> {
    let result = guarded(|| {
        // SAFETY: the host only passes handles it got from `create`.
        let inst = unsafe { instance::<A>(h) }
            .ok_or_else(|| PluginError::invalid_request("null instance"))?;
        inst.call(op.as_str(), args_json.as_str())
    });
    match result {
        Ok(s) => ROk(RString::from(s)),
        Err(e) => RErr(RString::from(e.to_json())),
    }
}

extern "C" fn filter_line_entry<A: Adapter>(
    h: InstanceHandle,
    line: RStr<'_>,
    out: &mut RString,
) -> i32 {
    let result = guarded(|| {
        // SAFETY: the host only passes handles it got from `create`.
        let inst = unsafe { instance::<A>(h) }
            .ok_or_else(|| PluginError::invalid_request("null instance"))?;
        let mut sink = LineOut::from(&mut *out);
        let action = inst.filter_line(line.as_str(), &mut sink)?;
        if action != LineAction::Replaced {
            sink.clear();
        }
        Ok(action)
    });
    match result {
        Ok(LineAction::Unchanged) => VP_UNCHANGED,
        Ok(LineAction::Replaced) => VP_OK,
        Ok(LineAction::Drop) => VP_DROP,
        Err(e) => {
            out.clear();
            out.push_str(&e.to_json());
            VP_ERR
        }
    }
}

extern "C" fn destroy_entry<A: Adapter>(h: InstanceHandle) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !h.0.is_null() {
            // SAFETY: the handle came from `Box::into_raw` in `create_entry::<A>`
            // and the host destroys each instance once.
            drop(unsafe { Box::from_raw(h.0 as *mut A) });
        }
    }));
}

extern "C" fn free_entry(s: RString) {
    drop(s);
}

/// Builds the root module for adapter `A`. Called once per library, by the
/// loader function [`crate::export_plugin!`] generates.
#[doc(hidden)]
pub fn root_module<A: Adapter>(manifest: extern "C" fn() -> RStr<'static>) -> PluginModuleRef {
    PluginModule {
        abi_major: ABI_MAJOR,
        manifest,
        create: create_entry::<A>,
        call: call_entry::<A>,
        filter_line: filter_line_entry::<A>,
        destroy: destroy_entry::<A>,
        free: free_entry,
    }
    .leak_into_prefix()
}

/// Exports a plugin from a `cdylib` crate.
///
/// ```
/// use vespene_plugin_api::{export_plugin, OutputFilter, Plugin, CreateContext, PluginError, LineAction, LineOut};
///
/// struct Shout;
/// impl Plugin for Shout {
///     fn create(_ctx: CreateContext<'_>) -> Result<Self, PluginError> { Ok(Shout) }
/// }
/// impl OutputFilter for Shout {
///     fn filter_line(&self, line: &str, out: &mut LineOut<'_>) -> Result<LineAction, PluginError> {
///         out.push_str(&line.to_uppercase());
///         Ok(LineAction::Replaced)
///     }
/// }
/// export_plugin! {
///     name: "example.output.shout",
///     kind: output,
///     plugin: Shout,
///     description: "upper-cases every line",
/// }
/// ```
///
/// `kind` is one of `scm`, `isolation`, `output`, `trigger`,
/// `authorization`, `variables`, `secrets`, `organizations`,
/// `autoscale_planner`, `autoscale_executor`; the type must implement the
/// matching trait. The version in the manifest is the plugin crate's own
/// `CARGO_PKG_VERSION`.
#[macro_export]
macro_rules! export_plugin {
    (
        name: $name:expr,
        kind: $kind:ident,
        plugin: $ty:ty
        $(, description: $desc:expr)?
        $(,)?
    ) => {
        const _: () = {
            type VespeneAdapter = $crate::kinds::$kind::Adapter<$ty>;

            extern "C" fn vespene_manifest() -> $crate::__private::RStr<'static> {
                static MANIFEST: ::std::sync::OnceLock<::std::string::String> =
                    ::std::sync::OnceLock::new();
                let text = MANIFEST.get_or_init(|| {
                    let description: &str = "";
                    $(let description: &str = $desc;)?
                    $crate::export::manifest_json::<VespeneAdapter>(
                        $name,
                        ::core::env!("CARGO_PKG_VERSION"),
                        description,
                    )
                });
                $crate::__private::RStr::from_str(text.as_str())
            }

            fn vespene_root_module() -> $crate::abi::PluginModuleRef {
                $crate::export::root_module::<VespeneAdapter>(vespene_manifest)
            }

            // The one symbol abi_stable looks for; what
            // `#[abi_stable::export_root_module]` would emit, spelled out so
            // plugin crates need no direct dependency on abi_stable.
            #[unsafe(no_mangle)]
            #[allow(non_upper_case_globals, unsafe_code)]
            pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader = {
                extern "C" fn erased_module() -> $crate::__private::RootModuleResult {
                    $crate::__private::call_root_module_loader(vespene_root_module)
                }
                // SAFETY: `erased_module` returns the module of type
                // `PluginModuleRef`, the type named here.
                unsafe {
                    $crate::__private::LibHeader::from_constructor::<$crate::abi::PluginModuleRef>(
                        erased_module,
                        $crate::__private::CheckTypeLayout::Yes,
                    )
                }
            };
        };
    };
}
