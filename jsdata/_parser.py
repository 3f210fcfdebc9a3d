"""A faster NATS protocol parser for the core connection.

nats-py's parser matches regexes and deletes each message from the front of its buffer
(a memmove per message), which caps a connection at a few hundred thousand small messages
per second. This parser walks the buffer by offset, splits control lines once, deletes once
per read, and hands messages of jsdata's fast subscriptions straight to their callbacks;
everything else goes to nats-py's own handlers unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from nats.errors import ProtocolError
from nats.protocol.parser import Parser

_CRLF = b"\r\n"
MAX_CONTROL_LINE = 4096


class FastParser(Parser):
    """Drop-in replacement for ``nats.protocol.parser.Parser`` (same ``nc`` callbacks)."""

    _need = 0  # bytes the frame at the front of the buffer still needs in total

    def reset(self) -> None:
        super().reset()
        self._need = 0

    async def parse(self, data: bytes = b"") -> None:  # type: ignore[override]
        buf = self.buf
        if data:
            buf.extend(data)
        if not buf or len(buf) < self._need:
            return  # a large frame is still arriving: don't re-scan (and copy) it per read
        self._need = 0
        b = bytes(buf)
        n = len(b)
        pos = 0
        nc = self.nc
        fast = nc._fast
        stats = nc.stats
        try:
            while pos < n:
                end = b.find(_CRLF, pos)
                if end < 0:
                    if n - pos > MAX_CONTROL_LINE:
                        raise ProtocolError("nats: control line too long")
                    break
                c = b[pos]
                if c == 77 or c == 72 or c == 109 or c == 104:  # M / H (MSG / HMSG)
                    parts = b[pos:end].split()
                    op = parts[0].upper()
                    try:
                        if op == b"MSG":
                            hlen = 0
                            if len(parts) == 4:
                                subject, sid_b, size_b = parts[1], parts[2], parts[3]
                                reply = b""
                            else:
                                subject, sid_b, reply, size_b = parts[1], parts[2], parts[3], parts[4]
                            total = int(size_b)
                        elif op == b"HMSG":
                            if len(parts) == 5:
                                subject, sid_b, hlen_b, size_b = parts[1], parts[2], parts[3], parts[4]
                                reply = b""
                            else:
                                subject, sid_b, reply, hlen_b, size_b = parts[1:6]
                            hlen = int(hlen_b)
                            total = int(size_b)
                        else:
                            raise ProtocolError(f"nats: unknown protocol op {op!r}")
                        sid = int(sid_b)
                    except (ValueError, IndexError):
                        raise ProtocolError("nats: malformed MSG") from None
                    start = end + 2
                    stop = start + total
                    if stop + 2 > n:
                        self._need = stop + 2 - pos  # counted from the front after the del
                        break  # wait for the rest of the payload
                    hdr = b[start:start + hlen] if hlen else b""
                    payload = b[start + hlen:stop]
                    pos = stop + 2
                    handler = fast.get(sid)
                    if handler is not None:
                        stats["in_msgs"] += 1
                        stats["in_bytes"] += len(payload)
                        handler(subject, reply, payload, hdr)
                    else:
                        await nc._process_msg(sid, subject, reply, payload, hdr or None)
                        if self.buf is not buf:  # reset by a reconnect meanwhile
                            return
                    continue
                line = b[pos:end]
                pos = end + 2
                up = line[:4].upper()
                if up == b"PING":
                    await nc._process_ping()
                elif up == b"PONG":
                    await nc._process_pong()
                elif up == b"+OK":
                    pass
                elif up == b"INFO":
                    info: dict[str, Any] = json.loads(line[5:])
                    await nc._process_info(info)
                elif up == b"-ERR":
                    msg = line[4:].strip()
                    if msg.startswith(b"'") and msg.endswith(b"'"):
                        msg = msg[1:-1]
                    await nc._process_err(msg.decode("utf-8", "replace").lower())
                else:
                    raise ProtocolError("nats: unknown protocol")
                if self.buf is not buf:
                    return
        finally:
            if self.buf is buf and pos:
                del buf[:pos]
