"""No function of the package or the plugins does several jobs in one long body: none is
over 80 lines (docstring included). Split a longer one into functions with one job each."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 80
FILES = sorted([*(ROOT / "nca").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")])


def long_functions(source: str, limit: int = LIMIT) -> list[tuple[str, int]]:
    """``(name, lines)`` of every function or method longer than ``limit`` lines."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                found.append((node.name, lines))
    return found


def test_the_check_sees_a_long_method():
    body = "\n".join(f"        x{i} = {i}" for i in range(LIMIT))
    source = f"class A:\n    def long(self):\n{body}\n    def short(self):\n        pass\n"
    assert long_functions(source) == [("long", LIMIT + 1)]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_function_is_over_80_lines(path):
    assert long_functions(path.read_text()) == []
