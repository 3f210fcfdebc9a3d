#!/usr/bin/env bash
# JSDATA_PY for the peer harness (set by bench/peers.sh): runs the harness's jsdatabench.py
# with the project's interpreter and this checkout's jsdata, then, on the same server and
# with the same arguments, bench/peers_extra.py (the warm stream -> pandas read and the
# awaited KV round trips the harness lacks), so every figure comes from one run. Needs JSDATA_PEERS_PY and JSDATA_ROOT in the environment.
set -uo pipefail
PY=${JSDATA_PEERS_PY:?set by bench/peers.sh}
ROOT=${JSDATA_ROOT:?set by bench/peers.sh}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
"$PY" "$@"
rc=$?
if [ "${1:-}" = jsdatabench.py ]; then
  shift
  "$PY" "$ROOT/bench/peers_extra.py" "$@" || rc=$?
fi
exit $rc
