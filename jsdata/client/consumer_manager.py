"""Consumer management on ``JetStream`` (create / update / get / delete / list).

``ConsumerManager`` is mixed into ``JetStream`` (methods take the stream name);
``StreamConsumerMethods`` gives ``Stream`` the same methods without it. Handles are made
through ``consumer_class`` / ``ordered_consumer_class`` / ``push_consumer_class``, which the
assembled ``jsdata.aio.JetStream`` points at the classes carrying the data-layer methods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from . import names
from ._model import make_config
from .config import ConsumerConfig, OrderedConsumerConfig
from .consumer import Consumer, check_kind, upsert_consumer
from .context import Context
from .info import ConsumerInfo
from .ordered import OrderedConsumer
from .push import PushConsumer


class ConsumerManager(Context):
    """Consumer CRUD on ``JetStream``; every method takes the stream name first."""

    consumer_class: ClassVar[type[Consumer]] = Consumer
    ordered_consumer_class: ClassVar[type[OrderedConsumer]] = OrderedConsumer
    push_consumer_class: ClassVar[type[PushConsumer]] = PushConsumer

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
        return self.consumer_class(self, info)

    async def update_consumer(self, stream: str, config: ConsumerConfig | None = None, /,
                              **fields: Any) -> Consumer:
        """Update an existing pull consumer (ConsumerDoesNotExistError if missing)."""
        cfg = make_config(ConsumerConfig, config, **fields)
        info = await upsert_consumer(self, stream, cfg, "update", False)
        return self.consumer_class(self, info)

    async def create_or_update_consumer(self, stream: str,
                                        config: ConsumerConfig | None = None, /,
                                        **fields: Any) -> Consumer:
        """Create the pull consumer or update it to this configuration."""
        cfg = make_config(ConsumerConfig, config, **fields)
        info = await upsert_consumer(self, stream, cfg, "", False)
        return self.consumer_class(self, info)

    async def consumer(self, stream: str, name: str) -> Consumer:
        """A handle on an existing pull consumer (ConsumerNotFoundError if missing)."""
        info = await self._consumer_info(stream, name)
        check_kind(info, False)
        return self.consumer_class(self, info)

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
        return self.ordered_consumer_class(self, stream, cfg)

    # -- push ----------------------------------------------------------------------------------
    async def create_push_consumer(self, stream: str, config: ConsumerConfig | None = None, /,
                                   **fields: Any) -> PushConsumer:
        """Create a push consumer (needs ``deliver_subject``)."""
        cfg = make_config(ConsumerConfig, config, **fields)
        info = await upsert_consumer(self, stream, cfg, "create", True)
        return self.push_consumer_class(self, info)

    async def update_push_consumer(self, stream: str, config: ConsumerConfig | None = None, /,
                                   **fields: Any) -> PushConsumer:
        """Update an existing push consumer."""
        cfg = make_config(ConsumerConfig, config, **fields)
        info = await upsert_consumer(self, stream, cfg, "update", True)
        return self.push_consumer_class(self, info)

    async def create_or_update_push_consumer(self, stream: str,
                                             config: ConsumerConfig | None = None, /,
                                             **fields: Any) -> PushConsumer:
        """Create the push consumer or update it to this configuration."""
        cfg = make_config(ConsumerConfig, config, **fields)
        info = await upsert_consumer(self, stream, cfg, "", True)
        return self.push_consumer_class(self, info)

    async def push_consumer(self, stream: str, name: str) -> PushConsumer:
        """A handle on an existing push consumer (NotPushConsumerError for a pull one)."""
        info = await self._consumer_info(stream, name)
        check_kind(info, True)
        return self.push_consumer_class(self, info)


def _stream_scoped(name: str) -> Any:
    async def method(self: StreamConsumerMethods, *args: Any, **kw: Any) -> Any:
        return await getattr(self._js, name)(self.name, *args, **kw)

    method.__name__ = name
    method.__qualname__ = f"Stream.{name}"
    method.__doc__ = getattr(ConsumerManager, name).__doc__
    return method


def _stream_scoped_iter(name: str) -> Any:
    def method(self: StreamConsumerMethods) -> Any:
        return getattr(self._js, name)(self.name)

    method.__name__ = name
    method.__qualname__ = f"Stream.{name}"
    method.__doc__ = getattr(ConsumerManager, name).__doc__
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
    list_consumers = _stream_scoped_iter("list_consumers")
    consumer_names = _stream_scoped_iter("consumer_names")
