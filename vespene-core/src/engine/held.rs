//! Log lines a runner child (see [`super::contained`]) has taken from a
//! build but not yet written to its worker.
//!
//! Writing every line to the worker's pipe on its own cost a system call
//! and a wake-up of the worker per line: a build printing a million lines
//! waited seconds on them. The child now holds lines back until the end of
//! each read of a command's output, in one buffer that the call guard's
//! crash, exit and hang reports can reach without allocating or locking:
//! a report writes the held lines before its `K` line, so the lines a build
//! printed before a plugin call crashed or hung still reach the worker.
//!
//! The buffer is claimed with atomic swaps: the owner publishes each line
//! with a compare-and-swap and a report takes everything published with
//! one swap, so no line is written twice. A report only comes right before
//! the child is killed; an owner that finds its lines taken waits for that.

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

static BUFFER: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
/// Bytes of [`BUFFER`] published: whole lines a report may take.
static PUBLISHED: AtomicUsize = AtomicUsize::new(0);

/// The process's held lines (there is one buffer per process).
pub struct Held {
    buf: *mut u8,
    cap: usize,
    len: usize,
}

// SAFETY: the buffer is leaked and written only through this value; reports
// only read bytes below `PUBLISHED`, which this value no longer changes.
unsafe impl Send for Held {}

impl Held {
    /// The buffer of `cap` bytes, made once per process: `None` when it
    /// was already made.
    pub fn once(cap: usize) -> Option<Held> {
        static MADE: AtomicBool = AtomicBool::new(false);
        if MADE.swap(true, Ordering::SeqCst) {
            return None;
        }
        let buf = Box::leak(vec![0u8; cap].into_boxed_slice()).as_mut_ptr();
        BUFFER.store(buf, Ordering::Release);
        Some(Held { buf, cap, len: 0 })
    }

    /// Appends the concatenation of `parts` (whole lines); `false` when it
    /// does not fit (write the held lines first, see [`Held::drain`]).
    pub fn push(&mut self, parts: &[&[u8]]) -> bool {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        if n > self.cap - self.len {
            return false;
        }
        let mut at = self.len;
        for part in parts {
            // SAFETY: `at + part.len() <= cap`, past every published byte.
            unsafe { std::ptr::copy_nonoverlapping(part.as_ptr(), self.buf.add(at), part.len()) };
            at += part.len();
        }
        if PUBLISHED
            .compare_exchange(self.len, at, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            taken();
        }
        self.len = at;
        true
    }

    /// Hands every held byte to `write` and empties the buffer.
    pub fn drain<E>(&mut self, write: impl FnOnce(&[u8]) -> Result<(), E>) -> Result<(), E> {
        if self.len == 0 {
            return Ok(());
        }
        if PUBLISHED
            .compare_exchange(self.len, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            taken();
        }
        let len = std::mem::take(&mut self.len);
        // SAFETY: the first `len` bytes were written by `push`, and no
        // report reads them now that nothing is published.
        write(unsafe { std::slice::from_raw_parts(self.buf, len) })
    }
}

/// A report took the held lines: it kills this process right after it
/// wrote them, and nothing more may be written before that.
fn taken() -> ! {
    loop {
        std::thread::park();
    }
}

/// Writes the held lines to `fd` and takes them (async-signal-safe: one
/// swap and `write` calls). For the call guard's reports.
pub fn write_to(fd: i32) {
    let buf = BUFFER.load(Ordering::Acquire);
    let len = PUBLISHED.swap(0, Ordering::AcqRel);
    if buf.is_null() || len == 0 {
        return;
    }
    let mut at = 0;
    while at < len {
        // SAFETY: the first `len` bytes of the buffer are published lines,
        // which their owner no longer changes.
        let n = unsafe { libc::write(fd, buf.add(at).cast(), len - at) };
        if n > 0 {
            at += n as usize;
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        } else {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test (the buffer is one per process): lines are published as
    /// they are pushed, drained once, and taken by a report exactly once.
    #[test]
    fn lines_are_held_drained_and_taken_once() {
        let mut held = Held::once(16).unwrap();
        assert!(Held::once(16).is_none());
        assert!(held.push(&[b"O", b"one", b"\n"]));
        assert!(!held.push(&[b"O", b"much too long", b"\n"]));
        let mut out = Vec::new();
        held.drain(|b| {
            out.extend_from_slice(b);
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(out, b"Oone\n");
        held.drain(|_| Err(())).unwrap();

        assert!(held.push(&[b"Mtwo\n"]));
        let (read, write) = std::io::pipe().unwrap();
        use std::os::fd::AsRawFd;
        write_to(write.as_raw_fd());
        write_to(write.as_raw_fd());
        drop(write);
        let mut got = String::new();
        std::io::Read::read_to_string(&mut { read }, &mut got).unwrap();
        assert_eq!(got, "Mtwo\n");
    }
}
