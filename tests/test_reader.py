"""Stream readers (to_batches / to_arrow / to_pandas / read_stream) against real servers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import msgpack
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import jsdata
from jsdata import errors
from jsdata.server import EmbeddedServer
from tests.helpers import wait_for


@pytest.fixture(scope="module")
def mjs(shared_server: EmbeddedServer) -> Iterator[jsdata.JetStream]:
    conn = jsdata.connect(shared_server.url)
    try:
        yield conn
    finally:
        conn.close()


_counter = iter(range(1_000_000))


def new_stream(js: jsdata.JetStream, *, direct: bool = True, **kw: object) -> jsdata.Stream:
    name = f"R{next(_counter)}"
    return js.create_stream(name=name, subjects=[f"{name}.>"], allow_direct=direct, **kw)


def put_json(js: jsdata.JetStream, subject: str, rows: list[dict]) -> None:
    for r in rows:
        js.publish_async(subject, json.dumps(r).encode())
    js.publish_async_complete()


@pytest.fixture(params=[True, False], ids=["direct", "consumer"])
def direct(request: pytest.FixtureRequest) -> bool:
    """Both read mechanisms, by the conditions that choose them: a stream with
    ``allow_direct`` answers reads that fit in one batch with batched direct get; a stream
    without it (and any larger read) is read through an ephemeral ordered consumer."""
    return bool(request.param)


# ---------------------------------------------------------------------------------------------
# basics

def test_to_pandas_metadata_and_attrs(mjs: jsdata.JetStream, direct: bool) -> None:
    s = new_stream(mjs, direct=direct)
    put_json(mjs, f"{s.name}.a", [{"id": i, "v": i * 1.5} for i in range(2500)])
    # direct: the whole range in one batch, as the direct-get reader asks for it
    df = s.to_pandas(batch_size=2500 if direct else 1000, progress=False)
    assert len(df) == 2500
    assert list(df.columns) == ["id", "v", "_subject", "_seq", "_time"]
    assert df["id"].tolist() == list(range(2500))
    assert df["_seq"].tolist() == list(range(1, 2501))
    assert df["_seq"].dtype == "uint64"
    assert str(df["_time"].dtype) == "datetime64[ns, UTC]"
    assert (df["_subject"] == f"{s.name}.a").all()
    assert df.attrs["jetstream"] == {"stream": s.name, "start_seq": 1, "end_seq": 2500}
    first = s.get_msg(1)
    assert df["_time"][0].value == first.time.unix_nanos()  # nanosecond exact
    if not direct:  # the ephemeral consumer is gone afterwards
        assert list(s.consumer_names()) == []


def test_to_arrow_schema_metadata(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    put_json(mjs, f"{s.name}.a", [{"x": 1}, {"x": 2}])
    t = s.to_arrow(progress=False)
    assert t.schema.field("_seq").type == pa.uint64()
    assert t.schema.field("_time").type == pa.timestamp("ns", "UTC")
    assert t.schema.field("_subject").type == pa.string()
    assert json.loads(t.schema.metadata[b"jetstream"]) == {
        "stream": s.name, "start_seq": 1, "end_seq": 2}


def test_empty_stream_and_empty_range(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = s.to_pandas(progress=False)
    assert len(df) == 0 and list(df.columns) == ["_subject", "_seq", "_time"]
    put_json(mjs, f"{s.name}.a", [{"x": 1}])
    df = s.to_pandas(start=5, progress=False)
    assert len(df) == 0
    assert df.attrs["jetstream"]["start_seq"] == 5
    assert df.attrs["jetstream"]["end_seq"] >= 4


def test_json_from_plain_nats_py(shared_server: EmbeddedServer, mjs: jsdata.JetStream) -> None:
    """Rows published as JSON by nats-py's own JetStream API read back with codec auto."""
    import nats

    s = new_stream(mjs)
    rows = [{"id": i, "name": f"n{i}", "price": i / 4, "tags": ["a", "b"][: i % 3],
             "meta": {"ok": i % 2 == 0}} for i in range(300)]

    async def produce() -> None:
        nc = await nats.connect(shared_server.url)
        js = nc.jetstream()
        for r in rows:
            await js.publish(f"{s.name}.np", json.dumps(r).encode())
        await nc.close()

    asyncio.run(produce())
    df = s.to_pandas(metadata=(), progress=False)
    assert df["id"].tolist() == list(range(300))
    assert df["name"].tolist() == [r["name"] for r in rows]
    assert df["price"].tolist() == [r["price"] for r in rows]
    assert [list(x) for x in df["tags"]] == [r["tags"] for r in rows]
    assert [m["ok"] for m in df["meta"]] == [r["meta"]["ok"] for r in rows]


def test_nested_json_becomes_struct_and_list(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    put_json(mjs, f"{s.name}.n", [{"a": {"b": 1, "c": [1, 2]}, "l": [{"x": 1}]},
                                  {"a": {"b": 2, "c": []}, "l": []}])
    t = s.to_arrow(metadata=(), progress=False)
    assert pa.types.is_struct(t.schema.field("a").type)
    assert pa.types.is_list(t.schema.field("l").type)
    assert t.column("a").to_pylist() == [{"b": 1, "c": [1, 2]}, {"b": 2, "c": []}]


def test_iso_strings_become_timestamps(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    put_json(mjs, f"{s.name}.t", [
        {"t": "2024-01-01T00:00:00Z", "u": "2024-01-01T10:00:00.123456789+02:00", "d": "x"},
        {"t": "2024-01-02T00:00:00Z", "u": None, "d": "2024-01-01"},
    ])
    t = s.to_arrow(metadata=(), progress=False)
    assert t.schema.field("t").type == pa.timestamp("ns", "UTC")
    assert t.schema.field("u").type == pa.timestamp("ns", "UTC")
    assert t.column("u")[0].value == pd.Timestamp("2024-01-01T08:00:00.123456789Z").value
    assert t.schema.field("d").type == pa.string()  # not every value is a date-time
    # an explicit schema keeps strings as strings
    t2 = s.to_arrow(schema=pa.schema([("t", pa.string())]), metadata=(), progress=False)
    assert t2.column("t").to_pylist() == ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]


# ---------------------------------------------------------------------------------------------
# ranges, filters, resume

def test_ranges_by_sequence(mjs: jsdata.JetStream, direct: bool) -> None:
    s = new_stream(mjs, direct=direct)
    put_json(mjs, f"{s.name}.a", [{"i": i} for i in range(1, 101)])
    df = s.to_pandas(start=10, end=20, progress=False)
    assert df["_seq"].tolist() == list(range(10, 21))  # both inclusive
    assert df.attrs["jetstream"] == {"stream": s.name, "start_seq": 10, "end_seq": 20}
    assert s.to_pandas(start="first", end=3, progress=False)["i"].tolist() == [1, 2, 3]
    assert len(s.to_pandas(end=10_000, progress=False)) == 100
    df = s.to_pandas(start=95, max_messages=3, progress=False)
    assert df["i"].tolist() == [95, 96, 97]
    assert df.attrs["jetstream"]["end_seq"] == 97


def test_ranges_by_time(mjs: jsdata.JetStream, direct: bool) -> None:
    s = new_stream(mjs, direct=direct)
    put_json(mjs, f"{s.name}.a", [{"g": 1, "i": i} for i in range(50)])
    time.sleep(0.05)
    put_json(mjs, f"{s.name}.a", [{"g": 2, "i": i} for i in range(50)])
    time.sleep(0.05)
    put_json(mjs, f"{s.name}.a", [{"g": 3, "i": i} for i in range(50)])
    t2_start = s.get_msg(51).time
    t2_end = s.get_msg(100).time
    df = s.to_pandas(start=t2_start, end=t2_end, progress=False)
    assert set(df["g"]) == {2} and len(df) == 50
    assert df.attrs["jetstream"] == {"stream": s.name, "start_seq": 51, "end_seq": 100}
    naive = t2_start.astimezone(timezone.utc).replace(tzinfo=None)  # naive = UTC
    assert len(s.to_pandas(start=naive, progress=False)) == 100
    future = datetime.now(timezone.utc) + timedelta(days=1)
    assert len(s.to_pandas(start=future, progress=False)) == 0
    assert len(s.to_pandas(end=datetime(2000, 1, 1, tzinfo=timezone.utc),
                           progress=False)) == 0


def test_subject_filters(mjs: jsdata.JetStream, direct: bool) -> None:
    s = new_stream(mjs, direct=direct)
    for i in range(300):
        mjs.publish_async(f"{s.name}.{['a', 'b', 'c'][i % 3]}.x", json.dumps({"i": i}).encode())
    mjs.publish_async_complete()
    a = s.to_pandas(subjects=f"{s.name}.a.x", batch_size=40, progress=False)
    assert a["i"].tolist() == list(range(0, 300, 3))
    ab = s.to_pandas(subjects=[f"{s.name}.a.*", f"{s.name}.b.>"], progress=False)
    assert ab["i"].tolist() == [i for i in range(300) if i % 3 != 2]
    wc = s.to_pandas(subjects=f"{s.name}.*.x", start=100, end=110, progress=False)
    assert wc["_seq"].tolist() == list(range(100, 111))
    few = s.to_pandas(subjects=f"{s.name}.c.x", start=1, end=9, progress=False)
    assert few["i"].tolist() == [2, 5, 8]
    assert few.attrs["jetstream"]["end_seq"] == 9


def test_resume_via_attrs(mjs: jsdata.JetStream, direct: bool) -> None:
    s = new_stream(mjs, direct=direct)
    put_json(mjs, f"{s.name}.a", [{"i": i} for i in range(10)])
    df1 = jsdata.read_stream(s.name, js=mjs, progress=False)
    put_json(mjs, f"{s.name}.a", [{"i": i} for i in range(10, 15)])
    df2 = jsdata.read_stream(s.name, js=mjs, start=df1.attrs["jetstream"]["end_seq"] + 1,
                             progress=False)
    assert df2["i"].tolist() == list(range(10, 15))
    df3 = jsdata.read_stream(s.name, js=mjs, start=df2.attrs["jetstream"]["end_seq"] + 1,
                             progress=False)
    assert len(df3) == 0
    assert df3.attrs["jetstream"]["end_seq"] + 1 == df3.attrs["jetstream"]["start_seq"]


def test_deleted_messages_are_skipped(mjs: jsdata.JetStream, direct: bool) -> None:
    s = new_stream(mjs, direct=direct)
    put_json(mjs, f"{s.name}.a", [{"i": i} for i in range(1, 31)])
    for seq in (2, 3, 10, 29):
        s.delete_msg(seq)
    df = s.to_pandas(batch_size=7, progress=False)
    assert df["i"].tolist() == [i for i in range(1, 31) if i not in (2, 3, 10, 29)]
    df = s.to_pandas(start=1, end=11, batch_size=4, progress=False)
    assert df["_seq"].tolist() == [1, 4, 5, 6, 7, 8, 9, 11]


# ---------------------------------------------------------------------------------------------
# codecs

def test_each_codec(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    mjs.publish(f"{s.name}.j", json.dumps({"a": 1, "b": "x"}).encode())
    mjs.publish(f"{s.name}.m", msgpack.packb({"a": 2, "b": "y"}),
                headers={"Content-Type": "application/msgpack"})
    sink = pa.BufferOutputStream()
    tb = pa.table({"a": [3, 4], "b": ["z", "w"]})
    with pa.ipc.new_stream(sink, tb.schema) as w:
        w.write_table(tb)
    mjs.publish(f"{s.name}.r", sink.getvalue().to_pybytes(),
                headers={"Content-Type": "application/vnd.apache.arrow.stream"})
    mjs.publish(f"{s.name}.b", b"\x00\x01binary")
    auto = s.to_pandas(progress=False)  # every message by its own Content-Type / content
    assert auto["a"].tolist()[:4] == [1, 2, 3, 4]
    assert auto["_seq"].tolist() == [1, 2, 3, 3, 4]
    assert auto["_data"].tolist()[-1] == b"\x00\x01binary"
    raw = s.to_pandas(codec="raw", progress=False)
    assert list(raw.columns) == ["_data", "_subject", "_seq", "_time"]
    assert raw["_data"][0] == b'{"a": 1, "b": "x"}'
    j = s.to_pandas(codec="json", subjects=f"{s.name}.j", progress=False)
    assert j[["a", "b"]].to_dict("records") == [{"a": 1, "b": "x"}]
    m = s.to_pandas(codec="msgpack", subjects=f"{s.name}.m", progress=False)
    assert m[["a", "b"]].to_dict("records") == [{"a": 2, "b": "y"}]
    r = s.to_arrow(codec="arrow", subjects=f"{s.name}.r", metadata=("seq",), progress=False)
    assert r.column("b").to_pylist() == ["z", "w"] and r.column("_seq").to_pylist() == [3, 3]


def test_json_arrays_and_scalars(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    mjs.publish(f"{s.name}.a", b'[{"x": 1}, {"x": 2}]')
    mjs.publish(f"{s.name}.a", b'{"x": 3}')
    mjs.publish(f"{s.name}.a", b'  {"x":\n 4}\r\n')
    df = s.to_pandas(progress=False)
    assert df["x"].tolist() == [1, 2, 3, 4]
    assert df["_seq"].tolist() == [1, 1, 2, 3]
    s2 = new_stream(mjs)
    for v in (b"5", b"6.5", b"null"):
        mjs.publish(f"{s2.name}.v", v)
    df2 = s2.to_pandas(codec="json", metadata=(), progress=False)
    assert df2["value"].tolist()[:2] == [5, 6.5] and np.isnan(df2["value"][2])
    mjs.publish(f"{s2.name}.v", b'"text"')  # one field, two JSON types: not a table
    with pytest.raises(errors.DecodeError, match="incompatible") as ei:
        s2.to_pandas(codec="json", progress=False)
    assert ei.value.sequence == 1


# ---------------------------------------------------------------------------------------------
# on_error

def _bad_stream(js: jsdata.JetStream, direct: bool = True) -> jsdata.Stream:
    s = new_stream(js, direct=direct)
    put_json(js, f"{s.name}.a", [{"i": i} for i in range(5)])
    js.publish(f"{s.name}.a", b'{"i": 5, broken')  # seq 6
    put_json(js, f"{s.name}.a", [{"i": i} for i in range(6, 10)])
    js.publish(f"{s.name}.a", b"")  # seq 11: empty
    return s


def test_on_error_raise(mjs: jsdata.JetStream, direct: bool) -> None:
    s = _bad_stream(mjs, direct)
    with pytest.raises(errors.DecodeError) as ei:
        s.to_pandas(codec="json", progress=False)
    assert ei.value.sequence == 6
    assert "6" in str(ei.value) and s.name in str(ei.value)


def test_on_error_skip_and_keep(mjs: jsdata.JetStream, direct: bool) -> None:
    s = _bad_stream(mjs, direct)
    skip = s.to_pandas(codec="json", on_error="skip", progress=False)
    assert skip["i"].tolist() == list(range(5)) + list(range(6, 10))
    keep = s.to_pandas(codec="json", on_error="keep", progress=False)
    assert len(keep) == 11
    assert list(keep.columns)[-2:] == ["_error", "_data"]
    bad = keep[keep["_error"].notna()]
    assert bad["_seq"].tolist() == [6, 11]
    assert bad["_data"].tolist() == [b'{"i": 5, broken', b""]
    assert keep["_error"].isna().sum() == 9


def test_schema_mismatch_is_a_decode_error(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    put_json(mjs, f"{s.name}.a", [{"n": 1}, {"n": "two"}, {"n": 3}])
    schema = pa.schema([("n", pa.int64())])
    with pytest.raises(errors.DecodeError) as ei:
        s.to_pandas(schema=schema, progress=False)
    assert ei.value.sequence == 2
    ok = s.to_pandas(schema=schema, on_error="skip", progress=False)
    assert ok["n"].tolist() == [1, 3]


# ---------------------------------------------------------------------------------------------
# schema, columns, metadata, headers

def test_schema_and_columns(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    put_json(mjs, f"{s.name}.a", [{"a": 1, "b": "2024-01-01T00:00:00Z", "c": "x"},
                                  {"a": 2, "b": "2024-01-02T00:00:00Z", "c": "y", "d": 1}])
    schema = pa.schema([("a", pa.float64()), ("b", pa.timestamp("ns", "UTC")),
                        ("z", pa.string())])
    t = s.to_arrow(schema=schema, metadata=(), progress=False)
    assert t.schema == schema.with_metadata(t.schema.metadata)
    assert t.column("a").to_pylist() == [1.0, 2.0]
    assert t.column("z").to_pylist() == [None, None]
    t2 = s.to_arrow(columns=["c", "a"], metadata=("seq",), progress=False)
    assert t2.column_names == ["c", "a", "_seq"]
    df = s.to_pandas(metadata=False, progress=False)
    assert list(df.columns) == ["a", "b", "c", "d"]
    assert df["d"].isna().tolist() == [True, False]
    with pytest.raises(errors.InvalidArgumentError, match="metadata"):
        s.to_pandas(metadata=("subject", "offset"))


def test_include_headers(mjs: jsdata.JetStream, direct: bool) -> None:
    s = new_stream(mjs, direct=direct)
    mjs.publish(f"{s.name}.a", b'{"x": 1}', headers={"A": "1", "B": ["2", "3"]})
    mjs.publish(f"{s.name}.a", b'{"x": 2}')
    t = s.to_arrow(include_headers=True, progress=False)
    assert t.schema.field("_headers").type == pa.map_(pa.string(), pa.string())
    assert t.column("_headers").to_pylist() == [[("A", "1"), ("B", "2"), ("B", "3")], []]
    df = s.to_pandas(include_headers=True, progress=False)
    assert df["_headers"].tolist() == [{"A": "1", "B": "2"}, {}]


def test_dtype_backends(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    put_json(mjs, f"{s.name}.a", [{"n": 1}, {"n": None}])
    assert s.to_pandas(progress=False)["n"].dtype == "float64"
    assert s.to_pandas(dtype_backend="numpy_nullable", progress=False)["n"].dtype == "Int64"
    assert isinstance(s.to_pandas(dtype_backend="pyarrow", progress=False)["n"].dtype,
                      pd.ArrowDtype)


def test_bad_read_options(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    with pytest.raises(errors.InvalidArgumentError, match="unknown read option"):
        s.to_pandas(strat=1)
    with pytest.raises(errors.InvalidArgumentError, match="on_error"):
        s.to_pandas(on_error="ignore")
    with pytest.raises(errors.InvalidArgumentError, match="start"):
        s.to_pandas(start="last")
    with pytest.raises(errors.InvalidArgumentError, match="start"):
        s.to_pandas(start=0)
    with pytest.raises(errors.InvalidArgumentError, match="batch_size"):
        s.to_arrow(batch_size=0)
    with pytest.raises(errors.InvalidArgumentError, match="unknown codec"):
        s.to_arrow(codec="xml")
    with pytest.raises(errors.InvalidArgumentError, match="schema"):
        s.to_arrow(schema={"a": "int"})
    with pytest.raises(errors.InvalidSubjectError):
        s.to_arrow(subjects="a..b")
    with pytest.raises(errors.StreamNotFoundError):
        jsdata.read_stream("NOPE_NOT_THERE", js=mjs)


# ---------------------------------------------------------------------------------------------
# streaming

def test_to_batches_is_a_record_batch_reader(mjs: jsdata.JetStream, direct: bool) -> None:
    s = new_stream(mjs, direct=direct)
    put_json(mjs, f"{s.name}.a", [{"i": i, "s": str(i)} for i in range(2345)])
    reader = s.to_batches(batch_size=500, progress=False)
    assert isinstance(reader, pa.RecordBatchReader)
    assert reader.schema.names == ["i", "s", "_subject", "_seq", "_time"]
    sizes = []
    last = None
    for b in reader:
        sizes.append(b.num_rows)
        meta = json.loads(b.schema.metadata[b"jetstream"])
        if last is not None:
            assert meta["start_seq"] == last + 1  # consecutive, resumable per batch
        last = meta["end_seq"]
    assert sum(sizes) == 2345 and max(sizes) <= 500
    assert last == 2345
    table = s.to_batches(batch_size=1000, progress=False).read_all()
    assert table.num_rows == 2345


def test_to_batches_schema_drift(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    put_json(mjs, f"{s.name}.a", [{"a": i} for i in range(10)])
    put_json(mjs, f"{s.name}.a", [{"a": i + 0.5, "b": "new"} for i in range(10)])
    with pytest.raises(errors.DecodeError, match="schema") as ei:
        s.to_batches(batch_size=10, progress=False).read_all()
    assert ei.value.sequence == 11
    # to_arrow unifies: int -> float, the new column filled with nulls before it appears
    t = s.to_arrow(batch_size=10, metadata=(), progress=False)
    assert t.schema.field("a").type == pa.float64()
    assert t.column("b").to_pylist() == [None] * 10 + ["new"] * 10
    # an explicit schema makes streaming work
    schema = pa.schema([("a", pa.float64()), ("b", pa.string())])
    t2 = s.to_batches(batch_size=10, schema=schema, metadata=(), progress=False).read_all()
    assert t2.num_rows == 20 and t2.schema.names == ["a", "b"]


def test_to_batches_stop_early_cleans_up(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs, direct=False)
    put_json(mjs, f"{s.name}.a", [{"i": i} for i in range(1000)])
    reader = s.to_batches(batch_size=100, progress=False)
    first = reader.read_next_batch()
    assert first.num_rows == 100
    del reader  # released when exhausted or garbage-collected
    wait_for(lambda: list(s.consumer_names()) == [], timeout=20,
             what="the reader's consumer to be deleted")


def test_bounded_read_while_producing(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    put_json(mjs, f"{s.name}.a", [{"i": i} for i in range(2000)])
    import threading
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set() and i < 20000:
            mjs.publish_async(f"{s.name}.a", b'{"i": -1}')
            i += 1
        mjs.publish_async_complete()

    t = threading.Thread(target=produce)
    t.start()
    try:
        df = s.to_pandas(batch_size=500, progress=False)
    finally:
        stop.set()
        t.join()
    end = df.attrs["jetstream"]["end_seq"]
    assert end >= 2000 and len(df) == end
    assert df["_seq"].tolist() == list(range(1, end + 1))


def test_progress_bar(mjs: jsdata.JetStream, capsys: pytest.CaptureFixture[str]) -> None:
    s = new_stream(mjs)
    put_json(mjs, f"{s.name}.a", [{"i": i} for i in range(100)])
    s.to_pandas(progress=True)
    err = capsys.readouterr().err
    assert "reading " + s.name in err and "100" in err
    s.to_pandas()  # "auto": off outside notebooks
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------------------------
# asyncio surface

async def test_asyncio_reads(ajs: jsdata.aio.JetStream) -> None:
    s = await ajs.create_stream(name="AR", subjects=["AR.>"], allow_direct=True)
    for i in range(1200):
        await ajs.publish_async("AR.x", json.dumps({"i": i}).encode())
    await ajs.publish_async_complete()
    rs = await s.to_batches(batch_size=500, progress=False)
    n = 0
    async with rs:
        async for b in rs:
            assert isinstance(b, pa.RecordBatch)
            n += b.num_rows
    assert n == 1200 and rs.end_seq == 1200
    t = await s.to_arrow(start=1001, progress=False)
    assert t.column("i").to_pylist() == list(range(1000, 1200))
    df = await jsdata.read_stream("AR", js=ajs, end=3, progress=False)
    assert df["i"].tolist() == [0, 1, 2]
    rs2 = await s.to_batches(batch_size=100, progress=False)
    await rs2.aclose()  # stopping early leaves nothing running


def test_reader_numbers_are_exact(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    vals = [0.1, 1 / 3, 1e300, -0.0, 123456789012345678, 2**63 - 1]
    for v in vals:
        mjs.publish(f"{s.name}.a", json.dumps({"v": v}).encode())
    got = s.to_arrow(metadata=(), progress=False).column("v").to_pylist()
    assert got[:4] == vals[:4]
    assert [int(x) for x in got[4:]] == [int(np.float64(v)) for v in vals[4:]]


async def test_mechanism_choice_and_consumer_loss(ajs: jsdata.aio.JetStream) -> None:
    from jsdata.frames import reader
    s = await ajs.create_stream(name="MC", subjects=["MC.>"], allow_direct=True)
    for i in range(3000):
        await ajs.publish_async("MC.x", json.dumps({"i": i}).encode())
    await ajs.publish_async_complete()
    o = reader.ReadOptions.parse({"batch_size": 1000})
    assert (await reader._make_plan(s, o)).direct is False  # bulk: ephemeral consumer
    o_small = reader.ReadOptions.parse({"start": 2500})
    assert (await reader._make_plan(s, o_small)).direct is True  # one request: direct get
    o_filters = reader.ReadOptions.parse({"subjects": ["MC.x", "MC.y"], "start": 2990})
    assert (await reader._make_plan(s, o_filters)).direct is False
    o_one_batch = reader.ReadOptions.parse({"batch_size": 3000})
    assert (await reader._make_plan(s, o_one_batch)).direct is True  # fits one batch
    o_max = reader.ReadOptions.parse({"max_messages": 10})
    assert (await reader._make_plan(s, o_max)).direct is True
    nd = await ajs.create_stream(name="MCND", subjects=["MCND.>"])  # no allow_direct
    await ajs.publish("MCND.x", b"{}")
    assert (await reader._make_plan(nd, o_small)).direct is False

    # the ephemeral consumer disappears mid-read: recreated after the last message read
    # (at most 2 batches are fetched ahead, so later pulls meet the deleted consumer: the
    # server answers them with a status (a reset) or, mid-deletion, not at all (a resume))
    rs = await s.to_batches(batch_size=500, progress=False)
    got: list[int] = []
    deleted = False
    async with rs:
        async for b in rs:
            got += b.column("i").to_pylist()
            if not deleted:
                deleted = True
                async for name in s.consumer_names():
                    await s.delete_consumer(name)
    assert got == list(range(3000))
    assert rs._fetcher.resets + rs._fetcher.resumes >= 1


def test_whole_table_read_over_several_pulls_returns_every_message_once(js) -> None:
    """A default whole-table read pulls a small first batch, then larger ones: no gaps, no
    repeats across the pull boundaries."""
    import pandas as pd

    s = js.create_stream(name="BIGREAD", subjects=["bigread.>"])
    n = 25_000
    js.publish_dataframe("bigread.x", pd.DataFrame({"i": range(n)}), progress=False)
    t = s.to_arrow(progress=False)
    assert t.num_rows == n
    assert t.column("_seq").to_pylist() == list(range(1, n + 1))
    assert t.column("i").to_pylist() == list(range(n))
