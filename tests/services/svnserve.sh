#!/usr/bin/env bash
# Starts svnserve (Debian subversion) on 127.0.0.1 for the svn plugin's
# tests, serving every repository under $DIR/repos as
# svn://127.0.0.1:PORT/NAME. Two are made here:
#
#   public    anonymous read
#   private   no anonymous access; user "builder", password in $DIR/password
#
# each with trunk/, branches/stable/ and a few commits.
#
#   eval "$(bash tests/services/svnserve.sh)"
#
# Idempotent. Everything but the export line goes to stderr.
set -euo pipefail

PORT=${VESPENE_TEST_SVNSERVE_PORT:-43690}
DIR=${VESPENE_TEST_SVNSERVE_DIR:-/tmp/vespene-test-services/svnserve}
log() { echo "svnserve.sh: $*" >&2; }
command -v svnserve >/dev/null || { log "install subversion"; exit 1; }

mkdir -p "$DIR/repos"
[ -f "$DIR/password" ] || echo "svn-pass-$RANDOM$RANDOM" > "$DIR/password"

make_repo() { # NAME ANON
    local repo="$DIR/repos/$1"
    [ -d "$repo" ] && return 0
    svnadmin create "$repo"
    cat > "$repo/conf/svnserve.conf" <<CONF
[general]
anon-access = $2
auth-access = write
password-db = passwd
realm = vespene-test-$1
CONF
    printf '[users]\nbuilder = %s\n' "$(cat "$DIR/password")" > "$repo/conf/passwd"
    local wc
    wc=$(mktemp -d)
    mkdir -p "$wc/trunk" "$wc/branches/stable" "$wc/tags"
    echo "trunk of $1" > "$wc/trunk/README"
    echo "stable of $1" > "$wc/branches/stable/README"
    svn import -q --username alice -m "initial layout" "$wc" "file://$repo"
    rm -rf "$wc"
    wc=$(mktemp -d)
    svn checkout -q "file://$repo/trunk" "$wc"
    echo "second line" >> "$wc/README"
    svn commit -q --username bob -m "second commit" "$wc"
    rm -rf "$wc"
}
make_repo public read
make_repo private none

if [ -f "$DIR/svnserve.pid" ] && kill -0 "$(cat "$DIR/svnserve.pid")" 2>/dev/null; then
    log "already running on 127.0.0.1:$PORT"
else
    svnserve -d --listen-host 127.0.0.1 --listen-port "$PORT" -r "$DIR/repos" \
        --pid-file "$DIR/svnserve.pid" --log-file "$DIR/svnserve.log"
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.05
    done
    log "started on 127.0.0.1:$PORT"
fi
echo "export VESPENE_TEST_SVNSERVE_PORT=$PORT VESPENE_TEST_SVNSERVE_DIR=$DIR"
