"""Task plugins under plugins/ import only nca's public API (``from nca import ...``)."""

import ast
from pathlib import Path

import pytest

import nca

PLUGIN_FILES = sorted((Path(__file__).resolve().parents[1] / "plugins").rglob("*.py"))


def private_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("nca.") or (
                node.module == "nca" and any(a.name not in nca.__all__ for a in node.names)
            ):
                found.append(f"from {node.module} import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.startswith("nca.")]
    return found


def test_checker_flags_private_imports():
    assert private_imports("from nca.core.seed import seed\nimport nca.rules") == [
        "from nca.core.seed import seed",
        "import nca.rules",
    ]
    assert private_imports("from nca import CellLayout, create_rule") == []
    assert private_imports("from nca import _secret") == ["from nca import _secret"]


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_plugin_uses_public_api_only(path):
    assert private_imports(path.read_text()) == []
