"""Key-value bucket management on ``JetStream``: create, update, open, delete, list.

``KeyValueManager`` is mixed into the assembled ``jsdata.aio.JetStream``. The stream behind a
bucket is configured exactly as nats.go's ``prepareKeyValueConfig`` does, so buckets made
here and by the official clients are interchangeable.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .. import errors
from ..client import _diff, names
from ..client._model import make_config
from ..client.config import (
    DiscardPolicy,
    KeyValueConfig,
    StoreCompression,
    StreamConfig,
    StreamSource,
    SubjectTransformConfig,
)
from ..client.times import to_duration
from .bucket import KeyValue
from .entry import MAX_HISTORY, KeyValueStatus

if TYPE_CHECKING:
    from ..client.jetstream import JetStream

__all__ = ["KeyValueManager"]

_MAX_DUPLICATE_WINDOW = 120.0


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
