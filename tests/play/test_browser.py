"""The viewer in a real (headless) chromium: damage a grown lizard, watch it regrow, reset;
the shipped ``lizard`` served by its name, as ``nca play lizard`` does.

Needs ``playwright`` (the ``[browser]`` extra; only its Python package: it drives the
system's chromium, nothing is downloaded) and a chromium: ``apt-get install chromium``
on Debian/Ubuntu, or set ``NCA_CHROMIUM=/path/to/chrome``. Skipped without them.
Screenshots are kept in ``test-artifacts/browser/``.
"""

import base64
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import find_chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
LIZARD = Path(__file__).parent / "data" / "grow-lizard-quick.pt"


sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs playwright (pip install '.[browser]')"
)
pytest.importorskip("aiohttp", reason="the viewer's server needs aiohttp ([play])")
CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium found: apt-get install chromium (or set NCA_CHROMIUM=/path/to/chrome)",
)


def _frame(page) -> torch.Tensor:
    """The page's last drawn frame as ``(H, W, 3)`` floats in [0, 1]."""
    frame = page.evaluate(  # base64: a JSON list of a 256x256 frame's bytes takes seconds
        "() => { const f = window.ncaViewer.lastFrame; let text = '';"
        " for (let i = 0; i < f.data.length; i += 8192)"
        "   text += String.fromCharCode.apply(null, f.data.subarray(i, i + 8192));"
        " return {w: f.width, h: f.height, data: btoa(text)}; }"
    )
    data = bytearray(base64.b64decode(frame["data"]))
    pixels = torch.frombuffer(data, dtype=torch.uint8).view(frame["h"], frame["w"], 4)
    return pixels[..., :3].float() / 255


def _wait(page, condition: str, timeout: float = 30.0) -> None:
    page.wait_for_function(condition, timeout=timeout * 1000)


def _set_range(page, selector: str, value) -> None:
    page.locator(selector).evaluate(
        "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }", value
    )


def _frames_after(page, count: int) -> None:
    """Wait until ``count`` more frames have been drawn."""
    seen = page.evaluate("() => window.ncaViewer.frames")
    _wait(page, f"() => window.ncaViewer.frames >= {seen + count}")


def test_damage_regrows_and_reset_restarts_in_a_real_browser():
    from nca.play.loader import load_play_target
    from nca.play.server import ViewerThread

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (
        ViewerThread(load_play_target(LIZARD)) as viewer,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1000, "height": 640})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(viewer.url)
        _wait(page, "() => window.ncaViewer.frames > 0 && window.ncaViewer.state")
        assert "grow · convca" in page.locator("#run").inner_text()

        # grow: 8 steps per frame until the lizard has had 200 steps
        _set_range(page, "#speed", 8)
        _wait(page, "() => window.ncaViewer.step >= 200")
        page.click("#pause")
        _wait(page, "() => window.ncaViewer.state.paused")
        _frames_after(page, 0)
        time.sleep(0.3)  # a frame under way when the pause arrived
        grown = _frame(page)
        grown_step = page.evaluate("() => window.ncaViewer.step")
        page.screenshot(path=str(ARTIFACTS / "grown.png"))
        height, width = grown.shape[:2]
        assert (grown < 0.9).any(dim=-1).float().mean() > 0.15  # a pattern, not a blank grid

        # damage: erase a disc at the centre by a mouse click. Radius 0.12 of the side (the
        # brush's default) is the article's training damage range; this 1000-iteration
        # model regrows it (about 0.2x the error after 80-120 steps) but regrows discs
        # of 0.2 only partly (0.7x)
        _set_range(page, "#radius", 0.12)
        frames = page.evaluate("() => window.ncaViewer.frames")
        box = page.locator("#grid").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        _wait(page, f"() => window.ncaViewer.frames > {frames}")
        damaged = _frame(page)
        page.screenshot(path=str(ARTIFACTS / "damaged.png"))
        rows = torch.arange(height).view(-1, 1) + 0.5
        cols = torch.arange(width).view(1, -1) + 0.5
        reach = 0.12 * min(height, width)
        disc = (rows - height / 2) ** 2 + (cols - width / 2) ** 2 <= reach**2
        assert (damaged[disc] == 1).all()  # erased: dead cells, white
        assert (grown[disc] < 0.9).any(dim=-1).float().mean() > 0.5  # the lizard was there
        assert torch.equal(damaged[~disc], grown[~disc])  # paused: nothing else changed
        assert page.evaluate("() => window.ncaViewer.step") == grown_step
        damage_error = (damaged[disc] - grown[disc]).abs().mean()

        # regrow: 96 more steps
        page.click("#pause")  # the button now says "play"
        _wait(page, f"() => window.ncaViewer.step >= {grown_step + 96}")
        page.click("#pause")
        _wait(page, "() => window.ncaViewer.state.paused")
        time.sleep(0.3)
        recovered = _frame(page)
        page.screenshot(path=str(ARTIFACTS / "recovered.png"))
        recovery_error = (recovered[disc] - grown[disc]).abs().mean()
        alive = lambda frame: (frame[disc] < 0.9).any(dim=-1).float().mean()  # noqa: E731
        numbers = {
            "damage": float(damage_error),
            "recovery": float(recovery_error),
            "alive_grown": float(alive(grown)),
            "alive_recovered": float(alive(recovered)),
        }
        assert recovery_error < 0.4 * damage_error, numbers
        assert alive(recovered) > 0.8 * alive(grown), numbers

        # reset: back to the single seed cell, step 0
        page.click("#reset")
        _wait(page, "() => window.ncaViewer.step === 0 && window.ncaViewer.state.step === 0")
        time.sleep(0.3)
        seed = _frame(page)
        page.screenshot(path=str(ARTIFACTS / "reset.png"))
        assert page.locator("#step").inner_text() == "step 0"
        assert (seed < 0.9).any(dim=-1).sum() <= 1  # one live cell on white
        assert not errors, errors
        browser.close()


def test_a_pretrained_name_grows_and_a_click_damages_it_in_a_real_browser():
    """``nca play lizard``: the shipped model, loaded by its name (whatever its training:
    the check is that frames arrive and a click erases cells, not how well it regrows)."""
    from nca.play.loader import load_play_target
    from nca.play.server import ViewerThread, connections_key

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (
        ViewerThread(load_play_target("lizard")) as viewer,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1000, "height": 640})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(viewer.url)
        _wait(page, "() => window.ncaViewer.frames > 2 && window.ncaViewer.state")
        assert page.locator("#run").inner_text() == "grow · convca · pretrained lizard"
        _set_range(page, "#speed", 8)
        _wait(page, "() => window.ncaViewer.step >= 48")
        page.click("#pause")
        _wait(page, "() => window.ncaViewer.state.paused")
        time.sleep(0.3)  # a frame under way when the pause arrived
        (connection,) = viewer.app[connections_key()]
        cells = connection.session.cells.clone()
        grown = _frame(page)
        page.screenshot(path=str(ARTIFACTS / "pretrained-grown.png"))

        _set_range(page, "#radius", 0.2)
        frames = page.evaluate("() => window.ncaViewer.frames")
        box = page.locator("#grid").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        _wait(page, f"() => window.ncaViewer.frames > {frames}")
        damaged = _frame(page)
        page.screenshot(path=str(ARTIFACTS / "pretrained-damaged.png"))
        height, width = damaged.shape[:2]
        rows = torch.arange(height).view(-1, 1) + 0.5
        cols = torch.arange(width).view(1, -1) + 0.5
        disc = (rows - height / 2) ** 2 + (cols - width / 2) ** 2 <= (0.2 * min(height, width)) ** 2
        assert (damaged[disc] == 1).all()  # erased: dead cells, white
        assert torch.equal(damaged[~disc], grown[~disc])  # paused: nothing else changed
        assert not torch.equal(connection.session.cells, cells)  # the click changed cells
        assert not errors, errors
        browser.close()


def test_denoise_vitca_controls_in_a_real_browser(make_run):
    from nca.play.loader import load_play_target
    from nca.play.server import ViewerThread

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = load_play_target(make_run("denoise", "vitca"))
    with ViewerThread(target) as viewer, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        problems = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(viewer.url)
        _wait(page, "() => window.ncaViewer.frames > 2 && window.ncaViewer.state")
        state = "window.ncaViewer.state"

        options = page.locator("select[name=image] option").all_inner_texts()
        assert len(options) > 1
        page.select_option("select[name=image]", index=1)
        _wait(page, f"() => {state}.choices[0].value === {options[1]!r}")
        page.select_option("select[name=noise]", value="none")
        _wait(page, f"() => {state}.choices[1].value === 'none'")

        page.select_option("#view", "attention")
        _wait(page, f"() => {state}.view === 'attention'")
        page.locator("#heads input").nth(1).check()
        _wait(page, f"() => {state}.masked_heads.length === 1 && {state}.masked_heads[0] === 1")
        _frames_after(page, 3)
        page.screenshot(path=str(ARTIFACTS / "vitca-attention.png"))

        page.select_option("#view", "hidden")
        page.fill("#channel", "2")
        page.locator("#channel").dispatch_event("change")
        _wait(page, f"() => {state}.view === 'hidden' && {state}.channel === 2")
        page.fill("#channel", "99")  # out of range: refused, and the box is put back
        page.locator("#channel").dispatch_event("change")
        _wait(page, "() => window.ncaViewer.errors.length > 0")
        assert "hidden channel 99 out of range" in page.locator("#error").inner_text()
        _wait(page, "() => document.getElementById('channel').value === '2'")
        assert not problems, problems
        browser.close()


def _cube_target(run_dir):
    """A 3-D run whose seed is an opaque 8^3 cube (a one-iteration model grows nothing
    to look at): the same cells after every reset."""
    from nca.play.loader import PlayTarget, load_play_target

    class CubeTarget(PlayTarget):
        def playground(self):
            playground = super().playground()
            seed = playground.seed

            def cube():
                cells = seed()
                output = cells[0, playground.model.layout.slice("output")]
                output[3, 2:10, 2:10, 2:10] = 1.0
                output[0, 2:10, 2:10, 2:10] = torch.linspace(0, 1, 8)  # red, left to right
                output[2, 2:10, 2:10, 2:10] = torch.linspace(0, 1, 8).view(8, 1, 1)
                return cells

            playground.seed = cube
            return playground

    loaded = load_play_target(run_dir)
    return CubeTarget(loaded.task, loaded.model, loaded.checkpoint, loaded.device)


def test_a_3d_run_rotates_damages_and_resets_in_a_real_browser(make_run):
    from nca.play.server import ViewerThread, connections_key

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (
        ViewerThread(_cube_target(make_run("grow3d", "convca"))) as viewer,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1000, "height": 760})
        problems = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(viewer.url)
        state = "window.ncaViewer.state"
        _wait(page, f"() => window.ncaViewer.frames > 0 && {state} && {state}.dims === 3")
        assert page.locator("#volume").is_visible()
        page.click("#pause")
        _wait(page, f"() => {state}.paused")
        page.click("#reset")  # the seed cube, still: every picture below is of known cells
        _wait(page, f"() => {state}.step === 0 && window.ncaViewer.step === 0")
        time.sleep(0.3)
        first = _frame(page)
        paused_at = 0
        assert (first < 0.9).any(dim=-1).float().mean() > 0.05  # the cube is drawn

        def changed_after(action, condition):
            frames = page.evaluate("() => window.ncaViewer.frames")
            action()
            _wait(page, condition)
            _wait(page, f"() => window.ncaViewer.frames > {frames}")
            time.sleep(0.3)
            return _frame(page)

        # rotate: drag to the right by 80 pixels (half a degree a pixel), then a key
        box = page.locator("#grid").bounding_box()
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

        def drag():
            page.mouse.move(*centre)
            page.mouse.down()
            for step in range(1, 9):
                page.mouse.move(centre[0] + 10 * step, centre[1])
            page.mouse.up()

        turned = changed_after(drag, f"() => {state}.camera.yaw === 10")
        assert not torch.equal(turned, first)
        page.locator("#grid").hover()
        keyed = changed_after(lambda: page.keyboard.press("ArrowUp"),
                              f"() => {state}.camera.pitch === 35")  # fmt: skip
        assert not torch.equal(keyed, turned)
        page.screenshot(path=str(ARTIFACTS / "volume-turned.png"))

        # damage: a click (no drag) erases a ball around the voxel under the cursor
        (connection,) = viewer.app[connections_key()]
        alive = lambda: float(connection.session.cells[0, 3].clamp(0, 1).sum())  # noqa: E731
        before = alive()
        _set_range(page, "#radius", 0.25)
        page.mouse.click(*centre)
        deadline = time.monotonic() + 30  # the damage is applied by the server's loop
        while alive() >= before - 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alive() < before - 10  # a ball of voxels is gone
        damaged = _frame(page)
        while torch.equal(damaged, keyed) and time.monotonic() < deadline:  # its frame
            time.sleep(0.1)
            damaged = _frame(page)
        assert not torch.equal(damaged, keyed)
        assert page.evaluate(f"() => {state}.step") == paused_at and not problems, problems
        page.screenshot(path=str(ARTIFACTS / "volume-damaged.png"))

        # slice: only the plane at depth 6
        page.select_option("#slice-axis", "0")
        page.locator('input[name="slice-mode"][value="plane"]').check()
        sliced = changed_after(lambda: None, f"() => {state}.camera.slice_mode === 'plane'")
        assert page.evaluate(f"() => {state}.camera.slice_axis") == 0
        assert not torch.equal(sliced, damaged)
        page.screenshot(path=str(ARTIFACTS / "volume-sliced.png"))

        # reset: the cube is whole again; with no slice it is the picture before the damage
        page.select_option("#slice-axis", "-1")
        _wait(page, f"() => {state}.camera.slice_axis === -1")
        restored = changed_after(lambda: page.click("#reset"), f"() => {state}.step === 0")
        assert alive() == before == 8**3
        assert torch.equal(restored, keyed)
        assert not problems, problems
        browser.close()
