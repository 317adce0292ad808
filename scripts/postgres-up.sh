#!/usr/bin/env bash
# Start (or stop) a throwaway PostgreSQL cluster for tests, examples, benchmarks and CI. No stdin needed.
#
#   eval "$(scripts/postgres-up.sh)"        start a cluster on a free port; prints `export` lines
#   scripts/postgres-up.sh start [DIR]      the same, with the cluster in DIR (created if missing)
#   scripts/postgres-up.sh stop DIR         stop the cluster in DIR and delete DIR
#
# Printed on stdout (everything else goes to stderr):
#   PGHOST PGPORT PGUSER PGPASSWORD PURELINK_PG_DIR PURELINK_PG_URL (connection URL without the password)
#
# Environment:
#   PURELINK_PG_BIN        server binaries (default /usr/lib/postgresql/15/bin, else `pg_config --bindir`)
#   PURELINK_PG_PORT       port (default: a free one)
#   PURELINK_PG_PASSWORD   superuser password (default: random)
#   PURELINK_PG_USER       OS user that runs the server when we are root (default postgres, created if missing)
#   PURELINK_PG_LISTEN     listen_addresses (default 127.0.0.1); '*' lets containers reach it through
#                          Docker's bridge (password logins from any address are then allowed)
#
# initdb refuses to run as root, so as root the cluster belongs to an unprivileged user. The cluster is
# throwaway: fsync is off and it listens on 127.0.0.1 only; never point this at data you want to keep.
set -euo pipefail

say() { echo "postgres-up: $*" >&2; }

action="${1:-start}"
dir="${2:-}"

bin="${PURELINK_PG_BIN:-/usr/lib/postgresql/15/bin}"
if [ ! -x "$bin/initdb" ] && command -v pg_config >/dev/null 2>&1; then
    bin="$(pg_config --bindir)"
fi
if [ ! -x "$bin/initdb" ]; then
    say "no PostgreSQL server binaries in $bin; install them (apt-get install -y postgresql) or set PURELINK_PG_BIN"
    exit 2
fi

owner="$(id -un)"
as_owner() { "$@"; }
if [ "$(id -u)" = 0 ]; then
    owner="${PURELINK_PG_USER:-postgres}"
    if ! id "$owner" >/dev/null 2>&1; then
        say "creating system user $owner to run the server (initdb refuses root)"
        useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
    fi
    as_owner() { runuser -u "$owner" -- "$@"; }
fi

if [ "$action" = stop ]; then
    if [ -z "$dir" ] || [ ! -f "$dir/data/PG_VERSION" ]; then
        say "usage: $0 stop DIR  (DIR is the PURELINK_PG_DIR printed at start)"
        exit 2
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    say "stopped and removed $dir"
    exit 0
fi

if [ "$action" != start ]; then
    say "unknown action $action; use start or stop"
    exit 2
fi

if [ -z "$dir" ]; then
    dir="$(mktemp -d "${TMPDIR:-/tmp}/purelink-pg.XXXXXX")"
fi
mkdir -p "$dir"
# The owner must reach the directory even when it sits under a root-only parent such as pytest's tmp.
chmod 755 "$dir"
chown "$owner" "$dir"

password="${PURELINK_PG_PASSWORD:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')}"

pwfile="$dir/pwfile"
umask 077
printf '%s\n' "$password" >"$pwfile"
chown "$owner" "$pwfile"

as_owner "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    say "initdb failed:"; cat "$dir/initdb.log" >&2; exit 1; }
rm -f "$pwfile"
listen="${PURELINK_PG_LISTEN:-127.0.0.1}"
if [ "$listen" != "127.0.0.1" ]; then
    echo "host all all 0.0.0.0/0 scram-sha-256" >>"$dir/data/pg_hba.conf"
fi

# Chosen only now, just before the server binds it: a port found free before initdb (seconds
# earlier) may be taken by then when many clusters and servers start at once (parallel tests).
port="${PURELINK_PG_PORT:-}"
if [ -z "$port" ]; then
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 start -o \
    "-c listen_addresses=$listen -c port=$port -c unix_socket_directories=$dir/data \
     -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" >/dev/null || {
    say "the server did not start:"; tail -20 "$dir/data/server.log" >&2; exit 1; }

say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir"
cat <<EOF
export PGHOST=127.0.0.1
export PGPORT=$port
export PGUSER=postgres
export PGPASSWORD='$password'
export PURELINK_PG_DIR='$dir'
export PURELINK_PG_URL='postgresql://postgres@127.0.0.1:$port/postgres'
EOF
