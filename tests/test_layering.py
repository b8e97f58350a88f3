"""The package's floors: a package of ``nca`` imports only from its own floor or lower
ones, at module level or inside a function alike. The order is written once, here; a new
package must be given a floor before it can be imported by anything."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nca

NCA = Path(__file__).resolve().parents[1] / "nca"

#: Lowest floor first. Plugins (``plugins/``) stand above all of them and import only the
#: public API, ``from nca import ...`` (tests/test_plugins_public_api.py).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    (
        "config",
        "registry",
        "resources",
        "progress",
        "metrics",
        "run_log",
        "checkpoint",
        "pretrained",  # the shipped models' manifest: find_checkpoint resolves their names
    ),
    ("layers",),  # building blocks of rules
    ("core",),  # grids, automata, rollouts, pools, models; knows no rule by name
    ("rules",),  # the rule registry and the built-in rules
    ("data",),  # datasets
    ("analysis", "export"),  # experiments and ONNX on models and rules
    ("engine",),  # one trainer, the rule-config path, stored models
    ("tasks",),  # the task contract and stored runs
    ("play",),  # the live viewer of a stored run
    ("cli",),
)
#: ``nca/__init__.py`` is the lazy public facade; ``nca/__main__.py`` runs the CLI.
FACADE = frozenset({"__init__", "__main__"})
FLOOR = {name: floor for floor, names in enumerate(LAYERS) for name in names}


def package_of(path: Path) -> str:
    """``nca/core/seed.py`` -> ``core``; ``nca/checkpoint.py`` -> ``checkpoint``."""
    relative = path.relative_to(NCA)
    return relative.parts[0].removesuffix(".py")


def imported_packages(source: str, module: str) -> list[tuple[str, int]]:
    """The ``nca`` packages a module's source imports, with line numbers; ``module`` is
    its dotted name (``nca.core.seed``), to resolve relative imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            names = [base] if base != "nca" else [_facade(a.name) for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "nca" and len(parts) > 1:
                found.append((parts[1], node.lineno))
    return found


def _facade(name: str) -> str:
    """What ``from nca import name`` imports: a package, or a public name lazily taken
    from the module that defines it (``load_run`` -> ``nca.tasks``)."""
    if name in nca._EXPORTS:
        return nca._EXPORTS[name]
    return f"nca.{name}" if name in FLOOR else "nca.__init__"


def violations(path: Path) -> list[str]:
    package = package_of(path)
    if package in FACADE:
        return []
    module = ".".join(("nca", *path.relative_to(NCA).with_suffix("").parts))
    problems = []
    for target, line in imported_packages(path.read_text(), module):
        if target == package or target in FACADE:
            continue
        if FLOOR[target] > FLOOR[package]:
            problems.append(f"{path.relative_to(NCA.parent)}:{line}: {package} imports {target}")
    return problems


def test_every_package_has_a_floor():
    packages = {package_of(p) for p in NCA.rglob("*.py")} - FACADE
    assert packages <= set(FLOOR), f"give these a floor in LAYERS: {packages - set(FLOOR)}"
    assert set(FLOOR) <= packages, f"LAYERS names packages that are gone: {set(FLOOR) - packages}"


@pytest.mark.parametrize("path", sorted(NCA.rglob("*.py")), ids=lambda p: str(p.relative_to(NCA)))
def test_no_package_imports_a_higher_one(path):
    assert violations(path) == []


def test_the_checker_sees_upward_imports_at_any_depth(tmp_path):
    source = (
        "from nca.rules import create_rule\n"
        "def f():\n"
        "    import nca.tasks.base\n"
        "    from .. import engine\n"
        "    from nca import cli\n"
    )
    found = imported_packages(source, "nca.core.automaton")
    assert found == [("rules", 1), ("tasks", 3), ("engine", 4), ("cli", 5)]
    facade = imported_packages("from nca import load_run, __version__\n", "nca.core.seed")
    assert facade == [("tasks", 1), ("__init__", 1)]
    assert imported_packages("from .seed import seed\n", "nca.core.automaton") == [("core", 1)]
