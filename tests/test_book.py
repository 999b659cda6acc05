"""The book (docs/conf.py): built from the stored outputs into a temporary folder with warnings as errors, every
lab a page with its figures, typeset math and folded solutions, no broken internal link (linkchecker, offline),
and its home page and one lab seen in Chromium."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted(p.stem for p in (ROOT / "labs").glob("*.ipynb"))
pytest.importorskip("myst_nb", reason="the book needs the docs extra: pip install -e \".[docs]\"")
pytest.importorskip("sphinx_book_theme", reason="the book needs the docs extra: pip install -e \".[docs]\"")


@pytest.fixture(scope="module")
def book():
    # a folder others may read: linkchecker run as root reads as the user nobody
    top = Path(tempfile.mkdtemp(prefix="rlelab-book-"))
    os.chmod(top, 0o755)
    out = top / "html"
    try:
        done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-c", "docs", ".", str(out)],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]  # a warning (a broken reference, a missing picture) fails it
        yield out
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_every_lab_is_a_page_with_its_figures_math_and_folded_solutions(book):
    assert len(LABS) == 10
    for name in LABS:
        html = (book / "labs" / f"{name}.html").read_text()
        assert html.count("<img") >= 2, name  # its stored matplotlib figures
        assert "mathjax" in html.lower() and "<details>" in html, name  # typeset math, solutions folded away
        assert "glossary.html" in html and "?page=" in html, name  # its header: the symbols and its app page
    assert (book / "index.html").exists() and (book / "docs" / "glossary.html").exists()
    for page in ("docs/results/table-in-small", "docs/concepts/three-rle-formulas", "docs/guides/training", "CONTRIBUTING"):
        assert (book / f"{page}.html").exists(), page


def test_no_broken_internal_link(book):
    linkchecker = shutil.which("linkchecker") or str(Path(sys.executable).parent / "linkchecker")
    done = subprocess.run([linkchecker, "--no-status", "--no-warnings", str(book / "index.html")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and " 0 errors found" in done.stdout, done.stdout[-3000:]
    checked = int(done.stdout.split(" links in ")[0].rsplit(None, 1)[-1])
    assert checked > 100, done.stdout[-500:]  # it followed the table of contents into the pages


def test_the_home_page_and_a_lab_in_chromium(book, tmp_path):
    """Screenshots: RLELAB_SCREENSHOTS=docs writes docs/book_home.png and docs/book_lab.png. The math is typeset by
    MathJax, from its CDN or, offline, from the folder RLELAB_MATHJAX names (docs/conf.py); without either, the lab
    page is checked to carry the math for it and the typesetting is not waited for."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("no Chromium (Debian's chromium package; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    folder = Path(os.environ.get("RLELAB_SCREENSHOTS", tmp_path))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto((book / "index.html").as_uri())
            page.wait_for_selector("text=Students")
            assert "rlelab" in page.title()
            page.screenshot(path=str(folder / "book_home.png"))
            page.goto((book / "labs" / "01_mle_view_of_l1_l2.html").as_uri())
            assert page.locator("img").count() >= 2 and page.locator(".math").count() > 5  # figures, math for MathJax
            if os.environ.get("RLELAB_MATHJAX"):
                page.wait_for_function("document.querySelectorAll('mjx-container').length > 5", timeout=30_000)  # typeset
            page.screenshot(path=str(folder / "book_lab.png"))
        finally:
            browser.close()
