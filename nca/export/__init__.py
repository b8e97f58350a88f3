"""Export of a cellular automaton's step function (``nca export RUN --format onnx``).

Python::

    from nca.export import check_export, export_step
    report = export_step(automaton, "step.onnx", height=32, width=32)
    check_export(automaton, "step.onnx")  # onnxruntime vs PyTorch, 1 and 32 steps

onnx, onnxscript and onnxruntime (``pip install 'nca-toolkit[export]'``) are imported
only when a function needs them.
"""

from nca.export.backends import attention_backend, attention_layers, with_attention_backend
from nca.export.check import DEFAULT_ATOL, CheckReport, check_export
from nca.export.errors import INSTALL_HINT, ExportError, MissingExportDependency, require
from nca.export.onnx_step import (
    EXPORTERS,
    INPUT_NAMES,
    OUTPUT_NAME,
    ExportReport,
    StepModule,
    automaton_of,
    export_step,
    rule_name,
)
from nca.export.state import check_state

__all__ = [
    "DEFAULT_ATOL",
    "EXPORTERS",
    "INPUT_NAMES",
    "INSTALL_HINT",
    "OUTPUT_NAME",
    "CheckReport",
    "ExportError",
    "ExportReport",
    "MissingExportDependency",
    "StepModule",
    "attention_backend",
    "attention_layers",
    "automaton_of",
    "check_export",
    "check_state",
    "export_step",
    "require",
    "rule_name",
    "with_attention_backend",
]
