"""Shared fixtures: real nats-server processes on free loopback ports, temp store dirs."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

import jsdata
from jsdata.server import EmbeddedServer


@pytest.fixture
def server(tmp_path) -> Iterator[EmbeddedServer]:
    """A fresh JetStream server for one test (its store dir in tmp_path)."""
    srv = EmbeddedServer(store_dir=str(tmp_path / "store"))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory) -> Iterator[EmbeddedServer]:
    """One server for a whole test module (use unique stream names per test)."""
    srv = EmbeddedServer(store_dir=str(tmp_path_factory.mktemp("store")))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _jsdata_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("jsdata")}


@pytest.fixture
def js(server) -> Iterator[jsdata.JetStream]:
    """A blocking connection; the test fails if it leaves jsdata threads behind."""
    before = _jsdata_threads()
    conn = jsdata.connect(server.url)
    try:
        yield conn
    finally:
        conn.close()
    leaked = _jsdata_threads() - before
    assert not leaked, f"leaked threads: {leaked}"


@pytest.fixture
async def ajs(server) -> AsyncIterator[jsdata.aio.JetStream]:
    """An asyncio connection; the test fails if it leaves tasks behind."""
    conn = await jsdata.aio.connect(server.url)
    try:
        yield conn
    finally:
        await conn.close()
    await asyncio.sleep(0)
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done()
            and "jsdata" in getattr(getattr(t.get_coro(), "cr_code", None), "co_filename", "")]
    assert not left, f"leaked tasks: {left}"


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt, as at a terminal. A process started in the background
    of a non-interactive shell (CI scripts, ``cmd &``) inherits SIGINT as *ignored*, and
    Python then installs no handler, so a simulated Ctrl-C would be dropped (seen in a
    backgrounded suite run: the interrupted ``next`` waited out its 30 s)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)
