"""``manifest.json``: written and read back the same, NaN as null, malformed files named."""

from __future__ import annotations

import json
import math

import pytest

from nca.pretrained import EvaluationRecord, ManifestError, read_manifest, write_manifest
from tests.pretrained.conftest import entry_for


def test_entries_read_back_as_written_sorted_by_name(manifest):
    models = read_manifest(manifest)
    assert [m.name for m in models] == ["gecko", "newt"]
    write_manifest(manifest, list(reversed(models)))
    assert read_manifest(manifest) == models
    assert models[0].training.preset == "quick" and models[0].evaluation.seed == 0


def test_a_nan_metric_is_stored_as_null(tmp_path, manifest):
    weights = manifest.parent / "weights" / "gecko.pt"
    nan = EvaluationRecord({"psnr_T": float("nan"), "loss_T": 0.5})
    path = write_manifest(tmp_path / "m.json", [entry_for("gecko", weights, evaluation=nan)])
    stored = json.loads(path.read_text())["models"][0]["evaluation"]["metrics"]
    assert stored == {"psnr_T": None, "loss_T": 0.5}
    assert not math.isnan(read_manifest(path)[0].evaluation.metrics["loss_T"])


def test_a_missing_manifest_lists_no_models(tmp_path):
    assert read_manifest(tmp_path / "none.json") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "is not valid JSON"),
        ('{"format": 9, "models": []}', "has manifest format 9; this version reads format 1"),
        ('{"format": 1, "models": {}}', "'models' must be a list"),
        ('{"format": 1, "models": [3]}', "expected a table, got int"),
        ('{"format": 1, "models": [{"name": "x", "training": {}, "evaluation": {}}]}',
         "model 'x'"),
    ],
)  # fmt: skip
def test_a_malformed_manifest_is_named_in_one_line(tmp_path, text, message):
    path = tmp_path / "manifest.json"
    path.write_text(text)
    with pytest.raises(ManifestError, match="manifest.json") as caught:
        read_manifest(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
