"""The docs' examples run as pasted: every ```python block of README.md and docs/*.md.

How they run (what a reader does, pasting a page's examples into one Python session):

* one persistent server for all pages: the default embedded server that ``jsdata.connect()``
  starts, under a temporary ``JSDATA_HOME`` (no ``JSDATA_URL`` / ``NATS_URL`` is set), stopped
  when the module ends; nothing is deleted between pages, so every example must use stream,
  bucket and consumer names of its own (``test_docs_create_unique_names`` checks the
  creations);
* one fresh Python process per page, running the page's blocks in page order in one
  namespace (as cells of a notebook), each with its working directory in a temp dir;
* the pages in the order of the site's navigation (README.md first, pages missing from the
  nav after it, alphabetically).

A block fenced as ```python skip is shown but not run (e.g. it needs a browser).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)
PAGE_TIMEOUT = 600

# Runs in the page's process: execute the blocks in order in the namespace of __main__ (so
# that functions they define pickle as in a script, e.g. for process pools), stop at the
# first failure and say which block failed. Guarded so that a process pool's child that
# re-imports the main module does not run the page again.
DRIVER = r"""
import sys


def _run_page_blocks(spec):
    import json
    import linecache
    import traceback
    for where, code in json.load(open(spec)):
        print(f"--- running {where}", flush=True)
        linecache.cache[where] = (len(code), None, code.splitlines(True), where)
        try:
            exec(compile(code, where, "exec"), globals())
        except SystemExit as e:
            if e.code not in (None, 0):
                print(f"--- {where} exited with {e.code!r}", file=sys.stderr, flush=True)
                sys.exit(3)
        except BaseException:
            traceback.print_exc()
            print(f"--- FAILED {where}", file=sys.stderr, flush=True)
            sys.exit(3)
        sys.stdout.flush()
        sys.stderr.flush()
    print("--- all blocks ran", flush=True)


if __name__ == "__main__":
    _run_page_blocks(sys.argv[1])
"""


def _nav_pages() -> list[str]:
    """The docs pages in the order of mkdocs.yml's nav (the API reference included)."""
    text = (ROOT / "mkdocs.yml").read_text()
    return re.findall(r"(?::|-)\s*([\w./-]+\.md)\s*$", text, re.M)


def _pages() -> list[Path]:
    docs = ROOT / "docs"
    ordered = [ROOT / "README.md"]
    for rel in _nav_pages():
        p = docs / rel
        if p.exists() and p not in ordered:
            ordered.append(p)
    rest = sorted(p for p in docs.rglob("*.md") if p not in ordered)
    return ordered + rest


def _blocks(page: Path) -> list[tuple[str, str]]:
    rel = page.relative_to(ROOT)
    return [(f"{rel}#{i + 1}", m.group(1)) for i, m in enumerate(BLOCK.finditer(page.read_text()))]


PAGES = [p for p in _pages() if _blocks(p)]


@pytest.fixture(scope="module")
def docs_env(tmp_path_factory):
    """The environment of every page: a temp JSDATA_HOME whose default server is shared by
    all pages (started by the first example that connects) and stopped at the end."""
    home = tmp_path_factory.mktemp("docs_home")
    env = {k: v for k, v in os.environ.items() if k not in ("JSDATA_URL", "NATS_URL")}
    # tests/ray_shims first: it shadows rfc3987_syntax, whose 2 s import in every Ray
    # process makes Ray's agents miss the raylet's fixed 15 s start-up wait on a loaded
    # machine (docs/scaling.md starts Ray; see tests/ray_shims/rfc3987_syntax/__init__.py).
    env.update(JSDATA_HOME=str(home),
               PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "ray_shims"), str(ROOT)]))
    try:
        yield env
    finally:
        subprocess.run([sys.executable, "-m", "jsdata", "server", "stop"], env=env,
                       capture_output=True, timeout=60)


def _run_blocks(blocks: list[tuple[str, str]], env: dict[str, str], cwd: Path) -> str | None:
    """Run the blocks in one process; None if all ran, else the failure (block and stderr)."""
    spec = cwd / "blocks.json"
    spec.write_text(json.dumps(blocks))
    driver = cwd / "run_blocks.py"
    driver.write_text(DRIVER)
    r = subprocess.run([sys.executable, str(driver), str(spec)], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=PAGE_TIMEOUT)
    if r.returncode == 0 and "--- all blocks ran" in r.stdout:
        return None
    ran = re.findall(r"--- running (\S+)", r.stdout)
    where = ran[-1] if ran else "?"
    code = dict(blocks).get(where, "")
    return f"{where} failed (exit {r.returncode}):\n{code}\n--- stderr:\n{r.stderr[-4000:]}"


@pytest.mark.timeout(PAGE_TIMEOUT + 60)  # the runner's own bound, not the suite's 120 s
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_examples_run_in_order(page: Path, docs_env, tmp_path: Path) -> None:
    failure = _run_blocks(_blocks(page), docs_env, tmp_path)
    if failure:
        pytest.fail(failure, pytrace=False)


def test_runner_shares_state_and_names_the_failing_block(tmp_path: Path) -> None:
    """The runner itself: later blocks see earlier ones' names; a failure names its block."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = [("p.md#1", "x = 41\ndef f():\n    return x + 1\n"),
          ("p.md#2", "assert f() == 42 and __name__ == '__main__'\n")]
    assert _run_blocks(ok, env, tmp_path) is None
    bad = [*ok, ("p.md#3", "y = 1\nraise RuntimeError('boom here')\n"), ("p.md#4", "z = 1\n")]
    failure = _run_blocks(bad, env, tmp_path)
    assert failure is not None and failure.startswith("p.md#3 failed")
    assert "boom here" in failure and "raise RuntimeError" in failure  # source in traceback


# -- names must be unique across the pages ------------------------------------------------------

_CREATE = re.compile(
    r"create_(?:or_update_)?(stream|key_value|object_store)\(\s*(?:jsdata\.\w+Config\()?"
    r"\s*(?:name|bucket)\s*=\s*[\"']([^\"']+)[\"']")
# a file written to jetstream://BUCKET/... creates the bucket (an object store)
_WRITE_URL = re.compile(r"\.to_(?:parquet|csv|json)\(\s*f?[\"']jetstream://([\w-]+)/")


def test_docs_create_unique_names() -> None:
    """A stream or bucket created in one page's examples is not created in another's (they
    all share one server). Within a page, names may repeat (later blocks reuse them)."""
    where: dict[tuple[str, str], set[str]] = defaultdict(set)
    for page in _pages():
        for _, code in _blocks(page):
            for kind, name in _CREATE.findall(code):
                where[(kind.replace("_", " "), name)].add(page.name)
            for name in _WRITE_URL.findall(code):
                where[("object store", name)].add(page.name)
    clashes = {f"{kind} {name}": sorted(pages) for (kind, name), pages in where.items()
               if len(pages) > 1}
    assert not clashes, f"names created by the examples of several pages: {clashes}"
