"""Every ```python block in docs/**/*.md and README.md runs against a real server.

A block fenced as ```python skip is shown but not run (e.g. it needs a browser).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jsdata.server import EmbeddedServer

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, int, str]]:
    out = []
    for md in sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]):
        text = md.read_text()
        for i, m in enumerate(BLOCK.finditer(text)):
            out.append((f"{md.relative_to(ROOT)}#{i + 1}", i, m.group(1)))
    return out


@pytest.mark.parametrize("where,index,code", _blocks(), ids=[b[0] for b in _blocks()])
def test_doc_example_runs(where: str, index: int, code: str, tmp_path: Path) -> None:
    with EmbeddedServer(store_dir=str(tmp_path / "store")) as srv:
        env = {**os.environ, "JSDATA_URL": srv.url, "JSDATA_HOME": str(tmp_path / "home"),
               "PYTHONPATH": str(ROOT)}
        script = tmp_path / "example.py"
        script.write_text(code)
        try:
            r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=120)
        finally:  # an example may start the default server under JSDATA_HOME: stop it
            subprocess.run([sys.executable, "-m", "jsdata", "server", "stop"], env=env,
                           capture_output=True, timeout=60)
        assert r.returncode == 0, f"{where} failed:\n{code}\n--- stderr:\n{r.stderr[-3000:]}"
