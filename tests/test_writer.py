"""publish_dataframe / df.to_jetstream against real servers: round trips, templates, errors."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import jsdata
from jsdata import errors
from jsdata.server import EmbeddedServer

N = 10_000


# ---------------------------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope="module")
def mjs(shared_server: EmbeddedServer) -> Iterator[jsdata.JetStream]:
    """One blocking connection for the module (tests use their own stream names)."""
    conn = jsdata.connect(shared_server.url)
    try:
        yield conn
    finally:
        conn.close()


_counter = iter(range(1_000_000))


def new_stream(js: jsdata.JetStream, *, direct: bool = True, **kw: object) -> jsdata.Stream:
    name = f"W{next(_counter)}"
    return js.create_stream(name=name, subjects=[f"{name}.>"], allow_direct=direct, **kw)


def make_frame(n: int = N) -> pd.DataFrame:
    """Every common dtype, with missing values, unicode, escapes and nesting."""
    rng = np.random.default_rng(7)
    ids = np.arange(n)
    return pd.DataFrame({
        "i64": (ids - n // 2).astype("int64"),
        "i32": (ids % 1000).astype("int32"),
        "u8": (ids % 200).astype("uint8"),
        "f64": rng.normal(size=n) * 1e6,
        "f32": rng.normal(size=n).astype("float32"),
        "s": [f"name-{i}" if i % 7 else f'q "{i}" \\ \n\ttab é ✓' for i in ids],
        "b": ids % 3 == 0,
        "ts": pd.Timestamp("2024-03-01T12:00:00Z") + pd.to_timedelta(ids * 1_234_567,
                                                                      unit="us"),
        "ni": pd.array([None if i % 5 == 0 else int(i) for i in ids], dtype="Int64"),
        "cat": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
        "nested": [{"a": int(i), "b": {"c": f"x{i}"}} for i in ids],
        "lst": [[int(i), int(i) + 1] if i % 4 else [] for i in ids],
        "opt": [None if i % 3 == 0 else float(i) / 2 for i in ids],
        "ostr": [None if i % 4 == 0 else f"v{i}" for i in ids],
    })


def _norm(v: object) -> object:
    """A comparable plain-Python form of a cell value."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, np.ndarray):
        return [_norm(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    if isinstance(v, pd.Timestamp):
        return v.value if v.unit == "ns" else v.as_unit("ns").value
    if isinstance(v, np.generic):
        return _norm(v.item())
    return v


def assert_same_values(original: pd.DataFrame, back: pd.DataFrame) -> None:
    assert len(back) == len(original)
    for col in original.columns:
        a = original[col]
        b = back[col]
        if a.dtype == "float32":
            b = b.astype("float32")
        if isinstance(a.dtype, pd.CategoricalDtype):
            a = a.astype(object)
            b = b.astype(object)
        if str(a.dtype).startswith("datetime64"):
            assert (a.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
                    == b.astype("datetime64[ns, UTC]")).all(), col
            continue
        va = [_norm(x) for x in a.tolist()]
        vb = [_norm(x) for x in b.tolist()]
        assert va == vb, f"column {col!r} differs"


# ---------------------------------------------------------------------------------------------
# round trips

@pytest.mark.parametrize("codec", ["json", "msgpack", "arrow"])
def test_round_trip_every_dtype(mjs: jsdata.JetStream, codec: str) -> None:
    s = new_stream(mjs)
    df = make_frame()
    res = mjs.publish_dataframe(f"{s.name}.rows", df, codec=codec)
    assert isinstance(res, jsdata.WriteResult)
    assert res.rows == N and res.duplicates == 0 and res.stream == s.name
    assert res.first_seq == 1 and res.last_seq == res.messages
    if codec == "arrow":
        assert 1 <= res.messages < N
    else:
        assert res.messages == N
    back = s.to_pandas(dtype_backend="numpy_nullable", progress=False)
    assert list(back.columns)[: len(df.columns)] == list(df.columns)
    assert list(back.columns)[len(df.columns):] == ["_subject", "_seq", "_time"]
    assert back.attrs["jetstream"] == {"stream": s.name, "start_seq": 1,
                                       "end_seq": res.last_seq}
    assert_same_values(df, back)
    if codec == "arrow":  # Arrow keeps the exact types, categoricals included
        assert isinstance(back["cat"].dtype, pd.CategoricalDtype)
        assert back["i32"].dtype.name.lower() == "int32"


def test_json_payloads_are_plain_json(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame({
        "x": [1.5, float("nan"), None, float("inf")],
        "n": pd.array([1, None, 3, 4], dtype="Int64"),
        "t": pd.to_datetime(["2024-01-01T10:00:00.123456+02:00", None,
                             "2024-01-01T00:00:00Z", "2024-06-30T23:59:59Z"], utc=True,
                           format="ISO8601"),
        "s": ["a", None, "c", "d"],
    })
    mjs.publish_dataframe(f"{s.name}.x", df)
    m1 = s.get_msg(1)
    assert m1.headers["Content-Type"] == "application/json"
    row = json.loads(m1.data)
    assert row == {"x": 1.5, "n": 1, "t": "2024-01-01T08:00:00.123456Z", "s": "a"}
    row2 = json.loads(s.get_msg(2).data)
    # missing values: null, key kept (NaN, None, NaT, pd.NA alike)
    assert row2 == {"x": None, "n": None, "t": None, "s": None}
    assert json.loads(s.get_msg(4).data)["x"] is None  # inf is not JSON either
    back = s.to_pandas(progress=False)
    assert back["t"].dtype == df["t"].dtype  # the recorded schema keeps the unit (us here)
    assert back["n"].dtype == "Int64"  # ...and the nullable dtype
    assert back["t"][0] == pd.Timestamp("2024-01-01T08:00:00.123456Z")
    assert math.isnan(back["x"][1]) and math.isnan(back["x"][2])


def test_whole_floats_stay_floats(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    mjs.publish_dataframe(f"{s.name}.f", pd.DataFrame({"px": [100.0, -3.0, 1e20]}))
    assert s.get_msg(1).data == b'{"px":100.0}'
    back = s.to_pandas(metadata=(), progress=False)
    assert back["px"].dtype == "float64" and back["px"].tolist() == [100.0, -3.0, 1e20]


def test_inputs_arrow_and_c_stream(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    table = pa.table({"a": list(range(100)), "b": [f"s{i}" for i in range(100)]})
    assert mjs.publish_dataframe(f"{s.name}.t", table).rows == 100
    assert mjs.publish_dataframe(f"{s.name}.rb", table.to_batches()[0]).rows == 100
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=7))
    assert mjs.publish_dataframe(f"{s.name}.rbr", reader).rows == 100

    class Stream:  # any object with the Arrow C stream interface
        def __arrow_c_stream__(self, requested_schema: object = None) -> object:
            return table.__arrow_c_stream__(requested_schema)

    res = mjs.publish_dataframe(f"{s.name}.c", Stream())
    assert res.rows == 100 and res.last_seq == 400
    back = s.to_arrow(subjects=f"{s.name}.c", progress=False)
    assert back.column("a").to_pylist() == list(range(100))
    with pytest.raises(errors.InvalidArgumentError, match="publish_dataframe takes"):
        mjs.publish_dataframe(f"{s.name}.x", [1, 2, 3])


def test_polars_input(mjs: jsdata.JetStream) -> None:
    pl = pytest.importorskip("polars")
    s = new_stream(mjs)
    res = mjs.publish_dataframe(f"{s.name}.p", pl.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    assert res.rows == 2
    assert s.to_pandas(progress=False)["b"].tolist() == ["x", "y"]


def test_pandas_index_is_kept_when_meaningful(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame({"v": [1, 2]}, index=pd.Index(["k1", "k2"], name="key"))
    mjs.publish_dataframe(f"{s.name}.i", df)
    assert json.loads(s.get_msg(1).data) == {"key": "k1", "v": 1}


# ---------------------------------------------------------------------------------------------
# subjects, msg ids, headers

def test_subject_template(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame({"region": ["eu", "us", "eu", "ap"], "shard": [1, 2, 1, 3],
                       "v": [1, 2, 3, 4]})
    res = mjs.publish_dataframe(s.name + ".{region}.{shard}", df)
    assert res.messages == 4
    info = s.info(subjects_filter=">")
    assert info.state.subjects == {f"{s.name}.eu.1": 2, f"{s.name}.us.2": 1,
                                   f"{s.name}.ap.3": 1}
    back = s.to_pandas(subjects=f"{s.name}.eu.*", progress=False)
    assert back["v"].tolist() == [1, 3]
    assert back["_subject"].tolist() == [f"{s.name}.eu.1"] * 2


@pytest.mark.parametrize("value, why", [("a.b", "'.'"), ("a b", "spaces"), ("*", "'\\*'"),
                                        ("", "non-empty")])
def test_subject_template_bad_values(mjs: jsdata.JetStream, value: str, why: str) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame({"region": ["eu", "us", value], "v": [1, 2, 3]})
    with pytest.raises(errors.InvalidSubjectError, match=r"row 2: column 'region'"):
        mjs.publish_dataframe(s.name + ".{region}", df)
    assert s.info().state.messages == 0  # validated before anything was sent


def test_subject_template_null_and_missing_column(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame({"region": ["eu", None], "v": [1, 2]})
    with pytest.raises(errors.InvalidSubjectError, match="row 1: column 'region' is null"):
        mjs.publish_dataframe(s.name + ".{region}", df)
    with pytest.raises(errors.ColumnNotFoundError, match="'regio'") as ei:
        mjs.publish_dataframe(s.name + ".{regio}", df)
    assert isinstance(ei.value, KeyError) and isinstance(ei.value, errors.JetStreamError)
    with pytest.raises(errors.ColumnNotFoundError, match="'nope'"):
        mjs.publish_dataframe(s.name + ".x", df, msg_id="nope")
    with pytest.raises(errors.ColumnNotFoundError, match="'nope'"):
        mjs.publish_dataframe(s.name + ".x", df, headers=["nope"])
    with pytest.raises(errors.InvalidSubjectError):
        mjs.publish_dataframe(s.name + ".*", df)


def test_msg_id_dedup_on_rerun(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs, duplicate_window=60.0)
    df = pd.DataFrame({"order": [f"o{i}" for i in range(500)], "v": range(500)})
    first = mjs.publish_dataframe(f"{s.name}.o", df, msg_id="order")
    assert (first.messages, first.duplicates) == (500, 0)
    again = mjs.publish_dataframe(f"{s.name}.o", df, msg_id="order")
    assert (again.messages, again.duplicates) == (500, 500)
    assert s.info().state.messages == 500
    templ = mjs.publish_dataframe(f"{s.name}.o", df, msg_id="batch7-{order}")
    assert templ.duplicates == 0
    assert s.get_msg(501).headers["Nats-Msg-Id"] == "batch7-o0"


def test_headers_from_columns(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame({"tenant": ["t1", None], "trace": ["abc", "def"], "v": [1, 2]})
    mjs.publish_dataframe(f"{s.name}.h", df, headers=["tenant"])
    mjs.publish_dataframe(f"{s.name}.h", df, headers={"X-Trace": "trace"})
    h1 = s.get_msg(1).headers
    assert h1["tenant"] == "t1" and h1["Content-Type"] == "application/json"
    assert "tenant" not in s.get_msg(2).headers  # null value: header left out
    assert s.get_msg(4).headers["X-Trace"] == "def"
    back = s.to_pandas(include_headers=True, progress=False)
    assert back["_headers"][0] == {"Content-Type": "application/json", "tenant": "t1"}
    assert back["_headers"][3]["X-Trace"] == "def"
    with pytest.raises(errors.InvalidArgumentError, match="header name"):
        mjs.publish_dataframe(f"{s.name}.h", df, headers={"bad name": "v"})


# ---------------------------------------------------------------------------------------------
# codecs and sizes

def test_rows_per_message_json_and_arrow(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame({"k": ["a", "b"] * 50, "v": range(100)})
    r = mjs.publish_dataframe(s.name + ".{k}", df, rows_per_message=10)
    assert r.messages == 10 and r.rows == 100  # 50 rows per subject, 10 per message
    assert json.loads(s.get_msg(1).data)[:2] == [{"k": "a", "v": 0}, {"k": "a", "v": 2}]
    r2 = mjs.publish_dataframe(f"{s.name}.arrow", df, codec="arrow", rows_per_message=25)
    assert r2.messages == 4
    assert s.get_msg(11).headers["Content-Type"] == "application/vnd.apache.arrow.stream"
    back = s.to_pandas(progress=False)
    assert len(back) == 200
    assert sorted(back["v"].tolist()) == sorted(list(range(100)) * 2)
    assert back["_seq"].tolist()[:2] == [1, 1]  # rows of one message share its sequence


def test_arrow_messages_fit_max_payload(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    n = 300_000
    table = pa.table({f"c{i}": np.arange(n, dtype="float64") for i in range(10)})
    res = mjs.publish_dataframe(f"{s.name}.a", table, codec="arrow")
    assert res.rows == n and res.messages >= 20  # 24 MB in messages under 1 MB
    back = s.to_arrow(metadata=(), progress=False)
    assert back.num_rows == n
    assert back.column("c9").to_numpy().tolist() == list(range(n))


def test_custom_codec(mjs: jsdata.JetStream) -> None:
    class Csv(jsdata.Codec):
        name = "csv"
        content_type = "text/csv"

        def encode_row(self, row: dict) -> bytes:
            return f"{row['a']},{row['b']}".encode()

        def decode_message(self, data: bytes) -> dict:
            a, b = data.decode().split(",")
            return {"a": int(a), "b": b}

    s = new_stream(mjs)
    mjs.publish_dataframe(f"{s.name}.c", pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
                          codec=Csv())
    assert s.get_msg(1).data == b"1,x" and s.get_msg(1).headers["Content-Type"] == "text/csv"
    back = s.to_pandas(codec=Csv(), metadata=(), progress=False)
    assert back.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}


# ---------------------------------------------------------------------------------------------
# errors

def test_no_stream_for_subject(mjs: jsdata.JetStream) -> None:
    df = pd.DataFrame({"v": range(10)})
    with pytest.raises(errors.NoStreamResponseError, match="nothing was written"):
        mjs.publish_dataframe("NOWHERE.at.all", df)


def test_unsupported_types_name_the_column(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame({"ok": [1, 2], "blob": [b"\x00\x01", b"x"]})
    with pytest.raises(errors.UnsupportedTypeError, match="'blob'"):
        mjs.publish_dataframe(f"{s.name}.x", df)
    df2 = pd.DataFrame({"ok": [1, 2], "dur": pd.to_timedelta([1, 2], unit="s")})
    with pytest.raises(errors.UnsupportedTypeError, match="'dur'"):
        mjs.publish_dataframe(f"{s.name}.x", df2, codec="msgpack")
    df3 = pd.DataFrame({"ok": [1, 2], "mixed": [object(), 1]})
    with pytest.raises(errors.UnsupportedTypeError, match="'mixed'"):
        mjs.publish_dataframe(f"{s.name}.x", df3)
    assert s.info().state.messages == 0


def test_bad_arguments(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame({"v": [1]})
    with pytest.raises(errors.InvalidArgumentError, match="unknown codec"):
        mjs.publish_dataframe(f"{s.name}.x", df, codec="yaml")
    with pytest.raises(errors.InvalidArgumentError, match="codec='auto'"):
        mjs.publish_dataframe(f"{s.name}.x", df, codec="auto")
    with pytest.raises(errors.InvalidArgumentError, match="rows_per_message"):
        mjs.publish_dataframe(f"{s.name}.x", df, rows_per_message=0)
    with pytest.raises(errors.InvalidArgumentError, match="max_pending"):
        mjs.publish_dataframe(f"{s.name}.x", df, max_pending=0)
    with pytest.raises(errors.InvalidArgumentError, match="one row per message"):
        mjs.publish_dataframe(f"{s.name}.x", df, codec="raw", rows_per_message=2)


def test_empty_frame(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    res = mjs.publish_dataframe(f"{s.name}.x", pd.DataFrame({"v": pd.Series([], dtype="int64")}))
    assert (res.rows, res.messages, res.first_seq, res.last_seq) == (0, 0, None, None)


def test_small_max_pending_and_result_html(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    res = mjs.publish_dataframe(f"{s.name}.x", pd.DataFrame({"v": range(3000)}),
                                max_pending=16)
    assert res.messages == 3000 and res.last_seq == 3000
    html = res._repr_html_()
    assert "3,000" in html and s.name in html
    assert res.rows_per_second > 0


# ---------------------------------------------------------------------------------------------
# pandas registration, default connection, asyncio

def test_to_jetstream_and_accessor(mjs: jsdata.JetStream) -> None:
    s = new_stream(mjs)
    df = pd.DataFrame({"v": [1, 2, 3]})
    assert df.to_jetstream(f"{s.name}.a", js=mjs).rows == 3
    assert df.jetstream.publish(f"{s.name}.b", js=mjs, codec="msgpack").rows == 3
    back = jsdata.read_stream(s.name, js=mjs, progress=False)
    assert back["v"].tolist() == [1, 2, 3, 1, 2, 3]
    assert back["_subject"].tolist()[-1] == f"{s.name}.b"


def test_default_connection(shared_server: EmbeddedServer,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    from jsdata import _default
    _default.close_default()
    monkeypatch.setenv("JSDATA_URL", shared_server.url)
    try:
        js = _default.default_js()
        assert js is _default.default_js()  # shared
        s = new_stream(js)
        pd.DataFrame({"v": [7, 8]}).to_jetstream(f"{s.name}.x")
        assert jsdata.read_stream(s.name, progress=False)["v"].tolist() == [7, 8]
    finally:
        _default.close_default()


async def test_asyncio_surface(ajs: jsdata.aio.JetStream) -> None:
    s = await ajs.create_stream(name="AW", subjects=["AW.>"], allow_direct=True)
    df = make_frame(2000)
    res = await ajs.publish_dataframe("AW.{cat}", df, msg_id="i64")
    assert res.rows == 2000 and res.duplicates == 0
    again = await df.to_jetstream("AW.{cat}", js=ajs, msg_id="i64")
    assert again.duplicates == 2000
    back = await s.to_pandas(dtype_backend="numpy_nullable", progress=False)
    assert_same_values(df, back)
    back2 = await jsdata.read_stream("AW", js=ajs, subjects="AW.red", progress=False)
    assert set(back2["cat"]) == {"red"}
