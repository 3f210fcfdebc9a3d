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
import html
import re
import sys
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import errors, names

if TYPE_CHECKING:
    import pyarrow as pa

    from .codec import Codec
    from .jetstream import JetStream
    from .publish import PubAckFuture

PIECE_ROWS = 10_000  # rows encoded per slice (memory stays bounded for any input size)
PIECE_ROWS_ARROW = 262_144  # Arrow messages hold many rows: larger slices, fewer small messages
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_BAD_VALUE = r"[\s.*>]"
_HDR_NAME = re.compile(r"^[!-9;-~]+$")


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
            ("elapsed", f"{self.elapsed:.3f} s ({self.rows_per_second:,.0f} rows/s)"),
        ]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                       for k, v in rows)
        return f"<table><caption>WriteResult</caption>{body}</table>"


# ---------------------------------------------------------------------------------------------
# input normalization

def _pandas_table(df: Any) -> pa.Table:
    import pandas as pd
    import pyarrow as pa
    if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
        df = df.reset_index()
    try:  # pandas' own schema metadata is dropped: it would ride along in every message
        return pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError,
            TypeError):
        pass
    for name in df.columns:  # find the culprit to name it
        try:
            pa.array(df[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError,
                TypeError) as e:
            raise errors.UnsupportedTypeError(
                f"column {str(name)!r} (dtype {df[name].dtype}) cannot be converted to Arrow: "
                f"{e}") from None
    return pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)


def _source(data: Any, piece: int = PIECE_ROWS
            ) -> tuple[pa.Schema, Iterator[pa.Table], int | None]:
    """(schema, iterator of table slices, total rows if known) for any supported input."""
    import pyarrow as pa
    pd = sys.modules.get("pandas")
    pl = sys.modules.get("polars")
    if pd is not None and isinstance(data, pd.DataFrame):
        table = _pandas_table(data)
    elif pl is not None and isinstance(data, pl.DataFrame):
        table = data.to_arrow()
    elif isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pa.RecordBatchReader):
        return data.schema, _reader_slices(data, piece), None
    elif hasattr(data, "__arrow_c_stream__"):
        reader = pa.RecordBatchReader.from_stream(data)
        return reader.schema, _reader_slices(reader, piece), None
    elif hasattr(data, "__arrow_c_array__"):
        table = pa.Table.from_batches([pa.record_batch(data)])
    else:
        raise errors.InvalidArgumentError(
            "publish_dataframe takes a pandas or polars DataFrame, a pyarrow Table, "
            "RecordBatch or RecordBatchReader, or an object with __arrow_c_stream__; "
            f"got {type(data).__name__}")
    return table.schema, _table_slices(table, piece), table.num_rows


def _table_slices(table: pa.Table, piece: int) -> Iterator[pa.Table]:
    for off in range(0, table.num_rows, piece):
        yield table.slice(off, piece)


def _reader_slices(reader: pa.RecordBatchReader, piece: int) -> Iterator[pa.Table]:
    import pyarrow as pa
    for batch in reader:
        t = pa.Table.from_batches([batch])
        yield from _table_slices(t, piece)


# ---------------------------------------------------------------------------------------------
# templates (subjects, message ids) and headers

@dataclass
class _Template:
    text: str
    parts: list[str]  # literal, name, literal, name, ..., literal

    @property
    def fields(self) -> list[str]:
        return self.parts[1::2]


def _template(text: str) -> _Template:
    parts: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        parts.append(text[pos:m.start()])
        parts.append(m.group(1))
        pos = m.end()
    parts.append(text[pos:])
    return _Template(text, parts)


def _column(table: pa.Table, name: str, what: str) -> Any:
    i = table.schema.get_field_index(name)
    if i < 0:
        raise errors.ColumnNotFoundError(
            f"{what} refers to column {name!r}, which the data does not have "
            f"(columns: {', '.join(table.column_names)})")
    return table.column(i)


def _as_strings(col: Any, name: str, what: str) -> Any:
    import pyarrow as pa
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_string(t):
        return col
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return col.cast(pa.string())
    try:
        return col.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise errors.UnsupportedTypeError(
            f"column {name!r} ({t}) used in {what} cannot be turned into text: {e}") from None


def _first_true(mask: Any) -> int:
    import pyarrow.compute as pc
    return int(pc.index(mask, True).as_py())


def _fill(tpl: _Template, table: pa.Table, offset: int, what: str, *, subject: bool) -> Any:
    """The template filled for every row (a string array), each value validated."""
    import pyarrow as pa
    import pyarrow.compute as pc
    args: list[Any] = []
    for i, part in enumerate(tpl.parts):
        if i % 2 == 0:
            args.append(part)
            continue
        col = _as_strings(_column(table, part, what), part, what)
        if col.null_count:
            r = _first_true(pc.is_null(col))
            err = errors.InvalidSubjectError if subject else errors.InvalidArgumentError
            raise err(f"row {offset + r}: column {part!r} is null, so the {what} cannot be "
                      "filled")
        if subject:
            bad = pc.or_(pc.match_substring_regex(col, _BAD_VALUE),
                         pc.equal(pc.utf8_length(col), 0))
            if pc.any(bad).as_py():
                r = _first_true(bad)
                v = col[r].as_py()
                raise errors.InvalidSubjectError(
                    f"row {offset + r}: column {part!r} value {v!r} cannot be used in subject "
                    f"{tpl.text!r} (values must be non-empty, without spaces, '.', '*' or '>')")
        else:
            bad = pc.match_substring_regex(col, r"[\r\n]")
            if pc.any(bad).as_py():
                r = _first_true(bad)
                raise errors.InvalidArgumentError(
                    f"row {offset + r}: column {part!r} value for the {what} contains a "
                    "line break")
        args.append(col)
    if len(args) == 1:
        return pa.array([args[0]] * table.num_rows, pa.string())
    return pc.binary_join_element_wise(*args, "")


@dataclass
class _HeaderSpec:
    content_type: str | None
    msg_id: _Template | None
    columns: list[tuple[str, str]]  # (header name, column)


def _header_spec(codec: Codec, msg_id: str | None,
                 headers: Sequence[str] | Mapping[str, str] | None) -> _HeaderSpec:
    cols: list[tuple[str, str]] = []
    if headers is not None:
        if isinstance(headers, str):
            headers = [headers]
        if isinstance(headers, Mapping):
            cols = [(str(h), str(c)) for h, c in headers.items()]
        else:
            cols = [(str(c), str(c)) for c in headers]
        for h, _ in cols:
            if not _HDR_NAME.match(h):
                raise errors.InvalidArgumentError(
                    f"invalid header name {h!r} (printable ASCII without ':' or spaces)")
    tpl = None
    if msg_id is not None:
        if not isinstance(msg_id, str) or not msg_id:
            raise errors.InvalidArgumentError("msg_id must be a column name or a template")
        tpl = _template(msg_id if "{" in msg_id else "{" + msg_id + "}")
    return _HeaderSpec(codec.content_type, tpl, cols)


def _header_blocks(spec: _HeaderSpec, table: pa.Table, offset: int) -> list[bytes] | bytes:
    """One header block per row, or a single block when no header varies per row."""
    import pyarrow.compute as pc
    const = "NATS/1.0\r\n"
    if spec.content_type:
        const += f"Content-Type: {spec.content_type}\r\n"
    if spec.msg_id is None and not spec.columns:
        return (const + "\r\n").encode() if spec.content_type else b""
    args: list[Any] = [const]
    if spec.msg_id is not None:
        ids = _fill(spec.msg_id, table, offset, "msg_id", subject=False)
        args += ["Nats-Msg-Id: ", ids, "\r\n"]
    for h, c in spec.columns:
        col = _as_strings(_column(table, c, f"header {h!r}"), c, f"header {h!r}")
        bad = pc.match_substring_regex(col, r"[\r\n]")
        if pc.any(bad).as_py():
            r = _first_true(bad)
            raise errors.InvalidArgumentError(
                f"row {offset + r}: column {c!r} (header {h!r}) contains a line break")
        line = pc.binary_join_element_wise(f"{h}: ", col, "\r\n", "")
        if line.null_count:
            line = pc.fill_null(line, "")  # a null value: header left out for that row
        args.append(line)
    args.append("\r\n")
    from .codec import binary_to_list
    return binary_to_list(pc.binary_join_element_wise(*args, ""))


# ---------------------------------------------------------------------------------------------
# encoding one slice (worker thread)

@dataclass
class _Encoded:
    rows: int
    subjects: list[str] | str
    payloads: list[bytes]
    hdrs: list[bytes] | bytes


def _encode_slice(codec: Codec, table: pa.Table, offset: int, subject: _Template,
                  spec: _HeaderSpec, rows_per_message: int) -> _Encoded:
    import pyarrow as pa
    n = table.num_rows
    templated = bool(subject.fields)
    if rows_per_message <= 1:
        subj: list[str] | str = (
            _fill(subject, table, offset, "subject", subject=True).to_pylist()
            if templated else subject.text)
        payloads = codec.encode(table, None)
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
    for s, idx in groups:
        part = table if idx is None else table.take(idx)
        for off in range(0, part.num_rows, rows_per_message):
            piece = part.slice(off, rows_per_message)
            group_payloads.extend(codec.encode(piece, rows_per_message))
            subjects.append(s)
            first = piece.slice(0, 1)
            h = _header_blocks(spec, first, offset + (int(idx[off].as_py()) if idx is not None
                                                      else off))
            group_hdrs.append(h if isinstance(h, bytes) else h[0])
    if not spec.msg_id and not spec.columns:
        return _Encoded(n, subjects, group_payloads, group_hdrs[0] if group_hdrs else b"")
    return _Encoded(n, subjects, group_payloads, group_hdrs)


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
                                progress: str | bool = "auto") -> WriteResult:
        """Publish the rows of a DataFrame / Arrow table to a stream; returns a WriteResult.

        ``subject`` is a subject or a template filled per row from columns
        (``"ORDERS.{region}"``); ``codec`` is "json" (one object per message), "msgpack",
        "arrow" (``rows_per_message`` rows per IPC stream; default: as many as fit in
        max_payload) or a :class:`jsdata.Codec`; ``msg_id`` a column name or template used
        as ``Nats-Msg-Id`` (a rerun is deduplicated); ``headers`` a list of columns or a
        ``{header: column}`` mapping. At most ``max_pending`` publishes are unacknowledged
        at a time; every message is acknowledged before this returns.
        """
        from .codec import get_codec
        from .reader import _progress_bar, in_thread
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
        spec = _header_spec(cdc, msg_id, headers)
        piece = PIECE_ROWS_ARROW if cdc.name == "arrow" else PIECE_ROWS
        if rows_per_message and rows_per_message > 1:  # whole messages per slice
            piece = max(1, piece // rows_per_message) * rows_per_message
        schema, slices, total = await in_thread(_source, data, piece)
        for f in tpl.fields + (spec.msg_id.fields if spec.msg_id else []) + [
                c for _, c in spec.columns]:
            if schema.get_field_index(f) < 0:
                raise errors.ColumnNotFoundError(
                    f"column {f!r} is used in the subject, msg_id or headers but the data has "
                    f"no such column (columns: {', '.join(schema.names)})")
        if cdc.name == "json":
            import pyarrow as pa

            from .codec import json_fragments
            for f in schema:  # fail fast on types JSON cannot carry
                json_fragments(pa.array([], f.type), f.name)
        w = _Writer(js, cdc, tpl, spec, rows_per_message, window)
        w.bar = _progress_bar(progress, f"publishing {subject}", unit="row")
        if w.bar is not None and total is not None:
            w.bar.total = total
        try:
            return await w.run(slices)
        finally:
            if w.bar is not None:
                w.bar.close()


def _next_slice(it: Iterator[pa.Table]) -> pa.Table | None:
    return next(it, None)


class _Writer:
    """One publish_dataframe call: encode slices ahead, pipeline the messages, count acks."""

    def __init__(self, js: JetStream, codec: Codec, subject: _Template, spec: _HeaderSpec,
                 rows_per_message: int | None, window: int) -> None:
        self.js = js
        self.codec = codec
        self.subject = subject
        self.spec = spec
        self.rpm = rows_per_message
        self.window = window
        self.bar: Any = None
        self.rows = 0
        self.messages = 0
        self.bytes = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.duplicates = 0
        self.stream: str | None = None
        self.pending: deque[PubAckFuture] = deque()

    def _rpm_for(self, table: pa.Table) -> int:
        if self.rpm is not None:
            return self.rpm
        if self.codec.name == "arrow":
            return _auto_rows_per_message(table, self.js.nc.max_payload)
        return 1

    def _encode(self, table: pa.Table, offset: int) -> _Encoded:
        return _encode_slice(self.codec, table, offset, self.subject, self.spec,
                             self._rpm_for(table))

    async def run(self, slices: Iterator[pa.Table]) -> WriteResult:
        from .reader import in_thread
        t0 = time.perf_counter()
        offset = 0
        nxt = await in_thread(_next_slice, slices)
        enc_fut = (asyncio.ensure_future(in_thread(self._encode, nxt, offset))
                   if nxt is not None else None)
        first = True
        try:
            while enc_fut is not None:
                enc = await enc_fut
                offset += enc.rows
                nxt = await in_thread(_next_slice, slices)
                enc_fut = (asyncio.ensure_future(in_thread(self._encode, nxt, offset))
                           if nxt is not None else None)
                await self._send(enc, first)
                first = False
                self.rows += enc.rows
                if self.bar is not None:
                    self.bar.update(enc.rows)
            while self.pending:
                paf = self.pending[0]
                if not paf.done():
                    await paf
                self._drain()
        except BaseException:
            if enc_fut is not None and not enc_fut.done():
                enc_fut.cancel()
            raise
        return WriteResult(self.rows, self.messages, self.bytes, self.first_seq,
                           self.last_seq, self.duplicates, time.perf_counter() - t0,
                           self.stream)

    def _drain(self) -> None:
        """Account for the acknowledged publishes at the head of the pipeline."""
        q = self.pending
        while q:
            paf = q[0]
            if not paf.done():
                return
            q.popleft()
            ack = paf.result()  # raises the publish error
            seq = ack.sequence
            if self.first_seq is None or seq < self.first_seq:
                self.first_seq = seq
            if self.last_seq is None or seq > self.last_seq:
                self.last_seq = seq
            if ack.duplicate:
                self.duplicates += 1
            if self.stream is None:
                self.stream = ack.stream

    async def _room(self) -> None:
        """Wait until fewer than ``window`` of our publishes are unacknowledged."""
        js = self.js
        deadline = time.monotonic() + js.timeout
        while True:
            self._drain()
            if len(self.pending) < self.window:
                return
            before = len(self.pending)
            try:
                await js._wait_for_room(below=max(1, len(js._pa) - len(self.pending)
                                                  + self.window * 3 // 4))
            except errors.TooManyStalledMsgsError:
                pass
            self._drain()
            if len(self.pending) < before:
                deadline = time.monotonic() + js.timeout
            elif time.monotonic() > deadline:
                raise errors.JetStreamTimeoutError(
                    f"publish_dataframe: no acknowledgement for {js.timeout:g}s "
                    f"({len(self.pending)} messages unacknowledged)")

    async def _send(self, enc: _Encoded, first: bool) -> None:
        js = self.js
        loop = asyncio.get_running_loop()
        payloads = enc.payloads
        subjects = enc.subjects
        hdrs = enc.hdrs
        one_subject = isinstance(subjects, str)
        one_hdr = isinstance(hdrs, bytes)
        pending = self.pending
        window = self.window
        new_paf = js._new_paf
        submit = js._submit_paf
        nbytes = 0
        for i, payload in enumerate(payloads):
            subj = subjects if one_subject else subjects[i]
            hdr = hdrs if one_hdr else hdrs[i]
            if len(pending) >= window:
                await self._room()
            paf = new_paf(subj, payload, hdr, None, 2, 0.25, None, loop)  # type: ignore[arg-type]
            try:
                await submit(paf)
            except errors.MaxPayloadExceededError as e:
                raise errors.MaxPayloadExceededError(
                    f"message {self.messages} ({len(payload)} bytes) is too large: {e}; "
                    "use fewer rows_per_message or a smaller row") from None
            pending.append(paf)
            self.messages += 1
            nbytes += len(payload)
            if first:
                # The first message is awaited: a subject no stream captures fails here,
                # before anything else is sent.
                first = False
                try:
                    await paf
                except errors.NoStreamResponseError:
                    raise errors.NoStreamResponseError(
                        f"no stream captures subject {subj!r}: nothing was written",
                        code=503) from None
                self._drain()
        self.bytes += nbytes
        self._drain()
