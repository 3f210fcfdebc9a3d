"""Round trips keep dtypes, and bad frames are refused (issue 10, part B).

Every test writes with ``publish_dataframe`` to a real nats-server and reads back. The
process-wide schema cache is cleared before each read, so the reader has to find the
recorded schema the way another process would: in the messages' headers or in the
stream's metadata.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jsdata
from jsdata import errors
from jsdata.frames import dtypes
from jsdata.server import EmbeddedServer

CODECS = ["json", "msgpack", "arrow"]
_counter = iter(range(1_000_000))


@pytest.fixture(scope="module")
def mjs(shared_server: EmbeddedServer) -> Iterator[jsdata.JetStream]:
    """One blocking connection for the module (tests use their own stream names)."""
    conn = jsdata.connect(shared_server.url)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    dtypes.clear_cache()
    yield
    dtypes.clear_cache()


def new_stream(js: jsdata.JetStream, **kw: object) -> jsdata.Stream:
    name = f"D{next(_counter)}"
    return js.create_stream(name=name, subjects=[f"{name}.>"], **kw)


def wide_frame(n: int = 6) -> pd.DataFrame:
    """Every dtype the issue names, with NA/NaN/None, two zones and two units."""
    def cyc(vals: list) -> list:
        return [vals[i % len(vals)] for i in range(n)]

    ts = pd.to_datetime(cyc(["2024-01-01 10:00:00.123456789", "2024-06-01 00:00:00",
                             None, "1999-12-31 23:59:59.5"]), format="ISO8601")
    return pd.DataFrame({
        "i8": np.array(cyc([1, -2, 127, -128]), dtype="int8"),
        "i16": np.array(cyc([1, -2, 32767]), dtype="int16"),
        "i32": np.array(cyc([1, -2, 2**31 - 1]), dtype="int32"),
        "i64": np.array(cyc([1, -2, 2**63 - 1, -(2**63)]), dtype="int64"),
        "u8": np.array(cyc([0, 255]), dtype="uint8"),
        "u16": np.array(cyc([0, 65535]), dtype="uint16"),
        "u32": np.array(cyc([0, 2**32 - 1]), dtype="uint32"),
        "u64": np.array(cyc([0, 2**64 - 1, 12345]), dtype="uint64"),
        "f32": np.array(cyc([0.1, np.nan, 1e30, -2.5, 16777217.0]), dtype="float32"),
        "f64": np.array(cyc([0.1, np.nan, 1 / 3, 100.0, None]), dtype="float64"),
        "b": np.array(cyc([True, False])),
        "cat": pd.Categorical(cyc(["a", "b", None]), categories=["b", "a", "unused"]),
        "ocat": pd.Categorical(cyc(["lo", "hi"]), categories=["lo", "mid", "hi"], ordered=True),
        "tz_ny_ns": ts.astype("datetime64[ns]").tz_localize("America/New_York"),
        "tz_tokyo_us": ts.astype("datetime64[us]").tz_localize("Asia/Tokyo"),
        "naive_ns": ts.astype("datetime64[ns]"),
        "naive_us": ts.astype("datetime64[us]"),
        "d": cyc([dt.date(2024, 1, 1), None, dt.date(1970, 1, 2), dt.date(2100, 12, 31)]),
        "I64": pd.array(cyc([1, None, -(2**62)]), dtype="Int64"),
        "I8": pd.array(cyc([None, 7]), dtype="Int8"),
        "bn": pd.array(cyc([True, None, False]), dtype="boolean"),
        "s": pd.array(cyc(["x", None, "ü", ""]), dtype="string"),
        "plain_s": cyc(["2024-01-01T00:00:00Z", None, "looks like a date, is text"]),
        "lst": cyc([[1, 2], [], None, [3]]),
        "lst_s": cyc([["a"], ["b", "c"], [], None]),
        "dct": cyc([{"k": 1, "v": "a"}, {"k": 2, "v": None}, {"k": 4, "v": "d"}]),
    })


def assert_same(back: pd.DataFrame, df: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(back, df, check_dtype=True)
    for c in ("lst", "lst_s"):  # lists come back as lists, not numpy arrays
        if c in df:
            assert all(v is None or isinstance(v, list) for v in back[c])


# ---------------------------------------------------------------------------------------------
# round trips

@pytest.mark.parametrize("codec", CODECS)
def test_every_dtype_round_trips_blocking(js: jsdata.JetStream, codec: str) -> None:
    s = new_stream(js)
    df = wide_frame()
    res = js.publish_dataframe(f"{s.name}.x", df, codec=codec)
    assert res.rows == len(df)
    dtypes.clear_cache()
    assert_same(s.to_pandas(metadata=(), progress=False), df)
    dtypes.clear_cache()
    assert_same(jsdata.read_stream(s.name, js=js, metadata=()), df)
    # to_arrow has the exact Arrow types of the frame
    t = s.to_arrow(metadata=())
    want = pa.Schema.from_pandas(df, preserve_index=False)
    assert t.schema.remove_metadata() == want.remove_metadata()
    # ... and pandas' metadata, so pyarrow's own to_pandas() agrees (lists as arrays)
    pd.testing.assert_frame_equal(t.to_pandas(), df, check_dtype=True)


@pytest.mark.parametrize("codec", CODECS)
async def test_every_dtype_round_trips_asyncio(ajs: jsdata.aio.JetStream, codec: str) -> None:
    name = f"A{next(_counter)}"
    s = await ajs.create_stream(name=name, subjects=[f"{name}.>"])
    df = wide_frame(9)
    await ajs.publish_dataframe(f"{name}.x", df, codec=codec)
    dtypes.clear_cache()
    assert_same(await s.to_pandas(metadata=()), df)
    dtypes.clear_cache()
    assert_same(await jsdata.read_stream(name, js=ajs, metadata=()), df)


@pytest.mark.parametrize("codec", CODECS)
def test_to_batches_keep_types(mjs: jsdata.JetStream, codec: str) -> None:
    s = new_stream(mjs)
    df = wide_frame(30)
    mjs.publish_dataframe(f"{s.name}.x", df, codec=codec,
                          rows_per_message=7 if codec == "arrow" else None)
    dtypes.clear_cache()
    reader = s.to_batches(batch_size=2, metadata=())
    batches = list(reader)
    assert len(batches) > 1
    t = pa.Table.from_batches(batches)
    assert t.schema.remove_metadata() == pa.Schema.from_pandas(
        df, preserve_index=False).remove_metadata()
    pd.testing.assert_frame_equal(batches[0].to_pandas(), df.iloc[:batches[0].num_rows])


@pytest.mark.parametrize("codec", CODECS)
def test_read_from_the_middle_finds_the_schema(mjs: jsdata.JetStream, codec: str) -> None:
    s = new_stream(mjs)
    df = wide_frame(8)
    mjs.publish_dataframe(f"{s.name}.x", df, codec=codec, rows_per_message=1)
    key = next(k for k in s.info().config.metadata if k.startswith(dtypes.META_PREFIX))
    dtypes.clear_cache()
    back = s.to_pandas(start=5, metadata=())  # message 1 (with the definition) is not read
    assert_same(back, df.iloc[4:].reset_index(drop=True))
    # the first message gone altogether: the stream's metadata still has the schema
    s.purge(sequence=4)
    dtypes.clear_cache()
    assert_same(s.to_pandas(metadata=()), df.iloc[3:].reset_index(drop=True))
    assert key in s.info().config.metadata


def test_definition_header_alone_is_enough(mjs: jsdata.JetStream) -> None:
    """Without the stream metadata (removed here), the first message of the write holds it."""
    s = new_stream(mjs)
    df = wide_frame(5)
    mjs.publish_dataframe(f"{s.name}.x", df)
    cfg = s.info().config
    cfg.metadata = {k: v for k, v in (cfg.metadata or {}).items()
                    if not k.startswith(dtypes.META_PREFIX) and not k.startswith("_nats.")}
    mjs.update_stream(cfg)
    assert not any(k.startswith(dtypes.META_PREFIX) for k in s.info().config.metadata or {})
    dtypes.clear_cache()
    assert_same(s.to_pandas(metadata=()), df)
    # reading from the middle now cannot know the types: inferred, with a warning
    dtypes.clear_cache()
    with pytest.warns(UserWarning, match="schema"):
        back = s.to_pandas(start=2, metadata=())
    assert back["i8"].dtype == "int64"  # JSON's own inference
    assert back["i8"].tolist() == df["i8"].iloc[1:].tolist()


def test_reads_spanning_writes_with_different_schemas(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    a = pd.DataFrame({"x": np.array([1, 2], dtype="int8"),
                      "tag": pd.Categorical(["p", "q"]),
                      "n": pd.array([1, None], dtype="Int64")})
    b = pd.DataFrame({"x": np.array([3, 300], dtype="int16"),
                      "f": np.array([0.1, 0.2], dtype="float32"),
                      "n": pd.array([None, 5], dtype="Int64")})
    mjs.publish_dataframe(f"{s.name}.a", a)
    mjs.publish_dataframe(f"{s.name}.b", b, codec="msgpack")
    mjs.publish_dataframe(f"{s.name}.a", a, codec="arrow")
    dtypes.clear_cache()
    back = s.to_pandas(metadata=(), batch_size=2)
    assert len(back) == 6
    assert back["x"].dtype == "int16"  # int8 and int16 unify to int16
    assert back["x"].tolist() == [1, 2, 3, 300, 1, 2]
    assert back["n"].dtype == "Int64"  # recorded alike by both writes
    assert back["n"].isna().tolist() == [False, True, True, False, False, True]
    assert back["f"].dtype == "float32"
    assert back["f"].iloc[2] == np.float32(0.1)
    assert isinstance(back["tag"].dtype, pd.CategoricalDtype)
    assert back["tag"].isna().tolist() == [False, False, True, True, False, False]
    # one write's rows only: exactly that write's dtypes
    only_b = s.to_pandas(subjects=f"{s.name}.b", metadata=())
    pd.testing.assert_frame_equal(only_b, b)


def test_schema_overrides_the_recorded_one(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = wide_frame(4)
    mjs.publish_dataframe(f"{s.name}.x", df)
    dtypes.clear_cache()
    schema = pa.schema([("i8", pa.int64()), ("I64", pa.float64()), ("plain_s", pa.string())])
    back = s.to_pandas(schema=schema, metadata=())
    assert list(back.columns) == ["i8", "I64", "plain_s"]
    assert back["i8"].dtype == "int64" and back["I64"].dtype == "float64"
    assert back["i8"].tolist() == df["i8"].astype("int64").tolist()
    # a schema carrying pandas metadata brings its dtypes along
    pschema = pa.Schema.from_pandas(df[["I64", "bn"]], preserve_index=False)
    back = s.to_pandas(schema=pschema, metadata=())
    pd.testing.assert_frame_equal(back, df[["I64", "bn"]])


@pytest.mark.parametrize("codec", CODECS)
def test_dtype_backends(mjs: jsdata.JetStream, codec: str) -> None:
    s = new_stream(mjs)
    df = wide_frame(4)
    mjs.publish_dataframe(f"{s.name}.x", df, codec=codec)
    dtypes.clear_cache()
    arrow = s.to_pandas(metadata=(), dtype_backend="pyarrow")
    want = pa.Schema.from_pandas(df, preserve_index=False)
    for f in want:
        assert arrow[f.name].dtype == pd.ArrowDtype(f.type), f.name
    assert arrow["u64"].tolist() == df["u64"].tolist()
    nullable = jsdata.read_stream(s.name, js=mjs, metadata=(), dtype_backend="numpy_nullable")
    assert nullable["i8"].dtype == "Int8" and nullable["u64"].dtype == "UInt64"
    assert nullable["f32"].dtype == "Float32" and nullable["b"].dtype == "boolean"
    assert nullable["I64"].dtype == "Int64" and nullable["bn"].dtype == "boolean"
    assert str(nullable["tz_tokyo_us"].dtype) == "datetime64[us, Asia/Tokyo]"
    assert nullable["I64"].isna().tolist() == df["I64"].isna().tolist()


def test_other_clients_still_see_plain_json(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame({"x": np.array([1], dtype="int8"), "f": np.array([0.1], "float32")})
    mjs.publish_dataframe(f"{s.name}.x", df)
    m = s.get_msg(1)
    assert json.loads(m.data) == {"x": 1, "f": 0.1}
    assert m.headers["Content-Type"] == "application/json"
    assert len(m.headers["Jsdata-Schema"]) == 16
    mjs.publish_dataframe(f"{s.name}.x", df)
    m2 = s.get_msg(2)  # later writes of a known schema: the id again, and one definition
    assert m2.headers["Jsdata-Schema"] == m.headers["Jsdata-Schema"]
    # include_headers shows the user's headers, not jsdata's schema plumbing
    back = s.to_pandas(include_headers=True)
    assert back["_headers"][0] == {"Content-Type": "application/json"}


# ---------------------------------------------------------------------------------------------
# refusals

def _count(s: jsdata.Stream) -> int:
    return s.info().state.messages


def test_duplicate_columns_are_refused(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(errors.DuplicateColumnError, match="'a'") as ei:
        mjs.publish_dataframe(f"{s.name}.x", df)
    assert ei.value.column == "a"
    assert isinstance(ei.value, errors.InvalidArgumentError)
    t = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["k", "k"])
    with pytest.raises(errors.DuplicateColumnError, match="'k'"):
        mjs.publish_dataframe(f"{s.name}.x", t, codec="arrow")
    with pytest.raises(errors.DuplicateColumnError, match="'1'"):  # 1 and "1" collide
        mjs.publish_dataframe(f"{s.name}.x", pd.DataFrame({1: [1], "1": [2]}))
    assert _count(s) == 0


class _Thing:
    pass


@pytest.mark.parametrize("codec", CODECS)
def test_object_columns_are_refused(mjs: jsdata.JetStream, codec: str) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame({"ok": [1, 2], "obj": [_Thing(), _Thing()]})
    with pytest.raises(errors.ColumnTypeError, match="'obj'") as ei:
        mjs.publish_dataframe(f"{s.name}.x", df, codec=codec)
    assert ei.value.column == "obj"
    assert isinstance(ei.value, errors.UnsupportedTypeError)  # the older name still works
    assert _count(s) == 0


@pytest.mark.parametrize("codec", ["json", "msgpack"])
def test_unencodable_types_are_refused(mjs: jsdata.JetStream, codec: str) -> None:
    s = new_stream(mjs)
    t = pa.table({"a": [1], "nested": pa.array([{"d": dt.timedelta(seconds=1)}])})
    with pytest.raises(errors.ColumnTypeError, match="nested") as ei:
        mjs.publish_dataframe(f"{s.name}.x", t, codec=codec)
    assert ei.value.column == "nested"
    assert _count(s) == 0


def test_oversize_row_is_refused_before_sending(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    limit = mjs.nc.max_payload
    df = pd.DataFrame({"id": range(5), "blob": ["x"] * 5})
    df.loc[3, "blob"] = "y" * (limit + 1)
    with pytest.raises(errors.PayloadTooLargeError, match="row 3") as ei:
        mjs.publish_dataframe(f"{s.name}.x", df)
    assert ei.value.row == 3 and ei.value.column == "blob"
    assert isinstance(ei.value, errors.MaxPayloadExceededError)
    assert "nothing was sent" in str(ei.value)
    # under the limit as text, over it once encoded (JSON escapes every quote)
    df.loc[3, "blob"] = '"' * (limit // 2 + 10)
    with pytest.raises(errors.PayloadTooLargeError, match="row 3"):
        mjs.publish_dataframe(f"{s.name}.x", df)
    assert _count(s) == 0


@pytest.mark.parametrize("surface", ["blocking", "asyncio"])
async def test_oversize_row_in_a_later_slice_says_what_is_stored(server: EmbeddedServer,
                                                                 surface: str) -> None:
    from jsdata.frames.writer import PIECE_ROWS
    n = PIECE_ROWS + 50
    bad = PIECE_ROWS + 7
    if surface == "blocking":
        conn = jsdata.connect(server.url)
    else:
        conn = await jsdata.aio.connect(server.url)

    async def call(x):  # type: ignore[no-untyped-def]
        return (await x) if surface == "asyncio" else x

    try:
        name = f"L{next(_counter)}"
        s = await call(conn.create_stream(name=name, subjects=[f"{name}.>"]))
        limit = conn.nc.max_payload
        df = pd.DataFrame({"id": range(n), "blob": ["x"] * n})
        df.loc[bad, "blob"] = '"' * (limit // 2 + 10)  # only too large once encoded
        with pytest.raises(errors.PayloadTooLargeError) as ei:
            await call(conn.publish_dataframe(f"{name}.x", df))
        e = ei.value
        assert e.row == bad
        assert e.rows_stored == PIECE_ROWS and e.stream == name
        assert (e.first_seq, e.last_seq) == (1, PIECE_ROWS)
        assert f"rows 0..{PIECE_ROWS - 1} were already stored" in str(e)
        assert f"sequences 1..{PIECE_ROWS}" in str(e)
        assert f"df.iloc[{PIECE_ROWS}:]" in str(e)
        info = await call(s.info())
        assert info.state.messages == PIECE_ROWS
        # resuming as told (with the bad row fixed) completes the stream exactly
        df.loc[bad, "blob"] = "fixed"
        await call(conn.publish_dataframe(f"{name}.x", df.iloc[e.rows_stored:]))
        back = await call(s.to_pandas(metadata=()))
        pd.testing.assert_frame_equal(back, df)
    finally:
        await call(conn.close())


def test_bad_subject_value_in_a_later_slice_says_what_is_stored(mjs: jsdata.JetStream) -> None:
    from jsdata.frames.writer import PIECE_ROWS
    s = new_stream(mjs)
    n = PIECE_ROWS + 10
    df = pd.DataFrame({"id": range(n), "k": ["a"] * n})
    df.loc[PIECE_ROWS + 3, "k"] = "has space"
    with pytest.raises(errors.InvalidSubjectError, match=f"row {PIECE_ROWS + 3}") as ei:
        mjs.publish_dataframe(f"{s.name}.{{k}}", df)
    assert f"resume with df.iloc[{PIECE_ROWS}:]" in str(ei.value)
    assert _count(s) == PIECE_ROWS


# ---------------------------------------------------------------------------------------------
# property-based: random frames of random dtypes

def _column(kind: str, n: int, data: st.DataObject) -> pd.Series:
    nulls = st.booleans()
    if kind.startswith(("int", "uint")):
        info = np.iinfo(kind)
        vals = data.draw(st.lists(st.integers(int(info.min), int(info.max)),
                                  min_size=n, max_size=n))
        return pd.Series(np.array(vals, dtype=kind))
    if kind in ("float32", "float64"):
        width = 32 if kind == "float32" else 64
        vals = data.draw(st.lists(st.floats(width=width, allow_infinity=False) | st.none(),
                                  min_size=n, max_size=n))
        return pd.Series(np.array([np.nan if v is None else v for v in vals], dtype=kind))
    if kind in ("Int64", "Int16", "UInt32"):
        info = np.iinfo(kind.lower())
        vals = data.draw(st.lists(st.integers(int(info.min), int(info.max)) | st.none(),
                                  min_size=n, max_size=n))
        return pd.Series(pd.array(vals, dtype=kind))
    if kind == "boolean":
        return pd.Series(pd.array(data.draw(st.lists(st.booleans() | st.none(), min_size=n,
                                                      max_size=n)), dtype="boolean"))
    if kind == "string":
        vals = data.draw(st.lists(st.text(max_size=8) | st.none(), min_size=n, max_size=n))
        return pd.Series(pd.array(vals, dtype="string"))
    if kind == "category":
        cats = ["a", "b", "c"]
        vals = data.draw(st.lists(st.sampled_from(cats) | st.none(), min_size=n, max_size=n))
        return pd.Series(pd.Categorical(vals, categories=cats,
                                        ordered=data.draw(nulls)))
    if kind.startswith("ts"):
        _, unit, tz = kind.split("|")
        lo, hi = -(2**62) // 1000, 2**62 // 1000  # within the ns range in every unit
        vals = data.draw(st.lists(st.integers(lo, hi) | st.none(), min_size=n, max_size=n))
        per = {"ns": 1, "us": 1000}[unit]
        arr = pd.array([None if v is None else v - v % per for v in vals], dtype="Int64")
        ser = pd.Series(pd.to_datetime(arr.to_numpy(dtype="float64", na_value=np.nan),
                                       unit="ns")).astype(f"datetime64[{unit}]")
        return ser.dt.tz_localize("UTC").dt.tz_convert(tz) if tz != "naive" else ser
    if kind == "date":
        vals = data.draw(st.lists(st.dates(dt.date(1700, 1, 1), dt.date(2200, 1, 1))
                                  | st.none(), min_size=n, max_size=n))
        return pd.Series(vals, dtype=object)
    if kind == "list":
        vals = data.draw(st.lists(st.lists(st.integers(-1000, 1000), max_size=3) | st.none(),
                                  min_size=n, max_size=n))
        return pd.Series(vals, dtype=object)
    raise AssertionError(kind)


KINDS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
         "float32", "float64", "Int64", "Int16", "UInt32", "boolean", "string", "category",
         "ts|ns|Europe/Paris", "ts|us|Asia/Tokyo", "ts|ns|naive", "ts|us|naive", "ts|ns|UTC",
         "date", "list"]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_random_frames_round_trip(mjs: jsdata.JetStream, data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 12), label="rows")
    kinds = data.draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=6, unique=True),
                      label="kinds")
    codec = data.draw(st.sampled_from(CODECS), label="codec")
    cols = {f"c{i}": _column(k, n, data).reset_index(drop=True) for i, k in enumerate(kinds)}
    df = pd.DataFrame(cols)
    s = new_stream(mjs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no schema may go missing
        mjs.publish_dataframe(f"{s.name}.x", df, codec=codec)
        dtypes.clear_cache()
        back = s.to_pandas(metadata=())
    pd.testing.assert_frame_equal(back, df, check_dtype=True)
    mjs.delete_stream(s.name)
