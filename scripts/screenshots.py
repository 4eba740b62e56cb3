"""Screenshots for the README: the dashboard on the bundled sample and its report.

    python scripts/screenshots.py [--chromium /usr/bin/chromium]

Writes docs/images/dashboard.png and docs/images/report.png (needs Playwright and a
Chromium; the dashboard runs on a free local port for the duration).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "reprdynamics.cli", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        origin = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{origin}/api/runs", timeout=2).close()
                break
            except OSError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.html"
            subprocess.run(
                [sys.executable, "-m", "reprdynamics.cli", "report", "--out", str(report)],
                check=True,
            )
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=args.chromium, args=["--headless", "--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.goto(origin + "/")
                page.wait_for_function("() => window.__rd && window.__rd.state.fp !== null")
                page.wait_for_function("() => window.__rd.idle()")
                page.wait_for_timeout(1500)
                page.screenshot(path=OUT / "dashboard.png")
                page.goto(report.as_uri() + "#run-0-fingerprints")
                page.wait_for_timeout(2500)
                page.screenshot(path=OUT / "report.png")
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    print(f"wrote {OUT / 'dashboard.png'} and {OUT / 'report.png'}")


if __name__ == "__main__":
    main()
