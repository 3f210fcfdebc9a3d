"""Blocking-only extras of the core's twins (attached by ``jsdata._twins``).

``jsdata.JetStream.close`` also stops the loop thread; ``publish_async`` validates on the
caller's thread and sends from the loop without a round trip; ``Msg.ack`` and friends are
checked here and sent fire-and-forget (as Go's ``Ack``); a blocking ``consume`` handler runs
on the handler thread (``ThreadHandler``) and ``stop``/``drain`` are safe inside it.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from .. import errors
from ..blocking.loop import LoopThread
from ..blocking.twin import _callback, unwrap, wrap
from . import message as _msg
from .consume import ConsumeContext
from .message import Msg

if TYPE_CHECKING:
    from .info import PubAck
from .pull_context import _CLOSED, _check_handler


class _JetStreamClose:
    """Blocking-only parts of ``jsdata.JetStream``: closing also stops the loop thread."""

    _core: Any
    _lt: LoopThread | None

    def close(self) -> None:
        """Close the connection and join the background threads."""
        lt = self._lt
        if lt is None or lt.closed:
            return
        try:
            lt.run(self._core.close(), report=False)
        finally:
            lt.stop()
        lt.raise_failed()  # a fire-and-forget call failed and nothing reported it yet

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def nc(self) -> Any:
        """The underlying nats-py connection (lives on the background loop thread)."""
        return self._core.nc


class PubAckFutureExtras:
    """``concurrent.futures``-style waiting for ``jsdata.PubAckFuture``."""

    _core: Any
    _lt: LoopThread | None

    def result(self, timeout: float | None = None) -> PubAck:
        """Block until the ack arrives (or its error, or ``timeout`` seconds pass)."""
        if self._core.done():
            return self._core.result()
        assert self._lt is not None
        return self._lt.run(self._core.wait(timeout))

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The publish's error (None when it was acked), waiting up to ``timeout``."""
        try:
            self.result(timeout)
        except errors.JetStreamTimeoutError:
            if not self._core.done():
                raise
        except BaseException as e:  # noqa: BLE001
            return e
        return self._core.exception()

    def done(self) -> bool:
        """Whether the ack (or its error) has arrived."""
        return bool(self._core.done())


class _AsyncPublish:
    """Blocking ``publish_async``: validate here, send from the loop without a round trip."""

    _core: Any
    _lt: LoopThread | None

    def publish_async(self, subject: str, data: Any = b"", **opts: Any) -> Any:
        """Publish without waiting for the ack; returns a PubAckFuture."""
        core, lt = self._core, self._lt
        assert lt is not None
        parts = core._prepare_publish(subject, data, **opts)
        size = len(parts[1]) + len(parts[2])
        if size > core.nc.max_payload:  # raise here, as the asyncio API does, not on the future
            raise errors.MaxPayloadExceededError(
                f"message of {size} bytes exceeds the server's max_payload of "
                f"{core.nc.max_payload} bytes")
        paf = core._new_paf(*parts)
        if len(core._pa) + (lt._nowait_submitted - lt._nowait_done) >= core._pa_max:
            # one round trip per half window, not per message; raises TooManyStalledMsgsError
            lt.run(core._wait_for_room(max(1, core._pa_max // 2)))
        # joined to the burst still queued for the loop once the ack subscription is up (a
        # burst goes as soon as the loop takes it: holding publishes back for a timer left
        # the server idle, ~15 % fewer msgs/s); the coroutine (which starts it) before
        if core._pa_prefix:
            lt.submit_burst(core._submit_pafs, paf, _paf_call)
        else:
            lt.submit_nowait(_submit_or_fail(core, paf), partial(_publish_call, subject))
        return wrap(paf, lt)

    def publish_msg_async(self, msg: Any, **opts: Any) -> Any:
        """Publish a Msg without waiting for the ack."""
        m = unwrap(msg, self._lt)
        return self.publish_async(m.subject, m.data,
                                  headers=m._headers or (m.headers if m._hdr else None), **opts)

    def publish_async_pending(self) -> int:
        """How many async publishes await their ack (those still queued to send included)."""
        assert self._lt is not None
        return int(self._lt.run(_pending(self._core)))  # runs after the queued sends


def _publish_call(subject: str) -> str:
    return f"publish_async to {subject!r}"


def _paf_call(paf: Any) -> str:
    return _publish_call(paf.subject)


async def _pending(core: Any) -> int:
    return int(core.publish_async_pending())


async def _submit_or_fail(core: Any, paf: Any) -> None:
    try:
        await core._submit_paf(paf)
    except errors.JetStreamError as e:
        paf._set_exception(e)


class JetStreamExtras(_JetStreamClose, _AsyncPublish):
    """Every blocking-only part of ``jsdata.JetStream``."""


def _ack_call(item: tuple[bytes, int, str]) -> str:
    """What a failed fire-and-forget ack was (built only when one fails), from its queued
    item: the frame ``PUB <reply> <size>\r\n<body>\r\n``, the size, the message subject."""
    frame, size, subject = item
    head, _, rest = frame.partition(b"\r\n")
    reply = head.split(b" ")[1].decode(errors="replace")
    return f"{rest[:min(size, 5)].decode(errors='replace').strip()} of {subject!r} (reply {reply})"


class MsgExtras:
    """Blocking acks: checked here, sent from the loop without waiting (as Go's Ack)."""

    _core: Any
    _lt: LoopThread | None

    def _send(self, body: bytes, final: bool = True) -> None:
        lt = self._lt
        if lt is not None and (lt.closed or self._core._js is not None
                               and self._core._js.nc.is_closed):
            raise errors.ConnectionClosedError(  # as Go's Ack returns ErrConnectionClosed
                f"cannot send {body[:5].decode()} for {self._core.subject!r}: "
                "the connection is closed")
        if lt is None:
            self._core._ack_target()  # not a JetStream message, or acked: that error first
            raise errors.NotConnectedError("message is not bound to a connection")
        core = self._core
        nc, cmd = core._ack_frame(body, final)
        # joined to the burst of frames still queued (one write per burst); the item holds
        # bytes, an int and a str only, which the cycle collector drops from its care
        lt.submit_burst(nc.queue_frames, (cmd, len(body), core.subject), _ack_call)

    def ack(self) -> None:
        """Acknowledge the message."""
        self._send(_msg.ACK)

    def nak(self) -> None:
        """Negatively acknowledge: redeliver now."""
        self._send(_msg.NAK)

    def nak_with_delay(self, delay: float) -> None:
        """Negatively acknowledge: redeliver after ``delay`` seconds."""
        self._send(_msg.nak_delay_body(delay))

    def in_progress(self) -> None:
        """Tell the server the message is still being worked on."""
        self._send(_msg.WPI, final=False)

    def term(self) -> None:
        """Stop redelivery of the message."""
        self._send(_msg.TERM)

    def term_with_reason(self, reason: str) -> None:
        """Stop redelivery, recording ``reason``."""
        self._send(_msg.TERM + b" " + reason.encode())


class ThreadHandler:
    """The blocking API's consume handler: the user's function on the handler thread.

    Calls run in order on the connection's handler thread (so a slow handler never stalls
    the event loop); each completion is reported back to the context, so pre-buffering
    counts a message as consumed only once the function returned, and ``stop()`` skips
    messages that were handed over but not yet run.
    """

    __slots__ = ("fn", "lt", "_submit", "_wrap")
    runs_on_handler_thread = True  # what ConsumeContext looks for

    def __init__(self, fn: Callable[[Any], Any], lt: Any) -> None:
        if inspect.iscoroutinefunction(fn):
            raise errors.InvalidArgumentError(
                "the blocking API takes plain functions as handlers; use jsdata.aio for "
                "coroutines")
        self.fn = fn
        self.lt = lt
        self._submit = lt.handlers.submit
        self._wrap = wrap

    def __call__(self, msg: Msg) -> None:  # direct use (not through a ConsumeContext)
        self.fn(self._wrap(msg, self.lt))

    def submit(self, ctx: ConsumeContext, msgs: list[Msg], gen: int) -> Any:
        """Queue calls for ``msgs`` (one hand-over); an awaitable when far behind."""
        wrap, lt = self._wrap, self.lt
        return self._submit(self._run, (ctx, [(wrap(m, lt), m) for m in msgs], gen))

    def _run(self, ctx: ConsumeContext, items: list[tuple[Any, Msg]], gen: int) -> None:
        fn = self.fn
        for twin, msg in items:
            try:
                if ctx._state != _CLOSED:
                    fn(twin)
                    ctx._last_handled = msg.reply
            except Exception as e:  # noqa: BLE001 - reported through the error handler
                ctx._thread_error(e)
            finally:
                ctx._thread_done(msg, gen)


class ConsumeExtras:
    """Blocking-API ``consume``: the handler runs on the handler thread via ThreadHandler."""

    _core: Any
    _lt: Any

    def consume(self, handler: Callable[[Any], Any], *args: Any, **kw: Any) -> Any:
        """Receive messages continuously with ``handler(msg)`` on a worker thread, in order.

        Same options as the asyncio API; returns a ConsumeContext (``stop()``, ``drain()``).
        """
        lt = self._lt
        if lt is None:
            raise errors.NotConnectedError("not bound to a connection")
        method = type(self._core).consume
        ba = inspect.signature(method).bind(self._core, handler, *args, **kw)
        _check_handler(handler)
        ba.arguments["handler"] = ThreadHandler(handler, lt)
        eh = ba.arguments.get("error_handler")
        if eh is not None:
            ba.arguments["error_handler"] = _callback(eh, lt)
        return wrap(lt.run(method(*ba.args, **ba.kwargs)), lt)


class ConsumeContextExtras:
    """Blocking-API ``stop``/``drain``: safe to call from inside the handler."""

    _core: Any
    _lt: Any

    def _shutdown_now(self, drain: bool) -> None:
        lt = self._lt
        if lt is None or lt.closed:
            return
        handlers = getattr(lt, "_handlers", None)
        inside = handlers is not None and threading.current_thread() is handlers.thread
        lt.run(self._core._shutdown(drain, join=not inside))

    def stop(self) -> None:
        """Stop receiving: unsubscribe and discard what was not handed to the handler yet."""
        self._shutdown_now(False)

    def drain(self) -> None:
        """Stop pulling, but first deliver what is already buffered or in flight."""
        self._shutdown_now(True)

    def __exit__(self, *exc: object) -> None:
        self.stop()
