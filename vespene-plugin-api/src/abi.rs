//! The two doors into a plugin library, as frozen binary layouts.
//!
//! * Rust plugins export an `abi_stable` root module, [`PluginModule`]. Its
//!   layout is checked by abi_stable when the host loads the library, which
//!   catches a plugin built against another interface. It is frozen at
//!   interface 1.0.0: abi_stable rejects every older plugin as soon as the
//!   host's root module grows, so it never grows.
//! * Plugins in C (or anything with a C ABI) export one function,
//!   `vespene_plugin_v1`, returning a [`VpPluginV1`] table described by
//!   `include/vespene_plugin.h`.
//!
//! Both carry the same surface: manifest, create, call, filter_line, destroy
//! and free. Everything structured is JSON.

use abi_stable::{
    StableAbi, declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{RResult, RStr, RString},
};
use std::ffi::c_void;

/// Call succeeded; the output buffer holds the result (or the replacement
/// line for `filter_line`).
pub const VP_OK: i32 = 0;
/// Call failed; the output buffer holds an error as JSON
/// (`{"code":"...","message":"..."}`).
pub const VP_ERR: i32 = 1;
/// `filter_line` only: keep the line as it is (nothing was written).
pub const VP_UNCHANGED: i32 = 2;
/// `filter_line` only: drop the line.
pub const VP_DROP: i32 = 3;

/// Symbol of the C door.
pub const C_ENTRY_SYMBOL: &str = "vespene_plugin_v1";

/// A borrowed UTF-8 string: pointer and length, not NUL-terminated.
#[repr(C)]
#[derive(Debug, Clone, Copy, StableAbi)]
pub struct VpStr {
    pub ptr: *const u8,
    pub len: usize,
}

impl VpStr {
    pub fn new(s: &str) -> VpStr {
        VpStr {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// Views the bytes as a string.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive `'a` (or be null
    /// with `len == 0`).
    #[allow(unsafe_code)]
    pub unsafe fn as_str_lossy<'a>(self) -> std::borrow::Cow<'a, str> {
        if self.ptr.is_null() || self.len == 0 {
            return std::borrow::Cow::Borrowed("");
        }
        // SAFETY: the caller guarantees ptr/len describe live bytes.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        String::from_utf8_lossy(bytes)
    }
}

/// A buffer owned by whoever allocated it; it is handed back to that side's
/// `free_buf` to be released. A zeroed buffer means "nothing".
#[repr(C)]
#[derive(Debug, StableAbi)]
pub struct VpBuf {
    pub ptr: *mut u8,
    pub len: usize,
    pub cap: usize,
}

impl VpBuf {
    pub const EMPTY: VpBuf = VpBuf {
        ptr: std::ptr::null_mut(),
        len: 0,
        cap: 0,
    };

    /// Hands a Rust string over as a buffer; release it with
    /// [`VpBuf::into_string`] on the side that made it.
    pub fn from_string(s: String) -> VpBuf {
        let mut s = std::mem::ManuallyDrop::new(s.into_bytes());
        VpBuf {
            ptr: s.as_mut_ptr(),
            len: s.len(),
            cap: s.capacity(),
        }
    }

    /// Takes back a buffer made by [`VpBuf::from_string`] in the same
    /// library.
    ///
    /// # Safety
    /// The buffer must come from `from_string` of this same copy of the
    /// allocator and must not be used again.
    #[allow(unsafe_code)]
    pub unsafe fn into_string(self) -> Option<String> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: guaranteed by the caller: ptr/len/cap came from a Vec<u8>.
        let v = unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) };
        Some(String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()))
    }
}

/// Services the host lends to a plugin instance, given to `create`.
///
/// Frozen: new services are new `op` names of `call`, never new fields.
/// The pointer stays valid for the life of the instance. Callbacks may be
/// used from any thread; build-scoped services (`run`, `append`) only work
/// on the thread of the call being served.
#[repr(C)]
#[derive(Debug, StableAbi)]
pub struct VpHost {
    /// `size_of::<VpHost>()` as the host compiled it.
    pub struct_size: u32,
    pub abi_major: u32,
    pub ctx: *mut c_void,
    /// Runs a host service: `op` with JSON arguments. The result (or an error
    /// JSON for `VP_ERR`) is written into `out`, owned by the host: release
    /// it with `free_buf`.
    pub call: extern "C" fn(ctx: *mut c_void, op: VpStr, args_json: VpStr, out: *mut VpBuf) -> i32,
    pub free_buf: extern "C" fn(ctx: *mut c_void, buf: VpBuf),
    /// Logs a line at `level` (1 error, 2 warn, 3 info, 4 debug, 5 trace).
    pub log: extern "C" fn(ctx: *mut c_void, level: i32, message: VpStr),
}

/// An opaque plugin instance made by `create`.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, StableAbi)]
pub struct InstanceHandle(pub *mut c_void);

/// The root module of Rust plugins (the abi_stable door). Frozen at 1.0.0.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// [`crate::ABI_MAJOR`] as the plugin was built.
    pub abi_major: u32,
    /// The manifest as JSON (static for the life of the library).
    pub manifest: extern "C" fn() -> RStr<'static>,
    /// Makes an instance named `name` from its parameters (JSON). The error
    /// is a JSON `PluginError`.
    pub create: extern "C" fn(
        name: RStr<'_>,
        config_json: RStr<'_>,
        host: *const VpHost,
    ) -> RResult<InstanceHandle, RString>,
    /// Runs operation `op` with JSON arguments; JSON result or JSON error.
    pub call: extern "C" fn(
        instance: InstanceHandle,
        op: RStr<'_>,
        args_json: RStr<'_>,
    ) -> RResult<RString, RString>,
    /// The hot path of output plugins. `out` is a host-owned buffer, empty
    /// on entry; the plugin appends the replacement line to it and returns
    /// `VP_OK`, or returns `VP_UNCHANGED` / `VP_DROP`, or writes an error
    /// message and returns `VP_ERR`.
    pub filter_line:
        extern "C" fn(instance: InstanceHandle, line: RStr<'_>, out: &mut RString) -> i32,
    pub destroy: extern "C" fn(instance: InstanceHandle),
    /// Releases a string the plugin returned.
    #[sabi(last_prefix_field)]
    pub free: extern "C" fn(s: RString),
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "vespene_plugin";
    const NAME: &'static str = "vespene_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The table of the C door, returned by `vespene_plugin_v1()`. Mirrors
/// `struct vp_plugin_v1` in `vespene_plugin.h`. Entries are only ever
/// appended; `struct_size` says which exist.
#[repr(C)]
#[derive(Debug)]
pub struct VpPluginV1 {
    pub abi_major: u32,
    pub struct_size: u32,
    pub manifest_json: VpStr,
    pub create: Option<
        unsafe extern "C" fn(
            name: VpStr,
            config_json: VpStr,
            host: *const VpHost,
            instance: *mut *mut c_void,
            error_json: *mut VpBuf,
        ) -> i32,
    >,
    pub call: Option<
        unsafe extern "C" fn(
            instance: *mut c_void,
            op: VpStr,
            args_json: VpStr,
            out_json: *mut VpBuf,
        ) -> i32,
    >,
    pub filter_line:
        Option<unsafe extern "C" fn(instance: *mut c_void, line: VpStr, out: *mut VpBuf) -> i32>,
    pub destroy: Option<unsafe extern "C" fn(instance: *mut c_void)>,
    pub free_buf: Option<unsafe extern "C" fn(buf: VpBuf)>,
}

/// The signature of the C door's exported function.
pub type VpEntryFn = unsafe extern "C" fn() -> *const VpPluginV1;
