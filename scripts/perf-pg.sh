#!/usr/bin/env bash
# Start or stop a throw-away PostgreSQL for the performance suite (not for production).
#   scripts/perf-pg.sh start DIR   → installs Debian's `postgresql` if missing, runs initdb
#                                    in DIR, starts it on 127.0.0.1 (a free port), prints
#                                    the connection string on stdout
#   scripts/perf-pg.sh stop DIR    → stops it (the caller removes DIR)
# As root, the server runs as the `postgres` user (runuser); otherwise as the caller.
set -euo pipefail

cmd=${1:?usage: perf-pg.sh start|stop DIR}
dir=${2:?usage: perf-pg.sh start|stop DIR}

pgbin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  if [ -z "$(pgbin)" ] || [ ! -x "$(pgbin)/postgres" ]; then
    echo "perf-pg: installing Debian's postgresql package" >&2
    if [ "$(id -u)" != 0 ]; then
      echo "perf-pg: PostgreSQL is not installed and we are not root: run 'apt-get install postgresql' first" >&2
      exit 1
    fi
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
  bin=$(pgbin)
  if [ -z "$(ls "$(dirname "$bin")"/../../../share/postgresql/*/extension/pg_trgm.control 2>/dev/null)" ] \
     && [ -z "$(ls /usr/share/postgresql/*/extension/pg_trgm.control 2>/dev/null)" ]; then
    echo "perf-pg: the pg_trgm extension is missing (Debian ships it in postgresql-NN)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  as_pg "$bin/initdb" -D "$dir/data" -U akari --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { echo "perf-pg: initdb failed, see $dir/initdb.log" >&2; cat "$dir/initdb.log" >&2; exit 1; }
  # A free loopback port: try a few at random.
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
           -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c shared_buffers=512MB -c max_connections=20" \
           start >/dev/null; then
        echo "host=127.0.0.1 port=$port user=akari dbname=postgres"
        exit 0
      fi
    fi
  done
  echo "perf-pg: PostgreSQL did not start; see $dir/server.log" >&2
  exit 1
  ;;
stop)
  bin=$(pgbin)
  if [ -d "$dir/data" ]; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  fi
  ;;
*)
  echo "usage: perf-pg.sh start|stop DIR" >&2
  exit 2
  ;;
esac
