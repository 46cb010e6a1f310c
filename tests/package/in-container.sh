#!/usr/bin/env bash
# The install test's steps inside the throwaway Debian container (started by
# tests/package/install-test.sh, which mounts its work directory on /pkg):
# install the .deb, start the units' ExecStart lines as their users (with
# tests/package/run-unit), check the plugins, run builds through the
# default (namespace) isolation, a vespene-worker@ unit and the sudo
# isolation, upgrade with an edited settings file, remove, purge.
set -euo pipefail

PKG=/pkg
V=/usr/bin/vespene
SETTINGS=/etc/vespene/settings.d
WORD=s3cr3t-word
MASK='[redacted-by-plugin]'
step() { echo "-- $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
as_vespene() { runuser -u vespene -- env HOME=/var/lib/vespene "$V" "$@"; }
pids=()
start_unit() { # UNIT [INSTANCE]: in the background, logging to /tmp/UNIT.log
    local log=/tmp/${1}${2:+-$2}.log
    "$PKG/run-unit" "/usr/lib/systemd/system/$1" "${2:-}" >"$log" 2>&1 &
    pids+=($!)
}
stop_units() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
wait_healthy() {
    for _ in $(seq 1 150); do
        curl -fsS http://127.0.0.1:8000/healthz >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    cat /tmp/vespene.service.log >&2 || true
    fail "the server did not answer /healthz"
}
trap 'stop_units' EXIT

# The host name must resolve for sudo.
echo "127.0.1.1 $(hostname)" >>/etc/hosts

step "install $(basename "$PKG"/v1/*.deb)"
apt-get install -y --no-install-recommends "$PKG"/v1/vespene_*.deb >/tmp/install.log 2>&1 ||
    { cat /tmp/install.log; fail "apt-get install"; }
cat /tmp/install.log | sed -n '/vespene:\|admin login/p'
password=$(sed -n 's/^admin login: admin \/ \([^ ]*\) .*/\1/p' /tmp/install.log)
[ -n "$password" ] || fail "the install printed no admin login"
[ "$(cat /var/lib/vespene/admin-password)" = "$password" ] || fail "admin-password differs from the printed login"

step "users, modes and owners"
getent passwd vespene >/dev/null || fail "no vespene user"
getent passwd vespene_build >/dev/null || fail "no vespene_build user"
id -nG vespene_build | grep -qw vespene && fail "vespene_build is in the vespene group"
check_mode() { # PATH MODE OWNER:GROUP
    local got
    got=$(stat -c '%a %U:%G' "$1")
    [ "$got" = "$2 $3" ] || fail "$1 is $got, expected $2 $3"
}
check_mode /etc/vespene/secrets.key 600 vespene:vespene
check_mode /etc/vespene 750 root:vespene
check_mode /var/lib/vespene 700 vespene:vespene
check_mode /var/lib/vespene/vespene.db 600 vespene:vespene
check_mode /var/lib/vespene-builds 711 vespene:vespene
[ -d /usr/local/lib/vespene/plugins ] || fail "no /usr/local/lib/vespene/plugins"
for f in /etc/vespene/secrets.key /var/lib/vespene/vespene.db /etc/vespene/settings.d/05-paths.toml; do
    runuser -u vespene_build -- head -c1 "$f" >/dev/null 2>&1 && fail "vespene_build can read $f"
done

step "the manual pages are installed: vespene(1) and one per subcommand"
for page in vespene vespene-project-start vespene-build-log vespene-apply; do
    gzip -t "/usr/share/man/man1/$page.1.gz" 2>/dev/null || fail "manual page $page(1) is missing or not gzip"
    zcat "/usr/share/man/man1/$page.1.gz" | grep -q '^\.TH' || fail "manual page $page(1) has no .TH header"
done

step "every stock plugin is in /usr/lib/vespene/plugins and loads"
as_vespene plugins list --json >/tmp/plugins.json
while read -r so; do
    [ -f "/usr/lib/vespene/plugins/$so" ] || fail "stock plugin $so is not installed"
    jq -e --arg f "/usr/lib/vespene/plugins/$so" \
        '.plugins[] | select(.file == $f and .status == "ok")' /tmp/plugins.json >/dev/null ||
        fail "stock plugin $so is not loaded: $(jq -c --arg f "/usr/lib/vespene/plugins/$so" '.plugins[] | select(.file == $f)' /tmp/plugins.json)"
done <"$PKG/stock-plugins.txt"
refused=$(jq -c '[.plugins[] | select(.status != "ok") | .file]' /tmp/plugins.json)
[ "$refused" = "[]" ] || fail "refused files on the default plugin path: $refused"
echo "$(wc -l <"$PKG/stock-plugins.txt") stock plugins found and loaded, nothing refused"

step "a plugin dropped into /usr/local/lib/vespene/plugins, named in a new settings file"
install -m 0644 "$PKG/libredact_c.so" /usr/local/lib/vespene/plugins/.libredact_c.so.new
mv /usr/local/lib/vespene/plugins/.libredact_c.so.new /usr/local/lib/vespene/plugins/libredact_c.so
cat >"$SETTINGS/60-redact.toml" <<EOF
[plugins.output]
redact = ["vespene.examples.c_redact", { word = "$WORD", mask = "$MASK" }]
EOF
as_vespene plugins list >/tmp/plugins.txt
grep -q 'vespene.examples.c_redact.*/usr/local/lib/vespene/plugins/libredact_c.so' /tmp/plugins.txt ||
    { cat /tmp/plugins.txt; fail "the local plugin is not listed"; }
grep -q 'redact = vespene.examples.c_redact  ok' /tmp/plugins.txt ||
    { cat /tmp/plugins.txt; fail "the local plugin's entry is not ok"; }

step "start vespene.service, log in"
start_unit vespene.service
wait_healthy
code=$(curl -s -o /tmp/login.json -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$password\"}" http://127.0.0.1:8000/api/v1/login)
[ "$code" = 200 ] || fail "admin login answered $code: $(cat /tmp/login.json)"
grep -q "isolation *namespaces" /tmp/vespene.service.log ||
    { cat /tmp/vespene.service.log; fail "vespene up did not choose the namespace isolation"; }

step "builds: default pool (vespene up), vespene-worker@ns, vespene-sudo-worker@sudo"
probe='echo "probe ran as $(id -un)"
for f in /etc/vespene/secrets.key /var/lib/vespene/vespene.db; do
  if head -c 48 "$f" >/dev/null 2>&1; then echo "read $f: [$(head -c 48 "$f" | od -An -tx1 | tr -d " \n")]"; else echo "cannot read $f"; fi
done
if ls /etc/vespene/settings.d >/dev/null 2>&1; then echo "listed settings"; else echo "cannot list settings"; fi
echo "the word is '"$WORD"'"'
cat >/tmp/probes.yaml <<EOF
worker_pools:
  - name: ns
    isolation_method: namespace
  - name: sudo
    isolation_method: sudo
    sudo_user: vespene_build
projects:
EOF
for pool in default ns sudo; do
    printf '  - name: probe-%s\n    worker_pool: %s\n    script: |\n%s\n' "$pool" "$pool" \
        "$(sed 's/^/      /' <<<"$probe")" >>/tmp/probes.yaml
done
chmod 0644 /tmp/probes.yaml
as_vespene apply /tmp/probes.yaml
start_unit vespene-worker@.service ns
start_unit vespene-sudo-worker@.service sudo
key_hex=$(head -c 48 /etc/vespene/secrets.key | od -An -tx1 | tr -d ' \n')
db_hex=$(head -c 48 /var/lib/vespene/vespene.db | od -An -tx1 | tr -d ' \n')
for pool in default ns sudo; do
    id=$(as_vespene project start "probe-$pool" | sed -n 's/^build \([0-9]*\) queued.*/\1/p')
    [ -n "$id" ] || fail "probe-$pool did not start"
    status=""
    for _ in $(seq 1 300); do
        status=$(as_vespene build show "$id" --json | jq -r .status)
        case "$status" in SUCCESS | FAILURE | ERROR | ORPHANED | ABORTED | TIMEOUT) break ;; esac
        sleep 0.2
    done
    as_vespene build log "$id" >/tmp/build-$pool.log 2>&1
    [ "$status" = SUCCESS ] || { cat /tmp/build-$pool.log /tmp/*worker*.log; fail "build $id in pool $pool: $status"; }
    out=/tmp/build-$pool.log
    cat "$out"
    grep -q "probe ran as" "$out" || fail "pool $pool: the probe did not run"
    grep -qF "$key_hex" "$out" && fail "pool $pool: the build read the secrets key"
    grep -qF "$db_hex" "$out" && fail "pool $pool: the build read the database"
    grep -q "listed settings" "$out" && fail "pool $pool: the build listed /etc/vespene/settings.d"
    grep -qF "the word is $MASK" "$out" || fail "pool $pool: the local output plugin did not redact"
    grep -qF "$WORD" "$out" && fail "pool $pool: the word was not redacted"
    case "$pool" in
    sudo) grep -q "probe ran as vespene_build" "$out" || fail "the sudo build did not run as vespene_build" ;;
    esac
    echo "pool $pool: build $id SUCCESS, no key, no database, no settings"
done
stop_units

step "upgrade to a package with a changed shipped default; the admin's edit is kept"
sed -i 's/^# \[server\]$/[server]/; s/^# bind = "127.0.0.1:8000"$/bind = "127.0.0.1:8000"  # set by the admin/' \
    "$SETTINGS/30-server.toml"
grep -q 'set by the admin' "$SETTINGS/30-server.toml" || fail "could not edit 30-server.toml"
admin_sum=$(sha256sum <"$SETTINGS/30-server.toml")
key_sum=$(sha256sum </etc/vespene/secrets.key)
apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold "$PKG"/v2/vespene_*.deb >/tmp/upgrade.log 2>&1 ||
    { cat /tmp/upgrade.log; fail "upgrade"; }
grep -q 'admin login: unchanged' /tmp/upgrade.log || { cat /tmp/upgrade.log; fail "the upgrade did not keep the users"; }
[ "$(dpkg-query -W -f '${Version}' vespene)" = "$(cat "$PKG/v2/version")" ] || fail "not upgraded"
[ "$(sha256sum <"$SETTINGS/30-server.toml")" = "$admin_sum" ] || fail "the admin's 30-server.toml was replaced"
cmp -s "$SETTINGS/30-server.toml.dpkg-dist" "$PKG/v2/settings.d/30-server.toml" ||
    fail "the new shipped 30-server.toml is not beside it as .dpkg-dist"
cmp -s "$SETTINGS/20-workers.toml" "$PKG/v2/settings.d/20-workers.toml" ||
    fail "the untouched 20-workers.toml was not updated to the new default"
[ -f "$SETTINGS/60-redact.toml" ] || fail "the admin's 60-redact.toml is gone"
[ "$(sha256sum </etc/vespene/secrets.key)" = "$key_sum" ] || fail "the secrets key changed"
check_mode /etc/vespene 750 root:vespene
as_vespene settings show | grep -q '^heartbeat_seconds = 4$' || fail "the new shipped default is not in effect"
start_unit vespene.service
wait_healthy
[ "$(as_vespene build list --json | jq length)" -ge 3 ] || fail "the builds are gone after the upgrade"
stop_units
echo "admin's 30-server.toml kept, new default in 30-server.toml.dpkg-dist, 20-workers.toml updated"

step "remove: data, settings and key stay"
apt-get remove -y vespene >/tmp/remove.log 2>&1 || { cat /tmp/remove.log; fail "remove"; }
[ ! -e /usr/bin/vespene ] || fail "/usr/bin/vespene is still there"
[ ! -e /usr/lib/vespene/plugins ] || fail "the stock plugins are still there"
for f in /var/lib/vespene/vespene.db /etc/vespene/secrets.key "$SETTINGS/30-server.toml" \
    "$SETTINGS/60-redact.toml" /usr/local/lib/vespene/plugins/libredact_c.so; do
    [ -e "$f" ] || fail "remove deleted $f"
done
[ "$(dpkg-query -W -f '${Status}' vespene)" = "deinstall ok config-files" ] || fail "not in config-files state"

step "purge: data, settings and key go"
apt-get purge -y vespene >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; fail "purge"; }
for f in /etc/vespene /var/lib/vespene /var/lib/vespene-builds; do
    [ ! -e "$f" ] || fail "purge left $f"
done
dpkg-query -W vespene >/dev/null 2>&1 && fail "the package is still known to dpkg"
[ -e /usr/local/lib/vespene/plugins/libredact_c.so ] || fail "purge deleted the admin's own plugin"
echo "in-container steps passed"
