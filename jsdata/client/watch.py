"""Ordered push subscriptions: the in-order, gap-free feed that watchers build on.

KV and object-store watchers (and notebook widgets) need every matching message once, in
stream order, followed live — like nats.go's ordered push consumer. ``OrderedFeed`` creates
an ephemeral AckNone push consumer with flow control and idle heartbeats, checks the
consumer sequence of each delivery, and on a gap, two missed heartbeats, a deleted consumer
or a lost server recreates the consumer at the last stream sequence + 1.

The feed is an async iterator of :class:`~jsdata.client.message.Msg` (``None`` once, after the
messages that existed when it started, if ``mark_initial``). Memory is bounded: flow-control
replies are held back while more than ``max_buffer`` messages wait to be read.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from .. import errors
from ._conn import new_token, status_of
from .headers import decode_headers
from .info import ConsumerInfo
from .message import Msg
from .times import Timestamp

if TYPE_CHECKING:
    from .context import Context

HEARTBEAT = 5.0


class OrderedFeed:
    """An ordered, self-healing push subscription on ``stream`` (see module doc)."""

    def __init__(self, js: Context, stream: str, *, filter_subjects: list[str] | None = None,
                 deliver_policy: str = "all", opt_start_seq: int | None = None,
                 headers_only: bool = False, mark_initial: bool = True,
                 heartbeat: float = HEARTBEAT, max_buffer: int = 4096,
                 consumer_config: dict[str, Any] | None = None) -> None:
        self._js = js
        self.stream = stream
        self._filters = list(filter_subjects or [])
        self._deliver_policy = deliver_policy
        self._opt_start_seq = opt_start_seq
        self._headers_only = headers_only
        self._extra = dict(consumer_config or {})
        self._hb = heartbeat
        self._max_buffer = max_buffer
        self._mark = mark_initial
        self._initial_done = not mark_initial
        self._buf: deque[Msg | None] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._held_fc: str | None = None
        self._sub: Any = None
        self._consumer: str | None = None
        self._expected_cseq = 1
        self._last_sseq = 0
        self._last_activity = time.monotonic()
        self._hb_timer: asyncio.TimerHandle | None = None
        self._resetting = False
        self._stopped = False
        self.error: errors.JetStreamError | None = None
        self.info: ConsumerInfo | None = None
        self.resets = 0
        self._create_pending: list[tuple[bytes, bytes, bytes, bytes]] | None = None
        # End of the initial values (see _create / _on_msg): the consumer sequence of the last
        # initial delivery and the consumer's creation time; in "catch-up" mode, a stream
        # sequence that every initial value (or its replacement) is at or below.
        self._initial_cseq = 0
        self._initial_created_ns = 0
        self._created_once = False
        self._catch_up: int | None = None
        self._catching_up = False
        self._verifying = False

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> OrderedFeed:
        """Create the consumer and start delivery (raises if the stream is missing)."""
        await self._create()
        self._arm_heartbeat()
        return self

    async def stop(self) -> None:
        """Stop delivery, delete the consumer and end iteration."""
        if self._stopped:
            return
        self._stopped = True
        if self._hb_timer is not None:
            self._hb_timer.cancel()
        await self._drop_consumer()
        self._wake()

    @property
    def stopped(self) -> bool:
        return self._stopped

    # -- consumer creation ---------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "ack_policy": "none", "mem_storage": True, "num_replicas": 1,
            "flow_control": True, "idle_heartbeat": int(self._hb * 1e9),
            "inactive_threshold": int(max(30.0, self._hb * 6) * 1e9),
            "max_deliver": -1, "replay_policy": "instant", **self._extra,
        }
        if self._headers_only:
            cfg["headers_only"] = True
        if self._last_sseq:
            cfg["deliver_policy"] = "by_start_sequence"
            cfg["opt_start_seq"] = self._last_sseq + 1
        else:
            cfg["deliver_policy"] = self._deliver_policy
            if self._opt_start_seq:
                cfg["opt_start_seq"] = self._opt_start_seq
        if len(self._filters) == 1:
            cfg["filter_subject"] = self._filters[0]
        elif self._filters:
            cfg["filter_subjects"] = self._filters
        return cfg

    async def _create(self) -> None:
        js = self._js
        inbox = js.nc.inbox()
        name = f"jsdata_feed_{new_token(8)}"
        cfg = self._config()
        cfg["deliver_subject"] = inbox
        cfg["name"] = name
        self._expected_cseq = 1
        # Messages can arrive before the create response; hold them until we know num_pending.
        self._create_pending = []
        self._sub = await js.nc.fast_subscribe(inbox, self._on_msg)
        try:
            resp = await js._api(f"CONSUMER.CREATE.{self.stream}.{name}",
                                 {"stream_name": self.stream, "config": cfg, "action": "create"})
        except BaseException:
            sub, self._sub = self._sub, None
            self._create_pending = None
            await js.nc.fast_unsubscribe(sub)
            raise
        self._consumer = name
        self.info = ConsumerInfo.from_json(resp)
        self._resetting = False
        first, self._created_once = not self._created_once, True
        if not self._initial_done:
            if first:
                # The initial values end at consumer sequence delivered + num_pending of the
                # create response (deliveries may precede it: they are held in
                # _create_pending), unless some vanish before delivery (see _on_msg).
                self._initial_cseq = self.info.delivered.consumer_seq + self.info.num_pending
                created = self.info.created
                self._initial_created_ns = (
                    created.unix_nanos() if isinstance(created, Timestamp) else 0)
            else:  # recreated before the end of the initial values: catch up with the stream
                self._initial_cseq = 0
                self._start_catch_up()
        held, self._create_pending = self._create_pending, None
        if not self._initial_done and first and self._initial_cseq == 0:
            self._initial_done = True
            self._push(None)
        for m in held:
            self._on_msg(*m)

    async def _drop_consumer(self) -> None:
        sub, self._sub = self._sub, None
        name, self._consumer = self._consumer, None
        js = self._js
        if sub is not None:
            await js.nc.fast_unsubscribe(sub)
        if name and not js.nc.is_closed:
            try:
                await js._api(f"CONSUMER.DELETE.{self.stream}.{name}", timeout=2.0)
            except errors.JetStreamError:
                pass  # best effort: the server removes it after inactive_threshold anyway

    def _reset(self, why: str) -> None:
        if self._resetting or self._stopped:
            return
        self._resetting = True
        self.resets += 1
        if self._sub is not None:  # stop handling its deliveries now; unsubscribed below
            self._js.nc.drop_fast(self._sub)
        self._js._spawn(self._recreate())

    async def _recreate(self) -> None:
        delay = 0.1
        try:
            await self._drop_consumer()
            while not self._stopped:
                try:
                    await self._create()
                    self._last_activity = time.monotonic()
                    return
                except errors.StreamNotFoundError as e:
                    self._fail(e)
                    return
                except (errors.JetStreamError, OSError, asyncio.TimeoutError):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
        finally:
            self._resetting = False

    def _fail(self, err: errors.JetStreamError) -> None:
        self.error = err
        self._stopped = True
        self._wake()

    # -- heartbeats ----------------------------------------------------------------------------
    def _arm_heartbeat(self, delay: float | None = None) -> None:
        if self._stopped:
            return
        loop = asyncio.get_running_loop()
        self._hb_timer = loop.call_later(2 * self._hb if delay is None else delay,
                                         self._check_heartbeat)

    def _check_heartbeat(self) -> None:
        if self._stopped:
            return
        idle = time.monotonic() - self._last_activity
        if idle >= 2 * self._hb and not self._resetting:
            self._reset("missed heartbeats")
            self._last_activity = time.monotonic()
            idle = 0.0
        self._arm_heartbeat(max(0.05, 2 * self._hb - idle))

    # -- delivery ------------------------------------------------------------------------------
    def _on_msg(self, subject: bytes, reply: bytes, data: bytes, hdr: bytes) -> None:
        if self._create_pending is not None:
            self._create_pending.append((subject, reply, data, hdr))
            return
        if self._stopped or self._resetting:
            return
        self._last_activity = time.monotonic()
        if hdr and not data:
            st = status_of(hdr)
            if st is not None and st[0] == 100:
                if reply:  # flow control request
                    if len(self._buf) > self._max_buffer:
                        self._held_fc = reply.decode()
                    else:
                        self._js._spawn(self._js.nc.publish_raw(reply.decode(), "", b""))
                    return
                h = decode_headers(hdr)  # idle heartbeat: check we saw everything
                last_c = h.get("Nats-Last-Consumer")
                if last_c is not None and int(last_c) != self._expected_cseq - 1:
                    self._reset("gap detected by heartbeat")
                    return
                stalled = h.get("Nats-Consumer-Stalled")
                if stalled:
                    self._js._spawn(self._js.nc.publish_raw(stalled, "", b""))
                return
            if st is not None and st[0] == 409 and "deleted" in st[1].lower():
                self._reset("consumer deleted")
                return
        if not reply:
            return
        r = reply.decode()
        toks = r.split(".")
        try:
            if len(toks) == 9:
                sseq, cseq, pending = int(toks[5]), int(toks[6]), int(toks[8])
            else:
                sseq, cseq, pending = int(toks[7]), int(toks[8]), int(toks[10])
        except (ValueError, IndexError):
            return
        if cseq != self._expected_cseq:
            self._reset("sequence gap")
            return
        self._expected_cseq = cseq + 1
        self._last_sseq = sseq
        if not self._initial_done and self._catch_up is not None and sseq > self._catch_up:
            self._initial_done = True  # caught up: everything before this was initial
            self._push(None)
        self._push(Msg(subject.decode(), data, None, r, _js=None, _hdr=hdr))
        if not self._initial_done:
            if self._initial_cseq and cseq >= self._initial_cseq:
                self._initial_cseq = 0
                ts = int(toks[7] if len(toks) == 9 else toks[9])
                if ts < self._initial_created_ns:
                    # Stored before the consumer existed, so every delivery so far was an
                    # initial value, and there were _initial_cseq of them: exactly done.
                    self._initial_done = True
                    self._push(None)
                else:
                    # Some initial values vanished before delivery (e.g. replaced in a
                    # history-1 bucket) and newer messages filled the count: deliver up to
                    # the stream's last sequence, which covers every replacement.
                    self._start_catch_up()
            elif pending == 0 and not self._verifying:
                # Initial messages were removed before delivery (or pending is stale, as
                # replicated streams can report): confirm with the server before ending.
                self._verifying = True
                self._js._spawn(self._verify_initial())

    def _start_catch_up(self) -> None:
        if not self._catching_up:
            self._catching_up = True
            self._js._spawn(self._fetch_catch_up())

    async def _fetch_catch_up(self) -> None:
        try:
            resp = await self._js._api(f"STREAM.INFO.{self.stream}")
        except errors.JetStreamError:
            self._catching_up = False  # the pending == 0 check still ends the initial values
            return
        last = int(resp.get("state", {}).get("last_seq", 0))
        if self._initial_done:
            return
        if self._last_sseq >= last:
            self._initial_done = True
            self._push(None)
            return
        self._catch_up = last
        if not self._verifying:  # nothing may follow: end now if the server has no more
            self._verifying = True
            await self._verify_initial()

    async def _verify_initial(self) -> None:
        try:
            name = self._consumer
            if name is None or self._stopped:
                return
            resp = await self._js._api(f"CONSUMER.INFO.{self.stream}.{name}")
            info = ConsumerInfo.from_json(resp)
            if (not self._initial_done and name == self._consumer and info.num_pending == 0
                    and info.delivered.consumer_seq <= self._expected_cseq - 1):
                self._initial_done = True
                self._push(None)
        except errors.JetStreamError:
            pass
        finally:
            self._verifying = False

    def _push(self, item: Msg | None) -> None:
        self._buf.append(item)
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _release_flow_control(self) -> None:
        if self._held_fc and len(self._buf) <= self._max_buffer // 2:
            fc, self._held_fc = self._held_fc, None
            self._js._spawn(self._js.nc.publish_raw(fc, "", b""))

    # -- iteration -----------------------------------------------------------------------------
    def __aiter__(self) -> OrderedFeed:
        return self

    async def _wait(self, timeout: float | None) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            if timeout is None:
                await self._waiter
            else:
                await asyncio.wait_for(self._waiter, timeout)
        finally:
            self._waiter = None

    async def next(self, timeout: float | None = None) -> Msg | None:
        """The next message (or the initial-values ``None``); StopAsyncIteration once stopped,
        JetStreamTimeoutError after ``timeout`` seconds."""
        while not self._buf:
            if self._stopped:
                if self.error is not None:
                    raise self.error
                raise StopAsyncIteration
            try:
                await self._wait(timeout)
            except asyncio.TimeoutError:
                raise errors.JetStreamTimeoutError(
                    f"nothing received within {timeout:g}s") from None
        item = self._buf.popleft()
        if self._held_fc:
            self._release_flow_control()
        return item

    async def __anext__(self) -> Msg | None:
        return await self.next()

    async def next_many(self) -> list[Msg | None]:
        """Everything buffered, waiting for at least one item ([] once stopped)."""
        while not self._buf:
            if self._stopped:
                if self.error is not None:
                    raise self.error
                return []
            await self._wait(None)
        out = list(self._buf)
        self._buf.clear()
        if self._held_fc:
            self._release_flow_control()
        return out
