"""Draw the docs front page's gallery from the shipped pretrained models.

Every picture is drawn by the toolkit from a model the package ships (``nca
pretrained``), looked up by its name, with fixed seeds: the grow task's regeneration
GIF of ``lizard``, the class maps of ``digits``, the ``texture`` growing, ``denoise-vitca``
denoising digits, and a screenshot of the live viewer serving ``lizard`` (``nca play
lizard``) after a damage click. Each caption names the model and the budget its manifest
entry records: the command that trained it, its iterations and its evaluation numbers.

Writes, under ``--out`` (default ``docs/gallery/``):

- the pictures;
- ``captions.json``: per picture, its model, the experiment that drew it, the model's
  training and evaluation records, and the caption;
- ``gallery.md``: the pictures with their captions, included by ``docs/index.md`` (its
  links are relative to ``docs/``: ``gallery/FILE``).

A model the manifest lacks is skipped with a note, and its picture left out of the page;
pictures not redrawn in this call (``--only``) keep their captions while the model's
weights are unchanged. The viewer's screenshot needs playwright and a chromium
(``apt-get install chromium``, or ``NCA_CHROMIUM=/path/to/chrome``); it is skipped with
a note without them.

Usage:
    python scripts/render_gallery.py [--only growth,viewer] [--vgg-weights PATH]
        [--out docs/gallery] [--work /tmp/nca-gallery] [--manifest PATH]

Pictures (``--only``): growth, class-map, mutation, texture, denoise, viewer.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "gallery"
CAPTIONS = "captions.json"
SNIPPET = "gallery.md"
#: The VGG16 features the texture task's style loss reads offline, where present.
VGG_WEIGHTS = ROOT.parent / "shared" / "weights" / "lpips_vgg16_features.pth"
SEED = 0


@dataclass(frozen=True)
class Picture:
    """One picture of the gallery.

    Attributes:
        key: Its name for ``--only``.
        model: The shipped model that draws it.
        title: Its heading on the front page.
        file: Its file under the output folder.
        experiment: The ``nca analyze`` experiment that draws it (``None``: the viewer).
        options: The experiment's options (``-o KEY=VALUE``).
        made: The file the experiment writes, copied to ``file``.
        alt: The picture's alternative text.
        what: What the picture shows, from the experiment's results (a sentence).
        count: Test images of a paper experiment (``nca analyze --count``).
    """

    key: str
    model: str
    title: str
    file: str
    experiment: str | None
    options: dict[str, Any]
    made: str
    alt: str
    what: Callable[[dict], str]
    count: int | None = None


def _steps(values) -> str:
    return " and ".join(str(v) for v in values)


PICTURES = (
    Picture(
        "growth", "lizard", "Growth and regeneration", "growth-regeneration.gif",
        "regeneration", {"count": 2, "every": 2}, "regeneration.gif",
        "Two lizards grow from one cell each, lose a disc twice and regrow it",
        lambda r: (
            f"Two lizards grow from a single cell beside the target; a disc is cut out of "
            f"each at steps {_steps(r['damage_at'])} and they regrow it "
            f"({len(r['psnr'])} steps in all)."
        ),
    ),
    Picture(
        "class-map", "digits", "Self-classifying digits", "class-map.gif",
        "class-map", {"count": 8}, "class_map.gif",
        "Handwritten digits whose cells agree, by local messages, on which digit they form",
        lambda r: (
            "Each cell of a handwritten digit sees only its neighbours and colours itself "
            "by the digit it believes it is part of; the cells come to agree, the key "
            "below gives each class's colour."
        ),
    ),
    Picture(
        "mutation", "digits", "Self-classifying digits: mutation", "mutation.png",
        "mutation", {"count": 8}, "frames.png",
        "The class maps before and after each digit is swapped for another",
        lambda r: (
            "Halfway through, every digit is swapped for another: the cells change their "
            "minds (key frames)."
        ),
    ),
    Picture(
        "texture", "texture", "A texture", "texture.gif",
        "growth", {"count": 1, "every": 8}, "growth.gif",
        "A grid grows a texture from empty cells",
        lambda r: (
            f"A grid grows the texture from empty cells, {r['steps'][-1]} steps: it "
            f"differs from the example cell by cell; what they share is its style."
        ),
    ),
    Picture(
        "denoise", "denoise-vitca", "ViTCA denoising", "denoise.gif",
        "rollout", {"every": 4}, "rollout.gif",  # 32x32 noise compresses badly: 16 frames
        "ViTCA denoising digits: masked input, output over the steps, target",
        lambda r: (
            f"ViTCA, an NCA whose cells attend to their neighbours, fills in digits "
            f"with half their pixels masked (masked input | output over "
            f"{len(r['psnr'])} steps | target): {r['input_psnr']:.1f} dB in, "
            f"{r['psnr'][-1]:.1f} dB out."
        ),
        count=4,
    ),
    Picture(
        "viewer", "lizard", "The live viewer", "viewer.png",
        None, {}, "viewer.png",
        "The live viewer in a browser: a lizard, part of it erased by a click, regrowing",
        lambda r: (
            f"The live viewer: the lizard grew for {r['grown']} steps, a mouse click erased "
            f"a disc of it, and {r['regrown']} steps later it is regrowing."
        ),
    ),
)  # fmt: skip

#: Per task, the evaluation numbers a caption quotes: (metric, how it reads).
HEADLINES = {
    "grow": [
        ("psnr_T", "PSNR at T {:.1f} dB"),
        ("psnr_damaged", "cut: {:.1f} dB"),
        ("psnr_recovered", "T steps after the cut: {:.1f} dB"),
    ],
    "classify": [
        ("cell_accuracy_T", "{:.0f} % of cells right at T"),
        ("majority_accuracy_T", "{:.0f} % of digits by majority"),
        ("agreement_T", "all cells agree on {:.0f} % of digits"),
    ],
    "texture": [
        ("loss_T", "style loss at T {:.3g}"),
        ("loss_seed", "empty grid {:.3g}"),
    ],
    "denoise": [
        ("psnr", "PSNR {:.1f} dB"),
        ("input_psnr", "masked input {:.1f} dB"),
        ("ssim", "SSIM {:.2f}"),
    ],
}


def headline(model) -> str:
    """The model's evaluation numbers worth a caption, with the settings they were
    measured under."""
    metrics = model.evaluation.metrics
    rows = HEADLINES.get(model.task) or [(k, k + " {:.4g}") for k in list(metrics)[:4]]
    found = [text.format(metrics[k]) for k, text in rows if _finite(metrics.get(k))]
    overrides = ", ".join(f"{k}={v}" for k, v in model.evaluation.overrides.items())
    return "; ".join(found) + (f" (`nca eval`, {overrides})" if overrides else " (`nca eval`)")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def command_line(picture: Picture) -> str:
    """The command that draws the same picture (``--out`` aside)."""
    if picture.experiment is None:
        return f"nca play {picture.model}"
    options = " ".join(f"-o {k}={v}" for k, v in picture.options.items())
    count = f" --count {picture.count}" if picture.count else ""
    return f"nca analyze {picture.experiment} {picture.model}{count} {options} --seed {SEED}"


def caption(picture: Picture, model, results: dict) -> str:
    """The picture's caption (Markdown): what it shows, then the model and its budget."""
    training = model.training
    iterations = training.iterations
    budget = f"{iterations:,} iteration{'s' * (iterations != 1)}" if iterations else "its budget"
    how = (
        f"A screenshot of `{command_line(picture)}` in a headless chromium"
        if picture.experiment is None
        else f"Drawn by `{command_line(picture)}`"
    )
    stand_in = "**Placeholder model, barely trained.** " if model.placeholder else ""
    return (
        f"{stand_in}{picture.what(results)} {how} from the shipped model `{model.name}` "
        f"({model.task}, {model.rule}), trained by `{training.command}` ({budget} on "
        f"{training.device}, seed {training.seed}); its evaluation: {headline(model)}."
    )


# ------------------------------------------------------------------ drawing
def draw(picture: Picture, source: Path, folder: Path, args) -> dict:
    """Run the picture's experiment on the weights file ``source``, in ``folder``."""
    import torch

    torch.manual_seed(SEED)
    if picture.experiment is None:
        return screenshot_viewer(source, folder / picture.made)
    from nca.analysis import run_experiment, run_task_experiment
    from nca.tasks import load_run, load_subject

    if picture.experiment in ("rollout",):  # the paper's experiments: a Subject
        subject = load_subject(source, picture.count or 8, seed=SEED)
        return run_experiment(picture.experiment, subject, folder, **picture.options)
    stored = load_run(source, overrides=task_overrides(source, args))
    return run_task_experiment(
        picture.experiment, stored.task, stored.model, folder, seed=SEED, **picture.options
    )


def task_overrides(source: Path, args) -> dict:
    """The texture task's VGG16 features, offline (the model's own config names a path
    on the machine that trained it)."""
    from nca.checkpoint import load_checkpoint

    task = (load_checkpoint(source).get("task") or {}).get("name")
    return {"vgg_weights": str(args.vgg_weights)} if task == "texture" and args.vgg_weights else {}


def chromium() -> str | None:
    """A chromium to drive: ``NCA_CHROMIUM``, else one on the ``PATH``."""
    names = [os.environ.get("NCA_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]
    for name in filter(None, names):
        path = shutil.which(name) or (name if Path(name).is_file() else None)
        if path:
            return path
    return None


def viewer_missing() -> str | None:
    """Why the viewer cannot be screenshotted here, or ``None``."""
    for module, extra in (("playwright.sync_api", "[browser]"), ("aiohttp", "[play]")):
        try:
            __import__(module)
        except ImportError:
            return f"needs {module.split('.')[0]} (pip install '.{extra}')"
    if chromium() is None:
        return "needs a chromium (apt-get install chromium, or NCA_CHROMIUM=/path/to/chrome)"
    return None


def screenshot_viewer(source: Path, path: Path) -> dict:
    """Serve ``source`` in the viewer and open it in a headless chromium; pause, reset,
    step the model 3 T (its training rollout length, ``steps_max``), erase a disc at the
    centre with a mouse click, step T / 6 more and take a screenshot of the page. Exact
    steps from a reset, so the picture is the same every time."""
    from playwright.sync_api import sync_playwright

    from nca.play.loader import load_play_target
    from nca.play.server import ViewerThread

    target = load_play_target(source)
    period = int(getattr(target.task.config, "steps_max", 64))
    grow, regrow = 3 * period, max(1, period // 6)
    path.parent.mkdir(parents=True, exist_ok=True)
    with ViewerThread(target) as viewer, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium(), headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1000, "height": 640})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(viewer.url)
        wait = lambda condition: page.wait_for_function(condition, timeout=120_000)  # noqa: E731
        wait("() => window.ncaViewer.frames > 0 && window.ncaViewer.state")
        page.click("#pause")
        wait("() => window.ncaViewer.state.paused")
        page.click("#reset")
        wait("() => window.ncaViewer.step === 0 && window.ncaViewer.state.step === 0")
        advance(page, wait, grow)
        page.locator("#radius").evaluate(
            "(e) => { e.value = 0.12; e.dispatchEvent(new Event('input')); }"
        )
        frames = page.evaluate("() => window.ncaViewer.frames")
        box = page.locator("#grid").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        wait(f"() => window.ncaViewer.frames > {frames}")
        advance(page, wait, regrow)
        page.screenshot(path=str(path))
        browser.close()
    if errors:
        raise RuntimeError(f"the viewer's page failed: {errors}")
    return {"grown": grow, "regrown": regrow}


def advance(page, wait, steps: int, chunk: int = 16) -> None:
    """Step the paused viewer ``steps`` steps (the page's ``step`` command, ``chunk`` at a
    time) and wait for the frame of the last one."""
    for count in [chunk] * (steps // chunk) + ([steps % chunk] if steps % chunk else []):
        done = page.evaluate("() => window.ncaViewer.step") + count
        page.evaluate(
            "(count) => window.ncaViewer.socket.send(JSON.stringify({type: 'step', count}))",
            count,
        )
        wait(f"() => window.ncaViewer.step >= {done}")
    time.sleep(0.3)  # the canvas is drawn


# ------------------------------------------------------------------ the page
def read_captions(out: Path) -> dict[str, dict]:
    """The captions written before, by file."""
    path = out / CAPTIONS
    if not path.is_file():
        return {}
    return {entry["file"]: entry for entry in json.loads(path.read_text())["pictures"]}


def still_valid(entry: dict, models: dict) -> bool:
    """A caption written before still holds: its picture is there and its model's
    weights are the ones that drew it."""
    model = models.get(entry["model"])
    return model is not None and model.sha256 == entry["sha256"]


def write_page(out: Path, entries: dict[str, dict]) -> None:
    """``captions.json`` and the front page's snippet, in the order of ``PICTURES``."""
    ordered = [entries[p.file] for p in PICTURES if p.file in entries]
    record = {"script": "scripts/render_gallery.py", "seed": SEED, "pictures": ordered}
    (out / CAPTIONS).write_text(json.dumps(record, indent=1) + "\n")
    lines = [
        "<!-- written by scripts/render_gallery.py from captions.json: do not edit -->",
        "",
    ]
    for entry in ordered:
        lines += [f"### {entry['title']}", "", f"![{entry['alt']}](gallery/{entry['file']})", ""]
        lines += [entry["caption"], ""]
    if not ordered:
        lines += ["*No pictures yet: run `python scripts/render_gallery.py`.*", ""]
    (out / SNIPPET).write_text("\n".join(lines).rstrip("\n") + "\n")


def render(picture: Picture, model, source: Path, args) -> dict:
    """Draw ``picture`` and copy it to the output folder; its caption entry."""
    folder = args.work / picture.key
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.monotonic()
    results = draw(picture, source, folder, args)
    shutil.copy(folder / picture.made, args.out / picture.file)
    size = (args.out / picture.file).stat().st_size
    took = time.monotonic() - started
    print(f"  -> {args.out / picture.file} ({size / 1024:.0f} KB, {took:.0f} s)", flush=True)
    return {
        "file": picture.file,
        "title": picture.title,
        "alt": picture.alt,
        "model": model.name,
        "task": model.task,
        "rule": model.rule,
        "placeholder": model.placeholder,
        "sha256": model.sha256,
        "drawn_by": command_line(picture),
        "training": asdict(model.training),
        "evaluation": model.to_dict()["evaluation"],
        "caption": caption(picture, model, results),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(p.key for p in PICTURES),
        help="pictures to draw, comma-separated [default: all]",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="[default: docs/gallery]")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="folder of the experiments' outputs [default: a temporary one]",
    )
    parser.add_argument(
        "--vgg-weights",
        type=Path,
        default=VGG_WEIGHTS if VGG_WEIGHTS.is_file() else None,
        help="VGG16 features of the texture task (offline) "
        "[default: ../shared/weights/lpips_vgg16_features.pth]",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="another manifest of shipped models [default: the package's]",
    )
    args = parser.parse_args(argv)
    keys = {p.key for p in PICTURES}
    wanted = [k for k in args.only.split(",") if k]
    unknown = sorted(set(wanted) - keys)
    if unknown:
        parser.error(f"no picture {unknown[0]!r}; pictures: {', '.join(p.key for p in PICTURES)}")
    args.only = wanted
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from nca.pretrained import list_pretrained, pretrained_path

    models = {m.name: m for m in list_pretrained(args.manifest)}
    args.out.mkdir(parents=True, exist_ok=True)
    before = read_captions(args.out).items()
    entries = {f: e for f, e in before if still_valid(e, models) and (args.out / f).is_file()}
    with tempfile.TemporaryDirectory(prefix="nca-gallery-") as scratch:
        args.work = args.work or Path(scratch)
        for picture in PICTURES:
            if picture.key not in args.only:
                continue
            model = models.get(picture.model)
            if model is None:
                known = ", ".join(sorted(models)) or "none"
                print(
                    f"note: skipping {picture.file}: no shipped model {picture.model!r} "
                    f"(pretrained models: {known})"
                )
                entries.pop(picture.file, None)
                continue
            missing = viewer_missing() if picture.experiment is None else None
            if missing:
                print(f"note: skipping {picture.file}: the viewer's screenshot {missing}")
                continue
            print(f"{picture.file}: {command_line(picture)}", flush=True)
            source = pretrained_path(picture.model, args.manifest)
            entries[picture.file] = render(picture, model, source, args)
    for picture in PICTURES:  # a picture of a model gone or changed, not redrawn
        stale = args.out / picture.file
        if picture.file not in entries and stale.is_file():
            print(f"note: removing {stale}: its model is gone or changed since it was drawn")
            stale.unlink()
    write_page(args.out, entries)
    total = sum((args.out / f).stat().st_size for f in entries)
    print(f"{len(entries)} pictures ({total / 2**20:.2f} MB) and their captions in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
