"""Where and how a run happens: the context every task hook receives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EvaluatedCheckpoint:
    """The weights an evaluation scores, named in its report.

    Attributes:
        file: The checkpoint file they were read from (or written to, at the end of
            training).
        iteration: The training iteration they are from (``None``: not recorded).
        iterations: The iterations the run trains for, where known (the evaluation at
            the end of training); ``None``: not known.
    """

    file: str
    iteration: int | None
    iterations: int | None = None

    @classmethod
    def of(cls, checkpoint: str | Path, data: dict) -> EvaluatedCheckpoint:
        """Read from a loaded checkpoint ``data`` (``best.pt`` records its best's iteration).
        ``iterations`` stays unknown: a task may count them from its data (epochs), not
        from the config a checkpoint stores."""
        iteration = data.get("iteration")
        if iteration is None:
            iteration = (data.get("best") or {}).get("iteration")
        return cls(str(checkpoint), int(iteration) if iteration is not None else None)

    def as_dict(self) -> dict:
        """JSON-friendly: ``{"file", "iteration", "iterations"}``."""
        return {"file": self.file, "iteration": self.iteration, "iterations": self.iterations}


@dataclass
class RunContext:
    """Where and how a task runs.

    Attributes:
        run_dir: Directory for the resolved config, metrics, pictures, checkpoints.
        seed: Seed of the run; per-rank generators derive from it (``seed + rank``
            where ranks must differ, e.g. data order and masks).
        device: Torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        resume: Continue from the latest checkpoint in ``run_dir`` if there is one.
        quiet: No progress bars (also implied when stdout is not a terminal).
        rank: Global rank of this process (0 without torch.distributed).
        world_size: Number of processes.
        local_rank: Rank on this machine (selects the GPU).
        stop_after: Stop after this many iterations in this invocation (checkpointed);
            continue later with ``resume``. ``None``: run to the end.
        report: Where an evaluation writes its report file; ``None``: the task's
            default in ``run_dir`` (``nca eval`` picks a new file each time, so a later
            evaluation never replaces an earlier one).
        evaluated: The checkpoint an evaluation scores (file and iteration), which its
            report names; ``None`` outside evaluations.
    """

    run_dir: Path
    seed: int = 0
    device: str = "cpu"
    resume: bool = False
    quiet: bool = False
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    stop_after: int | None = None
    report: Path | None = None
    evaluated: EvaluatedCheckpoint | None = None

    def report_header(self) -> dict:
        """What every report file starts with: ``{"checkpoint": {file, iteration,
        iterations}}`` (``None`` when the evaluated weights are not known)."""
        return {"checkpoint": self.evaluated.as_dict() if self.evaluated else None}

    def report_path(self, default: str) -> Path:
        """:attr:`report`, or ``run_dir / default``."""
        return Path(self.report) if self.report is not None else Path(self.run_dir) / default

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints, pictures and logs (rank 0)."""
        return self.rank == 0
