"""Batched direct get (nats-server 2.11+, streams with ``allow_direct``), as orbit.go's
``jetstreamext.GetBatch`` / ``GetLastMsgsFor``.

One ``$JS.API.DIRECT.GET.<stream>`` request answers with many messages on one reply
subject, each with its metadata in ``Nats-*`` headers, and ends with a status: ``204 EOB``
(end of batch; also carries ``Nats-Num-Pending`` / ``Nats-Last-Sequence``), ``404`` (no
results), ``408`` (bad request), ``413`` (too many results). The server stops a batch early
once ``max_bytes`` (subject + header + payload of each message) are sent, and still ends it
with ``204``, so the end is always explicit.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import TYPE_CHECKING, Any

from . import errors, names
from ._conn import new_token, status_of
from ._model import format_time
from .message import RawStreamMsg, raw_from_direct

if TYPE_CHECKING:
    from .stream import Stream

MAX_BATCH = 1000  # what nats-server caps one request's batch at


async def direct_batch(stream: Stream, req: dict[str, Any], what: str
                       ) -> list[tuple[bytes, bytes]]:
    """Send one batched direct get and gather its replies: [(payload, header block)].

    ``what`` names the call in errors. Times out only when nothing arrives for the
    context's timeout (a large batch may take longer in total).
    """
    js = stream._js
    if not stream._info.config.allow_direct:
        raise errors.InvalidConfigError(
            f"{what}: stream {stream.name!r} does not allow direct get (create it with "
            "allow_direct=True)")
    js._require("batch direct get")
    got: list[tuple[bytes, bytes]] = []
    loop = asyncio.get_running_loop()
    end: asyncio.Future[tuple[int, str]] = loop.create_future()
    progress = [0]

    def on_msg(subject: bytes, reply: bytes, data: bytes, hdr: bytes) -> None:
        progress[0] += 1
        if not data and hdr:
            st = status_of(hdr)
            if st is not None:
                if not end.done():
                    end.set_result(st)
                return
        got.append((data, hdr))

    inbox = f"_INBOX.{new_token()}"
    sub = await js.nc.fast_subscribe(inbox, on_msg)
    try:
        await js.nc.publish_raw(js.api_subject(f"DIRECT.GET.{stream.name}"), inbox,
                                json.dumps(req, separators=(",", ":")).encode())
        seen = -1
        while True:
            try:
                code, desc = await asyncio.wait_for(asyncio.shield(end), js.timeout)
                break
            except asyncio.TimeoutError:
                if progress[0] == seen:
                    raise errors.APITimeoutError(
                        f"{what} on stream {stream.name!r}: no reply within "
                        f"{js.timeout:g}s") from None
                seen = progress[0]
    finally:
        await js.nc.fast_unsubscribe(sub)
    if code in (204, 404):
        return got
    if code == 413:
        raise errors.InvalidArgumentError(
            f"{what} on stream {stream.name!r}: too many results ({code} {desc}); narrow the "
            "subjects or set up_to_seq / up_to_time", code=code)
    if code == 503:
        raise errors.StreamNotFoundError(
            f"stream {stream.name!r} not found (no responders for direct get)", code=code)
    raise errors.APIError(f"{what} on stream {stream.name!r} failed: {code} {desc}", code=code)


def _int(name: str, v: Any, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise errors.InvalidArgumentError(f"{name} must be an int >= {minimum}, got {v!r}")
    return v


def _time(name: str, v: Any) -> str:
    if not isinstance(v, datetime.datetime):
        raise errors.InvalidArgumentError(f"{name} must be a datetime, got {v!r}")
    return format_time(v if v.tzinfo else v.replace(tzinfo=datetime.timezone.utc))


class DirectMethods:
    """``Stream.get_batch`` and ``Stream.get_last_msgs_for`` (mixed into ``Stream``)."""

    async def get_batch(self: Stream, batch: int = 100,  # type: ignore[misc]
                        seq: int | None = None, subject: str | None = None,
                        start_time: datetime.datetime | None = None,
                        max_bytes: int | None = None) -> list[RawStreamMsg]:
        """Up to ``batch`` messages in stream order in one request: from sequence ``seq``
        (default: the first) or from ``start_time``, only those on ``subject`` (wildcards
        allowed) when given, stopping once ``max_bytes`` are sent."""
        req: dict[str, Any] = {"batch": _int("batch", batch, 1)}
        if batch > MAX_BATCH:
            raise errors.InvalidArgumentError(f"batch must be <= {MAX_BATCH}, got {batch}")
        if seq is not None and start_time is not None:
            raise errors.InvalidArgumentError("get_batch: give seq or start_time, not both")
        if start_time is not None:
            req["start_time"] = _time("start_time", start_time)
        else:
            req["seq"] = _int("seq", seq, 1) if seq is not None else 1
        if subject is not None:
            req["next_by_subj"] = names.filter_subject(subject)
        if max_bytes is not None:
            req["max_bytes"] = _int("max_bytes", max_bytes, 1)
        got = await direct_batch(self, req, "get_batch")
        return [raw_from_direct(d, h) for d, h in got]

    async def get_last_msgs_for(self: Stream, subjects: list[str] | str,  # type: ignore[misc]
                                up_to_seq: int | None = None,
                                up_to_time: datetime.datetime | None = None
                                ) -> dict[str, RawStreamMsg]:
        """The newest message of every subject matching ``subjects`` (wildcards allowed) in
        one request, as of sequence ``up_to_seq`` or of the messages stored before time
        ``up_to_time`` (default: the whole stream):
        {subject: message}, in stream order."""
        if isinstance(subjects, str):
            subjects = [subjects]
        if not subjects:
            raise errors.InvalidArgumentError("get_last_msgs_for: give at least one subject")
        js = self._js
        js._require("multi-subject last-message get")
        req: dict[str, Any] = {"multi_last": [names.filter_subject(s) for s in subjects]}
        if up_to_seq is not None and up_to_time is not None:
            raise errors.InvalidArgumentError(
                "get_last_msgs_for: give up_to_seq or up_to_time, not both")
        if up_to_seq is not None:
            req["up_to_seq"] = _int("up_to_seq", up_to_seq, 1)
        if up_to_time is not None:
            req["up_to_time"] = _time("up_to_time", up_to_time)
        got = await direct_batch(self, req, "get_last_msgs_for")
        out: dict[str, RawStreamMsg] = {}
        for d, h in got:
            m = raw_from_direct(d, h)
            out[m.subject] = m
        return out
