//! Wake-ups between processes of one machine: a Unix datagram socket per
//! listener in one directory; a notification is a datagram to each. A
//! socket whose owner died is removed by the next notifier.

use super::interrupt::{Interrupt, Interrupter, Woke};
use super::{Listener, Notify, concerns};
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LocalWaker {
    dir: PathBuf,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl LocalWaker {
    pub fn new(dir: &Path) -> LocalWaker {
        LocalWaker {
            dir: dir.to_path_buf(),
        }
    }

    /// The directory `name` beside this one (another channel).
    pub fn sibling(&self, name: &str) -> LocalWaker {
        let parent = self.dir.parent().unwrap_or(&self.dir);
        LocalWaker {
            dir: parent.join(name),
        }
    }

    pub fn listen(&self, pool: &str) -> std::io::Result<LocalListener> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!(
            "{}-{}.sock",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path)?;
        socket.set_nonblocking(true)?;
        Ok(LocalListener {
            socket,
            path,
            pool: pool.to_string(),
            interrupt: Interrupt::new()?,
        })
    }
}

impl Notify for LocalWaker {
    fn notify(&self, pool: &str) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let Ok(sender) = UnixDatagram::unbound() else {
            return;
        };
        sender.set_nonblocking(true).ok();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "sock") {
                continue;
            }
            if let Err(e) = sender.send_to(pool.as_bytes(), &path)
                && e.kind() == std::io::ErrorKind::ConnectionRefused
            {
                // Nobody listens there any more.
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

pub struct LocalListener {
    socket: UnixDatagram,
    path: PathBuf,
    pool: String,
    interrupt: Interrupt,
}

impl LocalListener {
    /// Waits until a datagram that `wanted` accepts arrives (keeping every
    /// payload read in `out`), an interruption, or the timeout.
    fn wait_for(
        &mut self,
        timeout: Duration,
        out: &mut Vec<String>,
        wanted: impl Fn(&str) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 512];
        loop {
            // Whatever is already waiting first; one wake-up is enough.
            let mut woken = false;
            while let Ok(n) = self.socket.recv(&mut buf) {
                let payload = String::from_utf8_lossy(&buf[..n]).into_owned();
                woken |= wanted(&payload);
                out.push(payload);
            }
            if woken {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.interrupt.wait(Some(self.socket.as_fd()), left) {
                Woke::Ready => continue,
                Woke::Interrupted => return true,
                Woke::TimedOut => return false,
            }
        }
    }
}

impl Listener for LocalListener {
    fn wait(&mut self, timeout: Duration) -> bool {
        let pool = self.pool.clone();
        self.wait_for(timeout, &mut Vec::new(), |p| concerns(p, &pool))
    }

    fn wait_payloads(&mut self, timeout: Duration, out: &mut Vec<String>) -> bool {
        self.wait_for(timeout, out, |_| true)
    }

    fn interrupter(&self) -> Interrupter {
        self.interrupt.interrupter()
    }
}

impl Drop for LocalListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
