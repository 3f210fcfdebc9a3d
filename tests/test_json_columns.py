"""The C JSON reader (``jsdata/_cjson.c`` via :mod:`jsdata.frames.json_columns`) builds,
column for column, the table ``pyarrow.json.read_json`` builds from the same payloads as
lines (with and without an explicit schema of hints), or declines (None) and leaves the
batch to pyarrow: checked on every number and string form, on rows it must decline, on what
the writer produces for a frame of scalar columns, and on random rows and random JSON text
(hypothesis). The codec as a whole (C first, pyarrow as the fallback) decodes every batch
exactly as it does with the C reader ruled out, errors included."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jsdata import errors
from jsdata.frames import dtypes, json_columns
from jsdata.frames.codec import JsonCodec
from jsdata.frames.json_columns import columns_c, objects_to_table
from jsdata.frames.packed import buffers

NATIVE = columns_c is not None
needs_c = pytest.mark.skipif(
    not NATIVE, reason="the C extension is not built, or JSDATA_PURE_PYTHON=1 rules it out")


def by_pyarrow(payloads: list[bytes], hints: pa.Schema | None = None) -> pa.Table:
    """The reference: the payloads as lines, read by pyarrow (as the codec reads them)."""
    blob = b"\n".join(payloads)
    ropts = pj.ReadOptions(use_threads=False, block_size=max(1 << 20, len(blob) + 1))
    popts = (pj.ParseOptions(newlines_in_values=False) if hints is None else pj.ParseOptions(
        explicit_schema=hints, newlines_in_values=False, unexpected_field_behavior="infer"))
    return pj.read_json(io.BytesIO(blob), read_options=ropts, parse_options=popts)


def same(a: pa.Table, b: pa.Table) -> None:
    assert a.schema == b.schema
    assert a.num_rows == b.num_rows
    for name in b.column_names:
        x, y = a.column(name), b.column(name)
        if pa.types.is_floating(x.type):  # NaN equal to NaN, -0.0 told from 0.0
            assert x.is_null().equals(y.is_null()), name
            xs = x.fill_null(0).to_numpy()
            ys = y.fill_null(0).to_numpy()
            assert np.array_equal(xs, ys, equal_nan=True), (name, xs[:5], ys[:5])
            assert np.array_equal(np.signbit(xs), np.signbit(ys)), name
        else:
            assert x.equals(y), (name, x.slice(0, 5), y.slice(0, 5))


def codec_result(payloads: list[bytes], hints: pa.Schema | None, c: bool) -> Any:
    """What the codec gives (table, or the error's type and text), with the C reader on or
    ruled out."""
    codec = JsonCodec()
    saved = json_columns.columns_c
    if not c:
        json_columns.columns_c = None
    try:
        if hints is None:
            return codec.decode(payloads)
        return codec._decode(payloads, None, hints)
    except Exception as e:  # noqa: BLE001 - the error is part of the result compared
        return (type(e), str(e))
    finally:
        json_columns.columns_c = saved


def codec_agrees(payloads: list[bytes], hints: pa.Schema | None = None) -> None:
    want = codec_result(payloads, hints, c=False)
    got = codec_result(payloads, hints, c=True)
    if isinstance(want, tuple) or isinstance(got, tuple):
        assert got == want
    elif isinstance(want, pa.Table):
        same(got, want)
    else:  # (table, parents) of rows that are arrays of objects
        same(got[0], want[0])
        assert np.array_equal(got[1], want[1])


NUMBERS = [
    b"0", b"1", b"-1", b"9223372036854775807", b"-9223372036854775808",
    b"9007199254740993", b"123456789012345678",
]
FLOATS = [
    b"0.0", b"-0.0", b"1.5", b"0.1", b"123.4500", b"1e5", b"1E5", b"1e+5", b"1e-7", b"2.5e+300",
    b"0.000001234", b"1.7976931348623157e308", b"4.9e-324", b"2.2250738585072014e-308",
    b"12345678901234567890123.5", b"0.1e-400", b"3.141592653589793238462643383279",
    b"9007199254740993.0", b"1e22", b"1e23", b"-1.25e-22", b"100000000000000000000000e-2",
    b"0.30000000000000004", b"5e-1",
]
STRINGS = [
    b'""', b'"plain"', b'"\\"\\\\\\/\\b\\f\\n\\r\\t"', b'"\\u00e9\\u2603"', b'"\\ud83d\\ude00"',
    b'"\\u0000"', '"é☃😀"'.encode(), b'"' + b"x" * 70000 + b'"', b'"2024-01"', b'"20240101"',
    b'"1999-13"', b'"\x7f"',
]


@needs_c
def test_every_form_reads_as_pyarrow_does() -> None:
    rows = []
    for i, v in enumerate(NUMBERS):
        rows.append(b'{"i":%s,"n":%d}' % (v, i))
    for i, v in enumerate(FLOATS):
        rows.append(b'{"f":%s, "i_then_f":%s}' % (v, v if i % 2 else b"7"))
    for v in STRINGS:
        rows.append(b'{ "s" : %s , "b":true,"nil":null }' % v)
    rows += [b'{"b":false,"late":1}', b"{}", b" \t\r\n{ } ", b'{"":1,"n":null}',
             b'{"u":18446744073709551615,"list":[[1,2],[3]],"obj":{"k":"]}\\"","n":[{"x":1}]}}',
             b'{"u":5,"list":[],"obj":{"k":null,"z":2.5},"mixed_u":9223372036854775808}',
             b'{"list":null,"obj":null,"mixed_u":1.5}']
    got = objects_to_table(rows)
    assert got is not None
    same(got, by_pyarrow(rows))
    assert got.column_names == ["i", "n", "f", "i_then_f", "s", "b", "nil", "late", "", "u",
                                "list", "obj", "mixed_u"]
    assert got.column("u").type == pa.float64()  # beyond int64, no hint: pyarrow's doubles
    assert got.column("i_then_f").type == pa.float64()  # ints read before became floats
    assert got.column("nil").type == pa.null()


NESTED_ROWS = [
    b'{"l":[1,2,3],"o":{"a":1,"b":"x"},"deep":[[1],[2]],"dates":["2024-01-01"]}',
    b'{"l":[],"o":{"b":"y","c":true},"deep":[[]],"dates":[]}',
    b'{"l":null,"o":null,"deep":null}',
    b'{"l":[4.5,null],"o":{},"f":[true,false]}',
    b'{"o":{"a":2.5,"d":null},"f":[]}',
    rb'{"l":[9223372036854775807],"o":{"a":-1,"e":[1]},"s":["a","\u00e9",null]}',
]


@needs_c
def test_nested_scalars_read_as_arrow_in_c() -> None:
    """Lists of scalars and objects of scalars are read into Arrow lists and structs in C
    (int elements promoted to floats, fields in order of first appearance, null and
    missing rows); deeper nesting, date-like strings and a field holding a list leave
    that column to pyarrow's reading of its lines. Both give pyarrow's table."""
    got = objects_to_table(NESTED_ROWS)
    assert got is not None
    same(got, by_pyarrow(NESTED_ROWS))
    cols = {c[0]: c for c in columns_c(*buffers(NESTED_ROWS))}
    assert cols["l"][5][0] == "list" and cols["f"][5][0] == "list"
    assert cols["s"][5][0] == "list"
    assert cols["o"][5] is None  # a field of "o" holds a list in the last row: its lines
    assert cols["deep"][5] is None  # lists of lists: the lines
    assert got.column("l").type == pa.list_(pa.float64())
    assert got.column("o").type.names == ["a", "b", "c", "d", "e"]
    simple = NESTED_ROWS[:5]
    nested = {c[0]: c for c in columns_c(*buffers(simple))}
    assert nested["o"][5][0] == "struct"
    assert [k[0] for k in nested["o"][5][3]] == ["a", "b", "c", "d"]
    same(objects_to_table(simple), by_pyarrow(simple))


LEADING_NULLS = [b'{"h":null}', b'{"h":[null,1]}', b"{}", b'{"h":[null,null,2.5]}',
                 b'{"h":[]}', b'{"h":[3]}']


@needs_c
def test_lists_with_leading_null_elements() -> None:
    """pyarrow 26's JSON reader builds an invalid list column (offsets past its values)
    when a list's first elements are null before any typed one; C reads them right."""
    got = objects_to_table(LEADING_NULLS)
    assert got is not None
    got.validate(full=True)
    assert got.column("h").type == pa.list_(pa.float64())
    assert got.column("h").to_pylist() == [None, [None, 1.0], None, [None, None, 2.5], [], [3.0]]


def test_a_broken_pyarrow_column_is_a_decode_error_not_garbage() -> None:
    """Without the C reader those rows go to pyarrow; the codec checks what it built and
    says what went wrong instead of handing on an invalid array."""
    got = codec_result(LEADING_NULLS, None, c=False)
    if isinstance(got, tuple):  # this pyarrow builds the invalid column
        assert got[0] is errors.DecodeError and "invalid column" in got[1], got
    else:  # a pyarrow that reads them right
        assert got.column("h").to_pylist()[1] == [None, 1.0]


@needs_c
@pytest.mark.parametrize("hinted", [False, True])
def test_hints_read_as_pyarrows_explicit_schema(hinted: bool) -> None:
    hints = pa.schema([("z", pa.int32()), ("a", pa.string()), ("q", pa.float64()),
                       ("absent", pa.int16()), ("u", pa.uint64()), ("flag", pa.bool_())])
    rows = [b'{"b":1,"a":"2024-01-01","z":5,"u":7}', b'{"a":null,"c":true,"q":3,"flag":false}',
            b'{"q":1.5,"z":-3,"a":"x"}']
    h = hints if hinted else None
    got = objects_to_table(rows, h)
    if not hinted:  # a date-like string without a text hint: pyarrow may make a timestamp
        assert got is None
        return
    assert got is not None
    same(got, by_pyarrow(rows, h))
    assert got.column_names[:6] == hints.names  # the schema's fields first, then the rest


DECLINED = {
    "not an object": [b'{"a":1}', b"[1, 2]"],
    "a bare value": [b"3"],
    "empty payload": [b'{"a":1}', b""],
    "two objects": [b'{"a":1} {"a":2}'],
    "trailing garbage": [b'{"a":1}x'],
    "trailing comma": [b'{"a":1,}'],
    "unterminated nested": [b'{"a":[1,{"b":"]}"}'],
    "scalar then nested": [b'{"a":1}', b'{"a":[1]}'],
    "nested then scalar": [b'{"a":[1]}', b'{"a":1}'],
    "list then object": [b'{"a":[1]}', b'{"a":{"b":1}}'],
    "malformed nested": [b'{"a":[1,,2]}'],
    "list of mixed kinds": [b'{"a":[1,"x"]}'],
    "int beyond uint64": [b'{"a":18446744073709551616}'],
    "both signs beyond int64": [b'{"a":-1}', b'{"a":9223372036854775808}'],
    "NaN": [b'{"a":NaN}'],
    "Infinity": [b'{"a":-Infinity}'],
    "key twice": [b'{"a":1,"a":2}'],
    "escaped key": [b'{"a\\u0041":1}'],
    "bool then number": [b'{"a":true}', b'{"a":1}'],
    "number then string": [b'{"a":1}', b'{"a":"x"}'],
    "string then bool": [b'{"a":"x"}', b'{"a":false}'],
    "negative beyond int64": [b'{"a":-9223372036854775809}'],
    "number too big": [b'{"a":1e400}'],
    "large exponent": [b'{"a":0e400}'],
    "minus zero int": [b'{"a":1.5}', b'{"a":-0}'],
    "leading zero": [b'{"a":01}'],
    "no fraction digits": [b'{"a":1.}'],
    "no int digits": [b'{"a":.5}'],
    "bad escape": [b'{"a":"\\x"}'],
    "lone high surrogate": [b'{"a":"\\ud800"}'],
    "lone low surrogate": [b'{"a":"\\udc00x"}'],
    "control character": [b'{"a":"\x01"}'],
    "invalid UTF-8": [b'{"a":"\xff"}'],
    "invalid UTF-8 key": [b'{"\xff":1}'],
    "unterminated string": [b'{"a":"abc'],
    "unterminated object": [b'{"a":1'],
    "date-like strings": [b'{"a":"2024-01-01"}', b'{"a":"x"}'],
    "date-time strings": [b'{"a":"2024-01-01T10:00:00.5Z"}'],
    "no keys at all": [b"{}", b"{}"],
    "true misspelt": [b'{"a":tru}'],
}


@needs_c
@pytest.mark.parametrize("case", sorted(DECLINED))
def test_declines_what_pyarrow_should_read(case: str) -> None:
    payloads = DECLINED[case]
    assert objects_to_table(payloads) is None
    codec_agrees(payloads)


def test_the_codec_reads_a_frame_of_scalar_columns_back() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    df = pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "small": rng.integers(-100, 100, n).astype(np.int8),
        "big": rng.integers(0, 2**62, n, dtype=np.uint64),
        "price": rng.normal(100, 30, n),
        "ratio": rng.random(n).astype(np.float32),
        "name": [f"név-{i}\n\"{i % 7}\"" for i in range(n)],
        "flag": rng.random(n) > 0.5,
        "maybe": pd.array([None if i % 5 == 0 else i for i in range(n)], dtype="Int64"),
        "ts": pd.date_range("2024-01-01", periods=n, freq="37ms", tz="UTC"),
    })
    table = pa.Table.from_pandas(df, preserve_index=False)
    codec = JsonCodec()
    payloads = codec.encode(table)
    for hints in (None, dtypes.wire_hints(table.schema)):
        codec_agrees(payloads, hints)
    if NATIVE:  # without the timestamps every column is simple: C reads them all
        scalar = table.drop_columns(["ts"])
        plain = codec.encode(scalar)
        hints = dtypes.wire_hints(scalar.schema)
        got = objects_to_table(plain, hints)
        assert got is not None
        same(got, by_pyarrow(plain, hints))
        assert got.column("big").to_pylist() == df["big"].tolist()
        assert got.column("name").to_pylist() == df["name"].tolist()


@needs_c
@pytest.mark.parametrize("hinted", [False, True])
def test_the_writers_wide_frame_is_read_in_c(hinted: bool) -> None:
    """The 13-column frame of the data tier (ints of three widths, uint64 beyond int64,
    floats with nulls, float32, text with escapes, timestamps, categories, lists, dicts),
    as publish_dataframe writes it: with the recorded schema's hints C reads every batch,
    nested columns included, and the codec gives what it gives with C ruled out."""
    from frames import wide_frame
    table = pa.Table.from_pandas(wide_frame(3000), preserve_index=False)
    payloads = JsonCodec().encode(table)
    hints = dtypes.wire_hints(table.schema) if hinted else None
    got = objects_to_table(payloads, hints)
    if hinted:
        assert got is not None
        assert got.schema.field("big").type == pa.uint64()
        assert got.schema.field("ratio").type == pa.float32()
    else:  # the ISO timestamps without a text hint: pyarrow's inference
        assert got is None
    codec_agrees(payloads, hints)


# --- random input -------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "é", "long key"])
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12), st.sampled_from(["2024-01-01", "2024-01-01T10:00", "x2024"]))
VALUE = st.one_of(SCALAR, st.lists(st.integers(0, 3), max_size=2),
                  st.dictionaries(st.just("k"), st.integers(0, 3), max_size=1))
SPACE = st.sampled_from(["", " ", "\t", "\r\n", "  "])


@st.composite
def json_rows(draw: Any, value: Any) -> list[bytes]:
    """Payloads of random objects, spelt with random whitespace and escaping."""
    out = []
    for _ in range(draw(st.integers(1, 12))):
        row = draw(st.dictionaries(KEYS, value, max_size=4))
        ascii_only = draw(st.booleans())
        sp = draw(SPACE)
        parts = [f"{sp}{json.dumps(k, ensure_ascii=ascii_only)}{sp}:{sp}"
                 f"{json.dumps(v, ensure_ascii=ascii_only)}" for k, v in row.items()]
        out.append(f"{sp}{{{','.join(parts)}{sp}}}{sp}".encode())
    return out


@st.composite
def column_rows(draw: Any) -> list[bytes]:
    """Payloads whose every column holds one kind (plus nulls and missing keys)."""
    kinds = {"a": st.integers(-(2**63), 2**63 - 1), "b": st.floats(allow_nan=False,
             allow_infinity=False), "c": st.text(max_size=8).filter(
             lambda s: not s[:1].isdigit()), "d": st.booleans(),
             "e": st.lists(st.integers(-5, 5), max_size=3),
             "f": st.fixed_dictionaries({}, optional={"x": st.text(max_size=3),
                                                      "y": st.floats(allow_nan=False)}),
             "g": st.integers(2**63, 2**64 - 1),
             "h": st.lists(st.one_of(st.integers(-9, 9), st.floats(-1e3, 1e3)), max_size=3),
             "i": st.fixed_dictionaries({}, optional={"p": st.booleans(), "q": st.none(),
                                                      "r": st.lists(st.integers(0, 2))})}
    out = []
    for _ in range(draw(st.integers(1, 20))):
        row = {}
        for k, strat in kinds.items():
            if draw(st.integers(0, 3)):
                row[k] = draw(st.one_of(st.none(), strat))
        out.append(json.dumps(row, ensure_ascii=draw(st.booleans())).encode())
    return out


@needs_c
@settings(max_examples=300, deadline=None)
@given(column_rows())
def test_random_column_rows_are_read_in_c(payloads: list[bytes]) -> None:
    got = objects_to_table(payloads)
    if all(p == b"{}" for p in payloads):
        assert got is None
        return
    assert got is not None  # simple rows: C must not decline them
    same(got, by_pyarrow(payloads))


@settings(max_examples=300, deadline=None)
@given(json_rows(VALUE), st.booleans())
def test_the_codec_reads_random_rows_as_pyarrow_does(payloads: list[bytes], hinted: bool
                                                     ) -> None:
    hints = pa.schema([("a", pa.int32()), ("b", pa.float64()), ("c", pa.string())]
                      ) if hinted else None
    codec_agrees(payloads, hints)


NUMBER_TEXT = st.from_regex(r"\A-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?\Z")


@needs_c
@settings(max_examples=500, deadline=None)
@given(st.lists(NUMBER_TEXT, min_size=1, max_size=8))
def test_random_number_spellings_read_as_pyarrow_does(numbers: list[str]) -> None:
    payloads = [b'{"x":%s}' % n.encode() for n in numbers]
    try:
        want = by_pyarrow(payloads)
    except pa.ArrowInvalid:
        assert objects_to_table(payloads) is None
        return
    got = objects_to_table(payloads)
    if got is None:  # only ints beyond int64 or -0, exponents above 308 and overflows decline
        ints = [n for n in numbers if not any(ch in n for ch in ".eE")]
        odd = [n for n in ints if not -(2**63) <= int(n) < 2**63 or n == "-0"]
        odd += [n for n in numbers if "e" in n.lower() and int(n.lower().split("e")[1]) > 308]
        odd += [n for n in numbers if math.isinf(float(n))]  # pyarrow's inf: its own path
        assert odd, numbers
        return
    same(got, want)
    for n, v in zip(numbers, got.column("x").to_pylist(), strict=True):
        assert v == (float(n) if isinstance(v, float) else int(n))  # Python rounds correctly


F32_TEXT = st.one_of(
    st.floats(width=32, allow_nan=False, allow_infinity=False).map(lambda f: repr(f)),
    NUMBER_TEXT, st.integers(-(2**60), 2**60).map(str),
    st.sampled_from(["3.4028235e38", "3.4028236e38", "1e39", "1e-46", "-1e-46", "16777217",
                     "16777217.0", "0.1", "1.00000005960464477539062499", "1.0000000596046448",
                     "1.00000005960464477539062501", "7.0064923216240854e-46"]))


@needs_c
@settings(max_examples=500, deadline=None)
@given(st.lists(F32_TEXT, min_size=1, max_size=8))
def test_float32_hints_read_as_pyarrow_does(numbers: list[str]) -> None:
    payloads = [b'{"x":%s}' % n.encode() for n in numbers]
    hints = pa.schema([("x", pa.float32())])
    try:
        want = by_pyarrow(payloads, hints)
    except pa.ArrowInvalid:
        assert objects_to_table(payloads, hints) is None
        return
    got = objects_to_table(payloads, hints)
    if got is not None:
        same(got, want)
