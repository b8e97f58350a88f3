"""Nothing is lost: the metrics log is append-only and crash-tolerant, one process per run
directory, truthful Ctrl-C messages, orphaned temporary files cleaned up, a failed start
leaves no directory, a finished run is not evaluated twice, and a diverged run can be
branched with ``--init-from``."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from rich.console import Console

from nca import RunLog, Trainer, TrainingDiverged, launch, load_checkpoint
from nca.engine.lock import RunDirLock, RunDirLocked
from nca.tasks import RunContext
from tests.engine.test_trainer import EchoConfig, EchoTask, _rule, _trainer

ROOT = Path(__file__).resolve().parents[2]


def _records(run: Path) -> list[tuple[str, int, float | None]]:
    return [(r["kind"], r["step"], r.get("loss")) for r in RunLog(run, tensorboard=False).read()]


def test_resumed_log_is_append_only_and_reads_as_an_uninterrupted_one(tmp_path):
    _trainer(tmp_path / "a").run_training()
    first = _trainer(tmp_path / "b", checkpoint_every=4)
    original = first.task.sample_batch

    def interrupting(data, state):  # logged 5 and 6 after the checkpoint of 4, then Ctrl-C
        if state.iteration == 7:
            raise KeyboardInterrupt
        return original(data, state)

    first.task.sample_batch = interrupting
    with pytest.raises(KeyboardInterrupt):
        first.run_training()
    before = (tmp_path / "b" / "metrics.jsonl").read_bytes()
    resumed = _trainer(tmp_path / "b", checkpoint_every=4)
    resumed.run.resume = True
    resumed.run_training()
    after = (tmp_path / "b" / "metrics.jsonl").read_bytes()
    assert after.startswith(before)  # nothing rewritten
    raw = [json.loads(line)["step"] for line in after.decode().splitlines()]
    assert raw.count(5) == 2  # logged twice on disk ...
    straight = _trainer(tmp_path / "c", checkpoint_every=4)
    straight.run_training()
    assert _records(tmp_path / "b") == _records(tmp_path / "c")  # ... read once


def test_a_torn_last_line_is_cut_with_a_warning_and_the_run_resumes(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.run.stop_after = 5
    trainer.run_training()
    path = tmp_path / "metrics.jsonl"
    complete = path.read_bytes()
    path.write_bytes(complete + b'{"kind": "train", "step": 6, "lo')  # a crash mid-write
    resumed = _trainer(tmp_path)
    resumed.run.resume = True
    with pytest.warns(UserWarning, match=r"metrics.jsonl: removed a torn last record \(32 bytes"):
        resumed.run_training()
    assert path.read_bytes().startswith(complete)
    assert [s for k, s, _ in _records(tmp_path) if k == "train"] == list(range(1, 13))


def test_an_unreadable_line_is_skipped_naming_file_and_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"kind": "train", "step": 1}\nnot json\n{"kind": "train", "step": 2}\n')
    with pytest.warns(UserWarning, match=r"metrics.jsonl:2: skipped an unreadable record"):
        records = RunLog(tmp_path, tensorboard=False).read()
    assert [r["step"] for r in records] == [1, 2]


_WRITER = """
import sys
from nca import RunLog
log = RunLog(sys.argv[1], tensorboard=False)
i = 0
while True:
    i += 1
    log.write(i, {"loss": 0.5, "padding": "x" * 20000})
"""


def test_kill_9_during_metrics_writes_loses_no_complete_record(tmp_path):
    for attempt in range(3):
        run = tmp_path / str(attempt)
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(run)], cwd=ROOT)
        time.sleep(1.0 + 0.13 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with warnings.catch_warnings():  # a torn tail is likely after kill -9, not certain
            warnings.simplefilter("ignore")
            log = RunLog(run, tensorboard=False)  # repairs a torn tail if there is one
        steps = [r["step"] for r in log.read()]
        assert steps and steps == list(range(1, len(steps) + 1))
        assert (run / "metrics.jsonl").read_bytes().endswith(b"\n")


_HOLDER = """
import sys, time
from nca.engine.lock import RunDirLock
lock = RunDirLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_process_on_a_run_directory_is_refused_naming_the_pid(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirLocked, match=f"in use by process {holder.pid}"):
            launch(EchoTask(EchoConfig()), rule="convca:tiny", run_dir=tmp_path, resume=True)
    finally:
        holder.kill()
        holder.wait()
    # the lock died with its process (kill -9 included): the run can start now
    launch(EchoTask(EchoConfig(iterations=2)), rule="convca:tiny", run_dir=tmp_path, quiet=True)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["iteration"] == 2
    # released at the end of the run, and a clean end leaves no lock files behind
    assert not (tmp_path / ".lock").exists() and not (tmp_path / ".lock.pid").exists()
    with RunDirLock(tmp_path):
        assert (tmp_path / ".lock.pid").read_text() == str(os.getpid())
    assert not (tmp_path / ".lock").exists()


def test_the_lock_needs_no_fcntl_and_refuses_in_one_line_naming_the_directory(
    tmp_path, monkeypatch
):
    """Without ``fcntl`` (Windows) the lock must still lock, not silently do nothing."""
    monkeypatch.setitem(sys.modules, "fcntl", None)  # `import fcntl` now fails
    run_dir = tmp_path / "run"
    with RunDirLock(run_dir):
        with pytest.raises(RunDirLocked) as refused:
            RunDirLock(run_dir).acquire()
        message = str(refused.value)
        assert "\n" not in message
        assert message.startswith(f"run directory {str(run_dir)!r} is in use by process")
        assert f"process {os.getpid()} " in message
    lock = RunDirLock(run_dir).acquire()  # released on leaving the block
    lock.release()
    lock.release()  # launch may release twice (on failure, then finally)
    RunDirLock(run_dir).acquire().release()


def test_a_second_ctrl_c_mid_iteration_does_not_claim_a_checkpoint(tmp_path):
    out = io.StringIO()
    torch.manual_seed(0)
    task = EchoTask(EchoConfig())
    trainer = Trainer(
        task, _rule(), RunContext(tmp_path, quiet=True), console=Console(file=out, width=300)
    )
    original = task.sample_batch

    def double_ctrl_c(data, state):
        if state.iteration == 7:
            os.kill(os.getpid(), signal.SIGINT)  # deferred ...
            os.kill(os.getpid(), signal.SIGINT)  # ... the second one stops at once
        return original(data, state)

    task.sample_batch = double_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        trainer.run_training()
    message = out.getvalue()
    assert "checkpoint saved" not in message
    assert "stopped during iteration 7 (second Ctrl-C): no new checkpoint" in message
    assert "holds iteration 5" in message
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["iteration"] == 5


def test_orphaned_temporary_checkpoints_are_removed_on_resume(tmp_path):
    launch(EchoTask(EchoConfig(iterations=6)), rule="convca:tiny", run_dir=tmp_path, quiet=True)
    orphan = tmp_path / "checkpoints" / ".last.pt.k9x2.tmp"  # a write killed by kill -9
    orphan.write_bytes(b"partial")
    out = io.StringIO()
    launch(
        EchoTask(EchoConfig(iterations=6)),
        rule="convca:tiny",
        run_dir=tmp_path,
        resume=True,
        quiet=True,
        console=Console(file=out, width=300),
    )
    assert not orphan.exists()
    assert "removed 1 unfinished checkpoint file(s)" in out.getvalue()
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["iteration"] == 6


def test_resuming_a_finished_run_evaluates_nothing_again(tmp_path):
    first = launch(EchoTask(EchoConfig(iterations=4)), rule="convca:tiny", run_dir=tmp_path)
    again = launch(
        EchoTask(EchoConfig(iterations=4)), rule="convca:tiny", run_dir=tmp_path, resume=True
    )
    kinds = [k for k, _, _ in _records(tmp_path)]
    assert kinds.count("evaluation") == 1
    assert again == {"eval_evaluated": first["eval_evaluated"]}


def test_a_failure_before_the_first_checkpoint_leaves_no_directory(tmp_path):
    class Broken(EchoTask):
        def train_data(self, run):
            raise ValueError("no images in the folder")

    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match="no images"):
        launch(Broken(EchoConfig()), rule="convca:tiny", run_dir=run_dir)
    assert not run_dir.exists()  # the same --run-dir can be used again at once
    launch(EchoTask(EchoConfig(iterations=2)), rule="convca:tiny", run_dir=run_dir, quiet=True)
    assert (run_dir / "config.json").is_file()


def test_final_training_metrics_are_means_of_the_last_iterations(tmp_path):
    trainer = _trainer(tmp_path)
    metrics = trainer.run_training()
    losses = [r["loss"] for r in RunLog(tmp_path).read() if r["kind"] == "train"]
    assert metrics["loss"] == pytest.approx(sum(losses) / len(losses))  # 12 < 50 iterations
    assert "lr" not in metrics and "from_pool" not in metrics


def test_divergence_advice_is_a_command_that_works(tmp_path):
    with pytest.raises(TrainingDiverged) as err:
        launch(EchoTask(EchoConfig(nan_at=7)), rule="convca:tiny", run_dir=tmp_path / "a")
    message = str(err.value)
    checkpoint = tmp_path / "a" / "checkpoints" / "last.pt"
    assert f"--init-from {checkpoint} -o lr=0.001" in message
    branched = tmp_path / "b"
    launch(
        EchoTask(EchoConfig(lr=1e-3, iterations=3)),
        rule="convca:tiny",
        run_dir=branched,
        init_from=checkpoint,
        quiet=True,
    )
    assert json.loads((branched / "config.json").read_text())["init_from"] == str(checkpoint)
    with pytest.raises(ValueError, match="holds a 'convca' rule; this run trains 'unet'"):
        launch(EchoTask(EchoConfig()), rule="unet", run_dir=tmp_path / "c", init_from=checkpoint)
    with pytest.raises(ValueError, match="weights do not fit this rule's config"):
        launch(
            EchoTask(EchoConfig()),
            rule="convca",
            run_dir=tmp_path / "d",
            init_from=checkpoint,
        )
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_resuming_over_another_rules_weights_is_one_clear_error(tmp_path):
    import shutil

    launch(EchoTask(EchoConfig(iterations=3)), rule="convca:tiny", run_dir=tmp_path / "a")
    launch(EchoTask(EchoConfig(iterations=3)), rule="convca", run_dir=tmp_path / "b")
    shutil.copy(tmp_path / "a" / "checkpoints" / "last.pt", tmp_path / "b" / "checkpoints")
    with pytest.raises(ValueError, match="holds weights of another shape") as err:
        launch(
            EchoTask(EchoConfig(iterations=3)), rule="convca", run_dir=tmp_path / "b", resume=True
        )
    assert "start a new run" in str(err.value)


_CHECKPOINT_WRITER = """
import sys, torch
from nca import save_checkpoint
i = 0
while True:
    i += 1
    save_checkpoint(sys.argv[1], {"iteration": i, "big": torch.full((2_000_000,), float(i))})
"""


def test_kill_9_during_checkpoint_writes_never_loses_the_checkpoint(tmp_path):
    """The last complete checkpoint is always readable (atomic rename); the orphaned
    temporary file of the killed write is cleaned up by the next start."""
    path = tmp_path / "checkpoints" / "last.pt"
    for attempt in range(4):
        proc = subprocess.Popen([sys.executable, "-c", _CHECKPOINT_WRITER, str(path)], cwd=ROOT)
        deadline = time.time() + 30
        while not path.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2 + 0.11 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = load_checkpoint(path)
        assert torch.equal(data["big"], torch.full((2_000_000,), float(data["iteration"])))
    path.unlink()  # a checkpoint is a run that a new start refuses to train over; the orphans stay
    out = io.StringIO()
    task = EchoTask(EchoConfig(iterations=2))
    launch(task, rule="convca:tiny", run_dir=tmp_path, quiet=True, console=Console(file=out))
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))
