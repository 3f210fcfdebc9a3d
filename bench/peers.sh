#!/usr/bin/env bash
# The peer harness with jsdata included (issue 12): nats.go, nats.js, nats-py and jsdata on
# one nats-server in one run, then jsdata's ratios to nats.go and nats-py for the targets.
#
#   bash dev.sh peers                    # N=200000 NAIVE_N=20000 REPS=3 (the harness's defaults)
#   REPS=5 bash bench/peers.sh           # env: N, NAIVE_N, REPS as run_all.sh takes them
#
# The harness (../shared/peers, or JSDATA_PEERS_SRC) is read-only: it is copied to
# JSDATA_PEERS_DIR (default .peers/, gitignored), where it installs its own venv, node
# packages and Go build on first use (nats.go needs
# `apt-get install -y golang-go golang-github-nats-io-go-nats-dev`). JSDATA_PY is the
# project's interpreter (default .venv/bin/python); bench/peers_py.sh runs the harness's
# jsdatabench.py with it against this checkout's jsdata, plus bench/peers_extra.py for the
# warm stream -> pandas read and the KV round trips the harness does not measure. Prints
# the harness's tables, then bench/peers_report.py's ratio table; both are kept next to
# the run's results file.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=${JSDATA_PEERS_SRC:-$ROOT/../shared/peers}
[ -d "$SRC" ] || SRC=/work/shared/peers
DIR=${JSDATA_PEERS_DIR:-$ROOT/.peers}
PY=${JSDATA_PY:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || { echo "no interpreter at $PY (run 'bash dev.sh test' once or set JSDATA_PY)" >&2; exit 2; }
[ -f "$SRC/run_all.sh" ] || { echo "no peer harness at $SRC (set JSDATA_PEERS_SRC)" >&2; exit 2; }

mkdir -p "$DIR"
# refresh the harness's own files; keep what it installed (venv, node_modules, Go build)
cp -rT --no-preserve=mode "$SRC" "$DIR"
chmod +x "$DIR/run_all.sh"

echo "# peers: harness $SRC -> $DIR; jsdata from $ROOT ($("$PY" --version 2>&1))"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
T0=$(date +%s)
JSDATA_PEERS_PY=$PY JSDATA_ROOT=$ROOT JSDATA_PY="$ROOT/bench/peers_py.sh" bash "$DIR/run_all.sh"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
OUT=$(ls -t "$DIR"/results/run-*.jsonl | head -1)
PYTHONPATH=$ROOT "$PY" "$ROOT/bench/peers_report.py" "$OUT" | tee "${OUT%.jsonl}-jsdata.md"
echo "# results: $OUT ($(( $(date +%s) - T0 ))s)"
