"""The widgets in a real browser: JupyterLab + Debian's chromium driven by Playwright.

Opens notebooks/kv-and-widgets.ipynb in a headless JupyterLab against a fresh nats-server,
runs every cell, checks that each widget renders (tables, SVG charts, bars), uses the
tail's pause button and subject box, writes from another process and checks that every
widget in the page follows; saves one screenshot per widget into a temp dir (or
$JSDATA_SCREENSHOT_DIR). The harness is scripts/browser_check.py (also runnable by hand).

Skips when chromium, Playwright or JupyterLab is missing, unless JSDATA_REQUIRE_BROWSER=1
(CI), where a missing piece fails the test.
"""

from __future__ import annotations

import importlib.util
import os
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (apt-get install -y chromium)"
    for mod, pip in (("playwright", "playwright"), ("jupyterlab", "jupyterlab")):
        if importlib.util.find_spec(mod) is None:
            return f"python package {mod} is not installed (pip install -e '.[dev]': {pip})"
    return None


def _harness():
    spec = importlib.util.spec_from_file_location("browser_check",
                                                  ROOT / "scripts" / "browser_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_widgets_render_and_follow_in_jupyterlab(server, tmp_path) -> None:
    why = _missing()
    if why:
        if os.environ.get("JSDATA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"JSDATA_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    bc = _harness()
    # screenshots go to a temp dir unless asked for (the committed docs/img PNGs are made
    # with `python scripts/browser_check.py --settle 50`, so suite runs leave git clean)
    shots = Path(os.environ.get("JSDATA_SCREENSHOT_DIR") or tmp_path)
    seen = bc.check_widgets(server.url, shots, chromium=CHROMIUM, say=lambda m: None)

    before, after = seen["before"], seen["after"]
    assert set(before) == set(after) == set(bc.WIDGETS)
    for cls in bc.WIDGETS:
        assert after[cls] != before[cls], f"{cls} did not change in the page"
    assert "auditor" not in before["jsdata-streammonitor"]
    assert "auditor" in after["jsdata-streammonitor"]
    assert "jsdata_feed_" not in after["jsdata-streammonitor"]  # internal consumers hidden
    assert "BROWSER_CHECK" in after["jsdata-dashboard"]
    assert "daily/browser-check.bin" in after["jsdata-objectstorebrowser"]
    # one screenshot per widget, each a real picture of it
    assert set(seen["shots"]) == set(bc.WIDGETS)
    for cls, path in seen["shots"].items():
        assert path == shots / bc.WIDGETS[cls] and path.stat().st_size > 10_000
        w, h = _png_size(path)
        assert w >= 500 and h >= 150, (cls, w, h)
