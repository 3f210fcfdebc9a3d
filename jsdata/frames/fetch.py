"""Fetching the raw messages of a stream read: batched direct get or an ephemeral consumer.

The stream readers (:mod:`jsdata.frames.reader`) decode what the sources here fetch: a
:class:`_Fetcher` turns a :class:`_Plan` (stream, sequence range, filters) into raw
:class:`_Chunk` objects, in order, ``None`` at the end.

Two rules make a read exact at any size and over an unreliable network:

* **Byte budgets are counted as the server counts them** (:mod:`jsdata.client._budget`): a pull
  whose messages add up to exactly its ``max_bytes`` ends with no status, so the consumer
  source treats the budget reached as the end of the pull. A batched direct get always
  ends with a ``204 EOB`` status, which the direct source waits for.
* **A dropped connection or a restarted server is resumed**, not waited out: each source
  listens to the connection's status (:class:`ConnWatch`). When nats-py reconnects, the
  messages that arrived are kept and the rest is requested again from the last sequence
  received + 1 on a fresh inbox (so nothing the old request still sends can be counted
  twice); the consumer source also recreates its consumer there, because a pull request
  may be lost with the connection and a memory-storage ephemeral consumer does not survive
  a server restart. A request that goes silent while connected is re-sent the same way.
  Only when the connection closes, or stays down longer than the ``resume_window``
  given to ``connect`` (30 seconds by default), does the read raise
  :class:`~jsdata.errors.ReadInterruptedError`, naming the range read and the ``start=``
  that resumes it. Chunks never overlap or leave gaps.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from .. import errors
from ..client._budget import batch_cost
from ..client._conn import BulkSink, new_token, status_of
from ..client.direct import BatchGetter
from ..client.headers import header_int
from ..client.resume import STALLS, ConnWatch

if TYPE_CHECKING:
    from ..client.jetstream import JetStream

MAX_REQUEST_BYTES = 8 << 20  # per direct-get request / pull: bounds memory and slow-consumer risk


# ---------------------------------------------------------------------------------------------
# raw batches as fetched from the server

class _Chunk:
    """The messages of one request: raw payloads and header blocks, plus the covered range."""

    __slots__ = ("kind", "hdrs", "datas", "subjects", "replies", "first_cov", "last_cov")

    def __init__(self, kind: str, hdrs: list[bytes], datas: list[bytes],
                 subjects: list[Any] | None = None, replies: list[Any] | None = None) -> None:
        self.kind = kind  # "direct": metadata in the header block; "consumer": in the reply
        self.hdrs = hdrs
        self.datas = datas
        self.subjects = subjects
        self.replies = replies
        self.first_cov = 0
        self.last_cov = 0

    def __len__(self) -> int:
        return len(self.datas)


def _direct_seq(hdr: bytes) -> int:
    i = hdr.rfind(b"\r\nNats-Sequence: ")
    j = hdr.find(b"\r\n", i + 17)
    return int(hdr[i + 17:j])


def _reply_fields(reply: str | bytes) -> tuple[int, int, int, int]:
    """(stream seq, consumer seq, timestamp ns, pending) of a ``$JS.ACK`` reply subject."""
    t = reply.split("." if isinstance(reply, str) else b".")  # type: ignore[arg-type]
    if len(t) == 9:
        return int(t[5]), int(t[6]), int(t[7]), int(t[8])
    return int(t[7]), int(t[8]), int(t[9]), int(t[10])


@dataclass
class _Plan:
    stream: str
    start_seq: int
    end_seq: int  # inclusive bound
    filters: list[str] | None
    direct: bool
    batch_size: int  # messages per request
    max_messages: int | None
    first_size: int = 0  # messages in the first request, if not batch_size


# ---------------------------------------------------------------------------------------------
# the connection's state, as a request sees it

# ---------------------------------------------------------------------------------------------
# the fetchers

class _Fetcher:
    """Produces the raw chunks of a plan, in order; ``None`` at the end."""

    def __init__(self, js: JetStream, plan: _Plan) -> None:
        self.js = js
        self.plan = plan
        self.next = plan.start_seq
        self.done = plan.start_seq > plan.end_seq or plan.max_messages == 0
        self.read = 0  # messages delivered so far
        self.total: int | None = None  # messages expected, once known (for progress)
        self.last_cov = plan.start_seq - 1
        self.watch: ConnWatch | None = None
        self.stalls = 0
        self.resumes = 0  # requests re-sent after a reconnect or a silent request

    def _interrupted(self, reason: str) -> errors.ReadInterruptedError:
        p = self.plan
        last = self.next - 1
        read = (f"sequences {p.start_seq}..{last} were read" if last >= p.start_seq
                else "nothing was read")
        return errors.ReadInterruptedError(
            f"reading {p.stream!r} was interrupted: {reason}; {read}; read on with "
            f"start={last + 1}", stream=p.stream, first_seq=p.start_seq, last_seq=last)

    def _watch(self) -> ConnWatch:
        if self.watch is None:
            self.watch = ConnWatch(self.js, self._interrupted)
        return self.watch

    def _stalled(self) -> None:
        self.stalls += 1
        if self.stalls >= STALLS:
            raise self._interrupted(
                f"{STALLS} request(s) in a row got no reply within {self.js.timeout:g}s")

    async def start(self) -> None:
        self._watch()

    async def close(self) -> None:
        if self.watch is not None:
            self.watch.stop()

    async def next_chunk(self) -> _Chunk | None:
        raise NotImplementedError

    def _want(self) -> int:
        n = self.plan.batch_size
        if not self.read and self.plan.first_size:
            n = self.plan.first_size
        if self.plan.max_messages is not None:
            n = min(n, self.plan.max_messages - self.read)
        if not self.plan.filters:
            n = min(n, self.plan.end_seq - self.next + 1)
        return n

    def _finish_chunk(self, chunk: _Chunk, last_seq: int, pending: int) -> _Chunk:
        """Account for a chunk whose last message is ``last_seq`` (after trimming)."""
        p = self.plan
        self.read += len(chunk)
        self.stalls = 0
        chunk.first_cov = self.last_cov + 1
        if p.max_messages is not None and self.read >= p.max_messages:
            self.done = True
            chunk.last_cov = last_seq
        elif last_seq >= p.end_seq or pending == 0:
            self.done = True
            chunk.last_cov = p.end_seq
        else:
            chunk.last_cov = last_seq
        self.last_cov = chunk.last_cov
        self.next = last_seq + 1
        return chunk


class _DirectFetcher(_Fetcher):
    """Batched direct get: ``{"seq": s, "batch": n, "max_bytes": m}``, replies end with 204.

    The server counts each message's stored subject, header and payload against
    ``max_bytes`` and sends the message that reaches it before it stops
    (:func:`~jsdata.client._budget.direct_cost`); the 204 EOB always follows, so a request is over
    when its status arrives. The requests go through the core's one batch direct get loop
    (:class:`~jsdata.client.direct.BatchGetter`), which also re-sends the rest of a request
    lost with the connection.
    """

    def __init__(self, js: JetStream, plan: _Plan) -> None:
        super().__init__(js, plan)
        self.getter: BatchGetter | None = None

    async def start(self) -> None:
        await super().start()
        self.getter = BatchGetter(self.js, self.plan.stream, watch=self._watch())
        await self.getter.start()

    async def close(self) -> None:
        if self.getter is not None:
            await self.getter.close()
        await super().close()

    async def next_chunk(self) -> _Chunk | None:
        if self.done:
            return None
        n = self._want()
        if n <= 0:
            self.done = True
            return None
        p = self.plan
        req: dict[str, Any] = {"seq": self.next, "batch": n, "max_bytes": MAX_REQUEST_BYTES}
        if p.filters:
            req["next_by_subj"] = p.filters[0]
        assert self.getter is not None
        hdrs, datas, code, _, hdr = await self.getter.get(req)
        self.resumes = self.getter.resumes
        if code == 404:
            self.done = True
            if not datas:
                return _empty_end(self)
        pending = header_int(hdr, b"Nats-Num-Pending") if code == 204 else 0
        if self.total is None:
            self.total = len(datas) + pending
            if not p.filters:
                self.total = min(self.total, p.end_seq - self.next + 1)
            if p.max_messages is not None:
                self.total = min(self.total, p.max_messages)
        if not datas:
            self.done = True
            return _empty_end(self)
        chunk = self._trimmed(hdrs, datas, pending)
        if chunk is None:
            return _empty_end(self)
        return chunk

    def _trimmed(self, hdrs: list[bytes], datas: list[bytes], pending: int) -> _Chunk | None:
        """The chunk of these messages, cut at the plan's end (None if nothing is left)."""
        p = self.plan
        last = _direct_seq(hdrs[-1])
        if last > p.end_seq:  # past the bound (filtered reads, deleted messages): trim
            k = _bisect_seq(hdrs, p.end_seq, _direct_seq)
            del hdrs[k:], datas[k:]
            self.done = True
            if not datas:
                return None
            last = _direct_seq(hdrs[-1])
            pending = 0
        return self._finish_chunk(_Chunk("direct", hdrs, datas), last, pending)


def _empty_end(f: _Fetcher) -> _Chunk:
    c = _Chunk("direct", [], [])
    c.first_cov = f.last_cov + 1
    c.last_cov = max(f.plan.end_seq, f.last_cov)
    f.last_cov = c.last_cov
    f.done = True
    return c


def _bisect_seq(items: list[Any], bound: int, seq_of: Any) -> int:
    """The number of leading items whose sequence is <= bound (sequences ascend)."""
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        if seq_of(items[mid]) <= bound:
            lo = mid + 1
        else:
            hi = mid
    return lo


class _ConsumerFetcher(_Fetcher):
    """An ephemeral ordered pull consumer (AckNone, memory storage) and large no-wait pulls.

    Pull replies go to one inbox on the connection's fast path and are kept as raw bytes
    (no message objects); consumer sequences are checked for gaps, as an ordered consumer
    does, and the consumer is recreated after the last good message if one shows up. A
    pull is over when its message count arrived, a status ended it, or its messages'
    cost (:func:`~jsdata.client._budget.pull_cost`) reached its ``max_bytes`` (the server sends no
    status then).
    """

    INACTIVE = 60.0

    def __init__(self, js: JetStream, plan: _Plan) -> None:
        super().__init__(js, plan)
        self.name: str | None = None
        self.dseq = 0
        self.resets = 0
        self._need_reset = False
        self.inbox = ""
        self.sub: Any = None
        # Pulled messages are appended to the sink's lists by the protocol parser itself:
        # no per-message callback on the event loop.
        self.sink = BulkSink(self._on_control, self._on_batch)
        self.want = 0
        self.limit = 0  # max_bytes of the pull in flight
        self.spent = 0  # its cost so far, over the first ``counted`` messages of the sink
        self.counted = 0
        # Each pull replies to its own subject under the inbox, so that a status the server
        # sends after a pull completed (e.g. 409 Batch Completed) cannot end the next one.
        self.pulls = 0
        self.pull_inbox = b""
        self.fut: asyncio.Future[tuple[int, str]] | None = None

    async def _create(self, start: int) -> None:
        p = self.plan
        name = f"jsdata_read_{new_token(8)}"
        cfg: dict[str, Any] = {
            "name": name, "ack_policy": "none", "deliver_policy": "by_start_sequence",
            "opt_start_seq": start, "replay_policy": "instant", "mem_storage": True,
            "num_replicas": 1, "inactive_threshold": self.INACTIVE, "max_deliver": 1,
        }
        if p.filters:
            if len(p.filters) == 1:
                cfg["filter_subject"] = p.filters[0]
            else:
                cfg["filter_subjects"] = list(p.filters)
        c = await self.js.create_consumer(p.stream, **cfg)
        self.name = c.name
        self.dseq = 0
        pending = int(c.cached_info().num_pending)
        if self.total is None:
            total = pending
            if not p.filters:
                total = min(total, p.end_seq - start + 1)
            if p.max_messages is not None:
                total = min(total, p.max_messages)
            self.total = max(total, 0)

    async def _subscribe(self) -> None:
        """A fresh inbox: messages of an abandoned pull cannot reach the next one."""
        await self._unsubscribe()
        self.inbox = self.js.nc.inbox()
        self.sub = await self.js.nc.fast_subscribe_bulk(f"{self.inbox}.*", self.sink)

    async def _unsubscribe(self) -> None:
        if self.sub is not None:
            sub, self.sub = self.sub, None
            await self.js.nc.fast_unsubscribe(sub)

    async def start(self) -> None:
        await super().start()
        if not self.done:
            await self._subscribe()
            await self._create(self.next)

    async def _delete(self) -> None:
        if self.name is not None:
            name, self.name = self.name, None
            try:
                await self.js._api(f"CONSUMER.DELETE.{self.plan.stream}.{name}")
            except (errors.JetStreamError, asyncio.TimeoutError):
                pass  # it goes away by itself after inactive_threshold

    async def close(self) -> None:
        await self._unsubscribe()
        await self._delete()
        await super().close()

    def _on_control(self, subject: bytes, reply: bytes, hdr: bytes) -> None:
        """A header-only message: a pull status, or a stored message with an empty payload."""
        st = status_of(hdr)
        if st is not None:
            if st[0] == 100 or subject != self.pull_inbox:  # heartbeat, or an earlier pull's
                return
            self._on_batch()  # the messages before it may already complete the pull
            f = self.fut
            if f is not None and not f.done():
                f.set_result(st)
            return
        sink = self.sink
        sink.subjects.append(subject)
        sink.replies.append(reply)
        sink.hdrs.append(hdr)
        sink.datas.append(b"")
        self._on_batch()

    def _on_batch(self) -> None:
        n = len(self.sink.datas)
        if n >= self.want:
            self._complete()
            return
        if n > self.counted:
            sink = self.sink
            self.spent += batch_cost(sink.subjects, sink.replies, sink.hdrs, sink.datas,
                                     self.counted)
            self.counted = n
            if self.spent >= self.limit:  # the budget is spent: the server ends it silently
                self._complete()

    def _complete(self) -> None:
        f = self.fut
        if f is not None and not f.done():
            f.set_result((0, ""))

    def _take(self) -> tuple[list[bytes], list[bytes], list[bytes], list[bytes]]:
        """The messages received so far (subjects, replies, hdrs, datas); starts new lists."""
        sink = self.sink
        out = sink.subjects, sink.replies, sink.hdrs, sink.datas
        sink.subjects, sink.replies, sink.hdrs, sink.datas = [], [], [], []
        self.counted = self.spent = 0
        return out

    def pull_limit(self) -> int:
        """max_bytes of each pull: above max_payload, so no pull ends empty on one message."""
        return max(MAX_REQUEST_BYTES, 2 * int(self.js.nc.max_payload))

    async def _pull(self, n: int) -> tuple[int, str] | str:
        """One no-wait pull of ``n`` messages: its end status ((0, "") when complete), or
        "reconnected" / "stalled" when it has to be requested again."""
        js = self.js
        p = self.plan
        watch = self._watch()
        self._take()
        self.want = n
        self.limit = self.pull_limit()
        fut = self.fut = asyncio.get_running_loop().create_future()
        req = {"batch": n, "max_bytes": self.limit, "no_wait": True}
        self.pulls += 1
        reply = f"{self.inbox}.{self.pulls}"
        self.pull_inbox = reply.encode()
        epoch = watch.epoch
        subject = js.api_subject(f"CONSUMER.MSG.NEXT.{p.stream}.{self.name}")
        body = json.dumps(req, separators=(",", ":")).encode()
        def denied(err: errors.PermissionDeniedError) -> None:
            if not fut.done():  # the user may not pull from this stream: say so now
                fut.set_exception(err)

        unwatch = js.nc.watch_denial("publish", subject, denied)
        try:
            await watch.retry(partial(js.nc.publish_raw, subject, reply, body),
                              "sending a pull")
            how = await watch.wait(fut, epoch, lambda: len(self.sink.datas))
        finally:
            unwatch()
        return fut.result() if how == "done" else how

    async def _resume(self) -> None:
        """After a reconnect or a silent pull: a fresh inbox and a consumer that starts
        after the last message received (the old one may be gone with the server)."""
        watch = self._watch()
        await watch.retry(self._subscribe, "subscribing again")
        await self._delete()
        await watch.retry(partial(self._create, self.next), "recreating the read's consumer")

    async def next_chunk(self) -> _Chunk | None:
        while True:
            if self.done:
                return None
            n = self._want()
            if n <= 0:
                self.done = True
                return None
            p = self.plan
            if self._need_reset:
                self._need_reset = False
                await self._resume()
            res = await self._pull(n)
            subjects, replies, hdrs, datas = self._take()
            if isinstance(res, str):  # interrupted: keep what arrived, re-pull after it
                self.resumes += 1
                if res == "stalled":
                    self._stalled()
                self._need_reset = True
                if not datas:
                    continue
                chunk = self._accept(subjects, replies, hdrs, datas)
                if not len(chunk) and not self.done:
                    continue
                return chunk
            code, desc = res
            if code in (409, 503) and ("message size exceeds maxbytes" not in desc.lower()):
                low = desc.lower()
                if self.resets < 3 and (code == 503 or "consumer deleted" in low
                                        or "leadership" in low):
                    self.resets += 1
                    self._need_reset = True
                    if not datas:
                        continue
                else:
                    raise errors.JetStreamError(
                        f"reading {p.stream!r}: pull failed: {code} {desc}", code=code)
            elif code not in (0, 404, 408, 409):
                raise errors.JetStreamError(f"reading {p.stream!r}: pull failed: {code} {desc}",
                                            code=code)
            if not datas:
                return _empty_end(self)
            return self._accept(subjects, replies, hdrs, datas)

    def _accept(self, subjects: list[bytes], replies: list[bytes], hdrs: list[bytes],
                datas: list[bytes]) -> _Chunk:
        p = self.plan
        first = _reply_fields(replies[0])
        sseq, dseq, _, pending = _reply_fields(replies[-1])
        if first[1] != self.dseq + 1 or dseq != self.dseq + len(datas):
            # A gap in consumer sequences: keep what is in order, then recreate the consumer.
            k = 0
            expect = self.dseq + 1
            for r in replies:
                if _reply_fields(r)[1] != expect:
                    break
                k += 1
                expect += 1
            del subjects[k:], replies[k:], hdrs[k:], datas[k:]
            self._need_reset = True
            if not datas:
                return self._gap_only()
            sseq, dseq, _, pending = _reply_fields(replies[-1])
            pending = max(pending, 1)
        self.dseq = dseq
        if sseq > p.end_seq:
            k = _bisect_seq(replies, p.end_seq, lambda r: _reply_fields(r)[0])
            del subjects[k:], replies[k:], hdrs[k:], datas[k:]
            self.done = True
            pending = 0
            if not datas:
                return _empty_end(self)
            sseq = _reply_fields(replies[-1])[0]
        chunk = _Chunk("consumer", hdrs, datas, subjects, replies)
        return self._finish_chunk(chunk, sseq, pending)

    def _gap_only(self) -> _Chunk:
        """An empty chunk after a gap at the very first message: retry after the reset."""
        c = _Chunk("consumer", [], [])
        c.first_cov = self.last_cov + 1
        c.last_cov = self.last_cov
        return c
