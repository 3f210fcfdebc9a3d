"""Blocking-only extras of ``jsdata.KeyValue``: the mapping protocol and the dict view.

``kv["k"]``, ``kv["k"] = v``, ``del kv["k"]``, ``"k" in kv``, iteration and ``len`` on the
blocking bucket, and ``kv.as_dict(codec)`` as a real ``MutableMapping`` (attached to the
twin by ``jsdata._twins``).
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, MutableMapping, ValuesView
from typing import Any

from ..client.message import Data
from .bucket import KeyValue
from .codecs import CodecSpec
from .views import AsyncKeyValueDict


class _SnapshotItems(ItemsView):  # type: ignore[type-arg]
    def __iter__(self) -> Iterator[tuple[str, Any]]:
        yield from self._mapping.to_dict().items()  # type: ignore[attr-defined]


class _SnapshotValues(ValuesView):  # type: ignore[type-arg]
    def __iter__(self) -> Iterator[Any]:
        yield from self._mapping.to_dict().values()  # type: ignore[attr-defined]


class KeyValueDict(MutableMapping):  # type: ignore[type-arg]
    """The blocking dict view of a bucket (``kv.as_dict(codec)``): a real MutableMapping.
    ``update`` pipelines its puts; ``items()``/``values()`` read one snapshot."""

    def __init__(self, view: AsyncKeyValueDict, lt: Any) -> None:
        self._view = view
        self._lt = lt

    def __repr__(self) -> str:
        return f"<KeyValueDict {self._view.kv.bucket} codec={self._view.codec}>"

    @property
    def codec(self) -> str:
        return self._view.codec

    def __getitem__(self, key: str) -> Any:
        return self._lt.run(self._view.getitem(key), direct=True)

    def __setitem__(self, key: str, value: Any) -> None:
        self._lt.run(self._view.set(key, value), direct=True)

    def __delitem__(self, key: str) -> None:
        self._lt.run(self._view.delete(key), direct=True)

    def __contains__(self, key: object) -> bool:
        return bool(self._lt.run(self._view.contains(key), direct=True))

    def __iter__(self) -> Iterator[str]:
        return iter(self._lt.run(self._view.keys()))

    def __len__(self) -> int:
        return int(self._lt.run(self._view.count()))

    def update(self, other: Any = (), /, **kw: Any) -> None:  # type: ignore[override]
        """Store many values with pipelined puts."""
        self._lt.run(self._view.update(other, **kw))

    def items(self) -> ItemsView:  # type: ignore[type-arg]
        return _SnapshotItems(self)

    def values(self) -> ValuesView:  # type: ignore[type-arg]
        return _SnapshotValues(self)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict snapshot of the bucket."""
        return self._lt.run(self._view.to_dict())  # type: ignore[no-any-return]

    def clear(self) -> None:
        """Delete every live key."""
        self._lt.run(self._view.clear())


class KeyValueExtras:
    """Blocking-only parts of ``jsdata.KeyValue``: the mapping protocol on values."""

    __slots__ = ()
    _core: KeyValue
    _lt: Any

    def __getitem__(self, key: str) -> bytes:
        """``kv["k"]``: the value bytes (KeyError if missing or deleted)."""
        return self._lt.run(self._core._value_of(key), direct=True)  # type: ignore[no-any-return]

    def __setitem__(self, key: str, value: Data) -> None:
        self._lt.run(self._core.put(key, value), direct=True)

    def __delitem__(self, key: str) -> None:
        self._lt.run(self._core._delete_existing(key), direct=True)

    def __contains__(self, key: object) -> bool:
        return bool(self._lt.run(self._core._has(key), direct=True))

    def __iter__(self) -> Iterator[str]:
        return iter(self._lt.run(self._core._key_list()))

    def __len__(self) -> int:
        return len(self._lt.run(self._core._key_list()))

    def __bool__(self) -> bool:
        return True

    def as_dict(self, codec: CodecSpec = "json") -> KeyValueDict:
        """A MutableMapping view whose values go through ``codec`` (``"bytes"``, ``"str"``,
        ``"json"``, ``"msgpack"``, an object with encode/decode or an (encode, decode) pair)."""
        return KeyValueDict(self._core.as_dict(codec), self._lt)
