"""Within noise: one tolerance per kind of metric, NaN only equal to NaN."""

from __future__ import annotations

import pytest

from nca.pretrained import compare_metrics, tolerance_of


@pytest.mark.parametrize(
    ("metric", "recorded", "inside", "outside"),
    [
        ("psnr_T", 28.0, 27.1, 26.9),  # 1 dB
        ("eval_ssim_1x1_50", 0.8, 0.815, 0.83),
        ("majority_accuracy_T", 50.0, 54.9, 55.1),  # 5 points: the tasks report %
        ("covered_fraction", 0.5, 0.54, 0.56),
        ("recovery_steps", 30.0, 34.9, 35.1),  # 2 + 10 %
        ("loss_T", 0.01, 0.0109, 0.0112),  # 1e-4 + 10 %
        ("parameters", 1000.0, 1049.0, 1051.0),  # 5 % otherwise
    ],
)
def test_each_kind_of_metric_has_its_tolerance(metric, recorded, inside, outside):
    tolerance = tolerance_of(metric)
    assert tolerance.allows(recorded, inside) and not tolerance.allows(recorded, outside)


def test_nan_matches_only_nan():
    tolerance = tolerance_of("recovery_steps")
    assert tolerance.allows(None, float("nan")) and tolerance.allows(float("nan"), None)
    assert not tolerance.allows(None, 3.0) and not tolerance.allows(3.0, None)


def test_a_metric_no_longer_measured_fails():
    rows = compare_metrics({"psnr_T": 20.0, "gone": 1.0}, {"psnr_T": 20.5, "new": 3.0})
    assert [(r.metric, r.ok) for r in rows] == [("psnr_T", True), ("gone", False)]
    assert rows[0].tolerance.describe() == "±1"
