//! Opens plugin libraries through both doors and calls into them. This is
//! the only module of the host that uses `unsafe`; every block says why it
//! holds.
//!
//! A library is opened once per process and never unloaded (unloading Rust
//! code with thread-local destructors is unsound). Files that can kill a
//! process inside `dlopen` are kept away by the scanner child, which opens
//! every candidate before the host does.

#![allow(unsafe_code)]

use super::host::HostServices;
use abi_stable::library::{LibraryError, lib_header_from_path};
use abi_stable::std_types::{RResult, RStr, RString};
use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use vespene_plugin_api::abi::{
    C_ENTRY_SYMBOL, InstanceHandle, PluginModuleRef, VP_DROP, VP_ERR, VP_OK, VP_UNCHANGED, VpBuf,
    VpEntryFn, VpHost, VpPluginV1, VpStr,
};
use vespene_plugin_api::{ABI_MAJOR, ErrorCode, LineAction, LogLevel, Manifest, PluginError};

/// Which door a library came through.
enum Door {
    Rust(PluginModuleRef),
    C(&'static VpPluginV1),
}

/// An opened plugin library.
pub struct Library {
    pub path: PathBuf,
    pub manifest: Manifest,
    door: Door,
    /// Operations called on its instances in this process (`/metrics`).
    pub calls: CallCounts,
}

/// Calls of a plugin's operations and how many failed: two relaxed
/// atomic counters, so counting costs nothing noticeable.
#[derive(Debug, Default)]
pub struct CallCounts {
    pub calls: std::sync::atomic::AtomicU64,
    pub failures: std::sync::atomic::AtomicU64,
}

impl CallCounts {
    fn count<T, E>(&self, result: &Result<T, E>) {
        use std::sync::atomic::Ordering::Relaxed;
        self.calls.fetch_add(1, Relaxed);
        if result.is_err() {
            self.failures.fetch_add(1, Relaxed);
        }
    }
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("path", &self.path)
            .field("manifest", &self.manifest)
            .field("door", &self.door_name())
            .finish()
    }
}

// SAFETY: a library's tables are immutable statics; plugins promise that
// their entries may be called from any thread (both headers say so).
unsafe impl Send for Library {}
// SAFETY: as above.
unsafe impl Sync for Library {}

fn opened() -> &'static Mutex<HashMap<PathBuf, Arc<Library>>> {
    static OPENED: OnceLock<Mutex<HashMap<PathBuf, Arc<Library>>>> = OnceLock::new();
    OPENED.get_or_init(Default::default)
}

/// The dynamic loader's own words (libloading keeps them in the error's
/// source), without the path `dlopen` puts in front of them.
fn dl_reason(path: &Path, err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    let p = path.display().to_string();
    text.strip_prefix(&format!("{p}: "))
        .unwrap_or(&text)
        .trim()
        .to_string()
}

/// abi_stable's layout reports run to hundreds of lines; users see only
/// their `Error:` lines.
fn summarize_library_error(path: &Path, e: &LibraryError) -> String {
    match e {
        LibraryError::OpenError { err, .. } => dl_reason(path, err.as_ref()),
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => format!(
            "built against plugin interface {actual_version}, but this Vespene uses interface {expected_version}"
        ),
        LibraryError::AbiInstability(_) => {
            let text = e.to_string();
            let mut errors: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("Error:"))
                .collect();
            errors.dedup();
            errors.truncate(3);
            if errors.is_empty() {
                "its plugin interface layout differs from this Vespene's".into()
            } else {
                format!(
                    "built against a different plugin interface: {}",
                    errors.join("; ")
                )
            }
        }
        LibraryError::InvalidAbiHeader(found) => format!(
            "built with a different abi_stable (abi {}.{}); rebuild it against vespene-plugin-api 1.x",
            found.abi_major, found.abi_minor
        ),
        LibraryError::RootModule { err, .. } => {
            format!(
                "its root module failed to load: {}",
                one_line(&err.to_string())
            )
        }
        other => one_line(&other.to_string()),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Library {
    /// Opens (once per process) the plugin at `path` through whichever door
    /// it has, and checks its manifest. The error is one line saying why.
    pub fn open(path: &Path) -> Result<Arc<Library>, String> {
        if let Some(lib) = opened().lock().unwrap().get(path) {
            return Ok(lib.clone());
        }
        let lib = Arc::new(Self::open_uncached(path)?);
        opened()
            .lock()
            .unwrap()
            .insert(path.to_path_buf(), lib.clone());
        Ok(lib)
    }

    fn open_uncached(path: &Path) -> Result<Library, String> {
        // SAFETY: loading runs the library's initialisers. The scanner child
        // has opened this exact file (same device, inode, size and mtime)
        // without dying, which is the best check there is short of not
        // loading it at all.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| dl_reason(path, &e))?;

        // SAFETY: the symbol, if present, has the documented C signature.
        let c_entry: Option<VpEntryFn> = unsafe {
            lib.get::<VpEntryFn>(C_ENTRY_SYMBOL.as_bytes())
                .ok()
                .map(|s| *s)
        };
        let loader_symbol = abi_stable::library::ROOT_MODULE_LOADER_NAME_WITH_NUL.as_bytes();
        // SAFETY: only checks that the symbol exists; it is not used.
        let has_root_module = unsafe { lib.get::<*const u8>(loader_symbol).is_ok() };

        let library = if let Some(entry) = c_entry {
            Self::open_c(path, entry)?
        } else if has_root_module {
            Self::open_rust(path)?
        } else {
            return Err(
                "not a Vespene plugin: it exports neither vespene_plugin_v1 nor an abi_stable root module"
                    .into(),
            );
        };
        // Never unloaded: the tables point into the library.
        std::mem::forget(lib);
        Ok(library)
    }

    fn open_rust(path: &Path) -> Result<Library, String> {
        let module = lib_header_from_path(path)
            .and_then(|header| header.init_root_module::<PluginModuleRef>())
            .map_err(|e| summarize_library_error(path, &e))?;
        if module.abi_major() != ABI_MAJOR {
            return Err(format!(
                "built for plugin ABI {} but this Vespene speaks ABI {ABI_MAJOR}",
                module.abi_major()
            ));
        }
        let manifest_text = (module.manifest())().as_str().to_string();
        let manifest = parse_manifest(&manifest_text)?;
        Ok(Library {
            path: path.to_path_buf(),
            manifest,
            door: Door::Rust(module),
            calls: CallCounts::default(),
        })
    }

    fn open_c(path: &Path, entry: VpEntryFn) -> Result<Library, String> {
        // SAFETY: `vespene_plugin_v1` returns a pointer to a static table
        // (or null), per the header.
        let table =
            unsafe { entry().as_ref() }.ok_or("vespene_plugin_v1() returned no table (NULL)")?;
        if table.abi_major != ABI_MAJOR {
            return Err(format!(
                "built for plugin ABI {} but this Vespene speaks ABI {ABI_MAJOR}",
                table.abi_major
            ));
        }
        if (table.struct_size as usize) < std::mem::size_of::<VpPluginV1>() {
            return Err(format!(
                "its vp_plugin_v1 table is {} bytes, smaller than the {} of ABI {ABI_MAJOR}",
                table.struct_size,
                std::mem::size_of::<VpPluginV1>()
            ));
        }
        let missing: Vec<&str> = [
            ("create", table.create.is_none()),
            ("call", table.call.is_none()),
            ("destroy", table.destroy.is_none()),
            ("free_buf", table.free_buf.is_none()),
        ]
        .into_iter()
        .filter_map(|(n, m)| m.then_some(n))
        .collect();
        if !missing.is_empty() {
            return Err(format!(
                "its vp_plugin_v1 table lacks {}",
                missing.join(", ")
            ));
        }
        // SAFETY: the manifest is a static string in the library.
        let text = unsafe { table.manifest_json.as_str_lossy() }.into_owned();
        let manifest = parse_manifest(&text)?;
        if manifest.kind == vespene_plugin_api::Kind::Output && table.filter_line.is_none() {
            return Err("an output plugin without filter_line".into());
        }
        // SAFETY: the table is 'static: it lives as long as the library,
        // which is never unloaded.
        let table: &'static VpPluginV1 = unsafe { &*(table as *const VpPluginV1) };
        Ok(Library {
            path: path.to_path_buf(),
            manifest,
            door: Door::C(table),
            calls: CallCounts::default(),
        })
    }

    /// `rust` (abi_stable root module) or `c` (vp_plugin_v1 table).
    pub fn door_name(&self) -> &'static str {
        match self.door {
            Door::Rust(_) => "rust",
            Door::C(_) => "c",
        }
    }

    /// Makes an instance named `name` with `params`, lending it `services`.
    pub fn create(
        self: &Arc<Self>,
        name: &str,
        params: &serde_json::Value,
        services: Arc<dyn HostServices>,
    ) -> Result<Instance, PluginError> {
        let config = if params.is_null() {
            String::new()
        } else {
            params.to_string()
        };
        let host = HostTable::new(services, self.manifest.name.clone());
        let handle = match &self.door {
            Door::Rust(m) => {
                match (m.create())(RStr::from(name), RStr::from(config.as_str()), host.raw()) {
                    RResult::ROk(h) => h.0,
                    RResult::RErr(e) => {
                        let err = PluginError::from_json(e.as_str());
                        (m.free())(e);
                        return Err(err);
                    }
                }
            }
            Door::C(t) => {
                let mut inst: *mut c_void = std::ptr::null_mut();
                let mut err = VpBuf::EMPTY;
                let create = t.create.expect("checked at open");
                // SAFETY: arguments follow the header: borrowed strings live
                // for the call, out pointers are writable.
                let status = unsafe {
                    create(
                        VpStr::new(name),
                        VpStr::new(&config),
                        host.raw(),
                        &mut inst,
                        &mut err,
                    )
                };
                if status != VP_OK {
                    let text = take_c_buf(t, err);
                    return Err(PluginError::from_json(&text));
                }
                free_c_buf(t, err);
                if inst.is_null() {
                    return Err(PluginError::failed("create returned VP_OK but no instance"));
                }
                inst
            }
        };
        Ok(Instance {
            library: self.clone(),
            handle,
            _host: host,
        })
    }
}

fn parse_manifest(text: &str) -> Result<Manifest, String> {
    let manifest: Manifest = serde_json::from_str(text)
        .map_err(|e| format!("its manifest is not valid JSON of the expected shape: {e}"))?;
    manifest.validate()?;
    Ok(manifest)
}

/// Copies a plugin-owned C buffer and gives it back to the plugin.
fn take_c_buf(t: &VpPluginV1, buf: VpBuf) -> String {
    let text = if buf.ptr.is_null() {
        String::new()
    } else {
        // SAFETY: the plugin wrote `len` bytes at `ptr`.
        let bytes = unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) };
        String::from_utf8_lossy(bytes).into_owned()
    };
    free_c_buf(t, buf);
    text
}

fn free_c_buf(t: &VpPluginV1, buf: VpBuf) {
    if !buf.ptr.is_null()
        && let Some(free) = t.free_buf
    {
        // SAFETY: the buffer came from this plugin and is released once.
        unsafe { free(buf) };
    }
}

/// A live plugin instance. Destroyed when dropped.
pub struct Instance {
    library: Arc<Library>,
    handle: *mut c_void,
    /// Keeps the services table alive as long as the plugin may use it.
    _host: HostTable,
}

// SAFETY: plugins promise their instances may be used from any thread.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("plugin", &self.library.manifest.name)
            .finish()
    }
}

impl Instance {
    pub fn library(&self) -> &Arc<Library> {
        &self.library
    }

    pub fn manifest(&self) -> &Manifest {
        &self.library.manifest
    }

    /// Runs operation `op` with JSON arguments (counted in the library's
    /// [`CallCounts`]).
    pub fn call(&self, op: &str, args_json: &str) -> Result<String, PluginError> {
        let result = self.call_uncounted(op, args_json);
        self.library.calls.count(&result);
        result
    }

    fn call_uncounted(&self, op: &str, args_json: &str) -> Result<String, PluginError> {
        match &self.library.door {
            Door::Rust(m) => {
                match (m.call())(
                    InstanceHandle(self.handle),
                    RStr::from(op),
                    RStr::from(args_json),
                ) {
                    RResult::ROk(s) => {
                        let out = s.as_str().to_string();
                        (m.free())(s);
                        Ok(out)
                    }
                    RResult::RErr(e) => {
                        let err = PluginError::from_json(e.as_str());
                        (m.free())(e);
                        Err(err)
                    }
                }
            }
            Door::C(t) => {
                let call = t.call.expect("checked at open");
                let mut out = VpBuf::EMPTY;
                // SAFETY: per the header; the handle came from `create`.
                let status =
                    unsafe { call(self.handle, VpStr::new(op), VpStr::new(args_json), &mut out) };
                let text = take_c_buf(t, out);
                if status == VP_OK {
                    Ok(text)
                } else {
                    Err(PluginError::from_json(&text))
                }
            }
        }
    }

    /// Filters one output line. On [`LineAction::Replaced`] the new line is
    /// in `out` (cleared first). `out` is reused across calls, so the hot
    /// path allocates nothing in steady state.
    pub fn filter_line(&self, line: &str, out: &mut RString) -> Result<LineAction, PluginError> {
        out.clear();
        let status = match &self.library.door {
            Door::Rust(m) => (m.filter_line())(InstanceHandle(self.handle), RStr::from(line), out),
            Door::C(t) => {
                let Some(filter) = t.filter_line else {
                    return Ok(LineAction::Unchanged);
                };
                let mut buf = VpBuf::EMPTY;
                // SAFETY: per the header; the handle came from `create`.
                let status = unsafe { filter(self.handle, VpStr::new(line), &mut buf) };
                if !buf.ptr.is_null() {
                    // SAFETY: the plugin wrote `len` bytes at `ptr`.
                    let bytes = unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) };
                    out.push_str(&String::from_utf8_lossy(bytes));
                }
                free_c_buf(t, buf);
                status
            }
        };
        match status {
            VP_OK => Ok(LineAction::Replaced),
            VP_UNCHANGED => Ok(LineAction::Unchanged),
            VP_DROP => Ok(LineAction::Drop),
            VP_ERR => {
                let err = PluginError::from_json(out.as_str());
                out.clear();
                Err(err)
            }
            other => Err(PluginError::new(
                ErrorCode::Other,
                format!("filter_line returned unknown status {other}"),
            )),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        match &self.library.door {
            Door::Rust(m) => (m.destroy())(InstanceHandle(self.handle)),
            Door::C(t) => {
                if let Some(destroy) = t.destroy {
                    // SAFETY: the handle came from `create` and is destroyed once.
                    unsafe { destroy(self.handle) }
                }
            }
        }
    }
}

/// The `VpHost` table lent to one instance, with what its callbacks reach.
struct HostTable {
    table: Box<VpHost>,
    state: *mut HostState,
}

struct HostState {
    services: Arc<dyn HostServices>,
    plugin: String,
}

impl HostTable {
    fn new(services: Arc<dyn HostServices>, plugin: String) -> HostTable {
        let state = Box::into_raw(Box::new(HostState { services, plugin }));
        let table = Box::new(VpHost {
            struct_size: std::mem::size_of::<VpHost>() as u32,
            abi_major: ABI_MAJOR,
            ctx: state as *mut c_void,
            call: host_call,
            free_buf: host_free_buf,
            log: host_log,
        });
        HostTable { table, state }
    }

    fn raw(&self) -> *const VpHost {
        &*self.table
    }
}

impl Drop for HostTable {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`; the instance using it is destroyed
        // before (field order of `Instance`: the handle is destroyed in
        // `Instance::drop`, then this field drops).
        drop(unsafe { Box::from_raw(self.state) });
    }
}

// SAFETY: HostState holds an `Arc<dyn HostServices>` (Send + Sync) and a String.
unsafe impl Send for HostTable {}
// SAFETY: as above.
unsafe impl Sync for HostTable {}

extern "C" fn host_call(ctx: *mut c_void, op: VpStr, args: VpStr, out: *mut VpBuf) -> i32 {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: ctx is the HostState of a live HostTable; strings are
        // borrowed for the call.
        let state = unsafe { &*(ctx as *const HostState) };
        let (op, args) = unsafe { (op.as_str_lossy(), args.as_str_lossy()) };
        state.services.call(&state.plugin, &op, &args)
    }));
    let (status, text) = match result {
        Ok(Ok(s)) => (VP_OK, s),
        Ok(Err(e)) => (VP_ERR, e.to_json()),
        Err(_) => (
            VP_ERR,
            PluginError::failed("the host failed while serving this call").to_json(),
        ),
    };
    if !out.is_null() {
        // SAFETY: the plugin passes a writable out pointer.
        unsafe { *out = VpBuf::from_string(text) };
    }
    status
}

extern "C" fn host_free_buf(_ctx: *mut c_void, buf: VpBuf) {
    // SAFETY: every buffer the host hands out comes from `VpBuf::from_string`.
    drop(unsafe { buf.into_string() });
}

extern "C" fn host_log(ctx: *mut c_void, level: i32, message: VpStr) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: as in `host_call`.
        let state = unsafe { &*(ctx as *const HostState) };
        let message = unsafe { message.as_str_lossy() };
        state
            .services
            .log(&state.plugin, LogLevel::from_i32(level), &message);
    }));
}
