#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests: `start DIR PORT` prints its URL, `stop DIR`.
# The server refuses to run as root, so as root it runs as the `postgres` user via runuser;
# DIR's parent must be searchable by that user (the fixture makes it 0711).
set -euo pipefail
BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
action=${1:?usage: postgres-cluster.sh start DIR PORT | stop DIR}
dir=${2:?cluster folder}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
  start)
    port=${3:?port}
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    as_postgres "$BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
    # A test cluster: local only, no durability needed, sockets kept in its own folder.
    as_postgres "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c fsync=off -c full_page_writes=off" \
      start >/dev/null
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_postgres "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
