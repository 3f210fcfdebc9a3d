"""Object store bucket management on ``JetStream``: create, update, open, delete, list.

``ObjectStoreManager`` is mixed into the assembled ``jsdata.aio.JetStream``; the stream
behind a bucket is configured as nats.go's ``CreateObjectStore`` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .. import errors
from ..client import _diff, names
from ..client._model import make_config
from ..client.config import DiscardPolicy, ObjectStoreConfig, StoreCompression, StreamConfig
from .layout import ObjectStoreStatus, stream_name_of
from .store import ObjectStore

if TYPE_CHECKING:
    from ..client.jetstream import JetStream

__all__ = ["ObjectStoreManager"]


class ObjectStoreManager:
    """Object store management methods of ``JetStream``."""

    @staticmethod
    def _object_stream_config(cfg: ObjectStoreConfig) -> StreamConfig:
        bucket = names.bucket_name(cfg.bucket)
        max_bytes = cfg.max_bytes if cfg.max_bytes else -1
        return StreamConfig(
            name=stream_name_of(bucket), description=cfg.description,
            subjects=[f"$O.{bucket}.C.>", f"$O.{bucket}.M.>"], max_age=cfg.ttl,
            max_bytes=max_bytes, storage=cfg.storage, num_replicas=cfg.replicas or 1,
            placement=cfg.placement, discard=DiscardPolicy.NEW, allow_rollup_hdrs=True,
            allow_direct=True, metadata=cfg.metadata,
            compression=StoreCompression.S2 if cfg.compression else StoreCompression.NONE)

    async def create_object_store(self: JetStream, config: ObjectStoreConfig | None = None,  # type: ignore[misc]
                                  /, **fields: Any) -> ObjectStore:
        """Create an object store bucket (same config again: no-op; a different one raises
        BucketExistsError, a StreamNameAlreadyInUseError)."""
        cfg = make_config(ObjectStoreConfig, config, **fields)
        scfg = ObjectStoreManager._object_stream_config(cfg)
        try:
            s = await self.create_stream(scfg)
        except errors.StreamNameAlreadyInUseError as e:
            diff = _diff.renamed(e.differences, _diff.OBJECT_NAMES)
            err = errors.BucketExistsError(
                f"object store {cfg.bucket!r} already exists with a different configuration"
                + _diff.describe(diff), code=e.code, err_code=e.err_code)
            err.differences = diff
            raise err from None
        return ObjectStore(self, str(cfg.bucket), s)

    async def update_object_store(self: JetStream, config: ObjectStoreConfig | None = None,  # type: ignore[misc]
                                  /, **fields: Any) -> ObjectStore:
        """Change an existing bucket's configuration (BucketNotFoundError if missing)."""
        cfg = make_config(ObjectStoreConfig, config, **fields)
        scfg = ObjectStoreManager._object_stream_config(cfg)
        try:
            s = await self.update_stream(scfg)
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"object store {cfg.bucket!r} not found") from None
        return ObjectStore(self, str(cfg.bucket), s)

    async def create_or_update_object_store(self: JetStream,  # type: ignore[misc]
                                            config: ObjectStoreConfig | None = None, /,
                                            **fields: Any) -> ObjectStore:
        """Create the bucket, or update it when it exists."""
        cfg = make_config(ObjectStoreConfig, config, **fields)
        s = await self.create_or_update_stream(ObjectStoreManager._object_stream_config(cfg))
        return ObjectStore(self, str(cfg.bucket), s)

    async def object_store(self: JetStream, bucket: str) -> ObjectStore:  # type: ignore[misc]
        """Bind to an existing bucket (BucketNotFoundError if missing)."""
        names.bucket_name(bucket)
        try:
            s = await self.stream(stream_name_of(bucket))
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"object store {bucket!r} not found") from None
        return ObjectStore(self, bucket, s)

    async def delete_object_store(self: JetStream, bucket: str) -> None:  # type: ignore[misc]
        """Delete a bucket and every object in it."""
        names.bucket_name(bucket)
        try:
            await self.delete_stream(stream_name_of(bucket))
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"object store {bucket!r} not found") from None

    async def object_store_names(self: JetStream) -> AsyncIterator[str]:  # type: ignore[misc]
        """The name of every object store bucket."""
        async for name in self.stream_names(subject="$O.*.C.>"):
            if name.startswith("OBJ_"):
                yield name[4:]

    async def object_stores(self: JetStream  # type: ignore[misc]
                            ) -> AsyncIterator[ObjectStoreStatus]:
        """The status of every object store bucket."""
        async for si in self.list_streams(subject="$O.*.C.>"):
            if si.config.name.startswith("OBJ_"):
                yield ObjectStoreStatus.from_stream_info(si.config.name[4:], si)
