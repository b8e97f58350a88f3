"""NCA toolkit: Neural Cellular Automata in PyTorch.

The public API is importable from here; names resolve lazily (PEP 562), so
``import nca`` and the CLI's ``--help`` do not import torch.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("nca-toolkit")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

_EXPORTS = {
    # core
    "CellLayout": "nca.core",
    "CellularAutomaton": "nca.core",
    "Playground": "nca.play.playground",
    "PlayChoice": "nca.play.playground",
    "ShufflePool": "nca.core",
    "GridModel": "nca.core",
    "BlankSeed": "nca.core",
    "PoolBatch": "nca.core",
    "RolloutResult": "nca.core",
    "seed": "nca.core",
    "inject": "nca.core",
    "rollout": "nca.core",
    "damage": "nca.core",
    "fuse": "nca.core",
    "mitosis": "nca.core",
    "octave_plan": "nca.core",
    "check_octaves_fit": "nca.core",
    "overflow_losses": "nca.core",
    "AliveMasking": "nca.core",
    "living_mask": "nca.core",
    "circle_damage": "nca.core",
    "single_cell_seed": "nca.core",
    "SlotPool": "nca.core",
    "image_overflow": "nca.core",
    "OCTAVE_STEPS": "nca.core",
    "OctaveSteps": "nca.core",
    "normalize_gradients_": "nca.core",
    "make_generator": "nca.core",
    "draw_update_mask": "nca.core",
    "apply_update": "nca.core",
    "paper_checkpoint_segments": "nca.core",
    "PAPER_UPDATE_RATE": "nca.core",
    "PAPER_POOL_CAPACITY": "nca.core",
    "ImageModel": "nca.core",
    "ModelOutput": "nca.core",
    "SampleGenerators": "nca.core",
    "derive_seed": "nca.core",
    "FixedPointConfig": "nca.core",
    "FixedPointStats": "nca.core",
    "GradientMode": "nca.core",
    "GRADIENT_MODES": "nca.core",
    "fixed_point_rollout": "nca.core",
    "fixed_point_metrics": "nca.core",
    "fixed_point_penalty": "nca.core",
    # training engine
    "Trainer": "nca.engine",
    "TrainerConfig": "nca.engine",
    "TrainState": "nca.engine",
    "Losses": "nca.engine",
    "Validation": "nca.engine",
    "Optimizer": "nca.engine",
    "Schedule": "nca.engine",
    "write_report": "nca.engine",
    "load_trained_model": "nca.engine",
    "resolve_task_rule": "nca.engine",
    "RandomStreams": "nca.engine",
    "TrainingDiverged": "nca.engine",
    "launch": "nca.engine",
    "evaluate_checkpoint": "nca.engine",
    "barrier": "nca.engine",
    # rules
    "Rule": "nca.rules",
    "CAPABILITIES": "nca.rules",
    "CARule": "nca.rules",
    "FeedForwardRule": "nca.rules",
    "create_rule": "nca.rules",
    "list_rules": "nca.rules",
    "register_rule": "nca.rules",
    "rule_info": "nca.rules",
    "get_rule_class": "nca.rules",
    "resolve_rule_config": "nca.rules",
    "RuleNeeds": "nca.rules",
    "load_run": "nca.tasks",
    "load_subject": "nca.tasks",
    "evaluate_run": "nca.tasks",
    "StoredRun": "nca.tasks",
    # datasets
    "ImageSet": "nca.data",
    "DatasetSource": "nca.data",
    "DatasetUnavailable": "nca.data",
    "BadImageFile": "nca.data",
    "open_image": "nca.data",
    "load_images": "nca.data",
    "list_datasets": "nca.data",
    "register_dataset": "nca.data",
    "dataset_source": "nca.data",
    "default_image_size": "nca.data",
    # tasks
    "Task": "nca.tasks",
    "parameter_count": "nca.rules",
    "RunContext": "nca.engine",
    "EvaluatedCheckpoint": "nca.engine",
    "create_task": "nca.tasks",
    "list_tasks": "nca.tasks",
    "register_task": "nca.tasks",
    "task_info": "nca.tasks",
    "get_task_class": "nca.tasks",
    # checkpoints, run logs and configs
    "save_checkpoint": "nca.checkpoint",
    "load_checkpoint": "nca.checkpoint",
    "find_checkpoint": "nca.checkpoint",
    "load_rule": "nca.rules",
    "run_dir_of": "nca.checkpoint",
    # pretrained models shipped with the package
    "list_pretrained": "nca.pretrained",
    "get_pretrained": "nca.pretrained",
    "pretrained_path": "nca.pretrained",
    "PretrainedModel": "nca.pretrained",
    "RunLog": "nca.run_log",
    "batch_psnr": "nca.metrics",
    "save_animation": "nca.analysis",
    "save_curves": "nca.analysis",
    "save_grid": "nca.analysis",
    "readable_scale": "nca.analysis",
    "psnr": "nca.metrics",
    "check_fits_in_memory": "nca.resources",
    "writable_folder": "nca.resources",
    "ssim": "nca.metrics",
    "progress_bar": "nca.progress",
    "ConfigError": "nca.config",
    "NCAError": "nca.errors",
    "PluginError": "nca.registry",
    "UnknownPluginError": "nca.registry",
    "build_config": "nca.config",
    "config_to_dict": "nca.config",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


#: Earlier public names, still importable with a warning: old name -> new name.
_DEPRECATED = {"SamplePool": "ShufflePool", "SeedPool": "SlotPool"}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        import warnings

        warnings.warn(
            f"nca.{name} is deprecated: use nca.{_DEPRECATED[name]}", DeprecationWarning, 2
        )
        return __getattr__(_DEPRECATED[name])
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nca' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from nca.analysis import (
        readable_scale,
        save_animation,
        save_curves,
        save_grid,
    )
    from nca.checkpoint import (
        find_checkpoint,
        load_checkpoint,
        run_dir_of,
        save_checkpoint,
    )
    from nca.config import (
        ConfigError,
        build_config,
        config_to_dict,
    )
    from nca.core import (
        GRADIENT_MODES,
        OCTAVE_STEPS,
        PAPER_POOL_CAPACITY,
        PAPER_UPDATE_RATE,
        AliveMasking,
        BlankSeed,
        CellLayout,
        CellularAutomaton,
        FixedPointConfig,
        FixedPointStats,
        GradientMode,
        GridModel,
        ImageModel,
        ModelOutput,
        OctaveSteps,
        PoolBatch,
        RolloutResult,
        SampleGenerators,
        ShufflePool,
        SlotPool,
        apply_update,
        check_octaves_fit,
        circle_damage,
        damage,
        derive_seed,
        draw_update_mask,
        fixed_point_metrics,
        fixed_point_penalty,
        fixed_point_rollout,
        fuse,
        image_overflow,
        inject,
        living_mask,
        make_generator,
        mitosis,
        normalize_gradients_,
        octave_plan,
        overflow_losses,
        paper_checkpoint_segments,
        rollout,
        seed,
        single_cell_seed,
    )
    from nca.data import (
        BadImageFile,
        DatasetSource,
        DatasetUnavailable,
        ImageSet,
        dataset_source,
        default_image_size,
        list_datasets,
        load_images,
        open_image,
        register_dataset,
    )
    from nca.engine import (
        EvaluatedCheckpoint,
        Losses,
        Optimizer,
        RandomStreams,
        RunContext,
        Schedule,
        Trainer,
        TrainerConfig,
        TrainingDiverged,
        TrainState,
        Validation,
        barrier,
        evaluate_checkpoint,
        launch,
        load_trained_model,
        resolve_task_rule,
        write_report,
    )
    from nca.errors import (
        NCAError,
    )
    from nca.metrics import (
        batch_psnr,
        psnr,
        ssim,
    )
    from nca.play.playground import (
        PlayChoice,
        Playground,
    )
    from nca.pretrained import (
        PretrainedModel,
        get_pretrained,
        list_pretrained,
        pretrained_path,
    )
    from nca.progress import (
        progress_bar,
    )
    from nca.registry import (
        PluginError,
        UnknownPluginError,
    )
    from nca.resources import (
        check_fits_in_memory,
        writable_folder,
    )
    from nca.rules import (
        CAPABILITIES,
        CARule,
        FeedForwardRule,
        Rule,
        RuleNeeds,
        create_rule,
        get_rule_class,
        list_rules,
        load_rule,
        parameter_count,
        register_rule,
        resolve_rule_config,
        rule_info,
    )
    from nca.run_log import (
        RunLog,
    )
    from nca.tasks import (
        StoredRun,
        Task,
        create_task,
        evaluate_run,
        get_task_class,
        list_tasks,
        load_run,
        load_subject,
        register_task,
        task_info,
    )
