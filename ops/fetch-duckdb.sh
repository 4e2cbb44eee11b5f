#!/usr/bin/env bash
# Installs DuckDB's Python package (from PyPI) into a virtualenv cached outside the repository
# and prints the virtualenv's python. Idempotent: a second run only prints the path.
# Used by the audit export's reader test and benchmark (an independent CSV reader and writer).
#   PY=$(ops/fetch-duckdb.sh)
set -euo pipefail
DUCKDB_VERSION=${DUCKDB_VERSION:-1.1.3}
cache=${CLAWVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clawvisor}
venv=$cache/duckdb-$DUCKDB_VERSION
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import duckdb" 2>/dev/null; then
  mkdir -p "$cache"
  # Built and installed into a scratch directory first, so an interrupted run leaves no venv
  # that looks complete.
  rm -rf "$venv.tmp"
  python3 -m venv "$venv.tmp" >&2
  "$venv.tmp/bin/python" -m pip install --quiet --disable-pip-version-check \
    "duckdb==$DUCKDB_VERSION" >&2
  rm -rf "$venv"
  mv "$venv.tmp" "$venv"
  # A venv records its own path; recreate the launcher scripts for the final location.
  python3 -m venv --upgrade "$venv" >&2
fi
echo "$venv/bin/python"
