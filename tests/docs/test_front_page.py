"""The docs' front page in a real (headless) chromium: the site built by ``mkdocs build``
shows every gallery picture (``docs/gallery/``, drawn by ``scripts/render_gallery.py``)
with its caption. A full-page screenshot is kept in ``test-artifacts/browser/front-page.png``
(and ``$NCA_ARTIFACTS/browser/`` where that is set).

Needs mkdocs (the ``[dev]`` extra), ``playwright`` and a chromium, as
``tests/play/test_browser.py`` does; skipped without them.
"""

import json
from pathlib import Path

import pytest

from tests.conftest import find_chromium, keep_artifact

ROOT = Path(__file__).resolve().parents[2]
GALLERY = ROOT / "docs" / "gallery"

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs playwright (pip install '.[browser]')"
)
CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium found: apt-get install chromium (or set NCA_CHROMIUM=/path/to/chrome)",
)


def _offline(route) -> None:
    """Only the built site's own files: the theme's web fonts are not fetched."""
    if route.request.url.startswith("file:"):
        route.continue_()
    else:
        route.abort()


def test_the_front_page_shows_the_gallery_in_a_real_browser(built_site, tmp_path):
    site, proc = built_site
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pictures = json.loads((GALLERY / "captions.json").read_text())["pictures"]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", _offline)
        page.goto((site / "index.html").as_uri(), wait_until="domcontentloaded")
        page.wait_for_function(
            "() => Array.from(document.images).every(i => i.complete)", timeout=30_000
        )
        images = page.evaluate(
            "() => Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])"
        )
        text = page.locator("article").inner_text()
        screenshot = tmp_path / "front-page.png"
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    kept = keep_artifact(screenshot, "browser")
    broken = [src for src, width in images if not width]
    assert not broken, f"pictures that do not load: {broken} (screenshot: {kept})"
    shown = {src for src, _ in images}
    assert {f"gallery/{p['file']}" for p in pictures} <= shown, (shown, kept)
    for picture in pictures:  # each caption names the command, the model and its budget
        assert picture["drawn_by"] in text and picture["training"]["command"] in text
    assert "nca play lizard" in text and "nca pretrained" in text
