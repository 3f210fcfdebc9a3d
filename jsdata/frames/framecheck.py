"""Refusing bad frames before anything is sent.

``publish_dataframe`` checks its input up front, so that a frame it cannot write fails
with a typed error naming the culprit while the stream is still untouched:

* duplicate column names (a row is one JSON object / msgpack map / Arrow struct, which
  cannot hold two fields of one name): :class:`~jsdata.errors.DuplicateColumnError`;
* columns whose values the codec cannot encode (arbitrary Python objects, durations in
  JSON, ...): :class:`~jsdata.errors.ColumnTypeError`;
* rows whose text and binary values alone exceed the server's ``max_payload``:
  :class:`~jsdata.errors.PayloadTooLargeError`. Rows that only exceed it once encoded are
  found slice by slice before their slice is sent; when earlier slices were already
  stored, the error says which rows and how to resume.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import errors

if TYPE_CHECKING:
    import pyarrow as pa

    from .codec import Codec


def check_schema(names: Iterable[Any]) -> None:
    """Raise :class:`DuplicateColumnError` if two columns have the same name (as text)."""
    names = [str(n) for n in names]
    dup = [n for n, k in Counter(names).items() if k > 1]
    if dup:
        raise errors.DuplicateColumnError(
            f"column {dup[0]!r} appears {names.count(dup[0])} times"
            + (f" (also duplicated: {', '.join(map(repr, dup[1:]))})" if dup[1:] else "")
            + "; a row cannot hold two fields of one name: rename or drop the copies first",
            column=dup[0])


def check_pandas(df: Any) -> None:
    """The pandas-specific checks: duplicate column names (also ``1`` and ``"1"``)."""
    check_schema(df.columns)


def _walk(t: pa.DataType, name: str) -> Iterable[tuple[pa.DataType, str]]:
    import pyarrow as pa
    yield t, name
    if pa.types.is_struct(t):
        for f in t:
            yield from _walk(f.type, f"{name}.{f.name}")
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _walk(t.value_type, f"{name}[]")
    elif pa.types.is_map(t):
        yield from _walk(t.key_type, f"{name}{{key}}")
        yield from _walk(t.item_type, f"{name}{{}}")
    elif pa.types.is_dictionary(t):
        yield from _walk(t.value_type, name)


def _msgpack_ok(t: pa.DataType) -> bool:
    import pyarrow as pa
    return not (pa.types.is_duration(t) or pa.types.is_interval(t) or pa.types.is_union(t))


def check_codec_types(codec: Codec, schema: pa.Schema) -> None:
    """Raise :class:`ColumnTypeError` for a column (or a nested field) whose type the
    built-in ``codec`` cannot write."""
    import pyarrow as pa
    if codec.name == "json":
        from .json_text import json_fragments
        for f in schema:
            try:
                json_fragments(pa.array([], f.type), f.name)
            except errors.UnsupportedTypeError as e:
                raise errors.ColumnTypeError(e.description, column=f.name) from None
    elif codec.name == "msgpack":
        for f in schema:
            for t, where in _walk(f.type, f.name):
                if not _msgpack_ok(t):
                    raise errors.ColumnTypeError(
                        f"column {where!r} has type {t}, which the msgpack codec cannot "
                        "write (use codec='arrow', or convert it first)", column=f.name)


def _text_lengths(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    import pyarrow as pa
    import pyarrow.compute as pc
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)):
        return None
    return pc.fill_null(pc.binary_length(col), 0).cast(pa.int64())


def check_row_sizes(table: pa.Table, max_payload: int) -> None:
    """Raise :class:`PayloadTooLargeError` naming the first row whose top-level text and
    binary values alone add up to more than ``max_payload`` bytes (a lower bound of any
    encoding of the row, so no row is refused that would have fit)."""
    import pyarrow.compute as pc
    if table.num_rows == 0:
        return
    lens: dict[str, Any] = {}
    total = None
    for name, col in zip(table.column_names, table.columns, strict=True):
        n = _text_lengths(col)
        if n is None:
            continue
        lens[name] = n
        total = n if total is None else pc.add(total, n)
    if total is None or pc.max(total).as_py() <= max_payload:
        return
    row = int(pc.index(pc.greater(total, max_payload), True).as_py())
    size = int(total[row].as_py())
    column = max(lens, key=lambda c: int(lens[c][row].as_py()))
    raise errors.PayloadTooLargeError(
        f"row {row} holds {size:,} bytes of text/binary (column {column!r}: "
        f"{int(lens[column][row].as_py()):,}), more than the server's max_payload of "
        f"{max_payload:,} bytes; nothing was sent (split or shorten the value, or store it "
        "in an object store and publish a reference)", column=column, row=row)
