"""jsdata: NATS JetStream as a data source and sink for notebooks and pandas/Arrow ETL.

``js = jsdata.connect()`` gives the blocking API (scripts and Jupyter cells);
``js = await jsdata.aio.connect()`` the asyncio one. Both share one asyncio core.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from . import aio, errors
from .client.config import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    ObjectLink,
    ObjectMeta,
    ObjectStoreConfig,
    OrderedConsumerConfig,
    ReplayPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from .client.connect_options import DEFAULT_RESUME_WINDOW, DEFAULT_TIMEOUT
from .client.headers import Headers
from .errors import JetStreamError
from .server import EmbeddedServer, local_cluster

__version__ = "0.1.0"

_BLOCKING_TWINS = frozenset({
    "JetStream", "Stream", "Consumer", "OrderedConsumer", "PushConsumer", "Msg",
    "MessageBatch", "ConsumeContext", "MessagesContext", "PubAckFuture", "KeyValue",
    "KeyWatcher", "ObjectStore", "ObjectResult", "ObjectWatcher", "ArrowBatch",
    "ArrowBatchIterator", "BatchPublisher", "FastPublisher", "Counter",
})
_SHARED = frozenset({
    "PubAck", "StreamInfo", "ConsumerInfo", "AccountInfo", "RawStreamMsg", "MsgMetadata",
    "KeyValueEntry", "KeyValueOp", "KeyValueStatus", "ObjectInfo", "ObjectStoreStatus",
    "WriteResult", "Codec", "ConsumerPauseResponse", "ConsumerResetResponse",
})
_LAZY_FUNCS = {"read_stream": "pandas_ext", "widgets": None, "read_partition": "partitions",
               "StreamPartition": "partitions"}


def connect(servers: str | Sequence[str] | None = None, *, user: str | None = None,
            password: str | None = None, token: str | None = None, creds: Any = None,
            nkeys_seed: Any = None, tls: Any = None, tls_handshake_first: bool = False,
            name: str | None = None,
            domain: str | None = None, api_prefix: str | None = None,
            inbox_prefix: str | None = None,
            timeout: float | timedelta = DEFAULT_TIMEOUT,
            resume_window: float | timedelta = DEFAULT_RESUME_WINDOW,
            publish_async_max_pending: int = 4000,
            url: str | None = None, context: str | None = None,
            error_cb: Callable[[BaseException], object] | None = None,
            **nats_options: Any) -> Any:  # a jsdata.JetStream (typed in __init__.pyi)
    """Connect and return the blocking JetStream context.

    With no ``servers``: JSDATA_URL / NATS_URL, else the default embedded server.
    Takes the keywords of :func:`jsdata.aio.connect` (the same defaults; other keywords
    go to nats-py), and ``error_cb(error)``: a plain
    function that receives failures no caller is waiting for (failed fire-and-forget acks,
    the connection's asynchronous errors); without it they are raised by the next call on
    the connection or by ``close()``.
    """
    from ._twins import connect as _connect
    given = dict(locals())  # the parameters above, passed on as they are
    del given["_connect"]
    nats_options = given.pop("nats_options")
    return _connect(**given, **nats_options)  # type: ignore[no-any-return]


def __getattr__(name: str) -> Any:
    if name in _BLOCKING_TWINS:
        from ._twins import twin_of
        value: Any = twin_of(getattr(aio, name))
    elif name in _SHARED:
        value = getattr(aio, name)
    elif name == "widgets":
        value = importlib.import_module("jsdata.widgets")
    elif name in _LAZY_FUNCS:
        value = getattr(importlib.import_module(f"jsdata.{_LAZY_FUNCS[name]}"), name)
    else:
        raise AttributeError(f"module 'jsdata' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "connect", "aio", "errors", "widgets", "EmbeddedServer", "local_cluster", "read_stream",
    "read_partition", "StreamPartition",
    "JetStreamError", "StreamConfig", "ConsumerConfig", "OrderedConsumerConfig",
    "KeyValueConfig", "ObjectStoreConfig", "ObjectMeta", "AckPolicy", "DeliverPolicy",
    "ReplayPolicy", "RetentionPolicy", "StorageType", "DiscardPolicy", "Headers", "ObjectLink",
    *sorted(_BLOCKING_TWINS), *sorted(_SHARED),
]


def __dir__() -> list[str]:
    return __all__
from . import pandas_ext as _pandas_ext  # noqa: E402,F401  (registers df.to_jetstream)
