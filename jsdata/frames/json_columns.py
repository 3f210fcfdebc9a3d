"""JSON objects as Arrow columns, in bulk: the JSON codec's fast reader.

A batch of payloads that are each one JSON object of scalar values (a row, as
``publish_dataframe`` writes it, or an event as most producers send it) is read by the C
extension (``jsdata/_cjson.c``) straight into Arrow buffers, one column per key: ints,
floats, booleans, strings and nulls, with no Python object per value and without joining
the payloads. Columns of nested values (lists, objects) come back from C as one line per
row, which pyarrow reads as that one column. :func:`objects_to_table` builds the table
pyarrow's ``read_json`` builds from the same lines (and the same explicit-schema
``hints``), type for type, value for value and column for column. It returns None when
the C reader is not built (or ``JSDATA_PURE_PYTHON=1``) or when pyarrow might read the
rows differently: strings that pyarrow may take for timestamps (unless hinted as text),
mixed kinds, malformed JSON, ints beyond uint64. The caller then reads the batch with
pyarrow, which is also the path that names what was wrong.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..client import _native
from .packed import buffers

__all__ = ["objects_to_table"]

# the kinds of jsdata/_columns.h that the JSON reader gives
K_NONE, K_INT, K_F64, K_BOOL, K_STR, K_UINT, K_DSTR, K_JRAW = 0, 1, 2, 3, 4, 8, 9, 10


def _load() -> Callable[..., Any] | None:
    if _native.forced_pure():
        return None
    try:
        from .._cjson import columns
    except ImportError:  # not built (no compiler at install time, PyPy): pyarrow's reader
        return None
    return columns


columns_c = _load()  # the C reader this process uses (None: pyarrow's reader only)
_TYPES = {K_INT: pa.int64(), K_F64: pa.float64(), K_BOOL: pa.bool_(), K_STR: pa.string(),
          K_DSTR: pa.string(), K_UINT: pa.uint64()}


def objects_to_table(payloads: Sequence[bytes], hints: pa.Schema | None = None
                     ) -> pa.Table | None:
    """The table of a batch of JSON objects, as ``pyarrow.json.read_json`` reads the
    payloads as lines (``hints``: its ``explicit_schema``, other fields inferred), or None:
    read them with pyarrow."""
    columns = columns_c
    n = len(payloads)
    if columns is None or n == 0:
        return None
    cols = columns(*buffers(payloads))
    if not cols:  # bailed, or no keys at all
        return None
    got: dict[str, pa.Array] = {}
    for key, kind, nulls, valid, values, offsets in cols:
        hint = None
        if hints is not None:
            i = hints.get_field_index(key)
            if i >= 0:
                hint = hints.field(i).type
        arr = _column(kind, n, nulls, valid, values, offsets, hint)
        if arr is None:
            return None
        got[key] = arr
    if hints is None:
        return pa.table(list(got.values()), names=list(got))
    # pyarrow's order: the explicit schema's fields (absent ones as nulls), then the rest
    arrays = [got.pop(f.name) if f.name in got else pa.nulls(n, f.type) for f in hints]
    names = hints.names + list(got)
    return pa.table(arrays + list(got.values()), names=names)


def _column(kind: int, n: int, nulls: int, valid: bytes | None, values: Any,
            offsets: bytes | None, hint: pa.DataType | None) -> pa.Array | None:
    if kind == K_NONE:  # null or missing in every row
        return pa.nulls(n) if hint is None else pa.nulls(n, hint)
    if kind == K_DSTR and not (hint is not None and pa.types.is_string(hint)):
        return None  # strings pyarrow may infer as timestamps: its own path
    if kind == K_JRAW:
        arr = _structured(offsets, n) if hint is None and offsets is not None else None
        return arr if arr is not None else _nested(values, n, hint)
    vbuf = None if valid is None else pa.py_buffer(valid)
    bufs = [vbuf, pa.py_buffer(values)] if offsets is None else [
        vbuf, pa.py_buffer(offsets), pa.py_buffer(values)]
    arr = pa.Array.from_buffers(_TYPES[kind], n, bufs, null_count=nulls)
    if kind in (K_STR, K_DSTR):
        try:
            arr.validate(full=True)  # UTF-8: not checked in C
        except pa.ArrowInvalid:
            return None
    if kind == K_UINT and hint is None:
        return arr.cast(pa.float64(), safe=False)  # pyarrow makes doubles of them; rounded alike
    if hint is None or hint == arr.type:
        return arr
    if kind in (K_INT, K_UINT) and (pa.types.is_integer(hint) or pa.types.is_float64(hint)):
        try:
            return arr.cast(hint)  # out of range: pyarrow refuses it, and says so
        except (pa.ArrowInvalid, OverflowError):
            return None
    if kind in (K_INT, K_UINT, K_F64) and pa.types.is_float32(hint):
        return _float32(arr)
    return None  # another type: pyarrow's path, which says what does not fit


def _structured(nest: tuple[Any, ...], n: int) -> pa.Array | None:
    """A nested column that C read as Arrow: ``("list", nulls, validity, offsets, item)``
    (a list of scalars a row) or ``("struct", nulls, validity, fields)`` (an object of
    scalars a row), or None when a part is not plain (date-like strings, say): then the
    column's lines are read by pyarrow."""
    shape, nulls, valid = nest[0], nest[1], nest[2]
    vbuf = None if valid is None else pa.py_buffer(valid)
    if shape == "list":
        offsets, item = nest[3], nest[4]
        m = len(offsets) // 4 - 1
        if m != n:
            return None
        count = int(np.frombuffer(offsets, dtype=np.int32)[-1])  # elements in all
        child = _column(item[1], count, item[2], item[3], item[4], item[5], None)
        if child is None:
            return None
        return pa.Array.from_buffers(pa.list_(child.type), n, [vbuf, pa.py_buffer(offsets)],
                                     null_count=nulls, children=[child])
    fields = []
    children = []
    for key, kind, knulls, kvalid, values, koffsets in nest[3]:
        child = _column(kind, n, knulls, kvalid, values, koffsets, None)
        if child is None or len(child) != n:
            return None
        fields.append(pa.field(key, child.type))
        children.append(child)
    return pa.Array.from_buffers(pa.struct(fields), n, [vbuf], null_count=nulls,
                                 children=children)


def _nested(lines: bytes, n: int, hint: pa.DataType | None) -> pa.Array | None:
    """A column of nested values (objects, arrays), given as one line ``{"v":<value>}`` a
    row: read by pyarrow, which infers its type from this column's values alone, as it does
    when it reads whole rows."""
    import pyarrow.json as pj
    ropts = pj.ReadOptions(block_size=max(1 << 20, len(lines) + 1), use_threads=False)
    popts = pj.ParseOptions(newlines_in_values=False) if hint is None else pj.ParseOptions(
        explicit_schema=pa.schema([("v", hint)]), newlines_in_values=False)
    try:
        t = pj.read_json(io.BytesIO(lines), read_options=ropts, parse_options=popts)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None  # malformed, or kinds that pyarrow refuses to mix: its whole-row path
    if t.num_rows != n or t.column_names != ["v"]:
        return None
    try:
        t.validate()  # pyarrow can build invalid lists (see codec._json_read)
    except pa.ArrowInvalid:
        return None
    return t.column(0).combine_chunks()


def _float32(arr: pa.Array) -> pa.Array | None:
    """A float64 (or int64) column at float32, as pyarrow parses the text at float32, or
    None. Rounding the text to float64 and that to float32 gives the float32 nearest the
    text except when the float64 lands exactly on the midpoint of two float32s (a float32
    midpoint is a float64: the text lay on one side, the float64 sits on it), and beyond
    float32's range; those batches are left to pyarrow."""
    d = arr.to_numpy(zero_copy_only=False).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: inf, then None
        f = d.astype(np.float32)
        back = f.astype(np.float64)
        off = d != back
        if off.any():
            toward = np.where(d > back, np.float32(np.inf), np.float32(-np.inf))
            other = np.nextafter(f, toward).astype(np.float64)
            if np.any(off & (((d - back) * 2 == other - back) | np.isinf(f))):
                return None
    valid = arr.buffers()[0]
    return pa.Array.from_buffers(pa.float32(), len(arr), [valid, pa.py_buffer(f)],
                                 null_count=arr.null_count)
