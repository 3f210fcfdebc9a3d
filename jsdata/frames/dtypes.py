"""Recorded schemas: what a writer knew about the dtypes, so that a reader gets them back.

JSON and msgpack payloads cannot say that a column was ``int8``, ``float32``, a category, a
``timestamp[us, Asia/Tokyo]`` or a nullable ``Int64``: the payload stays a plain JSON
object (other clients read it as usual) and the types ride beside it.
``publish_dataframe`` records the Arrow schema of the frame (with pandas' own metadata and
the categories of categorical columns) once and refers to it from every message:

* ``Jsdata-Schema: <id>`` on every message, ``<id>`` being 16 hex digits of the SHA-256 of
  the serialized schema (content-addressed, so an id means the same schema everywhere);
* ``Jsdata-Schema-Def: <base64 of the zlib-compressed Arrow IPC schema>`` on the first
  message of each write;
* the same text in the stream's metadata under ``jsdata.schema.<id>`` (best effort: it
  needs the permission to update the stream), so that a read starting in the middle of the
  stream, or after the first message was removed by the stream's limits, still finds it.

Readers decode each message with the schema its id names (known schemas are cached per
process by id) and cast the decoded columns to the recorded types; ``schema=`` overrides
all of this.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import warnings
import zlib
from collections import OrderedDict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .. import errors

SCHEMA_HEADER = "Jsdata-Schema"
SCHEMA_DEF_HEADER = "Jsdata-Schema-Def"
META_PREFIX = "jsdata.schema."
CATEGORIES_KEY = b"jsdata.categories"
PANDAS_KEY = b"pandas"
MAX_CATEGORIES_BYTES = 64 << 10  # categories larger than this are not recorded
MAX_STREAM_METADATA = 64 << 10  # stop adding schemas to a stream's metadata past this
_CACHE_SIZE = 4096

_lock = threading.Lock()
_known: OrderedDict[str, pa.Schema] = OrderedDict()
_warned: set[str] = set()


# ---------------------------------------------------------------------------------------------
# the record (writer side)

def record(schema: pa.Schema, table: pa.Table | None = None) -> pa.Schema:
    """The schema to record for data of ``schema`` (pandas metadata kept): categorical
    columns get their categories (from ``table``'s dictionaries) as field metadata so that
    a reader rebuilds the same ``CategoricalDtype``, even for categories no row uses."""
    fields = []
    for i, f in enumerate(schema):
        md = None
        if pa.types.is_dictionary(f.type) and table is not None:
            cats = _categories(table.column(i))
            if cats is not None:
                md = {CATEGORIES_KEY: cats}
        fields.append(pa.field(f.name, f.type, f.nullable, md))
    return pa.schema(fields, metadata=schema.metadata)


def _categories(col: pa.ChunkedArray) -> bytes | None:
    if col.num_chunks == 0:
        return None
    first = col.chunk(0).dictionary
    if not all(c.dictionary.equals(first) for c in col.chunks[1:]):
        return None  # different dictionaries per chunk: categories are not one list
    vt = first.type
    if not (pa.types.is_string(vt) or pa.types.is_large_string(vt) or pa.types.is_integer(vt)):
        return None
    text = json.dumps(first.to_pylist(), ensure_ascii=False).encode()
    return text if len(text) <= MAX_CATEGORIES_BYTES else None


def serialize(schema: pa.Schema) -> tuple[str, str]:
    """``(id, text)``: the schema's id and its header-safe text (base64 of zlib of IPC)."""
    raw = schema.serialize().to_pybytes()
    sid = hashlib.sha256(raw).hexdigest()[:16]
    return sid, base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def deserialize(text: str | bytes) -> pa.Schema:
    """The schema from :func:`serialize`'s text (``DecodeError`` if it is not one)."""
    try:
        raw = zlib.decompress(base64.b64decode(text, validate=True))
        return pa.ipc.read_schema(pa.py_buffer(raw))
    except (binascii.Error, zlib.error, ValueError, pa.ArrowException) as e:
        raise errors.DecodeError(f"not a recorded jsdata schema: {e}") from None


def remember(sid: str, schema: pa.Schema) -> None:
    """Cache ``schema`` under ``sid`` (process-wide; ids are content hashes)."""
    with _lock:
        _known[sid] = schema
        _known.move_to_end(sid)
        while len(_known) > _CACHE_SIZE:
            _known.popitem(last=False)


def lookup(sid: str) -> pa.Schema | None:
    """The cached schema with id ``sid``, or None."""
    with _lock:
        return _known.get(sid)


def learn_text(sid: str | None, text: str | bytes) -> str | None:
    """Cache a schema given as text; returns its id (None if the text is not a schema or
    does not hash to ``sid`` when given)."""
    try:
        schema = deserialize(text)
    except errors.DecodeError:
        return None
    real, _ = serialize(schema)
    if sid is not None and real != sid:
        return None
    remember(real, schema)
    return real


def learn_stream_metadata(metadata: dict[str, str] | None) -> int:
    """Cache the schemas recorded in a stream's metadata; returns how many are known."""
    n = 0
    for k, v in (metadata or {}).items():
        if k.startswith(META_PREFIX):
            sid = k[len(META_PREFIX):]
            if lookup(sid) is not None or learn_text(sid, v) is not None:
                n += 1
    return n


def warn_unknown(sid: str, stream: str) -> None:
    """Warn once per id that a message's recorded schema was not found."""
    with _lock:
        if sid in _warned:
            return
        _warned.add(sid)
    warnings.warn(
        f"stream {stream!r}: messages name schema {sid!r}, which neither the messages read "
        "nor the stream's metadata hold; their types are inferred (pass schema= to fix them)",
        stacklevel=2)


# ---------------------------------------------------------------------------------------------
# restoring (reader side)

_PLAIN = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def wire_hints(target: pa.Schema) -> pa.Schema:
    """The types a JSON/msgpack decoder should parse top-level fields into for data written
    with ``target``: numbers and booleans at their own width (so uint64 and float32 are
    exact), and text for strings, categories, timestamps and dates (cast afterwards)."""
    out = []
    for f in target:
        t = f.type
        if any(p(t) for p in _PLAIN) and not pa.types.is_float16(t):
            out.append(pa.field(f.name, t))
        elif _is_text(t):
            out.append(pa.field(f.name, pa.string()))
        elif pa.types.is_dictionary(t) and _is_text(t.value_type):
            out.append(pa.field(f.name, pa.string()))
        elif pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
            out.append(pa.field(f.name, pa.string()))
    return pa.schema(out)


def plain(target: pa.Schema) -> pa.Schema:
    """``target`` without any metadata (schema or field level)."""
    return pa.schema([pa.field(f.name, f.type, f.nullable) for f in target])


def restore(table: pa.Table, target: pa.Schema) -> pa.Table:
    """``table`` with the columns of ``target`` cast to their recorded types, in the
    recorded order (missing ones as nulls), followed by any columns ``target`` lacks."""
    n = table.num_rows
    cols: list[Any] = []
    fields: list[pa.Field] = []
    for f in target:
        i = table.schema.get_field_index(f.name)
        if i < 0:
            col: Any = pa.nulls(n, f.type)
        else:
            try:
                col = _cast(table.column(i), f)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
                raise errors.DecodeError(
                    f"column {f.name!r} ({table.column(i).type}) does not fit its recorded "
                    f"type {f.type}: {e}") from None
        cols.append(col)
        fields.append(pa.field(f.name, f.type))
    names = set(target.names)
    for i, f in enumerate(table.schema):
        if f.name not in names:
            cols.append(table.column(i))
            fields.append(f)
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def _cast(col: pa.ChunkedArray, f: pa.Field) -> Any:
    t = f.type
    if pa.types.is_dictionary(t):
        return _to_dictionary(col, t, (f.metadata or {}).get(CATEGORIES_KEY))
    if col.type == t:
        return col
    if pa.types.is_timestamp(t):
        if _is_text(col.type):
            try:
                col = col.cast(pa.timestamp(t.unit, "UTC"))
            except pa.ArrowInvalid:  # written by another client without a zone
                col = col.cast(pa.timestamp(t.unit))
                return col.cast(t) if t.tz is None else pc.assume_timezone(col, t.tz)
        if pa.types.is_timestamp(col.type) and col.type.tz is None and t.tz is not None:
            col = pc.assume_timezone(col, "UTC")
        return col.cast(t)
    if pa.types.is_date(t) and _is_text(col.type):
        return col.cast(t)
    return col.cast(t)


def _to_dictionary(col: pa.ChunkedArray, t: pa.DictionaryType, cats: bytes | None) -> Any:
    values = col.cast(t.value_type) if col.type != t.value_type else col
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if cats is None:
        return values.cast(t)
    dictionary = pa.array(json.loads(cats), t.value_type)
    idx = pc.index_in(values, value_set=dictionary)
    if idx.null_count != values.null_count:  # a value outside the recorded categories
        return values.cast(t)
    idx = idx.cast(t.index_type)
    chunks = [pa.DictionaryArray.from_arrays(c, dictionary, ordered=t.ordered)
              for c in idx.chunks]
    return pa.chunked_array(chunks, type=t)


def pandas_metadata(targets: list[pa.Schema], names: list[str]) -> bytes | None:
    """pandas' schema metadata for a table with columns ``names`` whose data came from
    ``targets``: one entry per column found in them (when several disagree about a column,
    it is left to pandas' defaults for its Arrow type)."""
    entries: dict[str, Any] = {}
    conflicted: set[str] = set()
    base: dict[str, Any] | None = None
    for target in targets:
        raw = (target.metadata or {}).get(PANDAS_KEY)
        if not raw:
            continue
        meta = json.loads(raw)
        if base is None:
            base = meta
        for c in meta.get("columns", []):
            name = c.get("field_name", c.get("name"))
            if name in conflicted:
                continue
            if name in entries and entries[name] != c:
                conflicted.add(name)
                del entries[name]
                continue
            entries[name] = c
    if base is None:
        return None
    cols = [entries[n] for n in names if n in entries]
    if not cols:
        return None
    out = {"index_columns": [], "column_indexes": base.get("column_indexes", []),
           "columns": cols, "attributes": {}, "creator": base.get("creator", {}),
           "pandas_version": base.get("pandas_version")}
    return json.dumps(out).encode()


def merge_pandas_metadata(metas: list[bytes], names: list[str]) -> bytes | None:
    """One pandas metadata from those of several tables (see :func:`pandas_metadata`)."""
    if not metas:
        return None
    uniq = list(dict.fromkeys(metas))
    if len(uniq) == 1:
        meta = json.loads(uniq[0])
        present = [c for c in meta["columns"] if c.get("field_name") in set(names)]
        if len(present) == len(meta["columns"]):
            return uniq[0]
    return pandas_metadata([pa.schema([], metadata={PANDAS_KEY: m}) for m in uniq], names)


# ---------------------------------------------------------------------------------------------
# headers (reader side)

_ID_LINE = b"\r\n" + SCHEMA_HEADER.encode() + b": "
_DEF_LINE = b"\r\n" + SCHEMA_DEF_HEADER.encode() + b": "


def _value(h: bytes, key: bytes) -> bytes | None:
    i = h.find(key)
    if i < 0:
        return None
    i += len(key)
    return h[i:h.find(b"\r\n", i)].strip()


def header_schema_ids(hdrs: list[bytes]) -> str | list[str | None] | None:
    """The schema id each header block names: None when none does, one id when all name
    the same, else one id (or None) per message. Schemas defined in the blocks
    (``Jsdata-Schema-Def``) are learned on the way."""
    if not hdrs:
        return None
    h0 = hdrs[0]
    n = len(hdrs)
    if h0 and hdrs.count(h0) == n:  # every message has the same headers
        if _DEF_LINE in h0:
            learn_text(None, _value(h0, _DEF_LINE) or b"")
        v = _value(h0, _ID_LINE)
        return v.decode("ascii", "replace") if v is not None else None
    blob = b"".join(hdrs)
    if _ID_LINE not in blob:
        return None
    if _DEF_LINE in blob:
        for h in hdrs:
            if _DEF_LINE in h:
                learn_text(None, _value(h, _DEF_LINE) or b"")
    raw = [_value(h, _ID_LINE) for h in hdrs]
    first = raw[0]
    if first is not None and raw.count(first) == n:
        return first.decode("ascii", "replace")
    return [None if v is None else v.decode("ascii", "replace") for v in raw]


def clear_cache() -> None:
    """Forget every cached schema (a reader then finds them again in headers or the
    stream's metadata); for tests and for processes that read many unrelated streams."""
    with _lock:
        _known.clear()
        _warned.clear()


def struct_columns(table: pa.Table) -> list[str]:
    """Top-level struct columns: pandas holds them as dicts, which Arrow's ``to_pandas``
    builds from each field's numpy conversion, so an integer field with nulls in it (the
    slots under null rows, as a JSON decode leaves them) comes back as floats; these are
    converted through ``to_pylist`` instead (ints stay ints, a missing field is None)."""
    return [f.name for f in table.schema if pa.types.is_struct(f.type)]


def python_list_columns(table: pa.Table) -> list[str]:
    """Top-level list columns that the recorded pandas metadata says held Python lists
    (pandas would give numpy arrays back; a round trip should give lists)."""
    raw = (table.schema.metadata or {}).get(PANDAS_KEY)
    if not raw:
        return []
    out = []
    for c in json.loads(raw).get("columns", []):
        name = c.get("field_name")
        if (str(c.get("pandas_type", "")).startswith("list") and c.get("numpy_type") == "object"
                and name in table.column_names):
            t = table.schema.field(name).type
            if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
                out.append(name)
    return out
