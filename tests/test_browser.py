"""A learner's run through every notebook with a dashboard, in a real browser.

Starts JupyterLab on a free loopback port (token on, settings and runtime files in a temporary
folder) on copies of the notebooks (Lab saves what it runs), opens each in Debian's Chromium
through Playwright, runs it with Run > Run All Cells, checks that no cell shows an error, photographs
the diagrams and the exercise checker, solves 00's first exercise as a learner would (the checker
then says "correct"), moves one slider of each dashboard and checks that the numbers and the chart
change. Screenshots go to
``test-artifacts/browser/``. Lab is stopped by its PID at the end. Runs at the budget in
``MRL_LAB_BUDGET`` (``./lab test`` sets ``smoke``).
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
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("MRL_LAB_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "test-artifacts" / "browser"
# Notebooks with a dashboard, and a text each shows next to its numbers. Only these run in the browser: nbval
# runs every notebook, and each browser run costs one to two minutes of CI's fifteen.
DASHBOARDS = {
    "00_quickstart.ipynb": "Cut to the first",
    "01_cifar10.ipynb": "Storage at d =",
    "02_text.ipynb": "of its full-width top-5",
    "03_pretrained_text.ipynb": "of its full-width top-5",
}
NOTEBOOKS = sorted(DASHBOARDS)

# Outputs to find and photograph: (a text the output shows, the screenshot's name). Plotly draws
# titles as SVG text, which counts.
FIGURES = {
    "00_quickstart.ipynb": [("Which features each head reads", "nesting-diagram"), ("truncate: not yet.", "checker")],
    "04_adaptive.ipynb": [("Adaptive retrieval as it is served", "funnel-diagram")],
}
# Where a cell's errors (and warnings) are shown.
STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
# What a learner types into 00's first scaffold; the checker must then say "correct".
SOLUTION = "def my_truncate(z, d):\n    return F.normalize(z[:, :d], dim=1)\n\n\ncheck_truncate(my_truncate)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's package (apt install chromium) to run this test")
    tmp = tmp_path_factory.mktemp("jupyterlab")
    work = tmp / "lab"  # Lab saves notebooks it runs: give it copies, never the repository's files
    shutil.copytree(REPO / "notebooks", work / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port, token = _free_port(), secrets.token_hex(16)
    notification = tmp / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text('{"fetchNews": "false"}')  # no "Jupyter news?" pop-up over the screenshots
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        MRL_LAB_BUDGET=os.environ.get("MRL_LAB_BUDGET", "smoke"),
    )
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
    ] + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])  # fmt: skip
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"JupyterLab exited: {(tmp / 'lab.log').read_text()[-2000:]}") from None
                time.sleep(0.5)
        else:
            raise RuntimeError(f"JupyterLab did not answer in 60 s: {(tmp / 'lab.log').read_text()[-2000:]}")
        yield url, token
    finally:
        os.kill(proc.pid, signal.SIGTERM)  # stop Lab by its PID
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def _kernel_idle(page, timeout_s: float) -> None:
    """Wait for the status bar to say the notebook's kernel is connected and idle."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-StatusBar-Widget')].some(e => e.innerText.includes('| Idle'))",
        timeout=timeout_s * 1000,
        polling=500,
    )


def _shut_down_kernels(url: str, token: str) -> None:
    """Stop every kernel this Lab started (through its REST API), so notebooks do not pile up in memory."""
    headers = {"Authorization": f"token {token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{url}/api/kernels", headers=headers), timeout=10) as r:
        kernels = json.load(r)
    for kernel in kernels:
        request = urllib.request.Request(f"{url}/api/kernels/{kernel['id']}", headers=headers, method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()


def _run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def _finished(page, timeout_s: float) -> None:
    """Wait until every code cell has an execution number (none is queued or running), or until a cell shows
    an error: Run All stops there, so the cells below it would never be numbered."""
    page.wait_for_function(
        f"""() => {{
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            const failed = [...document.querySelectorAll("{STDERR}")].some(e => /Error|Traceback/.test(e.textContent));
            return failed || (prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)));
        }}""",
        timeout=timeout_s * 1000,
        polling=1000,
    )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_notebook_runs_in_a_browser_and_its_dashboard_responds(lab, browser, name):
    url, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # A workspace of its own per notebook, so Lab does not restore the previous notebook's tab.
        page.goto(f"{url}/lab/workspaces/{Path(name).stem}/tree/notebooks/{name}?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=90_000)
        _kernel_idle(page, timeout_s=120)  # Run All before the kernel is connected would run nothing
        _run_all(page)
        _finished(page, timeout_s=600)
        _kernel_idle(page, timeout_s=60)
        # textContent, not innerText: Lab skips rendering cells off screen, and their innerText is empty
        errors = [t for t in (e.text_content() for e in page.locator(STDERR).all()) if "Error" in t or "Traceback" in t]
        assert not errors, f"{name}: a cell shows an error:\n" + "\n---\n".join(t[-1500:] for t in errors)
        for text, shot in FIGURES.get(name, []):
            output = page.locator(".jp-OutputArea-output", has_text=text).first
            output.scroll_into_view_if_needed(timeout=30_000)
            output.screenshot(path=str(ARTIFACTS / f"{Path(name).stem}-{shot}.png"))
        if name == "00_quickstart.ipynb":
            _solve_the_first_exercise(page)
        if name not in DASHBOARDS:
            page.screenshot(path=str(ARTIFACTS / f"{Path(name).stem}.png"))
            return
        board = page.locator(".jp-OutputArea-output", has=page.locator(".widget-slider")).first
        board.scroll_into_view_if_needed(timeout=30_000)
        page.wait_for_timeout(1000)
        before_text = board.inner_text()  # the dashboard's own output: its numbers, and the chart where it has one
        assert DASHBOARDS[name] in before_text, f"{name}: the dashboard did not render its numbers"
        titles = board.locator(".js-plotly-plot .gtitle")
        before_title = titles.first.text_content() if titles.count() else None
        board.screenshot(path=str(ARTIFACTS / f"{Path(name).stem}-before.png"))
        handle = board.locator(".widget-slider .noUi-handle").first
        handle.focus()
        for _ in range(2):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "([el, old]) => el.innerText !== old", arg=[board.element_handle(), before_text], timeout=60_000
        )
        page.wait_for_timeout(2000)  # let the chart redraw
        board.screenshot(path=str(ARTIFACTS / f"{Path(name).stem}-after.png"))
        assert board.inner_text() != before_text
        if before_title is not None:
            assert titles.first.text_content() != before_title, f"{name}: the chart did not change with the slider"
    finally:
        page.close()
        _shut_down_kernels(url, token)


def _solve_the_first_exercise(page) -> None:
    """Type the solution into the scaffold, as a learner would, run the cell: the checker says correct."""
    cell = page.locator(".jp-CodeCell", has_text="def my_truncate").first
    cell.scroll_into_view_if_needed(timeout=30_000)
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(SOLUTION)  # inserted as is: no auto-indent
    page.keyboard.press("Shift+Enter")
    cell.locator(".jp-OutputArea-output", has_text="truncate: correct.").wait_for(timeout=60_000)
    cell.screenshot(path=str(ARTIFACTS / "00_quickstart-checker-solved.png"))
