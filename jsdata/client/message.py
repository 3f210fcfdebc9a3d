"""Messages: :class:`Msg` with ack methods and metadata, and :class:`RawStreamMsg` from get_msg."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import repeat
from typing import TYPE_CHECKING, Any, Union

from .. import errors
from ._conn import pub_frame
from ._native import received_msgs as _creceived
from ._portable import direct
from .headers import Headers, HeadersInput, decode_headers

if TYPE_CHECKING:
    from .context import Context

Data = Union[bytes, bytearray, memoryview, str]  # noqa: UP007 - runtime alias on 3.10


def to_bytes(data: Data | None) -> bytes:
    """Payload as bytes: str is UTF-8; bytes-likes are copied only when needed."""
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise errors.InvalidArgumentError(
        f"message data must be bytes, bytearray, memoryview or str, not {type(data).__name__}")


def ns_to_datetime(ns: int) -> datetime:
    """UTC datetime from Unix nanoseconds (microsecond precision, as datetime allows)."""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


@dataclass(frozen=True)
class SequencePair:
    """Stream and consumer sequence of a delivered message."""

    stream: int
    consumer: int


@dataclass(frozen=True)
class MsgMetadata:
    """What the ack subject tells about a JetStream message."""

    sequence: SequencePair
    num_delivered: int
    num_pending: int
    timestamp: datetime
    stream: str
    consumer: str
    domain: str
    timestamp_ns: int = 0


def parse_metadata(reply: str) -> MsgMetadata:
    """Parse ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``.

    Also the 12-token form with domain and account hash (nats-server 2.9+):
    ``$JS.ACK.<domain>.<acc>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>.<rnd>``.
    """
    toks = reply.split(".")
    n = len(toks)
    if n < 9 or toks[0] != "$JS" or toks[1] != "ACK":
        raise errors.NotJetStreamMsgError(f"not a JetStream ack subject: {reply!r}")
    try:
        if n == 9:
            domain = ""
            stream, consumer = toks[2], toks[3]
            nums = toks[4:9]
        elif n >= 12:
            domain = "" if toks[2] == "_" else toks[2]
            stream, consumer = toks[4], toks[5]
            nums = toks[6:11]
        else:
            raise ValueError(n)
        delivered, sseq, cseq, ts, pending = (int(x) for x in nums)
    except ValueError:
        raise errors.NotJetStreamMsgError(f"malformed JetStream ack subject: {reply!r}") from None
    return MsgMetadata(SequencePair(sseq, cseq), delivered, pending, ns_to_datetime(ts),
                       stream, consumer, domain, ts)


class Msg:
    """A message: to publish (``Msg(subject, data, headers)``) or received from a consumer.

    Received JetStream messages carry ``metadata`` and the ack methods. Acking twice (any of
    ack / nak / term) raises :class:`~jsdata.errors.MsgAlreadyAckedError`.
    """

    __slots__ = ("subject", "reply", "data", "_hdr", "_headers", "_js", "_acked", "_meta")
    subject: str
    reply: str
    data: bytes

    def __init__(self, subject: str = "", data: Data | None = b"", headers: HeadersInput = None,
                 reply: str = "", *, _js: Context | None = None, _hdr: bytes = b"") -> None:
        self.subject = subject
        self.reply = reply
        self.data = to_bytes(data)
        self._hdr = _hdr
        self._headers: Headers | None = (
            headers if isinstance(headers, Headers) or headers is None else Headers(headers))
        self._js = _js
        self._acked = False
        self._meta: MsgMetadata | None = None

    @property
    def headers(self) -> Headers:
        """Headers (empty when none); ``h["K"]`` first value, ``h.get_all("K")`` all."""
        if self._headers is None:
            self._headers = decode_headers(self._hdr) if self._hdr else Headers()
        return self._headers

    @property
    def metadata(self) -> MsgMetadata:
        """Stream/consumer sequences, delivery count, pending and timestamp of the message."""
        if self._meta is None:
            if not self.reply:
                raise errors.NotJetStreamMsgError("message has no JetStream reply subject")
            self._meta = parse_metadata(self.reply)
        return self._meta

    @property
    def size(self) -> int:
        return len(self.data) + len(self._hdr)

    def __repr__(self) -> str:
        d = self.data if len(self.data) <= 64 else self.data[:64] + b"..."
        return f"Msg(subject={self.subject!r}, data={d!r}, reply={self.reply!r})"

    # -- acks ----------------------------------------------------------------------------------
    def _ack_target(self) -> tuple[Context, str]:
        if not self.reply or self._js is None:
            raise errors.NotJetStreamMsgError("message cannot be acknowledged: no reply subject")
        if self._acked:
            raise errors.MsgAlreadyAckedError("message was already acknowledged")
        return self._js, self.reply

    def _ack_frame(self, body: bytes, final: bool = True) -> tuple[Any, bytes]:
        """Check the ack, mark it sent and build its frame: (connection, frame). Any thread;
        the blocking surface queues the frame with no coroutine per ack, and the connection
        checks (closed, reconnect buffer full) when the loop queues it, as for a publish."""
        js, reply = self._ack_target()
        if final:
            self._acked = True
        return js.nc, pub_frame(reply.encode(), b"", body)

    async def _ack_now(self, body: bytes, final: bool = True) -> None:
        """Send ack ``body`` without waiting for the server (as Go's Ack)."""
        nc, cmd = self._ack_frame(body, final)
        nc.queue_raw(cmd, nmsgs=1, nbytes=len(body))
        await nc.kick()

    async def ack(self) -> None:
        """Acknowledge the message."""
        await self._ack_now(ACK)

    @direct
    async def double_ack(self, timeout: float | None = None) -> None:
        """Acknowledge and wait for the server to confirm it received the ack."""
        await self._ack_confirmed(ACK, timeout)

    @direct
    async def _ack_confirmed(self, body: bytes, timeout: float | None = None) -> None:
        """Send ack ``body`` with a reply subject and wait for the server's reply.

        The server queues acks apart from pull requests, so a fire-and-forget nak may be
        processed after a later fetch; its reply comes once the ack was processed.
        """
        js, reply = self._ack_target()
        await js._mux.request(reply, body, timeout or js.timeout)
        self._acked = True

    async def nak(self) -> None:
        """Negatively acknowledge: redeliver now."""
        await self._ack_now(NAK)

    async def nak_with_delay(self, delay: float) -> None:
        """Negatively acknowledge: redeliver after ``delay`` seconds."""
        await self._ack_now(nak_delay_body(delay))

    async def in_progress(self) -> None:
        """Tell the server the message is still being worked on (resets the ack wait)."""
        await self._ack_now(WPI, final=False)

    async def term(self) -> None:
        """Stop redelivery of the message."""
        await self._ack_now(TERM)

    async def term_with_reason(self, reason: str) -> None:
        """Stop redelivery, recording ``reason`` in the server's advisory."""
        await self._ack_now(TERM + b" " + reason.encode())


ACK, NAK, WPI, TERM = b"+ACK", b"-NAK", b"+WPI", b"+TERM"

_new = object.__new__


def received(subject: bytes, reply: bytes, data: bytes, hdr: bytes, js: Context | None) -> Msg:
    """A received Msg built without ``Msg.__init__``'s conversions (the per-message hot path
    of fetches and consumers): the parts exactly as the parser cut them."""
    m = _new(Msg)
    m.subject = subject.decode()
    m.reply = reply.decode()
    m.data = data
    m._hdr = hdr
    m._headers = None
    m._js = js
    m._acked = False
    m._meta = None
    return m


def received_run(subjects: list[bytes], replies: list[bytes], hdrs: list[bytes],
                 datas: list[bytes], js: Context | None) -> list[Msg]:
    """:func:`received` for a run of messages given as the parser's four parallel lists
    (in C when the extension is built: the same objects, built straight into their slots)."""
    if _creceived is not None:
        return _creceived(Msg, subjects, replies, hdrs, datas, js)  # type: ignore[no-any-return]
    return list(map(received, subjects, replies, datas, hdrs, repeat(js, len(datas))))


def nak_delay_body(delay: float) -> bytes:
    """The -NAK body asking for redelivery after ``delay`` seconds."""
    from .times import to_nanos
    return NAK + b" " + json.dumps({"delay": to_nanos(delay)}).encode()


@dataclass
class RawStreamMsg:
    """A message read from a stream by sequence or subject (``Stream.get_msg``)."""

    subject: str
    sequence: int
    data: bytes
    headers: Headers
    time: datetime | None

    def __repr__(self) -> str:
        d = self.data if len(self.data) <= 64 else self.data[:64] + b"..."
        return f"RawStreamMsg(subject={self.subject!r}, sequence={self.sequence}, data={d!r})"


def raw_from_api(m: dict[str, Any]) -> RawStreamMsg:
    """Build a RawStreamMsg from STREAM.MSG.GET's ``message`` object (base64 data/hdrs)."""
    import base64

    from .times import parse_time
    hdrs = decode_headers(base64.b64decode(m["hdrs"])) if m.get("hdrs") else Headers()
    data = base64.b64decode(m["data"]) if m.get("data") else b""
    return RawStreamMsg(m.get("subject", ""), int(m.get("seq", 0)), data, hdrs,
                        parse_time(m.get("time")))


def raw_from_direct(data: bytes, hdr: bytes) -> RawStreamMsg:
    """Build a RawStreamMsg from a direct-get reply (metadata in Nats-* headers)."""
    from .times import parse_time
    h = decode_headers(hdr)
    subject = h.get("Nats-Subject", "")
    seq = int(h.get("Nats-Sequence", "0"))
    ts = parse_time(h.get("Nats-Time-Stamp"))
    user = Headers()
    for k, v in h.items_all():
        if k not in ("Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp", "Nats-Stream",
                     "Nats-Num-Pending", "Nats-Last-Sequence", "Nats-UpTo-Sequence"):
            user.add(k, v)
    return RawStreamMsg(subject, seq, data, user, ts)
