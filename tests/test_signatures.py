"""The blocking API is visible: real signatures at run time, current stubs, mypy types a script.

The blocking classes are generated from the asyncio ones at run time; these tests hold that
``inspect.signature`` / ``help()`` show what each method really takes and returns, that the
committed ``.pyi`` stubs match what ``scripts/gen_stubs.py`` generates now, and that a user
script type-checks under ``mypy --strict --disallow-any-expr`` with no ``Any`` from jsdata.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import pydoc
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import jsdata
from jsdata import errors

ROOT = Path(__file__).resolve().parent.parent
USER_SCRIPT = ROOT / "tests" / "typecheck" / "user_script.py"


def _twins() -> dict[str, type]:
    return {n: getattr(jsdata, n) for n in jsdata.__all__
            if isinstance(getattr(jsdata, n), type) and hasattr(getattr(jsdata, n), "_core_cls")}


def _own(cls: type, attr: str) -> bool:
    """Defined by jsdata (not inherited from io.BufferedIOBase and friends)."""
    for klass in cls.__mro__:
        if attr in vars(klass):
            return klass.__module__.startswith("jsdata")
    return False


def _public_methods() -> list[tuple[str, str, Any]]:
    out = []
    for name, cls in sorted(_twins().items()):
        for attr in sorted(dir(cls)):
            if attr.startswith("_") or not _own(cls, attr):
                continue
            raw = inspect.getattr_static(cls, attr)
            if callable(raw) and not isinstance(raw, type):
                out.append((name, attr, getattr(cls, attr)))
    return out


def test_every_public_blocking_method_has_a_real_signature() -> None:
    methods = _public_methods()
    assert len(methods) > 150  # the whole surface, not a few classes
    bad = []
    for cls, attr, fn in methods:
        sig = inspect.signature(fn)
        bare = [p.name for p in sig.parameters.values()
                if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                and p.annotation in (p.empty, Any, "Any", "typing.Any")]
        if bare:
            bad.append(f"{cls}.{attr}{sig}: bare {bare}")
        if sig.return_annotation is inspect.Signature.empty:
            bad.append(f"{cls}.{attr}{sig}: no return annotation")
    assert not bad, "\n".join(bad)


def test_signatures_say_what_the_blocking_call_returns() -> None:
    def ret(fn: Any) -> str:
        return str(inspect.signature(fn).return_annotation)

    assert ret(jsdata.JetStream.create_stream) == "Stream"
    assert ret(jsdata.JetStream.list_streams) == "collections.abc.Iterator[StreamInfo]"
    assert ret(jsdata.JetStream.publish_async) == "PubAckFuture"
    assert ret(jsdata.Consumer.fetch) == "MessageBatch"
    assert ret(jsdata.MessageBatch.messages) == "list[Msg]"
    assert ret(jsdata.KeyValue.keys) == "collections.abc.Iterator[str]"
    assert ret(jsdata.Stream.to_pandas) == "pandas.DataFrame"
    assert ret(jsdata.PubAckFuture.result) == "PubAck"
    # the stream-scoped consumer methods: JetStream's signature without ``stream``
    sc = inspect.signature(jsdata.Stream.create_consumer)
    assert "stream" not in sc.parameters and "durable_name" in sc.parameters
    assert sc.return_annotation == "Consumer"


def test_options_are_keyword_only_parameters() -> None:
    for fn in (jsdata.Stream.to_pandas, jsdata.Stream.to_arrow, jsdata.Stream.to_batches,
               jsdata.read_stream):
        params = inspect.signature(fn).parameters
        for opt in ("subjects", "start", "end", "codec", "columns", "batch_size", "on_error"):
            assert params[opt].kind is inspect.Parameter.KEYWORD_ONLY, (fn, opt)
    assert "dtype_backend" in inspect.signature(jsdata.Stream.to_pandas).parameters
    fa = inspect.signature(jsdata.Consumer.fetch_arrow).parameters
    assert fa["columns"].kind is inspect.Parameter.KEYWORD_ONLY
    cs = inspect.signature(jsdata.JetStream.create_stream).parameters
    assert cs["subjects"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "timedelta" in str(cs["max_age"].annotation)  # widened to what it accepts
    assert "str" in str(cs["storage"].annotation)  # enum members or their strings


def test_connect_takes_what_the_asyncio_connect_takes() -> None:
    blocking = inspect.signature(jsdata.connect).parameters
    core = inspect.signature(jsdata.aio.connect).parameters
    assert list(core) == [p for p in blocking if p != "error_cb"]
    for name, p in core.items():
        assert (blocking[name].kind, blocking[name].default) == (p.kind, p.default), name
    assert blocking["error_cb"].kind is inspect.Parameter.KEYWORD_ONLY


def test_connect_parameters_are_the_connect_options() -> None:
    """The connect keywords are listed once, on ConnectOptions; the public signature spells
    them out (for inspect and mypy) with the same names, order, defaults and types."""
    from dataclasses import fields

    from jsdata.client.connect_options import ConnectOptions
    params = inspect.signature(jsdata.aio.connect).parameters
    spelled = [p for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
               and p.name not in ("url", "context")]
    assert [p.name for p in spelled] == list(ConnectOptions.names())
    for p, f in zip(spelled, fields(ConnectOptions), strict=True):
        assert p.default == f.default, p.name
        assert str(p.annotation).replace(" ", "") == str(f.type).replace(" ", ""), p.name
    assert list(params)[0] == "servers" and list(params)[-1] == "nats_options"
    # secrets never in the repr
    r = repr(ConnectOptions(user="u", password="hunter2", token="tok", timeout=3.0))
    assert "hunter2" not in r and "tok'" not in r and "timeout=3.0" in r


def test_help_shows_parameters_and_docs() -> None:
    text = pydoc.render_doc(jsdata.JetStream.create_stream, renderer=pydoc.plaintext)
    # annotations show as text, the way Python shows PEP 563 annotations
    assert "subjects: 'list[str] | None'" in text and "-> 'Stream'" in text
    assert "*args" not in text
    text = pydoc.render_doc(jsdata.Consumer.fetch, renderer=pydoc.plaintext)
    assert "batch: 'int'" in text and "-> 'MessageBatch'" in text
    assert jsdata.Consumer.fetch.__doc__ == jsdata.aio.Consumer.fetch.__doc__


def test_stream_scoped_methods_bind_like_their_signature(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="SIG", subjects=["sig.>"], storage="memory")
    c = s.create_consumer(durable_name="d", ack_policy="explicit")
    assert c.name == "d" and c.stream == "SIG"
    assert [i.name for i in s.list_consumers()] == ["d"]
    assert js.stream_info("SIG", subjects_filter=">").config.name == "SIG"


def test_misspelt_option_is_a_typed_error(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="SIGOPT", subjects=["sigopt"], storage="memory")
    with pytest.raises(errors.InvalidArgumentError, match="'colums'.*valid: .*columns"):
        s.to_arrow(colums=["a"])  # type: ignore[call-arg]
    obs = js.create_object_store(bucket="sigobj", storage="memory")
    with pytest.raises(errors.InvalidArgumentError, match="chunk_size only apply"):
        obs.open("x", "rb", chunk_size=10)
    with pytest.raises(errors.InvalidArgumentError, match="show_deleted only applies"):
        obs.open("x", "wb", show_deleted=True)


# ---------------------------------------------------------------------------------------------
# the stubs

def _gen_stubs() -> Any:
    spec = importlib.util.spec_from_file_location("gen_stubs", ROOT / "scripts" / "gen_stubs.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_stubs_are_current() -> None:
    stubs = _gen_stubs().render_all()
    assert {"jsdata/__init__.pyi", "jsdata/aio.pyi"} <= set(stubs)
    for rel, text in stubs.items():
        ast.parse(text, rel)  # valid Python (mypy, griffe and IDEs read it)
    stale = [rel for rel, text in stubs.items()
             if not (ROOT / rel).exists() or (ROOT / rel).read_text() != text]
    assert not stale, f"run `python scripts/gen_stubs.py`: out of date: {stale}"


def test_stub_names_every_public_name() -> None:
    text = (ROOT / "jsdata" / "__init__.pyi").read_text()
    for name in jsdata.__all__:
        assert re.search(rf"\b(class|def) {name}\b|\bas {name}\b", text), name


# ---------------------------------------------------------------------------------------------
# mypy

def _mypy(path: Path) -> tuple[int, list[str]]:
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--disallow-any-expr",
         "--follow-imports=silent", "--ignore-missing-imports", "--no-incremental",
         "--cache-dir", os.devnull, "--python-executable", sys.executable, str(path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, [ln for ln in proc.stdout.splitlines() if ": error:" in ln]


def test_user_script_type_checks_with_no_any_from_jsdata() -> None:
    _, errs = _mypy(USER_SCRIPT)
    lines = USER_SCRIPT.read_text().splitlines()
    allowed = {i + 1 for i, ln in enumerate(lines)
               if re.search(r"  # any: (pandas|pyarrow)$", ln)}
    unexpected = [e for e in errs
                  if int(e.split(":")[1]) not in allowed or 'has type "Any"' not in e]
    assert not unexpected, "\n".join(unexpected)
    assert 0 < len(allowed) <= 4  # only the untyped third-party frames
    assert errs  # --disallow-any-expr is on: the pandas / pyarrow lines are flagged


def test_mypy_sees_the_blocking_types(tmp_path: Path) -> None:
    """The negative control: a wrong type on the blocking surface is an error."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import jsdata\n"
        "def f(js: jsdata.JetStream) -> None:\n"
        "    s: int = js.create_stream(name='X')\n"
        "    js.create_stream(nmae='X')\n"
        "    js.stream('X').to_pandas(strat=1)\n")
    code, errs = _mypy(bad)
    assert code == 1
    text = "\n".join(errs)
    assert 'incompatible types in assignment (expression has type "Stream"' in text.lower() \
        or '"Stream", variable has type "int"' in text
    assert '"nmae"' in text and '"strat"' in text
