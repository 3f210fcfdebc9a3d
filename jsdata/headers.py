"""NATS message headers: a multi-valued, case-preserving mapping and its wire codec.

nats-py's dicts keep one value per name; JetStream needs several (``Nats-Expected-*`` plus
user headers with repeated names), so jsdata encodes and parses the header block itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Union

from .errors import InvalidArgumentError

HeaderValue = Union[str, "list[str]", "tuple[str, ...]"]
HeadersInput = Union["Headers", Mapping[str, HeaderValue], None]

_NAME_RE = re.compile(r"^[!-9;-~]+$")  # printable ASCII without ':' and space
_HDR_LINE = b"NATS/1.0"


class Headers(Mapping[str, str]):
    """Message headers: ``h["K"]`` is the first value, ``h.get_all("K")`` every value.

    Lookups are exact first, then case-insensitive, as NATS header names are
    case-sensitive on the wire but users rarely care.
    """

    __slots__ = ("_items", "status", "description")

    def __init__(self, data: HeadersInput = None, /, **kw: HeaderValue) -> None:
        self._items: list[tuple[str, str]] = []
        self.status: int | None = None
        self.description: str = ""
        if data is not None:
            self.update(data)
        if kw:
            self.update(kw)

    def update(self, data: HeadersInput) -> None:
        """Add every name/value of ``data`` (a mapping or Headers)."""
        if data is None:
            return
        if isinstance(data, Headers):
            self._items.extend(data._items)
            return
        for k, v in data.items():
            if isinstance(v, (list, tuple)):
                for one in v:
                    self.add(k, one)
            else:
                self.add(k, v)

    def add(self, name: str, value: str) -> None:
        """Append a value for ``name`` (keeps existing ones)."""
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise InvalidArgumentError(f"invalid header name {name!r}")
        if not isinstance(value, str):
            value = str(value)
        if "\r" in value or "\n" in value:
            raise InvalidArgumentError(f"header {name!r} value contains a line break")
        self._items.append((name, value))

    def set(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with ``value``."""
        self.remove(name)
        self.add(name, value)

    def remove(self, name: str) -> None:
        self._items = [(k, v) for k, v in self._items if k != name]

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order (empty list if absent)."""
        vals = [v for k, v in self._items if k == name]
        if not vals:
            low = name.lower()
            vals = [v for k, v in self._items if k.lower() == low]
        return vals

    def __getitem__(self, name: str) -> str:
        for k, v in self._items:
            if k == name:
                return v
        low = name.lower()
        for k, v in self._items:
            if k.lower() == low:
                return v
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for k, _ in self._items:
            seen.setdefault(k)
        return iter(seen)

    def __len__(self) -> int:
        return len({k for k, _ in self._items})

    def items_all(self) -> Iterable[tuple[str, str]]:
        """Every (name, value) pair, repeated names included."""
        return list(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {v!r}" for k, v in self._items)
        st = f" status={self.status}" if self.status else ""
        return f"Headers({{{inner}}}{st})"

    def to_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self._items:
            out.setdefault(k, []).append(v)
        return out


def encode_headers(h: HeadersInput) -> bytes:
    """The wire header block (``NATS/1.0\\r\\nK: V\\r\\n\\r\\n``) for ``h``; b"" when empty."""
    if not h:
        return b""
    hh = h if isinstance(h, Headers) else Headers(h)
    if not hh._items:
        return b""
    parts = [_HDR_LINE]
    for k, v in hh._items:
        parts.append(f"{k}: {v}".encode())
    parts.append(b"")
    parts.append(b"")
    return b"\r\n".join(parts)


def decode_headers(raw: bytes) -> Headers:
    """Parse a raw header block, including inline status lines (``NATS/1.0 408 ...``)."""
    h = Headers()
    if not raw:
        return h
    lines = raw.split(b"\r\n")
    first = lines[0]
    if len(first) > 8:  # "NATS/1.0 404 No Messages"
        rest = first[8:].strip().decode("utf-8", "replace")
        code, _, desc = rest.partition(" ")
        if code.isdigit():
            h.status = int(code)
            h.description = desc.strip()
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        h._items.append((name.strip().decode("ascii", "replace"),
                         value.strip().decode("utf-8", "replace")))
    return h


def header_value(raw: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` in a raw block, matched at the start of a line (a user
    header whose *value* contains ``name`` never matches); None when absent."""
    key = b"\r\n" + name + b":"
    i = raw.find(key)
    if i < 0:
        return None
    i += len(key)
    j = raw.find(b"\r\n", i)
    return raw[i:j if j >= 0 else len(raw)].strip()
