#!/usr/bin/env bash
# Starts a smart-HTTP git server on 127.0.0.1 for the git plugin's tests:
# nginx (Debian nginx-light) passing requests to `git http-backend` through
# fcgiwrap. Bare repositories the tests put under $DIR/repos are served as
#
#   http://127.0.0.1:PORT/private/NAME.git   basic auth: builder / the password
#                                            in $DIR/password
#   http://127.0.0.1:PORT/public/NAME.git    no login
#   http://127.0.0.1:PORT/slow/NAME.git      no login, sent at 32 KiB/s (stop and
#                                            timeout tests)
#
#   eval "$(bash tests/services/git-http.sh)"
#
# Idempotent; runs as root. Everything but the export line goes to stderr.
set -euo pipefail

PORT=${VESPENE_TEST_GIT_HTTP_PORT:-42080}
DIR=${VESPENE_TEST_GIT_HTTP_DIR:-/tmp/vespene-test-services/git-http}
log() { echo "git-http.sh: $*" >&2; }

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
FCGIWRAP=$(command -v fcgiwrap || echo /usr/sbin/fcgiwrap)
[ -x "$NGINX" ] || { log "install nginx-light"; exit 1; }
[ -x "$FCGIWRAP" ] || { log "install fcgiwrap"; exit 1; }
BACKEND=$(git --exec-path)/git-http-backend
[ -x "$BACKEND" ] || BACKEND=/usr/lib/git-core/git-http-backend
[ -x "$BACKEND" ] || { log "git-http-backend not found (install git)"; exit 1; }

mkdir -p "$DIR/repos" "$DIR/tmp"
[ -f "$DIR/password" ] || echo "http-pass-$RANDOM$RANDOM" > "$DIR/password"
echo "builder:$(openssl passwd -apr1 "$(cat "$DIR/password")")" > "$DIR/htpasswd"
printf '[safe]\n\tdirectory = *\n[http]\n\treceivepack = false\n' > "$DIR/gitconfig"

cat > "$DIR/nginx.conf" <<CONF
# Root like fcgiwrap, so the workers can reach its socket (test server, loopback only).
user root;
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/error.log;
daemon on;
events { worker_connections 64; }
http {
    access_log $DIR/access.log;
    client_body_temp_path $DIR/tmp/body;
    fastcgi_temp_path $DIR/tmp/fastcgi;
    proxy_temp_path $DIR/tmp/proxy;
    uwsgi_temp_path $DIR/tmp/uwsgi;
    scgi_temp_path $DIR/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT;
        location ~ ^/(private|public|slow)(/.*)\$ {
            set \$area \$1;
            set \$rest \$2;
            set \$realm "off";
            if (\$area = private) { set \$realm "vespene test git"; }
            if (\$area = slow) { set \$limit_rate 32768; }
            auth_basic \$realm;
            auth_basic_user_file $DIR/htpasswd;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $BACKEND;
            fastcgi_param GIT_PROJECT_ROOT $DIR/repos;
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param GIT_CONFIG_GLOBAL $DIR/gitconfig;
            fastcgi_param PATH_INFO \$rest;
            fastcgi_param REMOTE_USER \$remote_user;
            fastcgi_pass unix:$DIR/fcgiwrap.sock;
        }
    }
}
CONF

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if ! alive "$DIR/fcgiwrap.pid"; then
    rm -f "$DIR/fcgiwrap.sock"
    setsid "$FCGIWRAP" -c 4 -s "unix:$DIR/fcgiwrap.sock" </dev/null >>"$DIR/fcgiwrap.log" 2>&1 &
    echo $! > "$DIR/fcgiwrap.pid"
    for _ in $(seq 100); do [ -S "$DIR/fcgiwrap.sock" ] && break; sleep 0.05; done
fi
if alive "$DIR/nginx.pid"; then
    "$NGINX" -c "$DIR/nginx.conf" -s reload 2>>"$DIR/error.log" || true
    log "already running on 127.0.0.1:$PORT"
else
    "$NGINX" -c "$DIR/nginx.conf"
    log "started on 127.0.0.1:$PORT"
fi
echo "export VESPENE_TEST_GIT_HTTP_PORT=$PORT VESPENE_TEST_GIT_HTTP_DIR=$DIR"
