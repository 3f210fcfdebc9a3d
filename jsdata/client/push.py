"""Push consumers: ``consume(handler)`` on the consumer's deliver subject (nats.go push.go).

The subscription joins the consumer's ``deliver_group`` as a queue group when it has one.
Idle heartbeats configured on the consumer are monitored (two missed ones are reported to
the error handler as :class:`~jsdata.errors.NoHeartbeatError`); flow-control requests are
answered once every message received before them has been handed to the handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import errors
from .consume import (
    _CLOSED,
    _DRAINED,
    _RUNNING,
    ConsumeContext,
    PullOptions,
    _check_handler,
)
from .headers import header_value
from .info import ConsumerInfo
from .message import Msg

if TYPE_CHECKING:
    from .context import Context


class _FlowControl:
    """A flow-control request waiting in the buffer behind the messages sent before it."""

    __slots__ = ("reply",)

    def __init__(self, reply: str) -> None:
        self.reply = reply


class PushConsumeContext(ConsumeContext):
    """A running push consume: ``stop()``, ``drain()``, ``closed`` (a ConsumeContext)."""

    def __init__(self, js: Context, info: ConsumerInfo, handler: Callable[[Msg], Any],
                 error_handler: Callable[[Any, BaseException], Any] | None = None) -> None:
        hb = info.config.idle_heartbeat or 0.0
        opts = PullOptions(max_messages=0, max_bytes=0, limit_size=False, expires=0.0,
                           heartbeat=hb, threshold_messages=-1, threshold_bytes=-1)
        super().__init__(js, info.stream_name, info.name, opts, handler, error_handler)
        self._deliver_subject = info.config.deliver_subject or ""
        self._group = info.config.deliver_group or None

    async def _open_sub(self) -> None:
        nc = self._js.nc
        self._inbox = self._deliver_subject
        # nats-py subscription (re-subscribed after reconnects) routed to the fast path.
        sub = await nc.fast_subscribe(self._deliver_subject, self._on_msg, queue=self._group or "")
        self._sub = sub

    async def _pull_now(self) -> None:
        """Push consumers do not pull."""

    def _check_pending(self) -> None:
        """Push consumers do not pull."""

    def _on_conn_event(self, event: str) -> None:
        if event == "closed" and self._state != _CLOSED:
            self._fail(errors.ConnectionClosedError("the connection was closed"))

    def _missed_heartbeat(self) -> None:
        self._notify(errors.NoHeartbeatError(
            f"no heartbeat received for {2 * self._opts.heartbeat:g}s "
            f"(idle_heartbeat {self._opts.heartbeat:g}s)"))

    def _on_status(self, code: int, desc: str, reply: bytes, hdr: bytes) -> None:
        low = desc.lower()
        if code == 100:
            if "flow" in low and reply:  # "FlowControl Request"
                if self._state >= _DRAINED:
                    return
                if self._inline and not self._buf:
                    self._respond(reply.decode())
                else:
                    self._enqueue(_FlowControl(reply.decode()))
                return
            stalled = header_value(hdr, b"Nats-Consumer-Stalled")
            if stalled:  # a heartbeat telling that a flow-control reply went missing
                self._respond(stalled)
            return
        if code == 409 and "consumer deleted" in low:
            self._fail(errors.ConsumerDeletedError(f"consumer deleted ({code} {desc})",
                                                   code=code))
        elif code == 409 and "leadership change" in low:
            self._notify(errors.ConsumerLeadershipChangedError(desc, code=code))

    def _respond(self, reply: str) -> None:
        nc = self._js.nc
        if not nc.publish_now(reply, "", b""):
            self._js._spawn(self._respond_later(reply))

    async def _respond_later(self, reply: str) -> None:
        try:
            await self._js.nc.publish_raw(reply, "", b"")
        except errors.JetStreamError as e:
            self._notify(e)

    async def _deliver_control(self, item: Any) -> None:
        if isinstance(item, _FlowControl) and self._state == _RUNNING:
            self._respond(item.reply)


class PushConsumer:
    """A push consumer: ``consume(handler, error_handler=None)``, ``info()``, ``cached_info()``."""

    def __init__(self, js: Context, info: ConsumerInfo) -> None:
        self._js = js
        self._info = info
        self.stream: str = info.stream_name
        self.name: str = info.name
        self._ctx: PushConsumeContext | None = None

    def __repr__(self) -> str:
        return (f"<PushConsumer {self.stream}/{self.name} "
                f"deliver_subject={self._info.config.deliver_subject!r}>")

    def cached_info(self) -> ConsumerInfo:
        """The info from the last server call, without a network round trip."""
        return self._info

    async def info(self) -> ConsumerInfo:
        """Fresh consumer info from the server."""
        resp = await self._js._api(f"CONSUMER.INFO.{self.stream}.{self.name}")
        self._info = ConsumerInfo.from_json(resp)
        return self._info

    async def consume(self, handler: Callable[[Msg], Any],
                      error_handler: Callable[[Any, BaseException], Any] | None = None
                      ) -> ConsumeContext:
        """Receive the consumer's messages with ``handler(msg)``, in order.

        ``error_handler(ctx, err)`` hears about missed idle heartbeats and other problems.
        One consume at a time per PushConsumer (ConsumerAlreadyConsumingError otherwise).
        """
        _check_handler(handler)
        if self._ctx is not None and not self._ctx.closed:
            raise errors.ConsumerAlreadyConsumingError(
                f"push consumer {self.name!r} is already consuming; stop it first")
        cc = PushConsumeContext(self._js, self._info, handler, error_handler)
        await cc._start()
        self._ctx = cc
        return cc
