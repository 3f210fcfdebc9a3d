"""Stream readers: a stream (or a range of it) into Arrow record batches, tables and DataFrames.

``s.to_batches(**read)`` streams record batches with bounded memory; ``s.to_arrow`` and
``s.to_pandas`` read everything; :func:`read_stream` is the one-liner. Messages are read with
the stream's batched direct get (nats-server 2.11+, streams with ``allow_direct``): one
request returns up to ``batch_size`` messages followed by an end-of-batch status. Other
streams are read through an ephemeral ordered pull consumer (AckNone, memory storage) with
large pulls. Reading happens on the event loop; decoding runs in a worker thread, in bulk
(one ``pyarrow.json`` parse per batch for JSON), overlapping with the next batch's network
transfer.

Every read is bounded: ``end`` defaults to the stream's last sequence when the read starts,
so a read finishes while producers keep writing. The covered range is recorded as
``{"stream", "start_seq", "end_seq"}`` in ``df.attrs["jetstream"]`` and in the Arrow schema
metadata key ``b"jetstream"`` (per batch too), so ``start=end_seq + 1`` resumes.

Fetching lives in :mod:`jsdata.fetch`: it counts each pull's bytes as the server does (a pull
whose messages reach ``max_bytes`` exactly ends without a status) and resumes a read whose
connection dropped or whose server restarted, from the last sequence received + 1.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from . import errors, names
from ._conn import status_of
from ._options import given, keyword_options
from .fetch import (  # noqa: F401 - the fetching half of a read, re-exported for its users
    MAX_REQUEST_BYTES,
    _Chunk,
    _ConsumerFetcher,
    _direct_seq,
    _DirectFetcher,
    _Fetcher,
    _Plan,
)

if TYPE_CHECKING:
    import pandas as pd

    from .jetstream import JetStream
    from .stream import Stream

DEFAULT_BATCH_SIZE = 10_000
PREFETCH = 2  # raw batches fetched ahead of the decoder
# Messages per pull of a whole-table read (to_arrow / to_pandas) left at the default
# batch_size: its batches are never seen, and fewer, larger pulls (still capped at
# MAX_REQUEST_BYTES) keep the server streaming and cut the per-batch overhead (measured
# 5-15% faster for ~115-byte JSON rows).
BULK_PULL_SIZE = 40_000
_FORCE: str | None = None  # tests: "direct" / "consumer" pins the read mechanism
META_KEY = b"jetstream"

# pyarrow, numpy and the codecs are imported on first use (``_load``), so that connecting
# (which imports ``Stream`` and this mixin) stays cheap for programs that never read frames.
pa: Any = None
pc: Any = None
np: Any = None
Codec: Any = None
TS_UTC: Any = None
METADATA_FIELDS: dict[str, Any] = {}
HEADERS_FIELD: Any = None
ERROR_FIELDS: list[Any] = []
codec_for_content_type: Any = None
concat_tables: Any = None
conform: Any = None
get_codec: Any = None
sniff: Any = None
_dtypes: Any = None
UNKNOWN_KEY = b"jsdata.unknown_schemas"  # decode_chunk: schema ids it did not know


def _load() -> None:
    """Import pyarrow / numpy / the codecs into this module's globals (once)."""
    global pa, pc, np, Codec, TS_UTC, HEADERS_FIELD, codec_for_content_type, concat_tables
    global conform, get_codec, sniff, _dtypes
    if pa is not None:
        return
    import numpy
    import pyarrow
    import pyarrow.compute

    from . import codec as _codec
    from . import dtypes
    _dtypes = dtypes
    np, pc = numpy, pyarrow.compute
    Codec, TS_UTC = _codec.Codec, _codec.TS_UTC
    codec_for_content_type, concat_tables = _codec.codec_for_content_type, _codec.concat_tables
    conform, get_codec, sniff = _codec.conform, _codec.get_codec, _codec.sniff
    METADATA_FIELDS.update({
        "subject": pyarrow.field("_subject", pyarrow.string()),
        "seq": pyarrow.field("_seq", pyarrow.uint64()),
        "time": pyarrow.field("_time", TS_UTC),
    })
    HEADERS_FIELD = pyarrow.field("_headers", pyarrow.map_(pyarrow.string(), pyarrow.string()))
    ERROR_FIELDS[:] = [pyarrow.field("_error", pyarrow.string()),
                       pyarrow.field("_data", pyarrow.binary())]
    pa = pyarrow  # last: marks the module loaded


def _resolve(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


async def in_thread(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` in the loop's default executor and return its result.

    Unlike ``loop.run_in_executor`` this hands the result over without chaining futures,
    which leaves reference cycles behind: with large Arrow results those keep hundreds of
    megabytes alive until the cyclic garbage collector happens to run.
    """
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def run() -> None:
        try:
            r = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting coroutine
            err: BaseException | None = e
            r = None
        else:
            err = None
        try:
            loop.call_soon_threadsafe(_resolve, fut, r, err)
        except RuntimeError:  # the loop is gone (connection closed meanwhile)
            pass

    loop.run_in_executor(None, run)
    return await fut


# ---------------------------------------------------------------------------------------------
# options

@dataclass
class ReadOptions:
    """The validated read options shared by ``to_batches`` / ``to_arrow`` / ``to_pandas``."""

    subjects: list[str] | None = None
    start: int | datetime | None = None
    end: int | datetime | None = None
    codec: str | Codec = "auto"
    schema: pa.Schema | None = None
    columns: list[str] | None = None
    metadata: tuple[str, ...] = ("subject", "seq", "time")
    include_headers: bool = False
    include_markers: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    max_messages: int | None = None
    on_error: str = "raise"
    progress: str | bool = "auto"
    dtype_backend: str | None = None

    @classmethod
    def parse(cls, read: dict[str, Any], *, pandas: bool = False) -> ReadOptions:
        _load()
        allowed = set(cls.__dataclass_fields__)
        if not pandas:
            allowed.discard("dtype_backend")
        unknown = sorted(set(read) - allowed)
        if unknown:
            raise errors.InvalidArgumentError(
                f"unknown read option(s) {', '.join(map(repr, unknown))}; "
                f"valid: {', '.join(sorted(allowed))}")
        o = cls(**read)
        o._validate()
        return o

    def _validate(self) -> None:
        E = errors.InvalidArgumentError
        if self.subjects is not None:
            subs = [self.subjects] if isinstance(self.subjects, str) else list(self.subjects)
            self.subjects = [names.filter_subject(s) for s in subs] or None
        self.start = _check_pos("start", self.start, allow_first=True)
        self.end = _check_pos("end", self.end, allow_first=False)
        if isinstance(self.codec, str):
            if self.codec.lower() != "auto":
                self.codec = get_codec(self.codec)
            else:
                self.codec = "auto"
        elif not isinstance(self.codec, Codec):
            self.codec = get_codec(self.codec)
        if self.schema is not None and not isinstance(self.schema, pa.Schema):
            raise E(f"schema must be a pyarrow.Schema, not {type(self.schema).__name__}")
        if self.columns is not None:
            if isinstance(self.columns, str):
                self.columns = [self.columns]
            self.columns = list(self.columns)
        if self.metadata is None or self.metadata is False:
            self.metadata = ()
        elif isinstance(self.metadata, str):
            self.metadata = (self.metadata,)
        self.metadata = tuple(self.metadata)
        bad = [m for m in self.metadata if m not in METADATA_FIELDS]
        if bad:
            raise E(f"unknown metadata {bad!r}: choose from 'subject', 'seq', 'time'")
        if (isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int)
                or self.batch_size < 1):
            raise E(f"batch_size must be an int >= 1, got {self.batch_size!r}")
        if self.max_messages is not None and (
                isinstance(self.max_messages, bool) or not isinstance(self.max_messages, int)
                or self.max_messages < 0):
            raise E(f"max_messages must be an int >= 0, got {self.max_messages!r}")
        if self.on_error not in ("raise", "skip", "keep"):
            raise E(f"on_error must be 'raise', 'skip' or 'keep', got {self.on_error!r}")
        if self.progress not in ("auto", True, False):
            raise E(f"progress must be 'auto', True or False, got {self.progress!r}")
        if self.dtype_backend not in (None, "numpy_nullable", "pyarrow"):
            raise E("dtype_backend must be None, 'numpy_nullable' or 'pyarrow', "
                    f"got {self.dtype_backend!r}")

    def meta_fields(self) -> list[pa.Field]:
        out = [METADATA_FIELDS[m] for m in ("subject", "seq", "time") if m in self.metadata]
        if self.include_headers:
            out.append(HEADERS_FIELD)
        return out


def _check_pos(what: str, v: Any, *, allow_first: bool) -> int | datetime | None:
    if v is None:
        return None
    if isinstance(v, str):
        if allow_first and v.lower() == "first":
            return None
        raise errors.InvalidArgumentError(
            f"{what} must be a sequence number, a datetime" + (' or "first"' if allow_first
                                                               else "") + f", got {v!r}")
    if isinstance(v, datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=timezone.utc)
    if type(v).__name__ == "datetime64":
        import pandas as pd
        return pd.Timestamp(v).tz_localize("UTC").to_pydatetime()
    if hasattr(v, "__index__") and not isinstance(v, bool):
        v = v.__index__()
        if v < (1 if what == "start" else 0):  # type: ignore[operator]
            raise errors.InvalidArgumentError(f"{what} sequence must be >= 1, got {v!r}")
        return int(v)
    raise errors.InvalidArgumentError(
        f"{what} must be a sequence number or a datetime, not {type(v).__name__}")


# ---------------------------------------------------------------------------------------------
# the read plan (the fetchers are in jsdata/fetch.py)

def _server_version(js: JetStream) -> tuple[int, int, int]:
    info = getattr(js.nc, "_server_info", None) or {}
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", str(info.get("version", "")))
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)


async def _seq_at_time(stream: Stream, when: datetime) -> int | None:
    """The sequence of the first message stored at or after ``when`` (None if none)."""
    from ._model import format_time
    js = stream._js
    payload = {"start_time": format_time(when)}
    if stream._info.config.allow_direct:
        data, hdr = await js._mux.request(
            js.api_subject(f"DIRECT.GET.{stream.name}"),
            json.dumps(payload).encode(), js.timeout)
        st = status_of(hdr) if hdr and not data else None
        if st is None:
            return _direct_seq(hdr)
        if st[0] == 404:
            return None
        raise errors.APIError(f"direct get by time failed: {st[0]} {st[1]}", code=st[0])
    try:
        resp = await js._api(f"STREAM.MSG.GET.{stream.name}", payload)
    except errors.MsgNotFoundError:
        return None
    return int(resp["message"]["seq"])


async def _make_plan(stream: Stream, o: ReadOptions, bulk: bool = False) -> _Plan:
    """What to read and how; ``bulk``: a whole-table read at the default batch size, which
    pulls ``BULK_PULL_SIZE`` messages per request when it uses a consumer."""
    info = await stream.info()
    st = info.state
    js = stream._js
    if isinstance(o.start, datetime):
        found = await _seq_at_time(stream, o.start)
        start = found if found is not None else st.last_seq + 1
    elif o.start is None:
        start = max(st.first_seq, 1)
    else:
        start = int(o.start)
    end = st.last_seq
    if isinstance(o.end, datetime):
        after = await _seq_at_time(stream, o.end + timedelta(microseconds=1))
        if after is not None:
            end = min(end, after - 1)
    elif o.end is not None:
        end = min(end, int(o.end))
    filters = o.subjects
    can_direct = (bool(info.config.allow_direct) and _server_version(js) >= (2, 11, 0)
                  and (filters is None or len(filters) == 1))
    # Batched direct get answers a small read in one round trip without creating anything
    # on the server. For bulk reads an ephemeral consumer is faster: the server re-encodes
    # the header block of every message a direct get returns (measured 1.3-2.8x slower for
    # messages with headers, as publish_dataframe writes them, on nats-server 2.15).
    small = (end - start + 1 <= o.batch_size
             or (o.max_messages is not None and o.max_messages <= o.batch_size))
    direct = can_direct and (small or _FORCE == "direct") and _FORCE != "consumer"
    size = o.batch_size if direct or not bulk else max(o.batch_size, BULK_PULL_SIZE)
    # the first pull stays small: the decoder starts sooner
    return _Plan(stream.name, start, end, filters, direct, size, o.max_messages, o.batch_size)


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
    (``Jsdata-Schema``, ``Jsdata-Schema-Def``: see :mod:`jsdata.dtypes`) are left out."""
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


def _consumer_meta(chunk: _Chunk, want_ct: bool, want_headers: bool) -> _Meta:
    """Metadata of pulled messages: sequence and time from the ``$JS.ACK`` reply subjects."""
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
        if hdrs.count(h0) == n:  # the usual case: every message has the same headers
            user = h0.split(b"\r\n")[1:] if h0 else []
            if want_ct:
                ctypes = _ctype(user)
            if want_headers:
                one = pa.array([_user_header_pairs(user)], HEADERS_FIELD.type)
                headers = one.take(pa.array(np.zeros(n, dtype=np.int64)))
        else:
            users = [h.split(b"\r\n")[1:] if h else [] for h in hdrs]
            if want_ct:
                ctypes = [_ctype(u) for u in users]
            if want_headers:
                headers = pa.array([_user_header_pairs(u) for u in users],
                                   HEADERS_FIELD.type)
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
    datas = chunk.datas
    ct = meta.ctypes
    if isinstance(ct, str):
        c = codec_for_content_type(ct)
        if c is not None:
            return [(c, everything)]
        ct = None
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
    hdrs = chunk.hdrs
    if not hdrs or _MARKER not in b"".join(hdrs):
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
    _load()
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
    datas = chunk.datas
    for codec, idx, target in groups:
        payloads = datas if len(idx) == n else [datas[i] for i in idx]
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


# ---------------------------------------------------------------------------------------------
# the streaming reader (asyncio)

def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _progress_bar(progress: str | bool, desc: str, unit: str = "msg") -> Any:
    if progress is False or (progress == "auto" and not _in_notebook()):
        return None
    from tqdm.auto import tqdm
    return tqdm(desc=desc, unit=unit, unit_scale=True, delay=0.5 if progress == "auto" else 0,
                leave=True)


class RecordBatchStream:
    """An asynchronous stream of record batches read from a JetStream stream.

    ``async for batch in rs`` yields ``pyarrow.RecordBatch`` objects; ``schema`` is known
    once the first batch is read (or upfront with an explicit schema). ``stream``,
    ``start_seq`` and ``end_seq`` describe the range covered so far. Close it (``aclose``
    or ``async with``) to stop early; the blocking API wraps it as a ``pyarrow``
    ``RecordBatchReader``.
    """

    def __init__(self, stream: Stream, opts: ReadOptions, plan: _Plan,
                 strict_schema: bool) -> None:
        self._stream = stream
        self._js = stream._js
        self._o = opts
        self._plan = plan
        self._strict = strict_schema
        self.stream = plan.stream
        self.start_seq = plan.start_seq
        self.end_seq = plan.start_seq - 1
        self.schema: pa.Schema | None = _explicit_schema(opts)
        self._fetcher: _Fetcher = (_DirectFetcher if plan.direct else _ConsumerFetcher)(
            self._js, plan)
        self._q: asyncio.Queue[Any] = asyncio.Queue(maxsize=PREFETCH)
        self._task: asyncio.Task[Any] | None = None
        self._closed = False
        self._finished = False
        self._bar: Any = None
        self.messages = 0
        self.rows = 0
        self._looked_up: set[str] = set()  # schema ids looked up in the stream's metadata
        self._pandas_metas: list[bytes] = []

    def __repr__(self) -> str:
        return (f"<RecordBatchStream {self.stream} seq {self.start_seq}..{self.end_seq} "
                f"rows={self.rows}{' done' if self._finished else ''}>")

    async def _start(self) -> None:
        await self._fetcher.start()
        self._bar = _progress_bar(self._o.progress, f"reading {self.stream}")
        self._task = self._js._spawn(self._pump())

    async def _pump(self) -> None:
        try:
            while True:
                chunk = await self._fetcher.next_chunk()
                if chunk is None:
                    break
                await self._q.put(chunk)
                if self._fetcher.done:
                    break
            await self._q.put(None)
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # noqa: BLE001 - handed to the reader
            await self._q.put(e)
        finally:
            await self._fetcher.close()

    def range_metadata(self, start: int | None = None, end: int | None = None) -> bytes:
        return json.dumps({"stream": self.stream,
                           "start_seq": self.start_seq if start is None else start,
                           "end_seq": self.end_seq if end is None else end}).encode()

    async def _next_table(self) -> pa.Table | None:
        """The next decoded, non-empty table (None at the end)."""
        while True:
            if self._finished or self._closed:
                return None
            item = await self._q.get()
            if item is None:
                await self._finish()
                return None
            if isinstance(item, BaseException):
                await self._finish()
                raise item
            chunk: _Chunk = item
            if len(chunk):
                table = await in_thread(decode_chunk, self._o, chunk, self.stream)
                table = await self._with_schemas(chunk, table)
            else:
                table = None
            self.end_seq = max(self.end_seq, chunk.last_cov)
            self.messages += len(chunk)
            bar = self._bar
            if bar is not None:
                if bar.total is None and self._fetcher.total is not None:
                    bar.total = self._fetcher.total
                bar.update(len(chunk))
            if table is not None and table.num_rows:
                self.rows += table.num_rows
                meta = {META_KEY: self.range_metadata(chunk.first_cov, chunk.last_cov)}
                pmeta = (table.schema.metadata or {}).get(_dtypes.PANDAS_KEY)
                if pmeta is not None:
                    meta[_dtypes.PANDAS_KEY] = pmeta
                return table.replace_schema_metadata(meta)

    async def _with_schemas(self, chunk: _Chunk, table: pa.Table) -> pa.Table:
        """Decode ``chunk`` again if its messages name schemas that were unknown but that
        the stream's metadata now records (written after the read started); a schema still
        missing is warned about once and its messages keep their inferred types."""
        raw = (table.schema.metadata or {}).get(UNKNOWN_KEY)
        if raw is None:
            return table
        ids = set(raw.decode().split(","))
        if not ids <= self._looked_up:
            self._looked_up |= ids
            try:
                info = await self._stream.info()
            except errors.JetStreamError:
                info = None
            if info is not None:
                _dtypes.learn_stream_metadata(info.config.metadata)
            if any(_dtypes.lookup(i) is not None for i in ids):
                table = await in_thread(decode_chunk, self._o, chunk, self.stream)
                raw = (table.schema.metadata or {}).get(UNKNOWN_KEY)
                ids = set(raw.decode().split(",")) if raw is not None else set()
        for sid in sorted(ids):
            _dtypes.warn_unknown(sid, self.stream)
        md = dict(table.schema.metadata or {})
        md.pop(UNKNOWN_KEY, None)
        return table.replace_schema_metadata(md or None)

    async def _next_batch(self) -> pa.RecordBatch | None:
        table = await self._next_table()
        if table is None:
            return None
        if self._strict:
            table = self._conform_stream(table)
        table = table.combine_chunks()
        batches = table.to_batches()
        if len(batches) == 1:
            return batches[0]
        return pa.RecordBatch.from_struct_array(
            pa.StructArray.from_arrays([c.combine_chunks() for c in table.columns],
                                       fields=list(table.schema))).replace_schema_metadata(
            table.schema.metadata)

    def _conform_stream(self, table: pa.Table) -> pa.Table:
        meta = table.schema.metadata
        if self.schema is None:
            self.schema = table.schema.remove_metadata()
            return table
        if table.schema.remove_metadata() == self.schema:
            return table
        extra = [n for n in table.column_names if self.schema.get_field_index(n) < 0]
        try:
            if extra:
                raise errors.DecodeError(f"new columns {extra}")
            out = conform(table, self.schema)
        except errors.DecodeError as e:
            first = json.loads(meta[META_KEY])["start_seq"] if meta else None
            raise errors.DecodeError(
                f"batch starting at sequence {first} of stream {self.stream!r} does not fit "
                f"the schema inferred from the first batch ({e}); pass schema= to "
                "to_batches, or use to_arrow / to_pandas, which unify schemas",
                sequence=first) from None
        return out.replace_schema_metadata(meta)

    async def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self.end_seq = max(self.end_seq, self._fetcher.last_cov)
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    async def first_schema(self) -> tuple[pa.Schema, pa.RecordBatch | None]:
        """Read the first batch (if needed) to know the schema; returns (schema, batch)."""
        if self.schema is not None:
            return self._with_meta(self.schema), None
        b = await self._next_batch()
        if b is None:
            self.schema = pa.schema(self._o.meta_fields() + (
                ERROR_FIELDS if self._o.on_error == "keep" else []))
            return self._with_meta(self.schema), None
        return self._with_meta(self.schema), b

    def _with_meta(self, schema: pa.Schema) -> pa.Schema:
        return schema.with_metadata({META_KEY: json.dumps({
            "stream": self.stream, "start_seq": self.start_seq,
            "end_seq": self._plan.end_seq if self._plan.max_messages is None
            else self.end_seq}).encode()})

    def __aiter__(self) -> RecordBatchStream:
        return self

    async def __anext__(self) -> pa.RecordBatch:
        b = await self._next_batch()
        if b is None:
            raise StopAsyncIteration
        return b

    async def _next_many(self) -> list[pa.RecordBatch]:
        b = await self._next_batch()
        return [] if b is None else [b]

    async def read_all(self) -> pa.Table:
        """Read every remaining batch into one table (schemas unified)."""
        tables = []
        while True:
            t = await self._next_table()
            if t is None:
                break
            pmeta = (t.schema.metadata or {}).get(_dtypes.PANDAS_KEY)
            if pmeta is not None:
                self._pandas_metas.append(pmeta)
            tables.append(t.replace_schema_metadata(None))
        return self._assemble(tables)

    def _assemble(self, tables: list[pa.Table]) -> pa.Table:
        o = self._o
        metas = o.meta_fields()
        meta_names = {f.name for f in metas}
        tail = [f.name for f in metas] + ([f.name for f in ERROR_FIELDS]
                                          if o.on_error == "keep" else [])
        if tables:
            table = concat_tables(tables)
        else:
            base = _explicit_schema(o) or pa.schema(
                [pa.field(c, pa.null()) for c in (o.columns or [])] + metas
                + (ERROR_FIELDS if o.on_error == "keep" else []))
            table = base.empty_table()
        for f in metas + (ERROR_FIELDS if o.on_error == "keep" else []):
            if table.schema.get_field_index(f.name) < 0:
                table = table.append_column(f, pa.nulls(table.num_rows, f.type))
        order = [n for n in table.column_names if n not in tail and n not in meta_names]
        order += [n for n in tail if n in table.column_names]
        if order != table.column_names:
            table = table.select(order)
        md = {META_KEY: self.range_metadata()}
        pmeta = _dtypes.merge_pandas_metadata(self._pandas_metas, table.column_names)
        if pmeta is None and o.schema is not None:
            pmeta = _dtypes.pandas_metadata([o.schema], table.column_names)
        if pmeta is not None:
            md[_dtypes.PANDAS_KEY] = pmeta
        return table.replace_schema_metadata(md)

    async def aclose(self) -> None:
        """Stop reading and release the server-side resources."""
        if self._closed:
            return
        self._closed = True
        t = self._task
        if t is not None and not t.done():
            t.cancel()
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await self._fetcher.close()
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    async def __aenter__(self) -> RecordBatchStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


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

def table_to_pandas(table: pa.Table, dtype_backend: str | None = None) -> pd.DataFrame:
    """Arrow -> pandas as ``pd.read_*`` would (``dtype_backend`` None / numpy_nullable /
    pyarrow); ``_headers`` becomes dicts (first value per name); attrs from the metadata."""
    import pandas as pd
    _load()
    kw: dict[str, Any] = {}
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
        for name in _dtypes.python_list_columns(table):
            i = table.schema.get_field_index(name)
            lists[name] = table.column(i)
            table = table.set_column(i, name, pa.nulls(table.num_rows))
    df = table.to_pandas(**kw)
    for name, col in lists.items():  # written from Python lists: read back as lists
        df[name] = pd.Series(col.to_pylist(), index=df.index, dtype=object)
    if headers is not None:
        vals = []
        for pairs in headers.to_pylist():
            d: dict[str, str] = {}
            for k, v in pairs or ():
                d.setdefault(k, v)
            vals.append(d)
        df["_headers"] = pd.Series(vals, index=df.index, dtype=object)
    meta = table.schema.metadata or {}
    if META_KEY in meta:
        df.attrs["jetstream"] = json.loads(meta[META_KEY])
    return df


# ---------------------------------------------------------------------------------------------
# the Stream mixin and read_stream

class StreamReader:
    """``to_batches`` / ``to_arrow`` / ``to_pandas`` for ``Stream``."""

    _js: JetStream
    name: str

    async def _open_reader(self, read: dict[str, Any], *, strict: bool, pandas: bool = False
                           ) -> tuple[RecordBatchStream, ReadOptions]:
        o = ReadOptions.parse(read, pandas=pandas)
        bulk = not strict and "batch_size" not in read
        plan = await _make_plan(self, o, bulk)  # type: ignore[arg-type]
        if o.schema is None:  # schemas recorded by writers (see jsdata.dtypes)
            info = getattr(self, "_info", None)
            if info is not None:
                _dtypes.learn_stream_metadata(info.config.metadata)
        rs = RecordBatchStream(self, o, plan, strict)  # type: ignore[arg-type]
        await rs._start()
        return rs, o

    @keyword_options("read")
    async def to_batches(self, *,
            subjects: str | Sequence[str] | None = None,
            start: int | datetime | Literal["first"] | None = None,
            end: int | datetime | None = None,
            codec: str | Codec = "auto",
            schema: pa.Schema | None = None,
            columns: str | Sequence[str] | None = None,
            metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
            include_headers: bool = False,
            include_markers: bool = False,
            batch_size: int | None = None,
            max_messages: int | None = None,
            on_error: Literal["raise", "skip", "keep"] = "raise",
            progress: bool | Literal["auto"] = "auto") -> RecordBatchStream:
        """Stream the messages as record batches with bounded memory (``read`` options as in
        :func:`jsdata.read_stream`); the blocking API returns a ``pyarrow.RecordBatchReader``."""
        read = given(locals())
        rs, _ = await self._open_reader(read, strict=True)
        return rs

    @keyword_options("read")
    async def to_arrow(self, *,
            subjects: str | Sequence[str] | None = None,
            start: int | datetime | Literal["first"] | None = None,
            end: int | datetime | None = None,
            codec: str | Codec = "auto",
            schema: pa.Schema | None = None,
            columns: str | Sequence[str] | None = None,
            metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
            include_headers: bool = False,
            include_markers: bool = False,
            batch_size: int | None = None,
            max_messages: int | None = None,
            on_error: Literal["raise", "skip", "keep"] = "raise",
            progress: bool | Literal["auto"] = "auto") -> pa.Table:
        """Read the stream (or a range of it) into one ``pyarrow.Table`` (options as in
        :func:`jsdata.read_stream`)."""
        read = given(locals())
        rs, _ = await self._open_reader(read, strict=False)
        async with rs:
            return await rs.read_all()

    @keyword_options("read")
    async def to_pandas(self, *,
            subjects: str | Sequence[str] | None = None,
            start: int | datetime | Literal["first"] | None = None,
            end: int | datetime | None = None,
            codec: str | Codec = "auto",
            schema: pa.Schema | None = None,
            columns: str | Sequence[str] | None = None,
            metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
            include_headers: bool = False,
            include_markers: bool = False,
            batch_size: int | None = None,
            max_messages: int | None = None,
            on_error: Literal["raise", "skip", "keep"] = "raise",
            progress: bool | Literal["auto"] = "auto",
            dtype_backend: Literal["numpy_nullable", "pyarrow"] | None = None,
            ) -> pd.DataFrame:
        """Read the stream (or a range of it) into a ``pandas.DataFrame``; the covered range
        is in ``df.attrs["jetstream"]``. Also takes ``dtype_backend``."""
        read = given(locals())
        backend = read.pop("dtype_backend", None)
        rs, _ = await self._open_reader(read, strict=False)
        async with rs:
            table = await rs.read_all()
        return await in_thread(table_to_pandas, table, backend)

    @keyword_options("read")
    async def to_polars(self, *,
            subjects: str | Sequence[str] | None = None,
            start: int | datetime | Literal["first"] | None = None,
            end: int | datetime | None = None,
            codec: str | Codec = "auto",
            schema: pa.Schema | None = None,
            columns: str | Sequence[str] | None = None,
            metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
            include_headers: bool = False,
            include_markers: bool = False,
            batch_size: int | None = None,
            max_messages: int | None = None,
            on_error: Literal["raise", "skip", "keep"] = "raise",
            progress: bool | Literal["auto"] = "auto") -> Any:
        """Read the stream (or a range of it) into a ``polars.DataFrame``; the same read
        options as :meth:`to_arrow` (polars is imported on first use)."""
        read = given(locals())
        from .polars_ext import stream_to_polars
        return await stream_to_polars(self, read)


class _BlockingStreamReader:
    """Blocking ``Stream.to_batches``: a real ``pyarrow.RecordBatchReader``."""

    _core: Any
    _lt: Any

    @keyword_options("read")
    def to_batches(self, *,
            subjects: str | Sequence[str] | None = None,
            start: int | datetime | Literal["first"] | None = None,
            end: int | datetime | None = None,
            codec: str | Codec = "auto",
            schema: pa.Schema | None = None,
            columns: str | Sequence[str] | None = None,
            metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
            include_headers: bool = False,
            include_markers: bool = False,
            batch_size: int | None = None,
            max_messages: int | None = None,
            on_error: Literal["raise", "skip", "keep"] = "raise",
            progress: bool | Literal["auto"] = "auto") -> pa.RecordBatchReader:
        """Stream the messages as a ``pyarrow.RecordBatchReader`` (bounded memory); read
        options as in :func:`jsdata.read_stream`. Each batch's schema metadata
        ``b"jetstream"`` records the range it covers."""
        read = given(locals())
        lt = self._lt
        rs: RecordBatchStream = lt.run(self._core.to_batches(**read))
        try:
            schema, first = lt.run(rs.first_schema())
        except BaseException:
            lt.run(rs.aclose())
            raise

        def gen() -> Any:
            try:
                if first is not None:
                    yield first
                while True:
                    b = lt.run(rs._next_batch())
                    if b is None:
                        return
                    yield b
            finally:
                if not lt.closed:
                    lt.run(rs.aclose())

        return pa.RecordBatchReader.from_batches(schema, gen())


StreamReader.__blocking_mixin__ = _BlockingStreamReader  # type: ignore[attr-defined]


@keyword_options("read")
async def aread_stream(stream: str | Any, js: Any = None, *,
        subjects: str | Sequence[str] | None = None,
        start: int | datetime | Literal["first"] | None = None,
        end: int | datetime | None = None,
        codec: str | Codec = "auto",
        schema: pa.Schema | None = None,
        columns: str | Sequence[str] | None = None,
        metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
        include_headers: bool = False,
        include_markers: bool = False,
        batch_size: int | None = None,
        max_messages: int | None = None,
        on_error: Literal["raise", "skip", "keep"] = "raise",
        progress: bool | Literal["auto"] = "auto",
        dtype_backend: Literal["numpy_nullable", "pyarrow"] | None = None,
        engine: Literal["pandas", "polars"] = "pandas",
        ) -> pd.DataFrame:
    """The asyncio :func:`read_stream`: ``await aread_stream("ORDERS", js=ajs)``."""
    read = given(locals(), skip=("stream", "js"))
    if js is None:
        raise errors.InvalidArgumentError("aread_stream needs js= (an asyncio JetStream)")
    from .polars_ext import check_engine
    engine = check_engine(read.pop("engine", "pandas"))
    s = stream if not isinstance(stream, str) else await js.stream(stream)
    if engine == "polars":
        return await s.to_polars(**read)  # type: ignore[no-any-return]
    return await s.to_pandas(**read)  # type: ignore[no-any-return]


@keyword_options("read")
def read_stream(stream: str | Any, js: Any = None, *,
        subjects: str | Sequence[str] | None = None,
        start: int | datetime | Literal["first"] | None = None,
        end: int | datetime | None = None,
        codec: str | Codec = "auto",
        schema: pa.Schema | None = None,
        columns: str | Sequence[str] | None = None,
        metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
        include_headers: bool = False,
        include_markers: bool = False,
        batch_size: int | None = None,
        max_messages: int | None = None,
        on_error: Literal["raise", "skip", "keep"] = "raise",
        progress: bool | Literal["auto"] = "auto",
        dtype_backend: Literal["numpy_nullable", "pyarrow"] | None = None,
        engine: Literal["pandas", "polars"] = "pandas") -> Any:
    """Read a stream into a pandas DataFrame.

    ``stream`` is a stream name (or a ``Stream``); ``js`` a connection from
    :func:`jsdata.connect` (None: the default connection). With an asyncio ``JetStream``
    from :mod:`jsdata.aio` this returns a coroutine to await.

    Read options: ``subjects`` (filter, str or list), ``start`` (sequence, datetime or
    "first"), ``end`` (sequence or datetime; default: the stream's last sequence when the
    read starts; both inclusive), ``codec`` ("auto", "json", "msgpack", "arrow", "raw" or a
    :class:`jsdata.Codec`), ``schema`` (pyarrow.Schema), ``columns``, ``metadata`` (any of
    "subject", "seq", "time"), ``include_headers``, ``include_markers`` (keep subject
    delete markers as rows), ``batch_size``, ``max_messages``,
    ``on_error`` ("raise", "skip", "keep"), ``progress`` ("auto", True, False) and
    ``dtype_backend`` (None, "numpy_nullable", "pyarrow"). ``engine="polars"`` returns a
    ``polars.DataFrame`` instead (the same options but ``dtype_backend``).
    """
    read = given(locals(), skip=("stream", "js"))
    from .jetstream import JetStream as CoreJetStream
    if js is None:
        from ._default import default_js
        js = default_js()
    if isinstance(js, CoreJetStream):
        return aread_stream(stream, js, **read)
    from .polars_ext import check_engine
    engine = check_engine(read.pop("engine", "pandas"))
    if isinstance(stream, str):
        names.stream_name(stream)
        stream = js.stream(stream)
    if engine == "polars":
        return stream.to_polars(**read)
    return stream.to_pandas(**read)
