"""Consumer management on ``JetStream`` (create / update / get / delete / list).

``ConsumerManager`` is mixed into ``JetStream`` (methods take the stream name);
``StreamConsumerMethods`` gives ``Stream`` the same methods without it. Handles are made
through ``_consumer_class`` / ``_ordered_consumer_class`` / ``_push_consumer_class``, which the
assembled ``jsdata.aio.JetStream`` points at the classes carrying the data-layer methods.
"""

from __future__ import annotations

import datetime
import inspect
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from .. import errors
from . import names
from ._model import make_config
from .config import ConsumerConfig, OrderedConsumerConfig
from .consumer import Consumer, check_kind, upsert_consumer
from .context import Context
from .info import ConsumerInfo, ConsumerPauseResponse, ConsumerResetResponse
from .ordered import OrderedConsumer
from .push import PushConsumer
from .times import format_time


class ConsumerManager(Context):
    """Consumer CRUD on ``JetStream``; every method takes the stream name first."""

    _consumer_class: ClassVar[type[Consumer]] = Consumer
    _ordered_consumer_class: ClassVar[type[OrderedConsumer]] = OrderedConsumer
    _push_consumer_class: ClassVar[type[PushConsumer]] = PushConsumer

    async def _consumer_info(self, stream: str, name: str) -> ConsumerInfo:
        names.stream_name(stream)
        names.consumer_name(name)
        return ConsumerInfo.from_json(await self._api(f"CONSUMER.INFO.{stream}.{name}"))

    # -- pull ----------------------------------------------------------------------------------
    async def create_consumer(self, stream: str, config: ConsumerConfig | None = None, /,
                              **fields: Any) -> Consumer:
        """Create a pull consumer (ConsumerExistsError if one exists with another config)."""
        cfg = make_config(ConsumerConfig, config, **fields)
        info = await upsert_consumer(self, stream, cfg, "create", False)
        return self._consumer_class(self, info)

    async def update_consumer(self, stream: str, config: ConsumerConfig | None = None, /,
                              **fields: Any) -> Consumer:
        """Update an existing pull consumer (ConsumerDoesNotExistError if missing)."""
        cfg = make_config(ConsumerConfig, config, **fields)
        info = await upsert_consumer(self, stream, cfg, "update", False)
        return self._consumer_class(self, info)

    async def create_or_update_consumer(self, stream: str,
                                        config: ConsumerConfig | None = None, /,
                                        **fields: Any) -> Consumer:
        """Create the pull consumer or update it to this configuration."""
        cfg = make_config(ConsumerConfig, config, **fields)
        info = await upsert_consumer(self, stream, cfg, "", False)
        return self._consumer_class(self, info)

    async def consumer(self, stream: str, name: str) -> Consumer:
        """A handle on an existing pull consumer (ConsumerNotFoundError if missing)."""
        info = await self._consumer_info(stream, name)
        check_kind(info, False)
        return self._consumer_class(self, info)

    async def delete_consumer(self, stream: str, name: str) -> None:
        """Delete a consumer (pull or push)."""
        names.stream_name(stream)
        names.consumer_name(name)
        await self._api(f"CONSUMER.DELETE.{stream}.{name}")

    async def list_consumers(self, stream: str) -> AsyncIterator[ConsumerInfo]:
        """Info of every consumer on ``stream``."""
        names.stream_name(stream)
        async for it in self._paged(f"CONSUMER.LIST.{stream}", "consumers", {}):
            yield ConsumerInfo.from_json(it)

    async def consumer_names(self, stream: str) -> AsyncIterator[str]:
        """Name of every consumer on ``stream``."""
        names.stream_name(stream)
        async for it in self._paged(f"CONSUMER.NAMES.{stream}", "consumers", {}):
            yield it

    # -- ordered -------------------------------------------------------------------------------
    async def ordered_consumer(self, stream: str, config: OrderedConsumerConfig | None = None,
                               /, **fields: Any) -> OrderedConsumer:
        """An ordered consumer: ephemeral, AckNone, recreated on gaps; in-order delivery."""
        names.stream_name(stream)
        cfg = make_config(OrderedConsumerConfig, config, **fields)
        return self._ordered_consumer_class(self, stream, cfg)

    # -- push ----------------------------------------------------------------------------------
    async def create_push_consumer(self, stream: str, config: ConsumerConfig | None = None, /,
                                   **fields: Any) -> PushConsumer:
        """Create a push consumer (needs ``deliver_subject``)."""
        cfg = make_config(ConsumerConfig, config, **fields)
        info = await upsert_consumer(self, stream, cfg, "create", True)
        return self._push_consumer_class(self, info)

    async def update_push_consumer(self, stream: str, config: ConsumerConfig | None = None, /,
                                   **fields: Any) -> PushConsumer:
        """Update an existing push consumer."""
        cfg = make_config(ConsumerConfig, config, **fields)
        info = await upsert_consumer(self, stream, cfg, "update", True)
        return self._push_consumer_class(self, info)

    async def create_or_update_push_consumer(self, stream: str,
                                             config: ConsumerConfig | None = None, /,
                                             **fields: Any) -> PushConsumer:
        """Create the push consumer or update it to this configuration."""
        cfg = make_config(ConsumerConfig, config, **fields)
        info = await upsert_consumer(self, stream, cfg, "", True)
        return self._push_consumer_class(self, info)

    async def push_consumer(self, stream: str, name: str) -> PushConsumer:
        """A handle on an existing push consumer (NotPushConsumerError for a pull one)."""
        info = await self._consumer_info(stream, name)
        check_kind(info, True)
        return self._push_consumer_class(self, info)

    # -- control (nats-server 2.11+ / 2.14+) ---------------------------------------------------
    async def pause_consumer(self, stream: str, name: str,
                             until: datetime.datetime | datetime.timedelta | float
                             ) -> ConsumerPauseResponse:
        """Pause delivery of a consumer until ``until`` (a datetime, naive = UTC; or a
        timedelta / seconds from now); pull requests wait, nothing is delivered meanwhile."""
        self._require("consumer pause")
        names.stream_name(stream)
        names.consumer_name(name)
        if isinstance(until, datetime.datetime):
            at = until if until.tzinfo else until.replace(tzinfo=datetime.timezone.utc)
        elif isinstance(until, datetime.timedelta) or (
                isinstance(until, (int, float)) and not isinstance(until, bool)):
            secs = until.total_seconds() if isinstance(until, datetime.timedelta) else until
            at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=secs)
        else:
            raise errors.InvalidArgumentError(
                f"pause_consumer: until must be a datetime, timedelta or seconds, got "
                f"{type(until).__name__}")
        resp = await self._api(f"CONSUMER.PAUSE.{stream}.{name}",
                               {"pause_until": format_time(at)},
                               context=f"pausing consumer {name!r} of stream {stream!r}")
        return ConsumerPauseResponse.from_json(resp)

    async def resume_consumer(self, stream: str, name: str) -> ConsumerPauseResponse:
        """Resume a paused consumer at once."""
        self._require("consumer pause")
        names.stream_name(stream)
        names.consumer_name(name)
        resp = await self._api(f"CONSUMER.PAUSE.{stream}.{name}", {},
                               context=f"resuming consumer {name!r} of stream {stream!r}")
        return ConsumerPauseResponse.from_json(resp)

    async def reset_consumer(self, stream: str, name: str, seq: int | None = None
                             ) -> ConsumerResetResponse:
        """Move a consumer's delivery position (nats-server 2.14+): with ``seq=None`` back to
        its ack floor + 1 (redelivering what is unacknowledged), else to stream sequence
        ``seq``. Pending acks are forgotten."""
        self._require("consumer reset")
        names.stream_name(stream)
        names.consumer_name(name)
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 1):
            raise errors.InvalidArgumentError(f"reset_consumer: seq must be an int >= 1, "
                                              f"got {seq!r}")
        resp = await self._api(f"CONSUMER.RESET.{stream}.{name}",
                               {"seq": seq} if seq is not None else None,
                               context=f"resetting consumer {name!r} of stream {stream!r}")
        return ConsumerResetResponse.from_json(resp)

    async def unpin_consumer(self, stream: str, name: str, group: str) -> None:
        """Release the pinned client of priority group ``group`` (pinned_client policy):
        the next pull of any client in the group gets the pin."""
        self._require("priority groups")
        names.stream_name(stream)
        names.consumer_name(name)
        if not group or not isinstance(group, str):
            raise errors.InvalidArgumentError("unpin_consumer: give the priority group name")
        await self._api(f"CONSUMER.UNPIN.{stream}.{name}", {"group": group},
                        context=f"unpinning group {group!r} of consumer {name!r} on "
                                f"stream {stream!r}")


def _without_stream(fn: Any) -> inspect.Signature:
    """The signature of ``JetStream`` method ``fn`` without its ``stream`` parameter."""
    sig = inspect.signature(fn)
    return sig.replace(parameters=[p for p in sig.parameters.values() if p.name != "stream"])


def _stream_scoped(name: str) -> Any:
    async def method(self: StreamConsumerMethods, *args: Any, **kw: Any) -> Any:
        return await getattr(self._js, name)(self.name, *args, **kw)

    method.__name__ = name
    method.__qualname__ = f"Stream.{name}"
    method.__doc__ = getattr(ConsumerManager, name).__doc__
    method.__signature__ = _without_stream(getattr(ConsumerManager, name))  # type: ignore[attr-defined]
    return method


def _stream_scoped_iter(name: str) -> Any:
    def method(self: StreamConsumerMethods) -> Any:
        return getattr(self._js, name)(self.name)

    method.__name__ = name
    method.__qualname__ = f"Stream.{name}"
    method.__doc__ = getattr(ConsumerManager, name).__doc__
    method.__signature__ = _without_stream(getattr(ConsumerManager, name))  # type: ignore[attr-defined]
    return method


class StreamConsumerMethods:
    """The consumer methods of ``JetStream`` bound to one stream (``Stream`` mixes this in)."""

    _js: Any
    name: str

    create_consumer = _stream_scoped("create_consumer")
    update_consumer = _stream_scoped("update_consumer")
    create_or_update_consumer = _stream_scoped("create_or_update_consumer")
    consumer = _stream_scoped("consumer")
    delete_consumer = _stream_scoped("delete_consumer")
    ordered_consumer = _stream_scoped("ordered_consumer")
    create_push_consumer = _stream_scoped("create_push_consumer")
    update_push_consumer = _stream_scoped("update_push_consumer")
    create_or_update_push_consumer = _stream_scoped("create_or_update_push_consumer")
    push_consumer = _stream_scoped("push_consumer")
    pause_consumer = _stream_scoped("pause_consumer")
    resume_consumer = _stream_scoped("resume_consumer")
    reset_consumer = _stream_scoped("reset_consumer")
    unpin_consumer = _stream_scoped("unpin_consumer")
    list_consumers = _stream_scoped_iter("list_consumers")
    consumer_names = _stream_scoped_iter("consumer_names")
