"""Arrow values as JSON text, vectorised: the JSON codec's writer.

:func:`json_rows` turns a table into one JSON object per row with Arrow compute kernels (no
Python object per value); :func:`json_fragments` does one column, recursing into lists,
structs and maps. Missing values are ``null`` with the key kept, timestamps ISO-8601 UTC
strings, NaN/inf ``null``, floats keep a ``.0`` so readers infer a float again.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .. import errors

__all__ = ["json_fragments", "json_rows", "one_array"]


def _q(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


_CTRL_ARROW = r"[\x00-\x1f]"


def _json_string(arr: pa.Array) -> pa.Array:
    s = arr if pa.types.is_string(arr.type) else arr.cast(pa.string())
    if len(s) and pc.any(pc.match_substring(s, "\\")).as_py():
        s = pc.replace_substring(s, "\\", "\\\\")
    if len(s) and pc.any(pc.match_substring(s, '"')).as_py():
        s = pc.replace_substring(s, '"', '\\"')
    if len(s) and pc.any(pc.match_substring_regex(s, _CTRL_ARROW)).as_py():
        for code in range(32):
            ch = chr(code)
            if pc.any(pc.match_substring(s, ch)).as_py():
                rep = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
                       "\f": "\\f"}.get(ch, f"\\u{code:04x}")
                s = pc.replace_substring(s, ch, rep)
    return pc.binary_join_element_wise('"', s, '"', "")


def json_fragments(arr: pa.Array, column: str) -> pa.Array:
    """Each value of ``arr`` as JSON text (a string array; nulls stay null)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        frags = json_fragments(arr.dictionary, column)
        return pc.take(frags, arr.indices)
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    if pa.types.is_integer(t) or pa.types.is_decimal(t):
        return arr.cast(pa.string())
    if pa.types.is_floating(t):
        if pa.types.is_float16(t):
            arr = arr.cast(pa.float32())
        s = arr.cast(pa.string())
        # Arrow writes 100.0 as "100": keep a ".0" so that readers infer a float again
        whole = pc.match_substring_regex(s, r"^-?[0-9]+$")
        if pc.any(whole).as_py():
            s = pc.if_else(whole, pc.binary_join_element_wise(s, ".0", ""), s)
        if arr.null_count < len(arr) and not pc.all(pc.is_finite(arr)).as_py():
            s = pc.if_else(pc.is_finite(arr), s, pa.scalar(None, pa.string()))
        return s
    if (pa.types.is_string(t) or pa.types.is_large_string(t)
            or pa.types.is_string_view(t)):
        return _json_string(arr)
    if pa.types.is_timestamp(t):
        naive = arr.cast(pa.timestamp(t.unit))  # tz-aware values are stored as UTC
        s = pc.replace_substring(naive.cast(pa.string()), " ", "T", max_replacements=1)
        return pc.binary_join_element_wise('"', s, 'Z"', "")
    if pa.types.is_date(t) or pa.types.is_time(t):
        return pc.binary_join_element_wise('"', arr.cast(pa.string()), '"', "")
    if pa.types.is_struct(t):
        children = arr.flatten()
        parts: list[Any] = []
        for i, (f, child) in enumerate(zip(t, children, strict=True)):
            parts.append(("{" if i == 0 else ",") + _q(f.name) + ":")
            parts.append(pc.fill_null(json_fragments(child, f"{column}.{f.name}"), "null"))
        if not parts:
            parts = ["{"]
        parts.append("}")
        out = pc.binary_join_element_wise(*parts, "")
        if arr.null_count:
            out = pc.if_else(arr.is_valid(), out, pa.scalar(None, pa.string()))
        return out
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        if pa.types.is_fixed_size_list(t):
            arr = arr.cast(pa.list_(t.value_type))
        offsets, (vals,) = _own_values(arr, arr.values)
        values = pc.fill_null(json_fragments(vals, f"{column}[]"), "null")
        lst_t = pa.large_list if pa.types.is_large_list(arr.type) else pa.list_
        lst = type(arr).from_arrays(offsets, values, type=lst_t(pa.string()),
                                    mask=arr.is_null() if arr.null_count else None)
        return pc.binary_join_element_wise("[", pc.binary_join(lst, ","), "]", "")
    if pa.types.is_map(t):
        offsets, (keys, items) = _own_values(arr, arr.keys, arr.items)
        if not (pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type)):
            keys = keys.cast(pa.string())
        vals = pc.fill_null(json_fragments(items, f"{column}{{}}"), "null")
        entries = pc.binary_join_element_wise(_json_string(keys), vals, ":")
        lst = pa.ListArray.from_arrays(offsets, entries,
                                       mask=arr.is_null() if arr.null_count else None)
        return pc.binary_join_element_wise("{", pc.binary_join(lst, ","), "}", "")
    raise errors.UnsupportedTypeError(
        f"column {column!r} has type {t}, which the json codec cannot write "
        "(convert it first, e.g. to a string or a number)")


def _own_values(arr: Any, *children: pa.Array) -> tuple[pa.Array, list[pa.Array]]:
    """A list or map slice's offsets from 0 and just its own part of ``children`` (its
    ``values`` / ``keys`` / ``items`` are the whole parent's: encoding those for every slice
    of a column made the writer quadratic in the column's length, and offsets that are a
    slice refuse a null mask)."""
    off = arr.offsets
    start = off[0].as_py() if len(off) else 0
    stop = off[-1].as_py() if len(off) else 0
    # always a fresh array: from_arrays takes no null mask with offsets that are a slice
    return (pc.subtract(off, pa.scalar(start, off.type)),
            [c.slice(start, stop - start) for c in children])


def one_array(col: pa.ChunkedArray) -> pa.Array:
    """A column as one array (its only chunk, the chunks joined, or an empty array)."""
    if col.num_chunks == 1:
        return col.chunk(0)
    return pa.concat_arrays(col.chunks) if col.num_chunks else pa.nulls(0, col.type)


def json_rows(table: pa.Table | pa.RecordBatch) -> pa.Array:
    """Every row of ``table`` as one JSON object (a string array).

    Missing values are written as ``null`` with the key kept, timestamps as ISO-8601 UTC
    strings, NaN/inf as ``null``, nested structs/lists/maps as objects/arrays.
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    table = table.combine_chunks()
    n = table.num_rows
    parts: list[Any] = []
    for i, name in enumerate(table.column_names):
        frag = json_fragments(one_array(table.column(i)), name)
        if frag.null_count:
            frag = pc.fill_null(frag, "null")
        if not pa.types.is_string(frag.type):
            frag = frag.cast(pa.string())
        parts.append(("{" if i == 0 else ",") + _q(str(name)) + ":")
        parts.append(frag)
    if not parts:
        return pa.array(["{}"] * n, pa.string())
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")
