"""A user whose permissions forbid pulling from a consumer gets PermissionDeniedError as soon
as the server says no (its ``-ERR Permissions Violation``), on every pull path and both
surfaces, instead of a batch that ends empty after ``max_wait`` or a read that times out.

The waits are long on purpose (60 s): without the denial being watched, ``fetch`` would end
empty with no error (and the assertions fail), ``next`` would raise a timeout, and the reads
would stall until the JetStream timeout.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import jsdata
from jsdata import errors
from jsdata.server import EmbeddedServer
from tests.helpers import wait_for

PERMS = '''
authorization {
  users: [
    { user: "nopull", password: "nopull-Pa55",
      permissions: { publish: { deny: ["$JS.API.CONSUMER.MSG.NEXT.DENYP.>",
                                       "$JS.API.DIRECT.GET.DENYD"] } } }
  ]
}
'''
LONG = 60.0
DENIED = "$JS.API.CONSUMER.MSG.NEXT.DENYP."


@pytest.fixture
def nopull_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    srv = EmbeddedServer(store_dir=str(tmp_path / "nopull"), config=PERMS)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _setup(js: jsdata.JetStream) -> None:
    # allow_direct off: the DataFrame reader has to pull from a consumer
    js.create_stream(name="DENYP", subjects=["denyp.>"], storage="memory", allow_direct=False)
    for i in range(5):
        js.publish(f"denyp.{i}", b'{"i": %d}' % i)
    js.create_consumer("DENYP", durable_name="C", ack_policy="explicit")


def _denied(err: BaseException) -> None:
    assert isinstance(err, errors.PermissionDeniedError), repr(err)
    assert err.operation == "publish"
    assert err.subject is not None and err.subject.startswith(DENIED)
    assert "permission denied" in str(err)


def test_fetch_next_and_messages_fail_with_the_denial(nopull_server) -> None:
    with jsdata.connect(nopull_server.url, user="nopull", password="nopull-Pa55",
                        timeout=LONG) as js:
        _setup(js)
        c = js.consumer("DENYP", "C")
        batch = c.fetch(5, max_wait=LONG)
        assert list(batch) == []
        assert batch.error is not None
        _denied(batch.error)
        batch = c.fetch_bytes(10_000, max_wait=LONG)
        assert list(batch) == []
        _denied(batch.error)
        with pytest.raises(errors.PermissionDeniedError) as ei:
            c.next(max_wait=LONG)
        _denied(ei.value)
        it = c.messages()
        with pytest.raises(errors.PermissionDeniedError) as ei:
            next(iter(it))
        _denied(ei.value)
        it.stop()
        # the connection stays usable, and nothing was consumed
        assert js.stream("DENYP").info().state.messages == 5
        assert c.info().num_pending == 5


def test_consume_reports_the_denial_and_stops(nopull_server) -> None:
    seen: list[BaseException] = []
    with jsdata.connect(nopull_server.url, user="nopull", password="nopull-Pa55",
                        timeout=LONG) as js:
        _setup(js)
        c = js.consumer("DENYP", "C")
        cc = c.consume(lambda m: None, error_handler=lambda ctx, e: seen.append(e))
        assert cc.wait_closed(timeout=LONG), "the consume context did not stop"
        # the blocking error handler runs on the handler thread, queued before the context
        # closed but not necessarily run by the time wait_closed() returns
        wait_for(lambda: bool(seen), LONG, "the error handler to be told")
        _denied(seen[0])


def test_reader_fails_with_the_denial(nopull_server) -> None:
    with jsdata.connect(nopull_server.url, user="nopull", password="nopull-Pa55",
                        timeout=LONG) as js:
        _setup(js)
        with pytest.raises(errors.PermissionDeniedError) as ei:
            js.stream("DENYP").to_pandas()
        _denied(ei.value)


async def test_denied_pulls_async(nopull_server) -> None:
    js = await jsdata.aio.connect(nopull_server.url, user="nopull", password="nopull-Pa55",
                                  timeout=LONG)
    async with js:
        await js.create_stream(name="DENYP", subjects=["denyp.>"], storage="memory",
                               allow_direct=False)
        await js.publish("denyp.a", b'{"i": 1}')
        await js.create_consumer("DENYP", durable_name="C", ack_policy="explicit")
        c = await js.consumer("DENYP", "C")
        batch = await c.fetch(1, max_wait=LONG)
        assert await batch.messages() == []
        _denied(batch.error)
        with pytest.raises(errors.PermissionDeniedError):
            await c.next(max_wait=LONG)
        with pytest.raises(errors.PermissionDeniedError):
            await (await js.stream("DENYP")).to_pandas()


def test_denied_direct_gets_fail_with_the_denial(nopull_server) -> None:
    """A stream the user may not read with direct gets: the batch get and the DataFrame
    reader's direct path raise the denial at once."""
    with jsdata.connect(nopull_server.url, user="nopull", password="nopull-Pa55",
                        timeout=LONG) as js:
        js.create_stream(name="DENYD", subjects=["denyd.>"], storage="memory",
                         allow_direct=True)
        js.publish("denyd.a", b'{"i": 1}')
        s = js.stream("DENYD")
        for read in (lambda: s.get_batch(10, seq=1), s.to_pandas):
            with pytest.raises(errors.PermissionDeniedError) as ei:
                read()
            assert ei.value.subject == "$JS.API.DIRECT.GET.DENYD"
        assert s.info().state.messages == 1
