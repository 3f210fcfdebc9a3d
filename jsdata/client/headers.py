"""NATS message headers: a multi-valued, case-preserving mapping and its wire codec.

nats-py's dicts keep one value per name; JetStream needs several (``Nats-Expected-*`` plus
user headers with repeated names), so jsdata encodes and parses the header block itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Union

from .._util import seconds
from ..errors import InvalidArgumentError

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


# ---------------------------------------------------------------------------------------------
# one value straight from a raw header block (hot paths: no Headers object)


def header_value(hdr: bytes, name: bytes) -> str:
    """The first value of header ``name`` in a raw header block ("" if absent).

    The name is matched at the start of a line only (after the ``NATS/1.0`` status line), so
    a user header that merely ends with ``name`` - or a value containing it - never matches;
    the last such line wins, as the server appends its own headers (``Nats-Sequence``,
    ``Nats-Num-Pending``, ...) after the ones a message was stored with.
    """
    i = hdr.rfind(b"\r\n" + name + b":")
    if i < 0:
        return ""
    start = i + len(name) + 3
    j = hdr.find(b"\r\n", start)
    return hdr[start:j if j >= 0 else None].strip().decode("utf-8", "replace")


def header_int(hdr: bytes, name: bytes, default: int = 0) -> int:
    """The int value of header ``name`` in a raw header block (``default`` if absent or not
    a number); matched at the start of a line as :func:`header_value`."""
    try:
        return int(header_value(hdr, name) or default)
    except ValueError:
        return default


def ttl_value(ttl: float | timedelta | str) -> str:
    """A ``Nats-TTL`` / ``Nats-Schedule-TTL`` value: whole seconds (``"30s"``) or a string
    as given (``"never"``)."""
    if isinstance(ttl, str):
        return ttl
    secs = seconds(ttl)
    if secs < 1 or secs != int(secs):
        raise InvalidArgumentError(f"ttl must be a whole number of seconds >= 1: {ttl!r}")
    return f"{int(secs)}s"


def build_headers(headers: HeadersInput, msg_id: str | None, expect_stream: str | None,
                  expect_last_sequence: int | None,
                  expect_last_sequence_per_subject: int | None,
                  expect_last_msg_id: str | None,
                  ttl: float | timedelta | str | None) -> bytes:
    """The header block for a publish with its expectations (b"" when none)."""
    if (headers is None and msg_id is None and expect_stream is None
            and expect_last_sequence is None and expect_last_sequence_per_subject is None
            and expect_last_msg_id is None and ttl is None):
        return b""
    h = Headers(headers)
    if msg_id is not None:
        h.set("Nats-Msg-Id", str(msg_id))
    if expect_stream is not None:
        h.set("Nats-Expected-Stream", expect_stream)
    if expect_last_sequence is not None:  # 0 is a real expectation: an empty stream
        h.set("Nats-Expected-Last-Sequence", str(int(expect_last_sequence)))
    if expect_last_sequence_per_subject is not None:
        h.set("Nats-Expected-Last-Subject-Sequence", str(int(expect_last_sequence_per_subject)))
    if expect_last_msg_id is not None:
        h.set("Nats-Expected-Last-Msg-Id", expect_last_msg_id)
    if ttl is not None:
        h.set("Nats-TTL", ttl_value(ttl))
    return encode_headers(h)
