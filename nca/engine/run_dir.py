"""What a run directory already holds, and whether a run may start or resume there.

A run directory records its settings twice: ``config.json`` (written when the run
starts) and every checkpoint (``rule``, ``task`` and ``seed``). A directory that holds
either, or a metrics log, holds a run: it is never trained over without ``--resume``,
and a resume must use the settings it was trained with. When ``config.json`` is gone
the checkpoint's settings are compared instead, and ``config.json`` is written again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nca.config import build_config, config_to_dict
from nca.errors import NCAError

#: The run's settings, written when it starts.
RUN_CONFIG = "config.json"
#: The checkpoint a resume continues from.
LAST_CHECKPOINT = Path("checkpoints") / "last.pt"
#: The run's metrics log (:class:`nca.run_log.RunLog`).
METRICS = "metrics.jsonl"


class RunDirError(NCAError):
    """The run directory holds another run, or a run with a different configuration."""


def write_resolved_config(run_dir: Path, resolved: dict[str, Any]) -> Path:
    """Write ``config.json`` atomically in ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RUN_CONFIG
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(resolved, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def check_run_dir(
    run_dir: Path,
    resolved: dict[str, Any],
    *,
    resume: bool,
    task_config_class: type | None = None,
) -> str | None:
    """Never overwrite a run by accident; never resume with a different config.

    Fields absent from an older ``config.json`` count as unchanged when they hold
    their default (a newer toolkit added them). With ``task_config_class``, the stored
    task config is first rebuilt through it, so values an older toolkit left unresolved
    (``image_size: null``) compare as the value they resolve to.

    Returns:
        A note for the user when the settings were read from a checkpoint because
        ``config.json`` is missing; ``None`` otherwise.

    Raises:
        RunDirError: the directory holds a run and ``resume`` is false; or the run's
            settings differ from ``resolved``; or its ``config.json`` is unreadable.
    """
    run_dir = Path(run_dir)
    held = _run_traces(run_dir)
    if not held:
        # resume on a new directory starts the run: one job script serves a whole chain
        return None
    if not resume:
        raise RunDirError(
            f"run directory {str(run_dir)!r} already holds a run; pass --resume to continue it "
            f"or choose another --run-dir/--name (it has {', '.join(held[:3])})"
        )
    stored, source = _stored_record(run_dir)
    if stored is None:  # a metrics log only: nothing to compare, the run starts again
        return None
    if source != RUN_CONFIG:
        stored = _as_run_config(stored, resolved)
    changed = _changed_settings(stored, resolved, task_config_class)
    if changed:
        where = "" if source == RUN_CONFIG else f" (the settings stored in {source})"
        raise RunDirError(
            f"cannot resume {str(run_dir)!r} with a different configuration (changed: "
            f"{', '.join(changed)}){where}; start a new run instead"
        )
    if source == RUN_CONFIG:
        return None
    return (
        f"{run_dir / RUN_CONFIG} was missing: the settings were checked against {source} "
        f"and {RUN_CONFIG} is written again"
    )


def _as_run_config(stored: dict[str, Any], resolved: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's settings as ``config.json`` would hold them: a checkpoint names the
    rule without its preset (``convca`` for ``convca:tiny``; its config holds the values
    the preset set), and older versions stored no seed."""
    stored = dict(stored)
    rule, wanted = stored.get("rule"), resolved.get("rule")
    if rule and wanted and str(wanted["name"]).split(":")[0] == rule.get("name"):
        stored["rule"] = {**rule, "name": wanted["name"]}
    if stored.get("seed") is None:
        stored["seed"] = resolved["seed"]
    return stored


def _run_traces(run_dir: Path) -> list[str]:
    """What in ``run_dir`` shows that a run was trained there (empty: nothing)."""
    traces = [RUN_CONFIG] if (run_dir / RUN_CONFIG).is_file() else []
    traces += [str(Path("checkpoints") / p.name) for p in _checkpoints(run_dir)]
    metrics = run_dir / METRICS
    if metrics.is_file() and metrics.stat().st_size > 0:
        traces.append(METRICS)
    return traces


def _checkpoints(run_dir: Path) -> list[Path]:
    """The run's checkpoints, ``last.pt`` first, then the newest first."""
    found = sorted((run_dir / "checkpoints").glob("*.pt"), key=lambda p: -p.stat().st_mtime)
    return sorted(found, key=lambda p: p.name != LAST_CHECKPOINT.name)


def _stored_record(run_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """The run's settings (``rule``, ``task``, ``seed``) and the file they came from:
    ``config.json``, else its last checkpoint; ``(None, "")`` when it holds neither."""
    path = run_dir / RUN_CONFIG
    if path.is_file():
        return read_run_config(path), RUN_CONFIG
    checkpoints = _checkpoints(run_dir)
    if not checkpoints:
        return None, ""
    from nca.checkpoint import load_checkpoint

    data = load_checkpoint(checkpoints[0])
    record = {key: data.get(key) for key in ("rule", "task", "seed")}
    where = str(checkpoints[0].relative_to(run_dir))
    _check_record(record, checkpoints[0], "a checkpoint of this toolkit")
    return record, where


def read_run_config(path: Path) -> dict[str, Any]:
    """A run's ``config.json``, checked to be the record this toolkit writes.

    Raises:
        RunDirError: naming the file and what is wrong with it (empty, cut short, not
            JSON, or JSON of another shape).
    """
    text = path.read_text()
    if not text.strip():
        what = "it is empty"
    else:
        try:
            record = json.loads(text)
        except ValueError as err:  # JSONDecodeError, and undecodable bytes
            what = f"it is not valid JSON (cut short or edited: {err})"
        else:
            _check_record(record, path, "the record of a run")
            return record
    raise _unreadable(path, what)


def _check_record(record: Any, path: Path, expected: str) -> None:
    """``record`` has the shape of a run's settings: a table whose ``rule`` and ``task``
    are ``None`` or tables with a ``config`` table, and whose ``seed`` is an integer."""
    if not isinstance(record, dict):
        raise _unreadable(path, f"it holds a {type(record).__name__}, not {expected}")
    for section in ("rule", "task"):
        part = record.get(section)
        if part is not None and (
            not isinstance(part, dict) or not isinstance(part.get("config", {}), dict)
        ):
            raise _unreadable(path, f"its {section!r} entry is not a table with a config")
    seed = record.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _unreadable(path, f"its seed is {seed!r}, not an integer")


def _unreadable(path: Path, what: str) -> RunDirError:
    if path.name != RUN_CONFIG:
        return RunDirError(f"cannot resume from {path}: {what}")
    return RunDirError(
        f"cannot resume: {path} is not readable as the run's settings ({what}); restore "
        f"it, or delete it to resume with the settings stored in {LAST_CHECKPOINT}"
    )


def _changed_settings(
    stored: dict[str, Any], resolved: dict[str, Any], task_config_class: type | None
) -> list[str]:
    """``section.field`` of every setting that differs between the two records."""
    changed = []
    for section in ("rule", "task"):
        old = (stored.get(section) or {}).get("config", {})
        if section == "task" and task_config_class is not None:
            old = _rebuilt(task_config_class, old)
        new = (resolved.get(section) or {}).get("config", {})
        defaults = resolved.get("defaults", {}).get(section, {})
        for key in sorted(set(old) | set(new)):
            if key not in old and new.get(key) == defaults.get(key, object()):
                continue
            if old.get(key) != new.get(key):
                changed.append(f"{section}.{key}")
        if (stored.get(section) or {}).get("name") != (resolved.get(section) or {}).get("name"):
            changed.append(f"{section}.name")
    if stored.get("seed") != resolved["seed"]:
        changed.append("seed")
    return changed


def _rebuilt(config_class: type, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as the config class resolves them now (unchanged if it refuses them)."""
    try:
        return config_to_dict(build_config(config_class, values, where="stored task"))
    except (ValueError, TypeError):
        return values
