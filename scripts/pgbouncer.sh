#!/usr/bin/env bash
# Runs test suites through PgBouncer in transaction mode, the way production reaches Postgres
# (docs/capacity.md, "Database connection budget"): each transaction may run on another server
# connection, so anything that leans on session state (a search_path or SET on connect, a
# session advisory lock, LISTEN, named prepared statements, temp tables) fails here and not
# only in a real cluster.
#   scripts/pgbouncer.sh                 install PgBouncer if absent, start it, run the default suites
#   scripts/pgbouncer.sh <files|dirs>    the same with other suites
#   scripts/pgbouncer.sh --start         only make sure it runs (prints its DATABASE_URL)
# Postgres must answer on 127.0.0.1:5432 with trust auth for "postgres" (CI's and this machine's);
# PgBouncer listens on 127.0.0.1:${PGBOUNCER_PORT:-6432}. Started once, it is left running for the
# next call (its pid file says where).
#
# The default suites (about a minute on two cores): everything that holds database state across
# statements or relies on locking semantics, i.e. the database layer (migrations under their
# transaction-level advisory lock, concurrent transactions, the "not migrated" check), the
# per-service roles, the outbox relay (FOR UPDATE SKIP LOCKED claims), dispatch (SKIP LOCKED
# claims by several replicas), booking (scheduled-broadcast claims, the outbox) and the migrate
# one-shot with the runtime roles (migrations through the pooler, then least privilege).
set -euo pipefail
cd "$(dirname "$0")/.."

port="${PGBOUNCER_PORT:-6432}"
dir="${PGBOUNCER_DIR:-/tmp/weelo-pgbouncer-$port}"
url="postgres://postgres@127.0.0.1:$port/test"
default_suites=(
  libs/db
  libs/outbox
  system/src/dispatch/dispatch.replicas.test.ts
  system/src/dispatch/dispatch.grpc.test.ts
  system/src/booking/booking.grpc.test.ts
  system/src/migrate.test.ts
)

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  if answers "$port"; then return 0; fi
  if ! command -v pgbouncer >/dev/null; then
    echo "installing PgBouncer (Debian package)"
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    # A fresh machine may have no package lists yet: update once and try again.
    $sudo apt-get install -y -qq pgbouncer >/dev/null 2>&1 || {
      $sudo apt-get update -qq >/dev/null
      $sudo apt-get install -y -qq pgbouncer >/dev/null
    }
  fi
  mkdir -p "$dir"
  # Transaction pooling, as in deploy/ (compose and k8s). No `options` in ignore_startup_parameters:
  # a client that still sends a search_path at connect is refused, not silently misrouted.
  # max_db_connections keeps the suites to 30 server connections of this shared Postgres.
  cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 20
max_db_connections = 30
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
    # trust still wants the user listed; the tests' own roles connect to Postgres directly.
  echo '"postgres" ""' >"$dir/userlist.txt"
  # PgBouncer refuses to run as root: hand it to the postgres user then.
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres "$dir"
    pgbouncer -d -u postgres "$dir/pgbouncer.ini"
  else
    pgbouncer -d "$dir/pgbouncer.ini"
  fi
  for _ in $(seq 1 40); do
    if answers "$port"; then return 0; fi
    sleep 0.25
  done
  echo "PgBouncer did not start on 127.0.0.1:$port (see $dir/pgbouncer.log)" >&2
  exit 1
}

start
echo "PgBouncer (transaction pooling) on $url"
if [ "${1:-}" = "--start" ]; then exit 0; fi
if [ $# -eq 0 ]; then set -- "${default_suites[@]}"; fi
export DATABASE_URL="$url"
# Tells the few tests that need a direct connection (start-up options) why they cannot run here.
export DATABASE_POOLED=transaction
# Schemas and roles of the tests are made and dropped over a direct connection, never pooled.
export DATABASE_ADMIN_URL="${DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
exec node scripts/run-tests.mjs "$@"
