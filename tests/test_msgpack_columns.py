"""The C msgpack reader (``jsdata/_cmsgpack.c`` via :mod:`jsdata.frames.msgpack_columns`)
builds, column for column, the table the row-by-row path builds from the unpacked dicts, or
declines (None) and leaves the batch to that path: checked on every form's boundaries, on
what the writer produces for a wide frame, on rows it must decline, and on random rows
(hypothesis), with and without the recorded schema's hints. The codec as a whole (C first,
rows as the fallback) decodes every batch exactly as the row path does, errors included."""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

import msgpack
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jsdata import errors
from jsdata.frames import dtypes
from jsdata.frames.codec import MsgpackCodec
from jsdata.frames.msgpack_columns import columns_c, maps_to_table
from jsdata.frames.rows import rows_to_table

NATIVE = columns_c is not None
needs_c = pytest.mark.skipif(
    not NATIVE, reason="the C extension is not built, or JSDATA_PURE_PYTHON=1 rules it out")

pack = msgpack.Packer(use_bin_type=True, datetime=False).pack


def by_rows(payloads: list[bytes], hints: pa.Schema | None = None) -> pa.Table:
    """The reference: each payload unpacked as the codec's row path does."""
    rows = [msgpack.unpackb(p, raw=False, timestamp=0, strict_map_key=False) for p in payloads]
    return rows_to_table(rows, None, hints)


def same(a: pa.Table, b: pa.Table) -> None:
    assert a.schema == b.schema
    for name in b.column_names:
        x, y = a.column(name), b.column(name)
        assert x.equals(y), (name, x.slice(0, 5), y.slice(0, 5))


def ts(sec: int, nsec: int = 0) -> msgpack.Timestamp:
    return msgpack.Timestamp(sec, nsec)


EDGE_ROWS: list[dict[str, Any]] = [
    {"i": 0, "f": 1.5, "s": "", "b": b"", "t": ts(0), "x": True, "u": 2**63},
    {"i": 127, "f": float("nan"), "s": "a" * 31, "b": b"a" * 255, "t": ts(2**32 - 1), "x": False,
     "u": 2**64 - 1},
    {"i": 128, "f": float("inf"), "s": "b" * 32, "b": b"a" * 256, "t": ts(2**32, 5), "u": 0},
    {"i": 65536, "f": -0.0, "s": "c" * 255, "b": b"z" * 70000, "t": ts(2**33, 999_999_999)},
    {"i": 2**63 - 1, "s": "d" * 256, "t": ts(-1, 1), "x": None},
    {"i": -1, "f": None, "s": "é\u2603" * 40000, "t": ts(-(2**33), 0)},
    {"i": -33, "s": None, "b": None, "t": None, "late": [1, 2]},
    {"i": -129, "f": 1e300, "late": None},
    {"i": -32769, "late": [3, 4]},
    {"i": -(2**31) - 1},
    {"i": -(2**63), "nil": None},
    {},
]


@needs_c
def test_every_form_reads_as_the_rows_do() -> None:
    payloads = [pack(r) for r in EDGE_ROWS]
    payloads.append(b"\x81\xa1f\xca" + struct.pack(">f", 0.1))  # a float32 on the wire
    got = maps_to_table(payloads, None)
    assert got is not None
    same(got, by_rows(payloads))
    assert got.column("f").null_count == 8  # NaN, nil and the 6 rows without it are null
    assert got.column("t").type == pa.timestamp("ns", "UTC")
    assert got.column("nil").type == pa.null()
    assert got.column("u").type == pa.uint64()  # beyond int64, none negative
    assert got.column("u").to_pylist()[:3] == [2**63, 2**64 - 1, 0]
    assert got.column("late").to_pylist()[6:9] == [[1, 2], None, [3, 4]]
    same(maps_to_table(payloads, pa.schema([("i", pa.int64()), ("f", pa.float32()),
                                              ("s", pa.string()), ("b", pa.string()),
                                              ("t", pa.string()), ("nil", pa.int8())])),
         by_rows(payloads, pa.schema([("i", pa.int64()), ("f", pa.float32()),
                                      ("s", pa.string()), ("b", pa.string()),
                                      ("t", pa.string()), ("nil", pa.int8())])))


@needs_c
@pytest.mark.parametrize("hint", [None, pa.float32(), pa.int8(), pa.string()])
def test_a_column_of_nan_and_nil_only_has_no_type(hint: pa.DataType | None) -> None:
    """NaN is null (as pandas' from_pandas reads it): a float column with no other value
    is a null column, as the row path makes it (found by the random-rows property)."""
    payloads = [pack({"a": float("nan")}), pack({"a": None}), pack({"b": 1})]
    hints = None if hint is None else pa.schema([("a", hint)])
    got = maps_to_table(payloads, hints)
    assert got is not None
    same(got, by_rows(payloads, hints))
    assert got.schema.field("a").type == (pa.null() if hint is None else hint)


def wide_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "i8": rng.integers(-128, 127, n).astype("int8"),
        "u64": rng.integers(0, 2**62, n).astype("uint64"),
        "u16": rng.integers(0, 2**16, n).astype("uint16"),
        "f32": rng.random(n).astype("float32"),
        "f64": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "s": pd.Series([None if i % 7 == 0 else f"name-{i}" * (i % 4) for i in range(n)]),
        "ts": pd.date_range("2024-01-01", periods=n, freq="s", tz="UTC"),
        "ts2": pd.date_range("2024-03-31", periods=n, freq="ms", tz="Europe/Paris"),
        "naive": pd.date_range("2000-01-01", periods=n, freq="h"),
        "I": pd.array([None if i % 5 == 0 else i - n for i in range(n)], dtype="Int64"),
        "b": pd.array([None if i % 3 == 0 else bool(i % 2) for i in range(n)], dtype="boolean"),
        "cat": pd.Categorical(["eu", "us", "apac"] * (n // 3) + ["eu"] * (n % 3)),
        "lst": [[i, i + 1] if i % 4 else [] for i in range(n)],
        "d": [{"k": i, "v": str(i)} for i in range(n)],
        "date": [dt.date(2020, 1, 1) + dt.timedelta(days=i % 1000) for i in range(n)],
    })


@needs_c
@pytest.mark.parametrize("hinted", [False, True])
def test_the_writers_wide_frame(hinted: bool) -> None:
    table = pa.Table.from_pandas(wide_frame(3000), preserve_index=False)
    payloads = MsgpackCodec().encode(table)
    hints = dtypes.wire_hints(table.schema) if hinted else None
    got = maps_to_table(payloads, hints)
    assert got is not None
    same(got, by_rows(payloads, hints))
    if hinted:  # the recorded widths are read at their own width
        assert got.schema.field("i8").type == pa.int8()
        assert got.schema.field("u64").type == pa.uint64()
        assert got.schema.field("f32").type == pa.float32()


@needs_c
def test_the_codec_restores_the_frame() -> None:
    """Through decode_as (the recorded schema), the frame comes back with its dtypes."""
    df = wide_frame(500)
    table = pa.Table.from_pandas(df, preserve_index=False)
    c = MsgpackCodec()
    out = dtypes.restore(c.decode_as(c.encode(table), table.schema), table.schema)
    back = out.to_pandas()
    for col in ("i8", "u64", "u16", "f32", "ts", "ts2", "naive", "cat"):
        assert back[col].dtype == df[col].dtype, col
        assert back[col].equals(df[col]), col


DECLINED = {
    "not a map": [pack({"a": 1}), pack([1, 2])],
    "a scalar": [pack(5)],
    "an int key": [pack({1: "x"})],
    "a bin key": [pack({b"k": 1})],
    "a key twice": [b"\x82\xa1a\x01\xa1a\x02"],
    "mixed kinds": [pack({"a": 1}), pack({"a": "x"})],
    "int then float": [pack({"a": 1}), pack({"a": 2.5})],
    "ints for neither int64 nor uint64": [pack({"a": -1}), pack({"a": 2**63})],
    "truncated": [pack({"a": "hello"})[:-1]],
    "trailing bytes": [pack({"a": 1}) + b"\x01"],
    "empty payload": [b""],
    "bad utf-8 value": [b"\x81\xa1a\xa2\xff\xfe"],
    "bad utf-8 key": [b"\x81\xa2\xff\xfe\x01"],
    "timestamp nsec too large": [b"\x81\xa1t\xd7\xff" + struct.pack(">Q", (10**9) << 34)],
    "timestamp beyond int64 ns": [pack({"t": ts(2**40)})],
    "bad timestamp length": [b"\x81\xa1t\xd4\xff\x00"],
    "never used byte": [b"\x81\xa1a\xc1"],
}


@needs_c
@pytest.mark.parametrize("case", sorted(DECLINED))
def test_declines_what_is_not_simple_rows(case: str) -> None:
    """The C reader declines; the codec then reads the batch row by row, with the row
    path's result or its error."""
    payloads = DECLINED[case]
    assert maps_to_table(payloads, None) is None
    codec = MsgpackCodec()
    try:
        want: Any = codec._decode_rows(payloads, None, None)
    except Exception as e:  # noqa: BLE001 - the row path's error is the reference
        with pytest.raises(type(e)):
            codec.decode(payloads)
    else:
        got = codec.decode(payloads)
        if isinstance(want, tuple):
            assert isinstance(got, tuple)
            same(got[0], want[0])
            assert list(got[1]) == list(want[1])
        else:
            same(got, want)


def test_bad_rows_name_what_is_wrong() -> None:
    """A column of mixed kinds is a DecodeError naming it, C reader or not."""
    with pytest.raises(errors.DecodeError, match="'a'"):
        MsgpackCodec().decode([pack({"a": 1}), pack({"a": "x"})])


# ---------------------------------------------------------------------------------------------
# random rows

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),  # a NaN in a list stays NaN (never equal): top-level below
    st.text(max_size=40),
    st.binary(max_size=40),
    st.builds(ts, st.integers(-(2**33), 2**33), st.integers(0, 10**9 - 1)),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6)
KEYS = ["a", "b", "c", "é", "k" * 40]


@st.composite
def column_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Rows whose columns mostly keep one kind (the C reader's case), sometimes not."""
    n = draw(st.integers(1, 30))
    kinds = {k: draw(st.sampled_from(["int", "float", "bool", "str", "bin", "ts", "any",
                                      "nested"])) for k in KEYS}
    gen = {"int": st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**64 - 1)),
           "float": st.floats(),
           "bool": st.booleans(), "str": st.text(max_size=20), "bin": st.binary(max_size=20),
           "ts": st.builds(ts, st.integers(0, 2**34 - 1), st.integers(0, 10**9 - 1)),
           "any": scalars, "nested": values}
    rows = []
    for _ in range(n):
        keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=len(KEYS)))
        rows.append({k: draw(st.one_of(st.none(), gen[kinds[k]])) for k in keys})
    return rows


@needs_c
@settings(max_examples=300, deadline=None)
@given(column_rows(), st.booleans())
def test_random_rows_read_as_the_rows_do(rows: list[dict[str, Any]], hinted: bool) -> None:
    payloads = [pack(r) for r in rows]
    hints = pa.schema([("a", pa.int8()), ("b", pa.float32()), ("c", pa.string()),
                       ("é", pa.uint64())]) if hinted else None
    try:
        want = by_rows(payloads, hints)
    except errors.DecodeError:
        want = None  # the rows do not make a table: the C reader must not make one either
    try:
        got = maps_to_table(payloads, hints)
    except errors.DecodeError:
        assert want is None  # the same column's values fail the same way
        return
    if got is None:
        assert not simple(rows) or want is None
        return
    assert want is not None
    same(got, want)


def simple(rows: list[dict[str, Any]]) -> bool:
    """Whether every column keeps one scalar kind the C reader takes (or is nested from its
    first value) and there is one at least: then it must not decline."""
    if not any(rows):
        return False  # no column at all: left to the row path
    kinds: dict[str, str] = {}
    neg: set[str] = set()
    big: set[str] = set()
    for r in rows:
        for k, v in r.items():
            if v is None:
                continue
            kind = ("nested" if isinstance(v, (list, dict)) else "bool" if isinstance(v, bool)
                    else "int" if isinstance(v, int) else type(v).__name__)
            if kind == "int" and kinds.get(k, "int") == "int":
                (neg if v < 0 else big if v >= 2**63 else set()).add(k)
                if k in neg and k in big:
                    return False  # fits neither int64 nor uint64
            if isinstance(v, msgpack.Timestamp) and not -(2**63) <= v.to_unix_nano() < 2**63:
                return False
            first = kinds.setdefault(k, kind)
            if first != kind and first != "nested":
                return False
    return True


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=4), min_size=1,
                max_size=20))
def test_the_codec_decodes_as_the_rows_do(rows: list[dict[str, Any]]) -> None:
    """Whatever the rows, the codec (C reader first) gives the row path's table or error."""
    payloads = [pack(r) for r in rows]
    codec = MsgpackCodec()
    try:
        want = codec._decode_rows(payloads, None, None)
    except Exception as e:  # noqa: BLE001 - the row path's error is the reference
        with pytest.raises(type(e)):
            codec.decode(payloads)
        return
    got = codec.decode(payloads)
    assert not isinstance(want, tuple) and not isinstance(got, tuple)
    same(got, want)
