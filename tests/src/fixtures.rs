//! Plugin files for the end-to-end tests, good and bad, made at test time.
//!
//! Every function makes one fixture, a real file on disk, and returns its
//! path. Making is idempotent and safe when tests run in parallel: a file is
//! written under a private temporary name in its destination directory and
//! then renamed into place (the install rule for plugins, too), and each
//! cargo-built fixture is built once per process (cargo's own lock keeps
//! processes apart).
//!
//! Never open the truncated copies or the segfaulting plugin in a test
//! process: they kill whatever process `dlopen`s them. Hand them to the
//! scanner child. The other bad files fail cleanly in `dlopen` or in the
//! checks after it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The repository's root (the main workspace).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package lives in the repository")
        .to_path_buf()
}

/// The C fixtures' sources: `tests/fixtures/c`.
pub fn c_sources_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/c")
}

/// The directory holding `vespene_plugin.h`.
pub fn include_dir() -> PathBuf {
    repo_root().join("vespene-plugin-api/include")
}

/// Cargo's target directory of the running test (`target`), derived from
/// the test executable, which lives in `target/<profile>/deps`.
pub fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .expect("the profile directory has a parent")
        .to_path_buf()
}

/// `target/<profile>` of the running test: where cargo puts the `vespene`
/// binary, the stock plugins and (under `examples/`) example libraries.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().expect("the test executable's directory");
    let dir = match dir.file_name().and_then(|n| n.to_str()) {
        Some("deps" | "examples") => dir.parent().expect("the profile directory"),
        _ => dir,
    };
    dir.to_path_buf()
}

// ---------------------------------------------------------------------------
// Writing files safely

/// A fresh temporary path beside `dest`, private to this call.
fn temp_beside(dest: &Path) -> PathBuf {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let name = dest
        .file_name()
        .expect("a destination file name")
        .to_string_lossy();
    dest.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Makes `dest` by letting `make` write a temporary file beside it, then
/// renaming that over `dest`. Creates `dest`'s directory.
fn make_atomically(dest: &Path, make: impl FnOnce(&Path)) -> PathBuf {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    }
    let tmp = temp_beside(dest);
    make(&tmp);
    std::fs::rename(&tmp, dest).unwrap_or_else(|e| {
        let _ = std::fs::remove_file(&tmp);
        panic!("cannot rename {} to {}: {e}", tmp.display(), dest.display())
    });
    dest.to_path_buf()
}

/// Writes `bytes` to `dir/file_name` atomically.
pub fn write_file(dir: &Path, file_name: &str, bytes: &[u8]) -> PathBuf {
    make_atomically(&dir.join(file_name), |tmp| {
        std::fs::write(tmp, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()))
    })
}

/// Installs a plugin file into a plugin directory the way plugins must be
/// installed: copied under a temporary name, then renamed. Keeps the name.
pub fn install(src: &Path, dir: &Path) -> PathBuf {
    let name = src.file_name().expect("a plugin file name");
    install_as(src, dir, &name.to_string_lossy())
}

/// Like [`install`], under another file name.
pub fn install_as(src: &Path, dir: &Path, file_name: &str) -> PathBuf {
    make_atomically(&dir.join(file_name), |tmp| {
        std::fs::copy(src, tmp)
            .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", src.display(), tmp.display()));
    })
}

// ---------------------------------------------------------------------------
// Building

/// Runs a command and panics with its output if it fails.
fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}): {cmd:?}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Compiles C `sources` into the shared library `out` with the system C
/// compiler (`$CC`, else `cc`), `vespene_plugin.h` on the include path, and
/// extra `args` (macros, `-L`/`-l` options) after the sources.
pub fn compile_c(sources: &[PathBuf], out: &Path, args: &[&str]) -> PathBuf {
    let cc = std::env::var_os("CC").unwrap_or_else(|| OsString::from("cc"));
    make_atomically(out, |tmp| {
        let mut cmd = Command::new(&cc);
        cmd.args(["-shared", "-fPIC", "-O0", "-w", "-I"])
            .arg(include_dir())
            .arg("-o")
            .arg(tmp)
            .args(sources)
            .args(args);
        run(cmd, "the C compiler");
    })
}

/// Compiles `tests/fixtures/c/<src_name>.c` into `dir/lib<src_name>.so`.
pub fn c_plugin(src_name: &str, dir: &Path) -> PathBuf {
    compile_c(
        &[c_sources_dir().join(format!("{src_name}.c"))],
        &dir.join(format!("lib{src_name}.so")),
        &[],
    )
}

/// `tests/fixtures/c/minimal.c` (a C trigger doing nothing) as
/// `dir/file_name`, built with `macros` (`-DFIXTURE_NAME="..."` ...).
fn minimal_c_plugin(dir: &Path, file_name: &str, macros: &[&str]) -> PathBuf {
    compile_c(
        &[c_sources_dir().join("minimal.c")],
        &dir.join(file_name),
        macros,
    )
}

/// Runs cargo, once per process for the same arguments, and returns the
/// path `artifact` (relative to nothing: the caller computes it).
fn cargo_once(args: &[String], artifact: PathBuf) -> PathBuf {
    static DONE: Mutex<Option<HashMap<Vec<String>, PathBuf>>> = Mutex::new(None);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    let done = done.get_or_insert_with(HashMap::new);
    if let Some(path) = done.get(args) {
        return path.clone();
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.args(args).current_dir(repo_root());
    run(cmd, "cargo");
    assert!(
        artifact.is_file(),
        "cargo {} did not make {}",
        args.join(" "),
        artifact.display()
    );
    done.insert(args.to_vec(), artifact.clone());
    artifact
}

/// `--profile NAME` for the profile of the running test (nothing for dev).
fn profile_args() -> Vec<String> {
    let profile = profile_dir()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match profile.as_str() {
        "debug" | "" => Vec::new(),
        other => vec!["--profile".into(), other.into()],
    }
}

/// Builds example `example` of workspace package `package` (a `cdylib`)
/// into the running test's target directory and returns its library.
pub fn cargo_example(package: &str, example: &str) -> PathBuf {
    let mut args: Vec<String> = vec![
        "build".into(),
        "--quiet".into(),
        "--manifest-path".into(),
        repo_root().join("Cargo.toml").display().to_string(),
        "--target-dir".into(),
        target_dir().display().to_string(),
        "-p".into(),
        package.into(),
        "--example".into(),
        example.into(),
    ];
    args.extend(profile_args());
    let artifact = profile_dir()
        .join("examples")
        .join(format!("lib{example}.so"));
    cargo_once(&args, artifact)
}

/// A stock plugin's library in `target/<profile>`, by package name
/// (`vespene-plugin-output-timestamp`), built first if it is missing.
pub fn stock_plugin_file(package: &str) -> PathBuf {
    let file = profile_dir().join(format!("lib{}.so", package.replace('-', "_")));
    if file.is_file() {
        return file;
    }
    let mut args: Vec<String> = vec![
        "build".into(),
        "--quiet".into(),
        "--manifest-path".into(),
        repo_root().join("Cargo.toml").display().to_string(),
        "--target-dir".into(),
        target_dir().display().to_string(),
        "-p".into(),
        package.into(),
    ];
    args.extend(profile_args());
    cargo_once(&args, file)
}

// ---------------------------------------------------------------------------
// Good plugins

/// A well-behaved C plugin: trigger `vespene.fixtures.c_trigger`, whose
/// `execute_hook` answers `{}`; `dir/libvespene_fixture_c_trigger.so`.
pub fn good_c_plugin(dir: &Path) -> PathBuf {
    minimal_c_plugin(dir, "libvespene_fixture_c_trigger.so", &[])
}

/// The guide's C example, output filter `vespene.examples.c_redact`
/// (`vespene-plugin-api/examples/c/redact.c`), as `dir/libredact_c.so`.
pub fn c_redact_plugin(dir: &Path) -> PathBuf {
    compile_c(
        &[repo_root().join("vespene-plugin-api/examples/c/redact.c")],
        &dir.join("libredact_c.so"),
        &["-std=c99"],
    )
}

/// The guide's Rust example, output filter `vespene.examples.redact`:
/// `target/<profile>/examples/libredact.so`, built if needed.
pub fn rust_redact_plugin() -> PathBuf {
    cargo_example("vespene-plugin-api", "redact")
}

/// `tests/fixtures/c/vp_driver.c` built as `dir/vp_driver`: runs one
/// create/call/filter_line of a C-door plugin and prints the status and the
/// exact bytes handed back (see the source for its arguments).
pub fn c_driver(dir: &Path) -> PathBuf {
    let cc = std::env::var_os("CC").unwrap_or_else(|| OsString::from("cc"));
    make_atomically(&dir.join("vp_driver"), |tmp| {
        let mut cmd = Command::new(&cc);
        cmd.args(["-O0", "-w", "-I"])
            .arg(include_dir())
            .arg("-o")
            .arg(tmp)
            .arg(c_sources_dir().join("vp_driver.c"))
            .arg("-ldl");
        run(cmd, "the C compiler");
    })
}

// ---------------------------------------------------------------------------
// Bad files

/// (a) A text file named like a plugin: `dir/libvespene_fixture_text.so`.
pub fn text_file_so(dir: &Path) -> PathBuf {
    write_file(
        dir,
        "libvespene_fixture_text.so",
        b"This is a text file, not a shared library.\n",
    )
}

/// (b) 64 KiB of pseudo-random bytes (always the same ones, never starting
/// with the ELF magic): `dir/libvespene_fixture_random.so`.
pub fn random_bytes_so(dir: &Path) -> PathBuf {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = Vec::with_capacity(64 * 1024);
    while bytes.len() < 64 * 1024 {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    bytes[0] = 0;
    write_file(dir, "libvespene_fixture_random.so", &bytes)
}

/// (c) The first `len` bytes of a real plugin (the stock output timestamp
/// plugin) as `dir/file_name`. Kills the process that opens it (SIGBUS).
pub fn truncated_plugin(dir: &Path, len: u64, file_name: &str) -> PathBuf {
    let real = stock_plugin_file("vespene-plugin-output-timestamp");
    let bytes = std::fs::read(&real).unwrap_or_else(|e| panic!("{}: {e}", real.display()));
    let len = usize::try_from(len).unwrap_or(usize::MAX).min(bytes.len());
    write_file(dir, file_name, &bytes[..len])
}

/// (c) The first 4 KiB of a real plugin: `dir/libvespene_fixture_truncated_4k.so`.
pub fn truncated_plugin_4k(dir: &Path) -> PathBuf {
    truncated_plugin(dir, 4096, "libvespene_fixture_truncated_4k.so")
}

/// (c) A real plugin cut in the middle of what `dlopen` maps: the first
/// half of its loadable segments, `dir/libvespene_fixture_truncated_half.so`.
/// (A debug build carries megabytes of debug information after those
/// segments; a copy cut at half the file would lose only that, and load.)
pub fn truncated_plugin_half(dir: &Path) -> PathBuf {
    let real = stock_plugin_file("vespene-plugin-output-timestamp");
    let bytes = std::fs::read(&real).unwrap_or_else(|e| panic!("{}: {e}", real.display()));
    let mapped = loadable_end(&bytes).unwrap_or(bytes.len() as u64);
    truncated_plugin(dir, mapped / 2, "libvespene_fixture_truncated_half.so")
}

/// Where the last loadable segment of a 64-bit little-endian ELF file ends
/// in the file (the largest `p_offset + p_filesz` of its `PT_LOAD` program
/// headers); `None` for anything else.
pub fn loadable_end(elf: &[u8]) -> Option<u64> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    // Magic, 64-bit class, little-endian.
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let (phentsize, phnum) = (usize::from(u16_at(0x36)?), usize::from(u16_at(0x38)?));
    let mut end = None;
    for i in 0..phnum {
        let header = phoff.checked_add(i.checked_mul(phentsize)?)?;
        const PT_LOAD: u32 = 1;
        if u32_at(header)? == PT_LOAD {
            let seg_end = u64_at(header + 8)?.checked_add(u64_at(header + 32)?)?;
            end = end.max(Some(seg_end));
        }
    }
    end
}

/// (d) A shared library that is not a plugin (it exports an ordinary
/// function, `vespene_fixture_add`): `dir/libvespene_fixture_not_a_plugin.so`.
pub fn not_a_plugin_so(dir: &Path) -> PathBuf {
    compile_c(
        &[c_sources_dir().join("not_a_plugin.c")],
        &dir.join("libvespene_fixture_not_a_plugin.so"),
        &[],
    )
}

/// (e) A C plugin (`vespene.fixtures.missing_dependency`) linked against
/// `libvespenefixturedep.so`, which is deleted after linking:
/// `dir/libvespene_fixture_missing_dependency.so`.
pub fn missing_dependency_plugin(dir: &Path) -> PathBuf {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let helper_dir = std::env::temp_dir().join(format!(
        "vespene-fixture-dep-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    compile_c(
        &[c_sources_dir().join("fixturedep.c")],
        &helper_dir.join("libvespenefixturedep.so"),
        &[],
    );
    let link_dir = format!("-L{}", helper_dir.display());
    let plugin = compile_c(
        &[c_sources_dir().join("needs_dep.c")],
        &dir.join("libvespene_fixture_missing_dependency.so"),
        &[&link_dir, "-Wl,--no-as-needed", "-lvespenefixturedep"],
    );
    std::fs::remove_dir_all(&helper_dir)
        .unwrap_or_else(|e| panic!("cannot remove {}: {e}", helper_dir.display()));
    plugin
}

/// (f) A Rust plugin built against an imagined `vespene-plugin-api` 2.0.0
/// whose root module has another layout (`tests/fixtures/other-interface`,
/// a workspace of its own), built into `target/fixtures`, off the default
/// plugin path: `target/fixtures/debug/libvespene_fixture_other_interface.so`.
pub fn other_interface_plugin() -> PathBuf {
    let manifest =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/other-interface/Cargo.toml");
    let target = target_dir().join("fixtures");
    let args: Vec<String> = vec![
        "build".into(),
        "--quiet".into(),
        "--locked".into(),
        "--manifest-path".into(),
        manifest.display().to_string(),
        "--target-dir".into(),
        target.display().to_string(),
    ];
    cargo_once(
        &args,
        target.join("debug/libvespene_fixture_other_interface.so"),
    )
}

/// (g) A Rust output plugin (`vespene.fixtures.panic_create`) whose create
/// panics: `target/<profile>/examples/libvespene_fixture_panic_create.so`.
pub fn panic_create_plugin() -> PathBuf {
    cargo_example("vespene-e2e", "vespene_fixture_panic_create")
}

/// (h) A Rust trigger (`vespene.fixtures.panic_call`) whose execute_hook
/// panics: `target/<profile>/examples/libvespene_fixture_panic_call.so`.
pub fn panic_call_plugin() -> PathBuf {
    cargo_example("vespene-e2e", "vespene_fixture_panic_call")
}

/// (i) A C plugin (`vespene.fixtures.segfault_on_load`) whose constructor
/// writes through a null pointer: whatever opens it dies of SIGSEGV.
/// `dir/libvespene_fixture_segfault_on_load.so`.
pub fn segfault_on_load_plugin(dir: &Path) -> PathBuf {
    compile_c(
        &[c_sources_dir().join("segfault_on_load.c")],
        &dir.join("libvespene_fixture_segfault_on_load.so"),
        &[],
    )
}

/// (j) Two C plugins declaring the same name, `vespene.fixtures.duplicate`:
/// `first_dir/libvespene_fixture_duplicate_first.so` (description "first
/// copy") and `second_dir/libvespene_fixture_duplicate_second.so`
/// ("second copy"). The directories may be the same.
pub fn duplicate_name_plugins(first_dir: &Path, second_dir: &Path) -> [PathBuf; 2] {
    let name = r#"-DFIXTURE_NAME="vespene.fixtures.duplicate""#;
    [
        minimal_c_plugin(
            first_dir,
            "libvespene_fixture_duplicate_first.so",
            &[name, r#"-DFIXTURE_DESCRIPTION="first copy""#],
        ),
        minimal_c_plugin(
            second_dir,
            "libvespene_fixture_duplicate_second.so",
            &[name, r#"-DFIXTURE_DESCRIPTION="second copy""#],
        ),
    ]
}

/// (k) A C plugin (`vespene.fixtures.abi_major_2`) whose table (and
/// manifest) declare ABI major 2: `dir/libvespene_fixture_abi_major_2.so`.
pub fn abi_major_2_plugin(dir: &Path) -> PathBuf {
    minimal_c_plugin(
        dir,
        "libvespene_fixture_abi_major_2.so",
        &[
            r#"-DFIXTURE_NAME="vespene.fixtures.abi_major_2""#,
            "-DFIXTURE_ABI_MAJOR=2",
        ],
    )
}

/// A C plugin file (`vespene.fixtures.forks_on_load`, empty table) whose constructor
/// forks a helper that sleeps five minutes holding every inherited
/// descriptor; it records its pid in `$FIXTURE_HELPER_PIDS/<pid>`.
/// `dir/libvespene_fixture_forks_on_load.so`.
pub fn forks_on_load_plugin(dir: &Path) -> PathBuf {
    compile_c(
        &[c_sources_dir().join("forks_on_load.c")],
        &dir.join("libvespene_fixture_forks_on_load.so"),
        &[],
    )
}

/// `tests/fixtures/c/misbehaves.c` as a trigger
/// (`vespene.fixtures.misbehaving_trigger`) and an output filter
/// (`vespene.fixtures.misbehaving_filter`) in `dir`: each crashes, exits
/// or hangs where its parameters say.
pub fn misbehaving_plugins(dir: &Path) -> [PathBuf; 2] {
    ["trigger", "output"].map(|kind| {
        let name = if kind == "trigger" {
            "misbehaving_trigger"
        } else {
            "misbehaving_filter"
        };
        compile_c(
            &[c_sources_dir().join("misbehaves.c")],
            &dir.join(format!("libvespene_fixture_{name}.so")),
            &[
                &format!("-DFIXTURE_NAME=\"vespene.fixtures.{name}\""),
                &format!("-DFIXTURE_KIND=\"{kind}\""),
            ],
        )
    })
}

#[cfg(test)]
mod tests {
    //! Cheap checks that each fixture is what it claims to be. Files that
    //! kill the process that opens them (truncated, segfault) are only
    //! checked on disk here.

    use super::*;
    use std::sync::Arc;
    use vespene_core::plugins::{HostServices, Library, StandardHost};
    use vespene_plugin_api::{ErrorCode, LineAction, PluginError};

    fn services() -> Arc<dyn HostServices> {
        Arc::new(StandardHost::default())
    }

    fn is_elf(path: &Path) -> bool {
        std::fs::read(path).is_ok_and(|b| b.starts_with(b"\x7fELF"))
    }

    fn temp_dir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("vespene-fixtures-")
            .tempdir()
            .expect("a temp dir")
    }

    #[test]
    fn target_dir_is_cargos() {
        assert!(profile_dir().join("deps").is_dir());
        assert_eq!(profile_dir().parent(), Some(target_dir().as_path()));
    }

    #[test]
    fn files_are_made_idempotently_without_leftovers() {
        let dir = temp_dir();
        let d = dir.path();
        let first = [text_file_so(d), random_bytes_so(d), good_c_plugin(d)];
        let again = [text_file_so(d), random_bytes_so(d), good_c_plugin(d)];
        assert_eq!(first, again);
        assert_eq!(std::fs::read(&first[1]).unwrap().len(), 64 * 1024);
        assert!(!is_elf(&first[0]) && !is_elf(&first[1]) && is_elf(&first[2]));
        let names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "leftovers: {names:?}");
        let installed = install_as(&first[2], &d.join("plugins"), "libcopy.so");
        assert_eq!(
            std::fs::read(installed).unwrap(),
            std::fs::read(&first[2]).unwrap()
        );
    }

    #[test]
    fn deadly_files_are_made_but_never_opened() {
        let dir = temp_dir();
        let d = dir.path();
        let real = std::fs::read(stock_plugin_file("vespene-plugin-output-timestamp")).unwrap();
        let mapped = loadable_end(&real).expect("a 64-bit ELF plugin");
        assert!(mapped > 8192 && mapped <= real.len() as u64, "{mapped}");
        let k4 = truncated_plugin_4k(d);
        let half = truncated_plugin_half(d);
        assert_eq!(std::fs::metadata(&k4).unwrap().len(), 4096);
        assert_eq!(std::fs::metadata(&half).unwrap().len(), mapped / 2);
        assert!(std::fs::read(&half).unwrap() == real[..(mapped / 2) as usize]);
        assert_eq!(loadable_end(b"\x7fELF\x01\x01 32-bit"), None);
        assert!(is_elf(&k4) && is_elf(&half));
        let segv = segfault_on_load_plugin(d);
        assert!(is_elf(&segv));
    }

    fn refusal(path: &Path) -> String {
        match Library::open(path) {
            Ok(lib) => panic!("{} loaded as {:?}", path.display(), lib.manifest),
            Err(reason) => reason,
        }
    }

    #[test]
    fn bad_plugins_are_refused_with_their_reason() {
        let dir = temp_dir();
        let d = dir.path();
        refusal(&text_file_so(d));
        refusal(&random_bytes_so(d));
        refusal(&not_a_plugin_so(d));
        let why = refusal(&missing_dependency_plugin(d));
        assert!(why.contains("libvespenefixturedep.so"), "{why}");
        let why = refusal(&abi_major_2_plugin(d));
        assert!(why.contains("ABI 2"), "{why}");
        let why = refusal(&other_interface_plugin());
        assert!(why.contains("2.0.0"), "{why}");
    }

    #[test]
    fn duplicates_share_a_name() {
        let dir = temp_dir();
        let [a, b] = duplicate_name_plugins(dir.path(), &dir.path().join("second"));
        let (a, b) = (Library::open(&a).unwrap(), Library::open(&b).unwrap());
        assert_eq!(a.manifest.name, "vespene.fixtures.duplicate");
        assert_eq!(b.manifest.name, a.manifest.name);
        assert_eq!(
            (
                a.manifest.description.as_str(),
                b.manifest.description.as_str()
            ),
            ("first copy", "second copy")
        );
        let good = Library::open(&good_c_plugin(dir.path())).unwrap();
        let inst = good
            .create("t", &serde_json::Value::Null, services())
            .unwrap();
        assert_eq!(inst.call("execute_hook", "{}").unwrap(), "{}");
    }

    #[test]
    fn panics_in_plugins_come_back_as_errors() {
        let lib = Library::open(&panic_create_plugin()).unwrap();
        assert_eq!(lib.manifest.name, "vespene.fixtures.panic_create");
        let err = lib
            .create("boom", &serde_json::Value::Null, services())
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Panicked, "{err:?}");
        assert!(err.message.contains("panics on purpose"), "{err:?}");

        let lib = Library::open(&panic_call_plugin()).unwrap();
        assert_eq!(lib.manifest.name, "vespene.fixtures.panic_call");
        let inst = lib
            .create("boom", &serde_json::Value::Null, services())
            .unwrap();
        let err = inst
            .call("execute_hook", r#"{"build":{"id":9}}"#)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Panicked, "{err:?}");
        assert!(err.message.contains("(build 9)"), "{err:?}");
    }

    /// What one step of a plugin handed back: status and exact bytes.
    type Answer = (i32, String);

    /// The Rust twin through the real host's loader. Errors are rebuilt
    /// with `PluginError::to_json`, which is what the twin's export layer
    /// wrote, so the bytes compare exactly.
    fn rust_answer(lib: &Arc<Library>, config: &str, step: &[&str]) -> Answer {
        let params: serde_json::Value = serde_json::from_str(config).unwrap();
        let err = |e: PluginError| (1, e.to_json());
        let inst = match lib.create("redact", &params, services()) {
            Ok(inst) => inst,
            Err(e) => return err(e),
        };
        match step {
            [] => (0, String::new()),
            ["filter_line", line] => {
                let mut out = Default::default();
                match inst.filter_line(line, &mut out) {
                    Ok(LineAction::Unchanged) => (2, String::new()),
                    Ok(LineAction::Replaced) => (0, out.as_str().to_string()),
                    Ok(LineAction::Drop) => (3, String::new()),
                    Err(e) => err(e),
                }
            }
            [op, args] => match inst.call(op, args) {
                Ok(text) => (0, text),
                Err(e) => err(e),
            },
            _ => unreachable!(),
        }
    }

    /// The C twin run by the driver in a child process: exact bytes.
    fn c_answer(driver: &Path, lib: &Path, config: &str, step: &[&str]) -> Answer {
        let mut cmd = Command::new(driver);
        cmd.arg(lib);
        match step {
            [] => cmd.args(["create", "redact", config]),
            ["filter_line", line] => cmd.args(["filter", "redact", config, line]),
            [op, args] => cmd.args(["call", "redact", config, op, args]),
            _ => unreachable!(),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let (status, bytes) = text.split_once('\n').unwrap();
        let status: i32 = status.parse().unwrap();
        // create's success prints nothing: normalise as the Rust side does.
        (status, bytes.to_string())
    }

    #[test]
    fn redact_twins_answer_byte_for_byte_alike() {
        let dir = temp_dir();
        let c_lib = c_redact_plugin(dir.path());
        let driver = c_driver(dir.path());
        let rust = Library::open(&rust_redact_plugin()).unwrap();
        let c = Library::open(&c_lib).unwrap();
        assert_eq!(rust.manifest.name, "vespene.examples.redact");
        assert_eq!(c.manifest.name, "vespene.examples.c_redact");
        assert_eq!(
            (c.manifest.kind, c.manifest.api, &c.manifest.version),
            (
                rust.manifest.kind,
                rust.manifest.api,
                &rust.manifest.version
            )
        );

        let word = r#"{"word":"hunter2","mask":"****"}"#;
        let cases: &[(&str, &[&str])] = &[
            (
                word,
                &["filter_line", "password is hunter2, again hunter2!"],
            ),
            (word, &["filter_line", "nothing to hide"]),
            (word, &["filter_line", "hunter2"]),
            (word, &["filter_line", "hunter2hunter2 hunter"]),
            (word, &["filter_line", ""]),
            (
                r#"{"word":"hunter2"}"#,
                &["filter_line", "é hunter2 \t \u{1} ü"],
            ),
            (
                r#"{"word":"a\u00e9\"\\","mask":""}"#,
                &["filter_line", "xaé\"\\y"],
            ),
            (r#"{"word":"aa"}"#, &["filter_line", "aaa"]),
            (
                word,
                &["filter", r#"{"line":"say \"hunter2\"\n\u0001\\ é"}"#],
            ),
            (
                word,
                &[
                    "filter",
                    r#"{"line":"clean \ud83d\ude00", "extra": [1, {"x": null}]}"#,
                ],
            ),
            (
                word,
                &[
                    "begin",
                    r#"{"build":{"id":3,"start_time":"2026-01-01T00:00:00Z"}}"#,
                ],
            ),
            (word, &["flush", "{}"]),
            (word, &["we\"ird\\op\n", "{}"]),
            (word, &[]),
            ("null", &[]),
            ("[1]", &[]),
            (r#""hunter2""#, &[]),
            (r#"{}"#, &[]),
            (r#"{"word":""}"#, &[]),
            (r#"{"word":7}"#, &[]),
            (r#"{"word":"x","mask":null}"#, &[]),
            (r#"{"word":"x","zeta":1,"Mask":2,"alpha":{}}"#, &[]),
            (r#"{"word":"x","wörd\"":1}"#, &[]),
            (r#"{"word":"x","word":"y"}"#, &["filter_line", "x y"]),
        ];
        for (config, step) in cases {
            let r = rust_answer(&rust, config, step);
            let c = c_answer(&driver, &c_lib, config, step);
            assert_eq!(c, r, "config {config}, step {step:?}");
        }

        // Malformed arguments: both refuse them as invalid requests (the
        // messages differ: serde's against the C reader's).
        for (op, args) in [
            ("filter", "{}"),
            ("filter", r#"{"line":5}"#),
            ("begin", r#"{"build":5}"#),
            ("filter", ""),
        ] {
            let r = rust_answer(&rust, word, &[op, args]);
            let c = c_answer(&driver, &c_lib, word, &[op, args]);
            let code = |a: &Answer| PluginError::from_json(&a.1).code;
            assert_eq!(
                (r.0, code(&r)),
                (1, ErrorCode::InvalidRequest),
                "{op} {args}"
            );
            assert_eq!(
                (c.0, code(&c)),
                (1, ErrorCode::InvalidRequest),
                "{op} {args}"
            );
        }

        // And the C twin through the real host's C door.
        let params = serde_json::json!({"word": "hunter2"});
        let inst = c.create("redact", &params, services()).unwrap();
        let mut out = Default::default();
        assert_eq!(
            inst.filter_line("a hunter2", &mut out).unwrap(),
            LineAction::Replaced
        );
        assert_eq!(out.as_str(), "a ********");
        assert_eq!(
            inst.filter_line("clean", &mut out).unwrap(),
            LineAction::Unchanged
        );
        assert_eq!(
            inst.call("nope", "{}").unwrap_err().to_json(),
            r#"{"code":"unsupported","message":"operation 'nope' is not supported"}"#
        );
    }
}
