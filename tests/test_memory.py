"""Memory stays bounded (data tier, marker ``data``): reads run in a child process whose
peak resident set size is measured.

The peak is the child's ``VmHWM`` (/proc/self/status, Linux), read after imports and
connecting (the baseline) and after the read. ``resource.getrusage(...).ru_maxrss`` is not
used: on Linux it carries the parent's high-water mark across fork/exec, so a child started
from a 300 MB pytest process would report at least 300 MB whatever it did. Where
/proc/self/status is missing (macOS) ``ru_maxrss`` is the fallback, and there a fresh
process does start from zero.

Sizes: issue 10 states the bound for a 1 GB stream of 1 KB rows. That costs 30 s on a quiet
2-core machine (20 s writing ~1M messages, 10 s reading) and 60 s while other work shares the
CPU, so the default here is 0.5 GB (still well over the 300 MB bound: a reader that kept the
stream would fail plainly); ``JSDATA_MEMORY_GB=1`` runs the full size. ``to_pandas`` reads
100k rows of 1 KB (~100 MB as a DataFrame); its baseline is taken after imports and a
200-message warm-up read (lazy imports, worker threads, allocator arenas). A bulk read also
holds a bounded amount of raw pulls in flight (a few 8 MiB pulls and their decoding) that
does not grow with the stream, about 70 MB (fitted from the two sizes below); a frame much
smaller than that, or one a third the size of its JSON, cannot show the ratio (the wide
frame without list/dict columns: 10 MB from 100k JSON rows grew 90 MB, 20 MB from 200k grew
108 MB, ~1.8x at the margin). Those figures are in docs/performance.md, not asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jsdata
from jsdata.server import EmbeddedServer

pytestmark = pytest.mark.data

ROW_BYTES = 1000  # the padding; each JSON row is ~1 KB
MB = 1 << 20

CHILD = textwrap.dedent("""
    import json, resource, sys

    def peak_kb():
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r // 1024 if sys.platform == "darwin" else r

    def frame_bytes(df):
        # What the frame holds: pandas' memory_usage(deep=True) counts a list or dict in an
        # object column by the container's own size only, not the values in it; add those,
        # each distinct object once (keys and small ints are shared between rows).
        seen = set()

        def inner(o):
            n = 0
            vals = [x for kv in o.items() for x in kv] if isinstance(o, dict) else o
            for v in vals:
                if id(v) not in seen:
                    seen.add(id(v))
                    n += sys.getsizeof(v)
                    if isinstance(v, (list, tuple, dict)):
                        n += inner(v)
            return n

        total = int(df.memory_usage(deep=True).sum())
        for c in df.columns:
            if df[c].dtype == object:
                total += sum(inner(v) for v in df[c] if isinstance(v, (list, tuple, dict)))
        return total

    import pandas, pyarrow, jsdata
    url, stream, mode = sys.argv[1:4]
    js = jsdata.connect(url)
    s = js.stream(stream)
    if mode != "batches":  # warm up: lazy imports, worker threads, allocator arenas
        s.to_pandas(max_messages=200, progress=False)
    base = peak_kb()
    out = {"base_kb": base}
    if mode == "batches":
        rows = nbytes = 0
        for b in s.to_batches(progress=False):
            rows += b.num_rows
            nbytes += b.nbytes
        out.update(rows=rows, batch_bytes=nbytes)
    else:
        df = s.to_pandas(progress=False)
        out["peak_kb"] = peak_kb()  # before measuring the frame, which allocates
        out.update(rows=len(df), pandas_bytes=int(df.memory_usage(deep=True).sum()),
                   df_bytes=frame_bytes(df))
        if mode == "wide":
            from frames import WIDE_COLUMNS
            ids = df["id"].to_numpy()
            out["ids_ok"] = bool(len(ids) == len(set(ids.tolist())) and
                                 sorted(ids.tolist()) == list(range(len(ids))))
            out["columns"] = [c for c in df.columns if c in WIDE_COLUMNS]
    out.setdefault("peak_kb", peak_kb())
    js.close()
    print(json.dumps(out))
""")


def fill(js: jsdata.JetStream, subject: str, rows: int) -> None:
    """``rows`` JSON rows of ~1 KB, published in slices so this process stays small."""
    pad = "x" * ROW_BYTES
    step = 50_000
    for off in range(0, rows, step):
        k = min(step, rows - off)
        df = pd.DataFrame({"i": np.arange(off, off + k), "pad": [pad] * k})
        res = js.publish_dataframe(subject, df, progress=False)
        assert res.messages == k


def measure(url: str, stream: str, mode: str, tmp_path: Path) -> dict[str, int]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, str(script), url, stream, mode], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture
def big_server() -> Iterator[EmbeddedServer]:
    """A server whose (temporary) store dir is removed on stop: a GB is not left behind."""
    srv = EmbeddedServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.timeout(600)
def test_to_batches_over_half_a_gigabyte_stays_under_300_mb(big_server: EmbeddedServer,
                                                       tmp_path: Path) -> None:
    gb = float(os.environ.get("JSDATA_MEMORY_GB", "0.5"))
    rows = int(gb * (1 << 30) / (ROW_BYTES + 24))  # + the JSON around the padding
    with jsdata.connect(big_server.url) as js:
        s = js.create_stream(name="MEM", subjects=["MEM.>"])
        fill(js, "MEM.a", rows)
        stored = s.info().state.bytes
    assert stored >= gb * (1 << 30) * 0.98, f"only {stored / MB:.0f} MB stored"
    r = measure(big_server.url, "MEM", "batches", tmp_path)
    assert r["rows"] == rows
    peak_mb = r["peak_kb"] / 1024
    print(f"to_batches: {stored / MB:.0f} MB stream, peak {peak_mb:.0f} MB, "
          f"baseline {r['base_kb'] / 1024:.0f} MB")
    assert peak_mb < 300, (f"to_batches over {stored / MB:.0f} MB peaked at {peak_mb:.0f} MB "
                           f"RSS (baseline after imports {r['base_kb'] / 1024:.0f} MB)")


def test_to_pandas_peaks_under_two_and_a_half_times_the_frame(big_server: EmbeddedServer,
                                                              tmp_path: Path) -> None:
    rows = 100_000
    with jsdata.connect(big_server.url) as js:
        js.create_stream(name="MEMP", subjects=["MEMP.>"])
        fill(js, "MEMP.a", rows)
    r = measure(big_server.url, "MEMP", "pandas", tmp_path)
    assert r["rows"] == rows
    grew = (r["peak_kb"] - r["base_kb"]) * 1024
    ratio = grew / r["df_bytes"]
    print(f"to_pandas: {r['df_bytes'] / MB:.0f} MB frame, grew {grew / MB:.0f} MB ({ratio:.2f}x)")
    assert ratio < 2.5, (f"to_pandas of {rows} rows: the DataFrame is {r['df_bytes'] / MB:.0f} "
                         f"MB, the peak grew {grew / MB:.0f} MB over the baseline "
                         f"({ratio:.2f}x)")


# The bound each wide-frame case is held to: growth < factor x the frame + a fixed allowance,
# the frame's size being what it holds (``frame_bytes`` in the child: pandas' deep
# memory_usage plus the values inside its lists and dicts, which pandas leaves out).
# Issue 10 asks for 2.5x. Measured in the child process (2026-12-03, quiet, load ~0.7): the
# 13-column frame holds 49.1 MB (pandas reports 35.7 MB: it counts the tags lists and attrs
# dicts as empty containers) and the read grew 85-88 MB, 1.73-1.78x; the peak is the finished
# frame itself (the process's RSS right after the read equals its peak). It grew 94 MB
# (1.9x) before each list column's Arrow memory was freed as it was converted, and 122.8 MB
# (2.5x) before reads were packed and sized. The frame without its list and dict columns
# (9.8 MB) grew 40.8-50.2 MB, 4.2-5.1x (112.5 MB, 11.5x before). That frame is a third the
# size of its JSON, so what it shows is the fixed part: a read's raw pulls and decoding in
# flight (~25 MB here) plus allocator-held memory (Arrow's mimalloc and glibc keep per-thread
# heaps warm), which a ratio on a 10 MB frame cannot separate from the proportional part; it
# is held to 2.5x plus 40 MB, which the old buffering fails. docs/performance.md has the
# figures.
WIDE_BOUND = {"13-columns": (2.5, 0), "no-list-dict": (2.5, 40 * MB)}


@pytest.mark.parametrize("drop", [False, True], ids=["13-columns", "no-list-dict"])
def test_to_pandas_of_the_wide_json_frame_stays_bounded(
        big_server: EmbeddedServer, tmp_path: Path, drop: bool) -> None:
    """The realistic 13-column frame (tests/frames.py) written as JSON, one row per message:
    its frame is small next to its JSON, so fixed in-flight buffering shows here first."""
    from frames import WIDE_COLUMNS, wide_frame
    rows = 100_000
    df = wide_frame(rows, seed=3)
    if drop:
        df = df.drop(columns=["tags", "attrs"])
    with jsdata.connect(big_server.url) as js:
        js.create_stream(name="MEMW", subjects=["MEMW.>"])
        res = js.publish_dataframe("MEMW.{cat}", df, codec="json", progress=False)
        assert res.messages == rows
    del df
    r = measure(big_server.url, "MEMW", "wide", tmp_path)
    assert r["rows"] == rows and r["ids_ok"]
    assert r["columns"] == [c for c in WIDE_COLUMNS if not (drop and c in ("tags", "attrs"))]
    grew = (r["peak_kb"] - r["base_kb"]) * 1024
    ratio = grew / r["df_bytes"]
    print(f"to_pandas wide json: {r['df_bytes'] / MB:.1f} MB frame "
          f"({r['pandas_bytes'] / MB:.1f} MB by memory_usage(deep=True)), "
          f"grew {grew / MB:.1f} MB ({ratio:.2f}x)")
    if drop:  # no lists or dicts: nothing for pandas to leave out
        assert r["df_bytes"] == r["pandas_bytes"]
    factor, allowance = WIDE_BOUND["no-list-dict" if drop else "13-columns"]
    assert grew < factor * r["df_bytes"] + allowance, (
        f"to_pandas of {rows} wide JSON rows: the DataFrame is "
        f"{r['df_bytes'] / MB:.1f} MB, the peak grew {grew / MB:.1f} MB over "
                         f"the baseline ({ratio:.2f}x; bound {factor}x + "
                         f"{allowance / MB:.0f} MB)")
