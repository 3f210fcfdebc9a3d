"""No silent error sink: a fire-and-forget call on the blocking API that fails is surfaced.

``msg.ack()`` (and nak, term, ...) returns before the ack is on the wire, as in Go. If it
cannot be sent, the failure is raised at once when that is already known (a closed
connection, as Go's ``Ack`` returns ``ErrConnectionClosed``), else by the next call on the
connection or by ``close()`` - or it goes to ``connect(error_cb=...)``.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import jsdata
from jsdata import errors
from jsdata.server import EmbeddedServer
from tests.helpers import wait_for


def _three_messages(js: jsdata.JetStream, name: str) -> list[jsdata.Msg]:
    js.create_stream(name=name, subjects=[f"{name}.>"], storage="file")
    for i in range(3):
        js.publish(f"{name}.x", b"%d" % i)
    c = js.create_consumer(name, durable="C", ack_policy="explicit", ack_wait=60.0)
    msgs = list(c.fetch(3, max_wait=10))
    assert len(msgs) == 3
    return msgs


def _disconnect(server: EmbeddedServer, js: jsdata.JetStream) -> None:
    server.stop()
    wait_for(lambda: not js.nc.is_connected, timeout=20, what="the client to see the loss")


def test_ack_on_a_closed_connection_raises_at_once(server: EmbeddedServer) -> None:
    js = jsdata.connect(server.url)
    m = _three_messages(js, "AC")[0]
    js.close()
    with pytest.raises(errors.ConnectionClosedError, match="closed"):
        m.ack()
    with pytest.raises(errors.ConnectionClosedError):
        m.nak()


def test_failed_ack_is_raised_by_the_next_call(server: EmbeddedServer) -> None:
    # pending_size=1: nothing may be buffered while disconnected, so the ack cannot be sent
    js = jsdata.connect(server.url, pending_size=1)
    try:
        m = _three_messages(js, "AN")[0]
        _disconnect(server, js)
        m.ack()  # returns at once; sending fails on the loop thread
        with pytest.raises(errors.AsyncCallError) as ei:
            js.publish_async_pending()  # the next call on the connection reports it
        err = ei.value
        assert isinstance(err.error, errors.NotConnectedError)
        assert err.__cause__ is err.error
        assert "+ACK" in str(err) and "AN.x" in str(err) and "$JS.ACK.AN.C." in err.call
        assert js.publish_async_pending() == 0  # reported once
        server.start()
        wait_for(lambda: js.nc.is_connected, timeout=30, what="the reconnect")
        assert js.stream("AN").info().state.messages == 3  # the connection works again
    finally:
        js.close()


def test_failed_ack_is_raised_by_close(server: EmbeddedServer) -> None:
    js = jsdata.connect(server.url, pending_size=1)
    msgs = _three_messages(js, "AK")
    _disconnect(server, js)
    msgs[0].term()
    with pytest.raises(errors.AsyncCallError, match=r"\+TERM") as ei:
        js.close()  # closes the connection first, then reports
    assert isinstance(ei.value.error, errors.NotConnectedError)
    assert js.nc.is_closed
    with pytest.raises(errors.ConnectionClosedError):
        js.account_info()
    js.close()  # nothing left to report


def test_error_cb_receives_failed_acks(server: EmbeddedServer) -> None:
    got: list[tuple[BaseException, str]] = []

    def on_error(e: BaseException) -> None:
        got.append((e, threading.current_thread().name))

    js = jsdata.connect(server.url, pending_size=1, error_cb=on_error)
    msgs = _three_messages(js, "AE")
    _disconnect(server, js)
    for m in msgs:
        m.nak()
    wait_for(lambda: sum(isinstance(e, errors.AsyncCallError) for e, _ in got) == 3,
             timeout=20, what="three failed naks")
    naks = [(e, t) for e, t in got if isinstance(e, errors.AsyncCallError)]
    assert all("-NAK" in str(e) and isinstance(e.error, errors.NotConnectedError)
               for e, _ in naks)
    assert {t for _, t in naks} == {"jsdata-handlers"}  # the handler thread, in order
    assert js.publish_async_pending() == 0  # given to error_cb: not raised as well
    js.close()  # nor by close()


def test_error_cb_must_be_a_plain_function(server: EmbeddedServer) -> None:
    async def coro(e: BaseException) -> None:
        pass

    before = {t for t in threading.enumerate() if t.name.startswith("jsdata")}
    with pytest.raises(errors.InvalidArgumentError, match="plain function"):
        jsdata.connect(server.url, error_cb=coro)
    assert {t for t in threading.enumerate() if t.name.startswith("jsdata")} == before


def test_publish_async_failure_is_on_its_future_once(js: jsdata.JetStream) -> None:
    f = js.publish_async("nobody.home", b"x", retry_attempts=0)
    err: Any = f.exception(timeout=20)
    assert isinstance(err, errors.NoStreamResponseError)
    with pytest.raises(errors.NoStreamResponseError):
        f.result()
    assert js.publish_async_pending() == 0  # the future holds it: not raised again here
