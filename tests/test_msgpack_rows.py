"""The vectorised msgpack writer writes, byte for byte, what ``msgpack.packb`` writes for
each row as a dict of the codec's Python values (ints shortest, floats float64 with NaN as
nil, str/bin, Timestamp extension, lists, structs as maps; maps, dates and nested timestamps
value by value)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgpack
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from jsdata.frames.codec import get_codec
from jsdata.frames.msgpack_rows import _msgpack_values, msgpack_rows


def reference(table: pa.Table, rows_per_message: int | None = None) -> list[bytes]:
    names = table.column_names
    cols = [_msgpack_values(table.column(i), n) for i, n in enumerate(names)]
    rows = [dict(zip(names, vals, strict=True)) for vals in zip(*cols, strict=True)]
    if not names:
        rows = [{} for _ in range(table.num_rows)]
    pack = msgpack.Packer(use_bin_type=True, datetime=False).pack
    if rows_per_message and rows_per_message > 1:
        return [pack(rows[i:i + rows_per_message]) for i in range(0, len(rows), rows_per_message)]
    return [pack(r) for r in rows]


INT_EDGES = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, -1, -32,
             -33, -128, -129, -32768, -32769, -2**31, -2**31 - 1, -2**63]


def test_boundaries_of_every_form() -> None:
    n = len(INT_EDGES)
    t = pa.table({
        "i": pa.array(INT_EDGES),
        "u": pa.array([0, 127, 128, 255, 256, 2**16, 2**32, 2**63, 2**64 - 1] + [None] * (n - 9),
                      pa.uint64()),
        "i8": pa.array([-128, 127, None] + [0] * (n - 3), pa.int8()),
        "f": pa.array([1.5, float("nan"), float("inf"), None, -0.0] + [1.0] * (n - 5)),
        "f32": pa.array([0.1, None] + [2.5] * (n - 2), pa.float32()),
        "s": pa.array(["", "a" * 31, "b" * 32, "c" * 255, "d" * 256, "e" * 70000, None, "é\u2603"]
                      + ["x"] * (n - 8)),
        "b": pa.array([b"", b"a" * 255, b"a" * 256, b"z" * 70000, None] + [b"q"] * (n - 5)),
        "t": pa.array([0, 1, 2**32 * 10**8, -1, 10**9 * (2**32 - 1), 10**9 * 2**32, -10**18,
                       None] + [7] * (n - 8), pa.timestamp("ns", "UTC")),
        "tl": pa.array([dt.datetime(2024, 3, 31, 1, 30)] * n, pa.timestamp("us", "Europe/Berlin")),
        "l": pa.array([[1, 2], None, [], list(range(20)), list(range(70000))] + [[3]] * (n - 5)),
        "st": pa.array([{"a": 1, "b": "x"}, None] + [{"a": None, "b": None}] * (n - 2)),
        "m": pa.array([[("k", 1)], [], None] + [[("z", 2)]] * (n - 3),
                      pa.map_(pa.string(), pa.int64())),
        "d": pa.array([dt.date(2020, 1, 1), None] + [dt.date(1970, 1, 2)] * (n - 2)),
        "lt": pa.array([[dt.datetime(2020, 1, 1)], None] + [[]] * (n - 2)),
        "cat": pa.array(["eu", None, "us"] * (n // 3)).dictionary_encode(),
        "nul": pa.nulls(n),
    })
    assert msgpack_rows(t) == reference(t)
    assert msgpack_rows(t.slice(5, 9)) == reference(t.slice(5, 9))
    for k in (2, 7, n, n + 1):
        assert msgpack_rows(t, k) == reference(t, k)
    assert msgpack_rows(pa.table({})) == []
    wide = pa.table({f"c{i}": [i] for i in range(17)})  # map16 header
    assert msgpack_rows(wide) == reference(wide)


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.binary(max_size=300))


@st.composite
def tables(draw: Any) -> pa.Table:
    n = draw(st.integers(0, 30))
    cols: dict[str, pa.Array] = {}
    for j in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["int", "uint", "float", "str", "bin", "bool", "ts",
                                     "list", "struct"]))
        if kind == "int":
            vals = [draw(st.integers(-2**63, 2**63 - 1) | st.none()) for _ in range(n)]
            arr = pa.array(vals, pa.int64())
        elif kind == "uint":
            arr = pa.array([draw(st.integers(0, 2**64 - 1) | st.none()) for _ in range(n)],
                           pa.uint64())
        elif kind == "float":
            arr = pa.array([draw(st.floats() | st.none()) for _ in range(n)], pa.float64())
        elif kind == "str":
            arr = pa.array([draw(st.text(max_size=300) | st.none()) for _ in range(n)],
                           pa.string())
        elif kind == "bin":
            arr = pa.array([draw(st.binary(max_size=300) | st.none()) for _ in range(n)],
                           pa.binary())
        elif kind == "bool":
            arr = pa.array([draw(st.booleans() | st.none()) for _ in range(n)], pa.bool_())
        elif kind == "ts":
            arr = pa.array([draw(st.integers(-2**62, 2**62) | st.none()) for _ in range(n)],
                           pa.timestamp("ns", "UTC"))
        elif kind == "list":
            arr = pa.array([draw(st.lists(st.integers(-300, 300) | st.none(), max_size=20)
                                 | st.none()) for _ in range(n)], pa.list_(pa.int64()))
        else:
            arr = pa.array([draw(st.fixed_dictionaries(
                {"k": st.text(max_size=5) | st.none(), "v": st.floats() | st.none()}) | st.none())
                for _ in range(n)], pa.struct([("k", pa.string()), ("v", pa.float64())]))
        cols[f"{kind}{j}"] = arr
    return pa.table(cols) if cols else pa.table({})


@settings(max_examples=150, deadline=None)
@given(tables(), st.integers(0, 12), st.integers(1, 4))
def test_property_same_bytes_as_packb(t: pa.Table, start: int, k: int) -> None:
    piece = t.slice(min(start, t.num_rows))
    assert msgpack_rows(piece) == reference(piece)
    assert msgpack_rows(piece, k) == reference(piece, k)


def test_codec_round_trip_of_a_slice() -> None:
    c = get_codec("msgpack")
    t = pa.table({"x": list(range(50)), "l": [[i] * (i % 4) for i in range(50)]})
    back = msgpack.unpackb(c.encode(t.slice(10, 5), 5)[0], timestamp=0)
    assert back == [{"x": i, "l": [i] * (i % 4)} for i in range(10, 15)]
