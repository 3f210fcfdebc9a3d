"""Consumer management (create / update / get / delete / list) and the pull ``Consumer``.

``ConsumerManager`` is mixed into ``JetStream`` (methods take the stream name);
``StreamConsumerMethods`` gives ``Stream`` the same methods without it.
"""

from __future__ import annotations

import datetime
import inspect
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from . import _diff, errors, names
from ._conn import new_token
from ._model import format_time, make_config
from .batch import ArrowMethods
from .config import ConsumerConfig, OrderedConsumerConfig
from .consume import ConsumeMethods
from .info import ConsumerInfo, ConsumerPauseResponse, ConsumerResetResponse
from .pull import PullMethods

if TYPE_CHECKING:
    from .jetstream import JetStream
    from .ordered import OrderedConsumer
    from .push import PushConsumer


class Consumer(PullMethods, ConsumeMethods, ArrowMethods):
    """A pull consumer: ``fetch`` / ``next`` / ``consume`` / ``messages`` and info."""

    def __init__(self, js: JetStream, info: ConsumerInfo) -> None:
        self._js = js
        self._info = info
        self.stream: str = info.stream_name
        self.name: str = info.name

    def __repr__(self) -> str:
        return f"<Consumer {self.stream}/{self.name} pending={self._info.num_pending}>"

    def _repr_html_(self) -> str:
        """The cached info as bounded, escaped HTML (no network call)."""
        from ._repr import consumer_info_html
        return consumer_info_html(self._info, note_text="cached info; c.info() refreshes")

    def cached_info(self) -> ConsumerInfo:
        """The info from the last server call, without a network round trip."""
        return self._info

    async def info(self) -> ConsumerInfo:
        """Fresh consumer info from the server."""
        resp = await self._js._api(f"CONSUMER.INFO.{self.stream}.{self.name}")
        self._info = ConsumerInfo.from_json(resp)
        return self._info


def _check_kind(info: ConsumerInfo, push: bool) -> None:
    is_push = bool(info.config.deliver_subject)
    if push and not is_push:
        raise errors.NotPushConsumerError(
            f"consumer {info.name!r} on stream {info.stream_name!r} is a pull consumer; "
            "use consumer() instead")
    if not push and is_push:
        raise errors.NotPullConsumerError(
            f"consumer {info.name!r} on stream {info.stream_name!r} is a push consumer; "
            "use push_consumer() instead")


class ConsumerManager:
    """Consumer CRUD on ``JetStream``; every method takes the stream name first."""

    _api: Any
    _require: Any

    async def _upsert_consumer(self, stream: str, cfg: ConsumerConfig, action: str,
                               push: bool) -> ConsumerInfo:
        names.stream_name(stream)
        if push and not cfg.deliver_subject:
            raise errors.InvalidConfigError("a push consumer needs deliver_subject")
        if not push and cfg.deliver_subject:
            raise errors.InvalidConfigError(
                "deliver_subject makes a push consumer; use create_push_consumer()")
        if cfg.durable_name:
            names.consumer_name(cfg.durable_name)
        if cfg.name:
            names.consumer_name(cfg.name)
        if cfg.durable_name and cfg.name and cfg.durable_name != cfg.name:
            raise errors.InvalidConfigError("durable_name and name must be equal when both set")
        name = cfg.name or cfg.durable_name or new_token(8)
        if cfg.filter_subject and cfg.filter_subjects:
            raise errors.InvalidConfigError("give filter_subject or filter_subjects, not both")
        for f in ([cfg.filter_subject] if cfg.filter_subject else []) + list(
                cfg.filter_subjects or []):
            names.filter_subject(f)
        body = cfg.to_json()
        if not cfg.durable_name:
            body["name"] = name
        subj = f"CONSUMER.CREATE.{stream}.{name}"
        if cfg.filter_subject:  # the server refuses the subject form with filter_subjects
            subj += f".{cfg.filter_subject}"
        payload: dict[str, Any] = {"stream_name": stream, "config": body}
        if action:
            payload["action"] = action
        try:
            resp = await self._api(subj, payload)
        except errors.APIError as e:
            if e.err_code == 10148 or (action == "create" and e.err_code == 10013):
                err = errors.ConsumerExistsError(
                    f"consumer {name!r} already exists on stream {stream!r} with a different "
                    f"configuration", code=e.code, err_code=e.err_code)
                err.stream, err.consumer = stream, name
                try:
                    have = await self._api(f"CONSUMER.INFO.{stream}.{name}")
                except errors.JetStreamError:
                    raise err from None
                diff = _diff.differing_fields(body, have.get("config") or {})
                err.description += _diff.describe(diff)
                err.args = (err.description,)
                err.differences = diff  # type: ignore[attr-defined]
                raise err from None
            raise
        info = ConsumerInfo.from_json(resp)
        if cfg.filter_subjects and not info.config.filter_subjects:  # a pre-2.10 server
            raise errors.ConsumerMultipleFilterSubjectsNotSupportedError(
                "the server does not support multiple filter subjects")
        _check_kind(info, push)
        return info

    async def _consumer_info(self, stream: str, name: str) -> ConsumerInfo:
        names.stream_name(stream)
        names.consumer_name(name)
        return ConsumerInfo.from_json(await self._api(f"CONSUMER.INFO.{stream}.{name}"))

    # -- pull ----------------------------------------------------------------------------------
    async def create_consumer(self, stream: str, config: ConsumerConfig | None = None, /,
                              **fields: Any) -> Consumer:
        """Create a pull consumer (ConsumerExistsError if one exists with another config)."""
        cfg = make_config(ConsumerConfig, config, **fields)
        return Consumer(self, await self._upsert_consumer(stream, cfg, "create", False))  # type: ignore[arg-type]

    async def update_consumer(self, stream: str, config: ConsumerConfig | None = None, /,
                              **fields: Any) -> Consumer:
        """Update an existing pull consumer (ConsumerDoesNotExistError if missing)."""
        cfg = make_config(ConsumerConfig, config, **fields)
        return Consumer(self, await self._upsert_consumer(stream, cfg, "update", False))  # type: ignore[arg-type]

    async def create_or_update_consumer(self, stream: str,
                                        config: ConsumerConfig | None = None, /,
                                        **fields: Any) -> Consumer:
        """Create the pull consumer or update it to this configuration."""
        cfg = make_config(ConsumerConfig, config, **fields)
        return Consumer(self, await self._upsert_consumer(stream, cfg, "", False))  # type: ignore[arg-type]

    async def consumer(self, stream: str, name: str) -> Consumer:
        """A handle on an existing pull consumer (ConsumerNotFoundError if missing)."""
        info = await self._consumer_info(stream, name)
        _check_kind(info, False)
        return Consumer(self, info)  # type: ignore[arg-type]

    async def delete_consumer(self, stream: str, name: str) -> None:
        """Delete a consumer (pull or push)."""
        names.stream_name(stream)
        names.consumer_name(name)
        await self._api(f"CONSUMER.DELETE.{stream}.{name}")

    async def list_consumers(self, stream: str) -> AsyncIterator[ConsumerInfo]:
        """Info of every consumer on ``stream``."""
        names.stream_name(stream)
        async for it in self._paged(f"CONSUMER.LIST.{stream}", "consumers", {}):  # type: ignore[attr-defined]
            yield ConsumerInfo.from_json(it)

    async def consumer_names(self, stream: str) -> AsyncIterator[str]:
        """Name of every consumer on ``stream``."""
        names.stream_name(stream)
        async for it in self._paged(f"CONSUMER.NAMES.{stream}", "consumers", {}):  # type: ignore[attr-defined]
            yield it

    # -- ordered -------------------------------------------------------------------------------
    async def ordered_consumer(self, stream: str, config: OrderedConsumerConfig | None = None,
                               /, **fields: Any) -> OrderedConsumer:
        """An ordered consumer: ephemeral, AckNone, recreated on gaps; in-order delivery."""
        from .ordered import OrderedConsumer
        names.stream_name(stream)
        cfg = make_config(OrderedConsumerConfig, config, **fields)
        return OrderedConsumer(self, stream, cfg)  # type: ignore[arg-type]

    # -- push ----------------------------------------------------------------------------------
    async def create_push_consumer(self, stream: str, config: ConsumerConfig | None = None, /,
                                   **fields: Any) -> PushConsumer:
        """Create a push consumer (needs ``deliver_subject``)."""
        from .push import PushConsumer
        cfg = make_config(ConsumerConfig, config, **fields)
        return PushConsumer(self, await self._upsert_consumer(stream, cfg, "create", True))  # type: ignore[arg-type]

    async def update_push_consumer(self, stream: str, config: ConsumerConfig | None = None, /,
                                   **fields: Any) -> PushConsumer:
        """Update an existing push consumer."""
        from .push import PushConsumer
        cfg = make_config(ConsumerConfig, config, **fields)
        return PushConsumer(self, await self._upsert_consumer(stream, cfg, "update", True))  # type: ignore[arg-type]

    async def create_or_update_push_consumer(self, stream: str,
                                             config: ConsumerConfig | None = None, /,
                                             **fields: Any) -> PushConsumer:
        """Create the push consumer or update it to this configuration."""
        from .push import PushConsumer
        cfg = make_config(ConsumerConfig, config, **fields)
        return PushConsumer(self, await self._upsert_consumer(stream, cfg, "", True))  # type: ignore[arg-type]

    async def push_consumer(self, stream: str, name: str) -> PushConsumer:
        """A handle on an existing push consumer (NotPushConsumerError for a pull one)."""
        from .push import PushConsumer
        info = await self._consumer_info(stream, name)
        _check_kind(info, True)
        return PushConsumer(self, info)  # type: ignore[arg-type]


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
