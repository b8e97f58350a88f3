"""The training engine: one trainer that every task drives.

A task (:class:`nca.tasks.Task`) is data, an objective and an evaluation; the
engine owns the loop, optimiser and schedule, gradient normalisation, bf16,
checkpoints with exact resume, random streams, deferred Ctrl-C, the NaN stop,
``stop_after``, data parallelism under torchrun, the metrics log and progress.
"""

from nca.engine.config import EvalCheckpoint, Optimizer, Schedule, TrainerConfig
from nca.engine.distributed import barrier, distributed_env, is_distributed, mean_over_ranks
from nca.engine.evaluation import evaluate_checkpoint, load_trained_model
from nca.engine.launch import launch, seed_everything
from nca.engine.optim import build_optimizer, build_schedule
from nca.engine.report import write_report
from nca.engine.rule_config import ResolvedRule, RuleConfigConflict, resolve_task_rule
from nca.engine.run import EvaluatedCheckpoint, RunContext
from nca.engine.run_dir import RunDirError, check_run_dir, write_resolved_config
from nca.engine.streams import RandomStreams
from nca.engine.trainer import (
    CHECKSUM_ENV,
    CheckpointedPool,
    Losses,
    Trainer,
    TrainingDiverged,
    TrainState,
    Validation,
)

__all__ = [
    "CHECKSUM_ENV",
    "CheckpointedPool",
    "EvalCheckpoint",
    "EvaluatedCheckpoint",
    "Losses",
    "Optimizer",
    "RandomStreams",
    "ResolvedRule",
    "RuleConfigConflict",
    "RunContext",
    "RunDirError",
    "Schedule",
    "TrainState",
    "Trainer",
    "TrainerConfig",
    "TrainingDiverged",
    "Validation",
    "barrier",
    "build_optimizer",
    "build_schedule",
    "check_run_dir",
    "distributed_env",
    "evaluate_checkpoint",
    "is_distributed",
    "launch",
    "load_trained_model",
    "mean_over_ranks",
    "resolve_task_rule",
    "seed_everything",
    "write_report",
    "write_resolved_config",
]
