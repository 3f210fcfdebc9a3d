"""Connecting (API.md §1) and the blocking surface's threading model, against real servers."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nats.aio.client
import pytest

import jsdata
from jsdata import errors
from jsdata.server import EmbeddedServer, stop_default_server
from tests.helpers import wait_for

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "s3cr3t-Pa55word"
TOKEN = "t0ken-VERY-secret"


def _jsdata_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("jsdata")}


def _children() -> set[int]:
    """Pids of this process's child processes (Linux /proc; empty elsewhere)."""
    out: set[int] = set()
    for f in Path("/proc/self/task").glob("*/children"):
        try:
            out.update(int(p) for p in f.read_text().split())
        except OSError:
            pass
    return out


@pytest.fixture
def auth_server(tmp_path) -> Iterator[EmbeddedServer]:
    """A server requiring user ``u`` with PASSWORD."""
    srv = EmbeddedServer(store_dir=str(tmp_path / "auth"), args=["--user", "u", "--pass", PASSWORD])
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def token_server(tmp_path) -> Iterator[EmbeddedServer]:
    """A server requiring TOKEN."""
    srv = EmbeddedServer(store_dir=str(tmp_path / "tok"), args=["--auth", TOKEN])
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def domain_server(tmp_path) -> Iterator[EmbeddedServer]:
    """A server whose JetStream domain is HUB."""
    srv = EmbeddedServer(store_dir=str(tmp_path / "dom"), domain="HUB")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


# -- URLs, environment, context managers ---------------------------------------------------------

def test_connect_explicit_url_blocking(server) -> None:
    js = jsdata.connect(server.url)
    try:
        assert isinstance(js, jsdata.JetStream)
        assert server.url in repr(js) and "connected" in repr(js)
        assert isinstance(js.nc, nats.aio.client.Client)
        assert js.nc.is_connected
        assert js.account_info().streams == 0
    finally:
        js.close()
    assert "closed" in repr(js)
    js.close()  # idempotent
    with pytest.raises(errors.ConnectionClosedError):
        js.account_info()


async def test_connect_explicit_url_async(server) -> None:
    js = await jsdata.aio.connect(server.url)
    assert isinstance(js, jsdata.aio.JetStream)
    assert isinstance(js.nc, nats.aio.client.Client)
    assert (await js.account_info()).streams == 0
    await js.close()
    assert "closed" in repr(js)
    await js.close()
    with pytest.raises(errors.ConnectionClosedError):
        await js.account_info()


def test_connect_url_keyword_and_server_list(server) -> None:
    with jsdata.connect(url=server.url) as js:
        assert js.account_info().streams == 0
    with jsdata.connect([server.url]) as js:
        assert js.account_info().streams == 0
    with jsdata.connect(f"{server.url},{server.url}") as js:  # comma-separated, as NATS_URL
        assert js.account_info().streams == 0
    with jsdata.connect(["nats://127.0.0.1:1", server.url]) as js:  # a dead one is skipped
        assert js.account_info().streams == 0


@pytest.mark.parametrize("var", ["JSDATA_URL", "NATS_URL"])
def test_connect_from_env(server, monkeypatch, var) -> None:
    monkeypatch.delenv("JSDATA_URL", raising=False)
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setenv(var, server.url)
    with jsdata.connect() as js:
        js.create_stream(name="ENV", subjects=["env.>"], storage="memory")
        assert js.publish("env.a", b"x").stream == "ENV"


async def test_connect_from_env_async(server, monkeypatch) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setenv("JSDATA_URL", server.url)
    async with await jsdata.aio.connect() as js:
        assert (await js.account_info()).streams == 0


def test_jsdata_url_wins_over_nats_url(server, monkeypatch) -> None:
    monkeypatch.setenv("JSDATA_URL", server.url)
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:1")
    with jsdata.connect() as js:
        assert js.nc.is_connected


def test_context_manager_blocking_closes(server) -> None:
    before = _jsdata_threads()
    with jsdata.connect(server.url) as js:
        assert js.nc.is_connected
        assert _jsdata_threads() - before
    assert js.nc.is_closed
    assert not (_jsdata_threads() - before)


async def test_context_manager_async_closes(server) -> None:
    async with await jsdata.aio.connect(server.url) as js:
        assert js.nc.is_connected
    assert js.nc.is_closed


def test_default_embedded_server(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("JSDATA_URL", raising=False)
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setenv("JSDATA_HOME", str(tmp_path / "home"))
    try:
        with jsdata.connect() as js:
            js.create_stream(name="DEF", subjects=["def.>"])
            js.publish("def.a", b"1")
        # a second connection reuses the same (running) default server and its data
        with jsdata.connect() as js:
            assert js.stream("DEF").info().state.messages == 1
    finally:
        assert stop_default_server()


# -- auth: secrets never leak ---------------------------------------------------------------------

def test_user_password_auth(auth_server, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with jsdata.connect(auth_server.url, user="u", password=PASSWORD) as js:
        js.create_stream(name="A", subjects=["a.>"], storage="memory")
        assert js.publish("a.1", b"x").sequence == 1
        assert PASSWORD not in repr(js) and PASSWORD not in str(js)
    assert PASSWORD not in caplog.text


def test_credentials_in_url_are_redacted(auth_server, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    url = auth_server.url.replace("nats://", f"nats://u:{PASSWORD}@")
    with jsdata.connect(url) as js:
        assert js.account_info().streams == 0
        assert PASSWORD not in repr(js)
    bad = auth_server.url.replace("nats://", "nats://u:wrong-Pa55@")
    with pytest.raises(errors.JetStreamConnectionError) as ei:
        jsdata.connect(bad, timeout=2)
    assert "wrong-Pa55" not in str(ei.value) and "wrong-Pa55" not in repr(ei.value)
    assert PASSWORD not in caplog.text and "wrong-Pa55" not in caplog.text


def test_wrong_password_fails_without_leaking(auth_server, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    before = _jsdata_threads()
    with pytest.raises(errors.JetStreamConnectionError) as ei:
        jsdata.connect(auth_server.url, user="u", password="not-" + PASSWORD, timeout=2)
    assert isinstance(ei.value, ConnectionError)
    text = str(ei.value) + repr(ei.value) + str(ei.value.__cause__) + str(ei.value.__context__)
    assert PASSWORD not in text
    assert "uthoriz" in text  # says why
    assert PASSWORD not in caplog.text
    assert not (_jsdata_threads() - before)


async def test_wrong_password_async(auth_server) -> None:
    with pytest.raises(errors.JetStreamConnectionError) as ei:
        await jsdata.aio.connect(auth_server.url, user="u", password="nope-" + PASSWORD)
    assert PASSWORD not in str(ei.value)


async def test_missing_credentials_async(auth_server) -> None:
    with pytest.raises(errors.JetStreamConnectionError):
        await jsdata.aio.connect(auth_server.url)


def test_token_auth(token_server, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with jsdata.connect(token_server.url, token=TOKEN) as js:
        assert js.account_info().streams == 0
        assert TOKEN not in repr(js)
    with pytest.raises(errors.JetStreamConnectionError) as ei:
        jsdata.connect(token_server.url, token="bad-" + TOKEN, timeout=2)
    assert TOKEN not in str(ei.value)
    with jsdata.connect(token_server.url.replace("nats://", f"nats://{TOKEN}@")) as js:
        assert js.account_info().streams == 0
        assert TOKEN not in repr(js)
    assert TOKEN not in caplog.text


def test_unreachable_server_fails_fast() -> None:
    with pytest.raises(errors.JetStreamConnectionError) as ei:
        jsdata.connect("nats://127.0.0.1:1", timeout=2)
    assert "127.0.0.1:1" in str(ei.value)


# -- domains and api prefixes ---------------------------------------------------------------------

def test_domain(domain_server) -> None:
    with jsdata.connect(domain_server.url, domain="HUB") as js:
        assert js.account_info().domain == "HUB"
        s = js.create_stream(name="D", subjects=["d.>"], storage="memory")
        ack = js.publish("d.1", b"x")
        assert ack.stream == "D" and ack.domain == "HUB"
        c = s.create_consumer(durable="C")
        m = c.next(max_wait=5)
        assert m.data == b"x" and m.metadata.stream == "D"
        m.ack()
        # direct gets go through the domain's API prefix too
        d = js.create_stream(name="DD", subjects=["dd.>"], storage="memory", allow_direct=True)
        js.publish("dd.1", b"direct", headers={"K": ["1", "2"]})
        got = d.get_msg(1)
        assert got.data == b"direct" and got.headers.get_all("K") == ["1", "2"]
        assert d.get_last_msg_for_subject("dd.>").sequence == 1
    # the api prefix form reaches the same JetStream
    with jsdata.connect(domain_server.url, api_prefix="$JS.HUB.API") as js:
        assert sorted(js.stream_names()) == ["D", "DD"]


async def test_domain_async(domain_server) -> None:
    async with await jsdata.aio.connect(domain_server.url, domain="HUB") as js:
        await js.create_stream(name="D", subjects=["d.>"], storage="memory")
        assert (await js.publish("d.1", b"x")).domain == "HUB"
        assert [n async for n in js.stream_names()] == ["D"]


def test_wrong_domain_is_a_clear_error(domain_server) -> None:
    # connect checks JetStream: a domain nobody serves fails there, naming the domain
    with pytest.raises(errors.NoJetStreamError) as ei:
        jsdata.connect(domain_server.url, domain="NOPE", timeout=2)
    assert isinstance(ei.value, errors.JetStreamNotEnabledError)
    assert isinstance(ei.value, errors.JetStreamConnectionError)
    assert "'NOPE'" in str(ei.value)


def test_domain_and_api_prefix_together_is_an_error(server) -> None:
    with pytest.raises(errors.InvalidArgumentError):
        jsdata.connect(server.url, domain="HUB", api_prefix="$JS.HUB.API")


def test_no_jetstream_is_a_clear_error(tmp_path) -> None:
    # a plain NATS server without JetStream: "-js=false" overrides the embedded "-js" flag
    srv = EmbeddedServer(store_dir=str(tmp_path / "nojs"), args=["--jetstream=false"])
    try:
        srv.start()
    except errors.EmbeddedServerError:
        pytest.skip("EmbeddedServer waits for JetStream health; cannot run without it")
    try:
        with pytest.raises(errors.NoJetStreamError) as ei:
            jsdata.connect(srv.url, timeout=2)
        assert isinstance(ei.value, errors.JetStreamNotEnabledError)
        assert "JetStream is not enabled" in str(ei.value)
    finally:
        srv.stop()


# -- the blocking surface's execution model -------------------------------------------------------

def test_blocking_in_a_plain_script(server) -> None:
    code = (
        "import jsdata\n"
        f"js = jsdata.connect({server.url!r})\n"
        "js.create_stream(name='P', subjects=['p.>'], storage='memory')\n"
        "for i in range(10): js.publish('p.x', str(i))\n"
        "c = js.create_consumer('P', durable='C')\n"
        "msgs = list(c.fetch(10, max_wait=5))\n"
        "[m.ack() for m in msgs]\n"
        "print(len(msgs), msgs[-1].data.decode())\n"
        "js.close()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["10", "9"]


def test_script_exits_without_close(server) -> None:
    """A script that forgets close() still exits (daemon threads, no hang at shutdown)."""
    code = (
        "import jsdata\n"
        f"js = jsdata.connect({server.url!r})\n"
        "print(js.account_info().streams)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


def test_script_shutdown_is_clean(server) -> None:
    """No "Task was destroyed", "never retrieved" or "Exception ignored" noise on close/exit."""
    code = (
        "import gc, jsdata\n"
        f"js = jsdata.connect({server.url!r})\n"
        "js.create_stream(name='Q', subjects=['q.>'], storage='memory')\n"
        "fs = [js.publish_async('q.x', b'x') for _ in range(200)]\n"
        "bad = js.publish_async('nobody.here', b'x', retry_attempts=0)\n"
        "c = js.create_consumer('Q', durable='C')\n"
        "b = c.fetch(5, max_wait=10)\n"   # a pull still open at close
        "pending = c.fetch(500, max_wait=10)\n"
        "js.close()\n"
        "gc.collect()\n"
        "print('done')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONASYNCIODEBUG="1")
    out = subprocess.run([sys.executable, "-X", "dev", "-c", code], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
    for noise in ("Task was destroyed", "never retrieved", "Exception ignored", "Traceback",
                  "ResourceWarning", "was never awaited"):
        assert noise not in out.stderr, out.stderr


def test_blocking_api_inside_a_running_event_loop(server) -> None:
    """As in a Jupyter cell: the blocking API called from a coroutine on a running loop."""
    async def cell() -> list[bytes]:
        assert asyncio.get_running_loop().is_running()
        js = jsdata.connect(server.url)
        try:
            js.create_stream(name="NB", subjects=["nb.>"], storage="memory")
            for i in range(5):
                js.publish("nb.x", f"m{i}")
            c = js.create_consumer("NB", durable="C")
            got = []
            for m in c.fetch(5, max_wait=5):
                got.append(m.data)
                m.ack()
            return got
        finally:
            js.close()

    assert asyncio.run(cell()) == [f"m{i}".encode() for i in range(5)]


def test_blocking_api_inside_event_loop_next_timeout(server) -> None:
    async def cell() -> None:
        with jsdata.connect(server.url) as js:
            js.create_stream(name="NB", subjects=["nb.>"], storage="memory")
            c = js.create_consumer("NB", durable="C")
            with pytest.raises(TimeoutError):
                c.next(max_wait=0.3)

    asyncio.run(cell())


def test_many_threads_share_one_connection(server) -> None:
    js = jsdata.connect(server.url)
    errs: list[BaseException] = []
    try:
        js.create_stream(name="T", subjects=["t.>"], storage="memory")
        n_threads, per = 8, 50

        def work(i: int) -> None:
            try:
                c = js.create_consumer("T", durable=f"C{i}", filter_subject=f"t.{i}")
                for k in range(per):
                    ack = js.publish(f"t.{i}", f"{i}-{k}")
                    assert ack.stream == "T"
                got = 0
                while got < per:
                    for m in c.fetch(per, max_wait=5):
                        assert m.subject == f"t.{i}"
                        m.ack()
                        got += 1
                assert got == per
            except BaseException as e:  # noqa: BLE001 - reported below
                errs.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errs, errs
        assert js.stream("T").info().state.messages == n_threads * per
    finally:
        js.close()


def test_many_threads_publish_async_and_ack(server) -> None:
    with jsdata.connect(server.url) as js:
        s = js.create_stream(name="T", subjects=["t.>"], storage="memory")
        n_threads, per = 8, 250
        errs: list[BaseException] = []
        futs: list[list] = [[] for _ in range(n_threads)]

        def pub(i: int) -> None:
            try:
                for k in range(per):
                    futs[i].append(js.publish_async(f"t.{i}", f"{k}"))
            except BaseException as e:  # noqa: BLE001 - reported below
                errs.append(e)

        threads = [threading.Thread(target=pub, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        js.publish_async_complete(timeout=30)
        assert not errs, errs
        seqs = sorted(f.result().sequence for fs in futs for f in fs)
        assert seqs == list(range(1, n_threads * per + 1))
        for fs in futs:  # each thread's own publishes keep their order
            assert [f.result().sequence for f in fs] == sorted(f.result().sequence for f in fs)
        c = s.create_consumer(durable="C", ack_policy="explicit")
        seen: list[int] = []
        lock = threading.Lock()

        def consume() -> None:
            try:
                while True:
                    batch = list(c.fetch(50, max_wait=0.5))
                    if not batch:
                        return
                    for m in batch:
                        m.ack()
                    with lock:
                        seen.extend(m.metadata.sequence.stream for m in batch)
            except BaseException as e:  # noqa: BLE001 - reported below
                errs.append(e)

        threads = [threading.Thread(target=consume) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errs, errs
        assert sorted(seen) == list(range(1, n_threads * per + 1))  # each exactly once
        # acks are fire-and-forget: wait for the server's count to follow
        wait_for(lambda: c.info().num_ack_pending == 0, timeout=20, what="every ack")


def test_requests_while_the_server_is_away_complete_when_it_returns(server) -> None:
    with jsdata.connect(server.url, timeout=10) as js:
        s = js.create_stream(name="R", subjects=["r.>"], storage="file")
        server.stop()
        back = threading.Timer(0.8, server.start)
        back.start()
        try:
            assert js.account_info().streams == 1  # buffered, sent after the reconnect
            assert js.publish("r.1", b"x").stream == "R"
        finally:
            back.join()
        assert s.info().state.messages == 1


def test_close_joins_everything(server) -> None:
    threads_before = _jsdata_threads()
    children_before = _children()
    js = jsdata.connect(server.url)
    js.create_stream(name="CL", subjects=["cl.>"], storage="memory")
    futs = [js.publish_async("cl.x", b"x") for _ in range(100)]
    js.publish_async_complete(timeout=10)
    assert all(f.result().stream == "CL" for f in futs)
    c = js.create_consumer("CL", durable="C")
    assert len(list(c.fetch(10, max_wait=2))) == 10
    # a handler thread too, if a callback API was used
    lt = js._lt
    js.close()
    assert not (_jsdata_threads() - threads_before)
    assert _children() == children_before
    assert lt.loop.is_closed()
    assert not lt.thread.is_alive()
    with pytest.raises(errors.ConnectionClosedError):
        js.publish("cl.x", b"y")


async def test_close_async_leaves_no_tasks(server) -> None:
    js = await jsdata.aio.connect(server.url)
    await js.create_stream(name="CL", subjects=["cl.>"], storage="memory")
    c = await js.create_consumer("CL", durable="C")
    batch = await c.fetch(5, max_wait=10)  # a pull still waiting when we close
    for _ in range(50):
        await js.publish_async("cl.x", b"x")
    await js.close()
    await asyncio.sleep(0.05)
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    assert not left, left
    assert batch is not None


def _interrupt_main_after(delay: float) -> threading.Timer:
    main_ident = threading.main_thread().ident
    assert main_ident is not None
    t = threading.Timer(delay, signal.pthread_kill, args=(main_ident, signal.SIGINT))
    t.start()
    return t


needs_pthread_kill = pytest.mark.skipif(not hasattr(signal, "pthread_kill"),
                                        reason="needs pthread_kill")


@needs_pthread_kill
def test_ctrl_c_interrupts_blocking_next(js, ctrl_c_raises) -> None:
    assert threading.current_thread() is threading.main_thread()
    js.create_stream(name="K", subjects=["k.>"], storage="memory")
    c = js.create_consumer("K", durable="C", ack_policy="explicit")
    timer = _interrupt_main_after(0.3)
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            c.next(max_wait=30)
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 10  # returned control long before max_wait
    # the connection still works
    assert js.account_info().consumers == 1
    assert js.publish("k.1", b"after").sequence == 1
    assert js.stream("K").get_msg(1).data == b"after"


@needs_pthread_kill
def test_ctrl_c_interrupted_next_does_not_swallow_messages(js, ctrl_c_raises) -> None:
    js.create_stream(name="K", subjects=["k.>"], storage="memory")
    c = js.create_consumer("K", durable="C", ack_policy="explicit")
    timer = _interrupt_main_after(0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            c.next(max_wait=30)
    finally:
        timer.cancel()
    js.publish("k.1", b"after")
    m = c.next(max_wait=3)
    assert m.data == b"after"
    m.ack()


async def test_cancelled_async_next_does_not_swallow_messages(ajs) -> None:
    await ajs.create_stream(name="K", subjects=["k.>"], storage="memory")
    c = await ajs.create_consumer("K", durable="C", ack_policy="explicit")
    task = asyncio.ensure_future(c.next(max_wait=30))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await ajs.publish("k.1", b"after")
    m = await c.next(max_wait=3)
    assert m.data == b"after"
