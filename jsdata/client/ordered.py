"""Ordered consumers: in-order, gap-free delivery over recreated ephemeral pull consumers.

Follows nats.go ``jetstream/ordered.go``: the server-side consumer is ephemeral, AckNone,
memory-stored, R1 and named ``<prefix>_<serial>``. On a consumer-sequence gap, two missed
heartbeats, a deleted consumer, no responders or a reconnect it is deleted (best effort) and
recreated with ``deliver_policy=by_start_sequence`` at the last delivered stream sequence + 1.
The user's start options only apply until the first message was delivered. Each fetch
recreates the consumer and continues after the last stream sequence the previous fetch
received. ``consume``/``messages`` and the fetch methods cannot be mixed on one instance.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .. import errors
from ._conn import new_token
from ._portable import on_loop
from .config import ConsumerConfig, DeliverPolicy, OrderedConsumerConfig
from .consume import ConsumeMethods
from .consumer import Consumer, upsert_consumer
from .info import ConsumerInfo
from .pull import MessageBatch, PullMethods, ack_seqs, pull
from .pull_context import _RUNNING, _OrderedHooks, _PullContext

if TYPE_CHECKING:
    from .context import Context

DEFAULT_INACTIVE_THRESHOLD = 300.0  # 5 minutes, as nats.go
_RESET_INITIAL_WAIT = 1.0
_RESET_MAX_WAIT = 10.0
_DELETE_TIMEOUT = 10.0

_CONSUME, _FETCH = "consume", "fetch"
# errors worth retrying when a fetch recreates the consumer (the server may come back)
_TRANSIENT = (errors.JetStreamTimeoutError, errors.NotConnectedError,
              errors.NoRespondersError, errors.JetStreamNotEnabledError)


class OrderedConsumer(PullMethods, ConsumeMethods, _OrderedHooks):
    """An ordered consumer: every message of the stream (or filter) exactly once, in order.

    Offers the pull consumer's ``fetch`` / ``fetch_bytes`` / ``fetch_no_wait`` / ``next``
    and ``consume`` / ``messages`` (not both on one instance), ``info()`` and
    ``cached_info()`` of the current underlying consumer. Each fetch recreates the consumer
    and continues after the previous fetch (less efficient than ``consume``/``messages``).
    """

    def __init__(self, js: Context, stream: str, cfg: OrderedConsumerConfig) -> None:
        self._js = js
        self.stream = stream
        self._cfg = cfg
        self._prefix = cfg.name_prefix or new_token(8)
        self._serial = 0
        self._cursor = 0  # stream sequence of the last delivered message
        self._current: Consumer | None = None
        self._kind: str | None = None
        self._ctx: _PullContext | None = None
        self._fetch: MessageBatch | None = None
        self._lock = asyncio.Lock()
        self.resets = 0  # how many times the consumer was recreated

    def __repr__(self) -> str:
        return f"<OrderedConsumer {self.stream}/{self.name or self._prefix + '_*'}>"

    @property
    def name(self) -> str | None:  # type: ignore[override]  # the mixins use Consumer.name
        """Name of the current underlying consumer (None before the first one exists)."""
        return self._current.name if self._current is not None else None

    # -- info ----------------------------------------------------------------------------------
    def cached_info(self) -> ConsumerInfo | None:
        """Info of the current underlying consumer from its last server call (None if none)."""
        return self._current.cached_info() if self._current is not None else None

    async def info(self) -> ConsumerInfo:
        """Fresh info of the current underlying consumer (which the library may replace)."""
        if self._current is None:
            raise errors.OrderedConsumerNotCreatedError(
                "the ordered consumer has not created a server-side consumer yet "
                "(it does on the first consume/messages/fetch)")
        return await self._current.info()

    # -- the server-side consumer --------------------------------------------------------------
    def _consumer_config(self) -> ConsumerConfig:
        """Config of the next consumer (nats.go ``getConsumerConfig``)."""
        self._serial += 1
        cfg = self._cfg
        filters = list(cfg.filter_subjects or [])
        fields: dict[str, Any] = {
            "name": f"{self._prefix}_{self._serial}",
            "deliver_policy": DeliverPolicy.BY_START_SEQUENCE,
            "opt_start_seq": self._cursor + 1 if self._cursor else (cfg.opt_start_seq or 1),
            "ack_policy": "none",
            "inactive_threshold": (DEFAULT_INACTIVE_THRESHOLD if cfg.inactive_threshold is None
                                   else cfg.inactive_threshold),
            "num_replicas": 1,
            "mem_storage": True,
            "headers_only": cfg.headers_only,
            "replay_policy": cfg.replay_policy,
            "metadata": cfg.metadata,
        }
        if len(filters) == 1:
            fields["filter_subject"] = filters[0]
        elif filters:
            fields["filter_subjects"] = filters
        if not self._cursor:  # nothing delivered yet: the user's start options apply
            dp = DeliverPolicy(cfg.deliver_policy)
            fields["deliver_policy"] = dp
            if dp == DeliverPolicy.BY_START_TIME:
                fields["opt_start_seq"] = None
                fields["opt_start_time"] = cfg.opt_start_time
            elif dp != DeliverPolicy.BY_START_SEQUENCE:
                fields["opt_start_seq"] = None
            else:
                fields["opt_start_seq"] = cfg.opt_start_seq
            if dp == DeliverPolicy.LAST_PER_SUBJECT and not filters:
                fields["filter_subjects"] = [">"]
        return ConsumerConfig(**fields)

    async def _upsert(self, cfg: ConsumerConfig) -> Consumer:
        return Consumer(self._js, await upsert_consumer(self._js, self.stream, cfg, "", False))

    async def _create(self) -> Consumer:
        c = await self._upsert(self._consumer_config())
        self._current = c
        return c

    async def _ensure(self) -> Consumer:
        """Create the first consumer if there is none (nats.go creates it up front)."""
        async with self._lock:
            if self._current is None:
                return await self._create()
            return self._current

    def _drop_current(self) -> None:
        """Delete the current consumer in the background (best effort)."""
        cur, self._current = self._current, None
        if cur is not None:
            self._js._spawn(self._delete_quietly(cur.name))

    async def _delete_quietly(self, name: str) -> None:
        try:
            await self._js._api(f"CONSUMER.DELETE.{self.stream}.{name}",
                                timeout=min(self._js.timeout, _DELETE_TIMEOUT))
        except Exception:  # noqa: BLE001 - best effort: it may be gone, or the server down
            pass

    async def _recreate(self, ctx: _PullContext | None = None) -> str:
        """Replace the consumer, retrying with backoff (max_reset_attempts per reset).

        A running consume/messages context retries every error (as nats.go); a fetch only
        retries transient ones (timeouts, no connection) and raises the server's answer.
        """
        async with self._lock:
            self._drop_current()
            self.resets += 1
            cfg = self._consumer_config()
            attempts = self._cfg.max_reset_attempts or 0
            wait = _RESET_INITIAL_WAIT
            tries = 0
            while True:
                if ctx is not None and ctx._state != _RUNNING:
                    raise errors.MsgIteratorClosedError("the ordered consumer was stopped")
                try:
                    c = await self._upsert(cfg)
                except errors.JetStreamError as e:
                    tries += 1
                    if attempts and tries >= attempts:
                        raise
                    if ctx is None and not isinstance(e, _TRANSIENT):
                        raise  # a fetch gets the server's answer (e.g. no such stream) now
                    if ctx is not None:
                        ctx._notify(e)
                        await ctx._reset_sleep(wait)
                    else:
                        await asyncio.sleep(wait)
                    wait = min(wait * 2, _RESET_MAX_WAIT)
                    continue
                self._current = c
                return c.name

    def _delivered(self, stream_seq: int) -> None:
        self._cursor = stream_seq

    # -- consume / messages (ConsumeMethods) -------------------------------------------------
    async def _context_consumer(self) -> str:
        if self._kind == _FETCH:
            raise errors.OrderedConsumerUsedAsFetchError(
                "this ordered consumer is used with fetch; create another one to consume")
        prev = self._ctx
        if prev is not None and not prev.closed:
            raise errors.OrderedConsumerConcurrentRequestsError(
                "this ordered consumer is already consuming; stop it first")
        self._ctx = None
        self._kind = _CONSUME
        if prev is not None:
            # A stopped consume dropped what it had buffered: resume after the last message
            # the user actually received, on a fresh consumer.
            seqs = ack_seqs(prev._last_handled) if prev._last_handled else None
            self._cursor = seqs[1] if seqs is not None else prev._start_cursor
            return await self._recreate()
        c = self._current if self._current is not None else await self._ensure()
        return c.name

    def _context_created(self, ctx: _PullContext) -> None:
        ctx._start_cursor = self._cursor
        self._ctx = ctx

    # -- fetch (PullMethods) -------------------------------------------------------------------
    async def _pull(self, **request: Any) -> MessageBatch:
        """One pull request on a recreated consumer, after the previous fetch's last message."""
        if self._kind == _CONSUME:
            raise errors.OrderedConsumerUsedAsConsumeError(
                "this ordered consumer is used with consume/messages; create another one to "
                "fetch")
        prev = self._fetch
        if prev is not None:
            if not prev.done:
                raise errors.OrderedConsumerConcurrentRequestsError(
                    "the previous fetch of this ordered consumer is still running")
            last = prev._last_reply
            if last:
                seqs = ack_seqs(last.decode())
                if seqs is not None:
                    self._cursor = seqs[1]
        self._kind = _FETCH
        # the consumer is (re)created on the loop (its lock and retries live there); the pull
        # request itself is sent from the calling thread when driven there
        if self._current is None:
            name = (await on_loop(self._ensure())).name
        else:
            await on_loop(self._recreate())
            assert self._current is not None
            name = self._current.name
        mb = await pull(self._js, self.stream, name, resend=False, **request)
        self._fetch = mb
        return mb
