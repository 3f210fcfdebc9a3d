"""Python rows as Arrow: the last step of the row-by-row decoders.

:func:`rows_to_table` builds a table from row dicts (the msgpack maps of a batch, JSON
objects parsed in Python) with pyarrow's inference per column, ``hints`` for the recorded
widths, and msgpack Timestamps as ``timestamp[ns, UTC]`` (:data:`TS_UTC`, the type reads
give timestamps). The bulk msgpack reader (:mod:`jsdata.frames.msgpack_columns`) builds the
same columns without the dicts and uses :func:`py_column` for the values it leaves to Python.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from .. import errors

__all__ = ["TS_UTC", "py_column", "rows_to_table"]

TS_UTC = pa.timestamp("ns", "UTC")


def _py_normalize(v: Any) -> Any:
    """Python value with msgpack timestamps as datetimes (nested values too)."""
    import msgpack
    if isinstance(v, msgpack.Timestamp):
        return v.to_datetime()
    if isinstance(v, dict):
        return {k: _py_normalize(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_py_normalize(x) for x in v]
    return v


def rows_to_table(rows: list[dict[str, Any]], schema: pa.Schema | None = None,
                  hints: pa.Schema | None = None) -> pa.Table:
    """Build a table from row dicts (keys in order of first appearance); ``hints`` gives
    the types of some fields (others are inferred; a hint that does not fit is dropped)."""
    if schema is not None:
        if not rows:
            return schema.empty_table()
        try:
            return pa.Table.from_pylist(rows, schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            try:
                return pa.Table.from_pylist([_py_normalize(r) for r in rows], schema=schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise errors.DecodeError(f"rows do not fit the schema: {e}") from None
    if not rows:
        return pa.table({})
    keys: dict[str, None] = {}
    for r in rows:
        for k in r:
            if k not in keys:
                keys[k] = None
    cols = []
    names = []
    for k in keys:
        hint = None
        if hints is not None and isinstance(k, str):
            i = hints.get_field_index(k)
            hint = hints.field(i).type if i >= 0 else None
        cols.append(py_column(k, [r.get(k) for r in rows], hint))
        names.append(str(k))
    return pa.table(cols, names=names)


def py_column(name: Any, vals: list[Any], hint: pa.DataType | None = None) -> pa.Array:
    """One column of Python values: of type ``hint`` when they all fit it, else inferred
    (msgpack Timestamps and aware datetimes as :data:`TS_UTC`, ints beyond int64 as uint64,
    NaN as null); values of mixed types raise :class:`~jsdata.errors.DecodeError` naming
    the field."""
    if hint is not None:
        try:
            return pa.array(vals, hint, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
            pass
    import msgpack
    first = next((v for v in vals if v is not None), None)
    if isinstance(first, msgpack.Timestamp):
        try:
            return pa.array([None if v is None else v.to_unix_nano() for v in vals],
                            pa.int64()).cast(TS_UTC)
        except (AttributeError, TypeError, OverflowError):  # beyond int64 ns: datetimes
            pass
    if isinstance(first, datetime):
        return pa.array(vals).cast(TS_UTC) if first.tzinfo is not None else pa.array(vals)
    try:
        return pa.array(vals, from_pandas=True)
    except OverflowError:  # ints beyond int64: uint64 when none is negative
        try:
            return pa.array(vals, pa.uint64(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
            pass
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    try:
        return pa.array([_py_normalize(v) for v in vals], from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
        raise errors.DecodeError(f"field {name!r} has values of mixed types: {e}") from None
