"""DuckDB over jsdata: the jetstream:// filesystem and stream reads as Arrow scans.

DuckDB's fsspec bridge opens one file handle and reads it from several worker threads, each
doing ``seek(pos)`` then ``read(n)``; with a shared cursor one thread's seek moved another's
read and queries failed with corrupt Parquet or returned wrong numbers. These tests run real
queries on real objects and streams and compare them with pandas.
"""

from __future__ import annotations

import io
import threading

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import jsdata
from jsdata.fs import JetStreamFileSystem

duckdb = pytest.importorskip("duckdb")

ROWS = 300_000
GROUP = 40_000  # rows per Parquet row group: 8 row groups, read in parallel by DuckDB


@pytest.fixture
def fs(server):
    """A jetstream:// filesystem on the test's server (uncached, closed afterwards)."""
    JetStreamFileSystem.clear_instance_cache()
    f = fsspec.filesystem("jetstream", servers=server.url)
    try:
        yield f
    finally:
        f.close()
        JetStreamFileSystem.clear_instance_cache()


def _frame(rows: int = ROWS, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(rows, dtype=np.int64),
        "g": (np.arange(rows) % 11).astype(np.int64),
        "x": rng.random(rows),
        "s": [f"k{i % 977}" for i in range(rows)],
    })


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(df), buf, row_group_size=GROUP)
    return buf.getvalue()


def _expected(df: pd.DataFrame) -> pd.DataFrame:
    out = df.groupby("g").agg(n=("id", "size"), total=("id", "sum"), sx=("x", "sum"),
                              keys=("s", "nunique")).reset_index()
    return out.astype({"g": "int64", "n": "int64", "total": "int64", "keys": "int64"})


QUERY = ("SELECT g, count(*) AS n, sum(id) AS total, sum(x) AS sx, count(DISTINCT s) AS keys "
         "FROM read_parquet('{path}') GROUP BY g ORDER BY g")


def _query(con, path: str) -> pd.DataFrame:
    got = con.sql(QUERY.format(path=path)).df()
    return got.astype({"g": "int64", "n": "int64", "total": "int64", "keys": "int64"})


def test_duckdb_parquet_object_matches_pandas(js, fs) -> None:
    df = _frame()
    data = _parquet(df)
    assert pq.ParquetFile(io.BytesIO(data)).num_row_groups == -(-ROWS // GROUP)
    js.create_object_store(bucket="duck_one").put_bytes("t.parquet", data)
    con = duckdb.connect()
    con.execute("SET threads TO 4")  # several threads on one handle even on a small machine
    con.register_filesystem(fs)
    exp = _expected(df)
    for _ in range(4):  # each run used to fail or differ; repeat to catch a racy pass
        got = _query(con, "jetstream://duck_one/t.parquet")
        pd.testing.assert_frame_equal(got, exp, check_exact=False, rtol=1e-9)
    whole = con.sql("SELECT * FROM read_parquet('jetstream://duck_one/t.parquet') "
                    "ORDER BY id").df()
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), df, check_dtype=False)
    con.close()


def test_duckdb_glob_over_objects(js, fs) -> None:
    obs = js.create_object_store(bucket="duck_glob")
    df = _frame(120_000, seed=3)
    parts = [df.iloc[i::3].reset_index(drop=True) for i in range(3)]
    for i, part in enumerate(parts):
        obs.put_bytes(f"day/part-{i}.parquet", _parquet(part))
    obs.put_bytes("day/readme.txt", b"not parquet")
    con = duckdb.connect()
    con.execute("SET threads TO 4")
    con.register_filesystem(fs)
    got = _query(con, "jetstream://duck_glob/day/*.parquet")
    pd.testing.assert_frame_equal(got, _expected(df), check_exact=False, rtol=1e-9)
    con.close()


def test_duckdb_scans_a_stream_as_arrow(js) -> None:
    js.create_stream(name="DUCK_TRADES", subjects=["duck.trades.>"])
    df = pd.DataFrame({"sym": ["A", "B", "A", "C", "B", "A"] * 500,
                       "qty": np.arange(3000, dtype=np.int64)})
    js.publish_dataframe("duck.trades.{sym}", df)
    con = duckdb.connect()
    con.register("trades", js.stream("DUCK_TRADES").to_batches())  # a RecordBatchReader
    got = con.sql("SELECT sym, sum(qty) AS q, count(*) AS n FROM trades "
                  "GROUP BY sym ORDER BY sym").df()
    exp = df.groupby("sym").agg(q=("qty", "sum"), n=("qty", "size")).reset_index()
    pd.testing.assert_frame_equal(got, exp, check_dtype=False)
    con.close()


def test_threads_have_their_own_position(js) -> None:
    """seek in one thread, seek elsewhere in another, then read: each gets its own bytes."""
    data = bytes(range(256)) * 4096  # 1 MiB: several chunks
    js.create_object_store(bucket="duck_pos").put_bytes("b.bin", data)
    f = js.object_store("duck_pos").get("b.bin")
    a_sought, b_sought = threading.Event(), threading.Event()
    out: dict[str, bytes] = {}

    def a() -> None:
        f.seek(1000)
        a_sought.set()
        b_sought.wait(10)
        out["a"] = f.read(5000)
        out["a2"] = f.read(10)  # continues where this thread's read ended
        out["a_tell"] = str(f.tell()).encode()

    def b() -> None:
        a_sought.wait(10)
        f.seek(700_000)
        b_sought.set()
        out["b"] = f.read(3000)

    ta, tb = threading.Thread(target=a), threading.Thread(target=b)
    ta.start()
    tb.start()
    ta.join(30)
    tb.join(30)
    assert out["a"] == data[1000:6000]
    assert out["a2"] == data[6000:6010]
    assert out["a_tell"] == b"6010"
    assert out["b"] == data[700_000:703_000]
    # the file still behaves as an ordinary file for one thread, iter_chunks included
    f.seek(10)
    assert f.read(4) == data[10:14] and f.tell() == 14
    assert b"".join(f.iter_chunks()) == data[14:]
    assert f.tell() == len(data) and f.read(3) == b""
    f.seek(5)
    assert f.readline(3) == data[5:8]
    f.close()


def test_fs_cat_file_ranges(js, fs) -> None:
    data = _parquet(_frame(50_000))
    js.create_object_store(bucket="duck_cat").put_bytes("c.parquet", data)
    size = len(data)
    assert fs.cat_file("duck_cat/c.parquet", 100, 2000) == data[100:2000]
    assert fs.cat_file("duck_cat/c.parquet", -8) == data[-8:]
    assert fs.cat_file("duck_cat/c.parquet", size - 10, size + 100) == data[-10:]


def test_default_connection_filesystem_query(server, monkeypatch) -> None:
    """The documented one-liner, with the connection from JSDATA_URL."""
    monkeypatch.setenv("JSDATA_URL", server.url)
    JetStreamFileSystem.clear_instance_cache()
    js = jsdata.connect(server.url)
    try:
        df = _frame(90_000, seed=5)
        js.create_object_store(bucket="duck_env").put_bytes("e.parquet", _parquet(df))
        con = duckdb.connect()
        con.register_filesystem(fsspec.filesystem("jetstream"))
        got = _query(con, "jetstream://duck_env/e.parquet")
        pd.testing.assert_frame_equal(got, _expected(df), check_exact=False, rtol=1e-9)
        con.close()
    finally:
        fsspec.filesystem("jetstream").close()
        JetStreamFileSystem.clear_instance_cache()
        js.close()


# -- positioned reads on both surfaces ---------------------------------------------------------

_RANGES = [(o, n) for o, n in ((0, 10), (1_000_000, 70_000), (131_000, 400_000), (5, 0),
                               (2_097_100, 500), (2_097_000, 152), (777, 300_000),
                               (1_500_000, 1))]


def test_read_at_from_many_threads(js) -> None:
    data = np.random.default_rng(2).bytes(2_097_152)  # 2 MiB: 16 chunks
    js.create_object_store(bucket="duck_pread").put_bytes("r.bin", data)
    f = js.object_store("duck_pread").get("r.bin")
    f.seek(123)
    errors: list[str] = []

    def worker(k: int) -> None:
        for i in range(12):
            o, n = _RANGES[(k + i) % len(_RANGES)]
            got = f.read_at(o, n)
            if got != data[o:o + n]:
                errors.append(f"thread {k}: read_at({o}, {n}) wrong")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert f.tell() == 123 and f.read(7) == data[123:130]  # the position was not used
    assert f.read_at(len(data) + 5, 10) == b""
    with pytest.raises(ValueError, match="offset"):
        f.read_at(-1, 5)
    f.close()


async def test_read_at_and_reads_from_concurrent_tasks(ajs) -> None:
    import asyncio
    data = np.random.default_rng(3).bytes(2_097_152)
    obs = await ajs.create_object_store(bucket="duck_apread")
    await obs.put_bytes("r.bin", data)
    r = await obs.get("r.bin")
    r.seek(99)
    got = await asyncio.gather(*(r.read_at(o, n) for o, n in _RANGES * 3))
    assert got == [data[o:o + n] for o, n in _RANGES * 3]
    assert r.tell() == 99
    # plain reads from concurrent tasks are whole reads one after the other
    parts = await asyncio.gather(*(r.read(300_000) for _ in range(4)))
    assert b"".join(sorted(parts, key=lambda p: data.index(p[:64]))) == \
        data[99:99 + 1_200_000]
    assert r.tell() == 99 + 1_200_000
    await r.close()
