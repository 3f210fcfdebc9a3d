"""Distributed counters (nats-server 2.12+, ADR-49; orbit.go ``counters``).

A stream with ``allow_msg_counter`` keeps, per subject, a running total: a publish with
the header ``Nats-Incr: +5`` (or ``-3``) adds to it, the server answers with the new
total in the PubAck (``val``) and stores ``{"val": "<total>"}`` as the subject's last
message. Totals are arbitrary-size integers (sent as decimal strings, so they never lose
precision). Reads use direct get (``allow_direct``): one subject, or every subject
matching a pattern in one batched request.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .. import errors
from . import names
from .headers import encode_headers

if TYPE_CHECKING:
    from .context import Context
    from .message import RawStreamMsg
    from .stream import Stream


def _total(m: RawStreamMsg) -> int:
    try:
        return int(json.loads(m.data)["val"])
    except (ValueError, KeyError, TypeError):
        raise errors.DecodeError(
            f"message {m.sequence} on {m.subject!r} is not a counter value: {m.data[:80]!r}"
        ) from None


class Counter:
    """The counters of one stream: ``add``, ``get``, ``get_many``."""

    def __init__(self, js: Context, stream: Stream) -> None:
        self._js = js
        self._stream = stream
        self.name = stream.name

    def __repr__(self) -> str:
        return f"<Counter {self.name}>"

    async def add(self, subject: str, delta: int) -> int:
        """Add ``delta`` (negative subtracts) to the counter on ``subject``; the new total."""
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise errors.InvalidArgumentError(f"counter delta must be an int, got {delta!r}")
        names.publish_subject(subject)
        js = self._js
        hdr = encode_headers({"Nats-Incr": f"{delta:+d}"})
        from .info import parse_ack
        data, _ = await js._mux.request(subject, b"", js.timeout, hdr)
        if not data:
            raise errors.NoStreamResponseError(
                f"no stream captures subject {subject!r} (no responders)", code=503)
        ack = parse_ack(data)
        if ack.value is None:
            raise errors.APIError(f"stream {ack.stream!r} answered without a counter value: "
                                  "is allow_msg_counter set?")
        return int(ack.value)

    async def get(self, subject: str) -> int:
        """The current total on ``subject`` (KeyNotFoundError-like MsgNotFoundError if the
        counter was never incremented)."""
        names.publish_subject(subject)
        try:
            m = await self._stream.get_last_msg_for_subject(subject)
        except errors.MsgNotFoundError:
            raise errors.MsgNotFoundError(
                f"counter {subject!r} of stream {self.name!r} has no value yet", code=404
            ) from None
        return _total(m)

    async def get_many(self, subjects: str | list[str]) -> dict[str, int]:
        """{subject: total} for every counter matching ``subjects`` (wildcards allowed), in
        one request."""
        msgs = await self._stream.get_last_msgs_for(subjects)
        return {s: _total(m) for s, m in msgs.items()}


class CounterMethods:
    """``JetStream.counter``."""

    async def counter(self: Context, stream: str) -> Counter:  # type: ignore[misc]
        """The counters of ``stream`` (created with ``allow_msg_counter=True`` and
        ``allow_direct=True``)."""
        self._require("counters")
        s: Any = await self.stream(stream)
        cfg = s.cached_info().config
        if not cfg.allow_msg_counter:
            raise errors.InvalidConfigError(
                f"stream {stream!r} is not a counter stream (create it with "
                "allow_msg_counter=True, allow_direct=True)")
        if not cfg.allow_direct:
            raise errors.InvalidConfigError(
                f"counter stream {stream!r} needs allow_direct=True for reads")
        return Counter(self, s)
