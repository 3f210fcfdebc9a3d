"""Secure connections against real nats-server processes: TLS (CA, mutual, TLS-first),
token, user/password, nkeys, creds in operator mode, typed connect failures within the
connect timeout, permission denials, and no secret in any output."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

import jsdata
from jsdata import errors
from jsdata.server import EmbeddedServer
from tests.helpers import wait_for
from tests.secure_servers import (
    Operator,
    TLSFiles,
    creds_text,
    make_tls_files,
    new_nkey,
    other_ca_context,
)

REPO = Path(__file__).resolve().parents[1]
# Every connect here gets a short deadline; a hang is a failure, not a slow pass.
pytestmark = pytest.mark.timeout(60)
T = 3.0


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def _server(tmp_path: Path, name: str, config: str) -> Iterator[EmbeddedServer]:
    srv = EmbeddedServer(store_dir=str(tmp_path / name), config=config)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def tls_server(tmp_path, tls_files) -> Iterator[EmbeddedServer]:
    yield from _server(tmp_path, "tls", tls_files.server_config())


@pytest.fixture
def mtls_server(tmp_path, tls_files) -> Iterator[EmbeddedServer]:
    yield from _server(tmp_path, "mtls", tls_files.server_config(verify=True))


@pytest.fixture
def tls_first_server(tmp_path, tls_files) -> Iterator[EmbeddedServer]:
    yield from _server(tmp_path, "first", tls_files.server_config(handshake_first=True))


@pytest.fixture(scope="module")
def operator() -> Operator:
    return Operator.create()


@pytest.fixture
def operator_server(tmp_path, operator) -> Iterator[EmbeddedServer]:
    yield from _server(tmp_path, "op", operator.config)


# -- TLS --------------------------------------------------------------------------------------

def test_tls_with_a_ca(tls_server, tls_files) -> None:
    with jsdata.connect(tls_server.url, tls=tls_files.client_context(), timeout=T) as js:
        js.create_stream(name="TLS1", subjects=["tls1.>"], storage="memory")
        assert js.publish("tls1.a", b"x").stream == "TLS1"
        assert js.nc.connected_url is not None
    # the same with a dict of files, and with the tls:// scheme
    with jsdata.connect(tls_server.url, tls={"ca_file": str(tls_files.ca)}, timeout=T) as js:
        assert js.stream("TLS1").info().state.messages == 1
    url = tls_server.url.replace("nats://", "tls://")
    with jsdata.connect(url, tls=tls_files.client_context(), timeout=T) as js:
        assert js.account_info().streams == 1


async def test_tls_with_a_ca_async(tls_server, tls_files) -> None:
    js = await jsdata.aio.connect(tls_server.url, tls=tls_files.client_context(), timeout=T)
    async with js:
        await js.create_stream(name="TLS2", subjects=["tls2.>"], storage="memory")
        assert (await js.publish("tls2.a", b"x")).sequence == 1


def test_untrusted_certificate_fails_within_the_timeout(tls_server) -> None:
    # the bug: this never returned. pytest-timeout (60 s) catches a hang.
    with pytest.raises(errors.TLSVerificationError) as ei:
        jsdata.connect(tls_server.url, tls=other_ca_context(), timeout=T)
    assert isinstance(ei.value, errors.JetStreamConnectionError)
    assert "certificate" in str(ei.value) and tls_server.url in str(ei.value)
    # no tls context at all: the system CAs do not trust the test CA either
    with pytest.raises(errors.TLSVerificationError):
        jsdata.connect(tls_server.url, timeout=T)


async def test_untrusted_certificate_fails_async(tls_server) -> None:
    with pytest.raises(errors.TLSVerificationError):
        await jsdata.aio.connect(tls_server.url, tls=other_ca_context(), timeout=T)


def test_failed_connects_leave_nothing_behind(tls_server, tmp_path) -> None:
    """The failure path aborts the half-open connection: no hang, no ResourceWarning, no
    "Task was destroyed" at exit (asyncio debug mode, -X dev)."""
    code = (
        "import jsdata\n"
        "from jsdata import errors\n"
        "for kw in ({}, {'token': 'bad'}):\n"
        "    try:\n"
        f"        jsdata.connect({tls_server.url!r}, timeout=2, **kw)\n"
        "    except errors.TLSVerificationError:\n"
        "        print('refused')\n"
        "try:\n"
        "    jsdata.connect('nats://127.0.0.1:1', timeout=2)\n"
        "except errors.JetStreamConnectionError:\n"
        "    print('unreachable')\n"
        "import gc; gc.collect()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONASYNCIODEBUG="1")
    out = subprocess.run([sys.executable, "-X", "dev", "-c", code], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["refused", "refused", "unreachable"]
    for noise in ("Task was destroyed", "never retrieved", "ResourceWarning", "Traceback",
                  "Exception ignored", "was never awaited"):
        assert noise not in out.stderr, out.stderr


def test_certificate_for_another_host_fails(tls_server, tls_files) -> None:
    with pytest.raises(errors.TLSVerificationError) as ei:
        jsdata.connect(tls_server.url, tls=tls_files.client_context(),
                       tls_hostname="other.example", timeout=T)
    assert "other.example" in str(ei.value)


def test_mutual_tls(mtls_server, tls_files) -> None:
    ctx = tls_files.client_context(with_cert=True)
    with jsdata.connect(mtls_server.url, tls=ctx, timeout=T) as js:
        assert js.account_info().streams == 0
    files = {"ca_file": str(tls_files.ca), "cert_file": str(tls_files.client_cert),
             "key_file": str(tls_files.client_key)}
    with jsdata.connect(mtls_server.url, tls=files, timeout=T) as js:
        assert js.account_info().streams == 0
    # without a client certificate the server refuses: a TLS error, within the timeout
    with pytest.raises(errors.TLSError) as ei:
        jsdata.connect(mtls_server.url, tls=tls_files.client_context(), timeout=T)
    assert "client certificate" in str(ei.value)


async def test_mutual_tls_async(mtls_server, tls_files) -> None:
    ctx = tls_files.client_context(with_cert=True)
    async with await jsdata.aio.connect(mtls_server.url, tls=ctx, timeout=T) as js:
        assert (await js.account_info()).streams == 0
    with pytest.raises(errors.TLSError):
        await jsdata.aio.connect(mtls_server.url, tls=tls_files.client_context(), timeout=T)


def test_tls_handshake_first(tls_first_server, tls_files) -> None:
    with jsdata.connect(tls_first_server.url, tls=tls_files.client_context(),
                        tls_handshake_first=True, timeout=T) as js:
        js.create_stream(name="FIRST", subjects=["first.>"], storage="memory")
        assert js.publish("first.a", b"x").sequence == 1
    # a client that waits for the plain INFO gets none: a timeout naming the likely cause
    with pytest.raises(errors.ConnectTimeoutError) as ei:
        jsdata.connect(tls_first_server.url, tls=tls_files.client_context(), timeout=1)
    assert isinstance(ei.value, TimeoutError)
    assert "tls_handshake_first" in str(ei.value)


async def test_tls_handshake_first_async(tls_first_server, tls_files, server) -> None:
    js = await jsdata.aio.connect(tls_first_server.url, tls=tls_files.client_context(),
                                  tls_handshake_first=True, timeout=T)
    async with js:
        assert (await js.account_info()).streams == 0
    # TLS first against a plain server: the handshake fails at once, saying so
    with pytest.raises(errors.TLSError) as ei:
        await jsdata.aio.connect(server.url, tls=tls_files.client_context(),
                                 tls_handshake_first=True, timeout=T)
    assert "TLS" in str(ei.value)


def test_tls_asked_for_but_not_offered_is_refused(server, tls_files) -> None:
    with pytest.raises(errors.TLSError) as ei:
        jsdata.connect(server.url, tls=tls_files.client_context(), timeout=T)
    assert "plain text" in str(ei.value)


def test_bad_tls_option_is_a_typed_error(server, tmp_path) -> None:
    with pytest.raises(errors.InvalidArgumentError, match="tls must be"):
        jsdata.connect(server.url, tls="yes please", timeout=T)
    with pytest.raises(errors.InvalidArgumentError, match="does not exist"):
        jsdata.connect(server.url, tls={"ca_file": str(tmp_path / "none.pem")}, timeout=T)
    with pytest.raises(errors.InvalidArgumentError, match="unknown tls option"):
        jsdata.connect(server.url, tls={"cafile": "x"}, timeout=T)


# -- URLs and unreachable servers ----------------------------------------------------------------

@pytest.mark.parametrize("url, fragment", [
    ("nast://127.0.0.1:4222", "unsupported URL scheme 'nast://'"),
    ("http://127.0.0.1:4222", "unsupported URL scheme 'http://'"),
    ("nats://127.0.0.1:99999", "invalid server URL"),
    ("nats://:4222", "no host"),
])
def test_bad_url_is_an_invalid_url_error(url, fragment) -> None:
    with pytest.raises(errors.InvalidURLError) as ei:
        jsdata.connect(url, timeout=T)
    assert fragment in str(ei.value)
    assert isinstance(ei.value, errors.JetStreamConnectionError)


async def test_bad_url_async() -> None:
    with pytest.raises(errors.InvalidURLError, match="nast"):
        await jsdata.aio.connect("nast://127.0.0.1:4222", timeout=T)


def test_unknown_host_says_so() -> None:
    with pytest.raises(errors.JetStreamConnectionError) as ei:
        jsdata.connect("nats://no-such-host.invalid:4222", timeout=T)
    assert "resolve" in str(ei.value)


def test_host_port_without_scheme(server) -> None:
    with jsdata.connect(server.url.removeprefix("nats://"), timeout=T) as js:
        assert js.account_info().streams == 0


# -- tokens, users, nkeys -----------------------------------------------------------------------

@pytest.fixture
def nkey_user():
    import nkeys

    return new_nkey(nkeys.PREFIX_BYTE_USER)


@pytest.fixture
def nkey_server(tmp_path, nkey_user) -> Iterator[EmbeddedServer]:
    cfg = f"authorization {{ users: [ {{ nkey: {nkey_user.public} }} ] }}"
    yield from _server(tmp_path, "nk", cfg)


def test_nkey_seed_as_string_and_file(nkey_server, nkey_user, tmp_path) -> None:
    with jsdata.connect(nkey_server.url, nkeys_seed=nkey_user.seed, timeout=T) as js:
        js.create_stream(name="NK", subjects=["nk.>"], storage="memory")
    seed_file = tmp_path / "user.nk"
    seed_file.write_text(nkey_user.seed + "\n")
    with jsdata.connect(nkey_server.url, nkeys_seed=str(seed_file), timeout=T) as js:
        assert js.account_info().streams == 1
    with jsdata.connect(nkey_server.url, nkeys_seed=seed_file, timeout=T) as js:  # a Path
        assert js.account_info().streams == 1


async def test_nkey_seed_async(nkey_server, nkey_user) -> None:
    async with await jsdata.aio.connect(nkey_server.url, nkeys_seed=nkey_user.seed,
                                        timeout=T) as js:
        assert (await js.account_info()).streams == 0


def test_wrong_nkey_is_an_authentication_error(nkey_server) -> None:
    import nkeys

    other = new_nkey(nkeys.PREFIX_BYTE_USER)
    with pytest.raises(errors.AuthenticationError) as ei:
        jsdata.connect(nkey_server.url, nkeys_seed=other.seed, timeout=T)
    assert "nkey" in str(ei.value) and other.seed not in str(ei.value)
    with pytest.raises(errors.AuthenticationError) as ei:
        jsdata.connect(nkey_server.url, timeout=T)
    assert "without credentials" in str(ei.value)


def test_bad_nkey_seed_never_echoed(server, nkey_user, tmp_path) -> None:
    broken = nkey_user.seed[:-4] + "AAAA"  # a seed with a wrong checksum
    with pytest.raises(errors.InvalidArgumentError) as ei:
        jsdata.connect(server.url, nkeys_seed=broken, timeout=T)
    assert broken not in str(ei.value) and "not a valid nkey seed" in str(ei.value)
    missing = tmp_path / "missing.nk"
    with pytest.raises(errors.InvalidArgumentError) as ei:
        jsdata.connect(server.url, nkeys_seed=str(missing), timeout=T)
    assert str(missing) in str(ei.value)  # a path is not a secret: it is named
    junk = tmp_path / "junk.nk"
    junk.write_text("not a seed at all")
    with pytest.raises(errors.InvalidArgumentError, match="does not hold a valid nkey seed"):
        jsdata.connect(server.url, nkeys_seed=str(junk), timeout=T)


def test_wrong_token_and_password_are_authentication_errors(tmp_path) -> None:
    cfg = 'authorization { user: "u", password: "right-Pa55" }'
    for srv in _server(tmp_path, "up", cfg):
        with jsdata.connect(srv.url, user="u", password="right-Pa55", timeout=T) as js:
            assert js.account_info().streams == 0
        with pytest.raises(errors.AuthenticationError) as ei:
            jsdata.connect(srv.url, user="u", password="wrong-Pa55", timeout=T)
        assert "user/password" in str(ei.value) and "wrong-Pa55" not in str(ei.value)
    for srv in _server(tmp_path, "tok", 'authorization { token: "right-T0ken" }'):
        with pytest.raises(errors.AuthenticationError) as ei:
            jsdata.connect(srv.url, token="wrong-T0ken", timeout=T)
        assert "token" in str(ei.value) and "wrong-T0ken" not in str(ei.value)
        bad = srv.url.replace("nats://", "nats://wrong-T0ken@")
        with pytest.raises(errors.AuthenticationError) as ei:
            jsdata.connect(bad, timeout=T)
        assert "wrong-T0ken" not in str(ei.value)


# -- creds in operator mode ---------------------------------------------------------------------

def test_creds_file_and_text(operator_server, operator, tmp_path) -> None:
    creds = operator.user_creds("alice")
    path = tmp_path / "alice.creds"
    path.write_text(creds)
    with jsdata.connect(operator_server.url, creds=str(path), timeout=T) as js:
        js.create_stream(name="OPS", subjects=["ops.>"], storage="memory")
        assert js.publish("ops.a", b"x").sequence == 1
    with jsdata.connect(operator_server.url, creds=creds, timeout=T) as js:  # the text itself
        assert js.stream("OPS").info().state.messages == 1
    # a (jwt_file, seed_file) pair, as nats-py allows
    user, user_jwt = operator.user("bob")
    (tmp_path / "bob.jwt").write_text(user_jwt)
    (tmp_path / "bob.nk").write_text(user.seed)
    with jsdata.connect(operator_server.url, creds=(str(tmp_path / "bob.jwt"),
                                                    str(tmp_path / "bob.nk")), timeout=T) as js:
        assert js.account_info().streams == 1


async def test_creds_async(operator_server, operator) -> None:
    js = await jsdata.aio.connect(operator_server.url, creds=operator.user_creds(), timeout=T)
    async with js:
        await js.create_stream(name="OPA", subjects=["opa.>"], storage="memory")
        assert (await js.publish("opa.a", b"x")).sequence == 1


def test_creds_of_an_unknown_account_fail_authentication(operator_server) -> None:
    stranger = Operator.create()  # its account is not known to this server
    with pytest.raises(errors.AuthenticationError) as ei:
        jsdata.connect(operator_server.url, creds=stranger.user_creds(), timeout=T)
    assert "creds" in str(ei.value)


def test_bad_creds_are_typed_errors(server, tmp_path) -> None:
    with pytest.raises(errors.InvalidArgumentError, match="neither credentials text"):
        jsdata.connect(server.url, creds=str(tmp_path / "nobody.creds"), timeout=T)
    text = "-----BEGIN NATS USER JWT-----\neyJhbGciOi.x.y\n------END NATS USER JWT------\n"
    with pytest.raises(errors.InvalidArgumentError, match="BEGIN USER NKEY SEED") as ei:
        jsdata.connect(server.url, creds=text, timeout=T)
    assert "eyJhbGciOi.x.y" not in str(ei.value)
    with pytest.raises(errors.InvalidArgumentError, match="not both"):
        jsdata.connect(server.url, creds=text, nkeys_seed="SU", timeout=T)


# -- permissions --------------------------------------------------------------------------------

PERMS = '''
authorization {
  users: [
    { user: "limited", password: "limited-Pa55",
      permissions: { publish: { deny: ["$JS.API.STREAM.CREATE.SECRET", "forbidden.>"] } } }
  ]
}
'''


@pytest.fixture
def perm_server(tmp_path) -> Iterator[EmbeddedServer]:
    yield from _server(tmp_path, "perm", PERMS)


def test_denied_api_call_and_publish_raise_permission_denied(perm_server) -> None:
    # a long request timeout: a denial must not wait for it (the server answers at once)
    with jsdata.connect(perm_server.url, user="limited", password="limited-Pa55",
                        timeout=60) as js:
        with pytest.raises(errors.PermissionDeniedError) as ei:
            js.create_stream(name="SECRET", subjects=["secret.>"], storage="memory")
        assert ei.value.subject == "$JS.API.STREAM.CREATE.SECRET"
        assert ei.value.operation == "publish"
        assert "$JS.API.STREAM.CREATE.SECRET" in str(ei.value)
        assert isinstance(ei.value, errors.JetStreamError)
        # the connection stays usable
        js.create_stream(name="OPEN", subjects=["open.>", "forbidden.>"], storage="memory")
        with pytest.raises(errors.PermissionDeniedError) as ei:
            js.publish("forbidden.x", b"no")
        assert ei.value.subject == "forbidden.x"
        assert js.publish("open.x", b"yes").sequence == 1
        assert js.stream("OPEN").info().state.messages == 1


def test_denials_reach_calls_from_many_threads_at_once(perm_server) -> None:
    # awaited calls from calling threads watch for their denial too (the watch table is
    # shared with the loop): each denied publish fails at once with its own subject, long
    # before the 60 s timeout, and the allowed ones in between are acked
    with jsdata.connect(perm_server.url, user="limited", password="limited-Pa55",
                        timeout=60) as js:
        js.create_stream(name="OPENT", subjects=["open.>", "forbidden.>"], storage="memory")
        denied: dict[int, list[str]] = {t: [] for t in range(4)}
        acked: dict[int, int] = dict.fromkeys(denied, 0)
        failures: list[BaseException] = []

        def caller(t: int) -> None:
            try:
                for i in range(10):
                    try:
                        js.publish(f"forbidden.t{t}.{i}", b"no", retry_attempts=0)
                    except errors.PermissionDeniedError as e:
                        denied[t].append(e.subject)
                    js.publish(f"open.t{t}", b"yes")
                    acked[t] += 1
            except BaseException as e:  # noqa: BLE001 - reported by the test
                failures.append(e)

        threads = [threading.Thread(target=caller, args=(t,)) for t in denied]
        for th in threads:
            th.start()
        for th in threads:
            th.join(50)  # inside the test's 60 s: a denial waiting for its timeout fails here
        assert not failures, failures
        assert all(not th.is_alive() for th in threads)
        assert denied == {t: [f"forbidden.t{t}.{i}" for i in range(10)] for t in denied}
        assert acked == dict.fromkeys(denied, 10)
        assert js.stream("OPENT").info().state.messages == 40
        assert js._core.nc._denials == {}


def test_denial_nobody_waits_for_is_logged(perm_server, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="jsdata")
    with jsdata.connect(perm_server.url, user="limited", password="limited-Pa55",
                        timeout=T) as js:
        js._lt.run(js.nc.publish("forbidden.plain", b"core publish, no reply"))
        wait_for(lambda: "forbidden.plain" in caplog.text, what="the denial warning")
        assert js.account_info().streams == 0  # still connected


def test_denied_async_publish_fails_its_future(perm_server) -> None:
    with jsdata.connect(perm_server.url, user="limited", password="limited-Pa55",
                        timeout=60) as js:
        js.create_stream(name="OPENA", subjects=["open.>", "forbidden.>"], storage="memory")
        bad = js.publish_async("forbidden.y", b"no", timeout=60)
        good = js.publish_async("open.y", b"yes", timeout=60)
        with pytest.raises(errors.PermissionDeniedError) as ei:
            bad.result(timeout=30)
        assert ei.value.subject == "forbidden.y"
        assert good.result(timeout=30).sequence == 1
        js.publish_async_complete(timeout=30)


async def test_denied_calls_async(perm_server) -> None:
    js = await jsdata.aio.connect(perm_server.url, user="limited", password="limited-Pa55",
                                  timeout=60)
    async with js:
        with pytest.raises(errors.PermissionDeniedError, match="STREAM.CREATE.SECRET"):
            await js.create_stream(name="SECRET", subjects=["secret.>"], storage="memory")
        await js.create_stream(name="OPEN", subjects=["open.>", "forbidden.>"],
                               storage="memory")
        with pytest.raises(errors.PermissionDeniedError, match="forbidden.x"):
            await js.publish("forbidden.x", b"no")
        f = await js.publish_async("forbidden.z", b"no", timeout=60)
        with pytest.raises(errors.PermissionDeniedError, match="forbidden.z"):
            await f.wait(timeout=30)
        assert (await js.publish("open.x", b"yes")).sequence == 1


def test_user_denied_the_account_info_still_connects(tmp_path) -> None:
    cfg = ('authorization { users: [ { user: "u", password: "pw-Pa55", permissions: '
           '{ publish: { deny: ["$JS.API.INFO"] } } } ] }')
    for srv in _server(tmp_path, "noinfo", cfg):
        with jsdata.connect(srv.url, user="u", password="pw-Pa55", timeout=T) as js:
            js.create_stream(name="NI", subjects=["ni.>"], storage="memory")
            with pytest.raises(errors.PermissionDeniedError):
                js.account_info()
            assert js.publish("ni.a", b"x").sequence == 1


def test_user_denied_the_reply_inbox_fails_at_connect(tmp_path) -> None:
    cfg = ('authorization { users: [ { user: "u", password: "pw-Pa55", permissions: '
           '{ subscribe: { deny: ["_INBOX.>"] } } } ] }')
    for srv in _server(tmp_path, "noinbox", cfg):
        with pytest.raises(errors.PermissionDeniedError) as ei:
            jsdata.connect(srv.url, user="u", password="pw-Pa55", timeout=T)
        assert ei.value.operation == "subscribe"
        assert ei.value.subject.startswith("_INBOX.") and "'_INBOX.>'" in str(ei.value)


# -- no secret anywhere -------------------------------------------------------------------------

def _exception_texts(exc: BaseException) -> list[str]:
    out = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    seen = exc.__cause__ or exc.__context__
    while seen is not None:  # chained exceptions are kept on the object: search them too
        out += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return out


def _outputs_of(js: object) -> list[str]:
    texts = [repr(js), str(js)]
    html = getattr(js, "_repr_html_", None)
    if html is not None:
        texts.append(html() or "")
    return texts


def _mangled(seed: str, n: int) -> str:
    """``seed`` with its last ``n`` characters replaced by different ones (a random seed
    that already ended in "AA" was left valid by a plain replacement: once in ~1000 runs)."""
    tail = "A" * n if seed[-n:] != "A" * n else "B" * n
    return seed[:-n] + tail


def test_no_secret_in_errors_reprs_logs_or_widgets(tmp_path, operator, caplog) -> None:
    import nkeys

    caplog.set_level(logging.DEBUG)
    for name in ("jsdata", "nats", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    password, token = "Pa55-wOrd-SECRET", "T0ken-SECRET-xyz"
    nk = new_nkey(nkeys.PREFIX_BYTE_USER)
    user, user_jwt = operator.user("carol")
    creds = creds_text(user_jwt, user)
    secrets = [password, token, nk.seed, user.seed, user_jwt]
    texts: list[str] = []

    pw_cfg = (f'authorization {{ users: [ {{ user: "u", password: "{password}" }}, '
              f'{{ nkey: {nk.public} }} ] }}')
    for srv in _server(tmp_path, "pw", pw_cfg):
        good = [dict(user="u", password=password), dict(nkeys_seed=nk.seed)]
        for kw in good:
            with jsdata.connect(srv.url, timeout=T, **kw) as js:
                js.create_stream(name="SEC", subjects=["sec.>"], storage="memory")
                texts += _outputs_of(js)
                shown = _widget_texts(js)
                assert any("SEC" in t for t in shown)  # the widget was rendered and searched
                texts += shown
        url = srv.url.replace("nats://", f"nats://u:{password}@")
        with jsdata.connect(url, timeout=T) as js:
            texts += _outputs_of(js)
        bad = [dict(user="u", password=password + "x"), dict(token=token),
               dict(nkeys_seed=_mangled(nk.seed, 2)), dict(nkeys_seed=user.seed),
               dict(creds=creds), dict(creds=creds.replace(user.seed, _mangled(user.seed, 3)))]
        for kw in bad:
            with pytest.raises(errors.JetStreamError) as ei:
                jsdata.connect(srv.url, timeout=T, **kw)
            texts += _exception_texts(ei.value)
        for bad_url in (srv.url.replace("nats://", f"nats://{token}@"),
                        srv.url.replace("nats://", f"nats://u:{password}x@")):
            with pytest.raises(errors.JetStreamError) as ei:
                jsdata.connect(bad_url, timeout=T)
            texts += _exception_texts(ei.value)
    for srv in _server(tmp_path, "op2", operator.config):
        with jsdata.connect(srv.url, creds=creds, timeout=T) as js:
            texts += _outputs_of(js)
    texts.append(caplog.text)
    texts += [r.getMessage() for r in caplog.records]
    blob = "\n".join(texts)
    assert "Authentication" in blob or "authentication" in blob  # we did see the failures
    for s in secrets:
        assert s not in blob, f"a secret leaked: {s[:4]}..."
    for s in (password + "x", _mangled(nk.seed, 2)):
        assert s not in blob


def _widget_texts(js) -> list[str]:
    """Every text a stream monitor widget shows for this connection."""
    try:
        from jsdata import widgets
    except ImportError:  # pragma: no cover - ipywidgets is a dependency
        return []
    w = widgets.StreamMonitor(js, "SEC", interval=0.1)
    try:
        wait_for(lambda: w.polls >= 1, what="a stream monitor poll")
        out: list[str] = []
        stack = [w]
        while stack:
            node = stack.pop()
            out.append(repr(node))
            for attr in ("value", "description", "tooltip"):
                v = getattr(node, attr, None)
                if isinstance(v, str):
                    out.append(v)
            stack.extend(getattr(node, "children", ()) or ())
        return out
    finally:
        close = getattr(w, "close", None)
        if close is not None:
            close()
