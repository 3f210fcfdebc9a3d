"""The asyncio API: ``js = await jsdata.aio.connect(...)`` and the asyncio classes.

Every method that talks to the server is a coroutine function; listing methods return async
iterators. The blocking classes in :mod:`jsdata` are mechanical twins of these.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module (inside jsdata) that defines it, or "module:attribute" when the attribute
# is named differently there; imported on first use.
EXPORTS: dict[str, str] = {
    "connect": "jetstream", "JetStream": "jetstream",
    "Stream": "stream",
    "Consumer": "consumer",
    "OrderedConsumer": "ordered",
    "PushConsumer": "push",
    "Msg": "message", "RawStreamMsg": "message", "MsgMetadata": "message",
    "MessageBatch": "pull", "ConsumeContext": "consume", "MessagesContext": "consume",
    "PubAckFuture": "publish",
    "PubAck": "info", "StreamInfo": "info", "ConsumerInfo": "info", "AccountInfo": "info",
    "Headers": "headers",
    "KeyValue": "kv", "KeyValueEntry": "kv", "KeyWatcher": "kv", "KeyValueOp": "kv",
    "KeyValueStatus": "kv",
    "ObjectStore": "object", "ObjectInfo": "object", "ObjectResult": "object",
    "ObjectWatcher": "object", "ObjectStoreStatus": "object",
    "ObjectLink": "config",
    "ArrowBatch": "batch", "ArrowBatchIterator": "batch",
    "WriteResult": "writer",
    "Codec": "codec",
    "BatchPublisher": "atomic", "FastPublisher": "fast", "Counter": "counters",
    "ConsumerPauseResponse": "info", "ConsumerResetResponse": "info",
    "StreamPartition": "partitions", "read_partition": "partitions:aread_partition",
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str) -> Any:
    mod, _, attr = (EXPORTS.get(name) or "").partition(":")
    if not mod:
        raise AttributeError(f"module 'jsdata.aio' has no attribute {name!r}")
    try:
        module = importlib.import_module(f"jsdata.{mod}")
    except ModuleNotFoundError as e:
        if e.name != f"jsdata.{mod}":
            raise
        raise AttributeError(f"module 'jsdata.aio' has no attribute {name!r} "
                             f"(jsdata.{mod} is not available)") from e
    value = getattr(module, attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
