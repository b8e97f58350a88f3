"""Benchmark scripts use only public names, and every name they import exists.

Their numbers are committed, not asserted, so nothing else notices when a script falls
behind the API: these checks read every script's source (imports inside functions
included) and run the shared throughput harness on the cheapest rule.
"""

import ast
import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))
#: The benchmarks' own modules (``_report``, ``_throughput``, ...): theirs to name.
OWN = {p.stem for p in SCRIPTS}
#: Packages whose imported names must resolve (third-party imports may be optional).
CHECKED = ("nca", "nca_")
VGG = BENCHMARKS.parent.parent / "shared" / "weights" / "lpips_vgg16_features.pth"


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(tree: ast.AST) -> list[str]:
    """``obj._name`` on anything but ``self`` or a benchmarks module, and private names
    or modules imported from outside benchmarks/."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            if owner != "self" and owner not in OWN:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module not in OWN:
            parts = node.module.split(".")
            names = [a.name for a in node.names]
            if any(is_private(p) for p in parts) or any(is_private(n) for n in names):
                found.append(f"line {node.lineno}: from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in OWN and any(is_private(p) for p in alias.name.split(".")):
                    found.append(f"line {node.lineno}: import {alias.name}")
    return found


def imported_names(tree: ast.AST) -> list[tuple[int, str, str | None]]:
    """``(line, module, name)`` of every import of an ``nca`` or plugin module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith(CHECKED):
                found += [(node.lineno, node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, None) for a in node.names if a.name.startswith(CHECKED)]
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses_and_uses_no_private_name(script):
    tree = ast.parse(script.read_text(), filename=str(script))
    assert private_uses(tree) == [], f"{script.name} uses private names"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_name_a_script_imports_exists(script):
    tree = ast.parse(script.read_text(), filename=str(script))
    missing = []
    for line, module, name in imported_names(tree):
        try:
            imported = importlib.import_module(module)
        except ImportError as error:
            missing.append(f"line {line}: {module} ({error})")
            continue
        if name is not None and not hasattr(imported, name):
            try:  # a submodule: from nca.core import equilibrium
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"line {line}: from {module} import {name}")
    assert missing == [], f"{script.name} imports names that do not exist"


def test_the_check_sees_private_uses():
    source = (
        "from nca.engine.launch import _helper\n"
        "import nca._internal\n"
        "from _report import emit\n"
        "def f(task, self):\n"
        "    task._draw(1)\n"
        "    self._cache = _report._x\n"
        "    return task.__class__\n"
    )
    found = private_uses(ast.parse(source))
    assert found == [
        "line 1: from nca.engine.launch import _helper",
        "line 2: import nca._internal",
        "line 5: task._draw",
    ]


@pytest.fixture
def benchmarks_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    yield
    for name in list(sys.modules):
        if name in OWN:
            del sys.modules[name]


def one_iteration(case):
    import torch
    from _throughput import measure

    threads = torch.get_num_threads()
    try:
        (result,) = measure([case], iterations=1, repeats=1, threads=1)
    finally:
        torch.set_num_threads(threads)
    assert result.task_seconds > 0 and result.bare_seconds > 0
    assert result.parameters > 0
    return result


def test_grow_throughput_case_runs(benchmarks_path):
    grow = importlib.import_module("grow_throughput")
    result = one_iteration(grow.CASES[0])  # convca
    assert result.cell_steps == 4 * 32 * 28 * grow.STEPS


def test_classic_throughput_classify_case_runs(benchmarks_path):
    classic = importlib.import_module("classic_throughput")
    case = next(c for c in classic.cases("") if c.task == "classify" and c.rule == "convca")
    result = one_iteration(case)
    assert result.cell_steps == 16 * 28 * 28 * classic.CLASSIFY_STEPS


@pytest.mark.skipif(not VGG.is_file(), reason=f"needs the offline VGG16 weights ({VGG})")
def test_classic_throughput_texture_case_runs(benchmarks_path):
    classic = importlib.import_module("classic_throughput")
    case = next(c for c in classic.cases(str(VGG)) if c.task == "texture" and c.rule == "convca")
    result = one_iteration(case)
    assert result.cell_steps == 4 * 48 * 48 * classic.TEXTURE_STEPS
