//! Waking a waiting listener from another thread: a pipe whose read end is
//! polled beside the listener's own socket. The build watcher uses it so a
//! finished build never waits out the watcher's sleep.

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::io::{PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

/// Wakes the listener it came from (its current or next wait).
#[derive(Clone)]
pub struct Interrupter(Arc<PipeWriter>);

impl std::fmt::Debug for Interrupter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interrupter")
    }
}

impl Interrupter {
    pub fn interrupt(&self) {
        let _ = (&*self.0).write(&[1]);
    }
}

/// The read side, owned by a listener.
pub struct Interrupt {
    reader: PipeReader,
    writer: Arc<PipeWriter>,
}

/// What woke a wait.
#[derive(Debug, PartialEq, Eq)]
pub enum Woke {
    /// The listener's own descriptor is readable.
    Ready,
    Interrupted,
    TimedOut,
}

fn nonblocking(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

impl Interrupt {
    pub fn new() -> std::io::Result<Interrupt> {
        let (reader, writer) = std::io::pipe()?;
        nonblocking(reader.as_fd())?;
        nonblocking(writer.as_fd())?;
        Ok(Interrupt {
            reader,
            writer: Arc::new(writer),
        })
    }

    pub fn interrupter(&self) -> Interrupter {
        Interrupter(self.writer.clone())
    }

    /// Waits until `fd` is readable, an interruption comes, or `timeout`
    /// passes.
    pub fn wait(&mut self, fd: Option<BorrowedFd<'_>>, timeout: Duration) -> Woke {
        let ms = timeout.as_millis().min(u128::from(u16::MAX)) as u16;
        let mut fds = vec![PollFd::new(self.reader.as_fd(), PollFlags::POLLIN)];
        if let Some(fd) = fd {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(_) => Woke::TimedOut,
            Ok(_) => {
                let interrupted = fds[0].revents().is_some_and(|r| !r.is_empty());
                let ready = fds
                    .get(1)
                    .is_some_and(|f| f.revents().is_some_and(|r| !r.is_empty()));
                drop(fds);
                if interrupted {
                    let mut buf = [0u8; 64];
                    while matches!(self.reader.read(&mut buf), Ok(n) if n > 0) {}
                }
                if ready {
                    Woke::Ready
                } else if interrupted {
                    Woke::Interrupted
                } else {
                    Woke::TimedOut
                }
            }
        }
    }
}
