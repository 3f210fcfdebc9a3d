"""A loopback TCP proxy between a client and nats-server that can cut the connection.

``CutProxy(port, cut_after=N)`` forwards every connection to ``127.0.0.1:port``; once a
connection has forwarded ``N`` bytes from the server to the client it is cut (both sockets
closed) — once, deterministically, at that byte position — and ``on_cut()`` runs (e.g. to
stop or restart the server). Later connections (the client reconnecting) are forwarded
again, while the target accepts them.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


class CutProxy:
    def __init__(self, target_port: int, cut_after: int | None = None,
                 on_cut: Callable[[], None] | None = None) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.on_cut = on_cut
        self.cuts = 0
        self.connections = 0
        self.cut_done = threading.Event()
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._gen = 0
        self._threads: list[threading.Thread] = []
        t = threading.Thread(target=self._accept, name="cutproxy-accept", daemon=True)
        t.start()
        self._threads.append(t)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._lsock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
                upstream.settimeout(None)
            except OSError:
                client.close()  # the server is down: the client's reconnect fails
                continue
            with self._lock:
                self.connections += 1
                self._open += [client, upstream]
            pair = (client, upstream)
            for src, dst, down in ((client, upstream, False), (upstream, client, True)):
                t = threading.Thread(target=self._pump, args=(src, dst, down, pair),
                                     name="cutproxy-pump", daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, down: bool,
              pair: tuple[socket.socket, socket.socket]) -> None:
        sent = 0  # bytes forwarded since the proxy was last armed
        gen = self._gen
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if gen != self._gen:
                    gen, sent = self._gen, 0
                limit = self.cut_after if down and not self.cuts else None
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[:max(0, limit - sent)])
                    self._cut(pair)
                    return
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in pair:
                _close(s)

    def _cut(self, pair: tuple[socket.socket, socket.socket]) -> None:
        with self._lock:
            if self.cuts:
                return
            self.cuts += 1
        for s in pair:
            _close(s)
        if self.on_cut is not None:
            self.on_cut()
        self.cut_done.set()

    def arm(self) -> None:
        """Cut again, once, after ``cut_after`` more bytes from the server."""
        with self._lock:
            self._gen += 1
            self.cuts = 0
            self.cut_done.clear()

    def cut(self) -> None:
        """Cut every open connection now."""
        with self._lock:
            socks, self._open = self._open, []
            self.cuts += 1
        for s in socks:
            _close(s)

    def close(self) -> None:
        self._closed = True
        _close(self._lsock)
        self.cut()

    def __enter__(self) -> CutProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
