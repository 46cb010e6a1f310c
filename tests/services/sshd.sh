#!/usr/bin/env bash
# Starts a private OpenSSH server on 127.0.0.1 for the git plugin's tests: a
# `vespene-git` account whose shell is git-shell and which accepts only the
# two test keys made here (one plain, one protected by a passphrase). Prints
# the lines that point the tests at it:
#
#   eval "$(bash tests/services/sshd.sh)"
#
# VESPENE_TEST_SSHD_DIR holds client_key, client_key_pass (passphrase in
# client_key_pass.passphrase), known_hosts and repos/ (bare repositories the
# tests create, served as ssh://vespene-git@127.0.0.1:PORT/DIR/repos/NAME).
# Idempotent; needs root (Debian openssh-server). Everything but the export
# lines goes to stderr.
set -euo pipefail

PORT=${VESPENE_TEST_SSHD_PORT:-42022}
DIR=${VESPENE_TEST_SSHD_DIR:-/tmp/vespene-test-services/sshd}
USER_NAME=vespene-git
log() { echo "sshd.sh: $*" >&2; }

[ -x /usr/sbin/sshd ] || { log "install openssh-server"; exit 1; }
[ "$(id -u)" = 0 ] || { log "must run as root (it creates the $USER_NAME account)"; exit 1; }
SHELL_BIN=$(command -v git-shell || true)
[ -n "$SHELL_BIN" ] || { log "git-shell not found (install git)"; exit 1; }

mkdir -p "$DIR/repos" /run/sshd
chmod 755 "$DIR" "$DIR/repos"
if ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd --system --home-dir "$DIR/home" --shell "$SHELL_BIN" "$USER_NAME"
fi
# A locked password ("!") makes sshd refuse even keys when PAM is off.
usermod -p '*' "$USER_NAME"
mkdir -p "$DIR/home"
printf '[safe]\n\tdirectory = *\n' > "$DIR/home/.gitconfig"
chown -R "$USER_NAME" "$DIR/home"

[ -f "$DIR/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/host_key" -C vespene-test-host
[ -f "$DIR/client_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/client_key" -C vespene-test
if [ ! -f "$DIR/client_key_pass" ]; then
    echo 'correct horse battery' > "$DIR/client_key_pass.passphrase"
    ssh-keygen -q -t ed25519 -N 'correct horse battery' -f "$DIR/client_key_pass" -C vespene-test-pass
fi
cat "$DIR/client_key.pub" "$DIR/client_key_pass.pub" > "$DIR/authorized_keys"
chmod 644 "$DIR/authorized_keys" "$DIR"/*.pub
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$DIR/host_key.pub")" > "$DIR/known_hosts"

cat > "$DIR/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $DIR/host_key
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $USER_NAME
AllowTcpForwarding no
X11Forwarding no
LogLevel VERBOSE
CONF

if [ -f "$DIR/sshd.pid" ] && kill -0 "$(cat "$DIR/sshd.pid")" 2>/dev/null; then
    log "already running on 127.0.0.1:$PORT"
else
    /usr/sbin/sshd -t -f "$DIR/sshd_config"
    /usr/sbin/sshd -f "$DIR/sshd_config" -E "$DIR/sshd.log"
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.05
    done
    log "started on 127.0.0.1:$PORT"
fi
echo "export VESPENE_TEST_SSHD_PORT=$PORT VESPENE_TEST_SSHD_DIR=$DIR"
