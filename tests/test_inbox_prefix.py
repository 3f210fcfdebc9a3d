"""A custom inbox prefix (``connect(inbox_prefix=...)``, a nats context's ``inbox_prefix``)
is used by every reply subject jsdata subscribes to: against a real server whose user may
subscribe only under its own prefix, publishing (sync, async, bulk), a KV get, a pull fetch
and DataFrame reads (direct get and consumer) all work, on both surfaces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import jsdata
from jsdata import errors
from jsdata.server import EmbeddedServer

pytestmark = pytest.mark.timeout(120)
T = 5.0
PREFIX = "app.replies"
USER = {"user": "u", "password": "pw-Pa55"}


@pytest.fixture(scope="module")
def own_inbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A user that may publish anywhere but subscribe only under ``app.replies.>``."""
    cfg = ('authorization { users: [ { user: "u", password: "pw-Pa55", permissions: '
           '{ publish: { allow: [">"] }, subscribe: { allow: ["app.replies.>"] } } } ] }')
    srv = EmbeddedServer(store_dir=str(tmp_path_factory.mktemp("inbox")), config=cfg)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _exercise(js: jsdata.JetStream, name: str) -> None:
    """Publish, KV get, fetch and reads on a connection that has the custom prefix."""
    s = js.create_stream(name=name, subjects=[f"{name}.>"], allow_direct=True)
    assert js.publish(f"{name}.a", b'{"i": 0}').sequence == 1
    js.publish_async(f"{name}.a", b'{"i": 1}')
    js.publish_async_complete()
    r = js.publish_dataframe(f"{name}.a", pd.DataFrame({"i": range(2, 3000)}),
                             progress=False)
    assert r.rows == 2998
    # a small read is a batched direct get, a whole-table read pulls from a consumer
    assert s.to_pandas(start=2990, progress=False)["i"].tolist() == list(range(2989, 3000))
    df = s.to_pandas(batch_size=500, progress=False)
    assert df["i"].tolist() == list(range(3000))
    c = js.create_consumer(name, durable="w", ack_policy="explicit")
    msgs = list(c.fetch(5, max_wait=T))
    assert [json.loads(m.data)["i"] for m in msgs] == [0, 1, 2, 3, 4]
    for m in msgs:
        m.double_ack()
    kv = js.create_key_value(bucket=f"kv{name}")
    kv.put("k", b"v")
    assert kv.get("k").value == b"v"


def test_inbox_prefix_blocking(own_inbox_server: EmbeddedServer) -> None:
    with jsdata.connect(own_inbox_server.url, inbox_prefix=PREFIX, timeout=T, **USER) as js:
        assert js.nc.inbox_prefix == PREFIX
        assert js.nc.inbox().startswith(PREFIX + ".")
        _exercise(js, "IPB")


def test_without_the_prefix_the_user_cannot_connect(own_inbox_server: EmbeddedServer) -> None:
    with pytest.raises(errors.PermissionDeniedError) as ei:
        jsdata.connect(own_inbox_server.url, timeout=T, **USER)
    assert "'_INBOX.>'" in str(ei.value)


def test_inbox_prefix_from_a_nats_context(own_inbox_server: EmbeddedServer, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    d = tmp_path / "cfg" / "nats" / "context"
    d.mkdir(parents=True)
    (d / "own.json").write_text(json.dumps({"url": own_inbox_server.url, "user": "u",
                                            "password": "pw-Pa55",
                                            "inbox_prefix": PREFIX + "."}))
    with jsdata.connect(context="own", timeout=T) as js:
        assert js.nc.inbox_prefix == PREFIX
        _exercise(js, "IPC")


async def test_inbox_prefix_async(own_inbox_server: EmbeddedServer) -> None:
    async with await jsdata.aio.connect(own_inbox_server.url, inbox_prefix=PREFIX, timeout=T,
                                        **USER) as js:
        s = await js.create_stream(name="IPA", subjects=["IPA.>"], allow_direct=True)
        assert (await js.publish("IPA.a", b'{"i": 0}')).sequence == 1
        r = await js.publish_dataframe("IPA.a", pd.DataFrame({"i": range(1, 2000)}),
                                       progress=False)
        assert r.rows == 1999
        df = await s.to_pandas(batch_size=500, progress=False)
        assert df["i"].tolist() == list(range(2000))
        small = await s.to_pandas(start=1995, progress=False)
        assert small["i"].tolist() == list(range(1994, 2000))
        c = await js.create_consumer("IPA", durable="w", ack_policy="none")
        batch = await c.fetch(3, max_wait=T)
        assert [json.loads(m.data)["i"] async for m in batch] == [0, 1, 2]
        kv = await js.create_key_value(bucket="kvipa")
        await kv.put("k", b"v")
        assert (await kv.get("k")).value == b"v"


@pytest.mark.parametrize("bad", ["", "a..b", "a.*", "has space", "x.>"])
def test_bad_inbox_prefix_is_a_typed_error(server: EmbeddedServer, bad: str) -> None:
    with pytest.raises(errors.InvalidArgumentError, match="inbox_prefix"):
        jsdata.connect(server.url, inbox_prefix=bad, timeout=T)
