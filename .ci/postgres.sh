#!/usr/bin/env bash
# usage: .ci/postgres.sh DIR
# Start a throwaway PostgreSQL in the empty folder DIR, on loopback only, for the store's
# PostgreSQL tests, and print its URL (tests/test_state_db.py reads ENGINE_TEST_PG_URL).
# Prints nothing, and those tests skip, where no server binaries are installed.
# Stop it with: kill "$(head -1 DIR/postmaster.pid)"
set -euo pipefail
initdb=$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -1 || true)
[ -n "$initdb" ] || exit 0
bin=$(dirname "$initdb")
port=${PG_TEST_PORT:-55432}
dir=$1
run=()
if [ "$(id -u)" = 0 ]; then  # initdb refuses to run as root
    id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$dir"
    run=(su postgres -s /bin/sh -c)
fi
q() { if [ ${#run[@]} -gt 0 ]; then "${run[@]}" "$*"; else sh -c "$*"; fi; }
log=$dir.log
q "'$bin/initdb' -D '$dir' -A trust -U postgres" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
q "'$bin/pg_ctl' -D '$dir' -w -o '-k $dir -c listen_addresses=127.0.0.1 -p $port' -l '$dir/server.log' start" >>"$log" 2>&1 \
    || { cat "$log" "$dir/server.log" >&2; exit 1; }
echo "postgresql+psycopg2://postgres@127.0.0.1:$port/postgres"
