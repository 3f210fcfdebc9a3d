"""Every notebook in notebooks/ runs top to bottom (nbclient, a python3 kernel from this
interpreter) against a real server given by JSDATA_URL, and leaves no server behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SKIP = "skip-execution"  # nbclient's default skip_cells_with_tag: "Run All" leaves it out

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def test_the_four_notebooks_exist() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "etl.ipynb",
                                           "kv-and-widgets.ipynb",
                                           "objects-and-parquet.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, shared_server, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("JSDATA_URL", shared_server.url)
    monkeypatch.setenv("JSDATA_HOME", str(home))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    # the kernel is this interpreter's (the python3 kernelspec may say just "python")
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable),
                                                os.environ.get("PATH", "")]))
    nb = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for cell in nb.cells if cell.cell_type == "code"
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    code = [c for c in nb.cells if c.cell_type == "code"]
    # a cleanup cell tagged skip-execution (run by hand) may only be the last code cell
    skipped = [i for i, c in enumerate(code) if SKIP in c.get("metadata", {}).get("tags", [])]
    assert skipped in ([], [len(code) - 1]), f"only the last code cell may be {SKIP}"
    ran = [c for i, c in enumerate(code) if i not in skipped]
    assert ran and all(c.get("execution_count") for c in ran)
    assert not any(c.get("execution_count") for i, c in enumerate(code) if i in skipped)
    # it used the test server: no default server was started (or left running)
    assert not (home / "server.json").exists()
