"""Check the notebook widgets in a real browser: JupyterLab + Chromium driven by Playwright.

Starts a headless JupyterLab on loopback (against a given nats-server, or a throwaway one),
opens ``notebooks/kv-and-widgets.ipynb`` in Debian's chromium (``/usr/bin/chromium``)
through Playwright's Python package, runs every cell, checks that each widget renders
(tables, SVG charts), writes to the stream, bucket and object store from a separate
process, checks that every widget in the page follows, and saves one screenshot per widget
(``docs/img/<widget>.png``). ``tests/test_browser.py`` runs the same check in the suite; by
hand::

    apt-get install -y chromium
    .venv/bin/pip install -e '.[dev]'        # jupyterlab, playwright; never `playwright install`
    .venv/bin/python scripts/browser_check.py        # --keep-open to look around, --help

Exit code 0 and ``browser check: OK`` on success.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "kv-and-widgets.ipynb"
SHOTS = ROOT / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

# widget (the CSS class every jsdata widget carries) -> screenshot file name
WIDGETS = {"jsdata-streammonitor": "streammonitor.png", "jsdata-streamtail": "streamtail.png",
           "jsdata-kvwatcher": "kvwatcher.png",
           "jsdata-objectstorebrowser": "objectstorebrowser.png",
           "jsdata-dashboard": "dashboard.png"}

MARK_ORDER = 987654  # an order id only the other process publishes
# What "another process" does while the notebook is open: one of each kind of write.
WRITER = f"""
import json, jsdata
with jsdata.connect() as js:
    js.publish("shop.orders.check", json.dumps({{"order": {MARK_ORDER}, "region": "eu",
               "item": "browser-check", "qty": 1, "total": 1.0}}))
    js.key_value("shop_prices").put("prices.browser_check", "42.00")
    js.key_value("shop_prices").put("config.note", "<script>alert('x')</script>")
    js.object_store("shop_exports").put_bytes("daily/browser-check.bin", b"x" * 300_000)
    js.stream("SHOP_ORDERS").create_consumer(durable="auditor", ack_policy="explicit")
    js.create_stream(name="BROWSER_CHECK", subjects=["browser.check"])
print("writes done")
"""


def log(msg: str) -> None:
    print(f"[browser-check] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float) -> None:
    """Poll ``url`` until it answers 200 (TimeoutError after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout:g}s: {last}")


def stop_process(p: subprocess.Popen[bytes]) -> None:
    """SIGINT the process group (jupyter shuts its kernels down), SIGKILL if it lingers."""
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGINT)  # jupyter asks to confirm: a second SIGINT
        time.sleep(0.3)
        os.killpg(p.pid, signal.SIGINT)
        p.wait(15)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(5)


def _env(tmp: Path, nats_url: str) -> dict[str, str]:
    return {**os.environ, "JSDATA_URL": nats_url, "JSDATA_HOME": str(tmp / "home"),
            "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [
                os.environ.get("PYTHONPATH")])]),
            "JUPYTER_CONFIG_DIR": str(tmp / "jcfg"), "JUPYTER_DATA_DIR": str(tmp / "jdata"),
            "JUPYTER_RUNTIME_DIR": str(tmp / "jrt"), "IPYTHONDIR": str(tmp / "ipy"),
            "JUPYTERLAB_SETTINGS_DIR": str(tmp / "jsettings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "jws")}


def _settings(tmp: Path) -> None:
    """No news prompt over the screenshots (nor a fetch of it), and every cell rendered
    (no windowing: off-screen outputs exist in the page to be checked and shot)."""
    for ext, name, value in [
            ("apputils-extension", "notification",
             {"fetchNews": "false", "checkForUpdates": False}),
            ("notebook-extension", "tracker", {"windowingMode": "none"})]:
        d = tmp / "jsettings" / "@jupyterlab" / ext
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.jupyterlab-settings").write_text(json.dumps(value))


@contextmanager
def jupyterlab(tmp: Path, nats_url: str) -> Iterator[tuple[str, str, Path]]:
    """A headless JupyterLab serving ``tmp/lab`` (kernels see JSDATA_URL=nats_url):
    yields (base url, token, lab dir)."""
    work = tmp / "lab"
    work.mkdir(parents=True, exist_ok=True)
    _settings(tmp)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={work}", "--ServerApp.open_browser=False",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(tmp / "jupyter.log", "wb") as logf:
        p = subprocess.Popen(cmd, cwd=work, env=_env(tmp, nats_url), stdout=logf,
                             stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/status?token={token}", 60)
        yield base, token, work
    finally:
        stop_process(p)


def _text(cls: str) -> str:
    """JS: the innerText of the widget with CSS class ``cls`` ('' while not rendered)."""
    return (f"(() => {{ const w = document.querySelector('.jp-OutputArea-output .{cls}');"
            " return w ? w.innerText : ''; })()")


def check_widgets(nats_url: str, shots: Path, *, chromium: str = CHROMIUM,
                  notebook: Path = NOTEBOOK, keep_open: bool = False, settle: float = 0.0,
                  say: Callable[[str], None] = log) -> dict[str, Any]:
    """Run the whole check against the nats-server at ``nats_url``; screenshots go to
    ``shots`` (``settle`` seconds after the checks). Returns what was seen (texts before
    and after the other process wrote, the screenshot paths); raises AssertionError (or a
    Playwright TimeoutError) when a widget does not render or does not follow."""
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="jsdata-browser-"))
    seen: dict[str, Any] = {"shots": {}}
    try:
        with jupyterlab(tmp, nats_url) as (base, token, work):
            shutil.copy(notebook, work / notebook.name)
            say(f"JupyterLab at {base}")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS,
                                             headless=True)
                try:
                    # tall, so that each widget fits on the page for its screenshot
                    page = browser.new_page(viewport={"width": 1400, "height": 2000})
                    _run_notebook(page, f"{base}/lab/tree/{notebook.name}?token={token}", say)
                    _check_rendered(page, seen, say)
                    _use_tail_controls(page, say)
                    _write_from_another_process(nats_url, tmp, say)
                    _check_followed(page, seen, say)
                    if settle:  # let the charts fill (for the docs' pictures)
                        say(f"settling {settle:g}s before the screenshots")
                        page.wait_for_timeout(settle * 1000)
                    for cls, name in WIDGETS.items():
                        path = shots / name
                        loc = page.locator(f".jp-OutputArea-output .{cls}").first
                        loc.scroll_into_view_if_needed()
                        loc.screenshot(path=str(path))
                        seen["shots"][cls] = path
                    say(f"screenshots saved to {shots}")
                    if keep_open:
                        say(f"--keep-open: {base}/lab?token={token} ; Ctrl-C to finish")
                        try:
                            while True:
                                time.sleep(1)
                        except KeyboardInterrupt:
                            pass
                    page.evaluate(  # shut the kernel down: its widgets stop with it
                        "async () => { await window.jupyterapp.shell.currentWidget"
                        ".sessionContext.shutdown(); }")
                finally:
                    browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return seen


def _run_notebook(page: Any, url: str, say: Callable[[str], None]) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function(  # a kernel connected to the notebook
        "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " return !!(w && w.sessionContext && w.sessionContext.session &&"
        " w.sessionContext.session.kernel &&"
        " w.sessionContext.session.kernel.connectionStatus === 'connected'); }",
        timeout=90_000)
    page.evaluate("() => { const s = window.jupyterapp.shell;"  # the notebook, full width
                  " if (s.collapseLeft) s.collapseLeft();"
                  " if (s.collapseRight) s.collapseRight(); }")
    say("notebook open, kernel connected: Run All")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def _check_rendered(page: Any, seen: dict[str, Any], say: Callable[[str], None]) -> None:
    checks = {
        # rate and lag charts drawn with lines, both consumers, the mailer (worst) first
        "jsdata-streammonitor": "t.includes('mailer') && t.includes('billing') &&"
                                " t.indexOf('mailer') < t.indexOf('billing') &&"
                                " w.querySelectorAll('svg.jsdata-chart polyline').length >= 2",
        "jsdata-streamtail": "t.includes('shop.orders.eu') && t.includes('total')",
        "jsdata-kvwatcher": "t.includes('prices.widget') && t.includes('History of') &&"
                            " w.querySelector('svg.jsdata-chart')",
        "jsdata-objectstorebrowser": "t.includes('weekly/summary.parquet') &&"
                                     " w.querySelectorAll('.jsdata-bar').length >= 5",
        "jsdata-dashboard": "t.includes('SHOP_ORDERS') && t.includes('shop_prices') &&"
                            " t.includes('shop_exports') && t.includes('mailer')",
    }
    for cls, cond in checks.items():
        page.wait_for_function(
            f"() => {{ const w = document.querySelector('.jp-OutputArea-output .{cls}');"
            f" if (!w) return false; const t = w.innerText; return !!({cond}); }}",
            timeout=60_000)
        seen.setdefault("before", {})[cls] = page.evaluate(_text(cls))
        say(f"{cls} rendered")
    errors = page.evaluate(
        "() => [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="
        "\"application/vnd.jupyter.stderr\"], .jp-RenderedText[data-mime-type="
        "\"application/vnd.jupyter.error\"]')].map(e => e.innerText)")
    assert not errors, f"cells failed: {errors}"


def _use_tail_controls(page: Any, say: Callable[[str], None]) -> None:
    """Pause and resume the tail with its button, then type a subject filter that only
    the other process publishes to (the tail restarts, empty)."""
    tail = page.locator(".jp-OutputArea-output .jsdata-streamtail").first
    tail.locator("button", has_text="pause").click()
    page.wait_for_function(f"() => {_text('jsdata-streamtail')}.includes('new since paused')",
                           timeout=30_000)
    tail.locator("button", has_text="resume").click()
    page.wait_for_function(f"() => !{_text('jsdata-streamtail')}.includes('paused')",
                           timeout=30_000)
    box = tail.locator("input[type=text]").first
    box.fill("shop.orders.check")
    box.press("Enter")
    page.wait_for_function(f"() => {_text('jsdata-streamtail')}.includes('(no messages)')",
                           timeout=30_000)
    say("tail paused, resumed, and filtered to shop.orders.check from the page")


def _write_from_another_process(nats_url: str, tmp: Path, say: Callable[[str], None]) -> None:
    out = subprocess.run([sys.executable, "-c", WRITER], env=_env(tmp, nats_url),
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, f"writer failed: {out.stderr[-2000:]}"
    say("another process wrote an order, two keys, an object, a consumer and a stream")


def _check_followed(page: Any, seen: dict[str, Any], say: Callable[[str], None]) -> None:
    follows = {
        "jsdata-streammonitor": "t.includes('auditor')",
        "jsdata-streamtail": f"t.includes('{MARK_ORDER:,}') || t.includes('{MARK_ORDER}')",
        "jsdata-kvwatcher": "t.includes('prices.browser_check') && t.includes('42.00')"
                            " && t.includes(\"<script>alert('x')</script>\")",
        "jsdata-objectstorebrowser": "t.includes('daily/browser-check.bin')",
        "jsdata-dashboard": "t.includes('BROWSER_CHECK') && t.includes('auditor')",
    }
    for cls, cond in follows.items():
        page.wait_for_function(
            f"() => {{ const w = document.querySelector('.jp-OutputArea-output .{cls}');"
            f" if (!w) return false; const t = w.innerText; return !!({cond}); }}",
            timeout=30_000)
        seen.setdefault("after", {})[cls] = page.evaluate(_text(cls))
        say(f"{cls} followed the other process")
    box = page.locator(".jp-OutputArea-output .jsdata-streamtail input[type=text]").first
    box.fill("shop.orders.*")  # every region again, for the screenshot
    box.press("Enter")
    page.wait_for_function(
        f"() => {{ const t = {_text('jsdata-streamtail')}; return t.includes('shop.orders.us')"
        " || t.includes('shop.orders.apac'); }", timeout=30_000)
    # the <script> value is text in the page, not an element
    n_scripts = page.evaluate(
        "() => document.querySelectorAll('.jp-OutputArea-output script').length")
    assert n_scripts == 0, "a value became a script element"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shots", default=str(SHOTS), help="directory for the PNGs")
    ap.add_argument("--chromium", default=CHROMIUM)
    ap.add_argument("--nats-url", help="use this server (default: a throwaway one)")
    ap.add_argument("--settle", type=float, default=0.0,
                    help="seconds to let the charts fill before the screenshots")
    ap.add_argument("--keep-open", action="store_true",
                    help="leave JupyterLab running after the check until Ctrl-C")
    args = ap.parse_args()
    if not Path(args.chromium).exists():
        print(f"chromium not found at {args.chromium}: apt-get install -y chromium",
              file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    import jsdata

    srv = None
    url = args.nats_url
    tmp = Path(tempfile.mkdtemp(prefix="jsdata-browser-srv-"))
    try:
        if url is None:
            srv = jsdata.EmbeddedServer(store_dir=str(tmp / "store"))
            srv.start()
            url = srv.url
            log(f"nats-server at {url}")
        check_widgets(url, Path(args.shots).resolve(), chromium=args.chromium,
                      keep_open=args.keep_open, settle=args.settle)
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("browser check: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
