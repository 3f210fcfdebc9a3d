"""How a fetch's pull request travels: its inbox is registered and subscribed with the
request in one write (from the calling thread on the blocking surface), the server drops
an inbox by itself once a full batch has arrived (auto-unsubscribe), every other ending
unsubscribes it, a blocking reader waits for messages on its own thread, and Ctrl-C there
ends the pull request before the next call, so that no message is swallowed by it."""

from __future__ import annotations

import json
import signal
import threading
import urllib.request

import pytest

import jsdata
from tests.helpers import wait_for


def _subs(server) -> int:  # type: ignore[no-untyped-def]
    """The server's subscription count (its monitoring endpoint)."""
    with urllib.request.urlopen(f"{server.monitor_url}/subsz", timeout=5) as r:
        return int(json.load(r)["num_subscriptions"])


def test_every_ending_leaves_no_subscription(server, js: jsdata.JetStream) -> None:
    js.create_stream(name="FI", subjects=["fi.>"], storage="memory")
    for i in range(50):
        js.publish("fi.x", b"%d" % i)
    c = js.create_consumer("FI", durable="d", ack_policy="none")
    base = _subs(server)
    # full batches: the server removes each inbox at its last message
    for k in range(5):
        assert [m.data for m in c.fetch(5, max_wait=5)] == [b"%d" % i for i in
                                                             range(5 * k, 5 * k + 5)]
    assert _subs(server) == base
    # a batch cut short by max_bytes, one that expires half full, one ended by no_wait's
    # 404, one with heartbeats: each inbox is unsubscribed when the batch ends
    assert 1 <= len(list(c.fetch_bytes(120, max_wait=5))) < 10
    got = list(c.fetch(100, max_wait=0.5))
    assert got and len(got) < 100
    assert list(c.fetch_no_wait(10)) == []
    assert list(c.fetch(10, max_wait=1.0, heartbeat=0.2)) == []
    wait_for(lambda: _subs(server) == base, what="every inbox unsubscribed")
    nc = js._core.nc  # type: ignore[attr-defined]
    assert not [sid for sid in nc._bulk if int(sid) >= 1 << 40]  # no inbox routed any more


def test_out_stats_count_the_pull_requests(js: jsdata.JetStream) -> None:
    js.create_stream(name="FS", subjects=["fs.>"], storage="memory")
    js.publish("fs.x", b"one")
    c = js.create_consumer("FS", durable="d", ack_policy="none")
    nc = js._core.nc  # type: ignore[attr-defined]
    before = nc.stats["out_msgs"]
    for _ in range(3):
        list(c.fetch(1, max_wait=0.3))
    wait_for(lambda: nc.stats["out_msgs"] - before == 3, what="three pull requests counted")


async def test_async_fetch_sends_one_subscription_per_request(server, ajs) -> None:  # type: ignore[no-untyped-def]
    await ajs.create_stream(name="FA", subjects=["fa.>"], storage="memory")
    for i in range(20):
        await ajs.publish("fa.x", b"%d" % i)
    c = await ajs.create_consumer("FA", durable="d", ack_policy="none")
    base = _subs(server)
    got = []
    for _ in range(4):
        got += [m.data async for m in await c.fetch(5, max_wait=5)]
    assert got == [b"%d" % i for i in range(20)]
    assert _subs(server) == base


needs_pthread_kill = pytest.mark.skipif(not hasattr(signal, "pthread_kill"),
                                        reason="needs pthread_kill")


@needs_pthread_kill
def test_ctrl_c_while_a_fetch_waits(js: jsdata.JetStream, ctrl_c_raises) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C in a blocking fetch's iteration (waiting on the calling thread) raises
    KeyboardInterrupt at once and ends the pull request before the next call: the message
    published right after goes to the next fetch, not to the abandoned one."""
    assert threading.current_thread() is threading.main_thread()
    js.create_stream(name="FC", subjects=["fc.>"], storage="memory")
    c = js.create_consumer("FC", durable="d", ack_policy="explicit")
    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        wait_for(lambda: c.info().num_waiting == 1, what="the pull request at the server")
        signal.pthread_kill(main, signal.SIGINT)

    timer = threading.Thread(target=interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in c.fetch(1, max_wait=60):
                pass
    finally:
        timer.join(30)
    js.publish("fc.1", b"after")
    assert [m.data for m in c.fetch(1, max_wait=5)] == [b"after"]
