"""The default server: one long-lived, detached nats-server per user (its data survives a
kernel restart), found or started by ``default_server_url()``; ``python -m jsdata.server
status|start|stop`` manages it."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import EmbeddedServerError, ServerNotFoundError
from .embedded import EmbeddedServer
from .process import (
    _DETACHED,
    _LOCK_NAME,
    _STATE_NAME,
    ENV_HOME,
    START_TIMEOUT,
    STOP_TIMEOUT,
    _http_get,
    _http_json,
    _is_nats_server_pid,
    _pid_alive,
    _port_free,
    _terminate_pid,
)

__all__ = ["default_server_url", "default_server_status", "stop_default_server", "jsdata_home",
           "main"]

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
