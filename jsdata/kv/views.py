"""The asyncio dict view of a bucket: ``kv.as_dict(codec)`` (the blocking one is a real
``MutableMapping`` in ``_blocking.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from .. import errors
from ..client._portable import direct
from .codecs import CodecSpec, resolve_codec
from .entry import KeyValueEntry

__all__ = ["AsyncKeyValueDict"]

_MISSING: Any = object()


class Bucket(Protocol):
    """What the view uses of its ``KeyValue``."""

    bucket: str

    async def get(self, key: str, revision: int | None = None) -> Any: ...
    async def put(self, key: str, value: Any) -> int: ...
    async def delete(self, key: str, **kw: Any) -> None: ...
    async def update_many(self, items: Any, **kw: Any) -> Any: ...
    async def _delete_existing(self, key: str) -> None: ...
    async def _has(self, key: object) -> bool: ...
    async def _key_list(self, filters: list[str] | None = None) -> list[str]: ...
    async def _snapshot(self, filters: list[str] | None = None) -> list[Any]: ...


class AsyncKeyValueDict:
    """The asyncio dict view of a bucket (``kv.as_dict(codec)``): async methods named as
    dict's; values are encoded/decoded by the codec. ``update`` pipelines its puts."""

    def __init__(self, kv: Bucket, codec: CodecSpec = "json") -> None:
        self._kv = kv
        self.codec, self._enc, self._dec = resolve_codec(codec)

    def __repr__(self) -> str:
        return f"<AsyncKeyValueDict {self._kv.bucket} codec={self.codec}>"

    @property
    def kv(self) -> Bucket:
        """The bucket behind the view."""
        return self._kv

    def _decode(self, e: KeyValueEntry) -> Any:
        try:
            return self._dec(e.value)
        except Exception as ex:  # noqa: BLE001
            raise errors.DecodeError(
                f"bucket {self._kv.bucket!r}: cannot decode key {e.key!r} with codec "
                f"{self.codec!r}: {ex}", sequence=e.revision) from None

    @direct
    async def getitem(self, key: str) -> Any:
        """The decoded value (KeyError if missing or deleted)."""
        return self._decode(await self._kv.get(key))

    @direct
    async def get(self, key: str, default: Any = None) -> Any:
        """The decoded value, or ``default`` when missing or deleted."""
        try:
            return await self.getitem(key)
        except KeyError:
            return default

    @direct
    async def set(self, key: str, value: Any) -> int:
        """Encode and store ``value``; returns the revision."""
        return await self._kv.put(key, self._enc(value))

    @direct
    async def delete(self, key: str) -> None:
        """Delete ``key`` (KeyError if missing or already deleted)."""
        await self._kv._delete_existing(key)

    @direct
    async def contains(self, key: object) -> bool:
        """Whether ``key`` has a live value."""
        return await self._kv._has(key)

    async def keys(self) -> list[str]:
        """The live keys."""
        return await self._kv._key_list()

    async def count(self) -> int:
        """How many live keys there are."""
        return len(await self._kv._key_list())

    async def items(self) -> list[tuple[str, Any]]:
        """(key, decoded value) of every live key, from one snapshot."""
        return [(e.key, self._decode(e)) for e in await self._kv._snapshot()]

    async def values(self) -> list[Any]:
        """The decoded values of every live key, from one snapshot."""
        return [v for _, v in await self.items()]

    async def to_dict(self) -> dict[str, Any]:
        """A plain dict snapshot of the bucket."""
        return dict(await self.items())

    async def pop(self, key: str, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value (``default``, or KeyError, when missing)."""
        try:
            e = await self._kv.get(key)
        except KeyError:
            if default is _MISSING:
                raise
            return default
        await self._kv.delete(key)
        return self._decode(e)

    async def update(self, other: Any = (), /, **kw: Any) -> dict[str, int]:
        """Store many values, pipelined; returns the revisions."""
        pairs = list(other.items() if isinstance(other, Mapping) else other) + list(kw.items())
        return await self._kv.update_many([(k, self._enc(v)) for k, v in pairs])

    async def clear(self) -> None:
        """Delete every live key."""
        for k in await self._kv._key_list():
            await self._kv.delete(k)
