"""jsdata: NATS JetStream as a data source and sink for notebooks and pandas/Arrow ETL.

``js = jsdata.connect()`` gives the blocking API (scripts and Jupyter cells);
``js = await jsdata.aio.connect()`` the asyncio one. Both share one asyncio core.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import aio, errors
from .config import (
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
from .errors import JetStreamError
from .headers import Headers
from .server import EmbeddedServer, local_cluster

__version__ = "0.1.0"

_BLOCKING_TWINS = frozenset({
    "JetStream", "Stream", "Consumer", "OrderedConsumer", "PushConsumer", "Msg",
    "MessageBatch", "ConsumeContext", "MessagesContext", "PubAckFuture", "KeyValue",
    "KeyWatcher", "ObjectStore", "ObjectResult", "ObjectWatcher", "ArrowBatch",
    "ArrowBatchIterator",
})
_SHARED = frozenset({
    "PubAck", "StreamInfo", "ConsumerInfo", "AccountInfo", "RawStreamMsg", "MsgMetadata",
    "KeyValueEntry", "KeyValueOp", "KeyValueStatus", "ObjectInfo", "ObjectStoreStatus",
    "WriteResult", "Codec",
})
_LAZY_FUNCS = {"read_stream": "reader", "widgets": None, "read_partition": "partitions",
               "StreamPartition": "partitions"}


def connect(servers: Any = None, **kw: Any) -> Any:
    """Connect and return the blocking JetStream context.

    With no ``servers``: JSDATA_URL / NATS_URL, else the default embedded server.
    Takes the same keywords as :func:`jsdata.aio.connect`.
    """
    from .blocking import connect as _connect
    return _connect(servers, **kw)  # type: ignore[no-any-return]


def __getattr__(name: str) -> Any:
    if name in _BLOCKING_TWINS:
        from .blocking import twin_of
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
from . import pandas_ext as _pandas_ext  # noqa: E402,F401
