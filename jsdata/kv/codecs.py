"""Value codecs of a bucket's dict views and ``to_pandas``: one vocabulary with the frames.

A codec is named (``"bytes"``, ``"str"``, ``"json"``, ``"msgpack"``: the value codecs of
:mod:`jsdata.frames.values`, the one vocabulary KV and DataFrames share), a
:class:`jsdata.Codec` (the DataFrame codecs: their one-message hooks), an object with
``encode`` / ``decode`` methods or an ``(encode, decode)`` pair. :func:`frames_codec` gives
``to_pandas`` the bulk decoder of the DataFrame codec of the same name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import errors
from .._util import in_thread
from ..frames.values import value_codec, value_codec_name

if TYPE_CHECKING:
    from ..frames.codec import Codec
    from .entry import KeyValueEntry

CodecSpec = Any  # a name, an object with encode/decode, or an (encode, decode) pair


def resolve_codec(codec: CodecSpec) -> tuple[str, Callable[[Any], bytes],
                                             Callable[[bytes], Any]]:
    """(name, encode, decode) for a codec given as ``"bytes"``, ``"str"``, ``"json"``,
    ``"msgpack"``, a :class:`jsdata.Codec` (its ``encode_row`` / ``decode_message``), an
    object with ``encode(value) -> bytes`` / ``decode(bytes)`` methods or an
    ``(encode, decode)`` pair of functions."""
    if codec is None:
        return value_codec("bytes")
    if isinstance(codec, str):
        return value_codec(codec)  # the names shared with the DataFrame codecs
    from ..frames.codec import Codec  # a jsdata.Codec: its one-message hooks
    if isinstance(codec, type) and issubclass(codec, Codec):
        codec = codec()
    if isinstance(codec, Codec):
        return codec.name, _checked(codec.encode_row), codec.decode_message
    if isinstance(codec, (tuple, list)) and len(codec) == 2 and all(map(callable, codec)):
        enc_f, dec_f = codec
        return getattr(enc_f, "__name__", "custom"), _checked(enc_f), dec_f
    enc_m, dec_m = getattr(codec, "encode", None), getattr(codec, "decode", None)
    if callable(enc_m) and callable(dec_m):
        label = getattr(codec, "name", None) or type(codec).__name__
        return str(label), _checked(enc_m), dec_m
    raise errors.InvalidArgumentError(f"not a codec: {codec!r}")


def _checked(enc: Callable[[Any], Any]) -> Callable[[Any], bytes]:
    def encode(v: Any) -> bytes:
        out = enc(v)
        if isinstance(out, str):
            return out.encode()
        if isinstance(out, (bytes, bytearray, memoryview)):
            return bytes(out)
        raise errors.EncodeError(f"codec encode returned {type(out).__name__}, not bytes")
    return encode


def frames_codec(codec: CodecSpec) -> Codec | None:
    """The DataFrame codec behind ``codec`` ("json", "msgpack" or a :class:`jsdata.Codec`),
    whose bulk decoder reads many values at once; None for the others."""
    from ..frames.codec import Codec, get_codec
    if isinstance(codec, str) and value_codec_name(codec) in ("json", "msgpack"):
        return get_codec(codec.lower())
    if isinstance(codec, type) and issubclass(codec, Codec):
        return codec()
    return codec if isinstance(codec, Codec) else None


async def bulk_frame(codec: CodecSpec, values: list[bytes], index: Any) -> Any:
    """The values as one DataFrame from the DataFrame codec's bulk decoder, when ``codec``
    is one and every value is one row (a JSON object, a msgpack map); else None."""
    fc = frames_codec(codec)
    if fc is None or not values or (fc.name == "json" and not all(
            v[:1] == b"{" for v in values)):
        return None
    import pyarrow as pa

    from ..frames.decode import table_to_pandas
    try:
        table = await in_thread(fc.decode, values)
    except Exception:  # noqa: BLE001 - the value-by-value path names the key that fails
        return None
    if not isinstance(table, pa.Table) or table.num_rows != len(values):
        return None  # a value that is not a row (a list, a scalar): one value column instead
    df = await in_thread(table_to_pandas, table)
    df.index = index
    return df


def with_meta(df: Any, entries: list[KeyValueEntry], index: Any) -> Any:
    """``df`` with the ``_revision`` and ``_created`` columns of ``entries``."""
    import pandas as pd
    df["_revision"] = pd.Series([e.revision for e in entries], index=index, dtype="int64")
    df["_created"] = pd.to_datetime(pd.Series([e.created for e in entries], index=index,
                                              dtype=object), utc=True)
    return df
