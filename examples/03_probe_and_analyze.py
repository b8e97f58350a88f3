"""Train ViTCA briefly, probe its hidden states, and draw two of the paper's pictures.

Run: python examples/03_probe_and_analyze.py [--iterations 300] [--out OUT] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from click.testing import CliRunner

from nca import load_subject
from nca.analysis import run_experiment
from nca.cli import cli


def nca(*args: str) -> None:
    """Run an `nca` command in-process (the same as typing it in a shell)."""
    result = CliRunner().invoke(cli, list(args))
    if result.exit_code:
        raise SystemExit(result.output)


#: Sizes of the example, and of ``--tiny``: a smoke run of seconds (the tests run it).
FULL = {"iterations": 300, "image_size": 16, "batch_size": 16, "validation_size": 32,
        "eval_subset": 20, "eval_steps": 32, "probe_train": 500, "probe_test": 200,
        "images": 6, "damage_steps": 96, "damage_at": (32, 64), "rate_steps": 64}  # fmt: skip
TINY = {"iterations": 2, "image_size": 8, "batch_size": 2, "validation_size": 4,
        "eval_subset": 4, "eval_steps": 4, "probe_train": 16, "probe_test": 8,
        "images": 2, "damage_steps": 12, "damage_at": (4, 8), "rate_steps": 8}  # fmt: skip


def main(iterations: int | None = None, out: Path | None = None, tiny: bool = False) -> dict:
    size = TINY if tiny else FULL
    iterations = size["iterations"] if iterations is None else iterations
    root = Path(out or tempfile.mkdtemp())
    run = root / "vitca"
    nca(
        "train", "--rule", "vitca", "--task", "denoise", "--preset", "quick",
        "--iterations", str(iterations),
        "--image-size", str(size["image_size"]),
        "--batch-size", str(size["batch_size"]),
        "--eval-subset", str(size["eval_subset"]),
        "--eval-steps", str(size["eval_steps"]),
        "-o", f"validation_size={size['validation_size']}",
        "--run-dir", str(run), "-q",
    )  # fmt: skip
    nca(
        "train", "--task", "probe", "--from", str(run),
        "--train-subset", str(size["probe_train"]),
        "--eval-subset", str(size["probe_test"]),
        "--run-dir", str(root / "probe"), "-q",
    )  # fmt: skip
    probe = json.loads((root / "probe" / "probe.json").read_text())
    subject = load_subject(run, count=size["images"])
    damage = run_experiment(
        "damage", subject, root / "damage",
        steps=size["damage_steps"], damage_at=size["damage_at"],
    )  # fmt: skip
    rates = run_experiment("update-rates", subject, root / "rates", steps=size["rate_steps"])
    summary = {
        "probe_accuracy": probe["test_accuracy"],
        "psnr_before_damage": damage["psnr_before_damage"],
        "final_psnr_after_damage": damage["final_psnr"],
        "steps_to_converge": rates["steps_to_converge"],
        "pictures": str(root),
    }
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, help="default: 300 (--tiny: 2)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--tiny", action="store_true", help="a smoke run of seconds")
    args = parser.parse_args()
    main(args.iterations, args.out, args.tiny)
