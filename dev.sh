#!/usr/bin/env bash
# One entry point for a fresh machine (only python3, pip and gcc needed):
#   bash dev.sh demo   - create .venv if needed, install jsdata, run the demo on the embedded server
#   bash dev.sh test   - create .venv if needed, install jsdata[dev], run the whole test suite
#   bash dev.sh bench  - run the benchmarks (jsdata beside nats-py)
#   bash dev.sh peers  - run the peer harness (nats.go, nats.js, nats-py) with jsdata: ratios to Go
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.jsdata-installed-$1"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
     || [ jsdata/_cparse.c -nt "$stamp" ]; then  # the C extension is rebuilt with the install
    "$VENV/bin/python" -m pip install -q --upgrade pip
    if [ "$1" = dev ]; then
      "$VENV/bin/python" -m pip install -q -e ".[dev]"
    else
      "$VENV/bin/python" -m pip install -q -e .
    fi
    touch "$stamp"
  fi
}

cmd=${1:-help}
shift || true
case "$cmd" in
  demo)
    ensure_venv base
    exec "$VENV/bin/python" -m jsdata.demo "$@"
    ;;
  test)
    ensure_venv dev
    exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
    ;;
  bench)
    ensure_venv dev
    for b in bench/bench_*.py; do echo "== $b"; "$VENV/bin/python" "$b" "$@"; done
    ;;
  peers)
    ensure_venv dev
    exec bash bench/peers.sh "$@"
    ;;
  *)
    echo "usage: bash dev.sh demo|test|bench|peers" >&2
    exit 2
    ;;
esac
