"""``local_cluster()``: a small JetStream cluster of embedded servers on loopback, for
replication tests (routes between the nodes, one store directory each)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

from ..errors import EmbeddedServerError
from .embedded import EmbeddedServer
from .process import (
    CLUSTER_TIMEOUT,
    STOP_TIMEOUT,
    _connect_host,
    _free_ports,
    _http_get,
    _http_json,
    _url_host,
)

__all__ = ["LocalCluster", "local_cluster"]

class LocalCluster:
    """A JetStream cluster of ``size`` nats-server processes on loopback.

    Nodes are named ``n1..nN`` in cluster ``jsdata``; each has its own store dir under
    ``store_dir`` (a temporary dir, removed on stop, when None). ``urls`` lists the client
    URLs, ``url`` joins them with commas. Use it as a context manager.
    """

    def __init__(
        self,
        size: int = 3,
        *,
        store_dir: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        cluster_name: str = "jsdata",
        args: Sequence[str] = (),
    ) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.size = size
        self.host = host
        self.cluster_name = cluster_name
        self._args = list(args)
        self._requested_store = Path(store_dir).expanduser() if store_dir is not None else None
        self._base: Path | None = None
        self._finalizer: weakref.finalize | None = None
        self.servers: list[EmbeddedServer] = []

    @property
    def urls(self) -> list[str]:
        """Client URLs of all nodes (nats-py accepts the list as ``servers=``)."""
        return [s.url for s in self.servers]

    @property
    def url(self) -> str:
        """Client URLs of all nodes, comma-joined."""
        return ",".join(self.urls)

    @property
    def store_dir(self) -> Path | None:
        """The directory holding every node's store dir."""
        return self._base

    @property
    def running(self) -> bool:
        """Whether every node runs."""
        return bool(self.servers) and all(s.running for s in self.servers)

    def __repr__(self) -> str:
        if self.running:
            return f"<LocalCluster size={self.size} running {self.url}>"
        return f"<LocalCluster size={self.size} stopped>"

    def start(self, timeout: float = CLUSTER_TIMEOUT) -> LocalCluster:
        """Start every node and wait for a healthy cluster with a JetStream meta leader."""
        if self.running:
            return self
        if self._requested_store is None:
            self._base = Path(tempfile.mkdtemp(prefix="jsdata-cluster-"))
            # Registered before the nodes' finalizers, so at exit it runs after them.
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(self._base), True)
        else:
            self._base = self._requested_store.absolute()
        n = self.size
        ports = _free_ports(self.host, 3 * n)
        client, monitor, cluster = ports[:n], ports[n : 2 * n], ports[2 * n :]
        chost = _url_host(_connect_host(self.host))
        route_urls = [f"nats://{chost}:{p}" for p in cluster]
        self.servers = [
            EmbeddedServer(
                self._base / f"n{i + 1}",
                port=client[i],
                host=self.host,
                monitor_port=monitor[i],
                name=f"n{i + 1}",
                cluster_name=self.cluster_name if n > 1 else None,
                cluster_port=cluster[i] if n > 1 else None,
                routes=[u for j, u in enumerate(route_urls) if j != i] if n > 1 else None,
                args=self._args,
            )
            for i in range(n)
        ]
        for s in self.servers:
            s._monitor_auto = True  # pre-picked only to avoid collisions; re-pickable later
        deadline = time.monotonic() + timeout
        try:
            for s in self.servers:
                s._launch()
            for s in self.servers:
                s._wait_ready(max(0.1, deadline - time.monotonic()))
                s._started_once = True
            if n > 1:
                self.wait_for_meta_leader(max(0.1, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        return self

    def meta_leader(self) -> str | None:
        """The JetStream meta leader's name if every node agrees on one, else None."""
        leaders = set()
        for s in self.servers:
            if not s.running:
                continue
            jsz = _http_json(f"{s._monitor_base()}/jsz", timeout=1.0) or {}
            meta = jsz.get("meta_cluster") or {}
            leaders.add(meta.get("leader") or "")
        return leaders.pop() if len(leaders) == 1 and "" not in leaders else None

    def wait_for_meta_leader(self, timeout: float = CLUSTER_TIMEOUT) -> str:
        """Wait until all nodes are healthy and agree on a meta leader; return its name."""
        deadline = time.monotonic() + timeout
        while True:
            for s in self.servers:
                if not s.running:
                    raise s._fail(f"cluster node {s.name} exited")
            leader = self.meta_leader()
            if leader is not None and all(
                _http_get(f"{s._monitor_base()}/healthz", timeout=1.0)[0] == 200
                for s in self.servers
            ):
                return leader
            if time.monotonic() > deadline:
                states = []
                for s in self.servers:
                    status, body = _http_get(f"{s._monitor_base()}/healthz", timeout=1.0)
                    states.append(f"{s.name}: {status} {body.decode('utf-8', 'replace')}")
                raise EmbeddedServerError(
                    f"JetStream cluster did not form within {timeout:g}s: " + "; ".join(states)
                )
            time.sleep(0.05)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every node; remove the temporary store dir. Idempotent."""
        for s in self.servers:
            s.stop(timeout)
        if self._finalizer is not None:
            self._finalizer()  # removes the temporary base dir
            self._finalizer = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def local_cluster(
    size: int = 3,
    *,
    store_dir: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
) -> LocalCluster:
    """A :class:`LocalCluster` of ``size`` nodes; ``with local_cluster(3) as c:`` starts it.

    Outside a ``with`` block call ``.start()`` / ``.stop()`` yourself.
    """
    return LocalCluster(size, store_dir=store_dir, host=host)
