//! SSH keys for one build: a private directory (mode 0700, outside the
//! build root) holding the project's decrypted keys and a private
//! `ssh-agent` that has only them, both removed when the build ends. No key
//! ever reaches another build (the original added every project's keys to
//! one agent per worker and never removed them).

use crate::process::{self, CommandSpec};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use vespene_plugin_api::kinds::scm::{SshAccess, SshKey};

/// A decrypted key.
pub struct Key {
    pub name: String,
    pub private_key: String,
    pub unlock_password: String,
}

/// The build's keys and agent; dropping it kills the agent and removes the
/// directory.
pub struct BuildKeys {
    dir: PathBuf,
    /// The agent, run in the foreground (`-D`) as our own child: a
    /// daemonizing agent could be caught by the process-group cleanup of
    /// the command that started it.
    agent: Option<std::process::Child>,
    pub access: SshAccess,
}

impl std::fmt::Debug for BuildKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildKeys")
            .field("dir", &self.dir)
            .field("agent", &self.agent.as_ref().map(|c| c.id()))
            .finish()
    }
}

fn write_private(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    Ok(())
}

impl BuildKeys {
    /// Writes `keys` under `dir` (created, 0700) and starts an agent holding
    /// them. A key the agent refuses (a wrong passphrase) is an error
    /// naming the key.
    pub fn start(dir: &Path, keys: &[Key]) -> Result<BuildKeys, String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut keys_out = BuildKeys {
            dir: dir.to_path_buf(),
            agent: None,
            access: SshAccess::default(),
        };
        for (i, key) in keys.iter().enumerate() {
            let path = dir.join(format!("key{i}"));
            write_private(&path, &key.private_key, 0o600)
                .map_err(|e| format!("cannot write SSH key '{}': {e}", key.name))?;
            keys_out.access.key_files.push(path.display().to_string());
            keys_out.access.keys.push(SshKey {
                name: key.name.clone(),
                private_key: key.private_key.clone(),
                unlock_password: key.unlock_password.clone(),
            });
        }
        let sock = dir.join("agent.sock");
        let agent = std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start ssh-agent: {e}"))?;
        keys_out.agent = Some(agent);
        // The agent is ready once its socket accepts connections.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            if std::time::Instant::now() > deadline {
                return Err("ssh-agent did not start listening within 10 s".into());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        keys_out.access.auth_sock = Some(sock.display().to_string());
        for (i, key) in keys.iter().enumerate() {
            keys_out.add(i, key)?;
        }
        Ok(keys_out)
    }

    fn add(&self, i: usize, key: &Key) -> Result<(), String> {
        let mut spec = CommandSpec::argv(["ssh-add", &self.access.key_files[i]]);
        spec.env.insert(
            "SSH_AUTH_SOCK".into(),
            self.access.auth_sock.clone().unwrap_or_default(),
        );
        if !key.unlock_password.is_empty() {
            // The passphrase reaches ssh-add through an askpass helper that
            // reads it from a private file, never from a command line. It
            // answers once: ssh-add asks again after a wrong passphrase, and
            // a second answer would loop until the timeout.
            let pass = self.dir.join(format!("pass{i}"));
            let asked = self.dir.join(format!("asked{i}"));
            let helper = self.dir.join(format!("askpass{i}"));
            write_private(&pass, &key.unlock_password, 0o600)
                .and_then(|_| {
                    write_private(
                        &helper,
                        &format!(
                            "#!/bin/sh\n[ -e '{a}' ] && exit 1\n: > '{a}'\nexec cat '{p}'\n",
                            a = asked.display(),
                            p = pass.display()
                        ),
                        0o700,
                    )
                })
                .map_err(|e| format!("cannot prepare SSH key '{}': {e}", key.name))?;
            spec.env
                .insert("SSH_ASKPASS".into(), helper.display().to_string());
            spec.env
                .insert("SSH_ASKPASS_REQUIRE".into(), "force".into());
            spec.env.insert("DISPLAY".into(), ":0".into());
        }
        spec.timeout = Some(std::time::Duration::from_secs(30));
        let out = process::run(&spec, |_| {}).map_err(|e| e.to_string())?;
        // Without a helper ssh-add prints its prompt; with one, the helper
        // leaves its mark.
        let asked_passphrase =
            out.tail.contains("passphrase") || self.dir.join(format!("asked{i}")).exists();
        if out.success() {
            Ok(())
        } else if asked_passphrase && key.unlock_password.is_empty() {
            Err(format!(
                "SSH key '{}' is protected by a passphrase, but has no unlock password",
                key.name
            ))
        } else if asked_passphrase {
            Err(format!(
                "SSH key '{}' could not be unlocked: its unlock password is wrong",
                key.name
            ))
        } else {
            Err(format!(
                "SSH key '{}' could not be added to the build's agent: {}",
                key.name,
                out.last_line.trim()
            ))
        }
    }
}

impl Drop for BuildKeys {
    fn drop(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
