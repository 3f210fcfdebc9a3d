"""Arrow values as msgpack, vectorised: the msgpack codec's writer.

:func:`msgpack_rows` turns a table into one msgpack map per row with numpy and Arrow compute
kernels (no Python object per value), byte for byte what ``msgpack.packb`` writes for the
row as a dict of Python values (the codec's per-value path, :func:`value_fragments`, is the
reference and the fallback): ints in their shortest form, floats as float64 (NaN as nil),
strings as str and bytes as bin, timestamps as the Timestamp extension (-1), lists as
arrays, structs as maps. Types with no vectorised form here (maps, nested timestamps, dates,
decimals...) are packed value by value, one column at a time.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import errors
from .._util import gc_paused
from .json_text import _own_values, one_array

__all__ = ["msgpack_rows"]

_B = pa.large_binary()
NIL = b"\xc0"


def _bytes_of(width: int, lens: np.ndarray, mat: np.ndarray) -> pa.Array:
    """A large_binary array whose value ``i`` is ``mat[i, :lens[i]]``."""
    n = len(lens)
    keep = np.arange(width)[None, :] < lens[:, None]
    data = mat[keep]  # row-major: each row's bytes in order
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    return pa.Array.from_buffers(_B, n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _put(mat: np.ndarray, rows: np.ndarray, at: int, vals: np.ndarray, dtype: str) -> None:
    """Write ``vals`` (one per selected row) big-endian as ``dtype`` at column ``at``."""
    if not rows.any():
        return
    be = vals.astype(dtype)
    mat[rows, at:at + be.itemsize] = be.view(np.uint8).reshape(-1, be.itemsize)


_UINT_FORMS = ((0xCC, 1 << 8, ">u1"), (0xCD, 1 << 16, ">u2"), (0xCE, 1 << 32, ">u4"),
               (0xCF, None, ">u8"))  # (code, first value that no longer fits, wire type)
_NEG_FORMS = ((0xD0, -(1 << 7) - 1, ">i1"), (0xD1, -(1 << 15) - 1, ">i2"),
              (0xD2, -(1 << 31) - 1, ">i4"), (0xD3, None, ">i8"))


def _by_size(mat: np.ndarray, lens: np.ndarray, x: np.ndarray, left: np.ndarray,
             forms: tuple[tuple[int, int | None, str], ...]) -> None:
    """Give each row in ``left`` the first of ``forms`` its value fits (the last fits all):
    the type code, then the value big-endian."""
    for code, stop, dt in forms:
        if stop is not None:  # positive forms end above their range, negative ones below
            sel = left & ((x < stop) if stop > 0 else (x > stop))
        else:
            sel = left
        mat[sel, 0] = code
        _put(mat, sel, 1, x[sel], dt)
        lens[sel] = 1 + int(dt[-1])
        left = left & ~sel


def _ints(v: np.ndarray, unsigned: bool) -> tuple[np.ndarray, np.ndarray]:
    """msgpack's shortest int encodings of ``v``: (n, 9) bytes and lengths."""
    n = len(v)
    x = v.astype(np.uint64 if unsigned else np.int64)
    mat = np.zeros((n, 9), dtype=np.uint8)
    lens = np.ones(n, dtype=np.int64)
    fix = x < 128 if unsigned else (x >= -32) & (x < 128)  # one byte: the value itself
    mat[fix, 0] = (x[fix] & 0xFF).astype(np.uint8)
    _by_size(mat, lens, x, x >= 128, _UINT_FORMS)
    if not unsigned:
        _by_size(mat, lens, x, x < -32, _NEG_FORMS)
    return mat, lens


def _timestamps(ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Timestamp extension (type -1) of nanoseconds since the epoch, in the 32/64/96-bit
    form msgpack picks: (n, 15) bytes and lengths."""
    n = len(ns)
    sec = np.floor_divide(ns, 1_000_000_000)
    nsec = (ns - sec * 1_000_000_000).astype(np.uint64)
    mat = np.zeros((n, 15), dtype=np.uint8)
    lens = np.empty(n, dtype=np.int64)
    small = (sec >= 0) & (sec < (1 << 34))
    data64 = (nsec << np.uint64(34)) | np.where(small, sec, 0).astype(np.uint64)
    t32 = small & ((data64 >> np.uint64(32)) == 0)
    t64 = small & ~t32
    t96 = ~small
    mat[t32, 0], mat[t32, 1], lens[t32] = 0xD6, 0xFF, 6
    _put(mat, t32, 2, data64[t32], ">u4")
    mat[t64, 0], mat[t64, 1], lens[t64] = 0xD7, 0xFF, 10
    _put(mat, t64, 2, data64[t64], ">u8")
    mat[t96, 0], mat[t96, 1], mat[t96, 2], lens[t96] = 0xC7, 12, 0xFF, 15
    _put(mat, t96, 3, nsec[t96], ">u4")
    _put(mat, t96, 7, sec[t96], ">i8")
    return mat, lens


def _headers(lens: np.ndarray, forms: tuple[tuple[int, int | None, int, int], ...]
             ) -> pa.Array:
    """Length-prefix headers: ``forms`` is (limit, fix base or None, code, size bytes) from
    the shortest form up; a form applies to lengths below its limit."""
    n = len(lens)
    mat = np.zeros((n, 5), dtype=np.uint8)
    hl = np.zeros(n, dtype=np.int64)
    left = np.ones(n, dtype=bool)
    for lim, fixbase, code, size in forms:
        sel = left & (lens < lim)
        if fixbase is not None:
            mat[sel, 0] = (fixbase | lens[sel]).astype(np.uint8)
            hl[sel] = 1
        else:
            mat[sel, 0] = code
            _put(mat, sel, 1, lens[sel], {1: ">u1", 2: ">u2", 4: ">u4"}[size])
            hl[sel] = 1 + size
        left &= ~sel
    return _bytes_of(5, hl, mat)


_STR_FORMS = ((32, 0xA0, 0, 0), (1 << 8, None, 0xD9, 1), (1 << 16, None, 0xDA, 2),
              (1 << 32, None, 0xDB, 4))
_BIN_FORMS = ((1 << 8, None, 0xC4, 1), (1 << 16, None, 0xC5, 2), (1 << 32, None, 0xC6, 4))
_ARRAY_FORMS = ((16, 0x90, 0, 0), (1 << 16, None, 0xDC, 2), (1 << 32, None, 0xDD, 4))
_MAP_FORMS = ((16, 0x80, 0, 0), (1 << 16, None, 0xDE, 2), (1 << 32, None, 0xDF, 4))


def _join(*parts: Any) -> pa.Array:
    return pc.binary_join_element_wise(
        *[pa.scalar(p, _B) if isinstance(p, bytes) else p for p in parts], pa.scalar(b"", _B))


def _with_nulls(arr: pa.Array, frags: pa.Array) -> pa.Array:
    """``frags`` with nil where ``arr`` is null."""
    if arr.null_count:
        return pc.if_else(arr.is_valid(), frags, pa.scalar(NIL, _B))
    return frags


def _numbers(mat: np.ndarray, lens: np.ndarray, valid: np.ndarray | None
             ) -> pa.Array:
    if valid is not None:
        mat[~valid, 0] = 0xC0
        lens[~valid] = 1
    return _bytes_of(mat.shape[1], lens, mat)


def _valid(arr: pa.Array) -> np.ndarray | None:
    return None if not arr.null_count else np.asarray(arr.is_valid())


def _floats(arr: pa.Array) -> pa.Array:
    n = len(arr)
    v = np.asarray(pc.fill_null(arr.cast(pa.float64()), 0.0))
    mat = np.zeros((n, 9), dtype=np.uint8)
    mat[:, 0] = 0xCB
    mat[:, 1:] = v.astype(">f8").view(np.uint8).reshape(n, 8)
    lens = np.full(n, 9, dtype=np.int64)
    keep = ~np.isnan(v)
    valid = _valid(arr)
    return _numbers(mat, lens, keep if valid is None else keep & valid)


def _packed_each(arr: pa.Array, column: str) -> pa.Array:
    """The per-value path: each value as the codec's Python value, packed by msgpack."""
    import msgpack

    pack = msgpack.Packer(use_bin_type=True, datetime=False).pack
    with gc_paused():  # Python containers per value (lists, dicts, timestamps)
        return pa.array([pack(v) for v in _msgpack_values(pa.chunked_array([arr]), column)],
                        _B)


def value_fragments(arr: pa.Array, column: str, nested: bool = False) -> pa.Array:
    """Each value of ``arr`` packed as msgpack (a large_binary array, nil for nulls)."""
    t = arr.type
    n = len(arr)
    if pa.types.is_dictionary(t):
        return pc.fill_null(pc.take(value_fragments(arr.dictionary, column, nested),
                                    arr.indices), pa.scalar(NIL, _B))
    if pa.types.is_null(t):
        return pa.array([NIL] * n, _B)
    if pa.types.is_boolean(t):
        return _with_nulls(arr, pc.if_else(pc.fill_null(arr, False), pa.scalar(b"\xc3", _B),
                                           pa.scalar(b"\xc2", _B)))
    if pa.types.is_integer(t):
        unsigned = pa.types.is_unsigned_integer(t)
        v = np.asarray(pc.fill_null(arr, 0).cast(pa.uint64() if unsigned else pa.int64()))
        mat, lens = _ints(v, unsigned)
        return _numbers(mat, lens, _valid(arr))
    if pa.types.is_floating(t):
        return _floats(arr)
    text = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    if text or pa.types.is_binary(t) or pa.types.is_large_binary(t) \
            or pa.types.is_binary_view(t) or pa.types.is_fixed_size_binary(t):
        b = arr.cast(pa.large_string()).cast(_B) if text else arr.cast(_B)
        lens = np.asarray(pc.fill_null(pc.binary_length(b), 0)).astype(np.int64)
        return _with_nulls(arr, _join(_headers(lens, _STR_FORMS if text else _BIN_FORMS),
                                      pc.fill_null(b, b"")))
    if pa.types.is_timestamp(t) and not nested:
        ns = np.asarray(pc.fill_null(arr.cast(pa.timestamp("ns", t.tz)).cast(pa.int64()), 0))
        mat, lens = _timestamps(ns)
        return _numbers(mat, lens, _valid(arr))
    if pa.types.is_struct(t) and len({f.name for f in t}) == t.num_fields:
        parts: list[Any] = [_headers(np.full(n, t.num_fields, dtype=np.int64), _MAP_FORMS)]
        for f, child in zip(t, arr.flatten(), strict=True):
            parts.append(_packed_key(f.name))
            parts.append(value_fragments(child, f"{column}.{f.name}", True))
        return _with_nulls(arr, _join(*parts))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        offsets, (vals,) = _own_values(arr, arr.values)
        frags = value_fragments(vals, f"{column}[]", True)
        lst = pa.LargeListArray.from_arrays(offsets.cast(pa.int64()), frags)
        counts = np.asarray(pc.fill_null(pc.list_value_length(arr), 0)).astype(np.int64)
        return _with_nulls(arr, _join(_headers(counts, _ARRAY_FORMS),
                                      pc.binary_join(lst, pa.scalar(b"", _B))))
    return _packed_each(arr, column)


def _packed_key(name: str) -> bytes:
    import msgpack
    return msgpack.packb(name, use_bin_type=True)


def msgpack_rows(table: pa.Table | pa.RecordBatch, rows_per_message: int | None = None
                 ) -> list[bytes]:
    """Every row of ``table`` as one msgpack map (or ``rows_per_message`` rows as one array of
    maps), as ``msgpack.packb`` writes the row dicts."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    table = table.combine_chunks()
    n = table.num_rows
    names = table.column_names
    parts: list[Any] = [_headers(np.full(n, len(names), dtype=np.int64), _MAP_FORMS)]
    for i, name in enumerate(names):
        parts.append(_packed_key(name))
        parts.append(value_fragments(one_array(table.column(i)), name))
    rows = _join(*parts) if names else pa.array([b"\x80"] * n, _B)
    if rows_per_message and rows_per_message > 1 and n:
        k = rows_per_message
        offs = np.append(np.arange(0, n, k, dtype=np.int64), n)
        lst = pa.LargeListArray.from_arrays(pa.array(offs), rows)
        rows = _join(_headers(np.diff(offs), _ARRAY_FORMS),
                     pc.binary_join(lst, pa.scalar(b"", _B)))
    out: list[bytes] = rows.to_pylist()
    return out


def _msgpack_values(col: pa.ChunkedArray, name: str) -> list[Any]:
    """A column as the Python values msgpack packs: Timestamp objects, NaN as None, dates,
    times and decimals as ISO/decimal strings, nested values through :func:`_msgpack_nested`."""
    import msgpack
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_timestamp(t):
        ns = col.cast(pa.timestamp("ns", t.tz)).cast(pa.int64()).to_pylist()
        ts = msgpack.Timestamp.from_unix_nano
        return [None if v is None else ts(v) for v in ns]
    if pa.types.is_floating(t):
        return [None if v is None or (v != v) else v for v in col.to_pylist()]
    if pa.types.is_duration(t) or pa.types.is_interval(t) or pa.types.is_union(t):
        raise errors.UnsupportedTypeError(
            f"column {name!r} has type {t}, which the msgpack codec cannot write")
    vals = col.to_pylist()
    if pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_large_list(t) \
            or pa.types.is_map(t):
        vals = [_msgpack_nested(v) for v in vals]
    elif pa.types.is_date(t) or pa.types.is_time(t) or pa.types.is_decimal(t):
        vals = [None if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v))
                for v in vals]
    return vals


def _msgpack_nested(v: Any) -> Any:
    """A nested Python value as msgpack packs it: maps' pairs as dicts, datetimes as
    Timestamps (naive ones taken as UTC), NaN as None."""
    import msgpack
    if isinstance(v, dict):
        return {k: _msgpack_nested(x) for k, x in v.items()}
    if isinstance(v, list):
        if v and isinstance(v[0], tuple) and len(v[0]) == 2:  # a map's (key, value) pairs
            return {k: _msgpack_nested(x) for k, x in v}
        return [_msgpack_nested(x) for x in v]
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        return msgpack.Timestamp.from_datetime(v)
    if isinstance(v, float) and math.isnan(v):
        return None
    return v
