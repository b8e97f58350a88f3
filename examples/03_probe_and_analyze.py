"""Train ViTCA briefly, probe its hidden states, and draw two of the paper's pictures.

Run: python examples/03_probe_and_analyze.py [--iterations 300] [--out OUT]
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


def main(iterations: int = 300, out: Path | None = None) -> dict:
    root = Path(out or tempfile.mkdtemp())
    run = root / "vitca"
    nca(
        "train",
        "--rule",
        "vitca",
        "--task",
        "denoise",
        "--preset",
        "quick",
        "--iterations",
        str(iterations),
        "--eval-subset",
        "20",
        "--run-dir",
        str(run),
        "-q",
    )
    nca(
        "train",
        "--task",
        "probe",
        "--from",
        str(run),
        "--train-subset",
        "500",
        "--eval-subset",
        "200",
        "--run-dir",
        str(root / "probe"),
        "-q",
    )
    probe = json.loads((root / "probe" / "probe.json").read_text())
    subject = load_subject(run, count=6)
    damage = run_experiment("damage", subject, root / "damage", steps=96, damage_at=(32, 64))
    rates = run_experiment("update-rates", subject, root / "rates", steps=64)
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
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    main(args.iterations, args.out)
