"""The lazy public API (``nca.__init__``): every exported name resolves, and the
``TYPE_CHECKING`` imports that type checkers and IDEs read list exactly the same names,
from the same modules."""

import ast
import warnings
from pathlib import Path

import pytest

import nca

INIT = Path(nca.__file__)


def type_checking_imports(source: str) -> dict[str, str]:
    """``{name: module}`` of the imports under ``if TYPE_CHECKING:``."""
    names = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    names.update({a.asname or a.name: statement.module for a in statement.names})
    return names


def test_type_checking_block_lists_every_export_from_its_module():
    assert type_checking_imports(INIT.read_text()) == nca._EXPORTS


def test_the_comparison_sees_a_missing_name():
    source = "if TYPE_CHECKING:\n    from nca.core import CellLayout\n"
    assert type_checking_imports(source) == {"CellLayout": "nca.core"}
    assert type_checking_imports(source) != {"CellLayout": "nca.core", "ImageSet": "nca.data"}


@pytest.mark.parametrize("name", sorted(nca._EXPORTS))
def test_every_export_resolves(name):
    assert getattr(nca, name) is not None


@pytest.mark.parametrize("old, new", sorted(nca._DEPRECATED.items()))
def test_deprecated_names_still_resolve_with_a_warning(old, new):
    with pytest.warns(DeprecationWarning, match=f"use nca.{new}"):
        assert getattr(nca, old) is getattr(nca, new)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(nca, new)
