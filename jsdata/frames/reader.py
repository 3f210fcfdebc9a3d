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

Fetching lives in :mod:`jsdata.frames.fetch`: it counts each pull's bytes as the server does (a pull
whose messages reach ``max_bytes`` exactly ends without a status) and resumes a read whose
connection dropped or whose server restarted, from the last sequence received + 1.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .. import errors
from .._util import in_thread
from ..client._conn import status_of
from . import dtypes as _dtypes
from .codec import concat_tables, conform
from .decode import META_KEY, UNKNOWN_KEY, _explicit_schema, decode_chunk
from .fetch import (  # noqa: F401 - the fetching half of a read, re-exported for its users
    MAX_REQUEST_BYTES,
    _Chunk,
    _ConsumerFetcher,
    _direct_seq,
    _DirectFetcher,
    _Fetcher,
    _Plan,
)
from .fields import ERROR_FIELDS
from .options import ReadOptions

if TYPE_CHECKING:

    from ..client.stream import Stream

PREFETCH = 2  # raw batches fetched ahead of the decoder
# Messages per pull of a whole-table read (to_arrow / to_pandas) left at the default
# batch_size: its batches are never seen, and fewer, larger pulls (still capped at
# MAX_REQUEST_BYTES) keep the server streaming and cut the per-batch overhead (measured
# 5-15% faster for ~115-byte JSON rows).
BULK_PULL_SIZE = 40_000


# ---------------------------------------------------------------------------------------------
# the read plan (the fetchers are in jsdata/fetch.py)

async def _seq_at_time(stream: Stream, when: datetime) -> int | None:
    """The sequence of the first message stored at or after ``when`` (None if none)."""
    from ..client.times import format_time
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
    can_direct = (bool(info.config.allow_direct) and js.nc.server_version >= (2, 11, 0)
                  and (filters is None or len(filters) == 1))
    # Batched direct get answers a small read in one round trip without creating anything
    # on the server. For bulk reads an ephemeral consumer is faster: the server re-encodes
    # the header block of every message a direct get returns (measured 1.3-2.8x slower for
    # messages with headers, as publish_dataframe writes them, on nats-server 2.15).
    small = (end - start + 1 <= o.batch_size
             or (o.max_messages is not None and o.max_messages <= o.batch_size))
    direct = can_direct and small
    size = o.batch_size if direct or not bulk else max(o.batch_size, BULK_PULL_SIZE)
    # the first pull stays small: the decoder starts sooner
    return _Plan(stream.name, start, end, filters, direct, size, o.max_messages, o.batch_size)


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
