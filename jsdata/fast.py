"""The public face of ADR-50 fast-ingest batch publishing (nats-server 2.14+, streams with
``allow_batched``): ``js.fast_publisher()``.

The engine is :class:`jsdata.publish.FastBatchPublisher` (also what ``publish_dataframe``
uses on such streams): the first message is an ordinary publish (its ack names the
stream), the rest form one batch that the server stores in order and acknowledges every
``flow`` messages, with at most ``max_outstanding_acks`` acks awaited before the sender
pauses. In the default "gap fail" mode a message lost on the way stops the batch (the
messages after the last confirmed one are reported failed); with ``continue_on_gap=True``
the batch goes on and the losses are listed in ``lost``. Unlike an atomic batch, what was
confirmed stays stored when a batch fails.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import errors, names
from .headers import HeadersInput
from .info import PubAck
from .message import Data, to_bytes

if TYPE_CHECKING:
    from .jetstream import JetStream
    from .publish import FastBatchPublisher


class FastPublisher:
    """A fast-ingest batch: ``add`` messages, then ``commit`` with a last one or ``close``.
    The publisher is done after either; an (async) context manager closes it."""

    def __init__(self, js: JetStream, engine: FastBatchPublisher) -> None:
        self._js = js
        self._bp = engine
        self._done = False

    def __repr__(self) -> str:
        bp = self._bp
        return (f"<FastPublisher sent={bp.sent} acked={bp.acked} "
                f"{'done' if self._done else 'open'}>")

    async def __aenter__(self) -> FastPublisher:
        return self

    async def __aexit__(self, exc_type: Any, *exc: Any) -> None:
        if not self._done:
            if exc_type is not None:
                self._done = True
                await self._bp.close()
            else:
                await self.close()

    @property
    def lost(self) -> list[int]:
        """Batch sequences the server reported lost (``continue_on_gap=True`` only)."""
        return list(self._bp.lost)

    def _raise_first(self) -> None:
        fe = self._bp.first_error()
        if fe is not None:
            i, e = fe
            if isinstance(e, errors.JetStreamError):
                raise e
            raise errors.JetStreamError(f"message {i}: {e}") from e

    async def add(self, subject: str, data: Data | None = b"", *, headers: HeadersInput = None,
                  msg_id: str | None = None, ttl: float | timedelta | str | None = None) -> None:
        """Send one message of the batch (waits only when the ack window is full); raises
        the batch's error once it stopped."""
        if self._done:
            raise errors.BatchCompletedError("the fast publisher is committed or closed")
        from .publish import build_headers
        names.publish_subject(subject)
        hdr = build_headers(headers, msg_id, None, None, None, None, ttl)
        await self._bp.send(subject, [to_bytes(data)], hdr)
        self._raise_first()

    async def commit(self, subject: str, data: Data | None = b"", *,
                     headers: HeadersInput = None, msg_id: str | None = None,
                     ttl: float | timedelta | str | None = None) -> PubAck:
        """Send a last message and end the batch: the PubAck of the whole batch (stream,
        last ``sequence``, ``count`` of stored messages)."""
        await self.add(subject, data, headers=headers, msg_id=msg_id, ttl=ttl)
        return await self.close()

    async def close(self) -> PubAck:
        """End the batch without a further message and wait until the server confirmed
        it; raises the first error if any message failed."""
        if self._done:
            raise errors.BatchCompletedError("the fast publisher is committed or closed")
        self._done = True
        bp = self._bp
        await bp.finish()
        self._raise_first()
        if bp.stream is None:
            raise errors.InvalidArgumentError("the fast publisher sent no message")
        return PubAck(stream=bp.stream, sequence=bp.last_seq or 0, count=bp.acked)


class FastPublishMethods:
    """``JetStream.fast_publisher``."""

    async def fast_publisher(self: JetStream, flow: int = 100,  # type: ignore[misc]
                             max_outstanding_acks: int = 2, continue_on_gap: bool = False,
                             timeout: float | None = None) -> FastPublisher:
        """A new fast-ingest batch publisher (ADR-50; the stream needs ``allow_batched``)."""
        self._require("fast-ingest batch publish")
        for name, v, lo, hi in (("flow", flow, 1, 65535),
                                ("max_outstanding_acks", max_outstanding_acks, 1, 1000)):
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise errors.InvalidArgumentError(f"{name} must be an int {lo}-{hi}, got {v!r}")
        engine = await self._fast_batch_publisher(timeout=timeout, flow=flow,
                                                  outstanding_acks=max_outstanding_acks,
                                                  gap_ok=bool(continue_on_gap))
        return FastPublisher(self, engine)
