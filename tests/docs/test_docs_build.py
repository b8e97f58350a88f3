"""The documentation site builds with ``mkdocs build --strict`` (broken links,
missing API objects and missing snippet files fail it)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_mkdocs_build_strict(built_site):
    site, proc = built_site
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site / "api" / "core" / "index.html").is_file()
    cli_page = (site / "cli" / "index.html").read_text()
    assert "Run EXPERIMENT on the model" in cli_page  # generated from the click app
    assert "--stop-after" in cli_page
    for page in site.rglob("*.html"):  # a mangled `--8<--` line renders as text
        assert "--8" not in page.read_text(), f"unexpanded snippet in {page}"


def test_snippet_lines_are_well_formed():
    """`--8<-- "path"` lines (or pymdownx's `"path:start:end"` line ranges, either end
    optional) name existing files and lines in them (formatters have mangled them before)."""
    import re

    for doc in (ROOT / "docs").rglob("*.md"):
        for line in doc.read_text().splitlines():
            if line.startswith("--8"):
                match = re.fullmatch(r'--8<-- "([^":]+)(?::(\d*)(?::(\d*))?)?"', line)
                assert match, f"{doc.name}: malformed snippet line {line!r}"
                path, start, end = match.groups()
                assert (ROOT / path).is_file(), f"{doc.name}: no {path}"
                lines = len((ROOT / path).read_text().splitlines())
                for bound in (start, end):
                    assert not bound or 1 <= int(bound) <= lines, f"{doc.name}: {line!r}"


def test_concept_figures_script_runs(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    script = ROOT / "docs" / "scripts" / "make_concept_figures.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "async.png",
        "fusion.png",
        "layout.png",
    ]
