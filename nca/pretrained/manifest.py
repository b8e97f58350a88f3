"""The manifest of shipped pretrained models: what each entry records, read and written.

``manifest.json`` (next to this module, shipped as package data) holds one entry per
model::

    {"format": 1, "models": [{"name": "lizard", "task": "grow", "rule": "convca", ...}]}

Every entry names its weights file (under ``weights/``), the file's sha256 and size, the
command that trained it, and its evaluation numbers with the settings they were measured
under. ``scripts/make_pretrained.py`` writes entries; nothing else needs to.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nca.errors import NCAError

#: Bumped when the layout of ``manifest.json`` changes incompatibly.
MANIFEST_FORMAT = 1


class ManifestError(NCAError, ValueError):
    """``manifest.json`` is missing a field, has one of the wrong type, or is not JSON."""


@dataclass(frozen=True)
class TrainingRecord:
    """How a shipped model was trained.

    Attributes:
        command: The ``nca train`` command line that trains it (without ``--run-dir``
            and ``--device``, which ``scripts/train_pretrained.py`` adds).
        preset: The task preset of the command (``None``: none).
        seed: The run's seed.
        iterations: Training iterations (the budget).
        checkpoint: Which checkpoint of the run was shipped: ``last`` or ``best``.
        device: The device it was trained on.
        commit: The git commit of the toolkit that trained it, where known.
        threads: CPU threads it trained with (``torch.get_num_threads()``), where
            known: a CPU run's floating-point sums, and so its numbers, depend on the
            count, so ``scripts/train_pretrained.py`` retrains with the same.
    """

    command: str
    preset: str | None
    seed: int
    iterations: int | None
    checkpoint: str = "last"
    device: str = "cpu"
    commit: str | None = None
    threads: int | None = None


@dataclass(frozen=True)
class EvaluationRecord:
    """A shipped model's evaluation numbers and the settings they were measured under.

    Attributes:
        metrics: The task's evaluation metrics (``None`` for a metric that was NaN).
        overrides: Task config fields changed for the evaluation (``-o key=value`` of
            ``nca eval``), e.g. a smaller test subset so the tests stay fast.
        seed: The evaluation's seed (``nca eval --seed``).
        device: The device it was measured on.
    """

    metrics: dict[str, float | None]
    overrides: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "cpu"


@dataclass(frozen=True)
class PretrainedModel:
    """One entry of the manifest.

    Attributes:
        name: The name it is used by (``nca play NAME``).
        task: The task it was trained on.
        rule: Its update rule (``None`` for a task without one).
        description: One line on what it does.
        training: How it was trained.
        evaluation: Its evaluation numbers.
        toolkit_version: The toolkit version that trained and evaluated it.
        file: Its weights file, relative to the ``weights/`` folder.
        sha256: The sha256 of that file's bytes.
        size_bytes: That file's size.
        placeholder: A stand-in for development, not a properly trained model.
    """

    name: str
    task: str
    rule: str | None
    description: str
    training: TrainingRecord
    evaluation: EvaluationRecord
    toolkit_version: str
    file: str
    sha256: str
    size_bytes: int
    placeholder: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN metrics as ``None``."""
        data = asdict(self)
        metrics = data["evaluation"]["metrics"]
        data["evaluation"]["metrics"] = {k: _finite_or_none(v) for k, v in metrics.items()}
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "manifest") -> PretrainedModel:
        """An entry read from JSON.

        Raises:
            ManifestError: a field is missing or of the wrong type (naming it).
        """
        entry = _table(data, where)
        name = entry.get("name", "?")
        here = f"{where}: model {name!r}"
        training = _table(entry.get("training"), f"{here}: training")
        evaluation = _table(entry.get("evaluation"), f"{here}: evaluation")
        try:
            return cls(
                **{k: v for k, v in entry.items() if k not in ("training", "evaluation")},
                training=TrainingRecord(**training),
                evaluation=EvaluationRecord(**evaluation),
            )
        except TypeError as err:  # a missing or unknown field
            raise ManifestError(f"{here}: {err}") from err


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ManifestError(f"{where}: expected a table, got {type(value).__name__}")
    return value


def _finite_or_none(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def read_manifest(path: str | Path) -> list[PretrainedModel]:
    """The entries of the manifest at ``path`` (none when the file does not exist).

    Raises:
        ManifestError: it is not JSON, has another format, or an entry is malformed.
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise ManifestError(f"{path} is not valid JSON: {err}") from err
    data = _table(data, str(path))
    if data.get("format") != MANIFEST_FORMAT:
        raise ManifestError(
            f"{path} has manifest format {data.get('format')!r}; this version reads "
            f"format {MANIFEST_FORMAT}"
        )
    models = data.get("models", [])
    if not isinstance(models, list):
        raise ManifestError(f"{path}: 'models' must be a list")
    return [PretrainedModel.from_dict(entry, str(path)) for entry in models]


def write_manifest(path: str | Path, models: list[PretrainedModel]) -> Path:
    """Write ``models`` (sorted by name) to ``path`` atomically."""
    path = Path(path)
    data = {
        "format": MANIFEST_FORMAT,
        "models": [m.to_dict() for m in sorted(models, key=lambda m: m.name)],
    }
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
