"""One real browser: the app served on 127.0.0.1, driven by Playwright through Debian's Chromium.

Never `playwright install` (it downloads a browser); the system Chromium is installed by `.ci/run`
(`apt-get install -y chromium`), and this test skips with the reason where it is absent.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SAMPLE = ROOT / "data" / "samples" / "synthpose_1.jpg"
pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed (apt-get install -y chromium)"),
    pytest.mark.skipif(not (ROOT / "data" / "synthpose_lite0_rle.pt").exists(), reason="no shipped checkpoint in data/"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve():
    """Start `streamlit run app/main.py` on a free port; yield its address, stop it after."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"), "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"streamlit did not start: {server.stderr.read()[-2000:] if server.poll() is not None else 'no health'}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def app_url():
    """One server for the pages' tests (each opens its own browser page, so no state carries between them)."""
    yield from serve()


@pytest.fixture
def fresh_app_url():
    """A server no visitor has opened yet: its first page pays the imports, as a teacher's first visitor does."""
    yield from serve()


@pytest.fixture(scope="module")
def chromium():
    """One Chromium for the module (a launch costs seconds); each test opens its own pages."""
    from playwright import sync_api
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser(chromium):
    """The shared Chromium; the pages a test opened are closed after it (their app sessions end with them)."""
    yield chromium
    for context in chromium.contexts:
        context.close()


@pytest.fixture
def shots(tmp_path):
    """Where the screenshots go: RLELAB_SCREENSHOTS=docs writes the pictures of the README and the book."""
    folder = Path(os.environ.get("RLELAB_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def upload(browser, app_url, picture, height, address="pose", title="Pose and per-joint sigma"):
    """A new page on "Pose and sigma" (or another page with a picture) with ``picture`` uploaded."""
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.goto(f"{app_url}/?page={address}", timeout=60_000)
    page.get_by_text(title).wait_for(timeout=120_000)
    page.get_by_text("upload", exact=True).click()
    # the uploader appears after the app's rerun: on a loaded machine that took over Playwright's 30 s default
    page.locator("input[type=file]").wait_for(state="attached", timeout=120_000)
    page.locator("input[type=file]").set_input_files(str(picture))
    return page


def test_upload_a_picture_and_see_the_sigma_overlay(app_url, browser, shots):
    page = upload(browser, app_url, SAMPLE, 1250)
    page.get_by_text("confidence c (Eq. 9)").wait_for(timeout=120_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot path').length > 17", timeout=60_000)
    assert page.locator("[data-testid=stException]").count() == 0
    page.screenshot(path=str(shots / "app_pose.png"), full_page=True)
    assert (shots / "app_pose.png").stat().st_size > 20_000


REAL_PHOTO = ROOT.parent / "shared" / "data" / "real-samples" / "coco" / "000000000785.jpg"


def test_a_photo_gets_the_warning_its_person_found_and_a_box_drawn_with_the_mouse(app_url, browser, shots):
    """An upload is a photograph: the page says the shipped model never saw one before anything else; MediaPipe
    finds the person (where it is installed); a box dragged on the picture (plotly's box selection) replaces it."""
    from rlelab import detect

    page = upload(browser, app_url, REAL_PHOTO if REAL_PHOTO.exists() else SAMPLE, 1450)  # any upload is a photo
    page.get_by_text("This model has never seen a photograph").wait_for(timeout=120_000)
    if detect.available():
        page.get_by_text("People found by MediaPipe's pose detector: 1").wait_for(timeout=120_000)
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot path').length > 17", timeout=60_000)
        page.wait_for_timeout(500)  # the last chart's paint
        page.screenshot(path=str(shots / "app_real_photo.png"), full_page=True)
    else:
        page.get_by_text("No person box yet").wait_for(timeout=60_000)
    drag = page.locator(".js-plotly-plot .nsewdrag").first
    drag.wait_for(timeout=60_000)
    area = drag.bounding_box()
    x0, y0 = area["x"] + 0.40 * area["width"], area["y"] + 0.08 * area["height"]
    x1, y1 = area["x"] + 0.80 * area["width"], area["y"] + 0.92 * area["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for t in (0.25, 0.5, 0.75, 1.0):
        page.mouse.move(x0 + t * (x1 - x0), y0 + t * (y1 - y0))
    page.mouse.up()
    page.get_by_text("Person boxes drawn on the picture: 1").wait_for(timeout=120_000)
    assert page.locator("[data-testid=stException]").count() == 0


def test_compare_puts_mediapipe_beside_the_models_on_a_photo(app_url, browser, shots):
    """A real COCO sample on Compare: one warning for both drawn-figure models, MediaPipe's column beside them,
    each with its OKS to the annotated skier."""
    from rlelab import detect

    if not detect.available() or not REAL_PHOTO.exists():
        pytest.skip("needs mediapipe and the real COCO samples in ../shared")
    page = browser.new_page(viewport={"width": 1400, "height": 1450})
    page.goto(f"{app_url}/?page=compare", timeout=60_000)
    page.get_by_text("L1 against RLE, same picture").wait_for(timeout=120_000)
    page.locator("[data-testid=stMain] [data-testid=stSelectbox]").filter(has_text="sample").locator("input").click()
    page.keyboard.type(REAL_PHOTO.name)
    page.keyboard.press("Enter")
    page.get_by_text("MediaPipe (reference)").wait_for(timeout=120_000)
    page.get_by_text("Neither model has ever seen a photograph").wait_for(timeout=60_000)
    page.get_by_text("mean OKS to the annotated people").nth(2).wait_for(timeout=120_000)  # the three columns
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=120_000)
    page.wait_for_timeout(500)
    assert page.locator("[data-testid=stException]").count() == 0
    page.screenshot(path=str(shots / "app_compare_photo.png"), full_page=True)


def test_the_first_page_is_complete_at_once_for_every_visitor(fresh_app_url, browser, shots):
    """The densities page opens on precomputed fits (data/app_toy_fits.pt): every visitor sees the three KLs
    and the density maps without a training bar (training them took 17 s on 2 cores, the first visitor's
    whole page now takes ~6 s to the numbers with the server's imports, later visitors ~2 s)."""
    times = []
    for visitor in range(2):
        page = browser.new_context(viewport={"width": 1400, "height": 1500}).new_page()
        start = time.perf_counter()
        page.goto(fresh_app_url, timeout=60_000)
        page.get_by_text("KL(true || laplace)").wait_for(timeout=120_000)
        numbers = time.perf_counter() - start
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=60_000)
        times.append((numbers, time.perf_counter() - start))
        assert page.get_by_text("training RLE").count() == 0
        assert page.locator("[data-testid=stException]").count() == 0
    page.screenshot(path=str(shots / "app_densities.png"), full_page=True)
    print("first page: " + "; ".join(f"visitor {i + 1}: numbers {a:.2f} s, charts {b:.2f} s" for i, (a, b) in enumerate(times)))
    assert all(numbers < 12 for numbers, _ in times)  # a page that trained would take 17 s more


@pytest.mark.parametrize("address, ready, charts, height", [("eq8", "Eq. 8 (their sum)", 1, 1300), ("compare", "RLE", 2, 1300),
                                                            ("lifting", "error std along the depth", 2, 1300),
                                                            ("cover", "per joint: moved, and σ̂ clean and covered", 3, 1500),
                                                            ("oct", "RLE", 1, 1100)])
def test_every_other_page_draws_without_an_error(app_url, browser, shots, address, ready, charts, height):
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.goto(f"{app_url}/?page={address}", timeout=60_000)
    page.get_by_text(ready, exact=True).first.wait_for(timeout=120_000)
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {charts}", timeout=120_000)
    page.wait_for_timeout(500)  # the last chart's paint
    assert page.locator("[data-testid=stException]").count() == 0
    assert page.get_by_text("Explained in lab").count() == 1
    page.screenshot(path=str(shots / f"app_{address}.png"), full_page=True)
