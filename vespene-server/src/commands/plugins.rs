//! `vespene plugins list|check|call|filter`.

use super::Env;
use crate::cli::{CallArgs, PluginsCommand, TargetArgs};
use crate::console::ConsoleScope;
use anyhow::{Context, bail};
use serde_json::json;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use vespene_core::plugins::check::check_configured;
use vespene_core::plugins::{
    CallScope, Catalog, CatalogEntry, HostServices, Instance, Library, LineBuf, PluginHost,
    ScanCache, Scanner, StandardHost, host_info, with_scope,
};
use vespene_core::settings::{Settings, mask_secrets};
use vespene_plugin_api::{Kind, LineAction};

pub fn run(env: &Env, cmd: PluginsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginsCommand::List { json } => list(env, json),
        PluginsCommand::Check { files, json } => check(env, &files, json),
        PluginsCommand::Call(args) => call(env, args),
        PluginsCommand::Filter(target) => filter(env, target),
    }
}

fn scanner() -> anyhow::Result<Scanner> {
    Scanner::current_exe().context("cannot find the vespene executable to run the plugin scanner")
}

fn entry_json(e: &CatalogEntry) -> serde_json::Value {
    json!({
        "file": e.path,
        "status": e.status(),
        "name": e.manifest.as_ref().map(|m| &m.name),
        "kind": e.manifest.as_ref().map(|m| m.kind),
        "api": e.manifest.as_ref().map(|m| m.api),
        "version": e.manifest.as_ref().map(|m| &m.version),
        "description": e.manifest.as_ref().map(|m| &m.description),
        "door": e.door,
        "error": e.error,
        "shadowed_by": e.shadowed_by,
    })
}

fn list(env: &Env, as_json: bool) -> anyhow::Result<ExitCode> {
    let settings = env.settings()?;
    let host = PluginHost::start(&settings, scanner()?);
    if as_json {
        let configured: Vec<serde_json::Value> = settings
            .plugins
            .iter()
            .map(|(section, entry)| {
                let mut params = entry.params.clone();
                mask_secrets(&mut params);
                let problem = host
                    .problems
                    .iter()
                    .find(|p| p.location == entry.location(section));
                json!({
                    "section": section,
                    "name": entry.name,
                    "plugin": entry.plugin,
                    "params": params,
                    "source": entry.source.to_string(),
                    "status": if problem.is_some() { "error" } else { "ok" },
                    "error": problem.map(|p| &p.message),
                })
            })
            .collect();
        let out = json!({
            "plugin_path": host.catalog.dirs,
            "plugins": host.catalog.entries.iter().map(entry_json).collect::<Vec<_>>(),
            "configured": configured,
            "problems": host.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }

    let mut out = std::io::stdout().lock();
    writeln!(out, "Plugin path:")?;
    for d in &host.catalog.dirs {
        let note = if d.is_dir() { "" } else { "  (not present)" };
        writeln!(out, "  {}{note}", d.display())?;
    }
    writeln!(out)?;
    print_catalog(&mut out, &host.catalog)?;
    writeln!(out)?;
    writeln!(out, "Configured (from the settings, in order):")?;
    if settings.plugins.iter().next().is_none() {
        writeln!(out, "  (none)")?;
    }
    for (section, entry) in settings.plugins.iter() {
        let problem = host
            .problems
            .iter()
            .any(|p| p.location == entry.location(section));
        writeln!(
            out,
            "  [plugins.{section}] {} = {}  {}  ({})",
            entry.name,
            entry.plugin,
            if problem { "ERROR" } else { "ok" },
            entry.source
        )?;
    }
    if !host.problems.is_empty() {
        writeln!(out)?;
        writeln!(out, "Problems:")?;
        for p in &host.problems {
            writeln!(out, "  {p}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_catalog(out: &mut impl Write, catalog: &Catalog) -> std::io::Result<()> {
    let active: Vec<&CatalogEntry> = catalog.active().collect();
    writeln!(out, "Plugins ({} found):", active.len())?;
    if !active.is_empty() {
        let w = active
            .iter()
            .filter_map(|e| e.manifest.as_ref().map(|m| m.name.len()))
            .max()
            .unwrap_or(4);
        writeln!(
            out,
            "  {:w$}  {:18}  {:8}  {:4}  FILE",
            "NAME", "KIND", "VERSION", "DOOR"
        )?;
        for e in &active {
            let m = e.manifest.as_ref().expect("active entries have manifests");
            writeln!(
                out,
                "  {:w$}  {:18}  {:8}  {:4}  {}",
                m.name,
                m.kind.to_string(),
                m.version,
                e.door.as_deref().unwrap_or("?"),
                e.path.display()
            )?;
        }
    }
    let refused: Vec<&CatalogEntry> = catalog.entries.iter().filter(|e| !e.is_active()).collect();
    if !refused.is_empty() {
        writeln!(out)?;
        writeln!(out, "Not loaded ({}):", refused.len())?;
        for w in catalog.warnings() {
            writeln!(out, "  {w}")?;
        }
    }
    Ok(())
}

fn check(env: &Env, files: &[PathBuf], as_json: bool) -> anyhow::Result<ExitCode> {
    let scanner = scanner()?;
    let (catalog, configured) = if files.is_empty() {
        let settings = env.settings()?;
        let mut cache = ScanCache::disabled();
        let catalog = Catalog::discover(&settings.plugin_dirs(), &mut cache, &scanner);
        let exe = std::env::current_exe()
            .context("cannot find the vespene executable to check the plugins")?;
        let global = vec![
            "--settings-dir".to_string(),
            env.settings_dir.display().to_string(),
        ];
        let configured = check_configured(&settings, &catalog, &exe, &global);
        (catalog, configured)
    } else {
        for f in files {
            if !f.exists() {
                bail!("{}: no such file", f.display());
            }
        }
        let catalog = Catalog::scan_files(files, &mut ScanCache::disabled(), &scanner);
        (catalog, Vec::new())
    };
    let refused = catalog
        .entries
        .iter()
        .filter(|e| e.manifest.is_none())
        .count();
    let bad = configured.iter().filter(|c| c.problem.is_some()).count();
    if as_json {
        let entries: Vec<_> = catalog.entries.iter().map(entry_json).collect();
        if files.is_empty() {
            let configured: Vec<_> = configured
                .iter()
                .map(|c| {
                    json!({
                        "section": c.section,
                        "name": c.name,
                        "plugin": c.plugin,
                        "file": c.file,
                        "status": if c.problem.is_some() { "bad" } else { "ok" },
                        "error": c.problem,
                    })
                })
                .collect();
            let out = json!({ "files": entries, "configured": configured });
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            println!("{}", serde_json::to_string_pretty(&entries)?);
        }
    } else {
        for e in &catalog.entries {
            match (&e.manifest, &e.error) {
                (Some(m), _) => println!(
                    "ok       {}: {} ({} plugin, version {}, {} door, {} API {})",
                    e.path.display(),
                    m.name,
                    m.kind,
                    m.version,
                    e.door.as_deref().unwrap_or("?"),
                    m.kind,
                    m.api
                ),
                (None, Some(err)) => println!("refused  {}: {err}", e.path.display()),
                (None, None) => println!("refused  {}", e.path.display()),
            }
        }
        for c in &configured {
            match &c.problem {
                None => println!("ok       {}: create accepted its parameters", c.subject()),
                Some(why) => println!("bad      {}: {why}", c.subject()),
            }
        }
    }
    Ok(if refused == 0 && bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `vespene __check-plugin SECTION NAME`: makes one configured instance
/// (see `vespene_core::plugins::check`).
pub fn check_child(env: &Env, section: &str, name: &str) -> anyhow::Result<ExitCode> {
    let settings = env.settings()?;
    let code = vespene_core::plugins::check::child_main(&settings, section, name);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Opens the plugin a user named: a file (scanned in the child first) or a
/// name on the plugin path.
fn open_target(env: &Env, plugin: &str) -> anyhow::Result<(Settings, Arc<Library>)> {
    let settings = env.settings()?;
    let scanner = scanner()?;
    let as_path = Path::new(plugin);
    let library = if plugin.contains('/') || plugin.ends_with(".so") {
        if !as_path.exists() {
            bail!("{plugin}: no such file");
        }
        let catalog = Catalog::scan_files(
            &[as_path.to_path_buf()],
            &mut ScanCache::disabled(),
            &scanner,
        );
        let entry = &catalog.entries[0];
        if let Some(err) = &entry.error {
            bail!("{}: {err}", entry.path.display());
        }
        Library::open(&entry.path).map_err(|e| anyhow::anyhow!("{}: {e}", entry.path.display()))?
    } else {
        let mut cache = ScanCache::load(&settings.data_dir.join(vespene_core::plugins::CACHE_FILE));
        let catalog = Catalog::discover(&settings.plugin_dirs(), &mut cache, &scanner);
        catalog.open(plugin, &scanner).map_err(anyhow::Error::msg)?
    };
    Ok((settings, library))
}

fn instantiate(env: &Env, target: &TargetArgs) -> anyhow::Result<Instance> {
    let (settings, library) = open_target(env, &target.plugin)?;
    let params: serde_json::Value = match &target.params {
        Some(text) => serde_json::from_str(text).context("--params is not valid JSON")?,
        None => serde_json::Value::Null,
    };
    let services: Arc<dyn HostServices> = Arc::new(StandardHost {
        info: host_info(&settings),
    });
    library
        .create(&target.name, &params, services)
        .map_err(|e| anyhow::anyhow!("{} refused its parameters: {e}", library.manifest.name))
}

fn call(env: &Env, args: CallArgs) -> anyhow::Result<ExitCode> {
    let instance = instantiate(env, &args.target)?;
    let call_args = args.args.unwrap_or_else(|| "{}".to_string());
    let scope: Box<dyn CallScope> = Box::new(ConsoleScope);
    match with_scope(&scope, || instance.call(&args.op, &call_args)) {
        Ok(result) => {
            println!("{result}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}", e.to_json());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn filter(env: &Env, target: TargetArgs) -> anyhow::Result<ExitCode> {
    let instance = instantiate(env, &target)?;
    if instance.manifest().kind != Kind::Output {
        bail!(
            "{} is a {} plugin; only output plugins filter lines",
            instance.manifest().name,
            instance.manifest().kind
        );
    }
    let begin = json!({ "build": { "start_time": chrono::Utc::now().to_rfc3339() } }).to_string();
    instance
        .call("begin", &begin)
        .map_err(|e| anyhow::anyhow!("begin: {e}"))?;
    let mut buf = LineBuf::new();
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        match instance.filter_line(&line, &mut buf) {
            Ok(LineAction::Unchanged) => writeln!(out, "{line}")?,
            Ok(LineAction::Replaced) => writeln!(out, "{}", buf.as_str())?,
            Ok(LineAction::Drop) => {}
            Err(e) => bail!("filter_line: {e}"),
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
