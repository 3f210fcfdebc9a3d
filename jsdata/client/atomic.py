"""Atomic batch publishing (nats-server 2.12+, streams with ``allow_atomic``; ADR-50).

Every message of a batch carries ``Nats-Batch-Id`` (one id, <= 64 characters) and
``Nats-Batch-Sequence`` (1, 2, ...); the last one also ``Nats-Batch-Commit: 1`` (or
``eob``: commit without storing that last message). The server stages the messages and
stores all of them with the commit, or none: a gap, a refused message, a batch over the
server's limit (1000 messages by default) or a batch left uncommitted (abandoned after a
timeout) stores nothing. The commit's PubAck carries the batch id and count.

``publish_batch(msgs)`` sends a whole list; ``batch_publisher()`` builds one incrementally
(``add`` ... ``commit``); leaving its ``with`` block by an exception, or ``discard()``,
stores nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import errors
from . import names
from ._conn import new_token, status_of
from .headers import Headers, HeadersInput, build_headers, encode_headers
from .info import PubAck
from .message import Data, Msg, to_bytes

if TYPE_CHECKING:
    from .context import Context

MAX_ATOMIC_BATCH = 1000  # nats-server's default limit of messages per atomic batch


def _batch_error(e: errors.JetStreamError, batch_id: str, n: int) -> errors.JetStreamError:
    if isinstance(e, errors.APIError) and not isinstance(e, errors.BatchPublishError):
        return errors.BatchPublishError(
            f"atomic batch {batch_id!r} of {n} messages refused, nothing stored: "
            f"{e.description}", code=e.code, err_code=e.err_code)
    return e


class BatchPublisher:
    """An atomic batch being built: ``add`` messages, then ``commit`` (all stored) or
    ``discard`` (none stored). Use it as an (async) context manager: an exception inside
    the block discards the batch. One batch per publisher."""

    def __init__(self, js: Context, timeout: float | None = None) -> None:
        self._js = js
        self._timeout = timeout or js.timeout
        self.batch_id = new_token(22)
        self.size = 0  # messages added so far
        self._done = False
        self._failed: asyncio.Future[errors.JetStreamError] | None = None
        self._first_subject = ""

    def __repr__(self) -> str:
        state = "done" if self._done else "open"
        return f"<BatchPublisher {self.batch_id} messages={self.size} {state}>"

    async def __aenter__(self) -> BatchPublisher:
        return self

    async def __aexit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is not None or not self._done:
            await self.discard()

    def _headers(self, headers: HeadersInput, msg_id: str | None,
                 ttl: float | timedelta | str | None, seq: int, commit: str | None) -> bytes:
        h = Headers(headers)
        h.remove("Nats-Batch-Commit")
        h.set("Nats-Batch-Id", self.batch_id)
        h.set("Nats-Batch-Sequence", str(seq))
        if commit:
            h.set("Nats-Batch-Commit", commit)
        if msg_id is None and ttl is None:
            return encode_headers(h)
        return build_headers(h, msg_id, None, None, None, None, ttl)

    def _check_open(self) -> None:
        if self._done:
            raise errors.BatchCompletedError(
                f"atomic batch {self.batch_id!r} is already committed or discarded")

    async def add(self, subject: str, data: Data | None = b"", *, headers: HeadersInput = None,
                  msg_id: str | None = None, ttl: float | timedelta | str | None = None) -> None:
        """Stage one message (sent now; stored only with the commit)."""
        self._check_open()
        names.publish_subject(subject)
        if self.size + 1 >= MAX_ATOMIC_BATCH:  # room for the commit message
            raise errors.InvalidArgumentError(
                f"an atomic batch holds at most {MAX_ATOMIC_BATCH} messages")
        if self._failed is not None and self._failed.done():
            raise self._failed.result()
        self.size += 1
        js = self._js
        hdr = self._headers(headers, msg_id, ttl, self.size, None)
        if self.size == 1:
            self._first_subject = subject
            # the first message is a request: a stream without allow_atomic (or none at all)
            # fails here, before the rest is sent
            self._js._require("atomic batch publish")
            data_b, rhdr = await js._mux.request(subject, to_bytes(data), self._timeout, hdr)
            err = _reply_error(data_b, rhdr, subject)
            if err is not None:
                self._done = True
                raise _batch_error(err, self.batch_id, self.size)
            loop = asyncio.get_running_loop()
            self._failed = loop.create_future()
            return
        # later messages: a reply only when the server refuses one (the commit fails too)
        fut = self._failed

        def on_reply(d: bytes, h: bytes) -> None:
            e = _reply_error(d, h, subject)
            if e is not None and fut is not None and not fut.done():
                fut.set_result(e)

        reply, tok = js._mux.register(on_reply)
        try:
            await js.nc.publish_raw(subject, reply, to_bytes(data), hdr)
        except BaseException:
            js._mux.forget(tok)
            raise

    async def add_msg(self, msg: Msg, *, msg_id: str | None = None,
                      ttl: float | timedelta | str | None = None) -> None:
        """Stage a :class:`Msg` (subject, data, headers)."""
        await self.add(msg.subject, msg.data,
                       headers=msg._headers or (msg.headers if msg._hdr else None),
                       msg_id=msg_id, ttl=ttl)

    async def commit(self, subject: str | None = None, data: Data | None = b"", *,
                     headers: HeadersInput = None, msg_id: str | None = None,
                     ttl: float | timedelta | str | None = None) -> PubAck:
        """Commit the batch with a last message on ``subject`` (or, without a subject, with
        an end-of-batch marker that is not stored); all staged messages are stored
        atomically. Returns the PubAck (``batch`` id, ``count``, last ``sequence``)."""
        self._check_open()
        if subject is None and self.size == 0:
            raise errors.InvalidArgumentError("commit(): the batch is empty")
        if subject is not None:
            names.publish_subject(subject)
        if self.size == 0:  # a batch of one message
            self._js._require("atomic batch publish")
        js = self._js
        self._done = True
        seq = self.size + 1
        if subject is None:
            last_subject = self._first_subject  # any subject of the stream carries the marker
            hdr = self._headers(None, None, None, seq, "eob")
            payload = b""
        else:
            last_subject = subject
            hdr = self._headers(headers, msg_id, ttl, seq, "1")
            payload = to_bytes(data)
        if self._failed is not None and self._failed.done():
            err = self._failed.result()
            raise _batch_error(err, self.batch_id, seq)
        d, h = await js._mux.request(last_subject, payload, self._timeout, hdr)
        err = _reply_error(d, h, last_subject)
        if err is not None:
            raise _batch_error(err, self.batch_id, seq)
        from .info import parse_ack
        ack = parse_ack(d)
        if subject is not None:
            self.size = seq
        return ack

    async def discard(self) -> None:
        """Abandon the batch: nothing of it is stored (the server drops staged messages)."""
        self._done = True


def _reply_error(data: bytes, hdr: bytes, subject: str) -> errors.JetStreamError | None:
    """The error a reply to a batch message carries (None for an empty ok / a PubAck)."""
    if hdr and not data:
        st = status_of(hdr)
        if st is not None and st[0] == 503:
            return errors.NoStreamResponseError(
                f"no stream captures subject {subject!r} (no responders)", code=503)
        if st is not None:
            return errors.APIError(f"batch publish to {subject!r}: {st[0]} {st[1]}",
                                   code=st[0])
    if not data:
        return None
    if b'"error"' in data:
        from .info import parse_ack
        try:
            parse_ack(data)
        except errors.JetStreamError as e:
            return e
    return None


class AtomicPublishMethods:
    """``publish_batch`` and ``batch_publisher`` on ``JetStream``."""

    async def batch_publisher(self: Context,  # type: ignore[misc]
                              timeout: float | None = None) -> BatchPublisher:
        """A new atomic batch: ``add`` messages, then ``commit`` (or ``discard``)."""
        self._require("atomic batch publish")
        self.nc.check_open()
        return BatchPublisher(self, timeout)

    async def publish_batch(self: Context, msgs: Sequence[Msg],  # type: ignore[misc]
                            timeout: float | None = None) -> PubAck:
        """Publish ``msgs`` (:class:`jsdata.Msg`, at most 1000) as one atomic batch: all
        are stored, in order, or none (:class:`~jsdata.errors.BatchPublishError`)."""
        msgs = list(msgs)
        if not msgs:
            raise errors.InvalidArgumentError("publish_batch: no messages")
        if len(msgs) > MAX_ATOMIC_BATCH:
            raise errors.InvalidArgumentError(
                f"publish_batch: an atomic batch holds at most {MAX_ATOMIC_BATCH} messages, "
                f"got {len(msgs)}")
        for m in msgs:
            if not isinstance(m, Msg):
                raise errors.InvalidArgumentError(
                    f"publish_batch takes jsdata.Msg objects, got {type(m).__name__}")
            names.publish_subject(m.subject)
        b = await self.batch_publisher(timeout)
        try:
            for m in msgs[:-1]:
                await b.add_msg(m)
            last = msgs[-1]
            return await b.commit(last.subject, last.data,
                                  headers=last._headers or (last.headers if last._hdr else None))
        except BaseException:
            await b.discard()
            raise
