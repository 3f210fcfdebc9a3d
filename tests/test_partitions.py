"""The partition planner and read_partition (both surfaces), against a real server."""

from __future__ import annotations

import pickle
import subprocess
import sys
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
import pytest

import jsdata
from jsdata import errors
from jsdata.partitions import StreamPartition
from tests.helpers import wait_for


def _fill(js, name: str, rows: int, *, direct: bool = True, offset: int = 0) -> None:
    if offset == 0:
        js.create_stream(name=name, subjects=[f"{name}.*"], allow_direct=direct)
    df = pd.DataFrame({"id": range(offset, offset + rows),
                       "region": [("eu", "us", "ap")[i % 3] for i in range(rows)]})
    res = js.publish_dataframe(f"{name}.{{region}}", df, progress=False)
    assert res.rows == rows


def _read_all(parts, url, **read) -> pa.Table:
    return pa.concat_tables([jsdata.read_partition(p, servers=url, **read) for p in parts],
                            promote_options="permissive")


@pytest.mark.parametrize("direct", [True, False])
def test_plan_covers_range_exactly_once(js, server, direct):
    _fill(js, "PCOV", 1000, direct=direct)
    s = js.stream("PCOV")
    parts = s.partitions(n=7)
    assert len(parts) == 7
    assert parts[0].start_seq == 1 and parts[-1].end_seq == 1000
    for a, b in zip(parts, parts[1:], strict=False):
        assert b.start_seq == a.end_seq + 1  # contiguous and disjoint
    assert sum(p.rows_estimate for p in parts) == 1000
    t = _read_all(parts, server.url)
    assert sorted(t.column("id").to_pylist()) == list(range(1000))
    assert t.column("_seq").to_pylist() == list(range(1, 1001))
    # no durable state left behind by the reads
    assert list(s.consumer_names()) == []


def test_target_rows_and_defaults(js, server):
    _fill(js, "PTGT", 1000)
    s = js.stream("PTGT")
    assert len(s.partitions(target_rows=300)) == 4
    assert len(s.partitions()) == 1  # default: 500,000 rows per partition
    assert len(s.partitions(n=5000)) == 1000  # never more partitions than sequences


def test_plan_is_a_snapshot(js, server):
    _fill(js, "PSNAP", 300)
    parts = js.stream("PSNAP").partitions(n=3)
    _fill(js, "PSNAP", 200, offset=300)  # written after planning
    t = _read_all(parts, server.url)
    assert t.num_rows == 300
    assert max(t.column("id").to_pylist()) == 299


def test_subject_filter_applied_by_server(js, server):
    _fill(js, "PSUB", 900)
    s = js.stream("PSUB")
    parts = s.partitions(n=4, subjects="PSUB.eu")
    assert all(p.subjects == ("PSUB.eu",) for p in parts)
    assert sum(p.rows_estimate for p in parts) == 300
    t = _read_all(parts, server.url)
    assert set(t.column("_subject").to_pylist()) == {"PSUB.eu"}
    assert sorted(t.column("id").to_pylist()) == list(range(0, 900, 3))
    two = _read_all(s.partitions(n=2, subjects=["PSUB.eu", "PSUB.ap"]), server.url)
    assert two.num_rows == 600


def test_sparse_filter_gives_balanced_partitions(js, server):
    """Cuts follow the matching messages, not the sequences: a subject found only in the
    last fifth of the stream (and sprinkled thinly before) still splits into partitions of
    about equal size, each with an exact row estimate."""
    js.create_stream(name="PBAL", subjects=["PBAL.*"], allow_direct=True)
    kind = ["rare" if (i >= 800 or i % 100 == 0) else "common" for i in range(1000)]
    df = pd.DataFrame({"id": range(1000), "kind": kind})
    js.publish_dataframe("PBAL.{kind}", df, progress=False)
    s = js.stream("PBAL")
    parts = s.partitions(n=4, subjects="PBAL.rare")
    assert len(parts) == 4
    assert parts[0].start_seq == 1 and parts[-1].end_seq == 1000
    for a, b in zip(parts, parts[1:], strict=False):
        assert b.start_seq == a.end_seq + 1
    tables = [jsdata.read_partition(p, servers=server.url) for p in parts]
    sizes = [t.num_rows for t in tables]
    assert sum(sizes) == 208  # 200 in the tail, 8 sprinkled before it
    assert [p.rows_estimate for p in parts] == sizes  # counted by the server, exactly
    assert max(sizes) - min(sizes) <= 8, sizes  # sequence-even cuts would give 2/2/2/202
    got = sorted(i for t in tables for i in t.column("id").to_pylist())
    assert got == [i for i in range(1000) if kind[i] == "rare"]
    assert list(s.consumer_names()) == []  # the planner's probes are gone


def test_start_end_by_sequence_and_time(js, server):
    _fill(js, "PTIME", 100)
    wait_for(lambda: js.stream("PTIME").get_msg(100).time is not None)
    cut = js.stream("PTIME").get_msg(100).time
    mark = datetime.now(timezone.utc)
    while mark <= cut:
        mark = datetime.now(timezone.utc)
    _fill(js, "PTIME", 50, offset=100)
    s = js.stream("PTIME")
    by_time = s.partitions(n=2, start=mark)
    assert by_time[0].start_seq == 101 and by_time[-1].end_seq == 150
    assert _read_all(by_time, server.url).column("id").to_pylist() == list(range(100, 150))
    until = s.partitions(n=3, end=cut)
    assert until[-1].end_seq == 100
    by_seq = s.partitions(n=3, start=10, end=19)
    assert [(p.start_seq, p.end_seq) for p in by_seq] == [(10, 12), (13, 15), (16, 19)]
    assert s.partitions(start=151) == []  # an empty range plans no partitions


def test_read_twice_same_table_and_pickle(js, server):
    _fill(js, "PTWICE", 500)
    p = js.stream("PTWICE").partitions(n=2)[1]
    p2 = pickle.loads(pickle.dumps(p))
    assert p2 == p and isinstance(p2, StreamPartition)
    a = jsdata.read_partition(p, servers=server.url, columns=["id"], metadata=["seq"])
    b = jsdata.read_partition(p2, servers=server.url, columns=["id"], metadata=["seq"])
    assert a.equals(b)
    assert a.column_names == ["id", "_seq"]
    assert a.num_rows == p.end_seq - p.start_seq + 1
    assert b'"start_seq": 251' in a.schema.metadata[b"jetstream"]


def test_read_options_apply(js, server):
    js.create_stream(name="PBAD", subjects=["PBAD.*"], allow_direct=True)
    js.publish("PBAD.a", b'{"x": 1}')
    js.publish("PBAD.a", b"not json{")
    js.publish("PBAD.a", b'{"x": 3}')
    (p,) = js.stream("PBAD").partitions()
    with pytest.raises(errors.DecodeError) as ei:
        jsdata.read_partition(p, servers=server.url, codec="json")
    assert ei.value.sequence == 2
    t = jsdata.read_partition(p, servers=server.url, codec="json", on_error="skip",
                              metadata=())
    assert t.column("x").to_pylist() == [1, 3]
    raw = jsdata.read_partition(p, servers=server.url, codec="raw", max_messages=2)
    assert raw.num_rows == 2


def test_bad_arguments(js, server):
    _fill(js, "PARGS", 10)
    s = js.stream("PARGS")
    with pytest.raises(errors.InvalidArgumentError, match="n must be"):
        s.partitions(n=0)
    with pytest.raises(errors.InvalidArgumentError, match="target_rows"):
        s.partitions(target_rows=-1)
    with pytest.raises(errors.InvalidArgumentError, match="not both"):
        s.partitions(n=2, target_rows=2)
    with pytest.raises(errors.InvalidArgumentError, match="start"):
        s.partitions(start="yesterday")
    (p,) = s.partitions()
    with pytest.raises(errors.InvalidArgumentError, match="fixed by the partition"):
        jsdata.read_partition(p, servers=server.url, start=3)
    with pytest.raises(errors.InvalidArgumentError, match="StreamPartition"):
        jsdata.read_partition("PARGS", servers=server.url)
    with pytest.raises(errors.InvalidArgumentError, match="unknown read option"):
        jsdata.read_partition(p, servers=server.url, colums=["id"])
    gone = StreamPartition("PNOPE", None, 1, 5, 5)
    with pytest.raises(errors.StreamNotFoundError):
        jsdata.read_partition(gone, servers=server.url)


async def test_async_surface(ajs, server):
    await ajs.create_stream(name="PASYNC", subjects=["PASYNC.*"])
    for i in range(60):
        await ajs.publish(f"PASYNC.{'ab'[i % 2]}", f'{{"i": {i}}}'.encode())
    s = await ajs.stream("PASYNC")
    parts = await s.partitions(n=3, subjects="PASYNC.b")
    assert len(parts) == 3
    own = [await jsdata.aio.read_partition(p, server.url) for p in parts]
    shared = [await jsdata.aio.read_partition(p, js=ajs) for p in parts]
    assert [t.num_rows for t in own] == [t.num_rows for t in shared]
    got = sorted(i for t in own for i in t.column("i").to_pylist())
    assert got == list(range(1, 60, 2))
    assert [n async for n in s.consumer_names()] == []


def test_faces():
    assert jsdata.StreamPartition is StreamPartition
    assert jsdata.aio.StreamPartition is StreamPartition
    from jsdata import partitions
    assert jsdata.read_partition is partitions.read_partition
    assert jsdata.aio.read_partition is partitions.aread_partition
    assert "read_partition" in dir(jsdata) and "read_partition" in dir(jsdata.aio)


def test_import_jsdata_never_imports_engines():
    code = ("import sys, jsdata, jsdata.aio, jsdata.partitions; jsdata.read_partition; "
            "jsdata.aio.read_partition; "
            "bad = [m for m in ('dask', 'distributed', 'ray', 'pyspark') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_large_partitions_read_through_a_bounded_consumer(js, server):
    # partitions larger than a direct-get batch are read with an ephemeral consumer that
    # starts mid-stream and stops at the partition's end
    _fill(js, "PLARGE", 30_000)
    s = js.stream("PLARGE")
    parts = s.partitions(n=2)
    assert [(p.start_seq, p.end_seq) for p in parts] == [(1, 15_000), (15_001, 30_000)]
    tables = [jsdata.read_partition(p, servers=server.url, metadata=["seq"]) for p in parts]
    assert [t.num_rows for t in tables] == [15_000, 15_000]
    assert tables[1].column("_seq").to_pylist() == list(range(15_001, 30_001))
    assert list(s.consumer_names()) == []
