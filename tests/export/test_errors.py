"""One-line errors when the export dependencies are missing."""

from __future__ import annotations

import sys

import pytest

from nca.export import INSTALL_HINT, MissingExportDependency, check_export, export_step
from tests.export.automata import make_automaton


def test_missing_onnxruntime_names_it_and_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    with pytest.raises(MissingExportDependency) as err:
        check_export(make_automaton("convca"), tmp_path / "step.onnx")
    message = str(err.value)
    assert message == f"ONNX export needs onnxruntime, which is not installed: {INSTALL_HINT}"
    assert "\n" not in message and isinstance(err.value, ImportError)


def test_missing_onnx_and_onnxscript_are_named_together(monkeypatch, tmp_path):
    for name in ("onnx", "onnxscript"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingExportDependency, match="needs onnx, onnxscript, which are not"):
        export_step(make_automaton("convca"), tmp_path / "step.onnx", height=8, width=8)
    assert not (tmp_path / "step.onnx").exists()
