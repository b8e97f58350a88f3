"""The documentation site, built once per session for the tests that read it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The site of ``mkdocs build --strict``: its folder and the finished build (whose
    return code the tests check). Skips where mkdocs is not installed."""
    if shutil.which("mkdocs") is None:
        pytest.skip("mkdocs not installed (dev extra)")
    site = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
        timeout=600,
    )
    return site, proc
