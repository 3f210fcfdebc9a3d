"""Configuration models: streams, consumers, key-value buckets and object stores.

Field names are the server's JSON names; ``to_json`` writes exactly what nats.go writes
(the same ``omitempty`` behaviour and Go zero values), so the server sees the same requests.
Durations are float seconds (``timedelta`` accepted), times are tz-aware UTC datetimes and
enum fields accept their plain string values. Build configs with keyword fields or with
:func:`~jsdata.client._model.make_config` / ``Model.replace``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import InvalidConfigError
from ._model import Model, WireEnum, make_config, wire, with_aliases

__all__ = [
    "AckPolicy",
    "ConsumerConfig",
    "DeliverPolicy",
    "DiscardPolicy",
    "ExternalStream",
    "KeyValueConfig",
    "ObjectLink",
    "ObjectMeta",
    "ObjectMetaOptions",
    "ObjectStoreConfig",
    "OrderedConsumerConfig",
    "PersistMode",
    "Placement",
    "PriorityPolicy",
    "RePublish",
    "ReplayPolicy",
    "RetentionPolicy",
    "StorageType",
    "StoreCompression",
    "StreamConfig",
    "StreamConsumerLimits",
    "StreamConsumerSource",
    "StreamSource",
    "SubjectTransformConfig",
    "make_config",
]


# ---------------------------------------------------------------------------------------------
# Enums (values are the server's JSON strings)


class AckPolicy(WireEnum):
    """How a consumer's messages must be acknowledged."""

    NONE = "none"
    ALL = "all"
    EXPLICIT = "explicit"
    FLOW_CONTROL = "flow_control"  # server 2.14+: durable sourcing over a push consumer


class DeliverPolicy(WireEnum):
    """Where in the stream a consumer starts delivering."""

    ALL = "all"
    LAST = "last"
    NEW = "new"
    BY_START_SEQUENCE = "by_start_sequence"
    BY_START_TIME = "by_start_time"
    LAST_PER_SUBJECT = "last_per_subject"

    @classmethod
    def _wire_aliases(cls) -> dict[str, str]:
        return {"undefined": "all"}


class ReplayPolicy(WireEnum):
    """How fast a consumer replays stored messages."""

    INSTANT = "instant"
    ORIGINAL = "original"


class RetentionPolicy(WireEnum):
    """When a stream may remove messages."""

    LIMITS = "limits"
    INTEREST = "interest"
    WORKQUEUE = "workqueue"

    @classmethod
    def _wire_aliases(cls) -> dict[str, str]:
        return {"work_queue": "workqueue"}


class StorageType(WireEnum):
    """Where a stream stores its messages."""

    FILE = "file"
    MEMORY = "memory"


class DiscardPolicy(WireEnum):
    """What a stream discards when a limit is reached."""

    OLD = "old"
    NEW = "new"


class StoreCompression(WireEnum):
    """On-disk compression of a stream."""

    NONE = "none"
    S2 = "s2"


class PriorityPolicy(WireEnum):
    """How a pull consumer's priority groups pick the client that gets messages."""

    NONE = "none"
    PINNED_CLIENT = "pinned_client"
    OVERFLOW = "overflow"
    PRIORITIZED = "prioritized"

    @classmethod
    def _wire_aliases(cls) -> dict[str, str]:
        return {"": "none", "pinned": "pinned_client"}


class PersistMode(WireEnum):
    """How a stream flushes writes (``async`` acks before the data is flushed)."""

    DEFAULT = "default"
    ASYNC = "async"

    @classmethod
    def _wire_aliases(cls) -> dict[str, str]:
        return {"": "default"}


# ---------------------------------------------------------------------------------------------
# Stream building blocks


@dataclass
class Placement(Model):
    """Where a stream is placed in a cluster: cluster name, server tags, preferred leader."""

    cluster: str = wire("", omitempty=False)
    tags: list[str] | None = None
    preferred: str | None = None


@dataclass
class SubjectTransformConfig(Model):
    """A subject mapping from ``src`` to ``dest`` applied to matching messages."""

    src: str = wire("", omitempty=False)
    dest: str = wire("", omitempty=False)


@dataclass
class RePublish(Model):
    """Republish stored messages matching ``src`` to ``dest`` (optionally headers only)."""

    src: str | None = None
    dest: str = wire("", omitempty=False)
    headers_only: bool = False


@dataclass
class ExternalStream(Model):
    """The API and deliver prefixes of a stream in another account or domain."""

    api: str = wire("", omitempty=False)
    deliver: str = wire("", omitempty=False)


@dataclass
class StreamConsumerSource(Model):
    """A durable consumer used for sourcing (server 2.14+)."""

    name: str | None = None
    deliver_subject: str | None = None


@dataclass
class StreamSource(Model):
    """A stream to mirror or source from.

    ``domain`` is client-side only: ``to_json`` turns it into ``external`` with the API
    prefix ``$JS.<domain>.API`` as nats.go does. A plain string is accepted as the name.
    """

    name: str = wire("", omitempty=False)
    opt_start_seq: int | None = None
    opt_start_time: datetime.datetime | None = None
    filter_subject: str | None = None
    subject_transforms: list[SubjectTransformConfig] | None = None
    external: ExternalStream | None = None
    consumer: StreamConsumerSource | None = None
    domain: str | None = wire(None, json=None)

    @classmethod
    def _from_value(cls, value: Any) -> StreamSource | None:
        return cls(name=value) if isinstance(value, str) else None

    def _validate(self) -> None:
        if self.domain and self.external is not None:
            raise InvalidConfigError(
                f"StreamSource {self.name!r}: domain and external are both set")

    def to_json(self) -> dict[str, Any]:
        """Return the wire JSON, converting ``domain`` to ``external``."""
        self._validate()
        out = super().to_json()
        if self.domain:
            out["external"] = {"api": f"$JS.{self.domain}.API", "deliver": ""}
        return out


@dataclass
class StreamConsumerLimits(Model):
    """Defaults and limits for consumers of a stream."""

    inactive_threshold: float | None = wire(None, kind="duration")
    max_ack_pending: int | None = None


# ---------------------------------------------------------------------------------------------
# Streams


@with_aliases
@dataclass
class StreamConfig(Model):
    """Configuration of a JetStream stream (all server fields, server JSON names).

    ``None`` numeric limits are sent as Go's zero values (the server then applies its own
    defaults, e.g. ``-1`` for unlimited), exactly as nats.go does.
    """

    name: str = wire("", omitempty=False)
    description: str | None = None
    subjects: list[str] | None = None
    retention: RetentionPolicy = wire(RetentionPolicy.LIMITS, omitempty=False)
    max_consumers: int | None = wire(None, omitempty=False)
    max_msgs: int | None = wire(None, omitempty=False)
    max_bytes: int | None = wire(None, omitempty=False)
    discard: DiscardPolicy = wire(DiscardPolicy.OLD, omitempty=False)
    discard_new_per_subject: bool = False
    max_age: float | None = wire(None, kind="duration", omitempty=False)
    max_msgs_per_subject: int | None = wire(None, omitempty=False)
    max_msg_size: int | None = None
    storage: StorageType = wire(StorageType.FILE, omitempty=False)
    num_replicas: int | None = wire(None, omitempty=False)
    no_ack: bool = False
    duplicate_window: float | None = wire(None, kind="duration")
    placement: Placement | None = None
    mirror: StreamSource | None = None
    sources: list[StreamSource] | None = None
    sealed: bool = False
    deny_delete: bool = False
    deny_purge: bool = False
    allow_rollup_hdrs: bool = False
    compression: StoreCompression = wire(StoreCompression.NONE, omitempty=False)
    first_seq: int | None = None
    subject_transform: SubjectTransformConfig | None = None
    republish: RePublish | None = None
    allow_direct: bool = wire(False, omitempty=False)
    mirror_direct: bool = wire(False, omitempty=False)
    consumer_limits: StreamConsumerLimits | None = wire(None, omitempty=False)
    metadata: dict[str, str] | None = None
    template_owner: str | None = None
    allow_msg_ttl: bool = False
    subject_delete_marker_ttl: float | None = wire(None, kind="duration")
    allow_msg_counter: bool = False
    allow_atomic: bool = False
    allow_msg_schedules: bool = False
    persist_mode: PersistMode | None = wire(None, zero=PersistMode.DEFAULT)
    allow_batched: bool = False

    _aliases: ClassVar[dict[str, str]] = {
        "replicas": "num_replicas",
        "max_msgs_per": "max_msgs_per_subject",
        "duplicates": "duplicate_window",
        "allow_rollup": "allow_rollup_hdrs",
        "allow_atomic_publish": "allow_atomic",
        "allow_batch_publish": "allow_batched",
    }


# ---------------------------------------------------------------------------------------------
# Consumers


@with_aliases
@dataclass
class ConsumerConfig(Model):
    """Configuration of a JetStream consumer (pull or push; all server fields).

    ``durable=`` is accepted for ``durable_name`` (by the constructor and
    :func:`make_config`) and ``.durable`` reads it, as nats.go's ``Durable``.
    """

    name: str | None = None
    durable_name: str | None = None
    description: str | None = None
    deliver_policy: DeliverPolicy = wire(DeliverPolicy.ALL, omitempty=False)
    opt_start_seq: int | None = None
    opt_start_time: datetime.datetime | None = None
    ack_policy: AckPolicy = wire(AckPolicy.EXPLICIT, omitempty=False)
    ack_wait: float | None = wire(None, kind="duration")
    max_deliver: int | None = None
    backoff: list[float] | None = wire(None, kind="duration")
    filter_subject: str | None = None
    replay_policy: ReplayPolicy = wire(ReplayPolicy.INSTANT, omitempty=False)
    rate_limit_bps: int | None = None
    sample_freq: str | None = None
    max_waiting: int | None = None
    max_ack_pending: int | None = None
    headers_only: bool = False
    max_batch: int | None = None
    max_expires: float | None = wire(None, kind="duration")
    max_bytes: int | None = None
    inactive_threshold: float | None = wire(None, kind="duration")
    num_replicas: int | None = wire(None, omitempty=False)
    mem_storage: bool = False
    filter_subjects: list[str] | None = None
    metadata: dict[str, str] | None = None
    pause_until: datetime.datetime | None = None
    priority_policy: PriorityPolicy | None = wire(None, zero=PriorityPolicy.NONE)
    priority_timeout: float | None = wire(None, kind="duration")
    priority_groups: list[str] | None = None
    deliver_subject: str | None = None
    deliver_group: str | None = None
    flow_control: bool = False
    idle_heartbeat: float | None = wire(None, kind="duration")

    _aliases: ClassVar[dict[str, str]] = {
        "durable": "durable_name",
        "replicas": "num_replicas",
        "memory_storage": "mem_storage",
        "max_request_batch": "max_batch",
        "max_request_expires": "max_expires",
        "max_request_max_bytes": "max_bytes",
        "pinned_ttl": "priority_timeout",
        "heartbeat": "idle_heartbeat",
    }


@dataclass
class OrderedConsumerConfig(Model):
    """Client-side settings of an ordered consumer (recreated on gaps; never acked)."""

    filter_subjects: list[str] | None = None
    deliver_policy: DeliverPolicy = wire(DeliverPolicy.ALL, omitempty=False)
    opt_start_seq: int | None = None
    opt_start_time: datetime.datetime | None = None
    replay_policy: ReplayPolicy = wire(ReplayPolicy.INSTANT, omitempty=False)
    inactive_threshold: float | None = wire(None, kind="duration")
    headers_only: bool = False
    max_reset_attempts: int | None = wire(None, json=None)
    metadata: dict[str, str] | None = None
    name_prefix: str | None = wire(None, json=None)


# ---------------------------------------------------------------------------------------------
# Key-value and object stores (client-side configs, turned into StreamConfig by the stores)


@dataclass
class KeyValueConfig(Model):
    """Configuration of a key-value bucket (``history`` and ``replicas`` default to 1)."""

    bucket: str = wire("", omitempty=False)
    description: str | None = None
    max_value_size: int | None = None
    history: int = 1
    ttl: float | None = wire(None, kind="duration")
    max_bytes: int | None = None
    storage: StorageType = StorageType.FILE
    replicas: int = wire(1, json="num_replicas")
    placement: Placement | None = None
    republish: RePublish | None = None
    mirror: StreamSource | None = None
    sources: list[StreamSource] | None = None
    compression: bool = False
    limit_marker_ttl: float | None = wire(None, kind="duration")
    metadata: dict[str, str] | None = None


@dataclass
class ObjectStoreConfig(Model):
    """Configuration of an object store bucket (``replicas`` defaults to 1)."""

    bucket: str = wire("", omitempty=False)
    description: str | None = None
    ttl: float | None = wire(None, kind="duration", json="max_age")
    max_bytes: int | None = None
    storage: StorageType = StorageType.FILE
    replicas: int = wire(1, json="num_replicas")
    placement: Placement | None = None
    compression: bool = False
    metadata: dict[str, str] | None = None


@dataclass
class ObjectLink(Model):
    """A link to another object (``bucket`` and ``name``) or a whole bucket (no ``name``)."""

    bucket: str = wire("", omitempty=False)
    name: str | None = None


@dataclass
class ObjectMetaOptions(Model):
    """Object options: a link to another object and the chunk size used to store it."""

    link: ObjectLink | None = None
    max_chunk_size: int | None = None


@dataclass
class ObjectMeta(Model):
    """The user-settable description of an object (JSON key ``options`` holds ``opts``)."""

    name: str = wire("", omitempty=False)
    description: str | None = None
    headers: dict[str, list[str]] | None = None
    metadata: dict[str, str] | None = None
    opts: ObjectMetaOptions | None = wire(None, json="options")

    def _validate(self) -> None:
        if self.headers:
            norm: dict[str, list[str]] = {}
            for k, v in self.headers.items():
                if isinstance(v, str):
                    norm[k] = [v]
                elif isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
                    norm[k] = list(v)
                else:
                    raise InvalidConfigError(
                        f"{type(self).__name__}.headers[{k!r}]: expected a str or a list "
                        f"of str, got {v!r}")
            self.headers = norm
