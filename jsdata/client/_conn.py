"""The core connection: nats-py's client with a zero-copy fast path for jsdata's own subscriptions.

nats-py builds a ``Msg``, parses headers into a dict and queues every message for a task; for
JetStream data paths that per-message work dominates. ``Connection`` keeps everything else of
nats-py (connect, auth, TLS, reconnect with re-subscription, flushing) and routes messages of
subscriptions made with :meth:`Connection.fast_subscribe` straight to a plain callback with the
raw subject, reply, payload and header block. This module is the only place that touches
nats-py internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import secrets
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.subscription import Subscription

from .. import errors
from ._parser import BulkSink, FastParser, SidMap
from ._portable import LoopWaiter, ReplyWaiter, ThreadWaiter, driven, on_loop

# handler(subject, reply, data, header_block) — called on the event loop, must not block.
FastHandler = Callable[[bytes, bytes, bytes, bytes], None]

_CRLF = b"\r\n"

# nats-server's -ERR for a denied publish or subscription, e.g.
# 'Permissions Violation for Publish to "$JS.API.STREAM.CREATE.X"' or
# 'Permissions Violation for Subscription to "a.b" using queue "q"'
_PERMISSION_RE = re.compile(
    r"permissions violation for (publish|subscription) to \"?([^\"\s]*)\"?", re.IGNORECASE)

# a callback failed with the PermissionDeniedError of a denied subject
DenialHandler = Callable[[errors.PermissionDeniedError], None]

# Bytes asked of the transport per read (nats-py asks 32 KiB). Bigger reads mean fewer
# loop wake-ups and parser passes per message; the stream reader's limit is raised to match
# so that the socket is not paused every 64 KiB.
READ_SIZE = 1 << 20
_logger = logging.getLogger("nats.aio.client")  # where nats-py's read loop logs
_jsdata_log = logging.getLogger("jsdata")


# PUB / HPUB framing (the NATS client protocol), written once: every publisher frames its
# commands with these. Fields: subject, reply, [header size,] total size, [headers,] payload.
_PUB = b"PUB %b %b %d\r\n%b\r\n"
_HPUB = b"HPUB %b %b %d %d\r\n%b%b\r\n"


def pub_frame(subject: bytes, reply: bytes, payload: bytes, hdr: bytes = b"") -> bytes:
    """One PUB (or HPUB, with a header block) command."""
    if hdr:
        return _HPUB % (subject, reply, len(hdr), len(hdr) + len(payload), hdr, payload)
    return _PUB % (subject, reply, len(payload), payload)


def indexed_pub_templates(reply_suffix: bytes = b"") -> tuple[bytes, bytes, bytes, bytes]:
    """PUB / HPUB templates for pipelined publishers, whose reply is ``prefix + index +
    reply_suffix`` (one ack inbox, a token per message) - formatted inline in their hot
    loops: ``(pub, hpub, pub_head, hpub_head)``; the heads leave out the body (sent in
    parts). Fields: subject, prefix, index, [header size,] total size, [headers, payload]."""
    reply = b"%b%d" + reply_suffix
    pub_head = b"PUB %b " + reply + b" %d\r\n"
    hpub_head = b"HPUB %b " + reply + b" %d %d\r\n"
    return pub_head + b"%b\r\n", hpub_head + b"%b%b\r\n", pub_head, hpub_head


def new_token(n: int = 12) -> str:
    """A random token usable in subjects (like a nuid)."""
    return secrets.token_urlsafe(n).replace("-", "A").replace("_", "B")


class Connection(Client):
    """nats-py ``Client`` plus the fast subscription and raw publish paths jsdata needs."""

    # Let calling threads write requests to the socket themselves (False: always through
    # the loop; the round-trip benchmark compares both in one run).
    thread_writes = True

    def __init__(self) -> None:
        # Every write to the socket holds this lock (the transport's write/writelines are
        # wrapped when nats-py installs a transport), so a calling thread may write too.
        self._wlock = threading.Lock()
        self._wrest = b""  # the tail of a partial write from a calling thread: sent first
        # What calling threads wrote, not yet in ``stats`` (under ``_wlock``): only the loop
        # writes ``stats`` (nats-py's unlocked ``+=`` too), so the loop adds these in
        # (:meth:`_fold_out`) before the reply to such a write is handed on.
        self._tout_msgs = 0
        self._tout_bytes = 0
        super().__init__()
        self._fast: SidMap = SidMap()
        self._bulk: dict[bytes, BulkSink] = {}  # sid (as the server echoes it) -> sink
        self._ps = FastParser(self)
        # (operation, subject) -> callbacks of requests waiting on it, failed by a denial
        self._denials: dict[tuple[str, str], list[DenialHandler]] = {}
        self._denials_lock = threading.Lock()  # requests driven on calling threads watch too
        self._denial_listeners: list[DenialHandler] = []  # told of every denial
        self._listeners_lock = threading.Lock()  # status listeners may be added on any thread
        # sids of inbox subscriptions (:meth:`inbox_sub`), a range nats-py's counter never
        # reaches; next() on a count is atomic, so any thread may take one
        self._inbox_sids = itertools.count(1 << 40)
        self._inbox_base = ""  # this connection's random prefix of their subjects
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop it runs on

    async def connect(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.loop = asyncio.get_running_loop()
        await super().connect(*args, **kwargs)

    # nats-py 2.16.0 (read against it): ``Client._transport`` is set once, on the first
    # connect, and the same TcpTransport / WebSocketTransport object is reconnected in place
    # (``connect`` / ``connect_tls`` open a new socket under it); every write nats-py makes
    # (the flusher's ``writelines``, PING/PONG, CONNECT, re-SUBs after a reconnect) goes
    # through that object's ``write`` / ``writelines``. Wrapping those on the instance puts
    # each write under ``_wlock`` for every later socket too, and wrapping ``connect`` /
    # ``connect_tls`` drops a partial-write tail meant for the socket that is gone.
    @property  # type: ignore[override]
    def _transport(self) -> Any:
        return self.__dict__.get("_jsdata_transport")

    @_transport.setter
    def _transport(self, tr: Any) -> None:
        if tr is not None:
            write, writelines, lock = tr.write, tr.writelines, self._wlock
            for name in ("connect", "connect_tls"):
                opener = getattr(tr, name, None)
                if opener is not None:
                    setattr(tr, name, self._new_socket_drops_tail(opener))

            def locked_write(data: bytes) -> None:
                with lock:
                    if self._wrest:
                        data, self._wrest = self._wrest + data, b""
                    write(data)

            def locked_writelines(chunks: list[bytes]) -> None:
                with lock:
                    if self._wrest:
                        chunks, self._wrest = [self._wrest, *chunks], b""
                    writelines(chunks)

            tr.write, tr.writelines = locked_write, locked_writelines
        self._wrest = b""  # a tail for the old socket must not go to the new one
        self.__dict__["_jsdata_transport"] = tr

    def _new_socket_drops_tail(self, opener: Callable[..., Any]) -> Callable[..., Any]:
        """``opener`` (the transport's ``connect`` / ``connect_tls``) that first drops the
        tail of a partial write: those bytes belong to the old socket's protocol stream."""
        async def reopen(*args: Any, **kwargs: Any) -> Any:
            with self._wlock:
                self._wrest = b""
            return await opener(*args, **kwargs)

        return reopen

    def _write_now(self, loop: asyncio.AbstractEventLoop, cmd: bytes, nbytes: int,
                   nmsgs: int = 1) -> bool:
        """From a calling thread: write ``cmd`` straight to the socket, with no loop
        wake-up, when that keeps the order of the bytes: a plain TCP transport (not TLS or
        websocket), connected, nothing queued or buffered before it. False: not sent.

        A partial write leaves its tail in ``_wrest``, which the next write on the loop sends
        first (a call is scheduled for it). Read against nats-py 2.16.0 (``TcpTransport``
        keeps its asyncio ``StreamWriter`` in ``_io_writer``) and CPython 3.11's selector
        transport (its socket in ``_sock``; a TLS transport has none, so TLS never gets here).
        """
        if not self.thread_writes or self._status != Client.CONNECTED or self._pending:
            return False
        with self._wlock:
            tr = getattr(getattr(self._transport, "_io_writer", None), "transport", None)
            sock = getattr(tr, "_sock", None)  # asyncio's plain socket transport only
            if (tr is None or sock is None or self._wrest or self._pending or tr.is_closing()
                    or self._status != Client.CONNECTED or tr.get_write_buffer_size()):
                return False
            # counted before the send: its reply cannot reach the loop before the count does
            self._tout_msgs += nmsgs
            self._tout_bytes += nbytes
            try:
                n = sock.send(cmd)
            except OSError:  # would block, or the socket broke: the loop's path handles it
                self._tout_msgs -= nmsgs
                self._tout_bytes -= nbytes
                return False
            if n < len(cmd):
                self._wrest = cmd[n:]
                loop.call_soon_threadsafe(self._write_rest)
        return True

    def _fold_out(self) -> None:
        """On the loop: add what calling threads wrote to ``stats`` (out_msgs, out_bytes).

        The loop is the only writer of ``stats``, so no increment is lost; a calling
        thread's count is taken under ``_wlock`` and is in before its send, hence before the
        reply that :class:`ReplyMux` hands on after folding."""
        with self._wlock:
            msgs, nbytes = self._tout_msgs, self._tout_bytes
            self._tout_msgs = self._tout_bytes = 0
        if msgs:
            stats = self.stats
            stats["out_msgs"] += msgs
            stats["out_bytes"] += nbytes

    def _write_rest(self) -> None:
        """On the loop: send the tail a calling thread's partial write left."""
        self._fold_out()
        tr = self._transport
        if self._wrest and tr is not None:
            try:
                tr.write(b"")  # the locked write sends the tail first
            except Exception:  # noqa: BLE001 - a broken socket: nats-py's reader reconnects
                _logger.debug("jsdata: writing the tail of a request failed", exc_info=True)

    @property
    def inbox_prefix(self) -> str:
        """The prefix of this connection's reply subjects: nats-py's ``inbox_prefix``
        connect option (``jsdata.connect(inbox_prefix=...)``, a nats context's
        ``inbox_prefix``), ``_INBOX`` by default. Users whose permissions allow replies only
        under their own prefix need it set."""
        return bytes(self._inbox_prefix).decode()

    def inbox(self, token: str | None = None) -> str:
        """A reply subject of its own under :attr:`inbox_prefix` (``token``, else a random
        one): every request, pull and bulk subscription of jsdata takes its inbox here."""
        return f"{self.inbox_prefix}.{token or new_token()}"

    def add_denial_listener(self, cb: DenialHandler) -> Callable[[], None]:
        """Call ``cb(error)`` for every permissions violation (e.g. to fail the async
        publishes to the denied subject); returns the function that removes it. Safe from
        any thread, like :meth:`watch_denial`."""
        with self._denials_lock:
            self._denial_listeners.append(cb)

        def remove() -> None:
            with self._denials_lock, contextlib.suppress(ValueError):
                self._denial_listeners.remove(cb)

        return remove

    def watch_denial(self, operation: str, subject: str, cb: DenialHandler) -> Callable[[], None]:
        """Call ``cb(error)`` if the server denies ``operation`` ("publish" or "subscribe")
        on ``subject`` (its ``-ERR Permissions Violation``); returns the un-watch function.

        nats-py only hands that ``-ERR`` to the error callback, so a request would wait for
        its whole timeout; watching lets it fail the moment the server says no.
        """
        key = (operation, subject)
        with self._denials_lock:
            self._denials.setdefault(key, []).append(cb)

        def unwatch() -> None:
            with self._denials_lock:
                lst = self._denials.get(key)
                if lst is not None:
                    with contextlib.suppress(ValueError):
                        lst.remove(cb)
                    if not lst:
                        del self._denials[key]

        return unwatch

    async def _process_err(self, err_msg: str) -> None:  # type: ignore[override]
        """A permissions violation fails the requests waiting on its subject and goes to the
        error callback as a :class:`~jsdata.errors.PermissionDeniedError` (the server keeps
        the connection open); anything else is nats-py's (which expects lower case)."""
        m = _PERMISSION_RE.search(err_msg)
        if m is None:
            await super()._process_err(err_msg.lower())
            return
        operation = "publish" if m.group(1).lower() == "publish" else "subscribe"
        subject = m.group(2)
        err = errors.PermissionDeniedError(
            f"permission denied: this connection may not {operation} "
            f"{'to' if operation == 'publish' else 'on'} {subject!r} "
            f"(the server's permissions for this user do not allow it)",
            subject=subject, operation=operation)
        with self._denials_lock:
            waiting = list(self._denials.get((operation, subject), ()))
            listeners = list(self._denial_listeners)
        if not waiting:  # nobody's request fails with it (e.g. a pull request): say it once
            _jsdata_log.warning("%s", err.description)
        for cb in [*waiting, *listeners]:
            try:
                cb(err)
            except Exception:  # noqa: BLE001 - a waiter must not break the read loop
                _logger.debug("jsdata: a permission-denial callback failed", exc_info=True)
        await self._error_cb(err)

    @property
    def server_info(self) -> dict[str, Any]:
        """The INFO the connected server sent (version, api_lvl, max_payload, ...)."""
        return dict(self._server_info or {})

    async def _process_msg(  # type: ignore[override]
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes
    ) -> None:
        handler = self._fast.get(sid)
        if handler is None:
            await super()._process_msg(sid, subject, reply, data, headers)
            return
        stats = self.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        handler(subject, reply, data, headers or b"")

    async def fast_subscribe(self, subject: str, handler: FastHandler, queue: str = ""
                             ) -> Subscription:
        """Subscribe with a raw callback (in queue group ``queue`` if given); re-subscribed
        by nats-py after reconnects."""
        sub = await self.subscribe(subject, queue=queue, pending_msgs_limit=0,
                                   pending_bytes_limit=0)
        self._fast[sub._id] = handler
        return sub

    async def fast_subscribe_bulk(self, subject: str, sink: BulkSink) -> Subscription:
        """Subscribe with a :class:`BulkSink`: the parser appends messages to its lists with
        no per-message call (for bulk reads); re-subscribed by nats-py after reconnects."""
        sub = await self.subscribe(subject, pending_msgs_limit=0, pending_bytes_limit=0)
        self._fast[sub._id] = sink.append
        self._bulk[b"%d" % sub._id] = sink
        return sub

    def inbox_sub(self, sink: BulkSink) -> InboxSub:
        """A fresh inbox routed to ``sink`` (a :class:`BulkSink`), for one pull request:
        registered here at once, on any thread; its SUB is :meth:`InboxSub.sub_cmd`, sent
        with the request in one write. Not re-subscribed after a reconnect (nats-py does not
        know it): a pull request asks again to a fresh inbox then."""
        if not self._inbox_base:
            self._inbox_base = self.inbox()
        sid = next(self._inbox_sids)
        sub = InboxSub(sid, f"{self._inbox_base}.{sid}")
        self._fast[sid] = sink.append
        self._bulk[b"%d" % sid] = sink
        return sub

    def end_inbox_sub(self, sub: InboxSub, *, sent_unsub: bool = False) -> None:
        """On the loop: stop routing ``sub`` and send its UNSUB (unless the server has
        removed it already: ``sent_unsub``, its auto-unsubscribe count was reached)."""
        self.drop_fast(sub)  # type: ignore[arg-type]
        if not sent_unsub and not self.is_closed:
            self._send_cmd(b"UNSUB %d\r\n" % sub._id, 0, _ignore, nmsgs=0)

    def send_threadsafe(self, loop: asyncio.AbstractEventLoop, cmd: bytes, nbytes: int,
                        fail: Callable[[BaseException], None], nmsgs: int = 1) -> None:
        """Send prebuilt protocol bytes from any thread: written from this thread
        (:meth:`_write_now`) when nothing is queued before them, else handed to the loop in
        one ``call_soon_threadsafe``; ``fail(error)`` runs on the loop if they can no longer
        be sent (closed meanwhile)."""
        if self._write_now(loop, cmd, nbytes, nmsgs):
            return
        try:
            loop.call_soon_threadsafe(self._send_cmd, cmd, nbytes, fail, nmsgs)
        except RuntimeError:  # the loop is closed
            raise errors.ConnectionClosedError("the connection is closed") from None

    def drop_fast(self, sub: Subscription) -> None:
        """Stop routing ``sub``'s messages to its handler (or sink) now; the UNSUB is sent
        by :meth:`fast_unsubscribe`, which may follow later (messages in between are dropped).
        """
        self._fast.pop(sub._id, None)
        self._bulk.pop(b"%d" % sub._id, None)

    async def fast_unsubscribe(self, sub: Subscription) -> None:
        """Remove a fast (or bulk) subscription (ignores a closed connection)."""
        self.drop_fast(sub)
        if self.is_closed:
            return
        try:
            await sub.unsubscribe()
        except (nats.errors.ConnectionClosedError, nats.errors.BadSubscriptionError):
            pass

    async def _read_loop(self) -> None:
        """Feed the parser from the transport until the connection closes or fails.

        nats-py's loop with bigger reads: up to :data:`READ_SIZE` bytes per read, with the
        stream reader's buffer limit raised to match. Errors are handled exactly as nats-py
        does: EOF and protocol or socket errors go to ``_process_op_err`` (which reconnects
        or closes), cancellation ends the loop quietly, anything else is logged.
        """
        reader = getattr(self._transport, "_io_reader", None)
        if isinstance(reader, asyncio.StreamReader) and getattr(reader, "_limit", 0) < READ_SIZE:
            # pause the socket at 2 x READ_SIZE buffered, not at 64 KiB
            reader._limit = READ_SIZE  # type: ignore[attr-defined]
        while True:
            try:
                tr = self._transport
                if self.is_closed or self.is_reconnecting or tr is None:
                    break
                if tr.at_eof():
                    eof = nats.errors.UnexpectedEOF()
                    await self._error_cb(eof)
                    await self._process_op_err(eof)
                    break
                chunk = await tr.read(READ_SIZE)
                await self._ps.parse(chunk)
            except nats.errors.ProtocolError:
                await self._process_op_err(nats.errors.ProtocolError())
                break
            except OSError as e:
                await self._process_op_err(e)
                break
            except asyncio.CancelledError:
                break
            except Exception as ex:  # noqa: BLE001 - as nats-py: log and stop reading
                _logger.error("nats: encountered error", exc_info=ex)
                break

    @property
    def server_version(self) -> tuple[int, int, int]:
        """The server's version as ``(major, minor, patch)`` ((0, 0, 0) if unknown)."""
        m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", str(self.server_info.get("version", "")))
        return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)

    def keep_reconnecting(self, allow_reconnect: bool, max_reconnect_attempts: int) -> None:
        """Switch the reconnect behaviour of an established connection (the first connect
        runs with a bounded attempt count)."""
        self.options.update(allow_reconnect=allow_reconnect,
                            max_reconnect_attempts=max_reconnect_attempts)

    async def close_quietly(self) -> None:
        """Close; a transport that died meanwhile (server gone) is closed all the same."""
        try:
            await self.close()
        except (OSError, nats.errors.Error):
            # nats-py flushes its reconnect buffer into a transport that may be dead
            pass

    def check_open(self) -> None:
        if self.is_closed:
            raise errors.ConnectionClosedError("the connection is closed")

    def _pub_cmd(self, subject: str, reply: str, data: bytes, hdr: bytes) -> bytes:
        """The PUB/HPUB frame, after the checks every publish makes (closed, max_payload,
        reconnect buffer full); safe on any thread."""
        if self.is_closed:
            raise errors.ConnectionClosedError("the connection is closed")
        size = len(data) + len(hdr)
        if size > self._max_payload:
            raise errors.MaxPayloadExceededError(
                f"message of {size} bytes exceeds the server's max_payload of "
                f"{self._max_payload} bytes"
            )
        if not self.is_connected and (
            self._max_pending_size <= 0
            or size + self._pending_data_size > self._max_pending_size
        ):
            raise errors.NotConnectedError("not connected and the reconnect buffer is full")
        return pub_frame(subject.encode(), reply.encode(), data, hdr)

    async def publish_raw(self, subject: str, reply: str, data: bytes, hdr: bytes = b"") -> None:
        """Send PUB/HPUB with a prebuilt header block (multi-valued headers need this)."""
        if self.queue_pub(subject, reply, data, hdr):
            await self.kick()

    def queue_pub(self, subject: str, reply: str, data: bytes, hdr: bytes = b"") -> bool:
        """On the loop: queue a PUB/HPUB with no await (the per-message hot path of async
        publishing); True when the flusher is idle or the buffer over its limit: then
        ``await kick()``."""
        cmd = self._pub_cmd(subject, reply, data, hdr)
        stats = self.stats
        stats["out_msgs"] += 1
        stats["out_bytes"] += len(data)
        self._pending.append(cmd)
        self._pending_data_size += len(cmd)
        fq = self._flush_queue
        return (fq is not None and fq.empty()) or (
            self._max_pending_size > 0 and self._pending_data_size > self._max_pending_size)

    def queue_raw(self, *chunks: bytes, nmsgs: int = 0, nbytes: int = 0) -> None:
        """Append prebuilt protocol bytes to the outgoing buffer (nats-py's pending list).

        Raises when closed, or when disconnected with the reconnect buffer full; ``nmsgs``
        and ``nbytes`` update the connection's out stats. Call :meth:`kick` afterwards.
        """
        if self.is_closed:
            raise errors.ConnectionClosedError("the connection is closed")
        size = sum(map(len, chunks)) if len(chunks) != 1 else len(chunks[0])
        if not self.is_connected and (
            self._max_pending_size <= 0
            or size + self._pending_data_size > self._max_pending_size
        ):
            raise errors.NotConnectedError("not connected and the reconnect buffer is full")
        if len(chunks) == 1:
            self._pending.append(chunks[0])
        else:
            self._pending.extend(chunks)
        self._pending_data_size += size
        if nmsgs:
            stats = self.stats
            stats["out_msgs"] += nmsgs
            stats["out_bytes"] += nbytes

    def queue_frames(self, frames: list[tuple[Any, ...]]) -> Callable[[], Awaitable[None]]:
        """On the loop: queue prebuilt frames, each ``(frame, payload size, ...)``, and
        return the flush to await after (:meth:`kick`): a burst of blocking acks is one
        write."""
        self.queue_raw(*[f[0] for f in frames], nmsgs=len(frames),
                       nbytes=sum([f[1] for f in frames]))
        return self.kick

    async def kick(self) -> None:
        """Have nats-py's flusher write what is queued (once per burst; forced when over
        the pending limit)."""
        if self._max_pending_size > 0 and self._pending_data_size > self._max_pending_size:
            await self._flush_pending(force_flush=True)
        fq = self._flush_queue
        if fq is not None and fq.empty():
            await self._flush_pending()

    def add_status_listener(self, cb: Callable[[str], None]) -> Callable[[], None]:
        """Call ``cb(event)`` on the loop for "disconnected", "reconnected" and "closed".

        Installed on first use by wrapping nats-py's connection callbacks (a user's own
        callbacks still run first). Safe on any thread. Returns a function that removes
        ``cb``.
        """
        with self._listeners_lock:  # installed once even when two threads get here
            listeners: list[Callable[[str], None]] | None = self.__dict__.get(
                "_jsdata_status_listeners")
            if listeners is None:
                listeners = []
                self.__dict__["_jsdata_status_listeners"] = listeners
                for attr, event in (("_disconnected_cb", "disconnected"),
                                    ("_reconnected_cb", "reconnected"), ("_closed_cb", "closed")):
                    user_cb = getattr(self, attr, None)

                    async def relay(user_cb: Any = user_cb, event: str = event) -> None:
                        if user_cb is not None:
                            await user_cb()
                        for fn in list(listeners or ()):
                            try:
                                fn(event)
                            except Exception:  # noqa: BLE001 - a listener must not break nats-py
                                pass

                    setattr(self, attr, relay)
            listeners.append(cb)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                listeners.remove(cb)

        return remove

    def publish_threadsafe(self, loop: asyncio.AbstractEventLoop, subject: str, reply: str,
                           data: bytes, hdr: bytes, fail: Callable[[BaseException], None]
                           ) -> None:
        """Publish from any thread: checked and framed here, then written from this thread
        (:meth:`_write_now`) or else handed to the loop in one ``call_soon_threadsafe`` (no
        coroutine, no task); ``fail(error)`` runs on the loop if it can no longer be sent
        (closed meanwhile)."""
        self.send_threadsafe(loop, self._pub_cmd(subject, reply, data, hdr), len(data), fail)

    def _send_cmd(self, cmd: bytes, nbytes: int, fail: Callable[[BaseException], None],
                  nmsgs: int = 1) -> None:
        """On the loop: write ``cmd`` now when nothing is queued before it, else queue it
        for the flusher (or the reconnect buffer) as :meth:`publish_raw` does; ``nmsgs``
        messages of ``nbytes`` payload bytes in all go to the out stats."""
        if self.is_closed:
            fail(errors.ConnectionClosedError("the connection is closed"))
            return
        if nmsgs:
            stats = self.stats
            stats["out_msgs"] += nmsgs
            stats["out_bytes"] += nbytes
        tr = self._transport
        if tr is not None and self._status == Client.CONNECTED and not self._pending:
            try:
                tr.write(cmd)
                return
            except Exception as e:  # noqa: BLE001 - a transport torn down under us
                fail(errors.NotConnectedError(f"the request could not be sent: {e}"))
                return
        self._pending.append(cmd)
        self._pending_data_size += len(cmd)
        fq = self._flush_queue
        if self.is_connected and fq is not None and fq.empty():
            fq.put_nowait(asyncio.get_running_loop().create_future())  # kick the flusher

    def publish_now(self, subject: str, reply: str, data: bytes) -> bool:
        """Write a PUB straight to the socket when connected and nothing is queued before it.

        For latency-critical small control messages (pull requests): no flusher round trip.
        Returns False (nothing sent) when it cannot; then use :meth:`publish_raw`.
        """
        tr = self._transport
        if (tr is None or self._status != Client.CONNECTED or self._pending
                or len(data) > self._max_payload):
            return False
        tr.write(pub_frame(subject.encode(), reply.encode(), data))
        stats = self.stats
        stats["out_msgs"] += 1
        stats["out_bytes"] += len(data)
        return True


def _ignore(error: BaseException) -> None:
    """An UNSUB that can no longer be sent: the connection is gone, and the sub with it."""


class InboxSub:
    """A pull request's inbox subscription (:meth:`Connection.inbox_sub`)."""

    __slots__ = ("_id", "subject")

    def __init__(self, sid: int, subject: str) -> None:
        self._id = sid
        self.subject = subject

    def sub_cmd(self, max_msgs: int = 0) -> bytes:
        """Its SUB, with an auto-unsubscribe after ``max_msgs`` messages if given."""
        sub = b"SUB %s %d\r\n" % (self.subject.encode(), self._id)
        return sub + b"UNSUB %d %d\r\n" % (self._id, max_msgs) if max_msgs else sub

    def __repr__(self) -> str:
        return f"<InboxSub {self._id} {self.subject}>"


class ReplyMux:
    """One wildcard inbox subscription that routes replies to per-request callbacks.

    Used for API requests, publish acks and async publish: one SUB for the connection's
    lifetime, a token per request, as nats.go does with its response multiplexer.
    :meth:`request` also runs driven on a calling thread (``_portable``): it then registers a
    :class:`~jsdata.client._portable.ThreadWaiter` that the reader completes directly.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.prefix = ""  # set on start: the connection's inbox prefix is known once connected
        self._plen = 0
        self._waiters: dict[bytes, Callable[[bytes, bytes], None]] = {}
        self._counter = itertools.count(1)
        self._sub: Subscription | None = None
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None  # where the subscription lives

    async def start(self) -> None:
        async with self._lock:
            if self._sub is None:
                self._loop = asyncio.get_running_loop()
                self._set_prefix()
                self._sub = await self.conn.fast_subscribe(self.prefix + "*", self._on_msg)

    def _set_prefix(self) -> None:
        if not self.prefix:
            self.prefix = self.conn.inbox() + "."
            self._plen = len(self.prefix.encode())

    def _on_msg(self, subject: bytes, reply: bytes, data: bytes, hdr: bytes) -> None:
        if self.conn._tout_msgs:  # requests written by calling threads: count them first
            self.conn._fold_out()
        cb = self._waiters.pop(subject[self._plen:], None)
        if cb is not None:
            cb(data, hdr)

    def register(self, cb: Callable[[bytes, bytes], None]) -> tuple[str, bytes]:
        """Reserve a reply subject; ``cb(data, header_block)`` runs once with the reply."""
        self._set_prefix()
        tok = f"{next(self._counter):x}".encode()
        self._waiters[tok] = cb
        return self.prefix + tok.decode(), tok

    def forget(self, tok: bytes) -> None:
        self._waiters.pop(tok, None)

    async def request(self, subject: str, data: bytes, timeout: float,
                      hdr: bytes = b"") -> tuple[bytes, bytes]:
        """Publish and wait for one reply: (data, header_block).

        Under the event loop, or driven on a calling thread (then the request is handed to
        the loop with one ``call_soon_threadsafe`` and the reply wakes the caller directly).
        """
        if self._sub is None:
            await on_loop(self.start())
        loop = self._loop
        on_thread = driven()
        w: ReplyWaiter = ThreadWaiter() if on_thread else LoopWaiter()
        reply, tok = self.register(w.done)
        unwatch = self.conn.watch_denial("publish", subject, w.fail)
        unwatch_sub = self.conn.watch_denial("subscribe", self.prefix + "*", w.fail)
        try:
            if on_thread:
                assert loop is not None
                self.conn.publish_threadsafe(loop, subject, reply, data, hdr, w.fail)
            else:
                await self.conn.publish_raw(subject, reply, data, hdr)
            return await w.wait(timeout)
        except BaseException as e:
            if on_thread and loop is not None and self.conn._tout_msgs:
                # no reply folded this request's count into stats: have the loop do it
                with contextlib.suppress(RuntimeError):  # the loop is closed
                    loop.call_soon_threadsafe(self.conn._fold_out)
            if isinstance(e, asyncio.TimeoutError):
                raise errors.APITimeoutError(
                    f"timed out after {timeout:g}s waiting for a reply on {subject}") from None
            raise
        finally:
            self._waiters.pop(tok, None)
            unwatch()
            unwatch_sub()

    async def close(self) -> None:
        """Unsubscribe; requests still waiting fail with ConnectionClosedError at once."""
        if self._sub is not None:
            await self.conn.fast_unsubscribe(self._sub)
            self._sub = None
        waiting = list(self._waiters.values())
        self._waiters.clear()
        for cb in waiting:
            owner = getattr(cb, "__self__", None)
            if isinstance(owner, ReplyWaiter):
                owner.fail(errors.ConnectionClosedError("the connection is closed"))


def status_of(hdr: bytes) -> tuple[int, str] | None:
    """The inline status of a header block (``NATS/1.0 503``) as (code, description)."""
    if len(hdr) < 12 or hdr[8:9] != b" ":
        return None
    end = hdr.find(_CRLF)
    line = hdr[9:end] if end > 0 else hdr[9:]
    code, _, desc = line.partition(b" ")
    try:
        return int(code), desc.decode("utf-8", "replace").strip()
    except ValueError:
        return None


def env_url() -> str | None:
    """The server URL from JSDATA_URL or NATS_URL, if set."""
    return os.environ.get("JSDATA_URL") or os.environ.get("NATS_URL") or None


def redact(url: str) -> str:
    """A URL with any user:password@ or token@ removed, for reprs and messages."""
    if "@" not in url:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    host = rest.rsplit("@", 1)[1]
    return f"{scheme}://***@{host}" if sep else f"***@{host}"
