"""benchmarks/device_run.sh: the one-call GPU check (install, import check, device_check.sh),
rehearsed with its ``--cpu`` form. The editable install lands in a throwaway venv, never in
the environment that runs the tests."""

import base64
import hashlib
import os
import shutil
import site
import subprocess
import sys
import zipfile
from importlib.metadata import distribution
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPT = BENCHMARKS / "device_run.sh"


def wheel_of_installed(name: str, folder: Path) -> Path:
    """Pack the installed distribution ``name`` back into a wheel in ``folder`` (what
    ``pip download`` would fetch, without a network)."""
    dist = distribution(name)
    files = [f for f in dist.files if ".." not in f.parts and "__pycache__" not in f.parts]
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    files = [f for f in files if not (f.parent.name.endswith(".dist-info") and f.name in skip)]
    info = next(f.parent for f in files if f.parent.name.endswith(".dist-info"))
    wheel = folder / f"{name}-{dist.version}-py3-none-any.whl"
    folder.mkdir(parents=True, exist_ok=True)
    record = []
    with zipfile.ZipFile(wheel, "w") as zf:
        for f in files:
            data = Path(dist.locate_file(f)).read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{f.as_posix()},sha256={digest.decode()},{len(data)}")
            zf.writestr(f.as_posix(), data)
        zf.writestr(f"{info.as_posix()}/RECORD", "\n".join([*record, f"{info}/RECORD,,", ""]))
    return wheel


@pytest.fixture
def scratch_env(tmp_path) -> dict:
    """Environment whose ``python3`` is a throwaway venv that sees this interpreter's
    packages (torch, pip, setuptools) through a ``.pth`` file: the script's editable
    install goes into that venv."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = subprocess.run([str(venv / "bin" / "python3"), "-c", code],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    Path(purelib, "outer_site.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OUT")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return env


@pytest.mark.parametrize(
    "wheels, message",
    [
        (None, "no .whl/ folder"),
        ([], "no lpips wheel among the 0 wheels in .whl/"),
        (["numpy-2.0.0-cp312-cp312-any.whl"], "no lpips wheel among the 1 wheels in .whl/"),
        (["lpips-0.1.3-py3-none-any.whl", "lpips-0.1.4-py3-none-any.whl"], "two versions of lpips"),
    ],
    ids=["no-folder", "empty", "no-lpips", "two-lpips"],
)
def test_refuses_a_wheel_folder_without_one_lpips_wheel_in_one_line(tmp_path, wheels, message):
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(SCRIPT, tmp_path / "benchmarks")  # a checkout whose .whl/ is as given
    if wheels is not None:
        (tmp_path / ".whl").mkdir()
        for name in wheels:
            (tmp_path / ".whl" / name).touch()
    proc = subprocess.run(["bash", str(tmp_path / "benchmarks" / "device_run.sh"), "--cpu"],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("device_run: ") and message in proc.stderr


def test_cpu_form_installs_the_wheels_and_this_checkout(tmp_path, scratch_env):
    wheel_of_installed("lpips", tmp_path / "wheels")
    out = tmp_path / "out"
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--cpu", "--prepare-only", "--wheels", str(tmp_path / "wheels")],
        capture_output=True, text=True, timeout=300, env={**scratch_env, "OUT": str(out)},
    )  # fmt: skip
    log = (out / "device_run.log").read_text()
    assert proc.returncode == 0, log
    for name in ("wheels", "install", "imports"):
        assert f"[{name}] exit 0 after" in log
    lpips_line = next(line for line in log.splitlines() if line.startswith("lpips "))
    assert "/site/lpips/" in lpips_line  # from the wheel's target folder, on PYTHONPATH
    nca_line = next(line for line in log.splitlines() if line.startswith("nca "))
    assert str(BENCHMARKS.parent / "nca") in nca_line and "denoise" in nca_line
    assert f"nca_denoise {BENCHMARKS.parent / 'plugins' / 'nca_denoise'}" in log
    assert str(tmp_path / "venv") in log  # the venv's python3 ran it, not this one


@pytest.mark.slow
def test_cpu_form_runs_the_whole_check(tmp_path, scratch_env):
    """The whole device call rehearsed on the CPU (device_check.sh --cpu: a few minutes)."""
    wheel_of_installed("lpips", tmp_path / "wheels")
    out = tmp_path / "out"
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--cpu", "--wheels", str(tmp_path / "wheels")],
        capture_output=True, text=True, timeout=1000, env={**scratch_env, "OUT": str(out)},
    )  # fmt: skip
    results = (out / "device_check_cpu.md").read_text()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "device_check_cpu.md",
        "device_check_parts.log",
        "device_run.log",
    ]
    assert results.count("exit 0 after") == 4 and "not run" not in results
    assert (out / "device_check_parts.log").read_text().count("\n===== ") == 4
    assert "device_check exit 0" in (out / "device_run.log").read_text()
