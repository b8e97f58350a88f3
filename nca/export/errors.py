"""Errors of ONNX export, each a one-line message naming what to change."""

from __future__ import annotations

from nca.errors import NCAError

#: What to install for ``nca export --format onnx``.
INSTALL_HINT = "pip install 'nca-toolkit[export]'"


class ExportError(NCAError, ValueError):
    """A model that cannot be exported, or an export whose check failed."""


class MissingExportDependency(NCAError, ImportError):
    """onnx, onnxscript or onnxruntime is not installed."""


def require(*modules: str) -> None:
    """Import ``modules`` (e.g. ``"onnx"``, ``"onnxruntime"``) or fail in one line.

    Raises:
        MissingExportDependency: Naming every missing module and how to install them.
    """
    import importlib

    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingExportDependency(
            f"ONNX export needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: {INSTALL_HINT}"
        )
