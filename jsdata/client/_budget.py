"""What a delivered message costs against a request's ``max_bytes``, counted as nats-server does.

Every byte-limited request jsdata sends (``fetch_bytes``, ``consume`` / ``messages`` with
``max_bytes``, the stream reader's pulls and batched direct gets, object chunk reads) must
know when the server considers the budget spent, because the server does not always say so:

* **Consumer pulls** (nats-server ``consumer.go``, ``loopAndGatherMsgs`` / ``nextWaiting``):
  each message costs ``len(subject) + len(ack reply subject) + len(header block) +
  len(payload)``, exactly the four parts the client receives (the header block as
  delivered, i.e. the stored one; the transport subject, the pull's own inbox, is not
  counted). A message is delivered when its cost is ``<=`` what is left of the budget; when
  that leaves exactly zero, it is the pull's *last* message and the request ends **with no
  status at all**. A message that does not fit ends the pull with ``409 Message Size
  Exceeds MaxBytes``. So a client that waits for the message count or a status hangs on a
  pull whose messages add up to exactly ``max_bytes``: :func:`pull_cost` lets it see the end.
* **Batched direct get** (``stream.go``, ``getDirectRequest``): each message sent costs
  ``len(stored subject) + len(stored header block) + len(payload)`` — not the delivered
  header, which the server extends with ``Nats-Stream``, ``Nats-Sequence``, ... — and the
  check comes *after* sending, so the message that reaches or crosses the budget is still
  delivered; the batch then always ends with a ``204 EOB`` status. :func:`direct_cost`.
"""

from __future__ import annotations

_CRLF = b"\r\n"
_DIRECT_HDR = b"\r\nNats-Stream: "
_BARE = len(b"NATS/1.0")


def pull_cost(subject: bytes, reply: bytes, hdr: bytes, data: bytes) -> int:
    """Bytes one message a consumer delivered costs against its pull's ``max_bytes``.

    Pass the parts exactly as received (raw subject, ack reply subject, header block or
    ``b""``, payload). The pull is over once the costs add up to ``max_bytes``.
    """
    return len(subject) + len(reply) + len(hdr) + len(data)


def msg_cost(subject: str, reply: str, hdr: bytes, data: bytes) -> int:
    """:func:`pull_cost` for a message whose subject and reply were decoded to ``str``."""
    s = len(subject) if subject.isascii() else len(subject.encode())
    r = len(reply) if reply.isascii() else len(reply.encode())
    return s + r + len(hdr) + len(data)


def stored_header_len(hdr: bytes) -> int:
    """The length of the header block a batched direct get reply was stored with.

    The server appends ``Nats-Stream``, ``Nats-Subject``, ``Nats-Sequence``,
    ``Nats-Time-Stamp``, ``Nats-Num-Pending`` and ``Nats-Last-Sequence`` to the stored block
    (or builds a block of only those when none was stored); this undoes that. A stored
    block holding no header at all (``NATS/1.0\\r\\n\\r\\n``) cannot be told from none: 0.
    """
    i = hdr.rfind(_DIRECT_HDR)
    if i < 0:
        return len(hdr)
    if i <= _BARE:  # only the server's lines: nothing was stored
        return 0
    return i + 4  # the stored lines, then the blank line that ended them


def direct_cost(subject: bytes, stored_hdr_len: int, data: bytes) -> int:
    """Bytes one stored message costs against a batched direct get's ``max_bytes``:
    its stored subject, stored header block length and payload."""
    return len(subject) + stored_hdr_len + len(data)


def direct_batch_budget(count: int, subject: bytes, max_hdr: int, max_data: int) -> int:
    """The smallest ``max_bytes`` for which a batched direct get returns ``count`` messages
    of at most ``max_hdr`` header and ``max_data`` payload bytes on ``subject``: the
    server stops after the message that reaches the budget, so ``count - 1`` of them must
    stay below it."""
    return (count - 1) * (len(subject) + max_hdr + max_data) + 1 if count > 1 else 1
