"""msgpack rows as Arrow columns, in bulk: the msgpack codec's reader.

A batch of payloads that are each one msgpack map (a row, as ``publish_dataframe`` writes
it) is read by the C extension (``jsdata/_cmsgpack.c``) straight into Arrow buffers, one
column per key, with no Python object per value: ints, floats, booleans, strings, bytes
and Timestamp extensions. Nested values (lists, maps, other extensions) come back as one
msgpack array per column that msgpack unpacks in one call. :func:`maps_to_table` builds the
table the row-by-row path (:func:`jsdata.frames.rows.rows_to_table` over the unpacked
dicts) builds, type for type and value for value; it returns None when the C reader is not
built (or ``JSDATA_PURE_PYTHON=1``) or the rows are not that simple (a payload that is not
a map, a column of mixed kinds, malformed bytes), and the caller takes the row-by-row path,
which is also the one that names what was wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from ..client import _native
from .packed import buffers
from .rows import TS_UTC, py_column

__all__ = ["maps_to_table"]

# the kinds of jsdata/_cmsgpack.c
K_NONE, K_INT, K_F64, K_BOOL, K_STR, K_BIN, K_TS, K_RAW, K_UINT = range(9)


def _load() -> Callable[..., Any] | None:
    if _native.forced_pure():
        return None
    try:
        from .._cmsgpack import columns
    except ImportError:  # not built (no compiler at install time, PyPy): row by row
        return None
    return columns


columns_c = _load()  # the C reader this process uses (None: the row-by-row path only)
_TYPES = {K_INT: pa.int64(), K_F64: pa.float64(), K_BOOL: pa.bool_(), K_STR: pa.string(),
          K_BIN: pa.binary(), K_TS: pa.int64(), K_UINT: pa.uint64()}


def maps_to_table(payloads: Sequence[bytes], hints: pa.Schema | None) -> pa.Table | None:
    """The table of a batch of msgpack row maps (``hints``: types for some columns, as
    :func:`~jsdata.frames.rows.rows_to_table` takes them), or None: decode row by row."""
    columns = columns_c
    n = len(payloads)
    if columns is None or n == 0:
        return None
    cols = columns(*buffers(payloads))
    if cols is None:
        return None
    arrays = []
    names = []
    for key, kind, nulls, valid, values, offsets in cols:
        arr = _column(key, kind, n, nulls, valid, values, offsets, hints)
        if arr is None:
            return None
        arrays.append(arr)
        names.append(key)
    return pa.table(arrays, names=names) if arrays else None


def _column(key: str, kind: int, n: int, nulls: int, valid: bytes | None, values: Any,
            offsets: bytes | None, hints: pa.Schema | None) -> pa.Array | None:
    hint = None
    if hints is not None:
        i = hints.get_field_index(key)
        if i >= 0:
            hint = hints.field(i).type
    if kind == K_RAW:
        import msgpack
        try:
            vals = msgpack.unpackb(values, raw=False, timestamp=0, strict_map_key=False)
        except Exception:  # noqa: BLE001 - e.g. a malformed extension: the row path says
            return None
        return py_column(key, vals, hint)
    if kind == K_NONE or nulls == n:  # nil or missing (or NaN) in every row: no type
        return pa.nulls(n) if hint is None else pa.nulls(n, hint)
    vbuf = None if valid is None else pa.py_buffer(valid)
    bufs = [vbuf, pa.py_buffer(values)] if offsets is None else [
        vbuf, pa.py_buffer(offsets), pa.py_buffer(values)]
    arr = pa.Array.from_buffers(_TYPES[kind], n, bufs, null_count=nulls)
    if kind == K_STR:
        try:
            arr.validate(full=True)  # UTF-8, as unpacking checks it
        except pa.ArrowInvalid:
            return None
    if kind == K_TS:  # msgpack Timestamps: no hint fits them (they are not Python values)
        return arr.cast(TS_UTC)
    if hint is None or hint == arr.type:
        return arr
    if pa.types.is_integer(hint) and kind in (K_INT, K_UINT):
        try:
            return arr.cast(hint)  # a value out of range: as a Python int list would fail
        except (pa.ArrowInvalid, OverflowError):
            return arr
    if pa.types.is_float32(hint) and kind == K_F64:
        return arr.cast(hint)
    return py_column(key, arr.to_pylist(), hint)
