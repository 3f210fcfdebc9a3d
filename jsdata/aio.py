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
    "connect": "_api", "JetStream": "_api", "Stream": "_api", "Consumer": "_api",
    "OrderedConsumer": "_api",
    "PushConsumer": "client.push",
    "Msg": "client.message", "RawStreamMsg": "client.message", "MsgMetadata": "client.message",
    "MessageBatch": "client.pull",
    "ConsumeContext": "client.consume", "MessagesContext": "client.consume",
    "PubAckFuture": "client.publish",
    "PubAck": "client.info", "StreamInfo": "client.info", "ConsumerInfo": "client.info",
    "AccountInfo": "client.info",
    "Headers": "client.headers",
    "KeyValue": "kv.bucket", "KeyWatcher": "kv.bucket",
    "KeyValueEntry": "kv.entry", "KeyValueOp": "kv.entry", "KeyValueStatus": "kv.entry",
    "ObjectStore": "objects.store", "ObjectWatcher": "objects.store",
    "ObjectInfo": "objects.layout", "ObjectStoreStatus": "objects.layout",
    "ObjectResult": "objects.files",
    "ObjectLink": "client.config",
    "ArrowBatch": "frames.batch", "ArrowBatchIterator": "frames.batch",
    "WriteResult": "frames.writer",
    "Codec": "frames.codec",
    "BatchPublisher": "client.atomic", "FastPublisher": "client.fast", "Counter": "client.counters",
    "ConsumerPauseResponse": "client.info", "ConsumerResetResponse": "client.info",
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
