"""The README's screenshot of the model-in-operation page, made from a real demo.

Runs ``modelcycle demo`` in a fresh folder (train, serve, shifted traffic, drift alerts,
labels, retrain), serves its workspace with ``modelcycle ui``, signs in with the
workspace's admin key in headless Chromium (Debian's ``/usr/bin/chromium``) and saves
the page ``/models/<model>/operation`` as ``docs/images/model-in-operation.png``.

Run from the repository root (about two minutes)::

    .venv/bin/python scripts/readme_screenshot.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "images" / "model-in-operation.png"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def modelcycle(*args: str, cwd: Path) -> str:
    """Run the CLI; return its stdout (a failure stops the script with its error)."""
    done = subprocess.run(
        [sys.executable, "-m", "modelcycle", *args], cwd=cwd, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"modelcycle {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=TARGET)
    parser.add_argument("--budget", type=float, default=15.0)
    options = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="mc-screenshot-") as folder:
        here = Path(folder)
        summary = json.loads(
            modelcycle("demo", "--budget", str(options.budget), "--json", "-o", "out", cwd=here)
        )
        model = str(summary.get("model", "health-insurance"))
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "modelcycle", "ui", "--port", str(port)],
            cwd=here,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(base + "/login").status_code == 200:
                        break
                time.sleep(0.3)
            key = (here / ".modelcycle" / "admin.key").read_text().strip()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", headless=True
                )
                page = browser.new_page(viewport={"width": 1366, "height": 1000})
                page.goto(base + "/login")
                page.fill("#key", key)
                page.click("button[type=submit]")
                page.wait_for_url("**/runs")
                page.goto(f"{base}/models/{model}/operation", wait_until="networkidle")
                options.output.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(options.output), full_page=False)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(f"wrote {options.output}")


if __name__ == "__main__":
    main()
