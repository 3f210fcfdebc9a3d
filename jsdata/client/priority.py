"""Pull-consumer priority groups (nats-server 2.11+; ``prioritized`` 2.12+), as nats.go.

A consumer created with ``priority_policy`` and ``priority_groups`` only serves pulls that
name a group. ``overflow`` serves a pull only while the consumer has at least
``min_pending`` messages pending or ``min_ack_pending`` unacknowledged; ``pinned_client``
pins one client: the server puts ``Nats-Pin-Id`` on the messages it delivers to the pinned
client, which sends the id back with every pull (``id``); a pull with a stale id is refused
with ``423`` (:class:`~jsdata.errors.PinIdMismatchError`) and the id is cleared, so the
next pull competes for the pin again. ``prioritized`` serves the lowest ``priority``
(0-9) first.
"""

from __future__ import annotations

from typing import Any, Protocol

from .. import errors
from .headers import header_value

PIN_HEADER = b"Nats-Pin-Id"


class PinHolder(Protocol):
    """Whatever keeps the pin id between pulls (the consumer handle)."""

    pin_id: str | None


def priority_fields(group: str | None, min_pending: int | None, min_ack_pending: int | None,
                    priority: int | None, pin_id: str | None) -> dict[str, Any]:
    """The pull-request fields for these options (validated; {} when none)."""
    if group is None:
        for name, v in (("min_pending", min_pending), ("min_ack_pending", min_ack_pending),
                        ("priority", priority)):
            if v is not None:
                raise errors.InvalidArgumentError(f"{name} needs group= (a priority group)")
        return {}
    if not isinstance(group, str) or not group:
        raise errors.InvalidArgumentError(f"group must be a non-empty string, got {group!r}")
    out: dict[str, Any] = {"group": group}
    for name, v in (("min_pending", min_pending), ("min_ack_pending", min_ack_pending)):
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise errors.InvalidArgumentError(f"{name} must be an int >= 1, got {v!r}")
            out[name] = v
    if priority is not None:
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 9:
            raise errors.InvalidArgumentError(f"priority must be an int 0-9, got {priority!r}")
        out["priority"] = priority
    if pin_id:
        out["id"] = pin_id
    return out


def note_pin(holder: PinHolder | None, hdr: bytes) -> None:
    """Remember the pin id a delivered message carries."""
    if holder is not None and hdr:
        v = header_value(hdr, PIN_HEADER)
        if v:
            holder.pin_id = v


_PIN_LINE = b"\r\n" + PIN_HEADER + b":"
_BARE_BLOCK = b"NATS/1.0\r\n\r\n"


def pin_extra(hdr: bytes) -> int:
    """Bytes the server's ``Nats-Pin-Id`` header added to a delivered message's header
    block. nats-server charges a pull's ``max_bytes`` *before* adding it (consumer.go), so
    a pull's byte count subtracts this; 0 when the message carries no pin."""
    i = hdr.find(_PIN_LINE)
    if i < 0:
        return 0
    j = hdr.find(b"\r\n", i + 2)
    if j < 0:
        return 0
    line = j - i  # "\r\nNats-Pin-Id: <id>" == the "Nats-Pin-Id: <id>\r\n" it added
    if hdr[:i + 2] + hdr[j + 2:] == _BARE_BLOCK:
        return len(hdr)  # the message had no headers: the whole block is the server's
    return line

