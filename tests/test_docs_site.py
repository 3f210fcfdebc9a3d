"""The documentation site (mkdocs-material + mkdocstrings) builds with --strict."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("mkdocs")


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                        "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}\n{r.stderr[-5000:]}"
    assert (site / "index.html").exists()
    widgets = (site / "widgets" / "index.html").read_text()
    assert "KVWatcher" in widgets
    api = (site / "api" / "widgets" / "index.html").read_text()
    assert "wait_for" in api and "StreamMonitor" in api  # generated from docstrings
    assert "publish_dataframe" in (site / "api" / "connect" / "index.html").read_text()
