"""The codec vocabulary shared by key-value buckets and DataFrames: names and one-value
encode/decode, in one place (no pyarrow, so a KV-only process does not load it).

Codec names: ``"json"``, ``"msgpack"`` (both surfaces), ``"raw"`` (payload bytes as they are;
``"bytes"`` for KV values), ``"str"`` (UTF-8 text, KV values) and ``"arrow"`` (DataFrames
only). The DataFrame codecs (:mod:`jsdata.frames.codec`) decode one message and encode one
row with the functions here; KV's value codecs (:mod:`jsdata.kv.codecs`) are these functions.

Values are encoded strictly: a value the format cannot hold raises
:class:`~jsdata.errors.EncodeError` naming why, never a lossy fallback. The exception is
:func:`encode_json_row`, the DataFrame row encoder, which writes what JSON cannot hold
(a ``Decimal``, a ``datetime``) as its ``str()``, as DataFrame writers always have.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .. import errors
from ..client.message import to_bytes

__all__ = ["FRAME_CODECS", "VALUE_CODECS", "decode_json", "decode_msgpack", "decode_str",
           "encode_bytes", "encode_json", "encode_json_row", "encode_msgpack",
           "encode_msgpack_row", "encode_str", "value_codec", "value_codec_name"]

FRAME_CODECS = ("json", "msgpack", "arrow", "raw")  # DataFrame payload codecs
VALUE_CODECS = ("bytes", "str", "json", "msgpack")  # KV value codecs
_ALIASES = {"raw": "bytes", "string": "str", "utf-8": "str", "utf8": "str", "text": "str"}


def value_codec_name(name: str) -> str | None:
    """The value codec ``name`` means (aliases: ``raw`` is ``bytes``; ``string``, ``utf-8``,
    ``utf8``, ``text`` are ``str``), or None for a name that is not one."""
    low = name.lower()
    low = _ALIASES.get(low, low)
    return low if low in VALUE_CODECS else None


def value_codec(name: str) -> tuple[str, Callable[[Any], bytes], Callable[[bytes], Any]]:
    """(name, encode, decode) of a value codec; InvalidArgumentError for an unknown name."""
    canon = value_codec_name(name)
    if canon == "bytes":
        return "bytes", encode_bytes, _same
    if canon == "str":
        return "str", encode_str, decode_str
    if canon == "json":
        return "json", encode_json, decode_json
    if canon == "msgpack":
        return "msgpack", encode_msgpack, decode_msgpack
    raise errors.InvalidArgumentError(
        f"unknown codec {name!r}: use 'bytes', 'str', 'json', 'msgpack', an object with "
        f"encode/decode methods or an (encode, decode) pair")


# -- raw bytes, text -----------------------------------------------------------------------------

def encode_bytes(v: Any) -> bytes:
    """bytes, bytearray, memoryview as they are; str as UTF-8."""
    return to_bytes(v)


def _same(b: bytes) -> Any:
    return b


def encode_str(v: Any) -> bytes:
    if not isinstance(v, str):
        raise errors.EncodeError(f"the 'str' codec stores str values, not {type(v).__name__}")
    return v.encode()


def decode_str(b: bytes) -> Any:
    return b.decode()


# -- JSON ----------------------------------------------------------------------------------------

def encode_json(v: Any) -> bytes:
    """Compact JSON, UTF-8 as it is (not \\u-escaped); EncodeError for what JSON cannot hold."""
    try:
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as e:
        raise errors.EncodeError(f"value is not JSON serializable: {e}") from None


def encode_json_row(row: dict[str, Any]) -> bytes:
    """A DataFrame row as compact JSON; what JSON cannot hold is written as its ``str()``."""
    return json.dumps(row, separators=(",", ":"), default=str).encode()


def decode_json(b: bytes) -> Any:
    return json.loads(b)


# -- msgpack -------------------------------------------------------------------------------------

def encode_msgpack(v: Any) -> bytes:
    """msgpack with bin types; EncodeError for what msgpack cannot hold (a datetime too)."""
    import msgpack  # type: ignore[import-untyped]
    try:
        return msgpack.packb(v, use_bin_type=True)  # type: ignore[no-any-return]
    except (TypeError, ValueError) as e:
        raise errors.EncodeError(f"value cannot be packed with msgpack: {e}") from None


def encode_msgpack_row(row: dict[str, Any]) -> bytes:
    """A DataFrame row as a msgpack map; datetimes as msgpack Timestamps."""
    import msgpack
    return msgpack.packb(row, use_bin_type=True, datetime=True)  # type: ignore[no-any-return]


def decode_msgpack(b: bytes, *, any_keys: bool = False) -> Any:
    """One msgpack value; ``any_keys``: maps may have keys other than str and bytes (as
    DataFrame rows read from other writers may)."""
    import msgpack
    if any_keys:
        return msgpack.unpackb(b, raw=False, timestamp=0, strict_map_key=False)
    return msgpack.unpackb(b, raw=False)
