"""nats CLI contexts (ADR-21): connect(context=...) and NATS_CONTEXT against a real server
with token authentication; explicit arguments win; errors name the context, never secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import jsdata
from jsdata import errors
from jsdata.client.contexts import load_context
from jsdata.server import EmbeddedServer

TOKEN = "ctx-t0ken-s3cret"


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    srv = EmbeddedServer(store_dir=str(tmp_path / "store"),
                         config=f'authorization {{ token: "{TOKEN}" }}')
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def ctx_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("NATS_CONTEXT", raising=False)
    monkeypatch.delenv("JSDATA_URL", raising=False)
    monkeypatch.delenv("NATS_URL", raising=False)
    d = tmp_path / "cfg" / "nats" / "context"
    d.mkdir(parents=True)
    return d


def _save(d: Path, name: str, **fields: object) -> None:
    (d / f"{name}.json").write_text(json.dumps({"description": name, **fields}))


def _plain_url(srv: EmbeddedServer) -> str:
    return srv.url


def test_connect_with_a_named_context(token_server: EmbeddedServer, ctx_home: Path) -> None:
    _save(ctx_home, "dev", url=_plain_url(token_server), token=TOKEN)
    with jsdata.connect(context="dev") as js:
        js.create_stream(name="CTX1", subjects=["CTX1.>"])
        assert js.publish("CTX1.a", b"x").sequence == 1
    with pytest.raises(errors.AuthenticationError) as ei:
        jsdata.connect(_plain_url(token_server), timeout=3)  # no token: refused
    assert TOKEN not in str(ei.value)


def test_nats_context_env_and_explicit_arguments_win(token_server: EmbeddedServer,
                                                     ctx_home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _save(ctx_home, "env", url=_plain_url(token_server), token=TOKEN)
    monkeypatch.setenv("NATS_CONTEXT", "env")
    with jsdata.connect() as js:  # no URL anywhere: the context named by NATS_CONTEXT
        assert js.account_info() is not None
    _save(ctx_home, "stale", url=_plain_url(token_server), token="wrong-token")
    with jsdata.connect(context="stale", token=TOKEN) as js:  # the argument wins
        assert js.account_info() is not None
    with pytest.raises(errors.AuthenticationError) as ei:
        jsdata.connect(context="stale", timeout=3)
    assert "wrong-token" not in str(ei.value) and "wrong-token" not in repr(ei.value)


def test_unknown_and_broken_contexts(ctx_home: Path) -> None:
    _save(ctx_home, "known", url="nats://127.0.0.1:1")
    with pytest.raises(errors.ContextNotFoundError, match="'nope'.*known"):
        jsdata.connect(context="nope")
    (ctx_home / "broken.json").write_text("{not json")
    with pytest.raises(errors.InvalidConfigError, match="broken.*not valid JSON"):
        jsdata.connect(context="broken")


def test_context_fields_and_repr_hide_secrets(ctx_home: Path, tmp_path: Path) -> None:
    _save(ctx_home, "full", url="tls://h:4222", user="u", password="pw-s3cret",
          creds="~/x.creds", nkey="/keys/seed.nk", ca="/ca.pem", cert="/c.pem", key="/k.pem",
          jetstream_domain="hub", tls_first=True, color_scheme="ignored")
    c = load_context("full")
    assert "pw-s3cret" not in repr(c) and "***" in repr(c)
    o = c.connect_options()
    assert o["servers"] == "tls://h:4222" and o["user"] == "u" and o["domain"] == "hub"
    assert o["tls"] == {"ca_file": "/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem"}
    assert o["tls_handshake_first"] is True
    assert o["creds"].endswith("/x.creds") and not o["creds"].startswith("~")
    # a path to a context file works too
    assert load_context(str(ctx_home / "full.json")).user == "u"


async def test_asyncio_surface(token_server: EmbeddedServer, ctx_home: Path) -> None:
    _save(ctx_home, "adev", url=_plain_url(token_server), token=TOKEN)
    js = await jsdata.aio.connect(context="adev")
    try:
        assert (await js.account_info()) is not None
    finally:
        await js.close()
