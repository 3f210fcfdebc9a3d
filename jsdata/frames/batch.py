"""Consumer batches as Arrow: ``c.fetch_arrow(n)`` and ``c.iter_arrow(batch_size)``.

An :class:`ArrowBatch` is a set of messages fetched from a consumer and decoded in bulk into
one ``pyarrow.RecordBatch`` (same decoding and options as the stream readers: ``codec``,
``schema``, ``columns``, ``metadata``, ``include_headers``, ``on_error``). It is acknowledged
as one unit: ``ack()`` acks the last message on an AckAll consumer and every message
otherwise (sent back to back, without waiting for each); ``nak()`` / ``term()`` act on every
message. As a context manager it acks on success and naks when the block raises (waiting until
the server processed the naks, so the next fetch is offered the same messages again).

:class:`ArrowBatchIterator` (``c.iter_arrow``) pulls continuously and yields micro-batches:
a batch is emitted when it holds ``batch_size`` messages, or ``max_latency`` seconds after
its first message arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from .. import errors
from .._util import in_thread, seconds
from .options import given, keyword_options

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ..client.message import Msg
    from .codec import Codec
    from .options import ReadOptions

_DECODE_KEYS = ("codec", "schema", "columns", "metadata", "include_headers", "include_markers",
               "on_error")


def _decode_options(decode: dict[str, Any]) -> ReadOptions:
    from .options import ReadOptions
    unknown = sorted(set(decode) - set(_DECODE_KEYS))
    if unknown:
        raise errors.InvalidArgumentError(
            f"unknown decode option(s) {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(_DECODE_KEYS)}")
    return ReadOptions.parse({**decode, "progress": False})


def _ack_policy(consumer: Any) -> str:
    from ..client.ordered import OrderedConsumer
    if isinstance(consumer, OrderedConsumer):
        return "none"
    try:
        p = consumer.cached_info().config.ack_policy
    except (AttributeError, errors.JetStreamError):
        return "explicit"
    return str(getattr(p, "value", p)).lower()


async def _decode(msgs: list[Msg], o: ReadOptions, stream: str) -> pa.RecordBatch:
    """Decode messages (in a worker thread) into one record batch."""
    import pyarrow as pa

    from .decode import _explicit_schema, decode_chunk
    from .fetch import _Chunk
    from .fields import ERROR_FIELDS
    if not msgs:
        schema = _explicit_schema(o) or pa.schema(
            o.meta_fields() + (ERROR_FIELDS if o.on_error == "keep" else []))
        return pa.RecordBatch.from_pylist([], schema=schema)
    chunk = _Chunk("consumer", [m._hdr for m in msgs], [m.data for m in msgs],
                   [m.subject for m in msgs], [m.reply for m in msgs])
    table = await in_thread(decode_chunk, o, chunk, stream)
    table = table.combine_chunks()
    batches = table.to_batches()
    if len(batches) == 1:
        return batches[0]
    if not batches:
        return pa.RecordBatch.from_pylist([], schema=table.schema)
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


class ArrowBatch:
    """Messages from one fetch, decoded into ``record_batch``; acknowledged as one unit.

    ``messages`` is the number of messages (rows may differ with ``on_error="skip"`` or
    multi-row payloads); ``error`` is the fetch's error, if it ended with one.
    """

    def __init__(self, msgs: list[Msg], record_batch: pa.RecordBatch, ack_policy: str,
                 stream: str, error: BaseException | None = None) -> None:
        self._msgs = msgs
        self._record_batch = record_batch
        self.messages = len(msgs)
        self.stream = stream
        self.error = error
        self._policy = ack_policy
        self._settled: str | None = None

    @property
    def record_batch(self) -> pa.RecordBatch:
        """The decoded messages as one Arrow record batch."""
        return self._record_batch

    def __repr__(self) -> str:
        state = f" {self._settled}" if self._settled else ""
        return (f"<ArrowBatch {self.stream} messages={self.messages} "
                f"rows={self.record_batch.num_rows}{state}>")

    def __len__(self) -> int:
        return int(self.record_batch.num_rows)

    @property
    def num_rows(self) -> int:
        """Rows in the record batch."""
        return int(self.record_batch.num_rows)

    @property
    def msgs(self) -> list[Msg]:
        """The underlying messages (for per-message handling)."""
        return list(self._msgs)

    @property
    def sequences(self) -> list[int]:
        """Stream sequences of the messages, in order."""
        from ..client.pull import ack_seqs
        out = []
        for m in self._msgs:
            s = ack_seqs(m.reply)
            out.append(s[1] if s else 0)
        return out

    def to_pandas(self, dtype_backend: str | None = None) -> pd.DataFrame:
        """The batch as a pandas DataFrame."""
        import pyarrow as pa

        from .decode import table_to_pandas
        return table_to_pandas(pa.Table.from_batches([self.record_batch]), dtype_backend)

    def to_arrow(self) -> pa.Table:
        """The batch as a one-chunk ``pyarrow.Table``."""
        import pyarrow as pa
        return pa.Table.from_batches([self.record_batch])

    def to_polars(self) -> Any:
        """The batch as a ``polars.DataFrame`` (polars is imported on first use)."""
        from .polars_ext import table_to_polars
        return table_to_polars(self.to_arrow())

    def _settle(self, what: str) -> bool:
        if self._settled is not None:
            raise errors.MsgAlreadyAckedError(
                f"this batch was already settled ({self._settled})")
        self._settled = what
        return self._policy != "none" and bool(self._msgs)

    async def ack(self) -> None:
        """Acknowledge every message (the last one only, on an AckAll consumer)."""
        if not self._settle("acked"):
            return
        if self._policy == "all":
            await self._msgs[-1].ack()
            for m in self._msgs[:-1]:
                m._acked = True
            return
        for m in self._msgs:
            await m.ack()

    async def nak(self, delay: float | timedelta | None = None) -> None:
        """Negatively acknowledge every message (redelivery now, or after ``delay``)."""
        if not self._settle("nacked"):
            return
        for m in self._msgs:
            if delay is None:
                await m.nak()
            else:
                await m.nak_with_delay(delay)  # type: ignore[arg-type]

    async def term(self, reason: str | None = None) -> None:
        """Stop redelivery of every message."""
        if not self._settle("terminated"):
            return
        for m in self._msgs:
            if reason:
                await m.term_with_reason(reason)
            else:
                await m.term()

    async def in_progress(self) -> None:
        """Reset the ack wait of every message (still being worked on)."""
        if self._settled is not None:
            raise errors.MsgAlreadyAckedError(
                f"this batch was already settled ({self._settled})")
        if self._policy == "none":
            return
        for m in self._msgs:
            await m.in_progress()

    async def __aenter__(self) -> ArrowBatch:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._settled is not None:
            return
        if exc_type is None:
            await self.ack()
        else:
            await self._nak_confirmed()

    async def _nak_confirmed(self) -> None:
        """Nak every message and wait until the server has processed the naks.

        When the ``with`` block fails, the next fetch must be offered the same messages
        again; the server queues naks apart from pull requests, so a fire-and-forget nak
        could lose that race. (Acks on success stay fire-and-forget, as in Go.)
        """
        if not self._settle("nacked"):
            return
        from ..client.message import NAK
        await asyncio.gather(*(m._ack_confirmed(NAK) for m in self._msgs))


class ArrowBatchIterator:
    """Continuous micro-batches of a consumer as :class:`ArrowBatch` objects.

    Iterate it (``async for`` / ``for``); ``stop()`` ends the iteration (messages fetched
    but not yet handed out are redelivered by the server). Also a context manager.
    """

    def __init__(self, consumer: Any, opts: ReadOptions, batch_size: int,
                 max_latency: float, max_bytes: int | None = None) -> None:
        self._consumer = consumer
        self._max_bytes = max_bytes
        self._o = opts
        self._batch_size = batch_size
        self._max_latency = max_latency
        self._ctx: Any = None
        self._carry: list[Msg] = []
        self._stopped = False
        self._policy = _ack_policy(consumer)
        self.batches = 0
        self.messages = 0

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return (f"<ArrowBatchIterator {getattr(self._consumer, 'stream', '?')} {state} "
                f"batches={self.batches} messages={self.messages}>")

    async def _start(self) -> None:
        n = max(2 * self._batch_size, 64)
        if self._max_bytes is None:
            self._ctx = await self._consumer.messages(max_messages=n)
        else:
            self._ctx = await self._consumer.messages(
                max_messages_with_bytes_limit=(n, self._max_bytes))

    async def _collect(self) -> list[Msg] | None:
        ctx = self._ctx
        want = self._batch_size
        msgs = self._carry
        self._carry = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_latency if msgs else None
        while len(msgs) < want:
            timeout = None if deadline is None else deadline - loop.time()
            if timeout is not None and timeout <= 0:
                break
            try:
                got = await ctx._take(True, timeout, None)
            except errors.JetStreamTimeoutError:
                break
            except errors.NoHeartbeatError:
                continue
            if not got:  # stopped
                if self._stopped or not msgs:
                    return None
                break
            msgs.extend(got)
            if deadline is None:
                deadline = loop.time() + self._max_latency
        if len(msgs) > want:
            self._carry = msgs[want:]
            msgs = msgs[:want]
        return msgs

    async def _next(self) -> ArrowBatch | None:
        if self._stopped:
            return None
        msgs = await self._collect()
        if not msgs or self._stopped:
            return None
        rb = await _decode(msgs, self._o, self._consumer.stream)
        self.batches += 1
        self.messages += len(msgs)
        return ArrowBatch(msgs, rb, self._policy, self._consumer.stream)

    def __aiter__(self) -> ArrowBatchIterator:
        return self

    async def __anext__(self) -> ArrowBatch:
        b = await self._next()
        if b is None:
            raise StopAsyncIteration
        return b

    async def _next_many(self) -> list[ArrowBatch]:
        b = await self._next()
        return [] if b is None else [b]

    async def stop(self) -> None:
        """Stop pulling; the iteration ends."""
        self._stopped = True
        self._carry = []
        if self._ctx is not None:
            await self._ctx.stop()

    async def __aenter__(self) -> ArrowBatchIterator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class ArrowMethods:
    """``fetch_arrow`` / ``iter_arrow`` for pull consumers (durable and ordered)."""

    stream: str

    @keyword_options("decode")
    async def fetch_arrow(self, batch: int, max_wait: float | timedelta = 30.0,
            *, max_bytes: int | None = None, codec: str | Codec = "auto",
            schema: pa.Schema | None = None,
            columns: str | Sequence[str] | None = None,
            metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
            include_headers: bool = False, include_markers: bool = False,
            on_error: Literal["raise", "skip", "keep"] = "raise") -> ArrowBatch:
        """Fetch up to ``batch`` messages (waiting at most ``max_wait`` seconds) and decode
        them into one :class:`ArrowBatch`; decode options as for the stream readers.
        ``max_bytes`` also limits the pull's size, counted as the server counts it."""
        decode = given(locals(), skip=("self", "batch", "max_wait", "max_bytes"))
        o = _decode_options(decode)
        if max_bytes is not None:
            if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
                raise errors.InvalidArgumentError(
                    f"max_bytes must be an int >= 1, got {max_bytes!r}")
            mb = await self._pull(batch=batch, max_bytes=max_bytes,  # type: ignore[attr-defined]
                                  max_wait=max_wait)
        else:
            mb = await self.fetch(batch, max_wait=max_wait)  # type: ignore[attr-defined]
        msgs = await mb.messages()
        if mb.error is not None and not msgs:
            raise mb.error
        rb = await _decode(msgs, o, self.stream)
        return ArrowBatch(msgs, rb, _ack_policy(self), self.stream, mb.error)

    @keyword_options("decode")
    async def iter_arrow(self, batch_size: int = 1000, max_latency: float | timedelta = 1.0,
            *, max_bytes: int | None = None, codec: str | Codec = "auto",
            schema: pa.Schema | None = None,
            columns: str | Sequence[str] | None = None,
            metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
            include_headers: bool = False, include_markers: bool = False,
            on_error: Literal["raise", "skip", "keep"] = "raise",
            ) -> ArrowBatchIterator:
        """Pull continuously and yield :class:`ArrowBatch` micro-batches: one when
        ``batch_size`` messages are in, or ``max_latency`` seconds after a batch's first
        message arrived. ``max_bytes`` limits each pull's size as well (counted as the
        server counts it), for large messages."""
        decode = given(locals(), skip=("self", "batch_size", "max_latency", "max_bytes"))
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise errors.InvalidArgumentError(
                f"batch_size must be an int >= 1, got {batch_size!r}")
        lat = seconds(max_latency)
        if lat <= 0:
            raise errors.InvalidArgumentError(f"max_latency must be > 0, got {max_latency!r}")
        o = _decode_options(decode)
        if max_bytes is not None and (isinstance(max_bytes, bool)
                                      or not isinstance(max_bytes, int) or max_bytes < 1):
            raise errors.InvalidArgumentError(f"max_bytes must be an int >= 1, got {max_bytes!r}")
        it = ArrowBatchIterator(self, o, batch_size, lat, max_bytes)
        await it._start()
        return it
