"""``df.to_jetstream`` and the ``df.jetstream`` accessor exist after ``import jsdata``
whichever of jsdata and pandas is imported first, while importing jsdata alone loads no
pandas (the one-shot import hook of jsdata/pandas_ext.py; rationale in docs/layout.md).
Each order runs in a fresh interpreter and publishes a frame to a real server."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_CHECK = """
    import sys
    import jsdata.pandas_ext as ext
    pd = sys.modules["pandas"]
    assert callable(pd.DataFrame.to_jetstream)
    assert ext._hook is None and not any(isinstance(f, ext._PandasHook) for f in sys.meta_path)
    with jsdata.connect({url!r}) as js:
        s = js.create_stream(name={name!r}, subjects=[{name!r} + ".>"])
        df = pd.DataFrame({{"i": [1, 2, 3]}})
        assert df.to_jetstream({name!r} + ".a", js=js).rows == 3
        assert df.jetstream.publish({name!r} + ".b", js=js).rows == 3
        assert s.info().state.messages == 6
    print("ok")
"""

ORDERS = {
    "jsdata_first": """
        import sys
        import jsdata
        assert "pandas" not in sys.modules  # importing jsdata loads no pandas
        import pandas
    """,
    "pandas_first": """
        import pandas
        import jsdata
    """,
    "pandas_submodule_first": """
        import pandas.api.types
        import jsdata
    """,
}


@pytest.mark.parametrize("order", list(ORDERS))
def test_to_jetstream_in_either_import_order(server, order: str) -> None:  # type: ignore[no-untyped-def]
    name = "PR" + str(list(ORDERS).index(order))
    code = textwrap.dedent(ORDERS[order]) + textwrap.dedent(_CHECK.format(url=server.url,
                                                                          name=name))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
