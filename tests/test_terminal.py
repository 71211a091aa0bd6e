"""A terminal opened in JupyterLab started by ``./lab start`` runs the lab's Python, so every command the
README, the guide and the notebooks print (``python -m mrl_lab check ...``, ``python benchmarks/...``) works
as printed. Started without a terminal of its own, JupyterLab opens login shells, which reset PATH."""

import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_jupyterlab_terminal_runs_the_labs_python(tmp_path):
    if not (REPO / ".venv" / "bin" / "jupyter").exists():
        pytest.skip("no .venv here: ./lab start (or ./lab test) creates it")
    from tornado.ioloop import IOLoop
    from tornado.websocket import websocket_connect

    port, token = free_port(), "mrl-lab-terminal-test"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # a PATH without the lab's Python, as a new user has
    server = subprocess.Popen([str(REPO / "lab"), "start", "--no-browser", f"--port={port}",
                               f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):  # the first start may install packages
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                time.sleep(1)
        request = urllib.request.Request(f"{base}/api/terminals?token={token}", method="POST", data=b"")
        name = json.load(urllib.request.urlopen(request, timeout=10))["name"]

        async def run_in_terminal() -> str:
            ws = await websocket_connect(f"ws://127.0.0.1:{port}/terminals/websocket/{name}?token={token}")
            command = "python -c 'import sys, mrl_lab; print(\"LAB\", sys.prefix)'\r"
            ws.write_message(json.dumps(["stdin", command]))
            seen, deadline = "", time.time() + 60
            while not re.search(r"LAB \S+\r?\n", seen) and time.time() < deadline:  # the whole line: it may
                # arrive in pieces, "LAB " in one message and the path in the next
                message = await ws.read_message()
                if message is None:
                    break
                kind, *payload = json.loads(message)
                seen += payload[0] if kind == "stdout" and payload else ""
            ws.close()
            return seen

        seen = IOLoop.current().run_sync(run_in_terminal, timeout=90)
        printed = re.search(r"LAB (\S+)\r?\n", seen)
        assert printed, f"the terminal never printed the lab's Python: {seen[-1000:]!r}"
        assert Path(printed[1]).resolve() == (REPO / ".venv").resolve(), seen[-1000:]
    finally:
        server.terminate()
        server.wait(timeout=30)
