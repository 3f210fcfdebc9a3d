"""Payload codecs: message payloads <-> Arrow tables, in bulk.

A :class:`Codec` decodes a list of payloads into one Arrow table and encodes a table into
payloads. The built-in ones (``"json"``, ``"msgpack"``, ``"arrow"``, ``"raw"``) work on whole
batches: JSON is parsed by ``pyarrow.json`` from one newline-joined buffer and written by
vectorized Arrow string kernels, which is several times faster than ``json.loads`` /
``json.dumps`` per message. Writers stamp :attr:`Codec.content_type` as the ``Content-Type``
header so that ``codec="auto"`` readers know what they read.

One-message hooks and codec names: :mod:`jsdata.frames.values`, shared with KV buckets.

Custom formats: subclass :class:`Codec` and implement ``decode_message`` / ``encode_row``
(one message at a time; simplest) or ``decode`` / ``encode`` (whole batches; fastest), then
pass an instance as ``codec=`` or :func:`register_codec` it so ``"auto"`` readers find it by
its content type.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import errors
from .._util import gc_paused
from .json_columns import objects_to_table
from .json_text import json_rows
from .rows import TS_UTC, rows_to_table
from .values import decode_json, decode_msgpack, encode_json_row, encode_msgpack_row

JSON_TYPE = "application/json"
MSGPACK_TYPE = "application/msgpack"
ARROW_TYPE = "application/vnd.apache.arrow.stream"
RAW_TYPE = "application/octet-stream"

# decode() may return the table alone (one row per payload) or the table plus, for each row,
# the index of the payload it came from (codecs that put several rows in one message).
DecodeResult = Union[pa.Table, "tuple[pa.Table, np.ndarray]"]


class Codec:
    """Base class of payload codecs.

    Subclasses set :attr:`name` and :attr:`content_type` and implement either the
    per-message hooks (:meth:`decode_message` returning a row ``dict``, a list of row dicts
    or any JSON-like value; :meth:`encode_row` returning bytes) or the bulk methods
    (:meth:`decode` / :meth:`encode`). ``decode`` must raise on a payload it cannot decode;
    readers then isolate the bad message for ``on_error``.
    """

    name: str = "custom"
    content_type: str | None = None

    def __repr__(self) -> str:
        return f"<Codec {self.name} {self.content_type or ''}>".replace(" >", ">")

    # -- decoding --------------------------------------------------------------------------
    def decode_message(self, data: bytes) -> Any:
        """Decode one payload into a row dict (or a list of row dicts)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither decode nor "
                                  "decode_message")

    def decode(self, payloads: Sequence[bytes], schema: pa.Schema | None = None
               ) -> DecodeResult:
        """Decode payloads into a table: one row per payload, or ``(table, parents)`` where
        ``parents[i]`` is the payload index of row ``i``."""
        rows: list[Any] = []
        parents: list[int] = []
        multi = False
        for i, p in enumerate(payloads):
            v = self.decode_message(bytes(p))
            if isinstance(v, list):
                multi = True
                for r in v:
                    rows.append(r if isinstance(r, dict) else {"value": r})
                    parents.append(i)
            else:
                rows.append(v if isinstance(v, dict) else {"value": v})
                parents.append(i)
        table = rows_to_table(rows, schema)
        if multi:
            return table, np.asarray(parents, dtype=np.int64)
        return table

    def decode_as(self, payloads: Sequence[bytes], recorded: pa.Schema) -> DecodeResult:
        """Decode payloads that a jsdata writer wrote from data of schema ``recorded`` (see
        :mod:`jsdata.frames.dtypes`); the reader then casts the columns to the recorded types.
        The default decodes as :meth:`decode` does; codecs whose payloads lose types
        override it to parse fields at their recorded width (e.g. uint64, float32)."""
        return self.decode(payloads)

    # -- encoding --------------------------------------------------------------------------
    def encode_row(self, row: dict[str, Any]) -> bytes:
        """Encode one row (a dict of Python values) into a payload."""
        raise NotImplementedError(f"{type(self).__name__} implements neither encode nor "
                                  "encode_row")

    def encode(self, table: pa.Table, rows_per_message: int | None = None) -> list[bytes]:
        """Encode a table into payloads: one per row, or per ``rows_per_message`` rows."""
        if rows_per_message and rows_per_message > 1:
            raise errors.InvalidArgumentError(
                f"codec {self.name!r} writes one row per message (rows_per_message)")
        return [self.encode_row(r) for r in table.to_pylist()]


# ---------------------------------------------------------------------------------------------
# helpers shared by codecs

_ISO_DT = re.compile(
    r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d(:?\d\d)?)?$")
_ISO_DT_ARROW = (r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?"
                 r"(Z|[+-]\d\d(:?\d\d)?)?$")


def _strings_to_timestamps(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array | None:
    """The column as timestamp[ns, UTC] when every value is an ISO-8601 date-time, else None."""
    valid = col.drop_null()
    if len(valid) == 0:
        return None
    first = valid[0].as_py()
    if not isinstance(first, str) or not _ISO_DT.match(first):
        return None
    if not pc.all(pc.match_substring_regex(valid, _ISO_DT_ARROW)).as_py():
        return None
    try:
        return col.cast(TS_UTC)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def infer_timestamps(table: pa.Table, schema: pa.Schema | None = None) -> pa.Table:
    """Turn top-level ISO-8601 string columns (and pyarrow's inferred naive second-resolution
    timestamps) into timestamp[ns, UTC]; fields fixed by ``schema`` are left alone."""
    fixed = set(schema.names) if schema is not None else set()
    cols = None
    for i, f in enumerate(table.schema):
        if f.name in fixed:
            continue
        new = None
        if pa.types.is_timestamp(f.type) and f.type.tz is None:
            new = pc.assume_timezone(table.column(i), "UTC").cast(TS_UTC)
        elif pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            new = _strings_to_timestamps(table.column(i))
        if new is not None:
            if cols is None:
                cols = list(table.columns)
            cols[i] = new
    if cols is None:
        return table
    names = table.column_names
    return pa.table(cols, names=names)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and cast ``table``'s columns to ``schema`` (missing fields become nulls)."""
    cols = []
    n = table.num_rows
    for f in schema:
        idx = table.schema.get_field_index(f.name)
        if idx < 0:
            cols.append(pa.nulls(n, f.type))
            continue
        c = table.column(idx)
        if c.type != f.type:
            try:
                c = c.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
                raise errors.DecodeError(
                    f"column {f.name!r} ({c.type}) cannot be cast to {f.type}: {e}") from None
        cols.append(c)
    return pa.Table.from_arrays(cols, schema=schema)


def concat_tables(tables: list[pa.Table]) -> pa.Table:
    """Concatenate tables with unified schemas (int -> float widening, nulls -> anything,
    missing columns -> nulls)."""
    tables = [t for t in tables if t is not None]
    if not tables:
        return pa.table({})
    if len(tables) == 1:
        return tables[0]
    first = tables[0].schema
    if all(t.schema == first for t in tables[1:]):
        return pa.concat_tables(tables)
    try:
        schema = pa.unify_schemas([t.schema for t in tables], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise errors.DecodeError(f"batches have incompatible schemas: {e}") from None
    return pa.concat_tables([conform(t, schema) for t in tables])


# ---------------------------------------------------------------------------------------------
# JSON

def _json_read(blob: bytes, schema: pa.Schema | None, unexpected: str = "ignore") -> pa.Table:
    import pyarrow.json as pj
    # One block, one thread: readers already decode in a worker thread next to the network
    # work, and Arrow's own thread pool only adds contention and memory on small machines.
    ropts = pj.ReadOptions(block_size=max(1 << 20, len(blob) + 1), use_threads=False)
    if schema is not None:
        popts = pj.ParseOptions(explicit_schema=schema, newlines_in_values=False,
                                unexpected_field_behavior=unexpected)
    else:
        popts = pj.ParseOptions(newlines_in_values=False)
    table = pj.read_json(io.BytesIO(blob), read_options=ropts, parse_options=popts)
    try:
        table.validate()
    except pa.ArrowInvalid as e:  # never hand on an array whose offsets point past its values
        raise errors.DecodeError(
            f"pyarrow's JSON reader built an invalid column ({e}); pyarrow {pa.__version__} "
            "does so for lists whose first elements are null (jsdata's C JSON reader reads "
            "those rows: it is not built, or JSDATA_PURE_PYTHON=1 rules it out)") from None
    return table


def _clean_lines(payloads: Sequence[bytes]) -> list[bytes]:
    # Raw CR/LF bytes can only sit between JSON tokens (never inside strings), so turning
    # them into spaces keeps the value while letting the newline-delimited reader split rows.
    return [p.replace(b"\r", b" ").replace(b"\n", b" ") if (b"\n" in p or b"\r" in p) else p
            for p in payloads]


def _explode(col: pa.ChunkedArray) -> tuple[pa.Table, np.ndarray | None]:
    """A wrapped ``_v`` column -> (rows table, parent indices or None)."""
    arr = col.combine_chunks()
    t = arr.type
    if pa.types.is_struct(t):
        if arr.null_count:
            raise ValueError("null payload")
        return pa.Table.from_arrays(arr.flatten(), names=[f.name for f in t]), None
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if arr.null_count:
            raise ValueError("null payload")
        parents = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
        values = pc.list_flatten(arr)
        if pa.types.is_struct(values.type):
            if values.null_count:
                raise ValueError("array element is not an object")
            tbl = pa.Table.from_arrays(values.flatten(), names=[f.name for f in values.type])
        else:
            tbl = pa.table({"value": values})
        return tbl, parents.astype(np.int64)
    return pa.table({"value": arr}), None


class JsonCodec(Codec):
    """One JSON value per message: an object is a row, an array of objects several rows,
    any other value a row with a ``value`` column. ISO-8601 strings become timestamps."""

    name = "json"
    content_type = JSON_TYPE

    def decode_message(self, data: bytes) -> Any:
        return decode_json(data)

    def decode(self, payloads: Sequence[bytes], schema: pa.Schema | None = None
               ) -> DecodeResult:
        return self._decode(payloads, schema, None)

    def decode_as(self, payloads: Sequence[bytes], recorded: pa.Schema) -> DecodeResult:
        from .dtypes import wire_hints
        hints = wire_hints(recorded)
        return self._decode(payloads, None, hints if len(hints) else None)

    def _decode(self, payloads: Sequence[bytes], schema: pa.Schema | None,
                hints: pa.Schema | None) -> DecodeResult:
        n = len(payloads)
        if n == 0:
            return pa.table({}) if schema is None else schema.empty_table()
        if schema is None:  # rows of scalars: read in C, straight from the buffer
            table = objects_to_table(payloads, hints)
            if table is not None:
                return infer_timestamps(table, hints)
        joined = getattr(payloads, "joined", None)  # a packed batch: one copy, in C
        blob = joined(b"\n") if joined is not None else b"\n".join(payloads)
        if blob.count(b"\n") != n - 1:
            payloads = _clean_lines(payloads)
            blob = b"\n".join(payloads)
        table = None
        parents = None
        if blob[:1] == b"{" or blob.lstrip()[:1] == b"{":  # optimistic: one object per line
            try:
                table = (_json_read(blob, hints, "infer") if hints is not None
                         else _json_read(blob, schema))
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                table = None
            if table is not None and table.num_rows != n:
                table = None  # an empty payload or several values in one
        if table is None:
            for p in payloads:
                if not p.strip():
                    raise ValueError("empty payload")
            wrapped = b'{"_v":' + b'}\n{"_v":'.join(payloads) + b"}"
            raw = _json_read(wrapped, None)
            if raw.num_rows != n or raw.num_columns != 1:
                raise ValueError(f"{n} payloads decoded into {raw.num_rows} rows")
            table, parents = _explode(raw.column(0))
            if schema is not None:
                table = conform(table, schema)
        table = infer_timestamps(table, schema if schema is not None else hints)
        return (table, parents) if parents is not None else table

    def encode(self, table: pa.Table, rows_per_message: int | None = None) -> list[bytes]:
        rows = json_rows(table)
        if rows_per_message and rows_per_message > 1:
            n = len(rows)
            offsets = pa.array(list(range(0, n, rows_per_message)) + [n], pa.int32())
            groups = pa.ListArray.from_arrays(offsets, rows)
            rows = pc.binary_join_element_wise("[", pc.binary_join(groups, ","), "]", "")
        return binary_to_list(rows)

    def encode_row(self, row: dict[str, Any]) -> bytes:
        return encode_json_row(row)


def binary_to_list(arr: pa.Array | pa.ChunkedArray) -> list[bytes]:
    """A string/binary array as a list of bytes objects (no nulls expected)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_large_string(t) or pa.types.is_string(t):
        arr = arr.cast(pa.large_binary() if pa.types.is_large_string(t) else pa.binary())
    out: list[bytes] = arr.to_pylist()
    return out


# ---------------------------------------------------------------------------------------------
# msgpack

class MsgpackCodec(Codec):
    """One msgpack map per message (a row); timestamps use msgpack's Timestamp extension."""

    name = "msgpack"
    content_type = MSGPACK_TYPE

    def decode_message(self, data: bytes) -> Any:
        return decode_msgpack(data, any_keys=True)

    def decode(self, payloads: Sequence[bytes], schema: pa.Schema | None = None
               ) -> DecodeResult:
        return self._decode(payloads, schema, None)

    def decode_as(self, payloads: Sequence[bytes], recorded: pa.Schema) -> DecodeResult:
        from .dtypes import wire_hints
        return self._decode(payloads, None, wire_hints(recorded))

    def _decode(self, payloads: Sequence[bytes], schema: pa.Schema | None,
                hints: pa.Schema | None) -> DecodeResult:
        if schema is None:  # rows that are plain maps: read into columns in C
            from .msgpack_columns import maps_to_table
            table = maps_to_table(payloads, hints)
            if table is not None:
                return table
        with gc_paused():  # a map (and lists) per row
            return self._decode_rows(payloads, schema, hints)

    def _decode_rows(self, payloads: Sequence[bytes], schema: pa.Schema | None,
                     hints: pa.Schema | None) -> DecodeResult:
        import msgpack
        unpack = msgpack.unpackb
        rows: list[Any] = []
        parents: list[int] | None = None
        for i, p in enumerate(payloads):
            v = unpack(p, raw=False, timestamp=0, strict_map_key=False)
            if isinstance(v, dict):
                rows.append(v)
                if parents is not None:
                    parents.append(i)
            else:
                if parents is None:
                    parents = list(range(i))
                vs = v if isinstance(v, list) else [v]
                for r in vs:
                    rows.append(r if isinstance(r, dict) else {"value": r})
                    parents.append(i)
        table = (rows_to_table(rows, schema, hints) if rows or schema is None
                 else schema.empty_table())
        if parents is not None:
            return table, np.asarray(parents, dtype=np.int64)
        return table

    def encode(self, table: pa.Table, rows_per_message: int | None = None) -> list[bytes]:
        from .msgpack_rows import msgpack_rows  # vectorised; what packb writes for each row
        return msgpack_rows(table, rows_per_message)

    def encode_row(self, row: dict[str, Any]) -> bytes:
        return encode_msgpack_row(row)


# ---------------------------------------------------------------------------------------------
# Arrow IPC

class ArrowCodec(Codec):
    """Arrow IPC streams: each message holds a schema and one record batch of one or more
    rows (``rows_per_message``); optional ``compression`` ("lz4" or "zstd")."""

    name = "arrow"
    content_type = ARROW_TYPE

    def __init__(self, compression: str | None = None) -> None:
        self.compression = compression

    def decode(self, payloads: Sequence[bytes], schema: pa.Schema | None = None
               ) -> DecodeResult:
        import pyarrow.ipc as ipc
        tables = []
        counts = []
        for p in payloads:
            t = ipc.open_stream(pa.py_buffer(p)).read_all()
            tables.append(t)
            counts.append(t.num_rows)
        if not tables:
            return pa.table({}) if schema is None else schema.empty_table()
        table = concat_tables(tables)
        if schema is not None:
            table = conform(table, schema)
        if all(c == 1 for c in counts):
            return table
        return table, np.repeat(np.arange(len(counts), dtype=np.int64), counts)

    def encode(self, table: pa.Table, rows_per_message: int | None = None) -> list[bytes]:
        import pyarrow.ipc as ipc
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        k = rows_per_message or table.num_rows or 1
        opts = ipc.IpcWriteOptions(compression=self.compression) if self.compression else None
        out = []
        for off in range(0, table.num_rows, k):
            part = table.slice(off, k).combine_chunks()
            sink = pa.BufferOutputStream()
            with ipc.new_stream(sink, part.schema, options=opts) as w:
                for b in part.to_batches():
                    w.write_batch(b)
            out.append(sink.getvalue().to_pybytes())
        return out


# ---------------------------------------------------------------------------------------------
# raw

class RawCodec(Codec):
    """Payloads as they are: a binary ``_data`` column (writers send a binary/string column
    named ``_data`` or the only column)."""

    name = "raw"
    content_type = None

    def decode(self, payloads: Sequence[bytes], schema: pa.Schema | None = None
               ) -> DecodeResult:
        return pa.table({"_data": pa.array(payloads, pa.binary())})

    def encode(self, table: pa.Table, rows_per_message: int | None = None) -> list[bytes]:
        if rows_per_message and rows_per_message > 1:
            raise errors.InvalidArgumentError("the raw codec writes one row per message "
                                              "(rows_per_message)")
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if "_data" in table.column_names:
            name = "_data"
        elif table.num_columns == 1:
            name = table.column_names[0]
        else:
            raise errors.InvalidArgumentError(
                "the raw codec writes one column: name it _data or pass a single column")
        col = table.column(name)
        t = col.type
        if not (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_string(t)
                or pa.types.is_large_string(t)):
            raise errors.UnsupportedTypeError(
                f"column {name!r} has type {t}; the raw codec writes binary or string columns")
        if col.null_count:
            col = pc.fill_null(col, b"" if pa.types.is_binary(t) or
                               pa.types.is_large_binary(t) else "")
        return binary_to_list(col)


# ---------------------------------------------------------------------------------------------
# registry

_BUILTIN: dict[str, type[Codec]] = {
    "json": JsonCodec, "msgpack": MsgpackCodec, "arrow": ArrowCodec, "raw": RawCodec,
}
_BY_TYPE: dict[str, Codec] = {}


def register_codec(codec: Codec) -> None:
    """Make ``codec`` known to ``codec="auto"`` readers by its ``content_type``."""
    if not isinstance(codec, Codec):
        raise errors.InvalidArgumentError(f"not a jsdata.Codec: {codec!r}")
    if not codec.content_type:
        raise errors.InvalidArgumentError("a registered codec needs a content_type")
    _BY_TYPE[codec.content_type.lower()] = codec


def get_codec(spec: str | Codec | type[Codec]) -> Codec:
    """A codec instance from a name ("json", "msgpack", "arrow", "raw") or a Codec."""
    if isinstance(spec, Codec):
        return spec
    if isinstance(spec, type) and issubclass(spec, Codec):
        return spec()
    if isinstance(spec, str):
        cls = _BUILTIN.get(spec.lower())
        if cls is not None:
            return cls()
    raise errors.InvalidArgumentError(
        f"unknown codec {spec!r}: use 'json', 'msgpack', 'arrow', 'raw' or a jsdata.Codec")


_JSON = JsonCodec()
_MSGPACK = MsgpackCodec()
_ARROW = ArrowCodec()
_RAW = RawCodec()


def codec_for_content_type(ct: str) -> Codec | None:
    """The codec for a Content-Type header value (parameters ignored), or None."""
    base = ct.split(";", 1)[0].strip().lower()
    if base in _BY_TYPE:
        return _BY_TYPE[base]
    if base == JSON_TYPE or base.endswith("+json") or base == "text/json":
        return _JSON
    if base in (MSGPACK_TYPE, "application/x-msgpack", "application/vnd.msgpack"):
        return _MSGPACK
    if base in (ARROW_TYPE, "application/vnd.apache.arrow.file"):
        return _ARROW
    if base == RAW_TYPE:
        return _RAW
    return None


def sniff(payload: bytes) -> Codec:
    """JSON when the payload is a JSON object or array, else raw."""
    s = payload.lstrip()[:1]
    return _JSON if s in (b"{", b"[") else _RAW
