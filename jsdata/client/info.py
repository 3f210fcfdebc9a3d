"""Read-side models: what the server reports about streams, consumers, the account, publishes.

Build them with ``X.from_json(response_dict)``; attribute names are the server's JSON names
(``info.state.messages``, ``cinfo.delivered.stream_seq``), except :class:`PubAck` whose
sequence is ``.sequence`` (``.seq`` is an alias). Durations are float seconds, times are
tz-aware UTC datetimes (Go's zero time reads as ``None``).
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ._model import Model, wire
from .config import ConsumerConfig, ExternalStream, ObjectMeta, StreamConfig, SubjectTransformConfig

__all__ = [
    "APIStats",
    "AccountInfo",
    "AccountLimits",
    "ClusterInfo",
    "ConsumerInfo",
    "DesiredClusterInfo",
    "LostStreamData",
    "ObjectInfo",
    "PeerInfo",
    "PriorityGroupState",
    "PubAck",
    "SequenceInfo",
    "StreamAlternate",
    "StreamInfo",
    "StreamSourceInfo",
    "StreamState",
    "Tier",
]


# ---------------------------------------------------------------------------------------------
# Cluster


@dataclass
class PeerInfo(Model):
    """A replica of a stream or consumer: whether it is current, its lag and last activity."""

    name: str = wire("", omitempty=False)
    current: bool = wire(False, omitempty=False)
    offline: bool = False
    active: float | None = wire(None, kind="duration", omitempty=False)
    lag: int | None = None
    peer: str = wire("", omitempty=False)
    pending: bool = False


@dataclass
class DesiredClusterInfo(Model):
    """The placement a clustered asset is being moved to (server 2.14+)."""

    name: str | None = None
    replicas: list[PeerInfo] | None = None
    origin: dict[str, Any] | None = None
    status: dict[str, Any] | None = None


@dataclass
class ClusterInfo(Model):
    """The cluster serving a stream or consumer: its leader and replicas."""

    name: str | None = None
    raft_group: str | None = None
    leader: str | None = None
    leader_since: datetime.datetime | None = None
    system_account: bool = False
    traffic_account: str | None = None
    replicas: list[PeerInfo] | None = None
    desired: DesiredClusterInfo | None = None


# ---------------------------------------------------------------------------------------------
# Streams


@dataclass
class LostStreamData(Model):
    """Messages the server found lost (e.g. corrupt blocks)."""

    msgs: list[int] | None = wire(None, omitempty=False)
    bytes: int = wire(0, omitempty=False)


@dataclass
class StreamState(Model):
    """Message counts, sequences and times of a stream."""

    messages: int = wire(0, omitempty=False)
    bytes: int = wire(0, omitempty=False)
    first_seq: int = wire(0, omitempty=False)
    first_ts: datetime.datetime | None = wire(None, omitempty=False)
    last_seq: int = wire(0, omitempty=False)
    last_ts: datetime.datetime | None = wire(None, omitempty=False)
    num_subjects: int = 0
    subjects: dict[str, int] | None = None
    num_deleted: int = 0
    deleted: list[int] | None = None
    lost: LostStreamData | None = None
    consumer_count: int = wire(0, omitempty=False)


@dataclass
class StreamSourceInfo(Model):
    """The state of a mirror or source: lag and time since last activity (``-1e-9``: never).

    ``error`` is the server's API error object (``code``, ``err_code``, ``description``).
    """

    name: str = wire("", omitempty=False)
    external: ExternalStream | None = None
    lag: int = wire(0, omitempty=False)
    active: float | None = wire(None, kind="duration", omitempty=False)
    error: dict[str, Any] | None = None
    filter_subject: str | None = None
    subject_transforms: list[SubjectTransformConfig] | None = None


@dataclass
class StreamAlternate(Model):
    """An alternate (e.g. a mirror) of a stream, in another cluster or domain."""

    name: str = wire("", omitempty=False)
    domain: str | None = None
    cluster: str = wire("", omitempty=False)


@dataclass
class StreamInfo(Model):
    """A stream's configuration and state as the server reports them."""

    config: StreamConfig = wire(default_factory=StreamConfig, omitempty=False)
    created: datetime.datetime | None = wire(None, omitempty=False)
    state: StreamState = wire(default_factory=StreamState, omitempty=False)
    domain: str | None = None
    cluster: ClusterInfo | None = None
    mirror: StreamSourceInfo | None = None
    sources: list[StreamSourceInfo] | None = None
    alternates: list[StreamAlternate] | None = None
    ts: datetime.datetime | None = wire(None, omitempty=False)

    def __repr__(self) -> str:
        st = self.state
        return (f"StreamInfo(name={self.config.name!r}, subjects={_few(self.config.subjects)}, "
                f"messages={st.messages}, bytes={st.bytes}, first_seq={st.first_seq}, "
                f"last_seq={st.last_seq}, consumers={st.consumer_count})")

    def _repr_html_(self) -> str:
        """Bounded, escaped HTML for notebooks (no network call)."""
        from .._repr import stream_info_html
        return stream_info_html(self)


# ---------------------------------------------------------------------------------------------
# Consumers


@dataclass
class SequenceInfo(Model):
    """A consumer and stream sequence pair with the time of the last activity."""

    consumer_seq: int = wire(0, omitempty=False)
    stream_seq: int = wire(0, omitempty=False)
    last_active: datetime.datetime | None = None


@dataclass
class PriorityGroupState(Model):
    """The state of a consumer priority group (the pinned client, if any)."""

    group: str = wire("", omitempty=False)
    pinned_client_id: str | None = None
    pinned_ts: datetime.datetime | None = None


@dataclass
class ConsumerInfo(Model):
    """A consumer's configuration and delivery state as the server reports them."""

    stream_name: str = wire("", omitempty=False)
    name: str = wire("", omitempty=False)
    created: datetime.datetime | None = wire(None, omitempty=False)
    config: ConsumerConfig = field(default_factory=ConsumerConfig)
    delivered: SequenceInfo = wire(default_factory=SequenceInfo, omitempty=False)
    ack_floor: SequenceInfo = wire(default_factory=SequenceInfo, omitempty=False)
    num_ack_pending: int = wire(0, omitempty=False)
    num_redelivered: int = wire(0, omitempty=False)
    num_waiting: int = wire(0, omitempty=False)
    num_pending: int = wire(0, omitempty=False)
    cluster: ClusterInfo | None = None
    push_bound: bool = False
    paused: bool = False
    pause_remaining: float | None = wire(None, kind="duration")
    ts: datetime.datetime | None = wire(None, omitempty=False)
    priority_groups: list[PriorityGroupState] | None = None

    def __repr__(self) -> str:
        return (f"ConsumerInfo(stream_name={self.stream_name!r}, name={self.name!r}, "
                f"num_pending={self.num_pending}, num_ack_pending={self.num_ack_pending}, "
                f"delivered_stream_seq={self.delivered.stream_seq})")

    def _repr_html_(self) -> str:
        """Bounded, escaped HTML for notebooks (no network call)."""
        from .._repr import consumer_info_html
        return consumer_info_html(self)


# ---------------------------------------------------------------------------------------------
# Account


@dataclass
class AccountLimits(Model):
    """JetStream limits of an account or tier (``-1``: unlimited)."""

    max_memory: int = wire(0, omitempty=False)
    max_storage: int = wire(0, omitempty=False)
    max_streams: int = wire(0, omitempty=False)
    max_consumers: int = wire(0, omitempty=False)
    max_ack_pending: int = wire(0, omitempty=False)
    memory_max_stream_bytes: int = wire(0, omitempty=False)
    storage_max_stream_bytes: int = wire(0, omitempty=False)
    max_bytes_required: bool = wire(False, omitempty=False)


@dataclass
class APIStats(Model):
    """JetStream API usage of an account, and the server's API ``level``."""

    level: int = wire(0, omitempty=False)
    total: int = wire(0, omitempty=False)
    errors: int = wire(0, omitempty=False)
    inflight: int = 0


@dataclass
class Tier(Model):
    """Usage and limits of one account tier (e.g. ``R1``, ``R3``)."""

    memory: int = wire(0, omitempty=False)
    storage: int = wire(0, omitempty=False)
    reserved_memory: int = wire(0, omitempty=False)
    reserved_storage: int = wire(0, omitempty=False)
    streams: int = wire(0, omitempty=False)
    consumers: int = wire(0, omitempty=False)
    limits: AccountLimits = wire(default_factory=AccountLimits, omitempty=False)


@dataclass
class AccountInfo(Model):
    """JetStream usage, limits and API statistics of the account (``$JS.API.INFO``)."""

    memory: int = wire(0, omitempty=False)
    storage: int = wire(0, omitempty=False)
    reserved_memory: int = wire(0, omitempty=False)
    reserved_storage: int = wire(0, omitempty=False)
    streams: int = wire(0, omitempty=False)
    consumers: int = wire(0, omitempty=False)
    limits: AccountLimits = wire(default_factory=AccountLimits, omitempty=False)
    domain: str | None = None
    api: APIStats = wire(default_factory=APIStats, omitempty=False)
    tiers: dict[str, Tier] | None = None


# ---------------------------------------------------------------------------------------------
# Publish acks


@dataclass
class ConsumerPauseResponse(Model):
    """The answer to pausing or resuming a consumer (nats-server 2.11+)."""

    paused: bool = wire(False, omitempty=False)
    pause_until: datetime.datetime | None = None
    pause_remaining: float | None = wire(None, kind="duration")


@dataclass
class ConsumerResetResponse(ConsumerInfo):
    """A consumer's info after a reset (nats-server 2.14+); ``reset_seq`` is the stream
    sequence the consumer delivers next."""

    reset_seq: int = wire(0, omitempty=False)


@dataclass
class PubAck(Model):
    """The server's acknowledgement of a published message.

    ``sequence`` (JSON ``seq``, also readable as ``.seq``) is the stream sequence; ``value``
    (JSON ``val``) is a counter's value; ``batch``/``count`` answer a batch publish.
    """

    stream: str = wire("", omitempty=False)
    sequence: int = wire(0, json="seq", omitempty=False)
    duplicate: bool = False
    domain: str | None = None
    value: str | None = wire(None, json="val")
    batch: str | None = None
    count: int | None = None

    @property
    def seq(self) -> int:
        """Alias of :attr:`sequence`."""
        return self.sequence


ACK_RE = re.compile(rb'\{"stream":"([^"\\]+)",(?:"domain":"([^"\\]*)",)?"seq":(\d+)'
                     rb'(,"duplicate":true)?\}')


def parse_ack(data: bytes) -> PubAck:
    """PubAck from the stream's reply, raising the typed error it carries."""
    m = ACK_RE.fullmatch(data)
    if m is not None:  # the common shape, without the generic JSON model machinery
        ack = object.__new__(PubAck)
        stream, domain, seq, dup = m.groups()
        ack.__dict__.update(stream=stream.decode(), sequence=int(seq), duplicate=dup is not None,
                            domain=domain.decode() if domain is not None else None, value=None,
                            batch=None, count=None, extra={})
        return ack
    try:
        d = json.loads(data)
    except ValueError:
        raise errors.APIError(f"invalid publish ack: {data[:200]!r}") from None
    if "error" in d:
        raise errors.from_api_error(d["error"])
    return PubAck.from_json(d)


# ---------------------------------------------------------------------------------------------
# Object store


@dataclass
class ObjectInfo(ObjectMeta):
    """An object's meta plus what the store records: size, chunks, digest, time, deleted."""

    bucket: str = wire("", omitempty=False)
    nuid: str = wire("", omitempty=False)
    size: int = wire(0, omitempty=False)
    mtime: datetime.datetime | None = wire(None, omitempty=False)
    chunks: int = wire(0, omitempty=False)
    digest: str | None = None
    deleted: bool = False

    @property
    def meta(self) -> ObjectMeta:
        """The :class:`~jsdata.client.config.ObjectMeta` part of this info."""
        return ObjectMeta(name=self.name, description=self.description,
                          headers=self.headers, metadata=self.metadata, opts=self.opts)


def _few(items: list[str] | None, limit: int = 5) -> str:
    """A bounded repr of a list (long subject lists stay short in text reprs)."""
    items = list(items or [])
    if len(items) <= limit:
        return repr(items)
    return repr(items[:limit])[:-1] + f", ... {len(items) - limit} more]"
