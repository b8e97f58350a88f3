"""Pretrained models shipped with the package: a manifest and weights-only checkpoints.

Use one by name wherever a run directory or checkpoint is accepted
(``nca play lizard``, ``nca eval lizard``, ``nca train --init-from lizard``);
``nca pretrained`` lists them. ``scripts/make_pretrained.py`` makes an entry from a
trained run and ``scripts/train_pretrained.py`` trains every entry again and compares
its numbers with the manifest's (:mod:`nca.pretrained.tolerance`).
"""

from nca.pretrained.catalogue import (
    MANIFEST_FILE,
    PretrainedCorrupted,
    UnknownPretrainedModel,
    file_sha256,
    get_pretrained,
    is_pretrained_name,
    list_pretrained,
    missing_source,
    output_dir,
    pretrained_names,
    pretrained_path,
    shipped_name,
    weights_file,
)
from nca.pretrained.manifest import (
    EvaluationRecord,
    ManifestError,
    PretrainedModel,
    TrainingRecord,
    read_manifest,
    write_manifest,
)
from nca.pretrained.slim import slim_checkpoint
from nca.pretrained.tolerance import MetricComparison, Tolerance, compare_metrics, tolerance_of

__all__ = [
    "MANIFEST_FILE",
    "EvaluationRecord",
    "ManifestError",
    "MetricComparison",
    "PretrainedCorrupted",
    "PretrainedModel",
    "Tolerance",
    "TrainingRecord",
    "UnknownPretrainedModel",
    "compare_metrics",
    "file_sha256",
    "get_pretrained",
    "is_pretrained_name",
    "list_pretrained",
    "missing_source",
    "output_dir",
    "pretrained_names",
    "pretrained_path",
    "read_manifest",
    "shipped_name",
    "slim_checkpoint",
    "tolerance_of",
    "weights_file",
    "write_manifest",
]
