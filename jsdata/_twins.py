"""The one table of blocking twins: which asyncio classes have one, and their extras.

``jsdata.JetStream``, ``jsdata.Stream``, ... are generated from the classes declared here
(``jsdata.blocking.twin``); each package's ``_blocking.py`` holds the blocking-only extras a
twin inherits (the ``KeyValue`` mapping protocol, real file objects for objects, the handler
thread for ``consume``), and they are attached here, once, so no asyncio module imports
them. :func:`connect` is the blocking connect: the asyncio core on a new loop thread.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from . import _api, errors
from .blocking import twin as _twin
from .blocking.loop import LoopThread
from .blocking.twin import Twin, add_extras, declare, set_twin, twin_of, wrap
from .client import _blocking as client_extras
from .client import _native
from .client.atomic import BatchPublisher
from .client.consume import ConsumeContext, ConsumeMethods, MessagesContext
from .client.counters import Counter
from .client.fast import FastPublisher
from .client.jetstream import JetStream as CoreJetStream
from .client.message import Msg
from .client.publish import PubAckFuture
from .client.pull import MessageBatch
from .client.push import PushConsumer
from .frames import _blocking as frames_extras
from .frames.batch import ArrowBatch, ArrowBatchIterator
from .frames.methods import StreamReader
from .kv import _blocking as kv_extras
from .kv.bucket import KeyValue, KeyWatcher
from .objects import _blocking as objects_extras
from .objects.files import ObjectResult
from .objects.store import ObjectStore, ObjectWatcher

__all__ = ["connect", "twin_of"]

declare(
    _api.JetStream, _api.Stream, _api.Consumer, _api.OrderedConsumer, PushConsumer, Msg,
    MessageBatch, ConsumeContext, MessagesContext, PubAckFuture, KeyValue, KeyWatcher,
    ObjectStore, ObjectWatcher, ArrowBatch, ArrowBatchIterator, BatchPublisher, Counter,
    FastPublisher,
)

_twin.bulk_wrap = _native.twins  # a fetch's twins built in C (None: in Python)

add_extras(CoreJetStream, client_extras.JetStreamExtras)
add_extras(PubAckFuture, client_extras.PubAckFutureExtras)
add_extras(Msg, client_extras.MsgExtras)
add_extras(ConsumeMethods, client_extras.ConsumeExtras)
add_extras(PushConsumer, client_extras.ConsumeExtras)
add_extras(ConsumeContext, client_extras.ConsumeContextExtras)
add_extras(StreamReader, frames_extras.StreamReaderExtras)
add_extras(KeyValue, kv_extras.KeyValueExtras)
add_extras(ObjectStore, objects_extras.ObjectStoreExtras)

# ``jsdata.ObjectResult`` is the io class itself: every core result is wrapped into it.
_result: Any = objects_extras.BlockingObjectResult
_result.__name__ = _result.__qualname__ = "ObjectResult"
_result.__module__ = "jsdata"
set_twin(ObjectResult, _result)


def connect(*args: Any, error_cb: Callable[[BaseException], object] | None = None,
            **kw: Any) -> Twin:
    """Blocking connect: the asyncio core runs on a new background event-loop thread.

    ``error_cb(error)`` (a plain function, run on the handler thread) receives what fails
    without a caller to tell: the connection's asynchronous errors and failed
    fire-and-forget calls (:class:`~jsdata.errors.AsyncCallError`). Without it those
    failures are raised by the next call on the connection, or by ``close()``.
    """
    lt = LoopThread()
    if error_cb is not None:
        if inspect.iscoroutinefunction(error_cb) or not callable(error_cb):
            lt.stop()
            raise errors.InvalidArgumentError(
                "error_cb must be a plain function on the blocking API (jsdata.aio.connect "
                "takes a coroutine function)")
        lt.error_cb = error_cb
        cb = error_cb

        async def nats_error(e: Exception) -> None:  # nats-py's async errors, same callback
            lt.handlers.submit(cb, (e,))

        kw["error_cb"] = nats_error
    try:
        core = lt.run(_api.connect(*args, **kw))
    except BaseException:
        lt.stop()
        raise
    twin: Twin = wrap(core, lt)
    return twin
