"""Shared fixtures: small active rules, fake plugins, the optional ../shared folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

#: Small values for whichever of these fields a rule has (a third-party rule gets the
#: ones it shares; the rest keep its defaults).
SMALL_RULE = {
    "hidden_channels": 3,
    "mlp_channels": 16,
    "perception_channels": 8,
    "embed_dim": 16,
    "heads": 2,
    "mlp_dim": 16,
    "depth": 1,
    "features": 4,
    "downsamplings": 1,
}

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
#: Where tests keep pictures worth looking at (gitignored); also copied to
#: ``$NCA_ARTIFACTS`` where that is set.
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def find_chromium() -> str | None:
    """A chromium for the browser tests: ``NCA_CHROMIUM``, else one on the ``PATH``."""
    candidates = [os.environ.get("NCA_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]
    for name in filter(None, candidates):
        path = shutil.which(name) or (name if Path(name).is_file() else None)
        if path:
            return path
    return None


def keep_artifact(path: Path, folder: str) -> Path:
    """Copy ``path`` to ``test-artifacts/FOLDER/`` and, where ``NCA_ARTIFACTS`` is set, to
    ``$NCA_ARTIFACTS/FOLDER/``; the first copy."""
    targets = [ARTIFACTS / folder]
    if os.environ.get("NCA_ARTIFACTS"):
        targets.append(Path(os.environ["NCA_ARTIFACTS"]) / folder)
    for target in targets:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)
    return targets[0] / path.name


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """Each test starts with the session's thread count: a test that sets it (the pins
    compute on one thread) does not change the code paths of the tests after it."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def random_vgg(tmp_path_factory) -> str:
    """torchvision's VGG16 features with random weights (seeded), saved in torchvision
    key names: the texture task's style network without a download."""
    from torchvision.models import vgg16

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg16_features.pth"
    state = {f"features.{k}": v for k, v in vgg16(weights=None).features.state_dict().items()}
    torch.save(state, path)
    return str(path)


def png_header(width: int, height: int) -> bytes:
    """A PNG file whose header claims ``width`` x ``height`` RGB pixels, with no pixel
    data: PIL reads its size without decoding it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.fixture
def huge_png(tmp_path) -> str:
    """A 20,000 x 20,000 PNG (by its header): past PIL's decompression-bomb limit."""
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(20_000, 20_000))
    return str(path)


@pytest.fixture
def shared_dir() -> Path:
    """``../shared``; tests using it skip with a reason when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"offline reference folder {SHARED} is absent")
    return SHARED


def pip_install_target(source: Path, site: Path) -> Path:
    """Build and install the package at ``source`` into a private ``site`` folder (no
    network, no dependencies), as a user's ``pip install`` would; fails the test on error."""
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--target",
        str(site),
        str(source),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        pytest.fail(f"installing {source} failed:\n{proc.stdout}\n{proc.stderr}")
    return site


def activate(rule: torch.nn.Module, seed: int = 0, scale: float = 0.1) -> torch.nn.Module:
    """Give a zero-initialised rule random last-layer weights so it changes the grid."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in rule.parameters():
            if p.abs().sum() == 0:
                p.copy_(torch.randn(p.shape, generator=g) * scale)
    return rule


@pytest.fixture
def active_convca():
    from nca.rules import create_rule

    return activate(create_rule("convca:tiny"))


@pytest.fixture
def toy_task():
    """Register the toy task programmatically for one test."""
    from nca.tasks import TASKS
    from tests.tasks.toy_task import ToyTask

    TASKS.register(ToyTask)
    yield ToyTask
    TASKS.unregister("toy")


def run_torchrun(*args: str, processes: int = 2, env: dict | None = None, cwd=None):
    """``python -m torch.distributed.run --standalone --nproc-per-node N ARGS``: fails the
    test with the ranks' output on a non-zero exit; returns the completed process."""
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += ["--nproc-per-node", str(processes), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=cwd)
    if proc.returncode:
        pytest.fail(
            f"torchrun {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc
