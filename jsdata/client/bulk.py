"""Bulk publishers: many messages pipelined with lean, aggregate bookkeeping.

``BulkPublisher`` keeps a window of unacknowledged publishes on its own ack inbox (no
per-message future); ``FastBatchPublisher`` uses ADR-50 fast ingest (the stream must allow
it). Both report aggregates (acked, first/last sequence, duplicates) and a typed error per
failed message. Made by ``JetStream._bulk_publisher`` / ``_fast_batch_publisher``.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import errors
from .._util import prefixed
from ._conn import indexed_pub_templates, status_of
from ._native import pub_acks as _cpub_acks
from ._native import pubs as _cpubs
from ._parser import BulkSink
from .info import ACK_RE, parse_ack

if TYPE_CHECKING:
    from .context import Context

_PUB, _HPUB, _PUB_HEAD, _HPUB_HEAD = indexed_pub_templates()
_TICK = 0.25  # seconds between timeout sweeps of a bulk publisher
_BIG = 4096  # average payload size above which messages are queued in parts, not joined


def format_pubs_py(subjects: str | Sequence[str], prefix: bytes, start: int,
                   ps: Sequence[bytes], hdrs: bytes | Sequence[bytes]) -> bytes:
    """The PUB/HPUB commands of messages ``start``, ``start + 1``, ... in one buffer, their
    reply subjects ``prefix + index``: ``subjects`` one subject or one per message,
    ``hdrs`` one header block for all or one per message (``b""``: none). The pure-Python
    twin of ``jsdata._cparse.pubs``, byte for byte."""
    idx = range(start, start + len(ps))
    if isinstance(subjects, str):
        s = subjects.encode()
        if isinstance(hdrs, bytes):
            if hdrs:
                h = hdrs
                hl = len(h)
                cmds = [_HPUB % (s, prefix, i, hl, hl + len(p), h, p)
                        for i, p in zip(idx, ps, strict=True)]
            else:
                cmds = [_PUB % (s, prefix, i, len(p), p) for i, p in zip(idx, ps, strict=True)]
        else:
            cmds = [_HPUB % (s, prefix, i, len(h), len(h) + len(p), h, p) if h else
                    _PUB % (s, prefix, i, len(p), p)
                    for i, p, h in zip(idx, ps, hdrs, strict=True)]
    else:
        ss = [x.encode() for x in subjects]
        if isinstance(hdrs, bytes):
            if hdrs:
                h = hdrs
                hl = len(h)
                cmds = [_HPUB % (s, prefix, i, hl, hl + len(p), h, p)
                        for i, p, s in zip(idx, ps, ss, strict=True)]
            else:
                cmds = [_PUB % (s, prefix, i, len(p), p)
                        for i, p, s in zip(idx, ps, ss, strict=True)]
        else:
            cmds = [_HPUB % (s, prefix, i, len(h), len(h) + len(p), h, p) if h else
                    _PUB % (s, prefix, i, len(p), p)
                    for i, p, s, h in zip(idx, ps, ss, hdrs, strict=True)]
    return b"".join(cmds)


# The formatter bulk publishers use, chosen once (see jsdata.client._native); the C one
# (same signature, same bytes) when the extension is built.
format_pubs_c: Any = _cpubs
format_pubs = format_pubs_c or format_pubs_py


def pub_acks_py(subjects: list[bytes], datas: list[bytes], plen: int, done: bytearray
                ) -> tuple[int, int, int, int, bytes | None, list[int]]:
    """Settle a run of a bulk publisher's plain acks (message index = ``subject[plen:]``):
    marks them in ``done`` and returns (acked, duplicates, lowest seq, highest seq (-1 if
    none), the first ack's stream, and the positions in the run that need the full path:
    errors, other shapes, odd subjects). Acks of unknown or resolved indices are skipped.
    The pure-Python twin of ``jsdata._cparse.pub_acks``."""
    acked = dups = 0
    lo = hi = -1
    stream = None
    rest = []
    n = len(done)
    for k, (subject, data) in enumerate(zip(subjects, datas, strict=True)):
        tail = subject[plen:]
        if not (0 < len(tail) <= 18 and tail.isdigit()):
            rest.append(k)
            continue
        i = int(tail)
        if i >= n or done[i]:
            continue  # not ours, or resolved already (a resend's second ack)
        m = ACK_RE.fullmatch(data)
        if m is None or len(m.group(3)) > 18:
            rest.append(k)
            continue
        done[i] = 1
        acked += 1
        if m.group(4) is not None:
            dups += 1
        if stream is None:
            stream = m.group(1)
        seq = int(m.group(3))
        if lo < 0 or seq < lo:
            lo = seq
        if seq > hi:
            hi = seq
    return acked, dups, lo, hi, stream, rest


settle_acks = _cpub_acks or pub_acks_py  # the one this process uses


class BulkPublisher:
    """Pipelined publishing of many messages with aggregate results (no per-message objects).

    Made by ``await js._bulk_publisher(...)``. ``await send(subjects, payloads, hdrs)`` gives
    the messages consecutive indices (returned: the first) and sends them with at most
    ``window`` unacknowledged; ``await finish()`` waits until every message is resolved.
    Every message resolves: acknowledged (counted in ``acked``, ``first_seq``/``last_seq``,
    ``duplicates``, ``stream``) or failed (``errors``: index -> typed error naming the
    message), including timeouts after ``timeout`` seconds and connection loss. A 503 (no
    responders) is retried ``retry_attempts`` times ``retry_wait`` apart. With
    ``stop_on_error`` nothing more is sent after the first failure.
    """

    def __init__(self, js: Context, window: int, timeout: float, retry_attempts: int,
                 retry_wait: float, stop_on_error: bool) -> None:
        self._js = js
        self._nc = js.nc
        self.window = max(1, window)
        self.timeout = timeout
        self.retry_attempts = max(0, retry_attempts)
        self.retry_wait = retry_wait
        self.stop_on_error = stop_on_error
        self.sent = 0  # messages handed to the connection: indices 0 .. sent-1
        self.resolved = 0  # acknowledged + failed
        self.acked = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.duplicates = 0
        self.stream: str | None = None
        self.errors: dict[int, BaseException] = {}
        self._done = bytearray()  # per message: 1 once resolved
        # spans of sent messages (start, end, sent_at, subjects, payloads, hdrs, offset) for
        # timeouts and resends; dropped once resolved
        self._spans: list[tuple[int, int, float, Any, Any, Any, int]] = []
        self._span_starts: list[int] = []
        self._lo = 0  # every message below is resolved
        self._tries: dict[int, int] = {}
        self._resend: list[int] = []
        self._resend_timer: asyncio.TimerHandle | None = None
        self._room: asyncio.Future[None] | None = None
        self._room_at = 0
        self._sub: Any = None
        self._sink: BulkSink | None = None
        self._prefix = b""
        self._plen = 0
        self._sweeper: asyncio.TimerHandle | None = None
        self._released = False

    # -- lifecycle -----------------------------------------------------------------------------
    async def _start(self) -> None:
        prefix = self._nc.inbox() + "."
        # the parser appends the acks to lists and calls _on_acks once a read (in C: no
        # Python call per ack); statuses (503, header only) come to _on_status one by one
        self._sink = BulkSink(self._on_status, self._on_acks)
        self._sub = await self._nc.fast_subscribe_bulk(prefix + "*", self._sink)
        self._prefix = prefix.encode()
        self._plen = len(self._prefix)
        self._js._bulks.add(self)
        self._sweeper = asyncio.get_running_loop().call_later(_TICK, self._sweep)

    def _release(self) -> None:
        """Stop timers and forget the publisher (the subscription is dropped by finish)."""
        self._released = True
        for t in (self._sweeper, self._resend_timer):
            if t is not None:
                t.cancel()
        self._sweeper = self._resend_timer = None
        self._js._bulks.discard(self)
        self._spans.clear()
        self._span_starts.clear()
        self._wake()

    async def close(self) -> None:
        """Fail what is still unresolved and drop the ack subscription."""
        if self.outstanding:
            self._fail_all(lambda i: errors.JetStreamError(
                f"message {i}: the bulk publish was abandoned before its ack arrived"))
        self._release()
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await self._nc.fast_unsubscribe(sub)

    async def finish(self) -> None:
        """Wait until every sent message is acknowledged or failed, then close."""
        try:
            await self._wait_until(0)
        finally:
            await self.close()

    # -- state ---------------------------------------------------------------------------------
    @property
    def outstanding(self) -> int:
        """Messages sent and not resolved yet."""
        return self.sent - self.resolved

    @property
    def failed(self) -> bool:
        """Whether any message failed."""
        return bool(self.errors)

    def first_error(self) -> tuple[int, BaseException] | None:
        """(index, error) of the lowest failed message, if any."""
        if not self.errors:
            return None
        i = min(self.errors)
        return i, self.errors[i]

    # -- sending -------------------------------------------------------------------------------
    async def send(self, subjects: str | Sequence[str], payloads: Sequence[bytes],
                   hdrs: bytes | Sequence[bytes] = b"") -> int:
        """Send messages (one subject/header block for all, or one per message); returns
        the index of the first. Waits for room under the window; stops early after a
        failure when ``stop_on_error``."""
        if self._released:
            raise errors.JetStreamError("the bulk publisher is closed")
        n = len(payloads)
        base = self.sent
        self._check_sizes(payloads, hdrs, base)
        pos = 0
        step = max(1, self.window // 4)
        while pos < n:
            if self.errors and self.stop_on_error:
                break
            want = min(step, n - pos)
            if self.window - self.outstanding < want:
                await self._wait_until(self.window - want)
                continue
            k = min(self.window - self.outstanding, n - pos)
            self._write(subjects, payloads, hdrs, pos, pos + k)
            pos += k
            await self._nc.kick()
        return base

    def _check_sizes(self, payloads: Sequence[bytes], hdrs: bytes | Sequence[bytes],
                     base: int) -> None:
        limit = self._nc.max_payload
        if not payloads:
            return
        if isinstance(hdrs, bytes):
            if max(map(len, payloads)) + len(hdrs) <= limit:
                return
            sizes = [len(p) + len(hdrs) for p in payloads]
        else:
            sizes = [len(p) + len(h) for p, h in zip(payloads, hdrs, strict=True)]
            if max(sizes) <= limit:
                return
        i = next(j for j, s in enumerate(sizes) if s > limit)
        raise errors.MaxPayloadExceededError(
            f"message {base + i} of {sizes[i]} bytes exceeds the server's max_payload of "
            f"{limit} bytes")

    def _write(self, subjects: str | Sequence[str], payloads: Sequence[bytes],
               hdrs: bytes | Sequence[bytes], a: int, b: int) -> None:
        """Format messages a..b-1 of the arrays into one buffer and queue it."""
        nc = self._nc
        if nc.is_closed:
            raise errors.ConnectionClosedError("the connection is closed")
        start = self.sent
        prefix = self._prefix
        ps = payloads[a:b]
        nbytes = sum(map(len, ps))
        if nbytes > _BIG * (b - a):
            self._write_parts(subjects, payloads, hdrs, a, b, nbytes)
            return
        nc.queue_raw(format_pubs(subjects if isinstance(subjects, str) else subjects[a:b],
                                 prefix, start, ps,
                                 hdrs if isinstance(hdrs, bytes) else hdrs[a:b]))
        self._sent_span(subjects, payloads, hdrs, a, b, nbytes)

    def _write_parts(self, subjects: str | Sequence[str], payloads: Sequence[bytes],
                     hdrs: bytes | Sequence[bytes], a: int, b: int, nbytes: int) -> None:
        """Large messages: queue each message's parts as they are (the socket write joins
        them), so the payloads are copied once."""
        nc = self._nc
        ps = payloads[a:b]
        prefix = self._prefix
        start = self.sent
        ss = (itertools.repeat(subjects.encode()) if isinstance(subjects, str)
              else (x.encode() for x in subjects[a:b]))
        hs = itertools.repeat(hdrs) if isinstance(hdrs, bytes) else iter(hdrs[a:b])
        parts: list[bytes] = []
        add = parts.extend
        for i, p, s, h in zip(range(start, start + (b - a)), ps, ss, hs, strict=False):
            if h:
                add((_HPUB_HEAD % (s, prefix, i, len(h), len(h) + len(p)), h, p, b"\r\n"))
            else:
                add((_PUB_HEAD % (s, prefix, i, len(p)), p, b"\r\n"))
        nc.queue_raw(*parts)
        self._sent_span(subjects, payloads, hdrs, a, b, nbytes)

    def _sent_span(self, subjects: str | Sequence[str], payloads: Sequence[bytes],
                   hdrs: bytes | Sequence[bytes], a: int, b: int, nbytes: int) -> None:
        start = self.sent
        stats = self._nc.stats
        stats["out_msgs"] += b - a
        stats["out_bytes"] += nbytes
        self._done.extend(bytes(b - a))
        self._spans.append((start, start + (b - a), time.monotonic(), subjects, payloads,
                            hdrs, a - start))
        self._span_starts.append(start)
        self.sent += b - a

    def _message(self, i: int) -> tuple[str, bytes, bytes] | None:
        k = bisect.bisect_right(self._span_starts, i) - 1
        if k < 0:
            return None
        start, end, _, subjects, payloads, hdrs, off = self._spans[k]
        if i >= end:
            return None
        j = i + off
        return (subjects if isinstance(subjects, str) else subjects[j], payloads[j],
                hdrs if isinstance(hdrs, bytes) else hdrs[j])

    # -- acks (loop thread) --------------------------------------------------------------------
    def _on_status(self, subject: bytes, reply: bytes, hdr: bytes) -> None:
        self._on_ack(subject, reply, b"", hdr)

    def _on_acks(self) -> None:
        """The acks of one read: the plain ones settled in one pass (C when built), the
        rest (errors, other shapes) one by one."""
        sink = self._sink
        subjects, datas, hdrs = sink.subjects, sink.datas, sink.hdrs
        if not subjects:
            return
        sink.subjects, sink.replies, sink.hdrs, sink.datas = [], [], [], []
        acked, dups, lo, hi, stream, rest = settle_acks(subjects, datas, self._plen,
                                                        self._done)
        if acked:
            self.acked += acked
            self.resolved += acked
            self.duplicates += dups
            if self.last_seq is None:
                self.first_seq, self.last_seq = lo, hi
                self.stream = stream.decode() if stream is not None else None
            else:
                self.first_seq = min(self.first_seq, lo)  # type: ignore[type-var]
                self.last_seq = max(self.last_seq, hi)
        for k in rest:
            self._on_ack(subjects[k], b"", datas[k], hdrs[k])
        if acked:
            self._wake_if_room()

    def _on_ack(self, subject: bytes, reply: bytes, data: bytes, hdr: bytes) -> None:
        try:
            i = int(subject[self._plen:])
        except ValueError:
            return
        done = self._done
        if i >= len(done) or done[i]:
            return
        m = ACK_RE.fullmatch(data) if data else None
        if m is None:
            if hdr and not data:
                st = status_of(hdr)
                if st is not None and st[0] == 503:
                    tries = self._tries.get(i, 0)
                    if tries < self.retry_attempts and not self._released:
                        self._tries[i] = tries + 1
                        self._resend.append(i)
                        if self._resend_timer is None:
                            self._resend_timer = asyncio.get_running_loop().call_later(
                                self.retry_wait, self._do_resend)
                        return
                    msg = self._message(i)
                    subj = repr(msg[0]) if msg else "its subject"
                    self._fail(i, errors.NoStreamResponseError(
                        f"message {i}: no stream captures subject {subj} (no responders)",
                        code=503))
                    return
            try:
                ack = parse_ack(data)
            except errors.JetStreamError as e:
                self._fail(i, prefixed(e, f"message {i}: "))
                return
            stream: str | bytes = ack.stream
            seq, dup = ack.sequence, ack.duplicate
        else:
            stream = m.group(1)
            seq = int(m.group(3))
            dup = m.group(4) is not None
        done[i] = 1
        self.acked += 1
        self.resolved += 1
        if dup:
            self.duplicates += 1
        if self.last_seq is None:
            self.first_seq = self.last_seq = seq
            self.stream = stream.decode() if isinstance(stream, bytes) else stream
        elif seq > self.last_seq:
            self.last_seq = seq
        elif seq < self.first_seq:  # type: ignore[operator]
            self.first_seq = seq
        self._wake_if_room()

    def _fail(self, i: int, exc: BaseException) -> None:
        if self._done[i]:
            return
        self._done[i] = 1
        self.resolved += 1
        self.errors[i] = exc
        if self._room is not None:
            self._wake()

    def _fail_all(self, make: Any) -> None:
        done = self._done
        for i in range(self._lo, self.sent):
            if not done[i]:
                self._fail(i, make(i))
        self._lo = self.sent

    def _wake_if_room(self) -> None:
        """Wake a waiting sender once the outstanding count fell to what it waits for."""
        if self._room is not None and self.sent - self.resolved <= self._room_at:
            self._wake()

    def _wake(self) -> None:
        room = self._room
        if room is not None:
            self._room = None
            if not room.done():
                room.set_result(None)

    def _stop_waiting(self) -> bool:
        """True when a sender waiting for room should give up waiting."""
        return self._released

    async def _wait_until(self, outstanding: int) -> None:
        """Wait until at most ``outstanding`` messages are unresolved (the timeout sweep
        guarantees progress)."""
        while self.sent - self.resolved > outstanding:
            if self._stop_waiting():
                return
            if self._room is None:
                self._room = asyncio.get_running_loop().create_future()
            self._room_at = outstanding
            await self._room

    def _do_resend(self) -> None:
        self._resend_timer = None
        todo, self._resend = self._resend, []
        if self._released:
            return
        nc = self._nc
        for i in todo:
            if self._done[i]:
                continue
            msg = self._message(i)
            if msg is None:
                continue
            subj, payload, hdr = msg
            if hdr:
                cmd = _HPUB % (subj.encode(), self._prefix, i, len(hdr), len(hdr) + len(payload),
                               hdr, payload)
            else:
                cmd = _PUB % (subj.encode(), self._prefix, i, len(payload), payload)
            if nc.is_closed:
                self._fail(i, errors.ConnectionClosedError(
                    f"message {i}: the connection is closed"))
                continue
            try:
                nc.queue_raw(cmd)
            except errors.JetStreamError as e:
                self._fail(i, e)
        if not nc.is_closed:
            self._js._spawn(nc.kick())

    def _sweep(self) -> None:
        """Fail messages whose ack did not arrive within the timeout; drop resolved spans."""
        self._sweeper = None
        if self._released:
            return
        done = self._done
        lo = self._lo
        sent = self.sent
        while lo < sent and done[lo]:
            lo += 1
        self._lo = lo
        spans = self._spans
        drop = 0
        cutoff = time.monotonic() - self.timeout
        for start, end, t, *_ in spans:
            if end <= lo:
                drop += 1
                continue
            if t > cutoff:
                break
            for i in range(max(start, lo), end):
                if not done[i]:
                    self._fail(i, errors.JetStreamTimeoutError(
                        f"message {i}: no ack within {self.timeout:g}s"))
            drop += 1
        if drop:
            del spans[:drop]
            del self._span_starts[:drop]
        self._sweeper = asyncio.get_running_loop().call_later(_TICK, self._sweep)
