"""Check the KVWatcher widget in a real browser: JupyterLab + Chromium driven by Playwright.

Starts a throwaway nats-server and a headless JupyterLab on loopback, writes a notebook that
displays a ``KVWatcher``, opens it in Debian's chromium (``/usr/bin/chromium``) through
Playwright's Python package, runs the cells, changes keys from a separate blocking
connection, and asserts that the table rendered in the page follows. Saves a screenshot
(default ``docs/img/kvwatcher.png``). Run by hand, not part of the test suite::

    apt-get install -y chromium
    .venv/bin/pip install jupyterlab playwright      # never `playwright install`
    .venv/bin/python scripts/browser_check.py

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jsdata  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

BUCKET = "browser_check"

CELLS = [
    "import jsdata\n"
    "from jsdata.widgets import KVWatcher\n"
    "js = jsdata.connect()  # JSDATA_URL: the check's server\n"
    f"kv = js.key_value({BUCKET!r})",
    "w = KVWatcher(kv)\nw",
]


def log(msg: str) -> None:
    print(f"[browser-check] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_notebook(path: Path) -> None:
    nb = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"cell{i}",
                   "metadata": {}, "outputs": [], "source": src}
                  for i, src in enumerate(CELLS)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))


def start_jupyter(workdir: Path, port: int, token: str, env: dict[str, str]
                  ) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={workdir}", "--ServerApp.open_browser=False",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    logf = open(workdir / "jupyter.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=logf, stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_http(url: str, timeout: float) -> None:
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
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGINT)  # jupyter shuts kernels down on SIGINT (asks twice)
        time.sleep(0.3)
        os.killpg(p.pid, signal.SIGINT)
        p.wait(15)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(5)


def widget_text_js() -> str:
    # The innerText of the KVWatcher's table in the output area ('' while not rendered).
    return ("() => { const t = document.querySelector('.jp-OutputArea-output "
            "table.jsdata-grid'); return t ? t.innerText : ''; }")


def run_check(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    shot = Path(args.screenshot).resolve()
    shot.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="jsdata-browser-"))
    srv = jsdata.EmbeddedServer(store_dir=str(tmp / "store"))
    jupyter: subprocess.Popen[bytes] | None = None
    js = None
    try:
        srv.start()
        log(f"nats-server at {srv.url}")
        js = jsdata.connect(srv.url)
        kv = js.create_key_value(bucket=BUCKET)
        kv.put("greeting", b"hello")
        kv.put("sue.color", b"blue")

        work = tmp / "lab"
        work.mkdir()
        write_notebook(work / "kvwatcher.ipynb")
        port, token = free_port(), secrets.token_hex(16)
        env = {**os.environ, "JSDATA_URL": srv.url, "JSDATA_HOME": str(tmp / "home"),
               "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               "JUPYTER_CONFIG_DIR": str(tmp / "jcfg"),
               "JUPYTER_RUNTIME_DIR": str(tmp / "jrt"), "IPYTHONDIR": str(tmp / "ipy"),
               "JUPYTERLAB_SETTINGS_DIR": str(tmp / "jsettings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "jws")}
        # no "official Jupyter news?" prompt over the screenshot (and no fetch of it)
        notif = tmp / "jsettings" / "@jupyterlab" / "apputils-extension"
        notif.mkdir(parents=True)
        (notif / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        jupyter = start_jupyter(work, port, token, env)
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/status?token={token}", 60)
        log(f"JupyterLab at {base}")

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS,
                                         headless=True)
            page = browser.new_page(viewport={"width": 1200, "height": 760})
            page.goto(f"{base}/lab/tree/kvwatcher.ipynb?token={token}",
                      wait_until="domcontentloaded")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.wait_for_function(
                "() => window.jupyterapp && document.querySelector('.jp-Notebook') && "
                "[...document.querySelectorAll('.jp-Notebook-ExecutionIndicator, "
                ".jp-KernelStatus, .jp-Toolbar-kernelStatus')].length >= 0",
                timeout=60_000)
            # wait until a kernel is connected to the notebook, then run every cell
            page.wait_for_function(
                "() => { const w = window.jupyterapp.shell.currentWidget;"
                " return !!(w && w.sessionContext && w.sessionContext.session &&"
                " w.sessionContext.session.kernel &&"
                " w.sessionContext.session.kernel.connectionStatus === 'connected'); }",
                timeout=90_000)
            log("notebook open, kernel connected; running all cells")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

            page.wait_for_function(
                f"() => ({widget_text_js()})().includes('hello')", timeout=90_000)
            first = page.evaluate(f"({widget_text_js()})()")
            log(f"widget rendered: {first!r}")
            assert "greeting" in first and "sue.color" in first and "blue" in first

            # change keys from a separate blocking connection
            with jsdata.connect(srv.url) as other:
                okv = other.key_value(BUCKET)
                okv.put("greeting", b"bonjour")
                okv.put("bob.color", b'{"r": 255, "g": 0, "b": 0}')
                okv.delete("sue.color")
                okv.put("note", b"<script>alert('x')</script>")
            page.wait_for_function(
                f"() => {{ const t = ({widget_text_js()})(); return t.includes('bonjour')"
                " && t.includes('bob.color') && !t.includes('sue.color')"
                " && t.includes(\"<script>alert('x')</script>\"); }", timeout=30_000)
            after = page.evaluate(f"({widget_text_js()})()")
            log(f"widget followed the changes: {after!r}")
            assert after != first
            assert '{"r":255,"g":0,"b":0}' in after
            # the <script> value is text in the page, not an element
            n_scripts = page.evaluate(
                "() => document.querySelectorAll('.jp-OutputArea-output script').length")
            assert n_scripts == 0, "a value became a script element"

            out = page.locator(".jp-Notebook")
            out.screenshot(path=str(shot))
            log(f"screenshot saved to {shot}")
            if args.keep_open:
                log(f"--keep-open: {base}/lab?token={token} ; Ctrl-C to finish")
                try:
                    while True:
                        time.sleep(1)
                except KeyboardInterrupt:
                    pass
            # stop the widget and shut the kernel down before leaving
            page.evaluate(
                "async () => { const w = window.jupyterapp.shell.currentWidget;"
                " await w.sessionContext.session.kernel.requestExecute("
                "{code: 'w.close(); js.close()'}).done;"
                " await w.sessionContext.shutdown(); }")
            browser.close()
    finally:
        if js is not None:
            js.close()
        if jupyter is not None:
            stop_process(jupyter)
        srv.stop()
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--screenshot", default=str(ROOT / "docs" / "img" / "kvwatcher.png"))
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--keep-open", action="store_true",
                    help="leave JupyterLab running after the check until Ctrl-C")
    ap.add_argument("--keep-tmp", action="store_true",
                    help="keep the temp dir (notebook, jupyter.log)")
    args = ap.parse_args()
    if not Path(args.chromium).exists():
        print(f"chromium not found at {args.chromium}: apt-get install -y chromium",
              file=sys.stderr)
        return 2
    run_check(args)
    print("browser check: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
