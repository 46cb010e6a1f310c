//! A host for unit tests: lets a plugin crate exercise its plugin
//! in-process, without the server, by answering host services with a
//! closure.

#![allow(unsafe_code)]

use crate::abi::{VP_ERR, VP_OK, VpBuf, VpHost, VpStr};
use crate::error::PluginError;
use crate::host::Host;
use std::ffi::c_void;
use std::sync::Mutex;

type Handler = dyn Fn(&str, &str) -> Result<String, PluginError> + Send + Sync;

struct State {
    handler: Box<Handler>,
    logs: Mutex<Vec<(i32, String)>>,
}

/// Owns a [`VpHost`] whose services are answered by a closure
/// `(op, args_json) -> result_json`. Keep it alive while the plugin uses it.
pub struct TestHost {
    table: Box<VpHost>,
    state: *mut State,
}

// SAFETY: `State` is Send + Sync (a Sync closure and a Mutex); the table only
// points at it.
unsafe impl Send for TestHost {}
// SAFETY: as above.
unsafe impl Sync for TestHost {}

extern "C" fn call(ctx: *mut c_void, op: VpStr, args: VpStr, out: *mut VpBuf) -> i32 {
    // SAFETY: ctx is the `State` this host owns; strings are live for the call.
    let state = unsafe { &*(ctx as *const State) };
    let (op, args) = unsafe { (op.as_str_lossy(), args.as_str_lossy()) };
    // A panicking handler (a failed assert in a test) must not unwind
    // through `extern "C"`: that aborts the whole test binary.
    let answer =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (state.handler)(&op, &args)));
    let (status, text) = match answer {
        Ok(Ok(s)) => (VP_OK, s),
        Ok(Err(e)) => (VP_ERR, e.to_json()),
        Err(_) => (
            VP_ERR,
            PluginError::failed("the test host's handler panicked").to_json(),
        ),
    };
    // SAFETY: the caller passes a writable out pointer.
    unsafe { *out = VpBuf::from_string(text) };
    status
}

extern "C" fn free_buf(_ctx: *mut c_void, buf: VpBuf) {
    // SAFETY: every buffer this host hands out comes from `VpBuf::from_string`.
    drop(unsafe { buf.into_string() });
}

extern "C" fn log(ctx: *mut c_void, level: i32, message: VpStr) {
    // SAFETY: as in `call`.
    let state = unsafe { &*(ctx as *const State) };
    let message = unsafe { message.as_str_lossy() }.into_owned();
    state.logs.lock().unwrap().push((level, message));
}

impl TestHost {
    /// A host answering services with `handler`.
    pub fn new(
        handler: impl Fn(&str, &str) -> Result<String, PluginError> + Send + Sync + 'static,
    ) -> TestHost {
        let state = Box::into_raw(Box::new(State {
            handler: Box::new(handler),
            logs: Mutex::new(Vec::new()),
        }));
        let table = Box::new(VpHost {
            struct_size: std::mem::size_of::<VpHost>() as u32,
            abi_major: crate::ABI_MAJOR,
            ctx: state as *mut c_void,
            call,
            free_buf,
            log,
        });
        TestHost { table, state }
    }

    /// A host that answers every service with "unsupported".
    pub fn unsupported() -> TestHost {
        TestHost::new(|op, _| Err(PluginError::unsupported(op)))
    }

    /// The [`Host`] to give to a plugin.
    pub fn host(&self) -> Host {
        // SAFETY: the table lives as long as `self`.
        unsafe { Host::from_raw(&*self.table) }
    }

    /// The raw table, to pass to a loaded library's `create`.
    pub fn as_raw(&self) -> *const VpHost {
        &*self.table
    }

    /// Lines logged so far, with their levels.
    pub fn logs(&self) -> Vec<(i32, String)> {
        // SAFETY: state lives until drop.
        unsafe { &*self.state }.logs.lock().unwrap().clone()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`, released once.
        drop(unsafe { Box::from_raw(self.state) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{RunOutcome, RunRequest};

    #[test]
    fn services_round_trip_through_the_table() {
        let th = TestHost::new(|op, args| {
            assert_eq!(op, "run");
            let req: RunRequest = serde_json::from_str(args).unwrap();
            assert_eq!(req.shell.as_deref(), Some("true"));
            Ok(serde_json::to_string(&RunOutcome {
                exit_code: Some(0),
                ..Default::default()
            })
            .unwrap())
        });
        let host = th.host();
        let out = host.run(&RunRequest::shell("true")).unwrap();
        assert!(out.success());
        host.log(crate::LogLevel::Warn, "careful");
        assert_eq!(th.logs(), vec![(2, "careful".to_string())]);
        let err = TestHost::unsupported().host().info().unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::Unsupported);
    }
}
