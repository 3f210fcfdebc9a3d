"""DataFrame writers: ``js.publish_dataframe`` (and ``df.to_jetstream``).

Rows are encoded in bulk (vectorized Arrow kernels for JSON, one IPC stream per message for
Arrow) in a worker thread while the previous slice is being sent; messages are pipelined with
a bounded number of unacknowledged publishes and every one is acknowledged before the call
returns. Subjects may be templates filled per row from columns (``"ORDERS.{region}"``); the
``msg_id`` option gives each message a ``Nats-Msg-Id`` so that a rerun is deduplicated by the
stream (reported as ``duplicates``).
"""

from __future__ import annotations

import asyncio
import bisect
import html
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import errors
from .._util import in_thread, redescribed
from ..client import names
from .templates import _fill, _header_blocks, _header_spec, _HeaderSpec, _Template, _template

if TYPE_CHECKING:
    import pyarrow as pa

    from ..client.bulk import BulkPublisher
    from ..client.jetstream import JetStream
    from .codec import Codec

PIECE_ROWS = 10_000  # rows encoded per slice (memory stays bounded for any input size)
PIECE_ROWS_ARROW = 65_536  # Arrow: a few IPC messages per slice, so encoding overlaps sending


@dataclass
class WriteResult:
    """What ``publish_dataframe`` wrote: ``messages`` counts what was sent, ``duplicates``
    those the stream reported as duplicates (``msg_id`` dedup); ``first_seq``/``last_seq``
    are the lowest and highest stream sequences in the acks; ``elapsed`` is in seconds."""

    rows: int
    messages: int
    bytes: int
    first_seq: int | None
    last_seq: int | None
    duplicates: int
    elapsed: float
    stream: str | None = None
    batched: bool = False  # written with the fast-ingest batch protocol (ADR-50)

    @property
    def rows_per_second(self) -> float:
        """Rows written per second."""
        return self.rows / self.elapsed if self.elapsed > 0 else 0.0

    def _repr_html_(self) -> str:
        rows = [
            ("stream", self.stream or ""), ("rows", f"{self.rows:,}"),
            ("messages", f"{self.messages:,}"), ("bytes", f"{self.bytes:,}"),
            ("sequences", f"{self.first_seq} … {self.last_seq}"
             if self.first_seq is not None else "–"),
            ("duplicates", f"{self.duplicates:,}"),
            ("protocol", "fast-ingest batch" if self.batched else "pipelined publish"),
            ("elapsed", f"{self.elapsed:.3f} s ({self.rows_per_second:,.0f} rows/s)"),
        ]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                       for k, v in rows)
        return f"<table><caption>WriteResult</caption>{body}</table>"


# ---------------------------------------------------------------------------------------------
# input normalization

def _pandas_table(df: Any) -> pa.Table:
    """The frame as an Arrow table, with pandas' schema metadata (recorded once per write,
    see :mod:`jsdata.frames.dtypes`; stripped from what is sent)."""
    import pandas as pd
    import pyarrow as pa

    from .framecheck import check_pandas
    if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
        df = df.reset_index()
    check_pandas(df)
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError,
            TypeError):
        pass
    for name in df.columns:  # find the culprit to name it
        try:
            pa.array(df[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError,
                TypeError) as e:
            raise errors.ColumnTypeError(
                f"column {str(name)!r} (dtype {df[name].dtype}) cannot be converted to Arrow: "
                f"{e}", column=str(name)) from None
    return pa.Table.from_pandas(df, preserve_index=False)


@dataclass
class _Source:
    """What publish_dataframe writes: the schema (without metadata), the slices, the row
    count when known, and the schema to record for readers (None: nothing recorded)."""

    schema: pa.Schema
    slices: Iterator[pa.Table]
    total: int | None
    recorded: pa.Schema | None
    table: pa.Table | None = None  # the whole input, when it is in memory


def _source(data: Any, piece: int = PIECE_ROWS) -> _Source:
    """The :class:`_Source` for any supported input."""
    import pyarrow as pa

    from .dtypes import record
    from .framecheck import check_schema
    pd = sys.modules.get("pandas")
    pl = sys.modules.get("polars")
    if pd is not None and isinstance(data, pd.DataFrame):
        table = _pandas_table(data)
    elif pl is not None and isinstance(data, pl.DataFrame):
        if len(set(data.columns)) != len(data.columns):
            check_schema(data.columns)
        table = data.to_arrow()
    elif isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pa.RecordBatchReader):
        check_schema(data.schema.names)
        return _Source(data.schema.remove_metadata(), _reader_slices(data, piece), None,
                       record(data.schema))
    elif hasattr(data, "__arrow_c_stream__"):
        reader = pa.RecordBatchReader.from_stream(data)
        check_schema(reader.schema.names)
        return _Source(reader.schema.remove_metadata(), _reader_slices(reader, piece), None,
                       record(reader.schema))
    elif hasattr(data, "__arrow_c_array__"):
        table = pa.Table.from_batches([pa.record_batch(data)])
    else:
        raise errors.InvalidArgumentError(
            "publish_dataframe takes a pandas or polars DataFrame, a pyarrow Table, "
            "RecordBatch or RecordBatchReader, or an object with __arrow_c_stream__; "
            f"got {type(data).__name__}")
    check_schema(table.column_names)
    recorded = record(table.schema, table)
    table = table.replace_schema_metadata(None)
    return _Source(table.schema, _table_slices(table, piece), table.num_rows, recorded, table)


def _table_slices(table: pa.Table, piece: int) -> Iterator[pa.Table]:
    for off in range(0, table.num_rows, piece):
        yield table.slice(off, piece)


def _reader_slices(reader: pa.RecordBatchReader, piece: int) -> Iterator[pa.Table]:
    import pyarrow as pa
    for batch in reader:
        t = pa.Table.from_batches([batch]).replace_schema_metadata(None)
        yield from _table_slices(t, piece)


# ---------------------------------------------------------------------------------------------
# encoding one slice (worker thread)

@dataclass
class _Encoded:
    rows: int
    subjects: list[str] | str
    payloads: list[bytes]
    hdrs: list[bytes] | bytes
    first_rows: list[int] | None = None  # first row of each message (several rows each)


def _fitting_pieces(codec: Codec, part: pa.Table, rows_per_message: int,
                    limit: int | None) -> list[tuple[int, pa.Table, bytes]]:
    """(offset, rows, payload) of ``part`` in messages of up to ``rows_per_message`` rows;
    with ``limit`` (automatic packing), a message whose payload comes out larger is split
    in halves until it fits, so a few large rows among small ones never overflow
    max_payload (a single row that does not fit is left for the size check to name)."""
    out: list[tuple[int, pa.Table, bytes]] = []
    todo = [(off, min(rows_per_message, part.num_rows - off))
            for off in range(0, part.num_rows, rows_per_message)]
    todo.reverse()
    while todo:
        off, k = todo.pop()
        piece = part.slice(off, k)
        payload = codec.encode(piece, rows_per_message)[0]  # one message: k <= rpm rows
        if limit is not None and len(payload) > limit and k > 1:
            half = k // 2
            todo.append((off + half, k - half))
            todo.append((off, half))
            continue
        out.append((off, piece, payload))
    return out


def _encode_slice(codec: Codec, table: pa.Table, offset: int, subject: _Template,
                  spec: _HeaderSpec, rows_per_message: int,
                  limit: int | None = None) -> _Encoded:
    import pyarrow as pa
    n = table.num_rows
    templated = bool(subject.fields)
    if rows_per_message <= 1:
        subj: list[str] | str = (
            _fill(subject, table, offset, "subject", subject=True).to_pylist()
            if templated else subject.text)
        payloads = codec.encode(table, 1)  # one row per message, for every codec
        hdrs = _header_blocks(spec, table, offset)
        return _Encoded(n, subj, payloads, hdrs)
    # several rows per message: group the rows of each subject, in order of appearance
    if templated:
        filled = _fill(subject, table, offset, "subject", subject=True)
        values = filled.to_pylist()
        order: dict[str, list[int]] = {}
        for i, v in enumerate(values):
            order.setdefault(v, []).append(i)
        groups = [(s, pa.array(idx, pa.int64())) for s, idx in order.items()]
    else:
        groups = [(subject.text, None)]
    subjects: list[str] = []
    group_payloads: list[bytes] = []
    group_hdrs: list[bytes] = []
    first_rows: list[int] = []
    for s, idx in groups:
        part = table if idx is None else table.take(idx)
        for off, piece, payload in _fitting_pieces(codec, part, rows_per_message, limit):
            group_payloads.append(payload)
            subjects.append(s)
            first = piece.slice(0, 1)
            row = offset + (int(idx[off].as_py()) if idx is not None else off)
            first_rows.append(row)
            h = _header_blocks(spec, first, row)
            group_hdrs.append(h if isinstance(h, bytes) else h[0])
    if not spec.msg_id and not spec.columns:
        return _Encoded(n, subjects, group_payloads, group_hdrs[0] if group_hdrs else b"",
                        first_rows)
    return _Encoded(n, subjects, group_payloads, group_hdrs, first_rows)


def _auto_rows_per_message(table: pa.Table, max_payload: int) -> int:
    """Rows per Arrow IPC message so that one message stays well under max_payload."""
    if table.num_rows == 0:
        return 1
    per_row = max(1.0, table.nbytes / table.num_rows)
    budget = max_payload * 0.8 - 4096 - 200 * table.num_columns  # schema and framing
    return max(1, int(budget / per_row))


# ---------------------------------------------------------------------------------------------
# the mixin

class DataFrameWriter:
    """``publish_dataframe`` for ``JetStream``."""

    async def publish_dataframe(self, subject: str, data: Any, codec: str | Codec = "json",
                                msg_id: str | None = None,
                                headers: Sequence[str] | Mapping[str, str] | None = None,
                                rows_per_message: int | None = None,
                                max_pending: int | None = None,
                                progress: str | bool = "auto",
                                batch: bool | str = "auto") -> WriteResult:
        """Publish the rows of a DataFrame / Arrow table to a stream; returns a WriteResult.

        ``subject`` is a subject or a template filled per row from columns
        (``"ORDERS.{region}"``); ``codec`` is "json" (one object per message), "msgpack",
        "arrow" (``rows_per_message`` rows per IPC stream; default: as many as fit in
        max_payload) or a :class:`jsdata.Codec`; ``msg_id`` a column name or template used
        as ``Nats-Msg-Id`` (a rerun is deduplicated); ``headers`` a list of columns or a
        ``{header: column}`` mapping. At most ``max_pending`` publishes are unacknowledged
        at a time; every message is acknowledged before this returns.

        ``batch``: True uses the fast-ingest batch publish protocol (ADR-50: the server
        acknowledges every N messages instead of each; needs a stream with
        ``allow_batched``, nats-server >= 2.14, a fixed subject and no ``msg_id``); "auto"
        (default) uses it when all that holds; False always acknowledges each message.
        """
        from .codec import get_codec
        from .reader import _progress_bar
        js: JetStream = self  # type: ignore[assignment]
        if not isinstance(subject, str) or not subject:
            raise errors.InvalidSubjectError(f"invalid subject {subject!r}")
        tpl = _template(subject)
        probe = "".join(p if i % 2 == 0 else "x" for i, p in enumerate(tpl.parts))
        names.publish_subject(probe)
        if isinstance(codec, str) and codec.lower() == "auto":
            raise errors.InvalidArgumentError("codec='auto' is for reading; choose a codec")
        cdc = get_codec(codec)
        if rows_per_message is not None and (
                isinstance(rows_per_message, bool) or not isinstance(rows_per_message, int)
                or rows_per_message < 1):
            raise errors.InvalidArgumentError(
                f"rows_per_message must be an int >= 1, got {rows_per_message!r}")
        if max_pending is not None and (isinstance(max_pending, bool)
                                        or not isinstance(max_pending, int) or max_pending < 1):
            raise errors.InvalidArgumentError(
                f"max_pending must be an int >= 1, got {max_pending!r}")
        window = min(max_pending or js._pa_max, js._pa_max)
        if batch not in (True, False, "auto"):
            raise errors.InvalidArgumentError(f"batch must be True, False or 'auto', got {batch!r}")
        spec = _header_spec(cdc, msg_id, headers)
        piece = PIECE_ROWS_ARROW if cdc.name == "arrow" else PIECE_ROWS
        if rows_per_message and rows_per_message > 1:  # whole messages per slice
            piece = max(1, piece // rows_per_message) * rows_per_message
        src: _Source = await in_thread(_source, data, piece)
        schema, slices, total = src.schema, src.slices, src.total
        for f in tpl.fields + (spec.msg_id.fields if spec.msg_id else []) + [
                c for _, c in spec.columns]:
            if schema.get_field_index(f) < 0:
                raise errors.ColumnNotFoundError(
                    f"column {f!r} is used in the subject, msg_id or headers but the data has "
                    f"no such column (columns: {', '.join(schema.names)})")
        from .framecheck import check_codec_types, check_row_sizes
        check_codec_types(cdc, schema)  # fail fast on types the codec cannot carry
        if src.table is not None:
            await in_thread(check_row_sizes, src.table, js.nc.max_payload)
        if src.recorded is not None and _records_schema(cdc):
            from .dtypes import remember, serialize
            spec.schema_id, spec.schema_text = serialize(src.recorded)
            remember(spec.schema_id, src.recorded)
        use_batch = False
        if batch is not False:
            use_batch = await _batch_allowed(js, tpl, msg_id, strict=batch is True)
        w = _Writer(js, cdc, tpl, spec, rows_per_message, window, use_batch)
        w.bar = _progress_bar(progress, f"publishing {subject}", unit="row")
        if w.bar is not None and total is not None:
            w.bar.total = total
        try:
            return await w.run(slices)
        finally:
            if w.bar is not None:
                w.bar.close()


def _records_schema(codec: Codec) -> bool:
    """Whether writes with ``codec`` record their schema: the built-in codecs that carry
    rows (custom codecs decode into shapes of their own; raw is bytes)."""
    from .codec import ArrowCodec, JsonCodec, MsgpackCodec
    return type(codec) in (JsonCodec, MsgpackCodec, ArrowCodec)


async def _store_schema(js: JetStream, stream: str, sid: str, text: str) -> bool:
    """Record a schema in the stream's metadata (``jsdata.schema.<id>``) unless it is there;
    best effort (False when it cannot: no permission, metadata too large, an old server)."""
    from .dtypes import MAX_STREAM_METADATA, META_PREFIX
    key = META_PREFIX + sid
    try:
        info = await js.stream_info(stream)
        md = dict(info.config.metadata or {})
        if key in md:
            return True
        if sum(len(k) + len(v) for k, v in md.items()) + len(key) + len(text) \
                > MAX_STREAM_METADATA:
            return False
        md = {k: v for k, v in md.items() if not k.startswith("_nats.")}
        md[key] = text
        info.config.metadata = md
        await js.update_stream(info.config)
    except errors.JetStreamError:
        return False
    return True


async def _batch_allowed(js: JetStream, tpl: _Template, msg_id: str | None,
                         strict: bool) -> bool:
    """Whether the fast-ingest batch protocol can be used (``strict``: raise why not)."""
    why = None
    if tpl.fields:
        why = "a subject template can address several streams"
    elif msg_id is not None:
        why = "msg_id deduplication is reported per message"
    else:
        try:
            name = await js.stream_name_by_subject(tpl.text)
            info = await js.stream_info(name)
        except errors.JetStreamError as e:
            if not strict:
                return False
            if isinstance(e, errors.NotFoundError):
                raise errors.NoStreamResponseError(
                    f"no stream captures subject {tpl.text!r}: nothing was written") from None
            raise
        if not getattr(info.config, "allow_batched", False):
            why = (f"stream {name!r} does not allow batched publishing (allow_batched=True "
                   "needs nats-server >= 2.14)")
    if why is not None and strict:
        raise errors.InvalidArgumentError(f"batch=True is not possible: {why}")
    return why is None


def _next_slice(it: Iterator[pa.Table]) -> pa.Table | None:
    return next(it, None)


class _Writer:
    """One publish_dataframe call: encode slices ahead, bulk-publish them, count the acks."""

    def __init__(self, js: JetStream, codec: Codec, subject: _Template, spec: _HeaderSpec,
                 rows_per_message: int | None, window: int, batch: bool = False) -> None:
        self.js = js
        self.batch = batch
        self.codec = codec
        self.subject = subject
        self.spec = spec
        self.rpm = rows_per_message
        self.window = window
        self.bar: Any = None
        self.rows = 0
        self.bytes = 0
        # (first message index, first row, first row of each message or None) per slice
        self.segments: list[tuple[int, int, list[int] | None]] = []
        self.schema_task: asyncio.Task[bool] | None = None  # recording it in the stream

    def _rpm_for(self, table: pa.Table) -> int:
        if self.rpm is not None:
            return self.rpm
        if self.codec.name == "arrow":
            return _auto_rows_per_message(table, self.js.nc.max_payload)
        return 1

    def _encode(self, table: pa.Table, offset: int) -> _Encoded:
        auto = self.rpm is None and self.codec.name == "arrow"
        # automatic packing re-splits a message that came out over max_payload (headers
        # of the message included in the allowance)
        mp = self.js.nc.max_payload
        limit = mp - min(8192, mp // 8) if auto else None
        return _encode_slice(self.codec, table, offset, self.subject, self.spec,
                             self._rpm_for(table), limit)

    def _row_of(self, index: int) -> int:
        """The (first) row of message ``index``."""
        k = bisect.bisect_right([seg[0] for seg in self.segments], index) - 1
        if k < 0:
            return index
        base, row0, first_rows = self.segments[k]
        if first_rows is None:
            return row0 + index - base
        j = index - base
        return first_rows[j] if j < len(first_rows) else row0

    def _error(self, bp: BulkPublisher, index: int, exc: BaseException) -> BaseException:
        text = exc.description if isinstance(exc, errors.JetStreamError) else str(exc)
        lead = f"message {index}: "
        if text.startswith(lead):
            text = text[len(lead):]
        return redescribed(exc, f"publish_dataframe: row {self._row_of(index)} (message "
                                 f"{index}) failed: {text}; {bp.acked:,} of {bp.sent:,} "
                                 "messages sent were acknowledged")

    async def _stored(self, bp: BulkPublisher, offset: int, exc: errors.JetStreamError
                      ) -> BaseException:
        """``exc`` (raised before slice ``offset..`` was sent) told with what is stored:
        every message before it is waited for; when they all succeeded, rows
        ``0..offset-1`` are stored and the caller can resume with ``df.iloc[offset:]``."""
        from ..client.fast import FastBatchPublisher
        try:
            if isinstance(bp, FastBatchPublisher):
                await bp.finish()
            await bp._wait_until(0)
        except errors.JetStreamError:
            pass
        text = exc.description or str(exc)
        if bp.first_error() is None and bp.acked + bp.duplicates >= bp.sent:
            where = (f" (stream {bp.stream!r} sequences {bp.first_seq}..{bp.last_seq})"
                     if bp.first_seq is not None else "")
            text += (f"; rows 0..{offset - 1} were already stored{where}; resume with "
                     f"df.iloc[{offset}:] (the same arguments)")
        else:
            text += (f"; {bp.acked:,} of the {bp.sent:,} messages sent before it were "
                     "acknowledged (rerun with msg_id to make resending safe)")
        new = redescribed(exc, text)
        for k in ("column", "row", "sequence", "subject"):
            if hasattr(exc, k):
                setattr(new, k, getattr(exc, k))
        if isinstance(new, errors.DataFrameError):
            new.rows_stored = offset if bp.first_error() is None else 0
            new.first_seq, new.last_seq, new.stream = bp.first_seq, bp.last_seq, bp.stream
        return new

    def _check_sizes(self, enc: _Encoded, offset: int) -> None:
        """Refuse a slice holding a message over max_payload before any of it is sent."""
        limit = self.js.nc.max_payload
        hdrs = enc.hdrs
        payloads = enc.payloads
        if not payloads:
            return
        extra = len(self.spec.schema_text or "") + 40 if offset == 0 else 0
        if isinstance(hdrs, bytes):
            if max(map(len, payloads)) + len(hdrs) + extra <= limit:
                return
            sizes = [len(p) + len(hdrs) for p in payloads]
        else:
            sizes = [len(p) + len(h) for p, h in zip(payloads, hdrs, strict=True)]
            if max(sizes) + extra <= limit:
                return
        if extra:
            sizes[0] += extra
        j = next((i for i, n in enumerate(sizes) if n > limit), None)
        if j is None:
            return
        if enc.first_rows is not None:
            row = enc.first_rows[j]
            what = f"the message starting at row {row} ({sizes[j]:,} bytes)"
            hint = "use fewer rows_per_message"
        else:
            row = offset + j
            what = f"row {row} ({sizes[j]:,} bytes encoded)"
            hint = "make the row smaller or split it"
        raise errors.PayloadTooLargeError(
            f"publish_dataframe: {what} exceeds the server's max_payload of {limit:,} bytes; "
            f"{hint}", row=row)

    async def run(self, slices: Iterator[pa.Table]) -> WriteResult:
        t0 = time.perf_counter()
        bp = await (self.js._fast_batch_publisher(window=self.window) if self.batch
                    else self.js._bulk_publisher(window=self.window))
        try:
            return await self._run(bp, slices, t0)
        finally:
            if self.schema_task is not None:
                try:
                    await self.schema_task
                except Exception:  # noqa: BLE001 - recording the schema is best effort
                    pass
            await bp.close()

    async def _next_encoded(self, bp: BulkPublisher, enc_fut: Any, offset: int) -> _Encoded:
        """The next encoded slice, checked; an error raised after earlier slices were
        sent says which rows are stored."""
        try:
            enc: _Encoded = await enc_fut
            self._check_sizes(enc, offset)
        except errors.JetStreamError as e:
            if bp.sent == 0:
                raise
            raise await self._stored(bp, offset, e) from None
        return enc

    async def _run(self, bp: BulkPublisher, slices: Iterator[pa.Table], t0: float
                   ) -> WriteResult:
        from ..client.fast import FastBatchPublisher
        offset = 0
        enc_fut = None
        try:
            nxt = await in_thread(_next_slice, slices)
            enc_fut = (asyncio.ensure_future(in_thread(self._encode, nxt, offset))
                       if nxt is not None else None)
            while enc_fut is not None:
                enc = await self._next_encoded(bp, enc_fut, offset)
                enc_fut = None
                nxt = await in_thread(_next_slice, slices)
                enc_fut = (asyncio.ensure_future(in_thread(self._encode, nxt, offset + enc.rows))
                           if nxt is not None else None)
                await self._send(bp, enc, offset, bp.sent == 0)
                offset += enc.rows
                self.rows += enc.rows
                if self.bar is not None:
                    self.bar.update(enc.rows)
                if bp.failed:
                    break
            if isinstance(bp, FastBatchPublisher):
                await bp.finish()
            await bp._wait_until(0)
        except BaseException:
            if enc_fut is not None and not enc_fut.done():
                enc_fut.cancel()
            raise
        err = bp.first_error()
        if err is not None:
            raise self._error(bp, *err) from None
        return WriteResult(self.rows, bp.sent, self.bytes, bp.first_seq, bp.last_seq,
                           bp.duplicates, time.perf_counter() - t0, bp.stream,
                           isinstance(bp, FastBatchPublisher))

    async def _send(self, bp: BulkPublisher, enc: _Encoded, offset: int, first: bool) -> None:
        payloads = enc.payloads
        if not payloads:
            return
        self.segments.append((bp.sent, offset, enc.first_rows))
        subjects = enc.subjects
        hdrs = enc.hdrs
        try:
            if first:
                # The first message is awaited: a subject no stream captures fails here,
                # before anything else is sent. It carries the schema's definition.
                h0 = hdrs if isinstance(hdrs, bytes) else hdrs[0]
                if self.spec.schema_text and h0.endswith(b"\r\n\r\n"):
                    from .dtypes import SCHEMA_DEF_HEADER
                    h0 = (h0[:-2] + f"{SCHEMA_DEF_HEADER}: {self.spec.schema_text}\r\n"
                          "\r\n".encode())
                await bp.send(subjects if isinstance(subjects, str) else subjects[:1],
                              payloads[:1], h0 if isinstance(hdrs, bytes) else [h0])
                await bp._wait_until(0)
                err = bp.first_error()
                if err is not None and isinstance(err[1], errors.NoStreamResponseError):
                    subj = subjects if isinstance(subjects, str) else subjects[0]
                    raise errors.NoStreamResponseError(
                        f"no stream captures subject {subj!r}: nothing was written",
                        code=503) from None
                if err is not None:
                    return
                if self.spec.schema_id and self.spec.schema_text and bp.stream:
                    self.schema_task = asyncio.ensure_future(_store_schema(
                        self.js, bp.stream, self.spec.schema_id, self.spec.schema_text))
                subjects = subjects if isinstance(subjects, str) else subjects[1:]
                hdrs = hdrs if isinstance(hdrs, bytes) else hdrs[1:]
                payloads = payloads[1:]
                self.bytes += len(enc.payloads[0])
            await bp.send(subjects, payloads, hdrs)
        except errors.MaxPayloadExceededError as e:
            if isinstance(e, errors.PayloadTooLargeError):
                raise
            m = re.match(r"message (\d+)", e.description or "")
            idx = int(m.group(1)) if m else 0
            row = self._row_of(idx)
            raise errors.PayloadTooLargeError(
                f"row {row} (message {idx}) is too large: {e}; use fewer rows_per_message "
                "or a smaller row", row=row) from None
        self.bytes += sum(map(len, payloads))
