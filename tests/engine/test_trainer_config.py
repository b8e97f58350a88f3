"""The engine's config refuses non-finite numbers in every float field, however it is
built; a diverged run never suggests restarting with an unusable learning rate."""

from __future__ import annotations

import dataclasses
import math

import pytest

from nca.config import ConfigError, build_config
from nca.engine import TrainerConfig
from nca.engine.config import inert_settings
from nca.engine.trainer import _stabler_settings

NON_FINITE = [math.inf, -math.inf, math.nan]


@pytest.mark.parametrize("value", NON_FINITE, ids=str)
@pytest.mark.parametrize("name", ["lr", "weight_decay", "lr_gamma"])
def test_python_configs_refuse_non_finite_floats(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        TrainerConfig(**{name: value})


@pytest.mark.parametrize("name", ["lr", "weight_decay", "lr_gamma"])
def test_floats_beyond_float32_are_refused(name):
    with pytest.raises(ValueError, match=rf"{name}=1e\+39 is beyond float32's range"):
        TrainerConfig(**{name: 1e39})
    with pytest.raises(ValueError, match="beyond float32's range"):
        TrainerConfig(**{name: -1e39})


@dataclasses.dataclass
class TaskConfig(TrainerConfig):
    """A task's config: its own float fields are checked by the engine's too.

    Attributes:
        sigma: A task's float setting.
        weights: A task's tuple of floats.
    """

    sigma: float = 0.5
    weights: tuple[float, ...] = (1.0,)


@pytest.mark.parametrize(("name", "value"), [("sigma", math.inf), ("weights", (1.0, math.nan))])
def test_a_task_configs_own_floats_are_checked(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        TaskConfig(**{name: value})


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e999", "-1e999", "Infinity"])
def test_values_from_files_and_options_refuse_non_finite_numbers(text):
    with pytest.raises(ConfigError, match=r"task\.lr: expected a finite number"):
        build_config(TrainerConfig, {"lr": text}, where="task")
    with pytest.raises(ConfigError, match="expected a finite number"):
        build_config(TrainerConfig, {"lr": float(text)}, where="task")  # TOML's inf, nan


def test_an_integer_too_large_for_a_float_is_refused():
    with pytest.raises(ConfigError, match="expected a number"):
        build_config(TrainerConfig, {"lr": 10**400}, where="task")


@pytest.mark.parametrize("lr", [math.inf, math.nan, 1e-323])
def test_the_nan_stop_suggests_no_unusable_learning_rate(lr):
    config = TrainerConfig()
    config.lr = lr  # set after validation, as a diverging run's config could hold it
    suggested = " ".join(_stabler_settings(config))
    assert "lr=" not in suggested
    config.lr = 1e-3
    assert _stabler_settings(config) == ["-o lr=0.0001"]


@pytest.mark.parametrize("gradient", ["bptt", "checkpoint"])
def test_fixed_point_settings_without_the_fixed_point_mode_are_announced(gradient):
    config = build_config(TrainerConfig, {"gradient": gradient, "fixed_point.tol": "0.01"})
    (line,) = inert_settings(config)
    assert f"fixed_point.tol=0.01 would do nothing with gradient={gradient}" in line
    assert inert_settings(build_config(TrainerConfig, {"gradient": gradient})) == []
    fixed = build_config(TrainerConfig, {"gradient": "fixed-point", "fixed_point.tol": "0.01"})
    assert inert_settings(fixed) == []
