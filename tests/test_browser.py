"""Real-browser tests: JupyterLab on 127.0.0.1 driven through Debian's chromium with playwright.

Chromium comes from apt (installed here when missing, as root); playwright never downloads a
browser.  The only reason to skip is that chromium is missing and cannot be installed (no root,
or apt cannot reach the Debian archive); the skip message says which.  On failure a screenshot
is written to ``build/browser-<test>.png``.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import NOTEBOOK_DIR, ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-dev-shm-usage"]
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
UNREACHABLE = ("Could not resolve", "Failed to fetch", "Temporary failure resolving",
               "Unable to connect", "Connection timed out", "Network is unreachable")


def ensure_chromium() -> str:
    """Path of Debian's chromium, installing it with apt-get if missing (skip only if impossible)."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is missing and this system has no apt-get to install it")
    if os.geteuid() != 0:
        pytest.skip("chromium is missing; install it as root: apt-get install chromium")
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "-o", "Acquire::Retries=2"]
    upd = subprocess.run(apt + ["update", "-qq"], env=APT_ENV, capture_output=True, text=True,
                         timeout=600)
    out = upd.stdout + upd.stderr
    if upd.returncode != 0 or any(s in out for s in UNREACHABLE):
        if any(s in out for s in UNREACHABLE):
            pytest.skip(f"chromium is missing and apt cannot reach the Debian archive: "
                        f"{out.strip().splitlines()[-1]}")
        pytest.fail(f"apt-get update failed:\n{out}")
    inst = subprocess.run(apt + ["install", "-y", "-qq", "chromium"], env=APT_ENV,
                          capture_output=True, text=True, timeout=900)
    if inst.returncode != 0:
        text = inst.stdout + inst.stderr
        if any(s in text for s in UNREACHABLE):
            pytest.skip(f"apt cannot reach the Debian archive: {text.strip().splitlines()[-1]}")
        pytest.fail(f"apt-get install chromium failed:\n{text}")
    assert os.path.exists(CHROMIUM), "apt installed chromium but /usr/bin/chromium is missing"
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    path = ensure_chromium()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = None
    try:
        b = pw.chromium.launch(executable_path=path, args=LAUNCH_ARGS)
        yield b
    finally:
        if b is not None:
            b.close()
        pw.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 over a scratch copy of notebooks/ (the repo stays clean)."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    shutil.copytree(NOTEBOOK_DIR, root / "notebooks", ignore=shutil.ignore_patterns("src"))
    settings = base / "settings"
    for plugin, values in {
        "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                        "checkForUpdates": False},
        "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": False},
    }.items():
        f = settings / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))
    env = dict(os.environ, VMAPSIM_FAST="1", JUPYTER_CONFIG_DIR=str(base / "config"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(settings))
    token, port = secrets.token_hex(16), _free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(base / "lab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
                break
            except Exception:
                if proc.poll() is not None or time.time() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start:\n" + (base / "lab.log").read_text()[-3000:])
                time.sleep(0.3)
        yield {"url": url, "token": token, "root": root}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


@pytest.fixture
def page(browser, request):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    try:
        yield pg
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            shot = ROOT / "build" / f"browser-{request.node.name}.png"
            shot.parent.mkdir(exist_ok=True)
            try:
                pg.screenshot(path=str(shot), full_page=True)
                print(f"screenshot: {shot}")
            except Exception as exc:  # a dead page must not hide the real failure
                print(f"no screenshot: {exc}")
        ctx.close()


KERNEL_IDLE = """() => {
  const app = window.jupyterapp; if (!app) return false;
  const w = app.shell.currentWidget; if (!w || !w.sessionContext) return false;
  const s = w.sessionContext.session; const k = s && s.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""


def test_overview_slider_recomputes_plot_and_text(lab, page):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)   # kernel start + run-all on a busy 2-core machine

    from vmapsim.review import overview

    page.goto(f"{lab['url']}/lab/tree/notebooks/00-overview.ipynb?token={lab['token']}")
    page.wait_for_function(KERNEL_IDLE)
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    interact = page.locator(".widget-interact").first
    start = overview.vmap_node_geometry(cpus=8, design="linux-6.18").line()
    expect(interact).to_contain_text("controls: cpus=8, design=linux-6.18")
    expect(interact).to_contain_text(start)
    img = interact.locator("img").first
    img.wait_for()
    before = img.get_attribute("src")

    handle = interact.locator(".noUi-handle").first
    handle.focus()
    for _ in range(4):                      # each key press is one kernel round trip
        handle.press("ArrowLeft")
    after_line = overview.vmap_node_geometry(cpus=4, design="linux-6.18").line()
    expect(interact).to_contain_text("controls: cpus=4, design=linux-6.18")
    expect(interact).to_contain_text(after_line)
    expect(interact).not_to_contain_text(start)
    page.wait_for_function(KERNEL_IDLE)
    after = interact.locator("img").first.get_attribute("src")
    assert after and before and after != before, "the plot did not change"
    assert after_line != start


def test_exported_page_makes_no_network_request(browser, executed_or_fail, tmp_path):
    from vmapsim.export import SNAPSHOT, to_html

    html = tmp_path / "00-overview.html"
    html.write_text(to_html(executed_or_fail("00-overview"), title="00-overview"))
    ctx = browser.new_context()
    try:
        pg = ctx.new_page()
        requests = []
        pg.on("request", lambda r: requests.append(r.url))
        pg.goto(html.as_uri())
        pg.wait_for_load_state("networkidle")
        assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
        assert pg.locator(f"text={SNAPSHOT}").count() == 2   # the overview has two widgets
        sizes = pg.evaluate("Array.from(document.images).map(i => [i.naturalWidth, i.complete])")
        assert sizes and all(w > 0 and ok for w, ok in sizes), sizes
    finally:
        ctx.close()
