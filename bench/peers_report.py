#!/usr/bin/env python3
"""jsdata's ratios to nats.go and nats-py from one peer harness run (issue 12's targets).

    python bench/peers_report.py .peers/results/run-YYYYmmdd-HHMMSS.jsonl

Reads the harness's JSON-lines results (``bench/peers.sh`` runs it) and prints a Markdown
table: for each target, jsdata's median rate (blocking surface, and the asyncio surface
where the harness measures it), the median of the client it is compared with, both
ratios, and whether the target is met. Medians are over the run's interleaved reps; the
min–max ratio over reps (each rep's jsdata over the same rep's peer) shows the spread
when both sides have every rep; ``n=`` says how many reps each median has.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict

# (label, jsdata op, Go op, nats-py op, target peer, target ratio)
TARGETS = [
    ("stream -> pandas with JSON decode vs Go ordered consume (no decode)",
     "stream_to_pandas", "ordered_push", "ordered_push", "nats.go", 1.0),
    ("same, warm: pandas and pyarrow already imported (bench/peers_extra.py)",
     "stream_to_pandas_warm", "ordered_push", "ordered_push", "nats.go", 1.0),
    ("publish_dataframe, every row acked vs Go PublishAsync",
     "publish_dataframe", "pub_async", "pub_async", "nats.go", 1.0),
    ("fetch(1000), AckNone", "pull_fetch1000_acknone", "pull_fetch1000_acknone",
     "pull_fetch1000_acknone", "nats.go", 1.0),
    ("fetch(1000), AckExplicit, ack each", "pull_fetch1000_ackexplicit",
     "pull_fetch1000_ackexplicit", "pull_fetch1000_ackexplicit", "nats.go", 1.0),
    ("publish_async, 4000 in flight", "pub_async", "pub_async", "pub_async", "nats.go", 1.0),
    ("awaited publish", "pub_sync", "pub_sync", "pub_sync", "nats-py", 1.0),
    ("awaited KV get", "kv_get", None, "kv_get", "nats-py", 1.0),
    ("awaited KV put", "kv_put", None, "kv_put", "nats-py", None),
]


def fmt(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.1f}k"


def load(path: str) -> tuple[dict[tuple[str, str], list[float]], list[float]]:
    """Rates per (client, op) in run order, and the load averages recorded in the run."""
    rates: dict[tuple[str, str], list[float]] = defaultdict(list)
    loads: list[float] = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            rates[(r["client"], r["op"])].append(float(r["rate"]))
            if "load" in r:
                loads.append(float(r["load"]))
    return rates, loads


def main(path: str) -> None:
    rates, loads = load(path)
    med = {k: statistics.median(v) for k, v in rates.items()}

    def ratio(ours: tuple[str, str], theirs: tuple[str, str]) -> str:
        if ours not in med or theirs not in med:
            return "–"
        r = med[ours] / med[theirs]
        spread = ""
        if 1 < len(rates[ours]) == len(rates[theirs]):  # a failed rep would misalign them
            per_rep = [a / b for a, b in zip(rates[ours], rates[theirs], strict=True)]
            spread = f" ({min(per_rep):.2f}–{max(per_rep):.2f})"
        return f"{r:.2f}×{spread}"

    reps = max((len(v) for v in rates.values()), default=0)
    print(f"\n## jsdata against the peers, one run, medians of {reps} interleaved reps\n")
    if loads:
        print(f"Load average (1 min) at jsdata's KV measurements: "
              f"{min(loads):.2f}–{max(loads):.2f} on a 2-core machine.\n")
    print("| operation | surface | jsdata | nats.go | nats-py | jsdata / Go | jsdata / nats-py "
          "| target |")
    print("|---|---|---|---|---|---|---|---|")
    for label, op, go_op, py_op, peer, want in TARGETS:
        for client, surface in (("jsdata", "blocking"), ("jsdata-aio", "asyncio")):
            ours = (client, op)
            if ours not in med:
                continue
            go = ("nats.go", go_op) if go_op else None
            npy = ("nats-py", py_op)
            ref = go if peer == "nats.go" else npy
            if want is None or ref is None or ref not in med:
                verdict = "–"
            else:
                got = med[ours] / med[ref]
                verdict = f"≥ {want:.1f}× {peer}: {'met' if got >= want else 'not met'}"
            def cell(k: tuple[str, str] | None) -> str:
                return f"{fmt(med[k])} (n={len(rates[k])})" if k in med else "–"
            print(f"| {label} | {surface} | {cell(ours)} | {cell(go)} | {cell(npy)} | "
                  f"{ratio(ours, go) if go else '–'} | {ratio(ours, npy)} | {verdict} |")
    for client in ("jsdata", "jsdata-aio"):
        imp = rates.get((client, "import_pandas_pyarrow"))
        if imp:
            secs = statistics.median(1 / r for r in imp)
            print(f"\n{client}: importing pandas + pyarrow took {secs:.2f} s (median of "
                  f"{len(imp)}); the harness's cold stream -> pandas figure includes it.")
    print("\nnats-py is its asyncio API without uvloop (the harness's pybench.py; the KV rows "
          "use the project's nats-py, bench/peers_extra.py). Go's ordered consumer is "
          "nats.go's ordered push consumer (it does not decode); the harness's Go build "
          "measures no KV operations.")


if __name__ == "__main__":
    main(sys.argv[1])
