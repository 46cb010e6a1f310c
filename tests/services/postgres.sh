#!/usr/bin/env bash
# Starts the local PostgreSQL cluster (Debian's pg_ctlcluster), makes sure the
# test role and database exist, and prints the line that points the tests at
# it:
#
#   eval "$(bash tests/services/postgres.sh)"
#   cargo test -p vespene-core
#
# Idempotent; run as root (it switches to the postgres user) or as postgres.
# Everything but the final `export` line goes to stderr.
set -euo pipefail

ROLE=vespene_test
PASSWORD=vespene_test
DATABASE=vespene_test

log() { echo "postgres.sh: $*" >&2; }

as_postgres() {
    if [ "$(id -un)" = postgres ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
}

if ! command -v pg_lsclusters >/dev/null 2>&1; then
    log "PostgreSQL is not installed (no pg_lsclusters); install postgresql and postgresql-common"
    exit 1
fi

# The newest installed cluster: "VERSION NAME PORT STATUS ...".
read -r VERSION CLUSTER PORT STATUS _ < <(pg_lsclusters --no-header | sort -k1,1n | tail -n 1) || true
if [ -z "${VERSION:-}" ]; then
    log "no PostgreSQL cluster exists; creating one"
    VERSION=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
    pg_createcluster "$VERSION" main >&2
    read -r VERSION CLUSTER PORT STATUS _ < <(pg_lsclusters --no-header | sort -k1,1n | tail -n 1)
fi

if [ "$STATUS" != online ]; then
    log "starting cluster $VERSION/$CLUSTER on port $PORT"
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi

# Waits until the cluster accepts connections (up to 10 s).
wait_ready() {
    for _ in $(seq 1 50); do
        if as_postgres psql -p "$PORT" -Atqc 'SELECT 1' >/dev/null 2>&1; then
            break
        fi
        sleep 0.2
    done
    as_postgres psql -p "$PORT" -Atqc 'SELECT 1' >/dev/null
}
wait_ready

# A package upgrade (apt-get install postgresql, as .ci/run does) replaces
# the server's files under a running server, which then fails to load its
# own modules (plpgsql: "undefined symbol"). Restart it onto the installed
# binaries when the versions differ.
running=$(as_postgres psql -p "$PORT" -Atqc 'SHOW server_version' | cut -d' ' -f1)
installed=$("/usr/lib/postgresql/$VERSION/bin/postgres" --version | awk '{print $3}')
if [ -n "$installed" ] && [ "$running" != "$installed" ]; then
    log "cluster $VERSION/$CLUSTER runs $running but $installed is installed; restarting it"
    pg_ctlcluster "$VERSION" "$CLUSTER" restart >&2
    wait_ready
fi

psql_admin() { as_postgres psql -p "$PORT" -v ON_ERROR_STOP=1 -Atq "$@"; }

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
    log "creating role $ROLE"
    psql_admin -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
else
    psql_admin -c "ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
fi

if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
    log "creating database $DATABASE"
    psql_admin -c "CREATE DATABASE $DATABASE OWNER $ROLE"
fi

URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
# Check that the role can log in over TCP with its password.
if ! PGPASSWORD=$PASSWORD psql "$URL" -Atqc 'SELECT 1' >/dev/null; then
    log "cannot connect to $URL (check pg_hba.conf allows md5/scram on 127.0.0.1)"
    exit 1
fi
log "PostgreSQL $VERSION ready"
echo "export VESPENE_TEST_POSTGRES_URL=$URL"
