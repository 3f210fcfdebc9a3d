"""Decoding the raw messages of a read into Arrow (runs in a worker thread, in bulk).

Metadata columns (``_subject``, ``_seq``, ``_time``, ``_headers``) come from the direct-get
header blocks or the consumer's reply subjects; payloads are grouped by codec (content type
or sniffed) and decoded per group; recorded schemas (:mod:`jsdata.frames.dtypes`) cast the
columns back. :func:`table_to_pandas` converts as ``pd.read_*`` would. pyarrow and numpy
load with this module, which the reader imports at the first read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import errors
from .._util import gc_paused
from . import dtypes as _dtypes
from . import packed as _packed
from .codec import (
    TS_UTC,
    Codec,
    JsonCodec,
    MsgpackCodec,
    codec_for_content_type,
    concat_tables,
    conform,
    sniff,
)
from .fetch import _Chunk
from .fields import ERROR_FIELDS, HEADERS_FIELD
from .packed import PackedPayloads

if TYPE_CHECKING:
    import pandas as pd

    from .options import ReadOptions

# built-in codecs that take a PackedPayloads view as it is
_VIEW_CODECS = (JsonCodec, MsgpackCodec)
META_KEY = b"jetstream"  # schema metadata: the covered range
UNKNOWN_KEY = b"jsdata.unknown_schemas"  # decode_chunk: schema ids it did not know


# ---------------------------------------------------------------------------------------------
# decoding (runs in a worker thread)

@dataclass
class _Meta:
    subjects: pa.Array | None
    seqs: pa.Array
    times: pa.Array | None
    ctypes: list[str | None] | str | None  # per message, or one for all
    headers: pa.Array | None


def _user_header_pairs(lines: Sequence[bytes]) -> list[tuple[str, str]]:
    """(name, value) pairs of user header lines; jsdata's own schema headers
    (``Jsdata-Schema``, ``Jsdata-Schema-Def``: see :mod:`jsdata.frames.dtypes`) are left out."""
    out = []
    for line in lines:
        k, sep, v = line.partition(b":")
        if sep and not k.startswith(b"Jsdata-Schema"):
            out.append((k.strip().decode("ascii", "replace"), v.strip().decode("utf-8",
                                                                               "replace")))
    return out


def _direct_meta(hdrs: list[bytes], want_ct: bool, want_headers: bool) -> _Meta:
    """Subject, sequence, time (and Content-Type / user headers) from direct-get headers.

    Fast path: every header block has the same number of lines (the usual case), so the
    fields sit at fixed strides of the joined blocks and are cut out by Arrow kernels.
    """
    n = len(hdrs)
    per = hdrs[0].count(b"\r\n")
    k = per - 8  # user header lines before the 6 server lines
    parts = None
    if k >= 0:
        try:
            parts = pc.split_pattern(pa.array([b"".join(hdrs)], pa.binary()).cast(pa.string()),
                                     "\r\n")[0].values
        except pa.ArrowInvalid:  # not UTF-8: take the careful path
            parts = None
    if parts is not None and len(parts) == per * n + 1:
        base = np.arange(n, dtype=np.int64) * per
        subj_raw = parts.take(pa.array(base + 2 + k))
        seq_raw = parts.take(pa.array(base + 3 + k))
        time_raw = parts.take(pa.array(base + 4 + k))
        first = parts.take(pa.array(base))
        if not (pc.all(pc.equal(first, "NATS/1.0")).as_py()
                and pc.all(pc.starts_with(subj_raw, "Nats-Subject: ")).as_py()
                and pc.all(pc.starts_with(seq_raw, "Nats-Sequence: ")).as_py()
                and pc.all(pc.starts_with(time_raw, "Nats-Time-Stamp: ")).as_py()):
            parts = None
    else:
        parts = None
    if parts is not None:
        subjects = pc.utf8_slice_codeunits(subj_raw, 14)
        seqs = pc.utf8_slice_codeunits(seq_raw, 15).cast(pa.uint64())
        times = pc.utf8_slice_codeunits(time_raw, 17).cast(TS_UTC)
        ctypes: list[str | None] | str | None = None
        headers = None
        if want_ct:
            ctypes = None if k == 0 else _uniform_ctype(parts, base, k)
        if (want_ct and ctypes is None and k) or want_headers:
            user = [hdr.split(b"\r\n")[1:1 + k] for hdr in hdrs] if k else [[]] * n
            if want_ct and ctypes is None and k:
                ctypes = [_ctype(lines) for lines in user]
            if want_headers:
                headers = pa.array([_user_header_pairs(lines) for lines in user],
                                   HEADERS_FIELD.type)
        return _Meta(subjects, seqs, times, ctypes, headers)
    subs: list[bytes] = []
    seql: list[int] = []
    tms: list[bytes] = []
    users: list[list[bytes]] = []
    for hdr in hdrs:
        lines = hdr.split(b"\r\n")
        i = len(lines) - 1
        while i > 0 and not lines[i].startswith(b"Nats-Stream: "):
            i -= 1
        subs.append(lines[i + 1][14:])
        seql.append(int(lines[i + 2][15:]))
        tms.append(lines[i + 3][17:])
        users.append(lines[1:i])
    return _Meta(
        pa.array(subs, pa.binary()).cast(pa.string()),
        pa.array(seql, pa.uint64()),
        pa.array(tms, pa.binary()).cast(pa.string()).cast(TS_UTC),
        [_ctype(u) for u in users] if want_ct else None,
        pa.array([_user_header_pairs(u) for u in users], HEADERS_FIELD.type)
        if want_headers else None)


def _uniform_ctype(parts: pa.Array, base: np.ndarray, k: int) -> str | None:
    """The Content-Type when every message has it at the same header line with one value."""
    for j in range(1, k + 1):
        col = parts.take(pa.array(base + j))
        low = pc.utf8_lower(pc.utf8_slice_codeunits(col, 0, 13))
        if pc.all(pc.equal(low, "content-type:")).as_py():
            vals = pc.unique(col)
            if len(vals) == 1:
                return str(vals[0].as_py())[13:].strip()
            return None
    return None


def _ctype(lines: Sequence[bytes]) -> str | None:
    for line in lines:
        if line[:13].lower() == b"content-type:":
            return line[13:].strip().decode("ascii", "replace")
    return None


def _text(values: list[Any]) -> pa.Array:
    """A string array from a list of str or (UTF-8) bytes."""
    if values and isinstance(values[0], bytes):
        return pa.array(values, pa.binary()).cast(pa.string())
    return pa.array(values, pa.string())


def _packed_meta(chunk: _Chunk, want_ct: bool, want_headers: bool) -> _Meta:
    """Metadata of a packed pull: sequence and time as the parser read them from the
    ``$JS.ACK`` reply subjects, subjects as a string array over the received buffer."""
    p = chunk.packed
    assert p is not None
    ack = _packed.acks(p)
    seqs = pa.array(ack[:, 0]).cast(pa.uint64())  # a -1 (not an ack reply) fails the cast
    times = pa.array(ack[:, 2]).cast(TS_UTC)
    subjects = _packed.text(p, "subj")
    ctypes: list[str | None] | str | None = None
    headers = None
    if want_ct or want_headers:
        h0 = _packed.uniform(p, "hdr")
        ctypes, headers = _header_meta(chunk.hdrs if h0 is None else None, h0, p.n, want_ct,
                                       want_headers)
    return _Meta(subjects, seqs, times, ctypes, headers)


def _header_meta(hdrs: list[bytes] | None, h0: bytes | None, n: int, want_ct: bool,
                 want_headers: bool) -> tuple[list[str | None] | str | None, pa.Array | None]:
    """Content types and user headers of pulled messages: from ``h0`` when every message has
    that same header block, else from each of ``hdrs``."""
    ctypes: list[str | None] | str | None = None
    headers = None
    if h0 is not None:
        user = h0.split(b"\r\n")[1:] if h0 else []
        if want_ct:
            ctypes = _ctype(user)
        if want_headers:
            one = pa.array([_user_header_pairs(user)], HEADERS_FIELD.type)
            headers = one.take(pa.array(np.zeros(n, dtype=np.int64)))
    else:
        assert hdrs is not None
        users = [h.split(b"\r\n")[1:] if h else [] for h in hdrs]
        if want_ct:
            ctypes = [_ctype(u) for u in users]
        if want_headers:
            headers = pa.array([_user_header_pairs(u) for u in users], HEADERS_FIELD.type)
    return ctypes, headers


def _consumer_meta(chunk: _Chunk, want_ct: bool, want_headers: bool) -> _Meta:
    """Metadata of pulled messages: sequence and time from the ``$JS.ACK`` reply subjects."""
    if chunk.packed is not None:
        return _packed_meta(chunk, want_ct, want_headers)
    assert chunk.replies is not None and chunk.subjects is not None
    n = len(chunk)
    replies = _text(chunk.replies)
    toks = pc.split_pattern(replies, ".")
    first = chunk.replies[0]
    ntok = first.count("." if isinstance(first, str) else b".") + 1  # type: ignore[arg-type]
    si, ti = (5, 7) if ntok == 9 else (7, 9)
    seqs = pc.list_element(toks, si).cast(pa.uint64())
    times = pc.list_element(toks, ti).cast(pa.int64()).cast(TS_UTC)
    subjects = _text(chunk.subjects)
    ctypes: list[str | None] | str | None = None
    headers = None
    if want_ct or want_headers:
        hdrs = chunk.hdrs
        h0 = hdrs[0]
        uniform = hdrs.count(h0) == n  # the usual case: every message has the same headers
        ctypes, headers = _header_meta(None if uniform else hdrs, h0 if uniform else None, n,
                                       want_ct, want_headers)
    return _Meta(subjects, seqs, times, ctypes, headers)


def _decode_group(codec: Codec, payloads: list[bytes], schema: pa.Schema | None,
                  recorded: pa.Schema | None = None
                  ) -> tuple[list[tuple[pa.Table, np.ndarray]], list[tuple[int, str]]]:
    """Decode payloads in bulk; on failure bisect to isolate the bad ones. ``recorded``:
    the schema the writer recorded for them (their columns are cast to its types).

    Returns ([(table, payload index per row)], [(bad payload index, reason)]).
    """
    ok: list[tuple[pa.Table, np.ndarray]] = []
    bad: list[tuple[int, str]] = []
    # An explicit stack, not a recursive closure: a closure referring to itself is a
    # reference cycle that would keep every decoded table alive until the cyclic GC runs.
    todo = [(0, len(payloads))] if payloads else []
    while todo:
        lo, hi = todo.pop()
        try:
            part = payloads[lo:hi] if (lo, hi) != (0, len(payloads)) else payloads
            res = (codec.decode(part, schema) if recorded is None
                   else codec.decode_as(part, recorded))
            if isinstance(res, tuple):
                table, parents = res
                parents = np.asarray(parents, dtype=np.int64) + lo
            else:
                table = res
                if table.num_rows != hi - lo:
                    raise errors.DecodeError(
                        f"{hi - lo} payloads decoded into {table.num_rows} rows")
                parents = np.arange(lo, hi, dtype=np.int64)
            if not isinstance(table, pa.Table):
                table = (pa.Table.from_batches([table]) if isinstance(table, pa.RecordBatch)
                         else pa.table(table))
            if recorded is not None:
                table = _dtypes.restore(table, recorded)
            ok.append((table, parents))
        except Exception as e:  # noqa: BLE001 - a codec may raise anything on bad input
            if hi - lo == 1:
                bad.append((lo, f"{type(e).__name__}: {e}"))
                continue
            mid = (lo + hi) // 2
            todo.append((mid, hi))  # popped after the left half: rows stay in order
            todo.append((lo, mid))
    return ok, bad


def _codec_groups(o: ReadOptions, chunk: _Chunk, meta: _Meta
                  ) -> list[tuple[Codec, np.ndarray]]:
    n = len(chunk)
    everything = np.arange(n)
    if isinstance(o.codec, Codec):
        return [(o.codec, everything)]
    ct = meta.ctypes
    if isinstance(ct, str):
        c = codec_for_content_type(ct)
        if c is not None:
            return [(c, everything)]
        ct = None
    if (ct is None or not any(c is not None for c in ct)) and chunk.packed is not None:
        if n and bool(np.all(_packed.first_bytes(chunk.packed, "data") == 0x7B)):  # "{"
            return [(codecs_json(), everything)]
    datas = chunk.datas
    if ct is not None and any(c is not None for c in ct):
        codecs = []
        for one, d in zip(ct, datas, strict=True):
            c = codec_for_content_type(one) if one else None
            codecs.append(c if c is not None else sniff(d))
    else:
        if n and datas[0][:1] == b"{" and all(d[:1] == b"{" for d in datas):
            return [(codecs_json(), everything)]
        codecs = [sniff(d) for d in datas]
    by: dict[int, tuple[Codec, list[int]]] = {}
    for i, c in enumerate(codecs):
        by.setdefault(id(c), (c, []))[1].append(i)
    return [(c, np.asarray(idx, dtype=np.int64)) for c, idx in by.values()]


def codecs_json() -> Codec:
    from .codec import _JSON
    return _JSON


_MARKER = b"\r\nNats-Marker-Reason:"  # a server-written marker (TTL expiry, purge, ...)


def _without_markers(chunk: _Chunk) -> _Chunk:
    """The chunk minus subject delete markers (nats-server 2.11+ writes them, with empty
    payloads, when a subject's last message expires or is removed): they are not rows."""
    p = chunk.packed
    if p is not None:
        if p.hdr.find(_MARKER, 0, int(_packed.offsets(p, "hdr")[-1])) < 0:
            return chunk
    hdrs = chunk.hdrs
    if not hdrs or (p is None and _MARKER not in b"".join(hdrs)):
        return chunk
    keep = [i for i, h in enumerate(hdrs) if _MARKER not in h]
    out = _Chunk(chunk.kind, [hdrs[i] for i in keep], [chunk.datas[i] for i in keep],
                 None if chunk.subjects is None else [chunk.subjects[i] for i in keep],
                 None if chunk.replies is None else [chunk.replies[i] for i in keep])
    out.first_cov, out.last_cov = chunk.first_cov, chunk.last_cov
    return out


def decode_chunk(o: ReadOptions, chunk: _Chunk, stream: str) -> pa.Table:
    """Decode one raw chunk into a table with the metadata columns (worker thread).
    Subject delete markers are dropped unless ``o.include_markers``."""
    if not o.include_markers:
        chunk = _without_markers(chunk)
    n = len(chunk)
    want_ct = o.codec == "auto"
    if n == 0:
        return pa.table({})
    if chunk.kind == "direct":
        meta = _direct_meta(chunk.hdrs, want_ct, o.include_headers)
    else:
        meta = _consumer_meta(chunk, want_ct, o.include_headers)
    recorded: list[pa.Schema] = []
    unknown: set[str] = set()
    if o.schema is None:
        groups, recorded, unknown = _schema_groups(chunk, _codec_groups(o, chunk, meta))
    else:  # schema= overrides what writers recorded
        groups = [(c, idx, None) for c, idx in _codec_groups(o, chunk, meta)]
    parts: list[tuple[pa.Table, np.ndarray]] = []
    bad: list[tuple[int, str]] = []
    for codec, idx, target in groups:
        payloads = _payloads(chunk, codec, idx)
        good, wrong = _decode_group(codec, payloads, o.schema, target)
        for table, parents in good:
            parts.append((table, idx[parents] if len(idx) != n else parents))
        for i, reason in wrong:
            j = int(idx[i])
            bad.append((j, f"cannot decode as {codec.name}: {reason}"))
    if bad:
        bad.sort()
        if o.on_error == "raise":
            j, reason = bad[0]
            seq = int(meta.seqs[j].as_py())
            subj = meta.subjects[j].as_py() if meta.subjects is not None else None
            raise errors.DecodeError(
                f"message {seq} on {subj!r} in stream {stream!r} {reason}"
                + (f" ({len(bad) - 1} more in this batch)" if len(bad) > 1 else ""),
                sequence=seq, subject=subj)
        if o.on_error == "keep":
            bidx = np.asarray([j for j, _ in bad], dtype=np.int64)
            datas = chunk.datas
            kept = pa.table({
                "_error": pa.array([r for _, r in bad], pa.string()),
                "_data": pa.array([datas[j] for j, _ in bad], pa.binary()),
            })
            parts.append((kept, bidx))
    tables = [t for t, _ in parts]
    try:
        table = concat_tables(tables) if tables else pa.table({})
    except errors.DecodeError as e:
        seq = int(meta.seqs[0].as_py())
        raise errors.DecodeError(
            f"messages {seq}..{int(meta.seqs[n - 1].as_py())} of stream {stream!r}: {e} "
            "(a field holds values of different JSON types; pass schema= to choose one)",
            sequence=seq) from None
    parents = (np.concatenate([p for _, p in parts]) if parts
               else np.zeros(0, dtype=np.int64))
    if len(parts) > 1:
        order = np.argsort(parents, kind="stable")
        if not np.array_equal(order, np.arange(len(order))):
            table = table.take(pa.array(order))
            parents = parents[order]
    table, err_cols = _shape(o, table)
    pandas_meta = _dtypes.pandas_metadata(
        recorded if o.schema is None else [o.schema], table.column_names)
    # metadata columns
    same = len(parents) == n and (n == 0 or (parents[0] == 0 and parents[-1] == n - 1
                                             and bool(np.all(np.diff(parents) == 1))))
    take = None if same else pa.array(parents)

    def col(a: pa.Array) -> pa.Array:
        return a if take is None else a.take(take)

    extra: dict[str, Any] = {}
    if "subject" in o.metadata and meta.subjects is not None:
        extra["_subject"] = col(meta.subjects)
    if "seq" in o.metadata:
        extra["_seq"] = col(meta.seqs)
    if "time" in o.metadata and meta.times is not None:
        extra["_time"] = col(meta.times)
    if o.include_headers and meta.headers is not None:
        extra["_headers"] = col(meta.headers)
    extra.update(err_cols)
    for name, arr in extra.items():
        i = table.schema.get_field_index(name)
        if i >= 0:
            table = table.remove_column(i)
        table = table.append_column(name, arr)
    md: dict[bytes, bytes] = {}
    if pandas_meta is not None:
        md[_dtypes.PANDAS_KEY] = pandas_meta
    if unknown:
        md[UNKNOWN_KEY] = ",".join(sorted(unknown)).encode()
    return table.replace_schema_metadata(md) if md else table


def _payloads(chunk: _Chunk, codec: Codec, idx: np.ndarray) -> Sequence[bytes]:
    """The payloads at ``idx`` for ``codec``: for a packed chunk read by a built-in codec
    a view over the received buffer (the JSON codec joins it in one copy), else a list."""
    n = len(chunk)
    p = chunk.packed
    if p is not None and type(codec) in _VIEW_CODECS:
        if len(idx) == n:
            return PackedPayloads(p)
        if len(idx) and int(idx[-1]) - int(idx[0]) + 1 == len(idx):  # one contiguous run
            return PackedPayloads(p, int(idx[0]), int(idx[-1]) + 1)
    datas = chunk.datas
    return datas if len(idx) == n else [datas[i] for i in idx]


def _schema_groups(chunk: _Chunk, groups: list[tuple[Codec, np.ndarray]]
                   ) -> tuple[list[tuple[Codec, np.ndarray, pa.Schema | None]],
                              list[pa.Schema], set[str]]:
    """Split codec groups by the schema each message names (``Jsdata-Schema``), learning
    the schemas defined in the chunk's headers; returns (groups with their recorded schema
    or None, the recorded schemas used, the ids no known schema has)."""
    ids = _dtypes.header_schema_ids(chunk.hdrs)
    if ids is None:
        return [(c, idx, None) for c, idx in groups], [], set()
    unknown: set[str] = set()
    used: dict[str, pa.Schema] = {}

    def target(sid: str | None) -> pa.Schema | None:
        if sid is None:
            return None
        sch = _dtypes.lookup(sid)
        if sch is None:
            unknown.add(sid)
        else:
            used[sid] = sch
        return sch

    out: list[tuple[Codec, np.ndarray, pa.Schema | None]] = []
    if isinstance(ids, str):
        t = target(ids)
        out = [(c, idx, t) for c, idx in groups]
    else:
        for c, idx in groups:
            by: dict[str | None, list[int]] = {}
            for i in idx.tolist():
                by.setdefault(ids[i], []).append(i)
            for sid, members in by.items():
                out.append((c, np.asarray(members, dtype=np.int64), target(sid)))
    return out, list(used.values()), unknown


def _shape(o: ReadOptions, table: pa.Table) -> tuple[pa.Table, dict[str, pa.Array]]:
    """Apply ``schema`` and ``columns`` to the decoded data columns; the ``on_error="keep"``
    columns are returned separately (they go last)."""
    err_cols: dict[str, Any] = {}
    if o.on_error == "keep":
        for f in ERROR_FIELDS:
            i = table.schema.get_field_index(f.name)
            if i >= 0:
                err_cols[f.name] = table.column(i).cast(f.type)
                table = table.remove_column(i)
            else:
                err_cols[f.name] = pa.nulls(table.num_rows, f.type)
    if o.schema is not None:
        table = conform(table, o.schema)
    if o.columns is not None:
        n = table.num_rows
        cols = []
        for c in o.columns:
            i = table.schema.get_field_index(c)
            cols.append(table.column(i) if i >= 0 else pa.nulls(n))
        table = pa.Table.from_arrays(cols, names=list(o.columns)) if cols else _no_columns(n)
    return table, err_cols


def _no_columns(n: int) -> pa.Table:
    """A table with ``n`` rows and no columns."""
    return pa.table({"_": pa.nulls(n)}).drop(["_"])


def _explicit_schema(o: ReadOptions) -> pa.Schema | None:
    """The output schema when it is known without reading (explicit ``schema``)."""
    if o.schema is None:
        return None
    fields = list(o.schema)
    if o.columns is not None:
        by = {f.name: f for f in fields}
        fields = [by.get(c, pa.field(c, pa.null())) for c in o.columns]
    fields = [f for f in fields if f.name not in {m.name for m in o.meta_fields()}]
    tail = o.meta_fields() + (ERROR_FIELDS if o.on_error == "keep" else [])
    return pa.schema(fields + tail)


# ---------------------------------------------------------------------------------------------
# pandas conversion

def owned_table_to_pandas(box: list[pa.Table], dtype_backend: str | None = None
                          ) -> pd.DataFrame:
    """:func:`table_to_pandas` of the one table in ``box``, which the caller hands over
    (nothing else may refer to it or to the tables it was assembled from): it is taken out
    of the box and converted with ``self_destruct``, so each column's Arrow memory is
    released once converted and the peak stays near the frame's own size."""
    table = box.pop()
    return _to_pandas(table, dtype_backend, owned=True)


def table_to_pandas(table: pa.Table, dtype_backend: str | None = None) -> pd.DataFrame:
    """Arrow -> pandas as ``pd.read_*`` would (``dtype_backend`` None / numpy_nullable /
    pyarrow); ``_headers`` becomes dicts (first value per name); attrs from the metadata."""
    return _to_pandas(table, dtype_backend, owned=False)


def _to_pandas(table: pa.Table, dtype_backend: str | None, owned: bool) -> pd.DataFrame:
    import pandas as pd
    kw: dict[str, Any] = {}
    if owned:  # the same values; Arrow columns freed as they are converted, no consolidation
        kw["self_destruct"] = True
        kw["split_blocks"] = True
    if dtype_backend == "pyarrow":
        kw["types_mapper"] = pd.ArrowDtype
    elif dtype_backend == "numpy_nullable":
        mapping = {
            pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
            pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(),
            pa.uint16(): pd.UInt16Dtype(), pa.uint32(): pd.UInt32Dtype(),
            pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype(),
            pa.float32(): pd.Float32Dtype(), pa.float64(): pd.Float64Dtype(),
            pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype(),
        }
        kw["types_mapper"] = mapping.get
    headers = None
    i = table.schema.get_field_index("_headers")
    if i >= 0 and pa.types.is_map(table.schema.field(i).type):
        headers = table.column(i)
        table = table.set_column(i, "_headers", pa.nulls(table.num_rows))
    lists: dict[str, Any] = {}
    if dtype_backend is None:
        for name in _dtypes.python_list_columns(table) + _dtypes.struct_columns(table):
            i = table.schema.get_field_index(name)
            lists[name] = table.column(i)
            table = table.set_column(i, name, pa.nulls(table.num_rows))
    meta = table.schema.metadata or {}
    df = table.to_pandas(**kw)
    del table  # unusable after self_destruct; its metadata was read first
    with gc_paused():  # a Python list or dict per row
        for name in list(lists):  # Python lists and dicts, as they were written
            col = lists.pop(name)  # each Arrow column is freed once its objects are built
            df[name] = pd.Series(col.to_pylist(), index=df.index, dtype=object)
            del col
        if headers is not None:
            vals = []
            for pairs in headers.to_pylist():
                d: dict[str, str] = {}
                for k, v in pairs or ():
                    d.setdefault(k, v)
                vals.append(d)
            df["_headers"] = pd.Series(vals, index=df.index, dtype=object)
    if META_KEY in meta:
        df.attrs["jetstream"] = json.loads(meta[META_KEY])
    return df
