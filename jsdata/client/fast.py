"""The public face of ADR-50 fast-ingest batch publishing (nats-server 2.14+, streams with
``allow_batched``): ``js.fast_publisher()``.

The engine is :class:`FastBatchPublisher` (below) (also what ``publish_dataframe``
uses on such streams): the first message is an ordinary publish (its ack names the
stream), the rest form one batch that the server stores in order and acknowledges every
``flow`` messages, with at most ``max_outstanding_acks`` acks awaited before the sender
pauses. In the default "gap fail" mode a message lost on the way stops the batch (the
messages after the last confirmed one are reported failed); with ``continue_on_gap=True``
the batch goes on and the losses are listed in ``lost``. Unlike an atomic batch, what was
confirmed stays stored when a batch fails.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import errors
from .._util import prefixed, redescribed
from . import names
from ._conn import indexed_pub_templates, new_token, pub_frame, status_of
from .bulk import _TICK, BulkPublisher
from .headers import HeadersInput, build_headers
from .info import PubAck, parse_ack
from .message import Data, to_bytes

if TYPE_CHECKING:
    from .context import Context

_FI_PUB, _FI_HPUB, _, _ = indexed_pub_templates(b".1.$FI")  # ADR-50 fast-ingest replies


class FastBatchPublisher(BulkPublisher):
    """ADR-50 fast-ingest batch publishing (streams with ``allow_batched``, server >= 2.14).

    Same surface as :class:`BulkPublisher`. Message 0 is an ordinary publish (its ack gives
    the stream and the first sequence, and a missing stream fails here); the others form one
    batch in "gap fail" mode: the server stores them in order, acknowledges only every N
    messages (N set by the server, at most ``flow``) and answers the end of the batch with
    one PubAck (last sequence, count). An error stops the batch: messages after the last
    confirmed one are reported failed (they may or may not have been stored).
    """

    def __init__(self, js: Context, window: int, timeout: float, retry_attempts: int = 2,
                 retry_wait: float = 0.25, flow: int = 500, outstanding_acks: int = 2,
                 gap_ok: bool = False) -> None:
        super().__init__(js, window, timeout, retry_attempts, retry_wait, True)
        self.gap_ok = gap_ok  # "ok" gap mode: a lost message does not stop the batch
        self.lost: list[int] = []  # batch sequences the server reported lost (gap_ok)
        self.flow = max(1, min(flow, 65535))
        self.outstanding_acks = max(1, outstanding_acks)
        self.count: int | None = None  # messages of the batch the server stored (final ack)
        self._msgs = 1  # the server's ack interval
        self._confirmed = 0  # highest batch sequence the server confirmed stored
        self._last_subject = ""
        self._reply: asyncio.Future[tuple[bytes, bytes]] | None = None  # first/start reply
        self._final: asyncio.Future[None] | None = None
        self._ended = False  # the server ended the batch (final PubAck or error)
        self._progress = 0.0
        self._pinged = 0.0
        self._id = ""

    async def _start(self) -> None:
        self._id = new_token(16)
        root = self._nc.inbox(self._id)
        self._sub = await self._nc.fast_subscribe(root + ".>", self._on_ack)
        self._prefix = f"{root}.{self.flow}.{'ok' if self.gap_ok else 'fail'}.".encode()
        self._js._bulks.add(self)
        self._progress = time.monotonic()
        self._sweeper = asyncio.get_running_loop().call_later(_TICK, self._sweep)

    # -- sending -------------------------------------------------------------------------------
    def _queue(self, cmd: bytes, nmsgs: int, nbytes: int) -> None:
        self._nc.queue_raw(cmd, nmsgs=nmsgs, nbytes=nbytes)

    async def _kick(self) -> None:
        await self._nc.kick()

    def _one(self, subject: str, reply: bytes, payload: bytes, hdr: bytes) -> bytes:
        return pub_frame(subject.encode(), reply, payload, hdr)

    async def _request_one(self, i: int, subject: str, reply: bytes, payload: bytes,
                           hdr: bytes) -> tuple[bytes, bytes] | None:
        """Send message ``i`` alone and wait for its reply (503 retried); None on failure."""
        for attempt in range(self.retry_attempts + 1):
            self._reply = asyncio.get_running_loop().create_future()
            self._queue(self._one(subject, reply, payload, hdr), 1, len(payload))
            if i >= self.sent:
                self._done.extend(b"\0")
                self.sent = i + 1
            await self._kick()
            try:
                data, rhdr = await asyncio.wait_for(self._reply, self.timeout)
            except asyncio.TimeoutError:
                self._fail(i, errors.JetStreamTimeoutError(
                    f"message {i}: no ack within {self.timeout:g}s"))
                return None
            finally:
                self._reply = None
            if rhdr and not data:
                st = status_of(rhdr)
                if st is not None and st[0] == 503:
                    if attempt < self.retry_attempts:
                        await asyncio.sleep(self.retry_wait)
                        continue
                    self._fail(i, errors.NoStreamResponseError(
                        f"message {i}: no stream captures subject {subject!r} (no responders)",
                        code=503))
                    return None
            return data, rhdr
        return None

    async def send(self, subjects: str | Sequence[str], payloads: Sequence[bytes],
                   hdrs: bytes | Sequence[bytes] = b"") -> int:
        if self._released:
            raise errors.JetStreamError("the batch publisher is closed")
        n = len(payloads)
        base = self.sent
        if self._ended:  # the batch failed: nothing more is sent (see errors)
            return base
        self._check_sizes(payloads, hdrs, base)
        pos = 0
        while pos < n and not self.errors:
            i = self.sent
            subj: str = subjects if isinstance(subjects, str) else subjects[pos]
            hdr: bytes = hdrs if isinstance(hdrs, bytes) else hdrs[pos]
            if i == 0:  # an ordinary publish: stream, first sequence, missing stream
                r = await self._request_one(0, subj, f"{self._nc.inbox(self._id)}.p".encode(),
                                            payloads[pos], hdr)
                if r is None:
                    break
                try:
                    ack = parse_ack(r[0])
                except errors.JetStreamError as e:
                    self._fail(0, prefixed(e, "message 0: "))
                    break
                self._done[0] = 1
                self.acked = self.resolved = 1
                self.first_seq = self.last_seq = ack.sequence
                self.duplicates += ack.duplicate
                self.stream = ack.stream
                pos += 1
                continue
            if i == 1:  # the batch starts: wait for the server's flow settings
                r = await self._request_one(1, subj, self._prefix + b"1.0.$FI", payloads[pos],
                                            hdr)
                if r is None:
                    break
                if not self._start_reply(r[0]):
                    break
                self._last_subject = subj
                pos += 1
                continue
            limit = self._msgs * self.outstanding_acks
            want = min(self._msgs, n - pos)
            if limit - self.outstanding < want:
                await self._wait_until(max(0, limit - want))
                continue
            k = min(limit - self.outstanding, n - pos)
            self._write_batch(subjects, payloads, hdrs, pos, pos + k)
            pos += k
            await self._kick()
        return base

    def _start_reply(self, data: bytes) -> bool:
        try:
            d = json.loads(data)
        except ValueError:
            self._fail(1, errors.APIError(f"message 1: invalid batch reply {data[:200]!r}"))
            return False
        if d.get("type") == "ack":
            self._msgs = max(1, int(d.get("msgs") or 1))
            self._progress = time.monotonic()
            return True
        self._on_reply(1, d)
        return False

    def _write_batch(self, subjects: str | Sequence[str], payloads: Sequence[bytes],
                     hdrs: bytes | Sequence[bytes], a: int, b: int) -> None:
        start = self.sent
        prefix = self._prefix
        ps = payloads[a:b]
        idx = range(start, start + (b - a))
        ss = ([subjects.encode()] * (b - a) if isinstance(subjects, str)
              else [x.encode() for x in subjects[a:b]])
        hs = [hdrs] * (b - a) if isinstance(hdrs, bytes) else hdrs[a:b]
        cmds = [_FI_HPUB % (s, prefix, i, len(h), len(h) + len(p), h, p) if h else
                _FI_PUB % (s, prefix, i, len(p), p)
                for i, p, s, h in zip(idx, ps, ss, hs, strict=True)]
        data = b"".join(cmds)
        self._queue(data, b - a, sum(map(len, ps)))
        self._done.extend(bytes(b - a))
        self.sent += b - a
        self._last_subject = subjects if isinstance(subjects, str) else subjects[b - 1]

    # -- replies (loop thread) -----------------------------------------------------------------
    def _on_ack(self, subject: bytes, reply: bytes, data: bytes, hdr: bytes) -> None:
        fut = self._reply
        if fut is not None and not fut.done() and (
                subject.endswith(b".p") or subject.endswith(b".1.0.$FI")):
            fut.set_result((data, hdr))
            return
        if not data:
            if hdr:  # e.g. 503 for the end of batch when the stream is gone
                st = status_of(hdr)
                if st is not None and st[0] == 503:
                    self._end_with(errors.NoStreamResponseError(
                        "no stream responds to the batch (no responders)", code=503))
            return
        try:
            d = json.loads(data)
        except ValueError:
            return
        parts = subject.split(b".")
        try:
            i = int(parts[-3])
        except (IndexError, ValueError):
            i = self._confirmed + 1
        self._on_reply(i, d)

    def _on_reply(self, i: int, d: dict[str, Any]) -> None:
        self._progress = time.monotonic()
        kind = d.get("type")
        if kind == "ack":
            seq = int(d.get("seq") or 0)
            self._msgs = max(1, int(d.get("msgs") or self._msgs))
            self._confirm(seq)
            return
        if kind == "gap" and self.gap_ok:  # continue on gap: note the loss, keep going
            self.lost.append(int(d.get("last_seq") or i))
            return
        if kind == "gap":
            lost = int(d.get("last_seq") or i)
            self._record(lost, errors.JetStreamError(
                f"message {lost}: lost on the way to the server (the server saw message "
                f"{d.get('seq')} next); the batch stopped"))
            return
        if kind == "err":
            seq = int(d.get("seq") or i)
            err = d.get("error") or {}
            self._record(seq, prefixed(errors.from_api_error(err), f"message {seq}: "))
            return
        if "error" in d:  # an error PubAck ends the batch
            self._end_with(errors.from_api_error(d["error"]))
            return
        # the final PubAck
        self.count = int(d.get("count") or 0)
        seq = int(d.get("seq") or 0)
        self._confirm(self.count)
        if self.count and seq:
            self.last_seq = max(self.last_seq or seq, seq)
        if self.errors or self.count < self.sent - 1:
            self._end_with(None)
        else:
            self._finish_final()

    def _confirm(self, bseq: int) -> None:
        if bseq <= self._confirmed:
            return
        bseq = min(bseq, self.sent - 1)
        done = self._done
        for j in range(self._confirmed + 1, bseq + 1):
            if not done[j]:
                done[j] = 1
                self.acked += 1
                self.resolved += 1
        self._confirmed = bseq
        self._wake_if_room()

    def _record(self, i: int, exc: BaseException) -> None:
        """An error for message ``i`` (the batch stops there; the final ack follows)."""
        if i not in self.errors and not any(k < i for k in self.errors):
            self.errors = {i: exc}
        self._wake()

    def _end_with(self, exc: BaseException | None) -> None:
        """The batch is over: what the server did not confirm has failed."""
        first = self._confirmed + 1
        if exc is not None and not self.errors and first < self.sent:
            text = exc.description if isinstance(exc, errors.JetStreamError) else str(exc)
            self.errors[first] = redescribed(
                exc, f"message {first}: not confirmed stored, the batch ended: {text}")
        culprit = min(self.errors) if self.errors else first
        done = self._done
        for j in range(first, self.sent):
            if not done[j]:
                done[j] = 1
                self.resolved += 1
                if j not in self.errors:
                    self.errors[j] = errors.JetStreamError(
                        f"message {j}: not confirmed stored: the batch ended after message "
                        f"{self._confirmed} (message {culprit} failed)")
        self._finish_final()

    def _finish_final(self) -> None:
        self._ended = True
        if self._final is not None and not self._final.done():
            self._final.set_result(None)
        self._wake()

    def _fail(self, i: int, exc: BaseException) -> None:
        if i < len(self._done) and self._done[i]:
            return
        super()._fail(i, exc)
        if i >= 1:
            self._ended = True

    def first_error(self) -> tuple[int, BaseException] | None:
        if not self.errors:
            return None
        i = min(self.errors)
        return i, self.errors[i]

    # -- end -----------------------------------------------------------------------------------
    async def finish(self) -> None:
        """End the batch (an end-of-batch marker, not stored) and wait for its PubAck."""
        try:
            if self.sent > 1 and not self._ended and not self._released:
                self._final = asyncio.get_running_loop().create_future()
                if not self.errors:
                    eob = self.sent
                    self._queue(self._one(self._last_subject,
                                          self._prefix + b"%d.3.$FI" % eob, b"", b""), 1, 0)
                    await self._kick()
                await self._final
        finally:
            await self.close()

    def _stop_waiting(self) -> bool:
        # a batch also stops at its first error or once the server ended it
        return self._released or self._ended or bool(self.errors)

    def _sweep(self) -> None:
        """Ping a quiet batch for lost acks; give up after the timeout."""
        self._sweeper = None
        if self._released:
            return
        now = time.monotonic()
        waiting = (self.sent - self.resolved > 0 and self.sent > 1) or (
            self._final is not None and not self._final.done())
        if waiting and not self._ended:
            quiet = now - self._progress
            if quiet > self.timeout:
                self._end_with(errors.JetStreamTimeoutError(
                    f"no batch ack within {self.timeout:g}s"))
            elif quiet > self.timeout / 4 and now - self._pinged > self.timeout / 4:
                self._pinged = now
                last = self.sent - 1
                try:
                    self._queue(self._one(self._last_subject,
                                          self._prefix + b"%d.4.$FI" % last, b"", b""), 1, 0)
                    self._js._spawn(self._kick())
                except errors.JetStreamError:
                    pass
        else:
            self._progress = now
        self._sweeper = asyncio.get_running_loop().call_later(_TICK, self._sweep)


class FastPublisher:
    """A fast-ingest batch: ``add`` messages, then ``commit`` with a last one or ``close``.
    The publisher is done after either; an (async) context manager closes it."""

    def __init__(self, js: Context, engine: FastBatchPublisher) -> None:
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

    async def fast_publisher(self: Context, flow: int = 100,  # type: ignore[misc]
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
