#!/usr/bin/env bash
# The test command: installs what the tests need that cargo cannot (real clients from Debian:
# etcdctl, psql, pgbench), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real clients the tests drive: etcdctl (Debian's etcd-client) for the etcd API, psql
# (postgresql-client) and pgbench (Debian ships it in the postgresql server package) for SQL.
missing=()
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v pgbench >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (Debian) for the client compatibility tests..."
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python clients (psycopg, SQLAlchemy) in a virtualenv of our own, pinned, outside the clone.
venv="${ATOLL_PYTHON_VENV:-$HOME/.cache/atoll/pyvenv}"
python_packages=("psycopg[binary]==3.3.9" "SQLAlchemy==2.1.9")
if ! "$venv/bin/python" -c "import psycopg, sqlalchemy" >/dev/null 2>&1; then
  echo "installing ${python_packages[*]} in $venv for the Python client tests..."
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q "${python_packages[@]}"
fi
export ATOLL_TEST_PYTHON="$venv/bin/python"

# Two test threads: the process-level tests start three nodes each, and the machine has 2 cores.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked --all-targets -- --test-threads=2 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line with the totals over every test binary.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "total: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
