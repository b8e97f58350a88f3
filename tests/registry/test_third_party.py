"""A third-party rule package, built from its own pyproject.toml and installed
into a temporary site directory, is discovered through the ``nca.rules`` group."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import pip_install_target

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "nca-thirdparty-demo"
version = "0.3.0"
dependencies = []

[project.entry-points."nca.rules"]
demo-diffusion = "nca_thirdparty_demo:DiffusionRule"
"""

MODULE = '''
"""A third-party rule: cells relax towards their neighbours' mean."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nca import CARule, CellLayout


@dataclass
class DiffusionConfig:
    """Config.

    Attributes:
        image_channels: Image channels.
        hidden_channels: Hidden channels.
        strength: Step size towards the neighbourhood mean.
    """

    image_channels: int = 1
    hidden_channels: int = 2
    strength: float = 0.5


class DiffusionRule(CARule):
    """Demo rule from a third-party package: learnable-strength diffusion."""

    config_class = DiffusionConfig

    def __init__(self, config: DiffusionConfig):
        super().__init__(config)
        self.layout = CellLayout(
            config.image_channels, config.image_channels, config.hidden_channels
        )
        self.strength = torch.nn.Parameter(torch.tensor(config.strength))

    def forward(self, cells):
        upd = cells[:, self.layout.updatable_slice]
        mean = F.avg_pool2d(upd, 3, stride=1, padding=1, count_include_pad=False)
        return self.strength * (mean - upd)
'''


@pytest.fixture(scope="module")
def thirdparty_site(tmp_path_factory) -> Path:
    """Build and install the demo package with pip into a private --target dir."""
    root = tmp_path_factory.mktemp("thirdparty")
    src = root / "src"
    (src / "nca_thirdparty_demo").mkdir(parents=True)
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "nca_thirdparty_demo" / "__init__.py").write_text(textwrap.dedent(MODULE))
    site = pip_install_target(src, root / "site")
    return site


@pytest.fixture
def on_path(thirdparty_site, monkeypatch):
    from nca.rules import RULES

    monkeypatch.syspath_prepend(str(thirdparty_site))
    RULES.refresh()
    yield thirdparty_site
    monkeypatch.undo()
    RULES.refresh()


def test_discovered_with_its_provider(on_path):
    import torch

    from nca import CellularAutomaton, create_rule, list_rules, rule_info

    assert "demo-diffusion" in list_rules()
    info = rule_info("demo-diffusion")
    assert info.provider == "nca-thirdparty-demo 0.3.0"
    assert info.kind == "ca"
    rule = create_rule("demo-diffusion", strength=0.25)
    ca = CellularAutomaton(rule, update_rate=1.0)
    cells = ca.seed(torch.rand(2, 1, 6, 6))
    out = ca(cells, 3).cells
    assert out.shape == cells.shape
    # diffusion smooths the hidden/output state: variance of the output does not grow
    assert ca.output_image(out).var() <= ca.output_image(cells).var() + 1e-6


def test_nca_list_shows_it_in_a_subprocess(thirdparty_site):
    env = dict(os.environ, PYTHONPATH=str(thirdparty_site), COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-m", "nca", "list"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "demo-diffusion" in ln)
    assert "nca-thirdparty-demo 0.3.0" in line
    assert "CA rule" in line
