//! `vespene-namespace-launcher`: starts one build in its own namespaces for
//! the plugin `vespene.plugins.isolation.namespace`, in place of
//! bubblewrap and `setpriv`, with one exec (the script's) after its own.
//!
//! ```text
//! vespene-namespace-launcher [--user-ns] [--drop UID:GID] [--no-network]
//!     [--hide-dir DIR]... [--hide-file FILE]... --root DIR -- PROGRAM [ARG]...
//! ```
//!
//! How, and why it is faster than bubblewrap: the mounts are changed in
//! place in a copy of the host's mount namespace (propagation cut and every
//! mount made read-only with one recursive `mount_setattr(2)`, tmpfs over
//! `/tmp`, `/dev/shm`, the hidden directories and the directory of the
//! other build roots, `/dev/null` over hidden files, the build root bound
//! back read-write, a `/proc` of the new PID namespace). Bubblewrap builds a
//! whole new root on a tmpfs, `pivot_root`s into it and then lazily unmounts
//! the old root, whose RCU grace period alone cost ~5 ms per build here;
//! `setpriv` was one more exec.
//!
//! Processes: this process (outside) unshares the namespaces and forks the
//! PID namespace's init, which does the mounts, forks the script and reaps
//! until the script ends; then it exits and the kernel kills whatever is
//! left in the namespace. Both the init and this process die with their
//! parent (`PR_SET_PDEATHSIG`), so the host's stop or timeout (a signal to
//! this process) ends the whole namespace too.

#![allow(unsafe_code)]
// fork(2), and the syscalls nix does not wrap (see each `unsafe`).
// No Rust runtime start (`main` below is the C entry point): it would read
// /proc/self/maps for the stack guard, set up a signal stack and ignore
// SIGPIPE, which every build script then inherited through `execvp`. The
// launcher needs none of it, and starting faster is its point.
#![no_main]

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, fork};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const NAME: &str = "vespene-namespace-launcher";

/// The command line, parsed.
#[derive(Debug, Default)]
struct Spec {
    user_ns: bool,
    drop_to: Option<(u32, u32)>,
    network: bool,
    hide_dirs: Vec<PathBuf>,
    hide_files: Vec<PathBuf>,
    root: PathBuf,
    program: Vec<CString>,
}

fn parse(args: &[std::ffi::OsString]) -> Result<Spec, String> {
    let mut spec = Spec {
        network: true,
        ..Spec::default()
    };
    let mut root = None;
    let mut i = 0;
    let value = |i: usize, flag: &str| {
        args.get(i + 1)
            .map(PathBuf::from)
            .ok_or_else(|| format!("{flag} needs a value"))
    };
    while i < args.len() {
        let flag = args[i].to_string_lossy();
        match flag.as_ref() {
            "--user-ns" => spec.user_ns = true,
            "--no-network" => spec.network = false,
            "--drop" => {
                let v = value(i, "--drop")?;
                let v = v.to_string_lossy();
                let (u, g) = v
                    .split_once(':')
                    .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)))
                    .ok_or_else(|| format!("--drop '{v}': expected UID:GID"))?;
                if u == 0 {
                    return Err("--drop: refusing to run the build as uid 0".into());
                }
                spec.drop_to = Some((u, g));
                i += 1;
            }
            "--hide-dir" | "--hide-file" | "--root" => {
                let p = value(i, &flag)?;
                if !p.is_absolute() {
                    return Err(format!("{flag} '{}': not an absolute path", p.display()));
                }
                match flag.as_ref() {
                    "--hide-dir" => spec.hide_dirs.push(p),
                    "--hide-file" => spec.hide_files.push(p),
                    _ => root = Some(p),
                }
                i += 1;
            }
            "--" => {
                spec.program = args[i + 1..]
                    .iter()
                    .map(|a| CString::new(a.as_bytes()).map_err(|_| "a NUL in the program".into()))
                    .collect::<Result<_, String>>()?;
                break;
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
        i += 1;
    }
    spec.root = root.ok_or("--root is missing")?;
    if spec.program.is_empty() {
        return Err("no program after --".into());
    }
    if spec.user_ns && spec.drop_to.is_some() {
        return Err("--user-ns and --drop exclude each other".into());
    }
    Ok(spec)
}

/// The C entry point (see `#![no_main]`). The arguments come from
/// `std::env::args_os`, which glibc targets fill before `main` runs.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let spec = match parse(&args) {
        Ok(s) => s,
        Err(e) => fail(&e, 2),
    };
    match run(&spec) {
        Ok(never) => match never {},
        Err(e) => fail(&e, 125),
    }
}

fn fail(why: &str, code: i32) -> ! {
    eprintln!("{NAME}: {why}");
    std::process::exit(code)
}

/// Unshares, forks the namespace's init and passes its status on (exits).
fn run(spec: &Spec) -> Result<std::convert::Infallible, String> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("pdeathsig: {e}"))?;
    let (uid, gid) = (Uid::current(), Gid::current());
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    if spec.user_ns {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    if !spec.network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    unshare(flags).map_err(|e| format!("cannot create the namespaces (unshare): {e}"))?;
    if spec.user_ns {
        // The worker's own uid and gid, mapped to themselves.
        let write = |file: &str, text: String| {
            std::fs::write(format!("/proc/self/{file}"), text)
                .map_err(|e| format!("writing /proc/self/{file}: {e}"))
        };
        write("uid_map", format!("{uid} {uid} 1\n"))?;
        write("setgroups", "deny".into())?;
        write("gid_map", format!("{gid} {gid} 1\n"))?;
    }
    // The init learns of this process's death through the pipe's closing
    // (`getppid` says 0 in a new PID namespace).
    let (alive_r, alive_w) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: this process is single-threaded (no thread is ever started).
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(alive_w);
            let code = match init(spec, alive_r) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("{NAME}: {e}");
                    125
                }
            };
            std::process::exit(code)
        }
        ForkResult::Parent { child } => {
            drop(alive_r);
            let code = wait_for(child);
            drop(alive_w);
            std::process::exit(code)
        }
    }
}

/// The exit code that tells the host how `pid` ended.
fn wait_for(pid: Pid) -> i32 {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 125,
        }
    }
}

/// PID 1 of the new namespace: mounts, forks the script, reaps until the
/// script has ended and returns its exit code.
fn init(spec: &Spec, parent_alive: OwnedFd) -> Result<i32, String> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("pdeathsig: {e}"))?;
    let mut fds = [nix::poll::PollFd::new(
        parent_alive.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    if nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).map_err(|e| format!("poll: {e}"))?
        > 0
    {
        // The parent died before the death signal was armed.
        return Ok(125);
    }
    drop(parent_alive);
    set_up_mounts(spec)?;
    nix::unistd::sethostname("vespene-build").map_err(|e| format!("sethostname: {e}"))?;
    if !spec.network {
        loopback_up().map_err(|e| format!("bringing up the loopback: {e}"))?;
    }
    std::env::set_current_dir(&spec.root)
        .map_err(|e| format!("cd {}: {e}", spec.root.display()))?;
    // SAFETY: single-threaded, as in `run`.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            let e = exec_script(spec);
            eprintln!("{NAME}: {e}");
            std::process::exit(127)
        }
        ForkResult::Parent { child } => loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => return Ok(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                    return Ok(128 + sig as i32);
                }
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(format!("waiting for the script: {e}")),
            }
        },
    }
}

/// In the script's process: its own session, the build user (root
/// workers), no way to gain privileges, then the script. Returns only on
/// failure.
fn exec_script(spec: &Spec) -> String {
    let steps = || -> Result<std::convert::Infallible, String> {
        nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
        // The script starts with every signal's default action, as under
        // the other isolations (an ignored SIGPIPE would survive `execvp`).
        // SAFETY: SIG_DFL installs no handler.
        unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) }
            .map_err(|e| format!("SIGPIPE: {e}"))?;
        nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
        if let Some((uid, gid)) = spec.drop_to {
            let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
            nix::unistd::setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
            nix::unistd::setresgid(gid, gid, gid).map_err(|e| format!("setresgid: {e}"))?;
            nix::unistd::setresuid(uid, uid, uid).map_err(|e| format!("setresuid: {e}"))?;
            clear_capabilities()?;
        }
        nix::unistd::execvp(&spec.program[0], &spec.program)
            .map_err(|e| format!("cannot run {:?}: {e}", spec.program[0]))
    };
    match steps() {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// Empties every capability set (the uid change already emptied the
/// permitted, effective and ambient ones; this clears the inheritable).
fn clear_capabilities() -> Result<(), String> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset(2) reads a v3 header and two data structs, both live
    // for the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if rc != 0 {
        return Err(format!("capset: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The flags of `mount_setattr(2)` (linux/mount.h).
const AT_RECURSIVE: u32 = 0x8000;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;

/// `MS_PRIVATE` as `mount_setattr(2)`'s propagation (linux/mount.h).
const MS_PRIVATE: u64 = 1 << 18;

/// Sets (`set`) or clears (`clear`) mount attributes of the mount at
/// `path`, and of every mount under it when `recursive`; `propagation`: 0
/// leaves it, else the new propagation type (`MS_PRIVATE`).
fn mount_setattr(
    path: &Path,
    recursive: bool,
    set: u64,
    clear: u64,
    propagation: u64,
) -> Result<(), String> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation,
        userns_fd: 0,
    };
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| "a NUL in a path")?;
    let flags = if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: mount_setattr(2) reads the path and `size` bytes of `attr`,
    // both live for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        return Err(format!(
            "mount_setattr {} (Linux ≥ 5.12 needed): {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn mount_tmpfs(at: &Path, mode: &str) -> Result<(), String> {
    mount(
        Some("tmpfs"),
        at,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(format!("mode={mode}").as_str()),
    )
    .map_err(|e| format!("tmpfs on {}: {e}", at.display()))
}

fn bind(from: &Path, to: &Path) -> Result<(), String> {
    mount(
        Some(from),
        to,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| format!("binding {} on {}: {e}", from.display(), to.display()))
}

/// The build's view of the file system, changed in place in its own copy
/// of the host's mounts.
fn set_up_mounts(spec: &Spec) -> Result<(), String> {
    // The build root, held before anything covers the path to it.
    let root_fd: OwnedFd = nix::fcntl::open(
        &spec.root,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("the build root {}: {e}", spec.root.display()))?;
    // Every mount private (nothing propagates to or from the host's) and
    // read-only, in one pass over the tree.
    mount_setattr(
        Path::new("/"),
        true,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID,
        0,
        MS_PRIVATE,
    )?;
    let mut covered: Vec<PathBuf> = Vec::new();
    for (dir, mode) in [("/tmp", "1777"), ("/dev/shm", "1777")] {
        if Path::new(dir).is_dir() {
            mount_tmpfs(Path::new(dir), mode)?;
            covered.push(dir.into());
        }
    }
    for dir in &spec.hide_dirs {
        if !covered.iter().any(|c| dir.starts_with(c)) && dir.is_dir() {
            mount_tmpfs(dir, "0755")?;
            covered.push(dir.clone());
        }
    }
    for file in &spec.hide_files {
        if !covered.iter().any(|c| file.starts_with(c)) && file.exists() {
            bind(Path::new("/dev/null"), file)?;
        }
    }
    // The other roots: an empty tmpfs over their directory, with the
    // directories on the way made passable (0711) where a tmpfs above
    // hid them.
    let target = &spec.root;
    if let Some(base) = target.parent().filter(|b| *b != Path::new("/")) {
        let mut missing: Vec<&Path> = base.ancestors().take_while(|p| !p.exists()).collect();
        missing.reverse();
        for p in missing {
            nix::unistd::mkdir(p, Mode::from_bits_truncate(0o711))
                .map_err(|e| format!("mkdir {}: {e}", p.display()))?;
        }
        mount_tmpfs(base, "0711")?;
        nix::unistd::mkdir(target, Mode::from_bits_truncate(0o700))
            .map_err(|e| format!("mkdir {}: {e}", target.display()))?;
    }
    let from = PathBuf::from(format!("/proc/self/fd/{}", root_fd.as_raw_fd()));
    bind(&from, target)?;
    drop(root_fd);
    mount_setattr(target, false, 0, MOUNT_ATTR_RDONLY, 0)?;
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| format!("mounting /proc: {e}"))
}

/// Brings `lo` up in a new network namespace (it starts down).
fn loopback_up() -> Result<(), String> {
    // SAFETY: socket(2) takes plain integers; the descriptor returned is
    // owned here alone.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `sock` is a new descriptor nothing else owns.
    let sock = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(sock) };
    // SAFETY: an all-zero ifreq is valid; the name fits with its NUL.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as i16;
    // SAFETY: SIOCSIFFLAGS reads the ifreq, which lives for the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok(())
}
