"""Screenshots of the app's pages for the README: python docs/make_screenshots.py

Serves the app on 127.0.0.1, opens each page in Debian's Chromium through Playwright (never
`playwright install`) and writes docs/app_{densities,pose,compare}.png.
"""
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"densities": "KL(true || rle)", "pose": "confidence c (Eq. 9)", "compare": "right model"}


def main():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"), "--server.port", str(port),
                               "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            for name, ready in PAGES.items():
                page = browser.new_page(viewport={"width": 1400, "height": 1150})
                page.goto(f"http://127.0.0.1:{port}/?page={name}")
                page.get_by_text(ready).first.wait_for(timeout=300_000)
                page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0", timeout=120_000)
                page.wait_for_timeout(2000)  # let plotly finish drawing
                page.screenshot(path=str(ROOT / "docs" / f"app_{name}.png"))
                print(f"wrote docs/app_{name}.png")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
