"""The ``jsdata`` command line, run as a subprocess against a real nats-server.

Every command is run as ``python -m jsdata ...`` (the console script calls the same
``jsdata.cli:main``) with ``--server`` pointing at the test server, and its output, exit code
and effect on the server are checked.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jsdata
from jsdata.cli import build_parser
from jsdata.server import EmbeddedServer
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A JSDATA_HOME of the module's own (no default server of the user is touched)."""
    return tmp_path_factory.mktemp("jsdata_home")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JSDATA_URL", "NATS_URL")}
    env.update(PYTHONPATH=str(ROOT), JSDATA_HOME=str(home), **extra)
    return env


def run(home: Path, *args: str, input: str | bytes | None = None, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m jsdata ARGS``; text output unless ``input`` is bytes."""
    text = not isinstance(input, bytes)
    return subprocess.run([sys.executable, "-m", "jsdata", *args], input=input,
                          capture_output=True, text=text, timeout=120,
                          env=env or _env(home), cwd=cwd)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = EmbeddedServer(store_dir=str(tmp_path_factory.mktemp("cli_store")))
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def cli(srv, home):
    """Run a command against the module's server."""
    def _run(*args: str, **kw) -> subprocess.CompletedProcess:
        return run(home, *args, "--server", srv.url, **kw)
    return _run


@pytest.fixture
def conn(srv):
    c = jsdata.connect(srv.url)
    try:
        yield c
    finally:
        c.close()


def _one_line_error(r: subprocess.CompletedProcess, code: int = 1) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert lines[0].startswith("jsdata: error:"), lines
    return lines[0]


# -- help, version, usage --------------------------------------------------------------------

def _leaf_commands() -> list[list[str]]:
    out: list[list[str]] = []

    def walk(p, prefix):
        for a in p._actions:
            if a.__class__.__name__ == "_SubParsersAction":
                for name, sp in a.choices.items():
                    if sp.get_default("func") is not None:
                        out.append([*prefix, name])
                    else:
                        walk(sp, [*prefix, name])
    walk(build_parser(), [])
    return out


def test_every_command_of_the_api_exists() -> None:
    leaves = {" ".join(c) for c in _leaf_commands()}
    assert leaves == {
        "server start", "server stop", "server status", "demo", "stream ls", "stream info",
        "stream rm", "consumer ls", "consumer info", "read", "write", "tail", "kv ls",
        "kv get", "kv put", "kv watch", "object ls", "object put", "object get"}


def test_help_on_every_command_does_not_run_it(home, srv, conn) -> None:
    code = ("import sys, contextlib, io\n"
            "from jsdata.cli import main\n"
            "for cmd in sys.argv[1:]:\n"
            "    buf = io.StringIO()\n"
            "    with contextlib.redirect_stdout(buf):\n"
            "        try:\n"
            "            main(cmd.split() + ['--help'])\n"
            "        except SystemExit as e:\n"
            "            assert e.code == 0, (cmd, e.code)\n"
            "    text = buf.getvalue()\n"
            "    assert text.startswith('usage: jsdata ' + cmd), (cmd, text[:200])\n"
            "    assert '--server' in text and '--json' in text, cmd\n"
            "print('checked', len(sys.argv) - 1)\n")
    cmds = [" ".join(c) for c in _leaf_commands()]
    r = subprocess.run([sys.executable, "-c", code, *cmds], capture_output=True, text=True,
                       timeout=120, env=_env(home, JSDATA_URL=srv.url))
    assert r.returncode == 0, r.stderr
    assert f"checked {len(cmds)}" in r.stdout
    r = run(home, "demo", "--help", "--server", srv.url)
    assert r.returncode == 0 and r.stdout.startswith("usage: jsdata demo")
    assert "DEMO_ORDERS" not in set(conn.stream_names())  # the demo did not run


def test_version_and_top_level_help(home) -> None:
    r = run(home, "--version")
    assert r.returncode == 0
    assert r.stdout.startswith(f"jsdata {jsdata.__version__} ")
    r = run(home, "--help")
    assert r.returncode == 0
    for cmd in ("server", "demo", "stream", "consumer", "read", "write", "tail", "kv",
                "object"):
        assert re.search(rf"^\s+{cmd}\s", r.stdout, re.M), cmd


def test_console_script_is_the_same_main() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^\[project\.scripts\]\s*\njsdata = "jsdata\.cli:main"$', text, re.M)
    main_py = (ROOT / "jsdata" / "__main__.py").read_text()
    assert "from .cli import main" in main_py


@pytest.mark.parametrize("args", [
    [], ["stream"], ["nosuch"], ["read"], ["kv", "get", "onlybucket"],
    ["read", "S", "--start", "yesterday-ish"], ["read", "S", "-o", "out.xlsx"],
    ["tail", "S", "-n", "x"],
])
def test_usage_errors_exit_2(home, srv, args) -> None:
    r = run(home, *args, "--server", srv.url) if args else run(home)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert "usage:" in r.stderr or "jsdata: error:" in r.stderr
    assert "Traceback" not in r.stderr


# -- streams and consumers ---------------------------------------------------------------------

def test_stream_ls_info_rm(cli, conn) -> None:
    conn.create_stream(name="CLI_S1", subjects=["clis1.>"], description="first")
    conn.publish("clis1.a", b"{}")
    r = cli("stream", "ls")
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[0].split()
    assert header[:3] == ["NAME", "SUBJECTS", "STORAGE"]
    row = next(ln.split() for ln in r.stdout.splitlines() if ln.startswith("CLI_S1 "))
    assert row[1] == "clis1.>" and row[3] == "1"
    r = cli("stream", "ls", "--json")
    rows = {x["name"]: x for x in json.loads(r.stdout)}
    assert rows["CLI_S1"]["messages"] == 1 and rows["CLI_S1"]["subjects"] == ["clis1.>"]
    r = cli("stream", "info", "CLI_S1")
    assert re.search(r"^description:\s+first$", r.stdout, re.M), r.stdout
    assert re.search(r"^messages:\s+1$", r.stdout, re.M)
    info = json.loads(cli("stream", "info", "CLI_S1", "--json").stdout)
    assert info["config"]["name"] == "CLI_S1" and info["state"]["messages"] == 1
    # rm refuses without --force when not on a terminal, then deletes with it
    line = _one_line_error(cli("stream", "rm", "CLI_S1", input=""))
    assert "CLI_S1" in line and "--force" in line
    assert "CLI_S1" in set(conn.stream_names())
    r = cli("stream", "rm", "CLI_S1", "--force")
    assert r.returncode == 0 and "deleted stream CLI_S1" in r.stdout
    assert "CLI_S1" not in set(conn.stream_names())
    line = _one_line_error(cli("stream", "info", "CLI_S1"))
    assert "StreamNotFoundError" in line and "CLI_S1" in line


def test_consumer_ls_info(cli, conn) -> None:
    s = conn.create_stream(name="CLI_C1", subjects=["clic1.>"])
    for i in range(5):
        conn.publish(f"clic1.{i}", b"x")
    s.create_consumer(durable="workers", ack_policy="explicit", filter_subject="clic1.>")
    c = s.consumer("workers")
    for m in c.fetch(2, max_wait=5):
        m.ack()
    r = cli("consumer", "ls", "CLI_C1")
    assert r.returncode == 0, r.stderr
    row = next(ln.split() for ln in r.stdout.splitlines() if ln.startswith("workers "))
    assert row[1:4] == ["True", "clic1.>", "explicit"]
    rows = json.loads(cli("consumer", "ls", "CLI_C1", "--json").stdout)
    assert rows == [{"name": "workers", "durable": True, "filter": ["clic1.>"],
                     "ack_policy": "explicit", "delivered": 2, "ack_pending": 0,
                     "pending": 3, "redelivered": 0}]
    r = cli("consumer", "info", "CLI_C1", "workers")
    assert re.search(r"^pending:\s+3$", r.stdout, re.M), r.stdout
    ci = json.loads(cli("consumer", "info", "CLI_C1", "workers", "--json").stdout)
    assert ci["name"] == "workers" and ci["num_pending"] == 3
    line = _one_line_error(cli("consumer", "info", "CLI_C1", "nobody"))
    assert "nobody" in line
    line = _one_line_error(cli("consumer", "ls", "CLI_NOPE"))
    assert "CLI_NOPE" in line


# -- write and read ------------------------------------------------------------------------------

def _orders(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"id": np.arange(n), "region": [("eu", "us", "ap")[i % 3]
                                                        for i in range(n)],
                         "amount": rng.random(n).round(4)})


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_write_then_read_round_trip(cli, conn, tmp_path, fmt) -> None:
    name = f"CLI_RT_{fmt.upper()}"
    subj = f"clirt{fmt}"
    conn.create_stream(name=name, subjects=[f"{subj}.>"])
    df = _orders()
    src = tmp_path / f"orders.{fmt}"
    if fmt == "jsonl":
        df.to_json(src, orient="records", lines=True)
    elif fmt == "csv":
        df.to_csv(src, index=False)
    else:
        df.to_parquet(src, index=False)
    r = cli("write", f"{subj}.{{region}}", str(src), "--msg-id", "o-{id}", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["rows"] == 200 and res["stream"] == name and res["duplicates"] == 0
    assert "%|" not in r.stderr  # no progress bar when stderr is not a terminal
    r = cli("write", f"{subj}.{{region}}", str(src), "--msg-id", "o-{id}")
    assert r.returncode == 0 and "200 duplicates" in r.stdout, r.stdout
    assert conn.stream(name).info().state.messages == 200
    for out_fmt in ("parquet", "csv", "jsonl"):
        out = tmp_path / f"back.{out_fmt}"
        r = cli("read", name, "-o", str(out))
        assert r.returncode == 0, r.stderr
        assert f"wrote 200 rows from {name} seq 1..200" in r.stdout
        back = {"parquet": pd.read_parquet, "csv": pd.read_csv,
                "jsonl": lambda p: pd.read_json(p, lines=True)}[out_fmt](out)
        assert list(back.columns) == ["id", "region", "amount", "_subject", "_seq", "_time"]
        pd.testing.assert_frame_equal(back[["id", "region", "amount"]].astype(
            {"region": object}), df.astype({"region": object}), check_dtype=False)
        assert (back["_subject"] == subj + "." + df["region"]).all()


def test_read_matches_read_stream_and_its_options(cli, conn, tmp_path) -> None:
    conn.create_stream(name="CLI_RD", subjects=["clird.>"])
    df = _orders(90)
    conn.publish_dataframe("clird.{region}", df)
    out = tmp_path / "eu.parquet"
    r = cli("read", "CLI_RD", "--subjects", "clird.eu,clird.ap", "--start", "10",
            "--end", "60", "--metadata", "seq", "-o", str(out))
    assert r.returncode == 0, r.stderr
    got = pd.read_parquet(out)
    exp = jsdata.read_stream("CLI_RD", conn, subjects=["clird.eu", "clird.ap"], start=10,
                             end=60, metadata=("seq",))
    pd.testing.assert_frame_equal(got.reset_index(drop=True), exp.reset_index(drop=True),
                                  check_dtype=False)
    assert set(got["region"]) == {"eu", "ap"} and got["_seq"].between(10, 60).all()
    # to stdout as JSON lines, and as a table for people
    r = cli("read", "CLI_RD", "-o", "-", "--max-messages", "3", "--metadata", "none")
    rows = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert rows == df.head(3).to_dict("records")
    r = cli("read", "CLI_RD", "--json", "--end", "2")
    assert [json.loads(ln)["_seq"] for ln in r.stdout.splitlines()] == [1, 2]
    r = cli("read", "CLI_RD", "--max-rows", "5")
    assert r.stdout.split()[:3] == ["id", "region", "amount"]
    assert "90 rows from CLI_RD seq 1..90" in r.stderr
    # an age as the start: everything was written in the last hour
    r = cli("read", "CLI_RD", "--start", "1h", "--json")
    assert len(r.stdout.splitlines()) == 90
    # --batch-size: the same rows written batch by batch (bounded memory)
    whole = jsdata.read_stream("CLI_RD", conn)
    for ext in ("parquet", "csv", "jsonl"):
        out_all, out_b = tmp_path / f"all.{ext}", tmp_path / f"batched.{ext}"
        assert cli("read", "CLI_RD", "-o", str(out_all)).returncode == 0
        r = cli("read", "CLI_RD", "--batch-size", "7", "-o", str(out_b))
        assert r.returncode == 0, r.stderr
        assert "wrote 90 rows from CLI_RD seq 1..90" in r.stdout
        if ext == "parquet":
            got = pd.read_parquet(out_b)
            pd.testing.assert_frame_equal(got, whole, check_dtype=False)
        else:
            assert out_b.read_text() == out_all.read_text()
    r = cli("read", "CLI_RD", "--batch-size", "10", "-o", "-", "--end", "25")
    assert [json.loads(ln)["_seq"] for ln in r.stdout.splitlines()] == list(range(1, 26))
    assert cli("read", "CLI_RD", "--batch-size", "10").returncode == 2
    line = _one_line_error(cli("read", "CLI_NOSUCH"))
    assert "CLI_NOSUCH" in line
    line = _one_line_error(cli("read", "CLI_RD", "--codec", "nocodec"))
    assert "nocodec" in line


def test_read_and_tail_an_empty_stream(cli, conn, tmp_path) -> None:
    conn.create_stream(name="CLI_EMPTY", subjects=["cliempty.>"])
    r = cli("read", "CLI_EMPTY", "-o", "-")
    assert r.returncode == 0 and r.stdout == "", r.stdout
    r = cli("read", "CLI_EMPTY", "-o", str(tmp_path / "e.parquet"))
    assert r.returncode == 0 and "wrote 0 rows" in r.stdout
    assert len(pd.read_parquet(tmp_path / "e.parquet")) == 0
    r = cli("read", "CLI_EMPTY", "--batch-size", "5", "-o", str(tmp_path / "e2.parquet"))
    assert r.returncode == 0 and "wrote 0 rows" in r.stdout, r.stderr
    assert len(pd.read_parquet(tmp_path / "e2.parquet")) == 0
    r = cli("tail", "CLI_EMPTY", "--json")
    assert r.returncode == 0 and r.stdout == ""


def test_write_from_stdin_and_errors(cli, conn, tmp_path) -> None:
    conn.create_stream(name="CLI_IN", subjects=["cliin.>"])
    lines = "".join(json.dumps({"k": i, "v": f"x{i}"}) + "\n" for i in range(5))
    r = cli("write", "cliin.rows", "-", input=lines)
    assert r.returncode == 0, r.stderr
    assert "published 5 rows as 5 messages to CLI_IN seq 1..5" in r.stdout
    back = jsdata.read_stream("CLI_IN", conn, metadata=())
    assert back.to_dict("records") == [{"k": i, "v": f"x{i}"} for i in range(5)]
    line = _one_line_error(cli("write", "cliin.rows", str(tmp_path / "missing.csv")))
    assert "missing.csv" in line
    line = _one_line_error(cli("write", "nostream.here", "-", input=lines))
    assert "nostream.here" in line or "no stream" in line.lower(), line
    r = cli("write", "cliin.rows", str(tmp_path / "x.txt"))
    assert r.returncode == 2 and "x.txt" in r.stderr


def test_tail_last_and_follow(cli, srv, home, conn) -> None:
    conn.create_stream(name="CLI_TAIL", subjects=["clitail.>"])
    for i in range(30):
        conn.publish(f"clitail.{'odd' if i % 2 else 'even'}", json.dumps({"i": i}).encode())
    r = cli("tail", "CLI_TAIL", "-n", "3")
    assert r.returncode == 0, r.stderr
    got = r.stdout.splitlines()
    assert [ln.split()[0] for ln in got] == ["[28]", "[29]", "[30]"]
    assert got[-1].endswith('clitail.odd: {"i": 29}')
    r = cli("tail", "CLI_TAIL", "-n", "4", "--subjects", "clitail.even", "--json")
    rows = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert [x["data"]["i"] for x in rows] == [22, 24, 26, 28]
    assert {x["subject"] for x in rows} == {"clitail.even"}
    # --follow prints what is published afterwards
    p = subprocess.Popen([sys.executable, "-m", "jsdata", "tail", "CLI_TAIL", "-n", "1", "-f",
                          "--json", "--server", srv.url], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env(home))
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(p.stdout.readline, "")),
                                  daemon=True)
        reader.start()
        wait_for(lambda: len(lines) >= 1, 60, "the last message")
        assert json.loads(lines[0])["seq"] == 30
        conn.publish("clitail.new", b'{"i": "fresh"}')
        wait_for(lambda: len(lines) >= 2, 30, "the followed message")
        new = json.loads(lines[1])
        assert new == {**new, "seq": 31, "subject": "clitail.new", "data": {"i": "fresh"}}
    finally:
        p.terminate()
        p.wait(30)
        p.stdout.close()
        p.stderr.close()


# -- key-value and objects ---------------------------------------------------------------------

def test_kv_commands(cli, srv, home, conn) -> None:
    line = _one_line_error(cli("kv", "put", "cli_cfg", "color", "blue"))
    assert "cli_cfg" in line and "--create" in line
    r = cli("kv", "put", "cli_cfg", "color", "blue", "--create")
    assert r.returncode == 0 and r.stdout.strip() == "cli_cfg/color revision 1"
    r = cli("kv", "put", "cli_cfg", "blob", "-", "--json", input=b"\x00\xffbin")
    assert json.loads(r.stdout) == {"bucket": "cli_cfg", "key": "blob", "revision": 2}
    assert conn.key_value("cli_cfg").get("blob").value == b"\x00\xffbin"
    r = cli("kv", "get", "cli_cfg", "blob", input=b"")
    assert r.stdout == b"\x00\xffbin"
    e = json.loads(cli("kv", "get", "cli_cfg", "color", "--json").stdout)
    assert (e["key"], e["value"], e["revision"], e["operation"]) == ("color", "blue", 1, "PUT")
    assert json.loads(cli("kv", "get", "cli_cfg", "blob", "--json").stdout)["value"] == \
        "base64:AP9iaW4="
    assert cli("kv", "ls", "cli_cfg").stdout.split() == ["blob", "color"]
    buckets = {b["bucket"]: b for b in json.loads(cli("kv", "ls", "--json").stdout)}
    assert buckets["cli_cfg"]["values"] == 2
    line = _one_line_error(cli("kv", "get", "cli_cfg", "nokey"))
    assert "nokey" in line
    # watch: the current value, then a change made while it runs
    p = subprocess.Popen([sys.executable, "-m", "jsdata", "kv", "watch", "cli_cfg", "color",
                          "--count", "2", "--server", srv.url], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env(home))
    try:
        first = p.stdout.readline()
        assert first.strip() == "[1] PUT color: blue"
        conn.key_value("cli_cfg").put("color", b"green\nish")
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out.strip() == "[3] PUT color: green\\nish"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def test_object_commands(cli, conn, tmp_path) -> None:
    data = os.urandom(700_000)
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    r = cli("object", "put", "cli_files", str(src), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["name"] == "blob.bin" and info["size"] == len(data)
    r = cli("object", "put", "cli_files", str(src), "--name", "dir/copy.bin")
    assert r.returncode == 0 and "stored cli_files/dir/copy.bin: 700,000 bytes" in r.stdout
    assert conn.object_store("cli_files").get_bytes("dir/copy.bin") == data
    r = cli("object", "ls", "cli_files")
    names = [ln.split()[0] for ln in r.stdout.splitlines()[1:]]
    assert names == ["blob.bin", "dir/copy.bin"]
    stores = {s["bucket"] for s in json.loads(cli("object", "ls", "--json").stdout)}
    assert "cli_files" in stores
    r = cli("object", "get", "cli_files", "dir/copy.bin", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "copy.bin").read_bytes() == data
    out = tmp_path / "x.bin"
    r = cli("object", "get", "cli_files", "blob.bin", "-o", str(out))
    assert out.read_bytes() == data
    r = cli("object", "get", "cli_files", "blob.bin", "-o", "-", input=b"")
    assert r.returncode == 0 and r.stdout == data
    line = _one_line_error(cli("object", "get", "cli_files", "nothing.bin", cwd=tmp_path))
    assert "nothing.bin" in line
    assert not (tmp_path / "nothing.bin").exists()
    assert not (tmp_path / "nothing.bin.part").exists()
    line = _one_line_error(cli("object", "put", "cli_files", str(tmp_path / "absent")))
    assert "absent" in line


# -- connection options, progress, the server command ----------------------------------------

def test_connection_errors_are_one_line(home) -> None:
    line = _one_line_error(run(home, "stream", "ls", "--server", "nats://127.0.0.1:1",
                               "--timeout", "2"))
    assert "could not connect" in line and "127.0.0.1:1" in line
    r = run(home, "stream", "ls", "--server", "nats://127.0.0.1:1", "--timeout", "2",
            env=_env(home, JSDATA_DEBUG="1"))
    assert r.returncode == 1 and "Traceback" in r.stderr and "JetStreamConnectionError" in r.stderr


def test_user_password_and_token_pass_through(home, tmp_path) -> None:
    with EmbeddedServer(store_dir=str(tmp_path / "a"), args=["--user", "ann", "--pass",
                                                             "s3cret-pw"]) as s:
        r = run(home, "stream", "ls", "--server", s.url, "--user", "ann",
                "--password", "s3cret-pw", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == []
        r = run(home, "stream", "ls", "--server", s.url, "--user", "ann",
                "--password", "wrong-pw-42", "--timeout", "3")
        line = _one_line_error(r)
        assert "wrong-pw-42" not in r.stderr + r.stdout
        assert "AuthenticationError" in line
    with EmbeddedServer(store_dir=str(tmp_path / "b"), args=["--auth", "tok-9876"]) as s:
        r = run(home, "kv", "ls", "--server", s.url, "--token", "tok-9876")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "no key-value buckets"


def test_context_file(home, srv, tmp_path) -> None:
    cfg = tmp_path / "xdg"
    (cfg / "nats" / "context").mkdir(parents=True)
    (cfg / "nats" / "context" / "local.json").write_text(json.dumps({"url": srv.url}))
    env = _env(home, XDG_CONFIG_HOME=str(cfg))
    r = run(home, "--context", "local", "stream", "ls", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert isinstance(json.loads(r.stdout), list)
    line = _one_line_error(run(home, "stream", "ls", "--context", "elsewhere", env=env))
    assert "elsewhere" in line


def test_context_with_tls_ca(home, tmp_path) -> None:
    """A context's ``ca`` makes the TLS context: a server with a certificate of a test CA."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ctx_dir = tmp_path / "xdg" / "nats" / "context"
    ctx_dir.mkdir(parents=True)
    with EmbeddedServer(store_dir=str(tmp_path / "store"),
                        args=["--tls", "--tlscert", str(tmp_path / "cert.pem"),
                              "--tlskey", str(tmp_path / "key.pem")]) as s:
        url = s.url.replace("nats://", "tls://")
        (ctx_dir / "sec.json").write_text(json.dumps({"url": url,
                                                      "ca": str(tmp_path / "ca.pem")}))
        r = run(home, "--context", "sec", "object", "ls", "--json",
                env=_env(home, XDG_CONFIG_HOME=str(tmp_path / "xdg")))
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == [] and r.stderr == ""
        # without the CA the server's certificate is not trusted: a typed one-line failure
        (ctx_dir / "noca.json").write_text(json.dumps({"url": url}))
        r = run(home, "--context", "noca", "object", "ls", "--timeout", "5",
                env=_env(home, XDG_CONFIG_HOME=str(tmp_path / "xdg")))
        line = _one_line_error(r)
        assert "certificate" in line.lower() or "tls" in line.lower(), line
        r = run(home, "object", "ls", "--server", url, "--tlsca", str(tmp_path / "ca.pem"),
                "--json")
        assert r.returncode == 0 and json.loads(r.stdout) == [], r.stderr


def test_progress_bar_only_on_a_terminal(cli, conn, srv, home, tmp_path) -> None:
    conn.create_stream(name="CLI_PROG", subjects=["cliprog.>"])
    conn.publish_dataframe("cliprog.x", _orders(3000))
    out = tmp_path / "p.parquet"
    r = cli("read", "CLI_PROG", "-o", str(out))
    assert r.returncode == 0 and "%|" not in r.stderr and "msg/s" not in r.stderr
    leader, follower = pty.openpty()
    # a terminal of 120 columns (a new pty has 0, where tqdm prints an empty bar)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    try:
        p = subprocess.run([sys.executable, "-m", "jsdata", "read", "CLI_PROG", "-o", str(out),
                            "--server", srv.url], stdout=subprocess.PIPE, stderr=follower,
                           stdin=subprocess.DEVNULL, env=_env(home), timeout=120)
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                b = os.read(leader, 65536)
            except OSError:
                break
            if not b:
                break
            chunks.append(b)
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert p.returncode == 0
    bar = b"".join(chunks).decode(errors="replace")
    assert "reading CLI_PROG" in bar and "3.00k" in bar, bar


def test_server_start_status_stop(tmp_path) -> None:
    home = tmp_path / "own_home"
    try:
        r = run(home, "server", "status")
        assert r.returncode == 1 and "not running" in r.stdout
        r = run(home, "server", "start")
        assert r.returncode == 0, r.stderr
        url = r.stdout.strip()
        assert url.startswith("nats://")
        st = json.loads(run(home, "server", "status", "--json").stdout)
        assert st["healthy"] is True and st["url"] == url
        r = run(home, "stream", "ls", "--json")  # no --server: the default server
        assert r.returncode == 0 and json.loads(r.stdout) == []
    finally:
        r = run(home, "server", "stop")
    assert r.returncode == 0 and r.stdout.strip() == "stopped"
    assert run(home, "server", "status").returncode == 1


# -- docs/cli.md runs as pasted ------------------------------------------------------------------

_FENCE = re.compile(r"^```(python|console)[ \t]*\n(.*?)^```", re.S | re.M)


def test_cli_page_runs_as_pasted(tmp_path) -> None:
    """docs/cli.md in page order on the default server of a fresh JSDATA_HOME: its python
    blocks, then every ``$ jsdata ...`` line of its console blocks (exit code 0 each)."""
    import shlex
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    env = _env(home)
    text = (ROOT / "docs" / "cli.md").read_text()
    ran = 0
    try:
        for kind, body in _FENCE.findall(text):
            if kind == "python":
                r = subprocess.run([sys.executable, "-c", body], cwd=work, env=env,
                                   capture_output=True, text=True, timeout=120)
                assert r.returncode == 0, f"docs/cli.md python block failed:\n{r.stderr}"
                continue
            for line in body.splitlines():
                if not line.startswith("$ jsdata "):
                    continue
                argv = shlex.split(line[len("$ jsdata "):])
                r = run(home, *argv, cwd=work, env=env)
                assert r.returncode == 0, f"{line!r} failed: {r.stderr}"
                ran += 1
    finally:
        run(home, "server", "stop", env=env)
    assert ran >= 20
    assert (work / "copy.parquet").read_bytes() == (work / "orders.parquet").read_bytes()


def test_demo_runs_on_the_given_server(home, srv, conn) -> None:
    r = run(home, "demo", "--server", srv.url)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"jsdata demo: server {srv.url}" in r.stdout
    assert "fetched and acked" in r.stdout
    assert "DEMO_ORDERS" in set(conn.stream_names())
    line = _one_line_error(run(home, "demo", "--server", srv.url, "--token", "t0k"), code=2)
    assert "--server only" in line and "t0k" not in line
