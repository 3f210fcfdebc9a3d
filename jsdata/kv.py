"""Key-value buckets on JetStream, laid out exactly as the official clients lay them out.

A bucket ``b`` is the stream ``KV_b`` capturing ``$KV.b.>``; a key ``k`` is the subject
``$KV.b.k`` and its revision the stream sequence. Deletes and purges are marker messages with
a ``KV-Operation`` header (``DEL`` / ``PURGE``, the latter with a subject rollup); since
nats-server 2.11 the server itself writes markers with ``Nats-Marker-Reason`` when keys expire
(buckets created with ``limit_marker_ttl``). Buckets written here are read by nats.go,
nats-py and the ``nats`` CLI, and the other way round.

Watchers ride on :class:`~jsdata.watch.OrderedFeed`; reads use the stream's direct get.
The blocking ``jsdata.KeyValue`` adds the mapping protocol (``kv["k"]``) through
``KeyValue.__blocking_mixin__``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections import deque
from collections.abc import (
    AsyncIterator,
    Callable,
    Generator,
    ItemsView,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
    ValuesView,
)
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import _diff, errors, names
from ._conn import status_of
from ._model import WireEnum, make_config, parse_time, to_duration
from .config import (
    DiscardPolicy,
    KeyValueConfig,
    StoreCompression,
    StreamConfig,
    StreamSource,
    SubjectTransformConfig,
)
from .headers import Headers, decode_headers
from .info import StreamInfo
from .message import Data, Msg, ns_to_datetime, to_bytes
from .stream import Stream
from .watch import OrderedFeed

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

    from .jetstream import JetStream

__all__ = [
    "AsyncKeyValueDict",
    "KeyLister",
    "KeyValue",
    "KeyValueDict",
    "KeyValueEntry",
    "KeyValueManager",
    "KeyValueOp",
    "KeyValueStatus",
    "KeyWatcher",
]

KV_OP = "KV-Operation"
MARKER_REASON = "Nats-Marker-Reason"
ROLLUP = "Nats-Rollup"
MAX_HISTORY = 64
DEFAULT_PURGE_DELETES_OLDER_THAN = 30 * 60.0  # Go's kvDefaultPurgeDeletesMarkerThreshold
_MAX_DUPLICATE_WINDOW = 120.0
_WRONG_LAST_SEQUENCE = (10071, 10164)  # 10164: replicated streams
_MSG_TOO_LARGE = 10054
_BULK_WINDOW = 2048  # async puts in flight during update_many


class KeyValueOp(WireEnum):
    """What a revision did to its key: ``PUT`` a value, ``DEL`` (delete marker) or ``PURGE``."""

    PUT = "PUT"
    DEL = "DEL"
    PURGE = "PURGE"

    @classmethod
    def _wire_aliases(cls) -> dict[str, str]:
        return {"delete": "DEL", "keyvalueputop": "PUT", "keyvaluedeleteop": "DEL",
                "keyvaluepurgeop": "PURGE"}


_PUT, _DEL, _PURGE = KeyValueOp.PUT, KeyValueOp.DEL, KeyValueOp.PURGE


def _op_of(h: Headers) -> KeyValueOp:
    """The operation of a stored message, from KV-Operation or a server marker reason."""
    op = h.get(KV_OP)
    if op:
        if op == "DEL":
            return _DEL
        if op == "PURGE":
            return _PURGE
        return _PUT
    reason = h.get(MARKER_REASON)
    if reason in ("MaxAge", "Purge"):
        return _PURGE
    if reason == "Remove":
        return _DEL
    return _PUT


def _op_of_raw(hdr: bytes) -> KeyValueOp:
    if not hdr or (b"KV-Operation" not in hdr and b"Nats-Marker-Reason" not in hdr):
        return _PUT
    return _op_of(decode_headers(hdr))


@dataclass(frozen=True, slots=True)
class KeyValueEntry:
    """One revision of a key: its value (``b""`` for markers and meta-only watches),
    revision (stream sequence), creation time, ``delta`` (how many newer revisions matched
    when it was delivered; 0 for ``get``) and operation."""

    bucket: str
    key: str
    value: bytes
    revision: int
    created: datetime | None
    delta: int = 0
    operation: KeyValueOp = KeyValueOp.PUT

    def __repr__(self) -> str:
        v = self.value if len(self.value) <= 48 else self.value[:48] + b"..."
        op = "" if self.operation is _PUT else f" {self.operation.value}"
        return (f"<KeyValueEntry {self.bucket}/{self.key} rev={self.revision}{op} "
                f"value={v!r}>")


@dataclass(frozen=True)
class KeyValueStatus:
    """The state and configuration of a bucket (``js.key_values()``, ``kv.status()``)."""

    bucket: str
    values: int
    history: int
    ttl: float
    bytes: int
    backing_store: str = "JetStream"
    is_compressed: bool = False
    limit_marker_ttl: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)
    stream_info: StreamInfo | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_info(cls, info: StreamInfo, bucket: str | None = None) -> KeyValueStatus:
        """Build the status from the bucket's stream info."""
        c, st = info.config, info.state
        name = bucket or (c.name[3:] if (c.name or "").startswith("KV_") else c.name or "")
        return cls(bucket=name, values=st.messages, history=int(c.max_msgs_per_subject or 0),
                   ttl=float(c.max_age or 0.0), bytes=st.bytes,
                   is_compressed=c.compression not in (None, StoreCompression.NONE),
                   limit_marker_ttl=float(c.subject_delete_marker_ttl or 0.0),
                   metadata=dict(c.metadata or {}), stream_info=info)

    def _repr_html_(self) -> str:
        """The status as bounded, escaped HTML."""
        from ._repr import field_table, fmt_duration, human_bytes
        return field_table(f"KeyValue status {self.bucket}", [
            ("values", f"{self.values:,}"), ("history", self.history),
            ("ttl", fmt_duration(self.ttl) if self.ttl else "none"),
            ("bytes", human_bytes(self.bytes)), ("backing store", self.backing_store),
            ("compressed", self.is_compressed),
            ("limit marker ttl", fmt_duration(self.limit_marker_ttl)
             if self.limit_marker_ttl else "none")])

    @property
    def config(self) -> KeyValueConfig:
        """The bucket's configuration, rebuilt from the stream's (as nats.go does)."""
        assert self.stream_info is not None
        c = self.stream_info.config
        return KeyValueConfig(
            bucket=self.bucket, description=c.description,
            max_value_size=c.max_msg_size, history=int(c.max_msgs_per_subject or 1),
            ttl=c.max_age or None, max_bytes=c.max_bytes, storage=c.storage,
            replicas=int(c.num_replicas or 1), placement=c.placement, republish=c.republish,
            mirror=c.mirror, sources=c.sources, compression=self.is_compressed,
            limit_marker_ttl=c.subject_delete_marker_ttl or None, metadata=c.metadata)


# ---------------------------------------------------------------------------------------------
# Bucket management (mixed into JetStream)


def _strip_kv(name: str) -> str:
    return name[3:] if name.startswith("KV_") else name


async def _stream_config(js: JetStream, cfg: KeyValueConfig) -> StreamConfig:
    """The stream config nats.go's ``prepareKeyValueConfig`` builds for ``cfg``."""
    bucket = names.bucket_name(cfg.bucket)
    history = int(cfg.history or 1)
    if history < 1 or history > MAX_HISTORY:
        raise errors.InvalidConfigError(
            f"bucket {bucket!r}: history must be between 1 and {MAX_HISTORY}, got {cfg.history}")
    ttl = to_duration(cfg.ttl) if cfg.ttl else None
    if ttl is not None and ttl < 0:
        raise errors.InvalidConfigError(f"bucket {bucket!r}: ttl must not be negative")
    dup = to_duration(_MAX_DUPLICATE_WINDOW)
    if ttl is not None and 0 < ttl < _MAX_DUPLICATE_WINDOW:
        dup = ttl
    allow_msg_ttl = False
    marker_ttl = None
    if cfg.limit_marker_ttl:
        acct = await js.account_info()
        if acct.api.level < 1:
            raise errors.InvalidConfigError(
                "limit_marker_ttl needs nats-server 2.11 or newer (JetStream API level 1)")
        allow_msg_ttl = True
        marker_ttl = to_duration(cfg.limit_marker_ttl)
    scfg = StreamConfig(
        name=f"KV_{bucket}", description=cfg.description, max_msgs_per_subject=history,
        max_bytes=cfg.max_bytes or -1, max_age=ttl, max_msg_size=cfg.max_value_size or -1,
        storage=cfg.storage, num_replicas=int(cfg.replicas or 1), placement=cfg.placement,
        allow_rollup_hdrs=True, deny_delete=True, duplicate_window=dup, max_msgs=-1,
        max_consumers=-1, allow_direct=True, republish=cfg.republish,
        compression=StoreCompression.S2 if cfg.compression else StoreCompression.NONE,
        discard=DiscardPolicy.NEW, allow_msg_ttl=allow_msg_ttl,
        subject_delete_marker_ttl=marker_ttl, metadata=cfg.metadata)
    if cfg.mirror is not None:
        m = copy.deepcopy(cfg.mirror)
        if not (m.name or "").startswith("KV_"):
            m.name = f"KV_{m.name}"
        scfg.mirror = m
        scfg.mirror_direct = True
    else:
        if cfg.sources:
            srcs: list[StreamSource] = []
            for src in cfg.sources:
                ss = copy.deepcopy(src)
                if ss.subject_transforms:  # full control: used as given
                    srcs.append(ss)
                    continue
                name = ss.name or ""
                if name.startswith("KV_"):
                    src_bucket = name[3:]
                else:
                    src_bucket = name
                    ss.name = f"KV_{name}"
                external = ss.external is not None or bool(ss.domain)
                if not external or src_bucket != bucket:
                    ss.subject_transforms = [SubjectTransformConfig(
                        src=f"$KV.{src_bucket}.>", dest=f"$KV.{bucket}.>")]
                srcs.append(ss)
            scfg.sources = srcs
        scfg.subjects = [f"$KV.{bucket}.>"]
    return scfg


_COMPARED = ("subjects", "max_msgs_per_subject", "max_bytes", "max_age", "max_msg_size",
             "storage", "num_replicas", "allow_rollup_hdrs", "deny_delete", "duplicate_window",
             "max_msgs", "max_consumers", "compression", "description", "mirror", "sources",
             "republish", "allow_msg_ttl", "subject_delete_marker_ttl")


def _same_but_discard(have: StreamConfig, want: StreamConfig) -> bool:
    """True when an existing bucket differs from ``want`` only in discard / allow_direct
    (buckets made by old clients), which nats.go then updates in place."""
    a, b = have.to_json(), want.to_json()
    return all(a.get(k) == b.get(k) for k in _COMPARED)


class KeyValueManager:
    """Bucket management methods of ``JetStream``."""

    async def create_key_value(self: JetStream, config: KeyValueConfig | None = None,  # type: ignore[misc]
                               /, **fields: Any) -> KeyValue:
        """Create a bucket (identical config: no-op; different: BucketExistsError)."""
        cfg = make_config(KeyValueConfig, config, **fields)
        scfg = await _stream_config(self, cfg)
        try:
            stream = await self.create_stream(scfg)
        except errors.StreamNameAlreadyInUseError as e:
            try:
                have = await self.stream(scfg.name or "")
            except errors.StreamNotFoundError:
                raise e from None
            if not _same_but_discard(have.cached_info().config, scfg):
                diff = _diff.differing_fields(scfg.to_json(),
                                              have.cached_info().config.to_json(),
                                              keys=_COMPARED, rename=_diff.KV_NAMES)
                err = errors.BucketExistsError(
                    f"bucket {cfg.bucket!r} already exists with a different configuration"
                    + _diff.describe(diff), code=e.code, err_code=e.err_code)
                err.differences = diff
                raise err from None
            stream = await self.update_stream(scfg)
        return KeyValue(self, stream)

    async def update_key_value(self: JetStream, config: KeyValueConfig | None = None,  # type: ignore[misc]
                               /, **fields: Any) -> KeyValue:
        """Change an existing bucket's configuration (BucketNotFoundError if missing)."""
        cfg = make_config(KeyValueConfig, config, **fields)
        scfg = await _stream_config(self, cfg)
        try:
            stream = await self.update_stream(scfg)
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"bucket {cfg.bucket!r} not found") from None
        return KeyValue(self, stream)

    async def create_or_update_key_value(self: JetStream,  # type: ignore[misc]
                                         config: KeyValueConfig | None = None, /,
                                         **fields: Any) -> KeyValue:
        """Update the bucket, creating it when it does not exist."""
        cfg = make_config(KeyValueConfig, config, **fields)
        scfg = await _stream_config(self, cfg)
        stream = await self.create_or_update_stream(scfg)
        return KeyValue(self, stream)

    async def key_value(self: JetStream, bucket: str) -> KeyValue:  # type: ignore[misc]
        """A handle on an existing bucket (BucketNotFoundError, also a KeyError, if none)."""
        names.bucket_name(bucket)
        try:
            stream = await self.stream(f"KV_{bucket}")
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"bucket {bucket!r} not found") from None
        if (stream.cached_info().config.max_msgs_per_subject or 0) < 1:
            raise errors.BadBucketError(f"stream KV_{bucket} is not a valid key-value bucket")
        return KeyValue(self, stream)

    async def delete_key_value(self: JetStream, bucket: str) -> None:  # type: ignore[misc]
        """Delete a bucket and all its keys (BucketNotFoundError if missing)."""
        names.bucket_name(bucket)
        try:
            await self.delete_stream(f"KV_{bucket}")
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"bucket {bucket!r} not found") from None

    async def key_value_store_names(self: JetStream) -> AsyncIterator[str]:  # type: ignore[misc]
        """The name of every bucket."""
        async for name in self.stream_names(subject="$KV.*.>"):
            if name.startswith("KV_"):
                yield name[3:]

    async def key_values(self: JetStream) -> AsyncIterator[KeyValueStatus]:  # type: ignore[misc]
        """The status of every bucket."""
        async for info in self.list_streams(subject="$KV.*.>"):
            if (info.config.name or "").startswith("KV_"):
                yield KeyValueStatus.from_info(info)


# ---------------------------------------------------------------------------------------------
# Codecs for the dict views and to_pandas


def _enc_bytes(v: Any) -> bytes:
    return to_bytes(v)


def _dec_bytes(b: bytes) -> Any:
    return b


def _enc_str(v: Any) -> bytes:
    if not isinstance(v, str):
        raise errors.EncodeError(f"the 'str' codec stores str values, not {type(v).__name__}")
    return v.encode()


def _dec_str(b: bytes) -> Any:
    return b.decode()


def _enc_json(v: Any) -> bytes:
    try:
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as e:
        raise errors.EncodeError(f"value is not JSON serializable: {e}") from None


def _dec_json(b: bytes) -> Any:
    return json.loads(b)


def _msgpack() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    import msgpack  # type: ignore[import-untyped]

    def enc(v: Any) -> bytes:
        try:
            return msgpack.packb(v, use_bin_type=True)  # type: ignore[no-any-return]
        except (TypeError, ValueError) as e:
            raise errors.EncodeError(f"value cannot be packed with msgpack: {e}") from None

    def dec(b: bytes) -> Any:
        return msgpack.unpackb(b, raw=False)

    return enc, dec


CodecSpec = Any  # a name, an object with encode/decode, or an (encode, decode) pair


def resolve_codec(codec: CodecSpec) -> tuple[str, Callable[[Any], bytes],
                                             Callable[[bytes], Any]]:
    """(name, encode, decode) for a codec given as ``"bytes"``, ``"str"``, ``"json"``,
    ``"msgpack"``, a :class:`jsdata.Codec` (its ``encode_row`` / ``decode_message``), an
    object with ``encode(value) -> bytes`` / ``decode(bytes)`` methods or an
    ``(encode, decode)`` pair of functions."""
    if codec is None or codec == "bytes":
        return "bytes", _enc_bytes, _dec_bytes
    if isinstance(codec, str):
        low = codec.lower()
        if low in ("bytes", "raw"):
            return "bytes", _enc_bytes, _dec_bytes
        if low in ("str", "string", "utf-8", "utf8", "text"):
            return "str", _enc_str, _dec_str
        if low == "json":
            return "json", _enc_json, _dec_json
        if low == "msgpack":
            enc, dec = _msgpack()
            return "msgpack", enc, dec
        raise errors.InvalidArgumentError(
            f"unknown codec {codec!r}: use 'bytes', 'str', 'json', 'msgpack', an object with "
            f"encode/decode methods or an (encode, decode) pair")
    from .codec import Codec  # a jsdata.Codec: its one-message hooks
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


# ---------------------------------------------------------------------------------------------
# The bucket


def _seconds(v: float | timedelta) -> float:
    return v.total_seconds() if isinstance(v, timedelta) else float(v)


class KeyValue:
    """A key-value bucket. Obtain it from ``js.key_value(bucket)`` or ``js.create_key_value``.

    Reads use the stream's direct get; watchers are ordered push consumers. The blocking
    ``jsdata.KeyValue`` is also a mapping of keys to ``bytes`` (``kv["k"]``).
    """

    def __init__(self, js: JetStream, stream: Stream) -> None:
        self._js = js
        self._stream = stream
        cfg = stream.cached_info().config
        self._stream_name: str = cfg.name or ""
        self._name = _strip_kv(self._stream_name)
        self._pre = f"$KV.{self._name}."
        put_pre: str | None = None
        use_js_prefix = js.prefix != "$JS.API"  # domains / API prefixes: as nats.go does
        m = cfg.mirror
        if m is not None and m.name:
            origin = _strip_kv(m.name)
            # A mirror stores the origin's subjects; writes go to the origin bucket.
            self._pre = f"$KV.{origin}."
            if m.external is not None and m.external.api:
                use_js_prefix = False
                put_pre = f"{m.external.api}.$KV.{origin}."
            else:
                put_pre = self._pre
        base = put_pre or self._pre
        self._put_pre = f"{js.prefix}.{base}" if use_js_prefix else base
        self._plen = len(self._pre)

    # -- descriptive ---------------------------------------------------------------------------
    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._name

    @property
    def stream_name(self) -> str:
        """The name of the backing stream (``KV_<bucket>``)."""
        return self._stream_name

    @property
    def stream(self) -> Stream:
        """The backing stream."""
        return self._stream

    def _max_value(self) -> int | None:
        mx = self._stream.cached_info().config.max_msg_size
        return mx if mx and mx > 0 else None

    def __repr__(self) -> str:
        info = self._stream.cached_info()
        c, st = info.config, info.state
        ttl = f" ttl={float(c.max_age):g}s" if c.max_age else ""
        return (f"<KeyValue {self._name!r} history={c.max_msgs_per_subject}{ttl} "
                f"values={st.messages} bytes={st.bytes} (cached)>")

    def _repr_html_(self) -> str:
        """The cached bucket info as bounded, escaped HTML (no network call)."""
        from ._repr import field_table, fmt_duration, fmt_limit, human_bytes
        info = self._stream.cached_info()
        c, st = info.config, info.state
        rows: list[tuple[str, Any]] = [
            ("stream", self._stream_name), ("history", c.max_msgs_per_subject),
            ("ttl", fmt_duration(c.max_age) if c.max_age else "none"),
            ("max value size", fmt_limit(c.max_msg_size, "bytes")),
            ("max bytes", fmt_limit(c.max_bytes, "bytes")),
            ("storage", str(c.storage)), ("replicas", c.num_replicas),
            ("compressed", c.compression not in (None, StoreCompression.NONE)),
            ("limit marker ttl", fmt_duration(c.subject_delete_marker_ttl)
             if c.subject_delete_marker_ttl else "none"),
            ("mirror of", c.mirror.name if c.mirror is not None else None),
            ("values", f"{st.messages:,}"), ("bytes", human_bytes(st.bytes)),
            ("description", c.description)]
        return field_table(f"KeyValue {self._name}", rows,
                           subtitle="cached info; kv.status() refreshes")

    # -- writing -------------------------------------------------------------------------------
    def _prepare(self, key: str, value: Data | None) -> tuple[str, bytes]:
        key = names.kv_key(key)
        payload = to_bytes(value)
        mx = self._max_value()
        if mx is not None and len(payload) > mx:
            raise errors.ValueTooLargeError(
                f"value for key {key!r} is {len(payload)} bytes; bucket {self._name!r} allows "
                f"at most {mx} bytes (max_value_size)")
        return key, payload

    async def _check_ttl(self, ttl: float | timedelta | None) -> None:
        if ttl is None:
            return
        if not self._stream.cached_info().config.allow_msg_ttl:
            await self._stream.info()  # the bucket may have been updated since
            if not self._stream.cached_info().config.allow_msg_ttl:
                raise errors.LimitMarkerTTLNotEnabledError(
                    f"per-key TTL needs a bucket created with limit_marker_ttl "
                    f"(bucket {self._name!r})")

    async def _send(self, key: str, payload: bytes, *, headers: dict[str, str] | None = None,
                    expect: int | None = None, ttl: float | timedelta | None = None,
                    what: str = "put") -> int:
        try:
            ack = await self._js.publish(self._put_pre + key, payload, headers=headers,
                                         expect_last_sequence_per_subject=expect, ttl=ttl)
        except errors.JetStreamError as e:
            raise self._map_write_error(e, key, what) from None
        return ack.sequence

    def _map_write_error(self, e: errors.JetStreamError, key: str,
                         what: str) -> errors.JetStreamError:
        if e.err_code in _WRONG_LAST_SEQUENCE:
            msg = ("key exists" if what == "create" else "key revision mismatch")
            return errors.KeyExistsError(f"{what} {key!r} in bucket {self._name!r}: {msg} "
                                         f"({e.description})", code=e.code, err_code=e.err_code)
        if e.err_code == _MSG_TOO_LARGE:
            return errors.ValueTooLargeError(
                f"{what} {key!r} in bucket {self._name!r}: {e.description}", code=e.code,
                err_code=e.err_code)
        return e

    async def put(self, key: str, value: Data | None) -> int:
        """Store ``value`` (bytes or str) under ``key``; returns the new revision."""
        key, payload = self._prepare(key, value)
        return await self._send(key, payload)

    async def put_string(self, key: str, value: str) -> int:
        """Store a string (UTF-8) under ``key``; returns the new revision."""
        return await self.put(key, value)

    async def create(self, key: str, value: Data | None,
                     ttl: float | timedelta | None = None) -> int:
        """Store ``value`` only if ``key`` has no value (absent, deleted or purged);
        KeyExistsError otherwise. ``ttl`` (seconds) needs a bucket with limit_marker_ttl."""
        key, payload = self._prepare(key, value)
        await self._check_ttl(ttl)
        try:
            return await self._send(key, payload, expect=0, ttl=ttl, what="create")
        except errors.KeyExistsError as first:
            try:
                entry = await self._entry(key, None)
            except errors.KeyNotFoundError:
                raise first from None
            if entry.operation is _PUT:
                raise first from None
            # Over a delete/purge marker: compare-and-set against the marker's revision.
            return await self._send(key, payload, expect=entry.revision, ttl=ttl,
                                    what="create")

    async def update(self, key: str, value: Data | None, last_revision: int) -> int:
        """Store ``value`` only if ``key``'s latest revision is ``last_revision``
        (compare-and-set); KeyExistsError otherwise."""
        key, payload = self._prepare(key, value)
        return await self._send(key, payload, expect=int(last_revision), what="update")

    async def delete(self, key: str, last_revision: int | None = None) -> None:
        """Place a delete marker (history is kept); with ``last_revision``, only if that is
        the latest revision (KeyExistsError otherwise)."""
        key = names.kv_key(key)
        await self._send(key, b"", headers={KV_OP: "DEL"},
                         expect=int(last_revision) if last_revision else None, what="delete")

    async def purge(self, key: str, ttl: float | timedelta | None = None,
                    last_revision: int | None = None) -> None:
        """Place a purge marker and remove every earlier revision of ``key``; ``ttl`` makes
        the marker itself expire (needs limit_marker_ttl)."""
        key = names.kv_key(key)
        await self._check_ttl(ttl)
        await self._send(key, b"", headers={KV_OP: "PURGE", ROLLUP: "sub"},
                         expect=int(last_revision) if last_revision else None, ttl=ttl,
                         what="purge")

    async def update_many(self, mapping: Mapping[str, Data] | Iterable[tuple[str, Data]],
                          *, atomic: bool = False) -> dict[str, int]:
        """Put many keys at once, pipelined (async publishes, then wait for every ack);
        returns each key's new revision. Everything is validated before anything is sent.

        ``atomic=True`` writes them as one atomic batch (nats-server 2.12+, the bucket's
        stream with ``allow_atomic``; at most 1000 keys): all keys change, or none."""
        pairs = mapping.items() if isinstance(mapping, Mapping) else mapping
        prepared = [self._prepare(k, v) for k, v in pairs]
        if atomic:
            return await self._update_atomic(prepared)
        js = self._js
        window = max(1, min(_BULK_WINDOW, js._pa_max // 2))
        inflight: deque[tuple[str, Any]] = deque()
        revs: dict[str, int] = {}
        failed: list[tuple[str, errors.JetStreamError]] = []

        async def settle(one: tuple[str, Any]) -> None:
            k, fut = one
            try:
                revs[k] = (await fut).sequence
            except errors.JetStreamError as e:
                failed.append((k, e))

        pre = self._put_pre
        try:
            for key, payload in prepared:
                if len(inflight) >= window:
                    await settle(inflight.popleft())
                inflight.append((key, await js._publish_async_raw(pre + key, payload, b"")))
        finally:
            while inflight:
                await settle(inflight.popleft())
        if failed:
            k, e = failed[0]
            err = self._map_write_error(e, k, "put")
            err.description = f"{len(failed)} of {len(prepared)} puts failed; first: {err}"
            raise err
        return revs

    async def _update_atomic(self, prepared: list[tuple[str, bytes]]) -> dict[str, int]:
        from .atomic import MAX_ATOMIC_BATCH
        if not prepared:
            return {}
        if len(prepared) > MAX_ATOMIC_BATCH:
            raise errors.InvalidArgumentError(
                f"an atomic update_many holds at most {MAX_ATOMIC_BATCH} keys, got "
                f"{len(prepared)}")
        if not self._stream.cached_info().config.allow_atomic:
            await self._stream.info()
            if not self._stream.cached_info().config.allow_atomic:
                raise errors.InvalidConfigError(
                    f"bucket {self._name!r}: atomic update_many needs allow_atomic on its "
                    f"stream {self._stream_name!r} (js.update_stream with allow_atomic=True)")
        b = await self._js.batch_publisher()
        pre = self._put_pre
        try:
            for key, payload in prepared[:-1]:
                await b.add(pre + key, payload)
            last_key, last_payload = prepared[-1]
            ack = await b.commit(pre + last_key, last_payload)
        except errors.JetStreamError as e:
            raise self._map_write_error(e, prepared[0][0], "put") from None
        first = ack.sequence - len(prepared) + 1  # an atomic batch is stored contiguously
        revs: dict[str, int] = {}
        for i, (key, _) in enumerate(prepared):
            revs[key] = first + i
        return revs

    # -- reading -------------------------------------------------------------------------------
    async def _entry(self, key: str, revision: int | None) -> KeyValueEntry:
        """The stored revision (markers included); KeyNotFoundError when there is none."""
        subj = self._pre + key
        if not revision and self._stream.cached_info().config.allow_direct:
            return await self._direct_last(key, subj)
        try:
            if not revision:
                m = await self._stream.get_last_msg_for_subject(subj)
            else:
                m = await self._stream.get_msg(int(revision))
        except errors.MsgNotFoundError:
            raise errors.KeyNotFoundError(
                f"key {key!r} not found in bucket {self._name!r}") from None
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"bucket {self._name!r} not found") from None
        except errors.APIError as e:
            if e.code == 503:
                raise errors.BucketNotFoundError(
                    f"bucket {self._name!r} not found (no responders)") from None
            raise
        if m.subject != subj:
            raise errors.KeyNotFoundError(
                f"revision {revision} of bucket {self._name!r} is not key {key!r}")
        op = _op_of(m.headers) if m.headers else _PUT
        return KeyValueEntry(self._name, key, m.data, m.sequence, m.time, 0, op)

    async def _direct_last(self, key: str, subj: str) -> KeyValueEntry:
        """The latest revision of ``key`` by direct get (the hot read path)."""
        js = self._js
        data, hdr = await js._mux.request(
            f"{js.prefix}.DIRECT.GET.{self._stream_name}.{subj}", b"", js.timeout)
        st = status_of(hdr) if hdr else None
        if st is not None or not hdr:
            code = st[0] if st is not None else 0
            if code == 404:
                raise errors.KeyNotFoundError(
                    f"key {key!r} not found in bucket {self._name!r}")
            if code == 503:
                raise errors.BucketNotFoundError(
                    f"bucket {self._name!r} not found (no responders)", code=503)
            raise errors.APIError(f"direct get of {key!r} failed: {st}", code=code or None)
        h = decode_headers(hdr)
        return KeyValueEntry(self._name, key, data, int(h.get("Nats-Sequence", "0")),
                             parse_time(h.get("Nats-Time-Stamp")), 0, _op_of(h))

    async def get(self, key: str, revision: int | None = None) -> KeyValueEntry:
        """The latest entry of ``key`` (or the given revision). KeyNotFoundError if absent,
        KeyDeletedError if deleted or purged (both are KeyErrors)."""
        key = names.kv_key(key)
        e = await self._entry(key, revision)
        if e.operation is not _PUT:
            err = errors.KeyDeletedError(
                f"key {key!r} in bucket {self._name!r} was "
                f"{'deleted' if e.operation is _DEL else 'purged'} (revision {e.revision})")
            err.entry = e  # type: ignore[attr-defined]
            raise err
        return e

    def _entry_from_msg(self, m: Msg) -> KeyValueEntry:
        toks = m.reply.split(".")
        if len(toks) == 9:
            sseq, ts, pending = toks[5], toks[7], toks[8]
        else:
            sseq, ts, pending = toks[7], toks[9], toks[10]
        return KeyValueEntry(self._name, m.subject[self._plen:], m.data, int(sseq),
                             ns_to_datetime(int(ts)), int(pending), _op_of_raw(m._hdr))

    def _filters(self, keys: str | Sequence[str] | None) -> list[str]:
        pats = [keys] if isinstance(keys, str) else list(keys or [])
        if not pats:
            pats = [">"]
        for p in pats:
            names.kv_key(p, allow_wildcards=True)
        return [self._pre + p for p in pats]

    def _feed(self, filters: list[str], deliver_policy: str, *, headers_only: bool = False,
              start: int | None = None, mark_initial: bool = True) -> OrderedFeed:
        return OrderedFeed(self._js, self._stream_name, filter_subjects=filters,
                           deliver_policy=deliver_policy, opt_start_seq=start,
                           headers_only=headers_only, mark_initial=mark_initial)

    async def _start(self, feed: OrderedFeed) -> OrderedFeed:
        try:
            return await feed.start()
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"bucket {self._name!r} not found") from None

    async def _collect(self, filters: list[str], deliver_policy: str, *,
                       headers_only: bool = False) -> list[KeyValueEntry]:
        """Every entry the feed delivers before its initial-values marker."""
        feed = await self._start(self._feed(filters, deliver_policy, headers_only=headers_only))
        out: list[KeyValueEntry] = []
        conv = self._entry_from_msg
        try:
            while True:
                items = await feed.next_many()
                if not items:
                    return out
                for m in items:
                    if m is None:
                        return out
                    out.append(conv(m))
        finally:
            await feed.stop()

    async def _latest(self, filters: list[str] | None, headers_only: bool
                      ) -> list[KeyValueEntry]:
        """The latest entry of every key matching ``filters`` (markers included). A key
        can be delivered twice when writers replace values during the replay: last wins."""
        entries = await self._collect(filters or [self._pre + ">"], "last_per_subject",
                                      headers_only=headers_only)
        return list({e.key: e for e in entries}.values())

    async def history(self, key: str) -> list[KeyValueEntry]:
        """Every stored revision of ``key`` (markers included), oldest first;
        KeyNotFoundError when there is none. ``key`` may be a wildcard pattern."""
        entries = await self._collect(self._filters(key), "all")
        if not entries:
            raise errors.KeyNotFoundError(f"key {key!r} not found in bucket {self._name!r}")
        return entries

    def list_keys(self, *filters: str) -> KeyLister:
        """The live keys (optionally only those matching the wildcard ``filters``), filtered
        on the server; an async iterator (``await`` it for a list)."""
        return KeyLister(self, self._filters(list(filters)))

    def keys(self, *filters: str) -> KeyLister:
        """Alias of :meth:`list_keys`."""
        return self.list_keys(*filters)

    async def _key_list(self, filters: list[str] | None = None) -> list[str]:
        return [e.key for e in await self._latest(filters, True) if e.operation is _PUT]

    async def watch(self, keys: str | Sequence[str] = ">", *, include_history: bool = False,
                    ignore_deletes: bool = False, meta_only: bool = False,
                    updates_only: bool = False,
                    resume_from_revision: int | None = None) -> KeyWatcher:
        """Watch keys matching ``keys`` (a pattern or a list of them): first the current
        entries (every revision with ``include_history``), then one ``None``, then live
        updates. ``updates_only`` skips the current entries (and the ``None``)."""
        if include_history and updates_only:
            raise errors.InvalidArgumentError(
                "include_history cannot be combined with updates_only")
        filters = self._filters(keys)
        policy = "all" if include_history else "last_per_subject"
        start = None
        if updates_only:
            policy = "new"
        if resume_from_revision:
            policy, start = "by_start_sequence", int(resume_from_revision)
        feed = await self._start(self._feed(filters, policy, headers_only=meta_only,
                                            start=start, mark_initial=not updates_only))
        return KeyWatcher(self, feed, ignore_deletes)

    async def watch_all(self, *, include_history: bool = False, ignore_deletes: bool = False,
                        meta_only: bool = False, updates_only: bool = False,
                        resume_from_revision: int | None = None) -> KeyWatcher:
        """Watch every key of the bucket (see :meth:`watch`)."""
        return await self.watch(">", include_history=include_history,
                                ignore_deletes=ignore_deletes, meta_only=meta_only,
                                updates_only=updates_only,
                                resume_from_revision=resume_from_revision)

    async def purge_deletes(self, older_than: float | timedelta | None = None) -> None:
        """Remove delete/purge markers and the revisions they hide. Markers younger than
        ``older_than`` seconds (None: 30 minutes, as nats.go) are kept, only the data behind
        them is removed; ``older_than <= 0`` removes every marker."""
        thr = DEFAULT_PURGE_DELETES_OLDER_THAN if older_than is None else _seconds(older_than)
        markers = [e for e in await self._latest(None, True) if e.operation is not _PUT]
        limit = time.time() - thr
        for i in range(0, len(markers), 64):
            await asyncio.gather(*(
                self._stream.purge(
                    subject=self._pre + e.key,
                    keep=1 if thr > 0 and e.created is not None
                    and e.created.timestamp() > limit else None)
                for e in markers[i:i + 64]))

    async def status(self) -> KeyValueStatus:
        """Fresh status of the bucket (also refreshes the cached info used by repr)."""
        try:
            info = await self._stream.info()
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"bucket {self._name!r} not found") from None
        return KeyValueStatus.from_info(info, self._name)

    # -- mapping helpers (shared by the blocking dunders and the dict views) -------------------
    async def _value_of(self, key: str) -> bytes:
        return (await self.get(key)).value

    async def _has(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            await self.get(key)
        except errors.InvalidKeyError:
            return False
        except KeyError:
            return False
        return True

    async def _delete_existing(self, key: str) -> None:
        await self.get(key)  # KeyError when missing or deleted, as dict's del
        await self.delete(key)

    async def _snapshot(self, filters: list[str] | None = None, headers_only: bool = False
                        ) -> list[KeyValueEntry]:
        return [e for e in await self._latest(filters, headers_only) if e.operation is _PUT]

    def as_dict(self, codec: CodecSpec = "json") -> AsyncKeyValueDict:
        """A dict-like view with async methods whose values go through ``codec``
        (``"bytes"``, ``"str"``, ``"json"``, ``"msgpack"``, an object with encode/decode or
        an ``(encode, decode)`` pair). The blocking API returns a real MutableMapping."""
        return AsyncKeyValueDict(self, codec)

    async def to_pandas(self, codec: CodecSpec = "json",
                        keys: str | Sequence[str] | None = None) -> pd.DataFrame:
        """A DataFrame of the live keys (optionally only those matching ``keys``), index
        ``key``: JSON objects expand to columns, other values go to a ``value`` column; plus
        ``_revision`` and ``_created``."""
        import pandas as pd  # type: ignore[import-untyped]
        _, _, dec = resolve_codec(codec)
        entries = await self._snapshot(self._filters(keys) if keys else None)
        entries.sort(key=lambda e: e.key)
        values = []
        for e in entries:
            try:
                values.append(dec(e.value))
            except Exception as ex:  # noqa: BLE001 - any codec failure names the key
                raise errors.DecodeError(
                    f"bucket {self._name!r}: cannot decode key {e.key!r} (revision "
                    f"{e.revision}): {ex}", sequence=e.revision, subject=self._pre + e.key
                ) from None
        index = pd.Index([e.key for e in entries], name="key", dtype=object)
        if values and all(isinstance(v, dict) for v in values):
            df = pd.DataFrame.from_records(values, index=index)
        else:
            df = pd.DataFrame({"value": pd.Series(values, index=index, dtype=object)})
        df["_revision"] = pd.Series([e.revision for e in entries], index=index, dtype="int64")
        df["_created"] = pd.to_datetime(pd.Series([e.created for e in entries], index=index,
                                                  dtype=object), utc=True)
        return df


class KeyLister:
    """The keys of one server-filtered snapshot: ``async for key in kv.list_keys()`` or
    ``await kv.list_keys()`` for a list (blocking: a plain iterator)."""

    def __init__(self, kv: KeyValue, filters: list[str]) -> None:
        self._kv = kv
        self._filters = filters
        self._keys: list[str] | None = None
        self._i = 0

    def __repr__(self) -> str:
        return f"<KeyLister {self._kv.bucket} filters={self._filters}>"

    async def _load(self) -> list[str]:
        if self._keys is None:
            self._keys = await self._kv._key_list(self._filters)
        return self._keys

    def __aiter__(self) -> KeyLister:
        return self

    async def __anext__(self) -> str:
        keys = await self._load()
        if self._i >= len(keys):
            raise StopAsyncIteration
        self._i += 1
        return keys[self._i - 1]

    async def _next_many(self) -> list[str]:
        keys = await self._load()
        out = keys[self._i:]
        self._i = len(keys)
        return out

    async def _all(self) -> list[str]:
        return list(await self._load())

    def __await__(self) -> Generator[Any, None, list[str]]:
        return self._all().__await__()


class KeyWatcher:
    """Entries of watched keys: the current ones, one ``None``, then live updates.

    An async iterator (blocking: an iterator); ``await w.next(timeout)``; ``stop()`` ends
    iteration; a context manager that stops on exit.
    """

    def __init__(self, kv: KeyValue, feed: OrderedFeed, ignore_deletes: bool) -> None:
        self._kv = kv
        self._feed = feed
        self._ignore_deletes = ignore_deletes

    def __repr__(self) -> str:
        state = "stopped" if self._feed.stopped else "watching"
        return f"<KeyWatcher {self._kv.bucket} {state}>"

    @property
    def stopped(self) -> bool:
        """True once stopped (or failed)."""
        return self._feed.stopped

    def _bucket_error(self, e: errors.StreamNotFoundError) -> errors.JetStreamError:
        return errors.BucketNotFoundError(f"bucket {self._kv.bucket!r} not found: {e}")

    async def _next(self, timeout: float | None) -> KeyValueEntry | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                m = await self._feed.next(left)
            except errors.StreamNotFoundError as err:
                raise self._bucket_error(err) from None
            if m is None:
                return None
            entry = self._kv._entry_from_msg(m)
            if self._ignore_deletes and entry.operation is not _PUT:
                continue
            return entry

    async def next(self, timeout: float | None = None) -> KeyValueEntry | None:
        """The next entry (``None`` once, after the initial values). JetStreamTimeoutError
        after ``timeout`` seconds; MsgIteratorClosedError once stopped."""
        try:
            return await self._next(timeout)
        except StopAsyncIteration:
            raise errors.MsgIteratorClosedError("the watcher is stopped") from None

    def __aiter__(self) -> KeyWatcher:
        return self

    async def __anext__(self) -> KeyValueEntry | None:
        return await self._next(None)

    async def _next_many(self) -> list[KeyValueEntry | None]:
        conv = self._kv._entry_from_msg
        while True:
            try:
                items = await self._feed.next_many()
            except errors.StreamNotFoundError as e:
                raise self._bucket_error(e) from None
            if not items:
                return []
            out = [None if m is None else conv(m) for m in items]
            if self._ignore_deletes:
                out = [e for e in out if e is None or e.operation is _PUT]
            if out:
                return out

    async def stop(self) -> None:
        """Stop watching (deletes the consumer); iteration ends."""
        await self._feed.stop()

    async def __aenter__(self) -> KeyWatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# ---------------------------------------------------------------------------------------------
# Dict views

_MISSING: Any = object()


class AsyncKeyValueDict:
    """The asyncio dict view of a bucket (``kv.as_dict(codec)``): async methods named as
    dict's; values are encoded/decoded by the codec. ``update`` pipelines its puts."""

    def __init__(self, kv: KeyValue, codec: CodecSpec = "json") -> None:
        self._kv = kv
        self.codec, self._enc, self._dec = resolve_codec(codec)

    def __repr__(self) -> str:
        return f"<AsyncKeyValueDict {self._kv.bucket} codec={self.codec}>"

    @property
    def kv(self) -> KeyValue:
        """The bucket behind the view."""
        return self._kv

    def _decode(self, e: KeyValueEntry) -> Any:
        try:
            return self._dec(e.value)
        except Exception as ex:  # noqa: BLE001
            raise errors.DecodeError(
                f"bucket {self._kv.bucket!r}: cannot decode key {e.key!r} with codec "
                f"{self.codec!r}: {ex}", sequence=e.revision) from None

    async def getitem(self, key: str) -> Any:
        """The decoded value (KeyError if missing or deleted)."""
        return self._decode(await self._kv.get(key))

    async def get(self, key: str, default: Any = None) -> Any:
        """The decoded value, or ``default`` when missing or deleted."""
        try:
            return await self.getitem(key)
        except KeyError:
            return default

    async def set(self, key: str, value: Any) -> int:
        """Encode and store ``value``; returns the revision."""
        return await self._kv.put(key, self._enc(value))

    async def delete(self, key: str) -> None:
        """Delete ``key`` (KeyError if missing or already deleted)."""
        await self._kv._delete_existing(key)

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
        return self._lt.run(self._view.getitem(key))

    def __setitem__(self, key: str, value: Any) -> None:
        self._lt.run(self._view.set(key, value))

    def __delitem__(self, key: str) -> None:
        self._lt.run(self._view.delete(key))

    def __contains__(self, key: object) -> bool:
        return bool(self._lt.run(self._view.contains(key)))

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


class _KeyValueBlocking:
    """Blocking-only parts of ``jsdata.KeyValue``: the mapping protocol on values."""

    __slots__ = ()
    _core: KeyValue
    _lt: Any

    def __getitem__(self, key: str) -> bytes:
        """``kv["k"]``: the value bytes (KeyError if missing or deleted)."""
        return self._lt.run(self._core._value_of(key))  # type: ignore[no-any-return]

    def __setitem__(self, key: str, value: Data) -> None:
        self._lt.run(self._core.put(key, value))

    def __delitem__(self, key: str) -> None:
        self._lt.run(self._core._delete_existing(key))

    def __contains__(self, key: object) -> bool:
        return bool(self._lt.run(self._core._has(key)))

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


KeyValue.__blocking_mixin__ = _KeyValueBlocking  # type: ignore[attr-defined]
