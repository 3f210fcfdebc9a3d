"""What a bucket stores and reports: key operations, entries and the bucket status.

``KeyValueOp`` is read from the ``KV-Operation`` header (or, for server-written markers,
``Nats-Marker-Reason``), as nats.go's ``kv.go`` does; ``KeyValueStatus`` rebuilds a bucket's
configuration from its stream's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..client._model import WireEnum
from ..client.config import KeyValueConfig, StoreCompression
from ..client.headers import Headers, decode_headers
from ..client.info import StreamInfo

__all__ = ["KeyValueEntry", "KeyValueOp", "KeyValueStatus", "MAX_HISTORY"]

KV_OP = "KV-Operation"
MARKER_REASON = "Nats-Marker-Reason"
ROLLUP = "Nats-Rollup"
MAX_HISTORY = 64
DEFAULT_PURGE_DELETES_OLDER_THAN = 30 * 60.0  # Go's kvDefaultPurgeDeletesMarkerThreshold


def _strip_kv(name: str) -> str:
    return name[3:] if name.startswith("KV_") else name


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
        from .._repr import field_table, fmt_duration, human_bytes
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
